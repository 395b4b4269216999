/* GPT-2 Marginalia: behaviour of the code pages.
 *
 * The page is complete without this script: notes are placed by CSS, line and note
 * anchors are real ids. The script adds: line ranges (#L10-L20, click and shift-click on
 * line numbers), the class filter (kept in ?show=...), hover/focus joins between a note
 * and its lines, collapsible notes on narrow screens, copy-link buttons, and the preview
 * of a linked name (its definition, the notes on it, its uses), read from the page's
 * xref.json on the first preview. It runs on every page load, including Material's instant
 * navigation (document$).
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

  // ---------------------------------------------------------------- previews --
  var preview = { table: null, loading: null, url: null, link: null, showTimer: 0, hideTimer: 0 };

  function popover() {
    var pop = document.getElementById("mg-pop");
    if (!pop) {
      pop = document.createElement("div");
      pop.id = "mg-pop";
      pop.className = "mg-pop md-typeset";
      pop.setAttribute("role", "tooltip");
      pop.hidden = true;
      pop.addEventListener("mouseenter", function () { window.clearTimeout(preview.hideTimer); });
      pop.addEventListener("mouseleave", function () { scheduleHide(); });
      document.body.appendChild(pop);
    }
    return pop;
  }

  function loadTable(file) {
    var url = new URL(file.dataset.xref, window.location.href).toString();
    if (preview.url !== url) {
      preview.url = url;
      preview.table = null;
      preview.loading = fetch(url).then(function (r) { return r.ok ? r.json() : {}; })
        .catch(function () { return {}; })
        .then(function (table) { if (preview.url === url) preview.table = table; return table; });
    }
    return preview.loading;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function anchor(href, text) {
    var a = el("a", "", text);
    a.href = href;
    return a;
  }

  function fillDefinition(box, row) {
    // ["d", name, kind, signature, doc, where, href, notes, total uses, uses by file]
    var sig = el("p", "mg-pop__sig");
    sig.appendChild(el("code", "", row[3] || row[1]));
    box.appendChild(sig);
    if (row[4]) box.appendChild(el("p", "mg-pop__doc", row[4]));
    var where = el("p", "mg-pop__where");
    where.appendChild(el("span", "mg-pop__kind", row[2] + " "));
    where.appendChild(anchor(row[6], row[5]));
    if (row[8]) where.appendChild(document.createTextNode(" · " + row[8] + (row[8] === 1 ? " use" : " uses")));
    box.appendChild(where);
    if (row[7].length) {
      var notes = el("ul", "mg-pop__notes");
      row[7].forEach(function (note) {
        var item = el("li");
        item.appendChild(el("span", "mg-label", "Note "));
        item.appendChild(anchor(note[1], note[0]));
        notes.appendChild(item);
      });
      box.appendChild(notes);
    }
    if (row[9].length) {
      var uses = el("ul", "mg-pop__uses");
      row[9].forEach(function (group) {
        var item = el("li");
        item.appendChild(el("code", "", group[0]));
        item.appendChild(document.createTextNode(": "));
        group[1].forEach(function (use, i) {
          if (i) item.appendChild(document.createTextNode(", "));
          item.appendChild(anchor(use[1], String(use[0])));
        });
        uses.appendChild(item);
      });
      box.appendChild(uses);
    }
  }

  function fillLibrary(box, row) {
    // ["l", qualified name, label, url]
    var sig = el("p", "mg-pop__sig");
    sig.appendChild(el("code", "", row[1]));
    box.appendChild(sig);
    var where = el("p", "mg-pop__where");
    where.appendChild(anchor(row[3], row[2]));
    box.appendChild(where);
  }

  function showPreview(link) {
    var file = link.closest(".mg-file");
    if (!file || !file.dataset.xref) return;
    window.clearTimeout(preview.hideTimer);
    loadTable(file).then(function (table) {
      if (!link.isConnected) return;
      var pop = popover();
      pop.textContent = "";
      var ids = (link.dataset.x || "").split(" ");
      if (ids.length > 1) pop.appendChild(el("p", "mg-pop__several", ids.length + " definitions reach this use:"));
      ids.forEach(function (id) {
        var row = table[id];
        if (!row) return;
        var box = el("div", "mg-pop__item");
        if (row[0] === "l") fillLibrary(box, row); else fillDefinition(box, row);
        pop.appendChild(box);
      });
      if (!pop.childNodes.length) return;
      if (preview.link && preview.link !== link) preview.link.removeAttribute("aria-describedby");
      preview.link = link;
      link.setAttribute("aria-describedby", "mg-pop");
      pop.hidden = false;
      var rect = link.getBoundingClientRect();
      var width = pop.offsetWidth;
      var left = Math.max(8, Math.min(rect.left, document.documentElement.clientWidth - width - 8));
      pop.style.left = (left + window.scrollX) + "px";
      pop.style.top = (rect.bottom + window.scrollY + 4) + "px";
    });
  }

  function hidePreview() {
    var pop = document.getElementById("mg-pop");
    if (pop) pop.hidden = true;
    if (preview.link) preview.link.removeAttribute("aria-describedby");
    preview.link = null;
  }

  function scheduleHide() {
    window.clearTimeout(preview.showTimer);
    preview.hideTimer = window.setTimeout(hidePreview, 250);
  }

  function setUpPreviews(file) {
    if (!file.dataset.xref) return;
    var code = file.querySelector(".mg-code");
    if (!code) return;
    function target(event) { return event.target.closest && event.target.closest("a[data-x]"); }
    code.addEventListener("mouseover", function (event) {
      var link = target(event);
      if (!link) return;
      window.clearTimeout(preview.showTimer);
      window.clearTimeout(preview.hideTimer);
      preview.showTimer = window.setTimeout(function () { showPreview(link); }, 300);
    });
    code.addEventListener("mouseout", function (event) { if (target(event)) scheduleHide(); });
    code.addEventListener("focusin", function (event) { var link = target(event); if (link) showPreview(link); });
    code.addEventListener("focusout", function (event) { if (target(event)) scheduleHide(); });
    // Touch: the first tap on a name shows its preview (which holds the link), the second
    // follows it. Cancelling touchend cancels the click, before any navigation handler sees it.
    code.addEventListener("touchend", function (event) {
      var link = target(event);
      if (link && preview.link !== link) {
        event.preventDefault();
        showPreview(link);
      }
    }, { passive: false });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && preview.link) hidePreview();
  });

  // ---------------------------------------------------------------- what ran --
  // "What ran" (off by default, ?ran=<run> in the URL): each line's count from the page's
  // trace.json, as a heat mark in the gutter, and in words for the line pointed at.
  var HEAT = ["h0", "h1", "h2", "h3", "h4", "h5"];

  function heat(count) {
    if (!count) return "h0";
    if (count === 1) return "h1";
    return HEAT[Math.min(5, 2 + Math.floor(Math.log10(count)))];
  }

  function plural(n, word) { return n.toLocaleString("en") + " " + word + (n === 1 ? "" : "s"); }

  function ranText(data, runId, number) {
    var run = null;
    data.runs.forEach(function (r) { if (r[0] === runId) run = r; });
    var counts = data.lines[runId] && data.lines[runId][number];
    if (!run || !counts) return "Line " + number + ": not a statement (nothing to count).";
    if (!counts[0]) return "Line " + number + ": never ran in this run.";
    var text = "Line " + number + ": Python entered it " + plural(counts[0], "time") + ".";
    if (counts[1]) {
      text += " The TensorFlow operations it built ran " + plural(counts[1], "time");
      text += run[3] ? " (" + (counts[1] / run[3]).toLocaleString("en", { maximumFractionDigits: 1 }) + " per generated token)." : ".";
    }
    return text;
  }

  function setUpRan(file) {
    var box = file.querySelector(".mg-ran");
    if (!box) return;
    var toggle = box.querySelector(".mg-ran__toggle");
    var panel = box.querySelector(".mg-ran__panel");
    var select = box.querySelector(".mg-ran__run");
    var status = box.querySelector(".mg-ran__status");
    var marked = [];
    var data = null;
    var current = null;

    function load() {
      if (data) return Promise.resolve(data);
      return fetch(new URL(box.dataset.trace, window.location.href)).then(function (r) { return r.json(); })
        .then(function (table) { data = table; return table; });
    }

    function mark(runId) {
      marked.forEach(function (line) { line.classList.remove.apply(line.classList, HEAT); });
      marked = [];
      var lines = data.lines[runId] || {};
      Object.keys(lines).forEach(function (number) {
        var line = document.getElementById("L" + number);
        if (!line) return;
        line.classList.add(heat(lines[number][0]));
        marked.push(line);
      });
    }

    function write(runId) {
      var url = new URL(window.location.href);
      if (runId) url.searchParams.set("ran", runId); else url.searchParams.delete("ran");
      window.history.replaceState(window.history.state, "", url);
    }

    function show(runId, remember) {
      if (!runId) {
        current = null;
        file.classList.remove("mg-ran-on");
        toggle.setAttribute("aria-pressed", "false");
        panel.hidden = true;
        if (data) mark("");
        if (remember) write(null);
        return;
      }
      load().then(function () {
        var known = data.runs.some(function (r) { return r[0] === runId; });
        current = known ? runId : data.runs[0][0];
        select.value = current;
        mark(current);
        file.classList.add("mg-ran-on");
        toggle.setAttribute("aria-pressed", "true");
        panel.hidden = false;
        status.textContent = "Point at a line, or focus a name in it, to read its counts.";
        if (remember) write(current);
      });
    }

    function describe(line) {
      if (!current || !line || !data) return;
      status.textContent = ranText(data, current, line.id.slice(1));
    }

    toggle.addEventListener("click", function () { show(current ? null : (select.value || "x"), true); });
    select.addEventListener("change", function () { show(select.value, true); });
    var code = file.querySelector(".mg-code");
    if (code) {
      code.addEventListener("mouseover", function (event) { describe(event.target.closest && event.target.closest(".l")); });
      code.addEventListener("focusin", function (event) { describe(event.target.closest && event.target.closest(".l")); });
    }
    var wanted = new URLSearchParams(window.location.search).get("ran");
    if (wanted) show(wanted, false);
  }

  // ---------------------------------------------------------- suggest a note --
  // A selected range offers a new note on it: GitHub's new-file page prefilled with what
  // `make new` would write (scaffold.py; tests compare the two), or, without a configured
  // repository, that command. The page's suggest.json holds what the text depends on.
  var suggestData = { url: null, loading: null };

  function loadSuggest(file) {
    var url = new URL(file.dataset.suggest, window.location.href).toString();
    if (suggestData.url !== url) {
      suggestData.url = url;
      suggestData.loading = fetch(url).then(function (r) { return r.json(); });
    }
    return suggestData.loading;
  }

  function yamlQuote(value) { return "'" + value.replace(/'/g, "''") + "'"; }

  function enclosingSymbol(defs, start, end) {
    // as scaffold.enclosing_symbol: the chain of first definitions holding the lines, then
    // the innermost whose resolved span (what the checker will see) holds them
    var chain = [], parent = -1;
    for (;;) {
      var inner = -1;
      for (var i = 0; i < defs.length; i++) {
        if (defs[i][3] === parent && defs[i][0] <= start && end <= defs[i][1]) { inner = i; break; }
      }
      if (inner < 0) break;
      chain.push(inner);
      parent = inner;
    }
    for (var k = chain.length - 1; k >= 0; k--) {
      var span = defs[chain[k]][4];
      if (span && span[0] <= start && end <= span[1]) return defs[chain[k]][2];
    }
    return null;
  }

  function noteText(data, start, end, quote) {
    var around = null;
    data.notes.forEach(function (n) {
      if (n[0] <= start && end <= n[1] &&
          (!around || n[1] - n[0] < around[1] - around[0] || (n[1] - n[0] === around[1] - around[0] && n[3] < around[3]))) {
        around = n;
      }
    });
    var cls = around ? around[2] : data["class"];
    var from = around ? "note " + around[3] : "sources.toml";
    var symbol = enclosingSymbol(data.defs, start, end);
    var lines = [
      "---",
      "id: '{{id: a new lower-case slug starting " + data.prefix + "-, never used before}}'",
      "codebase: " + data.codebase,
      "path: " + data.path,
      "lines: " + (start === end ? start : start + "-" + end),
      "quote: " + yamlQuote(quote)
    ];
    if (symbol) lines.push("symbol: " + symbol);
    lines.push("class: " + cls + "  # from " + from + ": confirm it for these lines (CONTRIBUTING.md §3)",
      "title: '{{title: a short plain-text title, at most 120 characters}}'",
      "tags: []", "cites: []", "see_also: []",
      "authors: ['{{authors: your name as it should be cited}}']", "---", data.body);
    return lines.join("\n") + "\n";
  }

  function suggestBar() {
    var bar = document.getElementById("mg-suggest");
    if (!bar) {
      bar = document.createElement("div");
      bar.id = "mg-suggest";
      bar.className = "mg-suggest md-typeset";
      bar.setAttribute("role", "region");
      bar.setAttribute("aria-label", "Suggest a note on the selected lines");
      bar.hidden = true;
      document.body.appendChild(bar);
    }
    return bar;
  }

  function hideSuggest() {
    var bar = document.getElementById("mg-suggest");
    if (bar) bar.hidden = true;
  }

  function showSuggest(file, range) {
    if (!file.dataset.suggest || !range) { hideSuggest(); return; }
    loadSuggest(file).then(function (data) {
      var bar = suggestBar();
      bar.textContent = "";
      var first = document.getElementById("L" + range[0]);
      var quote = first ? first.textContent.trim() : "";
      var label = range[0] === range[1] ? "Line " + range[0] : "Lines " + range[0] + "\u2013" + range[1];
      bar.appendChild(el("span", "mg-suggest__lines", label + ": "));
      var slug = data.stem.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
      var filename = "new-" + data.prefix + "-" + slug + "-" + range[0] + ".md";
      var text = quote && quote.length <= 400 ? noteText(data, range[0], range[1], quote) : null;
      if (!text) {
        bar.appendChild(el("span", "", quote ? "the first line is too long to quote; start a note elsewhere."
                                              : "start a note at a line with code or text."));
      } else if (file.dataset.repo) {
        var link = anchor(file.dataset.repo + "/new/" + encodeURIComponent(file.dataset.branch) + "/annotations/" +
          encodeURIComponent(data.codebase) + "?" + new URLSearchParams({ filename: filename, value: text }).toString(),
          "Suggest a note on these lines");
        link.className = "mg-suggest__link";
        bar.appendChild(link);
        bar.appendChild(el("span", "mg-muted", " (on GitHub: it makes a copy of the project for you and opens a pull request)"));
      } else {
        bar.appendChild(el("span", "", "to write a note on them, run "));
        bar.appendChild(el("code", "mg-suggest__command", "make new CODEBASE=" + data.codebase + " FILE=" + data.path +
          " LINES=" + (range[0] === range[1] ? range[0] : range[0] + "-" + range[1])));
      }
      var close = el("button", "mg-suggest__close", "\u00d7");
      close.type = "button";
      close.setAttribute("aria-label", "Close");
      close.addEventListener("click", hideSuggest);
      bar.appendChild(close);
      bar.hidden = false;
    });
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
    hidePreview();
    hideSuggest();
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
        showSuggest(file, range);  // a selection made by the reader, not one arriving by link
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

    setUpPreviews(file);
    setUpRan(file);
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
