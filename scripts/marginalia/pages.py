"""Stage 3: render the code pages, with each note in the margin beside its first line.

Layout (no script needed to place notes, so nothing moves after load): the file is cut into
*segments*, one starting at the first line of each group of notes that share a first line.
A segment is a two-column grid: its lines on the left, its notes on the right, top-aligned.
When the notes are taller than their lines the code makes room, so a note never drifts
from its line and notes never overlap. Each segment's lines are split after the notes'
last line, so that on narrow screens (one column) the notes follow the lines they discuss.

Every line is ``<span class="l" id="L<n>">``; the number is drawn by a CSS counter, so it is
not copied with the code and costs no markup.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import groupby
from pathlib import Path

from . import urls
from .urls import Repository
from .bibliography import Bibliography
from .highlight import highlight_lines
from .manifest import CodeClass, Codebase, Manifest, SourceFile, browse_url
from .markup import BodyRenderer
from .notes import BrokenNote, Note, NoteSet
from .problems import Problem
from .sources import SourceText, write_atomically
from .citation import NoteCitation
from .forked import run_jobs
from .layers import CodeView, Layer

# The Markdown extension (mdext) passes what follows this line through as final HTML.
RAW_HTML_MARKER = "<!-- marginalia:raw-html -->"

CLASS_CODES = {CodeClass.model: "cm", CodeClass.application: "ca", CodeClass.boundary: "cb"}

# Our own one-line glosses of the article's definitions; the article is cited, not quoted.
CLASS_DEFINITIONS = {
    CodeClass.model: ("Model code", "core deep learning code: defines the network and computes its predictions",
                      "§2 ¶2, ¶6"),
    CodeClass.application: ("Application code", "ancillary deep learning code: the loops, interfaces, wrappers and "
                            "filters that put predictions to use, and that ordinary developers can replace",
                            "§2 ¶2, ¶9–10"),
    CodeClass.boundary: ("Boundary", "code the article leaves between the two, such as sampling and "
                         "tokenizing (sample.py, encoder.py)", "§2 ¶1"),
}


@dataclass(frozen=True)
class Page:
    """A generated Markdown page, ``path`` relative to the docs directory, and the data files
    that go with it (written beside it, copied to the site as they are)."""

    path: str
    content: str
    companions: tuple["Page", ...] = ()


@dataclass(frozen=True)
class PageContext:
    manifest: Manifest
    sources: Mapping[tuple[str, str], SourceText]
    notes: NoteSet
    bibliography: Bibliography
    renderer: BodyRenderer
    preview: bool = False
    note_html: dict = field(default_factory=dict)
    """Rendered notes by everything they depend on; reused across preview rebuilds."""
    highlight: Callable[[str, str], tuple[str, ...]] = highlight_lines
    """Highlighting, possibly through the on-disk HighlightCache."""
    layers: tuple[Layer, ...] = ()
    """The relation layers (cross-references, what ran, lineage), asked in turn by every code page."""
    repository: Repository | None = None
    """Where notes are edited and proposed (repo_url); None: no repository links."""
    citations: Mapping[str, NoteCitation] = field(default_factory=dict)
    """Each note's citation, by id (shown under the note; the note page has it in full)."""
    body_cache: Path | None = None
    """Where rendered note bodies are kept by content between builds (None: not kept)."""

    # Indexes built once per build: pages and notes look things up here, never by scanning
    # every note (which made large corpora quadratic; see docs/benchmark.md).
    @cached_property
    def link_targets(self) -> int:
        """A digest of what any note's links can depend on: where every note is and its title."""
        return hash(tuple((n.id, n.codebase, n.path, n.title) for n in self.notes.notes))

    @cached_property
    def link_answers(self) -> str:
        """A stable digest of everything a note body's links resolve against: where every
        note is, which files are presented, which works the bibliography holds."""
        parts = [sorted((n.id, n.codebase, n.path) for n in self.notes.notes), sorted(self.sources),
                 sorted(self.bibliography.works), hashlib.sha256(Path(__file__).read_bytes()).hexdigest()]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    @cached_property
    def notes_by_id(self) -> dict[str, Note]:
        return self.notes.by_id()

    @cached_property
    def notes_by_file(self) -> dict[tuple[str, str], list[Note]]:
        out: dict[tuple[str, str], list[Note]] = {}
        for note in self.notes.notes:
            out.setdefault((note.codebase, note.path), []).append(note)
        return out

    @cached_property
    def problems_by_file(self) -> dict[str, list[Problem]]:
        out: dict[str, list[Problem]] = {}
        for problem in self.notes.problems:
            out.setdefault(problem.file, []).append(problem)
        return out


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _front_matter(title: str, description: str, hide: tuple[str, ...] = (), wide: bool = False,
                  head_meta: list[tuple[str, str, str]] = (), jsonld: str = "", searched: bool = True) -> str:
    """Front matter of a generated page (every page made here is one). The title is escaped:
    both generators put it into the page (header, <title>) as it is, and a note's title may
    hold a token such as <|pad|>."""
    lines = ["---", f"title: {json.dumps(html.escape(title, quote=False), ensure_ascii=False)}",
             f"description: {json.dumps(description, ensure_ascii=False)}"]
    if wide:  # read by overrides/main.html: the page is laid out full width before its first paint
        lines.append("mg_layout: wide")
    lines.append("mg_generated: true")  # read by overrides/main.html: not a file of the repository, no "edit this page"
    if head_meta:  # read by overrides/main.html: <meta> elements for the page's head
        lines.append("mg_meta:")
        lines.extend(f"  - {json.dumps(list(item), ensure_ascii=False)}" for item in head_meta)
    if jsonld:  # read by overrides/main.html: a W3C annotation in the head, as JSON-LD
        lines.append(f"mg_jsonld: {json.dumps(jsonld, ensure_ascii=False)}")
    if not searched:  # both generators' search plugins honour it
        lines.extend(["search:", "  exclude: true"])
    if hide:
        lines.append("hide:")
        lines.extend(f"  - {item}" for item in hide)
    lines.append("---")
    return "\n".join(lines) + "\n\n"


