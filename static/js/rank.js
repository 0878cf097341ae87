// The ranking page: put k responses in order by drag (pointer events: mouse, pen and
// touch, by the ⠿ handle) or by keys (a number gives the focused response that place,
// ↑ ↓ Home End move it, j k focus, Enter submits, s skips, u undoes, ? lists the keys).
// The list order is the ranking; each response's place <select> is kept in step, and is
// what the form posts (without JavaScript the rater sets the selects). Works with the
// htmx-swapped #task fragment. Active time comes from active_time.js (window.activeTime).
(function () {
  "use strict";

  const EDGE_PX = 48; // dragging this close to the window's edge scrolls it

  function list() { return document.querySelector("#task [data-rank-list]"); }
  function items() { return Array.from(document.querySelectorAll("#task [data-rank-item]")); }
  function placeOf(item) { return items().indexOf(item) + 1; }

  function announce(message) {
    const line = document.querySelector("#task [data-rank-announce]");
    if (line) line.textContent = message;
  }

  // Places follow the list order; the moved response is announced.
  function renumber(moved) {
    const all = items();
    all.forEach(function (item, index) {
      item.querySelector("[data-place-select]").value = String(index + 1);
      item.setAttribute("aria-label", "Response " + item.dataset.letter + ", place " +
        (index + 1) + " of " + all.length);
    });
    if (moved) {
      announce("Response " + moved.dataset.letter + " is now in place " + placeOf(moved) +
        " of " + all.length + ".");
    }
  }

  function moveTo(item, place) {
    const others = items().filter(function (other) { return other !== item; });
    const target = Math.max(1, Math.min(place, others.length + 1));
    list().insertBefore(item, others[target - 1] || null);
    renumber(item);
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
  }

  function focusStep(item, step) {
    const all = items();
    const next = all[all.indexOf(item) + step];
    if (next) { next.focus({ preventScroll: true }); next.scrollIntoView({ block: "nearest" }); }
  }

  // A re-shown form (e.g. after an error) starts in the order of its selects.
  function setUp() {
    const rankList = list();
    if (!rankList || rankList.dataset.ready) return;
    rankList.dataset.ready = "1";
    document.querySelectorAll("#task [data-js-only]").forEach(function (element) {
      element.hidden = false;
    });
    const byPlace = items().map(function (item, index) {
      const value = Number(item.querySelector("[data-place-select]").value);
      return { item: item, place: value || Number.MAX_SAFE_INTEGER, index: index };
    });
    byPlace.sort(function (a, b) { return a.place - b.place || a.index - b.index; });
    byPlace.forEach(function (entry) { rankList.appendChild(entry.item); });
    renumber(null);
    const invalid = document.querySelector("#task [aria-invalid=true]");
    (invalid ? invalid.closest("[data-rank-item]") : items()[0])?.focus({ preventScroll: true });
  }

  function submit(skip) {
    const button = document.querySelector(skip ? "#task [data-rank-skip]" : "#task [data-rank-submit]");
    if (!button || button.disabled) return false;
    if (window.htmx) window.htmx.process(button.form); // fast keys before htmx settles
    button.click();
    return true;
  }

  function clickIfPresent(selector) {
    const element = document.querySelector(selector);
    if (!element || element.disabled) return false;
    if (window.htmx && element.form) window.htmx.process(element.form);
    element.click();
    return true;
  }

  function toggleShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  // --- keys -----------------------------------------------------------------------------
  function itemKey(item, event) {
    const count = items().length;
    const digit = Number(event.key);
    if (event.key.length === 1 && digit >= 1 && digit <= count) { moveTo(item, digit); return true; }
    switch (event.key) {
      case "ArrowUp": moveTo(item, placeOf(item) - 1); return true;
      case "ArrowDown": moveTo(item, placeOf(item) + 1); return true;
      case "Home": moveTo(item, 1); return true;
      case "End": moveTo(item, count); return true;
      case "j": focusStep(item, 1); return true;
      case "k": focusStep(item, -1); return true;
      case "Enter": return event.target === item && submit(false);
      default: return false;
    }
  }

  function pageKey(event) {
    switch (event.key) {
      case "?": toggleShortcuts(); return true;
      case "s": return submit(true);
      case "u": return clickIfPresent("#task button[data-undo]");
      case "Enter": return event.target === document.body && submit(false);
      default: return false;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("task")) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (submit(false)) event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.getElementById("shortcuts")?.open) return;
    if (event.target.closest("select, textarea, input")) return; // native controls first
    const item = event.target.closest("[data-rank-item]");
    if ((item && itemKey(item, event)) || pageKey(event)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    const select = event.target.closest("#task [data-place-select]");
    if (select && select.value) moveTo(select.closest("[data-rank-item]"), Number(select.value));
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-toggle]")) { toggleShortcuts(); return; }
    const move = event.target.closest("#task [data-move]");
    if (!move) return;
    const item = move.closest("[data-rank-item]");
    moveTo(item, placeOf(item) + (move.dataset.move === "up" ? -1 : 1));
  });

  // --- drag (pointer events) --------------------------------------------------------------
  // The dragged response never leaves the DOM (its neighbours move past it), so the
  // pointer stays captured on touch screens too.
  let drag = null;

  document.addEventListener("pointerdown", function (event) {
    const handle = event.target.closest("#task [data-drag-handle]");
    if (!handle || event.button > 0) return;
    event.preventDefault();
    const item = handle.closest("[data-rank-item]");
    handle.setPointerCapture(event.pointerId);
    drag = { item: item, pointerId: event.pointerId, from: placeOf(item) };
    item.classList.add("rank-dragging");
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    event.preventDefault();
    const y = event.clientY;
    const before = drag.item.previousElementSibling;
    const after = drag.item.nextElementSibling;
    if (before && y < middle(before)) list().insertBefore(before, after);
    else if (after && y > middle(after)) list().insertBefore(after, drag.item);
    if (y < EDGE_PX) window.scrollBy(0, -EDGE_PX / 2);
    else if (y > window.innerHeight - EDGE_PX) window.scrollBy(0, EDGE_PX / 2);
  });

  function middle(element) {
    const box = element.getBoundingClientRect();
    return box.top + box.height / 2;
  }

  function endDrag(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    const item = drag.item;
    item.classList.remove("rank-dragging");
    renumber(placeOf(item) === drag.from ? null : item);
    drag = null;
    item.focus({ preventScroll: true });
  }
  document.addEventListener("pointerup", endDrag);
  document.addEventListener("pointercancel", endDrag);

  // --- active time and htmx swaps ---------------------------------------------------------
  document.addEventListener("submit", function (event) {
    if (event.target.matches("[data-ranking-form]") && window.activeTime) {
      window.activeTime.record(event.target.querySelector("[data-active-ms]"));
    }
  }, true);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "task") return;
    const errorShown = event.detail.xhr && event.detail.xhr.status === 422;
    if (!errorShown && window.activeTime) window.activeTime.reset(0); // a new task starts
    setUp();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
