// Keyboard shortcuts and active-time measurement for the annotate page.
// Works with the htmx-swapped #task fragment; without JavaScript the forms post normally.
(function () {
  "use strict";

  const IDLE_AFTER_MS = 30000; // no input for this long: the rater is not active
  const TICK_MS = 250;
  let activeMs = 0;
  let lastInput = Date.now();
  let lastTick = Date.now();

  function isActive(now) {
    return document.visibilityState === "visible" && document.hasFocus() &&
      now - lastInput < IDLE_AFTER_MS;
  }

  setInterval(function () {
    const now = Date.now();
    if (isActive(now)) activeMs += now - lastTick;
    lastTick = now;
  }, TICK_MS);

  ["keydown", "mousemove", "mousedown", "scroll", "touchstart", "wheel"].forEach(function (name) {
    window.addEventListener(name, function () { lastInput = Date.now(); }, { passive: true });
  });

  function recordActiveTime() {
    const field = document.querySelector("[data-active-ms]");
    if (field) field.value = String(Math.round(activeMs));
  }

  // Capture phase: runs before htmx (or the browser) collects the form values.
  document.addEventListener("submit", function (event) {
    if (event.target.matches("[data-task-form]")) recordActiveTime();
  }, true);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "task") {
      const errorShown = event.detail.xhr && event.detail.xhr.status === 422;
      if (!errorShown) activeMs = 0; // a new task starts
      const firstError = document.querySelector("#task [role=alert]");
      if (firstError) firstError.scrollIntoView({ block: "nearest" });
    }
  });

  const OUTCOME_KEYS = {
    "1": "left", "ArrowLeft": "left",
    "2": "right", "ArrowRight": "right",
    "0": "tie", "ArrowDown": "tie",
    "b": "both_bad", "s": "skip",
  };

  function typingInField(target) {
    return target.closest("textarea, input[type=text], input:not([type]), select, [contenteditable]");
  }

  function clickIfPresent(selector) {
    const element = document.querySelector(selector);
    if (!element || element.disabled) return false;
    // htmx wires up swapped-in content only after its settle delay; a fast key press
    // must not fall back to a full-page submit, so make sure the form is processed.
    const form = element.form || element.closest("form");
    if (form && window.htmx) window.htmx.process(form);
    element.click();
    return true;
  }

  function toggleShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-toggle]")) toggleShortcuts();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typingInField(event.target)) { event.target.blur(); return; }
    if (typingInField(event.target)) return;
    if (event.key === "?") { event.preventDefault(); toggleShortcuts(); return; }
    // No "request in flight" check: buttons are disabled during requests (hx-disabled-elt)
    // and a repeated submission is answered from the server's idempotency key anyway.
    if (document.getElementById("shortcuts")?.open) return;
    const outcome = OUTCOME_KEYS[event.key];
    let handled = false;
    if (outcome) handled = clickIfPresent('#task button[data-outcome="' + outcome + '"]');
    else if (event.key === "u") handled = clickIfPresent("#task button[data-undo]");
    else if ("qwert".includes(event.key) && event.key.length === 1) {
      handled = clickIfPresent('#task input[name=strength][data-key="' + event.key + '"]');
    }
    if (handled) event.preventDefault();
  });
})();