def _range_label(start: int, end: int) -> str:
    return f"line {start}" if start == end else f"lines {start}–{end}"


def class_badge(code_class: CodeClass) -> str:
    return f'<span class="mg-badge mg-badge--{code_class.value}">{_e(code_class.label)}</span>'


# ------------------------------------------------------------------------- notes --

_ROOTED = "/__marginalia_root__/"  # a path no page has: "relative to the site root, rebase me"
_ROOTED_HREF = re.compile(r'href="/__marginalia_root__/([^"]*)"')


class LinkResolver:
    """Turns ``note:``, ``code:``, ``glossary:`` and ``bib:`` targets into relative URLs.

    With ``page_url=None`` the links stay rooted (``/__marginalia_root__/<site path>``), so that
    one rendering of a note body serves every page that shows it (see ``note_body``)."""

    def __init__(self, ctx: PageContext, page_url: str | None, note: Note):
        self.ctx = ctx
        self.page_url = page_url
        self.note = note
        self.notes_by_id = ctx.notes_by_id

    def _to(self, target: str) -> str:
        return _ROOTED + target if self.page_url is None else rebase(self.page_url, target)

    def __call__(self, href: str) -> str | None:
        scheme, sep, rest = href.partition(":")
        if href.startswith("#"):  # lines or notes of the note's own file: on its code page
            return self._to(urls.code_page(self.note.codebase, self.note.path) + href)
        if not sep:
            return None
        if scheme in ("http", "https", "mailto"):
            return href
        if scheme == "note":
            target = self.notes_by_id.get(rest)
            if target is None:
                return None
            return self._to(urls.code_page(target.codebase, target.path) + "#" + urls.note_anchor(rest))
        if scheme == "code":
            location, _, fragment = rest.partition("#")
            codebase, _, path = location.partition("/")
            if (codebase, path) not in self.ctx.sources:
                return None
            return self._to(urls.code_page(codebase, path) + (f"#{fragment}" if fragment else ""))
        if scheme == "glossary":
            return self._to(urls.glossary(rest))
        if scheme == "bib":
            return self._to(urls.bibliography(rest)) if rest in self.ctx.bibliography else None
        return None


