// Active time on a task, for every annotate page: the milliseconds the page was visible,
// focused and in use (an input within the last 30 s). Pages read and reset it through
// window.activeTime; load this script before theirs (both deferred, so in order).
(function () {
  "use strict";

  const IDLE_AFTER_MS = 30000; // no input for this long: the rater is not active
  const TICK_MS = 250;
  let activeMs = 0;
  let lastInput = Date.now();
  let lastTick = Date.now();

  setInterval(function () {
    const now = Date.now();
    if (document.visibilityState === "visible" && document.hasFocus() &&
        now - lastInput < IDLE_AFTER_MS) activeMs += now - lastTick;
    lastTick = now;
  }, TICK_MS);

  ["keydown", "mousemove", "mousedown", "scroll", "touchstart", "wheel"].forEach(function (name) {
    window.addEventListener(name, function () { lastInput = Date.now(); }, { passive: true });
  });

  window.activeTime = {
    ms: function () { return activeMs; },
    reset: function (ms) { activeMs = Number(ms) || 0; }, // a new task starts (or resumes)
    record: function (field) { if (field) field.value = String(Math.round(activeMs)); },
  };
})();
