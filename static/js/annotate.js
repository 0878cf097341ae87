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
      focusFirstError();
    }
  });

  // The control an error is about gets the focus (a missing rationale: its text field),
  // else the error scrolls into view.
  function focusFirstError() {
    const invalid = document.querySelector("#task [aria-invalid=true]");
    if (invalid) { invalid.focus(); return; }
    const firstError = document.querySelector("#task [role=alert]");
    if (firstError) firstError.scrollIntoView({ block: "nearest" });
  }

  const OUTCOME_KEYS = {
    "1": "left", "ArrowLeft": "left",
    "2": "right", "ArrowRight": "right",
    "0": "tie", "ArrowDown": "tie",
    "b": "both_bad", "s": "skip",
  };
  const CRITERION_KEYS = {
    "1": "left", "ArrowLeft": "left", "2": "right", "ArrowRight": "right",
    "0": "tie", "ArrowDown": "tie",
  };

  function typingInField(target) {
    return target.closest("textarea, input[type=text], input:not([type]), select, [contenteditable]");
  }

  function processed(element) {
    // htmx wires up swapped-in content only after its settle delay; a fast key press
    // must not fall back to a full-page submit, so make sure the form is processed.
    const form = element.form || element.closest("form");
    if (form && window.htmx) window.htmx.process(form);
    return element;
  }

  function clickIfPresent(selector) {
    const element = document.querySelector(selector);
    if (!element || element.disabled) return false;
    processed(element).click();
    return true;
  }

  function hint(message) {
    const line = document.querySelector("#task [data-task-hint]");
    if (line) line.textContent = message;
  }

  function toggleShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  // --- per-criterion verdicts: c goes to the first criterion without one; there 1 0 2 (or
  // the arrows) choose and move on; after the last, the keys judge the pair again.
  function criterionRows() {
    return Array.from(document.querySelectorAll("#task [data-criterion-row]"));
  }

  function focusCriterion(row) {
    const radio = row.querySelector("input:checked") || row.querySelector("input[type=radio]");
    if (radio) radio.focus();
  }

  function firstOpenCriterion() {
    const rows = criterionRows();
    return rows.find(function (row) { return !row.querySelector("input:checked"); }) || rows[0];
  }

  function judgeCriterion(row, key) {
    const verdict = CRITERION_KEYS[key];
    if (!verdict) return false;
    const radio = row.querySelector('input[type=radio][value="' + verdict + '"]');
    if (!radio) return false;
    radio.checked = true;
    const rows = criterionRows();
    const next = rows[rows.indexOf(row) + 1];
    if (next) focusCriterion(next);
    else {
      document.querySelector("#task [data-choices]")?.focus();
      hint("Criteria done: now judge the pair (1, 2, 0…).");
    }
    return true;
  }

  function submitPending() {
    const chosen = document.querySelector('#task button[data-outcome][aria-pressed="true"]');
    if (chosen && !chosen.disabled) { processed(chosen).click(); return; }
    hint("Choose the verdict first: press Esc, then 1, 2 or 0.");
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-toggle]")) toggleShortcuts();
  });

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("task")) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (!document.getElementById("judgment-form")) return;
      event.preventDefault();
      submitPending();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typingInField(event.target)) { event.target.blur(); return; }
    if (typingInField(event.target)) return;
    if (event.key === "?") { event.preventDefault(); toggleShortcuts(); return; }
    // No "request in flight" check: buttons are disabled during requests (hx-disabled-elt)
    // and a repeated submission is answered from the server's idempotency key anyway.
    if (document.getElementById("shortcuts")?.open) return;
    const row = event.target.closest && event.target.closest("[data-criterion-row]");
    let handled = false;
    if (row) handled = judgeCriterion(row, event.key);
    if (!handled) handled = handleKey(event.key);
    if (handled) event.preventDefault();
  });

  function handleKey(key) {
    const outcome = OUTCOME_KEYS[key];
    if (outcome) return clickIfPresent('#task button[data-outcome="' + outcome + '"]');
    if (key === "u") return clickIfPresent("#task button[data-undo]");
    if (key === "c") {
      const row = firstOpenCriterion();
      if (row) focusCriterion(row);
      return Boolean(row);
    }
    if (key === "n") {
      const rationale = document.querySelector("#task #rationale");
      if (rationale) rationale.focus();
      return Boolean(rationale);
    }
    if ("qwert".includes(key) && key.length === 1) {
      return clickIfPresent('#task input[name=strength][data-key="' + key + '"]');
    }
    return false;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", focusFirstError);
  else focusFirstError();
})();