def rebase(page_url: str, target: str) -> str:
    """``urls.relative``, except that a place on the page itself is just its fragment."""
    path, _, fragment = target.partition("#")
    if fragment and path == page_url:
        return "#" + fragment
    return urls.relative(page_url, target)


def _rooted_body(note: Note, ctx: PageContext) -> str:
    """The body rendered with rooted links; from the on-disk cache when nothing it depends on changed."""
    target = None
    if ctx.body_cache is not None:
        key = hashlib.sha256("\0".join([ctx.renderer.fingerprint, ctx.link_answers, note.codebase, note.path,
                                         note.body]).encode()).hexdigest()
        target = ctx.body_cache / f"{key}.html"
        try:
            return target.read_text(encoding="utf-8")
        except OSError:
            pass
    rooted = ctx.renderer.render(note.body, LinkResolver(ctx, None, note))
    if target is not None:
        try:
            write_atomically(target, rooted.encode("utf-8"))
        except OSError:
            pass  # a read-only cache only costs speed
    return rooted


def note_body(note: Note, ctx: PageContext, page_url: str) -> str:
    """A note's body as HTML with its links relative to ``page_url``. Markdown runs once per
    note (and build): the code page, the note page and a compare page rebase the same HTML."""
    key = ("body", note, ctx.link_targets)
    rooted = ctx.note_html.get(key)
    if rooted is None:
        rooted = ctx.note_html[key] = _rooted_body(note, ctx)
    return _ROOTED_HREF.sub(lambda m: f'href="{_e(rebase(page_url, html.unescape(m.group(1))))}"', rooted)


def cite_block(cited: NoteCitation | None, page_url: str, note_id: str, *, expanded: bool = False) -> str:
    """The note's citation in three styles and its downloads; on a code page, collapsed."""
    if cited is None:
        return ""
    if cited.unavailable:
        inner = f'<p class="mg-muted">{_e(cited.unavailable)}</p>'
    else:
        styles = "".join(f'<div class="mg-cite__style"><dt>{_e(s.label)}</dt><dd>{s.html}'
                         f'<br><span class="mg-muted">In the text: {s.in_text_html}</span></dd></div>'
                         for s in cited.styles.values())
        folder = urls.relative(page_url, urls.note_page(note_id))
        files = " · ".join(f'<a href="{_e(folder + name)}" download type="{_e(d.media_type)}">{label}</a>'
                           for (name, d), label in zip(cited.downloads().items(), ("BibTeX", "RIS", "CSL-JSON")))
        inner = f'<dl class="mg-cite__styles">{styles}</dl><p class="mg-cite__files">Download: {files}</p>'
    if expanded:
        return f'<section class="mg-cite" aria-labelledby="cite"><h2 id="cite" data-search-exclude>Cite this note</h2>{inner}</section>'
    return f'<details class="mg-cite"><summary>Cite this note</summary>{inner}</details>'



def render_note(note: Note, ctx: PageContext, page_url: str, problems: list[Problem], *,
                lines_href: str | None = "") -> str:
    """One note as an ``<article>``: header, body, citations, links, and any problems.
    ``lines_href`` is where "Lines a–b" points: "" for the lines on this page, a URL (the
    upstream file, when it is not extracted here), or None for no link."""
    key = (note, note.field_lines.get("id"), page_url, tuple(problems), lines_href, ctx.link_targets)
    if key not in ctx.note_html:
        ctx.note_html[key] = _render_note(note, ctx, page_url, problems, lines_href)
    return ctx.note_html[key]


