/* GPT-2 Marginalia: behaviour of the code pages.
 *
 * The page is complete without this script: notes are placed by CSS, line and note
 * anchors are real ids. The script adds: line ranges (#L10-L20, click and shift-click on
 * line numbers), the class filter (kept in ?show=...), hover/focus joins between a note
 * and its lines, collapsible notes on narrow screens, and copy-link buttons. It runs on
 * every page load, including Material's instant navigation (document$).
 */
(function () {
  "use strict";

  var CLASSES = ["model", "application", "boundary"];
  var NARROW = window.matchMedia("(max-width: 999.98px)");
  var anchorLine = null;

  function visibleFromUrl() {
    var show = new URLSearchParams(window.location.search).get("show");
    if (show === null) return CLASSES.slice();
    var wanted = show.split(",");
    return CLASSES.filter(function (c) { return wanted.indexOf(c) >= 0; });
  }

  function applyFilter(file, visible) {
    var root = document.documentElement;
    CLASSES.forEach(function (c) { root.classList.toggle("mg-hide-" + c, visible.indexOf(c) < 0); });
    file.querySelectorAll(".mg-chip").forEach(function (chip) {
      chip.setAttribute("aria-pressed", String(visible.indexOf(chip.dataset.class) >= 0));
    });
  }

  function writeFilter(visible) {
    var url = new URL(window.location.href);
    if (visible.length === CLASSES.length) url.searchParams.delete("show");
    else url.searchParams.set("show", visible.join(","));
    window.history.replaceState(window.history.state, "", url);
  }

  function parseRange(hash) {
    var m = /^#L(\d+)(?:-L(\d+))?$/.exec(hash);
    if (!m) return null;
    var a = Number(m[1]), b = m[2] ? Number(m[2]) : a;
    return a <= b ? [a, b] : [b, a];
  }

  function selectLines(file, range, scroll) {
    file.querySelectorAll(".l.is-sel").forEach(function (el) { el.classList.remove("is-sel"); });
    if (!range) return;
    var first = null;
    for (var n = range[0]; n <= range[1]; n++) {
      var line = document.getElementById("L" + n);
      if (!line) break;
      line.classList.add("is-sel");
      first = first || line;
    }
    if (first && scroll) first.scrollIntoView({ block: "start" });
  }

  function lines(start, end) {
    var out = [];
    for (var n = start; n <= end; n++) {
      var line = document.getElementById("L" + n);
      if (line) out.push(line);
    }
    return out;
  }

  function setHot(note, on) {
    note.classList.toggle("is-hot", on);
    lines(Number(note.dataset.start), Number(note.dataset.end)).forEach(function (line) {
      line.classList.toggle("is-hot", on);
    });
  }

  function syncToggle(note) {
    var button = note.querySelector(".mg-note__toggle");
    if (!button) return;
    var open = NARROW.matches ? note.classList.contains("is-open") : !note.classList.contains("is-closed");
    button.setAttribute("aria-expanded", String(open));
  }

  function openNote(note) {
    note.classList.add("is-open");
    note.classList.remove("is-closed");
    syncToggle(note);
  }

  function pointUpstream(file, range) {
    // A not-extracted file: send a line link on to the same lines at the pinned upstream.
    var missing = file.querySelector(".mg-missing[data-upstream]");
    var para = missing && missing.querySelector(".mg-missing__lines");
    if (!para) return;
    para.hidden = !range;
    if (!range) return;
    var link = para.querySelector("a");
    link.href = missing.dataset.upstream + "#L" + range[0] + (range[1] !== range[0] ? "-L" + range[1] : "");
    link.textContent = range[0] === range[1] ? "line " + range[0] : "lines " + range[0] + "\u2013" + range[1];
  }

  function handleHash(file, scroll) {
    var hash = window.location.hash;
    var range = parseRange(hash);
    pointUpstream(file, range);
    selectLines(file, range, scroll && range && range[0] !== range[1]);
    if (hash.indexOf("#note-") === 0) {
      var target = document.getElementById(decodeURIComponent(hash.slice(1)));
      var note = target && target.closest(".mg-note");  // the note, or its title (search results)
      if (note) {
        openNote(note);
        if (scroll) note.scrollIntoView({ block: "start" });
      }
    }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  function nameSearchDialog() {
    // Material's search overlay has role="dialog" but no accessible name.
    var search = document.querySelector(".md-search[role='dialog']");
    if (search && !search.hasAttribute("aria-label")) search.setAttribute("aria-label", "Search");
  }

  function init() {
    if (window.performance && performance.mark) performance.mark("mg-init-start");
    try { setUp(); } finally {
      // Measured by scripts/bench.py: the whole cost of this script on a page.
      if (window.performance && performance.measure) performance.measure("mg-init", "mg-init-start");
    }
  }

  function setUp() {
    nameSearchDialog();
    var file = document.querySelector(".mg-file");
    // Instant navigation swaps the page without a new <head>: follow the new content.
    document.documentElement.classList.toggle("mg-wide", !!file);
    CLASSES.forEach(function (c) {
      document.documentElement.classList.toggle("mg-hide-" + c, false);
    });
    if (!file) return;
    if (file.dataset.mgReady) return;
    file.dataset.mgReady = "1";
    var visible = visibleFromUrl();
    applyFilter(file, visible);

    file.querySelectorAll(".mg-chip").forEach(function (chip) {
      chip.addEventListener("click", function () {
        var current = visibleFromUrl();
        var cls = chip.dataset.class;
        var next = current.indexOf(cls) >= 0
          ? current.filter(function (c) { return c !== cls; })
          : CLASSES.filter(function (c) { return c === cls || current.indexOf(c) >= 0; });
        writeFilter(next);
        applyFilter(file, next);
      });
    });

    var code = file.querySelector(".mg-code");
    if (code) {
      code.addEventListener("click", function (event) {
        var line = event.target.closest && event.target.closest(".l");
        if (!line || event.target !== line) return;
        var gutter = parseFloat(window.getComputedStyle(line).paddingLeft);
        if (event.clientX - line.getBoundingClientRect().left > gutter) return;
        var n = Number(line.id.slice(1));
        var range = event.shiftKey && anchorLine ? [Math.min(anchorLine, n), Math.max(anchorLine, n)] : [n, n];
        if (!event.shiftKey) anchorLine = n;
        var hash = range[0] === range[1] ? "#L" + n : "#L" + range[0] + "-L" + range[1];
        window.history.replaceState(window.history.state, "", hash);
        selectLines(file, range, false);
        event.preventDefault();
      });
    }

    file.querySelectorAll(".mg-note").forEach(function (note) {
      note.addEventListener("mouseenter", function () { setHot(note, true); });
      note.addEventListener("mouseleave", function () { setHot(note, false); });
      note.addEventListener("focusin", function () { setHot(note, true); });
      note.addEventListener("focusout", function (event) {
        if (!note.contains(event.relatedTarget)) setHot(note, false);
      });
      var toggle = note.querySelector(".mg-note__toggle");
      if (toggle) {
        toggle.addEventListener("click", function () {
          if (NARROW.matches) note.classList.toggle("is-open");
          else note.classList.toggle("is-closed");
          syncToggle(note);
        });
      }
      var copy = note.querySelector(".mg-note__copy");
      if (copy) {
        copy.addEventListener("click", function () {
          var url = new URL(window.location.href);
          url.hash = copy.dataset.anchor;
          copyText(url.toString()).then(function () {
            copy.textContent = "Copied";
            window.setTimeout(function () { copy.textContent = "Copy link"; }, 2000);
          });
        });
      }
      syncToggle(note);
    });

    handleHash(file, true);
  }

  function onHashChange() {
    var file = document.querySelector(".mg-file");
    if (file) handleHash(file, true);
  }

  NARROW.addEventListener("change", function () {
    document.querySelectorAll(".mg-note").forEach(syncToggle);
  });
  window.addEventListener("hashchange", onHashChange);

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
