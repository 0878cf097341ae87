// Fine-grained annotation: span selection and highlighting, rating keys, draft autosave,
// active time. No inline scripts (strict CSP); untrusted text only ever becomes DOM text
// nodes (never innerHTML); colours are set through element.style.
//
// Offsets are Unicode code point indices into the stored text (Python's str indexing).
// JavaScript strings are UTF-16, so an emoji is two code units here: every conversion goes
// through Array.from (which walks code points). The server renders the text as pieces
// <span data-o=offset data-n=length> whose offsets it computed itself; line breaks (CR LF,
// CR) and NUL, which HTML parsing rewrites, are pieces of their own ([data-special]), so the
// browser never has to count them.
(function () {
  "use strict";

  const IDLE_AFTER_MS = 30000;
  const TICK_MS = 250;
  const DRAFT_DELAY_MS = 700;
  const segmenter = (kind) => (window.Intl && Intl.Segmenter)
    ? new Intl.Segmenter(undefined, { granularity: kind }) : null;
  const graphemes = segmenter("grapheme");
  const words = segmenter("word");

  let state = null; // the current task (rebuilt after every htmx swap)
  let activeMs = 0;
  let lastInput = Date.now();
  let lastTick = Date.now();

  // --- active time ------------------------------------------------------------------------

  setInterval(function () {
    const now = Date.now();
    if (document.visibilityState === "visible" && document.hasFocus() &&
        now - lastInput < IDLE_AFTER_MS) activeMs += now - lastTick;
    lastTick = now;
  }, TICK_MS);
  ["keydown", "mousemove", "mousedown", "scroll", "touchstart", "wheel"].forEach(function (name) {
    window.addEventListener(name, function () { lastInput = Date.now(); }, { passive: true });
  });

  // --- the text as pieces and code points ---------------------------------------------------

  function readPieces(textEl) {
    return Array.from(textEl.children).map(function (el) {
      const text = el.textContent;
      return { o: Number(el.dataset.o), n: Number(el.dataset.n), text: text,
               special: el.hasAttribute("data-special"), points: Array.from(text) };
    });
  }

  function textLength(pieces) {
    const last = pieces[pieces.length - 1];
    return last ? last.o + last.n : 0;
  }

  // Grapheme boundaries (code point offsets): a selection never splits "e" + U+0301, a flag
  // or a ZWJ emoji sequence.
  function graphemeBounds(pieces) {
    const bounds = new Set([0, textLength(pieces)]);
    pieces.forEach(function (piece) {
      bounds.add(piece.o);
      if (piece.special || !graphemes) {
        if (!piece.special) piece.points.forEach(function (_p, i) { bounds.add(piece.o + i); });
        return;
      }
      let at = piece.o;
      for (const part of graphemes.segment(piece.text)) {
        bounds.add(at);
        at += Array.from(part.segment).length;
      }
    });
    return Array.from(bounds).sort(function (a, b) { return a - b; });
  }

  function wordTokens(pieces) {
    const tokens = [];
    pieces.forEach(function (piece) {
      if (piece.special) return;
      if (!words) { // fall back to whitespace-separated runs
        let start = null;
        piece.points.forEach(function (ch, i) {
          if (/\s/.test(ch)) { if (start !== null) tokens.push([piece.o + start, piece.o + i]); start = null; }
          else if (start === null) start = i;
        });
        if (start !== null) tokens.push([piece.o + start, piece.o + piece.points.length]);
        return;
      }
      let at = piece.o;
      for (const part of words.segment(piece.text)) {
        const length = Array.from(part.segment).length;
        if (part.isWordLike || /\S/.test(part.segment)) tokens.push([at, at + length]);
        at += length;
      }
    });
    return tokens;
  }

  function charAt(pieces, offset) {
    for (const piece of pieces) {
      if (offset >= piece.o && offset < piece.o + piece.n) {
        return piece.special ? "\n" : piece.points[offset - piece.o];
      }
    }
    return "";
  }

  function sliceText(pieces, start, end) {
    let out = "";
    pieces.forEach(function (piece) {
      const a = Math.max(start, piece.o), b = Math.min(end, piece.o + piece.n);
      if (a >= b) return;
      out += piece.special ? piece.text : piece.points.slice(a - piece.o, b - piece.o).join("");
    });
    return out;
  }

  // --- DOM points <-> code point offsets ----------------------------------------------------

  function pointToOffset(textEl, node, offset) {
    if (node === textEl) {
      const child = textEl.children[offset];
      return child ? Number(child.dataset.o) : textLength(state.pieces);
    }
    const seg = (node.nodeType === Node.TEXT_NODE ? node.parentElement : node).closest("[data-o]");
    if (!seg || !textEl.contains(seg)) return null;
    const o = Number(seg.dataset.o), n = Number(seg.dataset.n);
    if (node.nodeType !== Node.TEXT_NODE || seg.hasAttribute("data-special")) {
      return offset > 0 ? o + n : o;
    }
    return o + Math.min(Array.from(node.data.slice(0, offset)).length, n);
  }

  function offsetToPoint(textEl, offset) {
    const segs = textEl.children;
    for (let i = 0; i < segs.length; i++) {
      const o = Number(segs[i].dataset.o), n = Number(segs[i].dataset.n);
      if (offset < o + n || i === segs.length - 1) {
        const node = segs[i].firstChild || segs[i];
        if (segs[i].hasAttribute("data-special") || node === segs[i]) {
          return [node, offset > o ? (node.length || 0) : 0];
        }
        const within = Array.from(node.data).slice(0, Math.max(0, offset - o)).join("");
        return [node, within.length];
      }
    }
    return [textEl, 0];
  }

  // The browser's selection as [start, end) code points, clamped to the text, snapped out
  // to grapheme boundaries and trimmed of surrounding white space; null if empty.
  function selectionOffsets() {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0);
    const textEl = state.textEl;
    if (!range.intersectsNode(textEl)) return null;
    const whole = document.createRange();
    whole.selectNodeContents(textEl);
    let start = range.compareBoundaryPoints(Range.START_TO_START, whole) <= 0 ? 0
      : pointToOffset(textEl, range.startContainer, range.startOffset);
    let end = range.compareBoundaryPoints(Range.END_TO_END, whole) >= 0
      ? textLength(state.pieces) : pointToOffset(textEl, range.endContainer, range.endOffset);
    if (start === null || end === null) return null;
    return tidy(start, end);
  }

  function tidy(start, end) {
    const bounds = state.bounds;
    start = bounds.filter(function (b) { return b <= start; }).pop() || 0;
    end = bounds.find(function (b) { return b >= end; });
    if (end === undefined) end = textLength(state.pieces);
    let i = bounds.indexOf(start);
    while (start < end && /^\s+$/.test(sliceText(state.pieces, start, bounds[i + 1]))) {
      start = bounds[++i];
    }
    let j = bounds.indexOf(end);
    while (end > start && /^\s+$/.test(sliceText(state.pieces, bounds[j - 1], end))) {
      end = bounds[--j];
    }
    return start < end ? { start: start, end: end } : null;
  }

  function selectOffsets(start, end) {
    const range = document.createRange();
    const a = offsetToPoint(state.textEl, start), b = offsetToPoint(state.textEl, end);
    range.setStart(a[0], a[1]);
    range.setEnd(b[0], b[1]);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // --- rendering highlights -----------------------------------------------------------------

  function withAlpha(color, alpha) { return color + alpha; }

  function renderText() {
    const { textEl, pieces, spans } = state;
    const cuts = new Set();
    spans.forEach(function (span) { cuts.add(span.start); cuts.add(span.end); });
    const fragment = document.createDocumentFragment();
    pieces.forEach(function (piece) {
      const inner = piece.special ? [] : Array.from(cuts)
        .filter(function (c) { return c > piece.o && c < piece.o + piece.n; })
        .sort(function (a, b) { return a - b; });
      const edges = [piece.o].concat(inner, [piece.o + piece.n]);
      for (let k = 0; k + 1 < edges.length; k++) {
        fragment.appendChild(segment(piece, edges[k], edges[k + 1]));
      }
    });
    textEl.replaceChildren(fragment);
  }

  function segment(piece, start, end) {
    const el = document.createElement("span");
    el.dataset.o = String(start);
    el.dataset.n = String(end - start);
    if (piece.special) el.setAttribute("data-special", "");
    el.textContent = piece.special ? piece.text
      : piece.points.slice(start - piece.o, end - piece.o).join("");
    const covering = state.spans
      .map(function (span, index) { return { span: span, index: index }; })
      .filter(function (entry) { return entry.span.start < end && entry.span.end > start; });
    if (covering.length) paint(el, covering);
    return el;
  }

  function paint(el, covering) {
    const colors = covering.map(function (entry) {
      const category = state.categoryById[entry.span.category];
      return category ? category.color : "#888888";
    });
    el.classList.add("fg-mark");
    if (covering.some(function (entry) { return entry.index === state.active; })) {
      el.classList.add("fg-mark-active");
    }
    if (colors.length === 1) {
      el.style.backgroundColor = withAlpha(colors[0], "55");
    } else { // overlapping spans: one horizontal band per span
      const step = 100 / colors.length;
      el.style.backgroundImage = "linear-gradient(to bottom, " + colors.map(function (c, i) {
        return withAlpha(c, "66") + " " + (i * step) + "% " + ((i + 1) * step) + "%";
      }).join(", ") + ")";
    }
    el.style.borderBottomColor = colors[colors.length - 1];
    el.title = covering.map(function (entry) {
      const category = state.categoryById[entry.span.category];
      const name = category ? category.name : "unknown";
      return entry.span.severity ? name + " (" + entry.span.severity + ")" : name;
    }).join(" + ");
  }

  // --- the span list (edit, delete) ---------------------------------------------------------

  function renderList() {
    const list = state.listEl;
    if (!list) return;
    const items = state.spans.map(function (span, index) { return spanRow(span, index); });
    list.replaceChildren.apply(list, items);
  }

  function spanRow(span, index) {
    const li = document.createElement("li");
    li.className = "fg-span" + (index === state.active ? " fg-span-active" : "");
    li.dataset.index = String(index);
    const category = state.categoryById[span.category];
    const swatch = document.createElement("span");
    swatch.className = "fg-swatch";
    swatch.style.backgroundColor = category ? category.color : "#888888";
    const quote = document.createElement("q");
    const text = sliceText(state.pieces, span.start, span.end);
    quote.textContent = text.length > 120 ? text.slice(0, 117) + "…" : text;
    const where = document.createElement("span");
    where.className = "muted";
    where.textContent = " " + span.start + "–" + span.end + " ";
    li.append(swatch, categorySelect(span, index), severitySelect(span, index), quote, where,
              noteInput(span, index), button("Use selection", "fg-resize", index),
              button("Delete", "fg-delete", index));
    return li;
  }

  function categorySelect(span, index) {
    const select = document.createElement("select");
    select.setAttribute("aria-label", "Category of span " + (index + 1));
    select.dataset.edit = "category";
    select.dataset.index = String(index);
    state.categories.forEach(function (category) {
      const option = document.createElement("option");
      option.value = String(category.id);
      option.textContent = category.name;
      option.selected = category.id === span.category;
      select.appendChild(option);
    });
    return select;
  }

  function severitySelect(span, index) {
    const category = state.categoryById[span.category];
    const select = document.createElement("select");
    select.dataset.edit = "severity";
    select.dataset.index = String(index);
    select.setAttribute("aria-label", "Severity of span " + (index + 1));
    if (!category || !category.severities.length) { select.hidden = true; return select; }
    category.severities.forEach(function (level) {
      const option = document.createElement("option");
      option.value = level;
      option.textContent = level;
      option.selected = level === span.severity;
      select.appendChild(option);
    });
    return select;
  }

  function noteInput(span, index) {
    const input = document.createElement("input");
    input.type = "text";
    input.placeholder = "note (optional)";
    input.maxLength = 2000;
    input.value = span.note || "";
    input.dataset.edit = "note";
    input.dataset.index = String(index);
    input.setAttribute("aria-label", "Note on span " + (index + 1));
    return input;
  }

  function button(label, action, index) {
    const el = document.createElement("button");
    el.type = "button";
    el.className = "subtle " + action;
    el.dataset.action = action;
    el.dataset.index = String(index);
    el.textContent = label;
    return el;
  }

  // --- changing spans -----------------------------------------------------------------------

  function changed(options) {
    state.spansField.value = JSON.stringify(state.spans);
    renderText();
    if (!options || !options.keepList) renderList();
    scheduleDraft();
  }

  function say(message) {
    if (state.messageEl) state.messageEl.textContent = message;
  }

  function markSelection(category) {
    const range = selectionOffsets();
    if (!range) {
      const newest = state.spans.length - 1;
      const span = state.spans[state.active !== null ? state.active : newest];
      if (span && span.category === category.id && category.severities.length) {
        const at = category.severities.indexOf(span.severity);
        span.severity = category.severities[(at + 1) % category.severities.length];
        say(category.name + ": severity " + span.severity + ".");
        changed();
      } else {
        say("Select some text first, then press " + category.key + ".");
      }
      return;
    }
    state.spans.push({ start: range.start, end: range.end, category: category.id,
                       severity: category.severities[0] || "", note: "" });
    state.active = state.spans.length - 1;
    state.lastSelection = null;
    window.getSelection().removeAllRanges();
    say("Marked “" + sliceText(state.pieces, range.start, range.end).slice(0, 60) + "” as " +
        category.name + (category.severities.length ? " (" + category.severities[0] + ")" : "") + ".");
    changed();
    if (state.keyboard) state.textEl.focus();
  }

  function deleteSpan(index) {
    if (index === null || !state.spans[index]) return;
    state.spans.splice(index, 1);
    state.active = null;
    say("Span deleted.");
    changed();
  }

  function resizeSpan(index) {
    const range = selectionOffsets() || state.lastSelection;
    if (!range || !state.spans[index]) { say("Select the new extent in the text first."); return; }
    state.spans[index].start = range.start;
    state.spans[index].end = range.end;
    state.lastSelection = null;
    changed();
  }

  // --- keyboard selection in the text -------------------------------------------------------

  function tokenIndexAt(offset) {
    const tokens = state.tokens;
    for (let i = 0; i < tokens.length; i++) if (tokens[i][1] > offset) return i;
    return tokens.length - 1;
  }

  function keyboardStart() {
    if (state.keyboard) return state.keyboard;
    const range = selectionOffsets();
    if (!range) return { anchor: 0, focus: -1 };
    return { anchor: tokenIndexAt(range.start), focus: tokenIndexAt(Math.max(range.end - 1, 0)) };
  }

  function focusText() {
    state.textEl.focus();
    if (!selectionOffsets() && state.tokens.length) {
      state.keyboard = { anchor: 0, focus: 0 };
      selectOffsets(state.tokens[0][0], state.tokens[0][1]);
    }
  }

  function moveKeyboard(event) {
    const tokens = state.tokens;
    if (!tokens.length) return false;
    const k = keyboardStart();
    let focus = k.focus;
    if (event.key === "ArrowRight") focus = Math.min(focus + 1, tokens.length - 1);
    else if (event.key === "ArrowLeft") focus = Math.max(focus - 1, 0);
    else if (event.key === "Home") focus = 0;
    else if (event.key === "End") focus = tokens.length - 1;
    else return false;
    const anchor = event.shiftKey && k.focus >= 0 ? k.anchor : focus;
    state.keyboard = { anchor: anchor, focus: focus };
    const first = tokens[Math.min(anchor, focus)], last = tokens[Math.max(anchor, focus)];
    selectOffsets(first[0], last[1]);
    return true;
  }

  // --- ratings and flags --------------------------------------------------------------------

  function focusRow(row) {
    if (!row) return;
    const target = row.querySelector("input:checked") || row.querySelector("input[type=radio]");
    if (target) target.focus();
  }

  function rateFocusedRow(key) {
    const row = document.activeElement && document.activeElement.closest("[data-rating-row]");
    if (!row) return false;
    const radio = row.querySelector('input[type=radio][value="' + key + '"]');
    if (!radio) return false;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    const rows = Array.from(state.form.querySelectorAll("[data-rating-row]"));
    focusRow(rows[rows.indexOf(row) + 1] || row);
    return true;
  }

  function firstUnratedRow() {
    const rows = Array.from(state.form.querySelectorAll("[data-rating-row]"));
    return rows.find(function (row) { return !row.querySelector("input:checked"); }) || rows[0];
  }

  // --- draft autosave -----------------------------------------------------------------------

  function csrfToken() {
    const field = state.form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function recordActiveTime() {
    if (state && state.activeField) state.activeField.value = String(Math.round(activeMs));
  }

  function scheduleDraft() {
    if (!state || !state.draftUrl || state.submitting) return;
    clearTimeout(state.draftTimer);
    state.draftTimer = setTimeout(saveDraft, DRAFT_DELAY_MS);
  }

  function saveDraft() {
    if (!state || state.submitting) return;
    recordActiveTime();
    const current = state;
    const body = new FormData(current.form);
    body.delete("skip");
    fetch(current.draftUrl, { method: "POST", body: body, credentials: "same-origin",
                              headers: { "X-CSRFToken": csrfToken() } })
      .then(function (response) {
        if (!current.statusEl) return;
        if (response.ok) {
          current.statusEl.textContent = "Draft saved " + new Date().toLocaleTimeString();
        } else if (response.status === 422) {
          response.text().then(function (text) {
            current.statusEl.textContent = "Draft not saved: " + text.slice(0, 300);
          });
        } else {
          current.statusEl.textContent = "Draft not saved (error " + response.status + ")";
        }
      })
      .catch(function () {
        if (current.statusEl) current.statusEl.textContent = "Draft not saved (offline?)";
      });
  }

  // --- setup per task -----------------------------------------------------------------------

  function parseJSON(text, fallback) {
    try { return JSON.parse(text); } catch (_error) { return fallback; }
  }

  function init() {
    const task = document.getElementById("fg-task");
    const form = document.getElementById("fg-form");
    if (state && state.draftTimer) clearTimeout(state.draftTimer);
    if (!task || !form) { state = null; return; }
    const textEl = task.querySelector("[data-fg-text]");
    const pieces = readPieces(textEl);
    const categories = parseJSON(task.dataset.categories || "[]", []);
    const categoryById = {}, categoryByKey = {};
    categories.forEach(function (category) {
      categoryById[category.id] = category;
      categoryByKey[category.key.toLowerCase()] = category;
    });
    const spansField = form.querySelector("[data-spans-field]");
    const spans = parseJSON(spansField.value || "[]", []);
    state = {
      task: task, form: form, textEl: textEl, pieces: pieces, categories: categories,
      categoryById: categoryById, categoryByKey: categoryByKey,
      spans: Array.isArray(spans) ? spans : [], active: null, keyboard: null,
      bounds: graphemeBounds(pieces), tokens: wordTokens(pieces),
      spansField: spansField, listEl: task.querySelector("[data-span-list]"),
      messageEl: task.querySelector("[data-fg-message]"),
      statusEl: task.querySelector("[data-draft-status]"),
      activeField: form.querySelector("[data-active-ms]"),
      draftUrl: task.dataset.draftUrl, draftTimer: null, submitting: false,
      lastSelection: null,
    };
    activeMs = Number(state.activeField && state.activeField.value) || 0;
    task.querySelectorAll(".fg-swatch[data-color]").forEach(function (swatch) {
      swatch.style.backgroundColor = swatch.dataset.color;
    });
    renderText();
    renderList();
  }

  // --- events -------------------------------------------------------------------------------

  function typingInField(target) {
    return target.closest && target.closest(
      "textarea, input[type=text], input:not([type]), select, [contenteditable]");
  }

  function toggleHelp() {
    const dialog = document.getElementById("fg-shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  function submitTask() {
    const button = state.form.querySelector("[data-fg-submit]");
    if (!button || button.disabled) return;
    if (window.htmx) window.htmx.process(state.form);
    button.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && state) {
      event.preventDefault();
      submitTask();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typingInField(event.target)) { event.target.blur(); return; }
    if (typingInField(event.target)) return;
    if (event.key === "?") { event.preventDefault(); toggleHelp(); return; }
    if (!state || document.getElementById("fg-shortcuts")?.open) return;
    if (handleKey(event)) event.preventDefault();
  });

  function handleKey(event) {
    const key = event.key;
    if (event.target === state.textEl && moveKeyboard(event)) return true;
    if (key === "Escape") {
      window.getSelection().removeAllRanges();
      state.active = null;
      state.keyboard = null;
      renderText(); renderList();
      return true;
    }
    if ((key === "Delete" || key === "Backspace") && state.active !== null) {
      deleteSpan(state.active);
      return true;
    }
    if (/^[0-9]$/.test(key)) return rateFocusedRow(key);
    if (key.length !== 1) return false;
    const lower = key.toLowerCase();
    if (lower === "t") { focusText(); return true; }
    if (lower === "r") { focusRow(firstUnratedRow()); return true; }
    if (lower === "m") {
      const box = state.form.querySelector("[data-missing]");
      if (!box) return false;
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
      if (box.checked) state.form.querySelector("#fg-missing-note")?.focus();
      return true;
    }
    const category = state.categoryByKey[lower];
    if (category) { markSelection(category); return true; }
    return false;
  }

  document.addEventListener("selectionchange", function () {
    if (!state) return;
    const range = selectionOffsets();
    if (range) state.lastSelection = range;
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-fg-help-toggle]")) { toggleHelp(); return; }
    if (!state || !state.task.contains(event.target)) return;
    const categoryButton = event.target.closest("[data-category-id]");
    if (categoryButton) {
      const category = state.categoryById[categoryButton.dataset.categoryId];
      if (category) {
        if (!selectionOffsets() && state.lastSelection) {
          selectOffsets(state.lastSelection.start, state.lastSelection.end);
        }
        markSelection(category);
      }
      return;
    }
    const action = event.target.closest("[data-action]");
    if (action) {
      const index = Number(action.dataset.index);
      if (action.dataset.action === "fg-delete") deleteSpan(index); else resizeSpan(index);
      return;
    }
    const row = event.target.closest("li[data-index]");
    if (row) { chooseSpan(Number(row.dataset.index), false); return; }
    const mark = event.target.closest(".fg-mark");
    if (mark && state.textEl.contains(mark) && window.getSelection().isCollapsed) {
      chooseSpanAt(Number(mark.dataset.o));
    }
  });

  function chooseSpan(index, scroll) {
    if (state.active === index) return;
    state.active = index;
    renderText();
    state.listEl.querySelectorAll("li").forEach(function (li) {
      li.classList.toggle("fg-span-active", Number(li.dataset.index) === index);
    });
    const li = state.listEl.querySelector('li[data-index="' + index + '"]');
    if (scroll && li) li.scrollIntoView({ block: "nearest" });
  }

  function chooseSpanAt(offset) {
    // the shortest span covering the click: the innermost of overlapping ones
    let best = null;
    state.spans.forEach(function (span, index) {
      if (span.start <= offset && offset < span.end &&
          (best === null || span.end - span.start < state.spans[best].end - state.spans[best].start)) {
        best = index;
      }
    });
    if (best !== null) chooseSpan(best, true);
  }

  document.addEventListener("change", function (event) {
    if (!state || !state.form.contains(event.target)) return;
    const edit = event.target.dataset && event.target.dataset.edit;
    if (edit) {
      const span = state.spans[Number(event.target.dataset.index)];
      if (!span) return;
      if (edit === "category") {
        span.category = Number(event.target.value);
        const category = state.categoryById[span.category];
        span.severity = category && category.severities.length ? category.severities[0] : "";
        changed();
      } else if (edit === "severity") {
        span.severity = event.target.value;
        changed({ keepList: true });
      }
      return;
    }
    scheduleDraft();
  });

  document.addEventListener("input", function (event) {
    if (!state || !state.form.contains(event.target)) return;
    if (event.target.dataset && event.target.dataset.edit === "note") {
      const span = state.spans[Number(event.target.dataset.index)];
      if (span) span.note = event.target.value;
      state.spansField.value = JSON.stringify(state.spans);
    }
    scheduleDraft();
  });

  document.addEventListener("mousedown", function (event) {
    if (state && state.textEl.contains(event.target)) state.keyboard = null; // mouse takes over
  });

  // Capture phase: runs before htmx (or the browser) collects the form values.
  document.addEventListener("submit", function (event) {
    if (!state || event.target !== state.form) return;
    state.spansField.value = JSON.stringify(state.spans);
    recordActiveTime();
    state.submitting = true;
    clearTimeout(state.draftTimer);
  }, true);

  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "fg-task") return;
    const errorShown = event.detail.xhr && event.detail.xhr.status === 422;
    const kept = activeMs;
    init(); // a new task starts from its draft's active time, or 0
    if (errorShown) activeMs = kept;
    focusFirstError();
  });

  // The first control with an error gets the focus (a rating row: its first level), so
  // the keys act where the problem is; an error about spans scrolls into view.
  function focusFirstError() {
    const invalid = document.querySelector("#fg-task .has-error");
    const control = invalid && invalid.querySelector("input:checked, input, textarea");
    if (control) { control.focus(); return; }
    const firstError = document.querySelector("#fg-task [role=alert]");
    if (firstError) firstError.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:responseError", function () {
    if (state) state.submitting = false;
  });
  document.addEventListener("htmx:sendError", function () {
    if (state) state.submitting = false;
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