def _render_note(note: Note, ctx: PageContext, page_url: str, problems: list[Problem], lines_href: str | None) -> str:
    anchor = urls.note_anchor(note.id)
    body = note_body(note, ctx, page_url)
    label = _range_label(note.start, note.end).capitalize()
    if lines_href == "":
        lines_href = "#" + urls.line_anchor(note.start, note.end)
    lines_link = (f'<a class="mg-note__lines" href="{_e(lines_href)}">{label}</a>' if lines_href
                  else f'<span class="mg-note__lines">{label}</span>')
    parts = [
        f'<article class="mg-note mg-note--{note.code_class.value}" id="{anchor}" '
        f'data-start="{note.start}" data-end="{note.end}" aria-labelledby="{anchor}-t">',
        f'<h2 class="mg-note__title" id="{anchor}-t"><button type="button" class="mg-note__toggle" '
        f'aria-expanded="true" aria-controls="{anchor}-b">{_e(note.title)}</button></h2>',
        # &nbsp; rather than a space between two elements here and below: Chromium paints a lone
        # space 2–3 px high when the page arrives cut just after it (a layout shift; see _facts)
        f'<p class="mg-note__head">{class_badge(note.code_class)}&nbsp;{lines_link}</p>',
        f'<div class="mg-note__body" id="{anchor}-b">',
    ]
    if problems:
        items = "".join(f"<li>{_e(str(p))}</li>" for p in problems)
        parts.append(f'<div class="mg-note__problems" role="note"><p>This note has problems:</p><ul>{items}</ul></div>')
    parts.append(body)
    if note.cites:
        locators: dict[str, list[str]] = {}  # one entry per work, its locators joined
        for citation in note.cites:
            places = locators.setdefault(citation.key, [])
            if citation.locator:
                places.append(citation.locator)
        cites = []
        for key, places in locators.items():
            if key in ctx.bibliography:
                href = urls.relative(page_url, urls.bibliography(key))
                label = f'<a href="{_e(href)}">{_e(ctx.bibliography[key].short)}</a>'
            else:
                label = _e(key)
            cites.append(label + (f", {_e(', '.join(places))}" if places else ""))
        parts.append(f'<p class="mg-note__cites"><span class="mg-label">Cites</span>&nbsp;{"; ".join(cites)}</p>')
    if note.see_also:
        links = []
        notes_by_id = ctx.notes_by_id
        for other_id in note.see_also:
            other = notes_by_id.get(other_id)
            if other is None:
                links.append(_e(other_id))
                continue
            href = urls.relative(page_url, urls.code_page(other.codebase, other.path) + "#" + urls.note_anchor(other_id))
            links.append(f'<a href="{_e(href)}">{_e(other.title)}</a>')
        parts.append(f'<p class="mg-note__see"><span class="mg-label">See also</span>&nbsp;{" · ".join(links)}</p>')
    permalink = urls.relative(page_url, urls.code_page(note.codebase, note.path)) + "#" + anchor
    meta = [f'By {_e(", ".join(note.authors))}']
    if note.tags:
        meta.append(" ".join(f'<span class="mg-tag">{_e(t)}</span>' for t in note.tags))
    links = [f'<a class="mg-note__permalink" href="{_e(permalink)}">Permalink</a>&nbsp;'
             f'<button type="button" class="mg-note__copy" data-anchor="{anchor}">Copy link</button>',
             f'<a href="{_e(urls.relative(page_url, urls.note_page(note.id)))}">Note page</a>']
    if ctx.repository is not None:
        links.append(f'<a class="mg-edit" href="{_e(ctx.repository.edit(note.file))}">Edit this note</a>')
    parts.append(f'<footer class="mg-note__foot">{" · ".join(meta)} · {" · ".join(links)}</footer>')
    if note.id in ctx.citations:
        parts.append(cite_block(ctx.citations[note.id], page_url, note.id))
    parts.append("</div></article>")
    return "".join(parts)


# -------------------------------------------------------------------- code pages --

def _line_html(number: int, code: str, marks: str) -> str:
    return f'<span class="l{marks}" id="L{number}">{code}</span>'


def _marks(notes: list[Note], lines: int) -> list[str]:
    classes: list[set[str]] = [set() for _ in range(lines + 1)]
    for note in notes:
        for n in range(note.start, min(note.end, lines) + 1):
            classes[n].add(CLASS_CODES[note.code_class])
    return ["".join(f" {c}" for c in sorted(s)) for s in classes]


def _code_block(lines: list[str], marks: list[str], start: int, end: int, part: str) -> str:
    body = "".join(_line_html(n, lines[n - 1], marks[n]) for n in range(start, end + 1))
    # Code is kept out of the search index (code pages are, whole; this marks the code where
    # it is shown elsewhere, as in a note page's excerpt). No
    # <code> inside the <pre>: the theme's script mounts a code-block component (observers,
    # copy button) on every `pre > code`, and a page has one block per segment; on the
    # largest page that was most of a 300 ms task on a phone.
    # Each block numbers its own lines (a segment's containment scopes CSS counters to it).
    return f'<pre class="mg-{part}" style="counter-reset:mgl {start - 1}" data-search-exclude>{body}</pre>'


LINE_REM = 0.7 * 1.55  # a code line: font size × line height (marginalia.css)


def _estimate(lines: int, notes: list[Note]) -> str:
    """A segment's height before it is first laid out (CSS content-visibility): far from the
    viewport the browser skips its layout and uses this; once laid out it remembers the real
    one. Wide: the code or the margin notes, whichever is taller; narrow: code, then notes
    (mostly collapsed). An estimate only moves content the reader is not looking at."""
    code = lines * LINE_REM
    notes_wide = sum(4.5 + len(n.body) / 62 * 1.05 for n in notes)
    narrow = code + 2.6 * len(notes)
    return f' style="--mg-w:{max(code, notes_wide):.1f}rem;--mg-s:{narrow:.1f}rem"'


def render_code(lines: list[str], notes: list[Note], ctx: PageContext, page_url: str,
                problems: Mapping[str, list[Problem]]) -> str:
    """The segmented two-column code view of one file."""
    total = len(lines)
    marks = _marks(notes, total)
    groups = [(start, list(group)) for start, group in groupby(sorted(notes, key=lambda n: (n.start, n.end, n.id)),
                                                             key=lambda n: n.start)]
    out = ['<div class="mg-code highlight no-copy">']
    if not groups or groups[0][0] > 1:
        first = groups[0][0] - 1 if groups else total
        out.append(f'<div class="mg-seg"{_estimate(first, [])}>{_code_block(lines, marks, 1, first, "a")}</div>'
                   if first >= 1 else "")
    for index, (start, group) in enumerate(groups):
        end = groups[index + 1][0] - 1 if index + 1 < len(groups) else total
        split = min(max(n.end for n in group), end)
        notes_html = "".join(render_note(n, ctx, page_url, problems.get(n.file, [])) for n in group)
        segment = [f'<div class="mg-seg mg-seg--noted"{_estimate(end - start + 1, group)}>'
                   f'{_code_block(lines, marks, start, split, "a")}',
                   f'<div class="mg-notes">{notes_html}</div>']
        if split < end:
            segment.append(_code_block(lines, marks, split + 1, end, "b"))
        segment.append("</div>")
        out.append("".join(segment))
    out.append("</div>")
    return "\n".join(part for part in out if part)


def _chips(notes: list[Note], extra: str = "") -> str:
    counts = {c: sum(1 for n in notes if n.code_class is c) for c in CodeClass}
    chips = []
    for code_class in CodeClass:
        label = CLASS_DEFINITIONS[code_class][0]
        chips.append(
            f'<button type="button" class="mg-chip mg-chip--{code_class.value}" data-class="{code_class.value}" '
            f'aria-pressed="true">{_e(label)} <span class="mg-chip__count">{counts[code_class]}</span></button>'
        )
    return ('<div class="mg-chips"><div class="mg-chips__classes" role="group" aria-label="Show notes by class">'
            '<span class="mg-label" aria-hidden="true">Show</span>' + "".join(chips) + "</div>" + extra + "</div>")


def _legend(page_url: str) -> str:
    bib = urls.relative(page_url, urls.bibliography("hua-raley-2023"))
    about = urls.relative(page_url, "about/#classes")
    items = []
    for code_class, (label, definition, locator) in CLASS_DEFINITIONS.items():
        items.append(f'<div class="mg-legend__item mg-legend__item--{code_class.value}"><dt>{_e(label)}</dt>'
                     f'<dd>{_e(definition)} (<a href="{_e(bib)}">Hua &amp; Raley 2023</a>, {_e(locator)}).</dd></div>')
    return (f'<dl class="mg-legend" aria-label="What the classes mean">{"".join(items)}</dl>'
            f'<p class="mg-legend__more"><a href="{_e(about)}">How to read this page</a></p>')


def _facts(codebase_id: str, codebase: Codebase, file: SourceFile, ctx: PageContext, page_url: str,
           source: SourceText, more: list[tuple[str, str]]) -> str:
    pin = ctx.manifest.pin_of(codebase_id, file)
    upstream = browse_url(pin, file)
    cb_url = urls.relative(page_url, urls.codebase_page(codebase_id))
    if pin.is_git:
        pinned = f'<a href="{_e(pin.git.removesuffix(".git"))}/commit/{pin.commit}">{_e(pin.label)}</a>'
    else:
        artifact = ctx.manifest.artifacts[pin.artifact]
        pinned = (f'<a href="{_e(artifact.url)}">{_e(pin.label)}</a>'
                  f'<span class="mg-muted"> sha256 <code>{artifact.sha256[:12]}…</code></span>')
    class_note = f'<span class="mg-muted"> {_e(file.class_note)}</span>' if file.class_note else ""
    count = f"{len(source.lines)} lines" if source.text is not None else "not extracted"
    facts = [
        # no white space alone between two elements here: Chromium paints such a space, when the
        # page arrives cut just after it, 3 px above where it ends up (a layout shift on slow CI)
        ("Codebase", f'<a href="{_e(cb_url)}">{_e(codebase.title)}</a><span class="mg-muted"> ({_e(codebase.authors)})</span>'),
        ("Pinned at", pinned),
        ("Licence", _e(file.licence or codebase.licence)),
        ("Class", class_badge(file.code_class) + class_note),
        ("File", f'{count} · sha256 <code title="{file.sha256}">{file.sha256[:16]}…</code> · '
                 f'<a class="mg-upstream" href="{_e(upstream)}">view upstream at the pinned version</a>'),
    ]
    facts.extend(more)
    rows = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return f'<dl class="mg-facts">{rows}</dl>'


def code_page(codebase_id: str, file: SourceFile, ctx: PageContext) -> Page:
    codebase = ctx.manifest.codebases[codebase_id]
    source = ctx.sources[(codebase_id, file.path)]
    page_url = urls.code_page(codebase_id, file.path)
    page_source = urls.code_page_source(codebase_id, file.path)
    notes = ctx.notes_by_file.get((codebase_id, file.path), [])
    problems = ctx.problems_by_file

    # the relation layers, in turn: each may add to the page (see layers.py)
    view = CodeView(codebase_id, file, source.text, page_url, page_source.removesuffix("index.md"),
                    ctx.highlight(source.text, file.path) if source.text is not None else ())
    facts, controls, after_code, attributes, companions = [], [], [], {}, []
    for layer in ctx.layers:
        added = layer.code_page(view)
        if added is None:
            continue
        facts += added.facts
        controls.append(added.controls)
        after_code.append(added.after_code)
        attributes.update(added.attributes)
        companions += added.companions
        if added.lines is not None:
            view = replace(view, lines=added.lines)
    extra = "".join(f' {name}="{_e(value)}"' for name, value in attributes.items())

    head = [
        f'<div class="mg-file" data-codebase="{_e(codebase_id)}" data-path="{_e(file.path)}"{extra}>',
        f'<h1 class="mg-title"><span class="mg-title__codebase">{_e(codebase.title)}</span> '
        f'<code>{_e(file.path)}</code></h1>',
        _facts(codebase_id, codebase, file, ctx, page_url, source, facts),
    ]
    if source.text is None:
        upstream = browse_url(ctx.manifest.pin_of(codebase_id, file), file)
        # A link from elsewhere to #L<n> lands here: the script fills in the lines asked for,
        # and the plain link to the pinned upstream file works without it.
        head.append(f'<div class="admonition warning mg-missing" role="alert" data-upstream="{_e(upstream)}">'
                    f'<p class="admonition-title">Not extracted</p>'
                    f'<p>This file could not be extracted in this build, so its code is not shown: '
                    f'{_e(source.absent_reason or "")} <a class="mg-missing__upstream" href="{_e(upstream)}">Read it at '
                    f'its pinned upstream version</a>. Its {len(notes)} notes are listed below, <strong>unverified</strong>: '
                    f'their lines and quotes have not been checked against the pinned file.</p>'
                    f'<p class="mg-missing__lines" hidden>You followed a link to <a href="{_e(upstream)}">lines of '
                    f'this file</a>: they are shown upstream.</p></div>')
        body = "".join(render_note(n, ctx, page_url, problems.get(n.file, []),
                                   lines_href=f"{upstream}#{urls.line_anchor(n.start, n.end)}")
                       for n in sorted(notes, key=lambda n: (n.start, n.id)))
        main = f'<div class="mg-unplaced">{body}</div>'
    else:
        lines = source.lines
        placeable = [n for n in notes if 1 <= n.start <= n.end <= len(lines)]
        unplaceable = [n for n in notes if n not in placeable]
        main = ""
        if unplaceable:
            body = "".join(render_note(n, ctx, page_url, problems.get(n.file, []), lines_href=None) for n in unplaceable)
            main += (f'<div class="admonition failure mg-unplaced" role="alert"><p class="admonition-title">'
                     f'Notes that point outside this file</p>{body}</div>')
        main += render_code(view.lines, placeable, ctx, page_url, problems) + "".join(after_code)
    head.append(_legend(page_url))
    head.append(_chips(notes, "".join(controls)))
    content = RAW_HTML_MARKER + "\n" + "\n".join(head) + "\n" + main + "\n</div>\n"
    title = f"{file.path} · {codebase.title}"
    description = f"{codebase.title}: {file.path}, pinned at {ctx.manifest.pin_of(codebase_id, file).label}, with {len(notes)} margin notes."
    # Out of search: its code is never indexed, and its notes are found on their own pages
    # (notes/<id>/). Parsing a code page cost the search plugin as much as the rest of the build.
    return Page(page_source, _front_matter(title, description, ("navigation", "toc"), wide=True, searched=False) + content,
                tuple(companions))


# ------------------------------------------------------------------- index pages --

def codebase_index(codebase_id: str, ctx: PageContext) -> Page:
    codebase = ctx.manifest.codebases[codebase_id]
    page_url = urls.codebase_page(codebase_id)
    rows = []
    for file in codebase.files:
        source = ctx.sources[(codebase_id, file.path)]
        notes = ctx.notes_by_file.get((codebase_id, file.path), [])
        href = urls.relative(page_url, urls.code_page(codebase_id, file.path))
        size = str(len(source.lines)) if source.text is not None else '<span class="mg-missing-label">not extracted</span>'
        counts = " ".join(f'<span class="mg-count mg-count--{c.value}" title="{_e(c.label)} notes">'
                          f'{sum(1 for n in notes if n.code_class is c)}</span>' for c in CodeClass)
        rows.append(f'<tr><td><a href="{_e(href)}"><code>{_e(file.path)}</code></a></td>'
                    f'<td>{class_badge(file.code_class)}</td><td class="mg-num">{size}</td>'
                    f'<td class="mg-num">{len(notes)}</td><td>{counts}</td></tr>')
    pins = "".join(f"<li>{_e(pin.label)}</li>" for pin in codebase.pins.values())
    content = (
        f"# {codebase.title}\n\n{codebase.summary}\n\n"
        f'<dl class="mg-facts"><div><dt>By</dt><dd>{_e(codebase.authors)}</dd></div>'
        f'<div><dt>Upstream</dt><dd><a href="{_e(codebase.upstream)}">{_e(codebase.upstream)}</a></dd></div>'
        f'<div><dt>Pinned at</dt><dd><ul class="mg-plain">{pins}</ul></dd></div>'
        f'<div><dt>Licence</dt><dd>{_e(codebase.licence)}</dd></div></dl>\n\n'
        '<table class="mg-files"><thead><tr><th scope="col">File</th><th scope="col">Class</th>'
        '<th scope="col">Lines</th><th scope="col">Notes</th><th scope="col">By class</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>\n'
    )
    return Page(f"code/{codebase_id}/index.md", _front_matter(codebase.title, codebase.summary) + content)


def sources_index(ctx: PageContext) -> Page:
    items = []
    for codebase_id, codebase in ctx.manifest.codebases.items():
        notes = [n for f in codebase.files for n in ctx.notes_by_file.get((codebase_id, f.path), [])]
        missing = sum(1 for f in codebase.files if ctx.sources[(codebase_id, f.path)].text is None)
        warn = f" — **{missing} files not extracted**" if missing else ""
        items.append(f"- [{codebase.title}]({codebase_id}/index.md) — {codebase.authors}. "
                     f"{len(codebase.files)} files, {len(notes)} notes{warn}.  \n  {codebase.summary}")
    content = ("# Codebases\n\nEvery file shown on this site is fetched from its upstream at a pinned "
               "version and checked against a recorded sha256 before the site is built "
               "([how the sources are pinned](../about.md#pinned-sources)).\n\n" + "\n".join(items) + "\n")
    return Page("code/index.md", _front_matter("Codebases", "The four codebases presented, pinned and verified.") + content)


def problems_page(notes: NoteSet) -> Page:
    """Preview mode only: every problem, and every note that could not be read at all."""
    lines = ["# Note problems", "",
             "This page exists only in preview (`make serve`). The strict build (`make site`) fails "
             "until every problem below is fixed.", ""]
    if not notes.problems:
        lines.append("No problems.")
    else:
        lines.append("```text")
        lines.extend(str(p) for p in notes.problems)
        lines.append("```")
    for broken in notes.broken:
        lines += ["", f"## `{broken.file}`", "", "This file could not be read as a note. Its text:", "",
                  "```text", broken.text.replace("```", "ʼʼʼ"), "```"]
    return Page("code/problems.md", _front_matter("Note problems", "Problems found in note files.") + "\n".join(lines) + "\n")


def all_pages(ctx: PageContext, processes: int = 1) -> list[Page]:
    """The code pages and their indexes; with ``processes=2``, about half of the code pages
    are rendered in a forked process (see :mod:`.forked`), weighed by their file's size."""
    jobs: list[Callable[[], Page]] = [lambda: sources_index(ctx)]
    weights = [1]
    for codebase_id, codebase in ctx.manifest.codebases.items():
        jobs.append(lambda codebase_id=codebase_id: codebase_index(codebase_id, ctx))
        weights.append(1)
        for file in codebase.files:
            jobs.append(lambda codebase_id=codebase_id, file=file: code_page(codebase_id, file, ctx))
            weights.append(len(ctx.sources[(codebase_id, file.path)].text or "") + 1)
    if ctx.preview:
        jobs.append(lambda: problems_page(ctx.notes))
        weights.append(1)
    return run_jobs(jobs, weights, processes=processes)


__all__ = ["Page", "PageContext", "all_pages", "code_page", "render_note", "BrokenNote"]
