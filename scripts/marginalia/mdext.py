"""Markdown directives for the site's hand-written pages (a Python-Markdown extension).

Written pages stay plain Markdown; where they need project data they use a pymdownx
block, resolved at build time from the manifest, the extracted sources and the notes::

    /// code | gpt-2/src/generate_unconditional_samples.py#L69-L76
    ///

    /// call-map | aidungeon
    ///

    /// file-classes
    ///

    /// concordance
    ///

    /// bibliography
    ///

The blocks are meant for pages at the top of ``docs/`` (``map.md``, the readings): links
into the code pages are written relative to that level. Being a Markdown extension (not
an MkDocs plugin), they also run under other generators that read ``markdown_extensions``.
A block that cannot be resolved renders a visible error and logs a warning, which fails
``mkdocs build --strict``.
"""

from __future__ import annotations

import html
import logging
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from pathlib import Path

from markdown import Markdown
from markdown.preprocessors import Preprocessor
from markdown.util import AtomicString
from pymdownx.blocks import BlocksExtension
from pymdownx.blocks.block import Block

from . import urls
from .callgraph import CallGraph, Function
from .concordance import coverage, load_rows
from .diagram import call_diagram
from .highlight import HighlightCache
from .manifest import CodeClass
from .pages import RAW_HTML_MARKER, class_badge
from .problems import InputError
from .xref import LIBRARY_LABELS
from .site import Inputs, Project, cross_references, load_inputs

log = logging.getLogger("mkdocs.marginalia")



@dataclass
class _Data:
    inputs: Inputs
    graph: CallGraph
    project: Project


_GRAPH: list[tuple[Inputs, CallGraph]] = []  # the call graph of the inputs last seen


def _data(root: str) -> _Data:
    """Project data; `load_inputs` caches it per process, so the hook and every page share it."""
    project = Project(Path(root).resolve())
    inputs = load_inputs(project)
    if not _GRAPH or _GRAPH[0][0] is not inputs:
        _GRAPH[:] = [(inputs, CallGraph(inputs.manifest, inputs.sources, cross_references(project, inputs),
                                         inputs.library_docs))]
    return _Data(inputs, _GRAPH[0][1], project)


def _md_link(codebase: str, path: str, fragment: str = "") -> str:
    """A link to the generated page's Markdown source, which every generator rewrites into
    the page's URL and checks. Directive output carries its links as elements, never as
    raw HTML, so that this holds for all of them."""
    return urls.code_page_source(codebase, path) + (f"#{fragment}" if fragment else "")


def _attach(parent: etree.Element, markup: str) -> None:
    """Attach generated, well-formed HTML as elements (not a raw-HTML placeholder), so its
    links are rewritten and validated by MkDocs, and its ids seen by anchor checks. Text is
    atomic: no Markdown inline processing runs over it."""
    element = etree.fromstring(markup)
    for node in element.iter():
        if node.text:
            node.text = AtomicString(node.text)
        if node.tail:
            node.tail = AtomicString(node.tail)
    parent.append(element)


def _error(parent: etree.Element, message: str) -> None:
    log.warning("marginalia directive: %s", message)
    _attach(parent, f'<div class="admonition failure"><p class="admonition-title">Directive error</p>'
                    f'<p>{html.escape(message)}</p></div>')


class _DataBlock(Block):
    """A block rendered from project data into one wrapper element."""

    ARGUMENT = None
    WRAPPER: tuple[str, str]  # (tag, class) of that element

    def on_create(self, parent: etree.Element) -> etree.Element:
        tag, css_class = self.WRAPPER
        return etree.SubElement(parent, tag, {"class": css_class})

    def data(self) -> _Data:
        return _data(self.config["root"])


class BibliographyBlock(_DataBlock):
    """Every work in annotations/bibliography.json, sorted, each with an anchor ``#<key>``."""

    NAME = "bibliography"
    WRAPPER = ("div", "mg-bibliography")

    def on_end(self, block: etree.Element) -> None:
        bibliography = self.data().inputs.bibliography
        items = "".join(f'<li id="{work.key}"><span class="mg-bib-key">{html.escape(work.short)}</span> '
                        f'{work.reference_html()}</li>' for work in bibliography.sorted())
        _attach(block, f'<ul class="mg-bib">{items}</ul>')


_RANGE = re.compile(r"^(?P<codebase>[a-z0-9._-]+)/(?P<path>[^#\s]+)#L(?P<start>\d+)(?:-L(?P<end>\d+))?$")


class CodeBlock(_DataBlock):
    """Lines of a presented file, by reference, with links to the page and to the notes on them."""

    NAME = "code"
    ARGUMENT = True
    WRAPPER = ("figure", "mg-excerpt")

    def on_end(self, block: etree.Element) -> None:
        match = _RANGE.match(self.argument.strip())
        if not match:
            return _error(block, f"'{self.argument}': write /// code | <codebase>/<path>#L<start>-L<end>")
        codebase, path = match["codebase"], match["path"]
        start = int(match["start"])
        end = int(match["end"] or start)
        data = self.data()
        source = data.inputs.sources.get((codebase, path))
        if source is None:
            return _error(block, f"{codebase}/{path} is not a presented file (see sources.toml)")
        anchor = urls.line_anchor(start, end)
        caption = (f'<figcaption><a href="{_md_link(codebase, path, anchor)}"><code>{html.escape(codebase)}/'
                   f'{html.escape(path)}</code>, lines {start}–{end}</a></figcaption>')
        _attach(block, caption)  # a figcaption must be the figure's own first (or last) child
        if source.text is None:
            _attach(block, f'<div class="mg-excerpt__missing"><p>Not extracted: '
                           f'{html.escape(source.absent_reason or "")}</p></div>')
            return
        if not 1 <= start <= end <= len(source.lines):
            return _error(block, f"{codebase}/{path}#{anchor} is outside the file ({len(source.lines)} lines)")
        lines = HighlightCache(data.project.cache.highlight)(source.text, path)[start - 1:end]
        body = "".join(f'<span class="l">{code}</span>' for code in lines)
        notes = [n for n in data.inputs.notes.notes
                 if n.codebase == codebase and n.path == path and n.start <= end and n.end >= start]
        notes.sort(key=lambda n: (n.start, n.end, n.id))
        items = "".join(f'<li>{class_badge(n.code_class)} <a href="{_md_link(codebase, path, urls.note_anchor(n.id))}">'
                        f'{html.escape(n.title)}</a> <span class="mg-muted">(lines {n.start}–{n.end})</span></li>'
                        for n in notes)
        note_list = f'<ul class="mg-excerpt__notes">{items}</ul>' if items else ""
        _attach(block, '<div class="mg-excerpt__inner"></div>')
        # The lines go in as raw HTML: a `pre > code` element in the tree would be taken by
        # pymdownx.highlight for an indented code block and re-highlighted as plain text.
        code = etree.SubElement(block[-1], "div", {"class": "mg-code mg-code--excerpt highlight no-copy",
                                                    "style": f"counter-reset: mgl {start - 1}"})
        etree.SubElement(code, "p").text = self.md.htmlStash.store(f"<pre data-search-exclude><code>{body}</code></pre>")
        if note_list:
            _attach(block[-1], note_list)


class CallMapBlock(_DataBlock):
    """The computed calls of one codebase that lead from application code into the model."""

    NAME = "call-map"
    ARGUMENT = True
    WRAPPER = ("figure", "mg-callmap-figure")

    def on_end(self, block: etree.Element) -> None:
        codebase = self.argument.strip()
        data = self.data()
        if codebase not in data.inputs.manifest.codebases:
            return _error(block, f"unknown codebase {codebase!r}")
        calls = [c for c in data.graph.crossing() if c.caller.codebase == codebase]
        if not calls:
            missing = any(data.inputs.sources[(codebase, f.path)].text is None
                          for f in data.inputs.manifest.codebases[codebase].files)
            reason = "its files are not extracted in this build" if missing else "no such calls were found"
            _attach(block, f'<p class="mg-muted">No calls to draw for {html.escape(codebase)}: {reason}.</p>')
            return

        def href(function: Function, line: int | None) -> str:
            fragment = urls.line_anchor(line) if line else urls.line_anchor(function.start, function.end)
            return _md_link(function.codebase, function.path, fragment)

        title = f"Calls from application code towards the model in {data.inputs.manifest.codebases[codebase].title}"
        svg = call_diagram(calls, href, title, f"mg-callmap-{codebase}")
        scroll = etree.SubElement(block, "div", {"class": "mg-callmap-scroll"})
        _attach(scroll, svg)
        rows = []
        for call in calls:
            caller, callee = call.caller, call.callee
            rows.append(
                f'<tr><td>{class_badge(caller.code_class)} <a href="{_md_link(caller.codebase, caller.path, urls.line_anchor(caller.start, caller.end))}">'
                f'<code>{html.escape(caller.label)}</code></a></td>'
                f'<td><a href="{_md_link(caller.codebase, caller.path, urls.line_anchor(call.line))}">line {call.line}</a></td>'
                f'<td>{class_badge(callee.code_class)} <a href="{_md_link(callee.codebase, callee.path, urls.line_anchor(callee.start, callee.end))}">'
                f'<code>{html.escape(callee.codebase + ": " + callee.label if callee.codebase != codebase else callee.label)}</code></a></td></tr>')
        _attach(block, '<details class="mg-calls"><summary>The same calls as a table</summary><table><thead><tr>'
                       '<th scope="col">Caller</th><th scope="col">Call site</th><th scope="col">Callee</th></tr>'
                       f'</thead><tbody>{"".join(rows)}</tbody></table></details>')


class LibrarySurfaceBlock(_DataBlock):
    """Per presented Python file: the library API names it calls and its call sites, by
    library, beside its calls into presented code (from the cross-reference layer)."""

    NAME = "library-surface"
    WRAPPER = ("div", "mg-surface")
    LIBRARIES = ("tensorflow", "numpy", "torch", "transformers", "stdlib")

    def on_end(self, block: etree.Element) -> None:
        data = self.data()
        xref = cross_references(data.project, data.inputs)
        head = "".join(f'<th scope="col">{html.escape(LIBRARY_LABELS[lib])}</th>' for lib in self.LIBRARIES)
        rows = []
        for codebase, file in data.inputs.manifest.files():
            refs = xref.files.get((codebase, file.path))
            if refs is None:
                continue
            cells = []
            for library in (*self.LIBRARIES, None):
                calls = [u for u in refs.library if u.call and (u.library == library if library else u.library not in self.LIBRARIES)]
                names = len({u.qualname for u in calls})
                cells.append(f'<td class="mg-num">{names} / {len(calls)}</td>' if calls else '<td class="mg-num mg-muted">–</td>')
            own = sum(1 for u in refs.uses if u.call)
            rows.append(f'<tr><td>{class_badge(file.code_class)} <a href="{_md_link(codebase, file.path)}"><code>'
                        f'{html.escape(codebase)}/{html.escape(file.path)}</code></a></td>{"".join(cells)}'
                        f'<td class="mg-num">{own}</td></tr>')
        _attach(block, '<table class="mg-surface__table"><caption>Library API names called / call sites, by library; '
                       'and calls into the presented code itself</caption><thead><tr><th scope="col">File</th>'
                       f'{head}<th scope="col">Other</th><th scope="col">Calls into presented code</th></tr></thead>'
                       f'<tbody>{"".join(rows)}</tbody></table>')


class FileClassesBlock(_DataBlock):
    """Every presented file, placed in its class on the map."""

    NAME = "file-classes"
    WRAPPER = ("div", "mg-file-classes")

    def on_end(self, block: etree.Element) -> None:
        manifest = self.data().inputs.manifest
        columns = []
        for code_class in CodeClass:
            items = []
            for codebase_id, codebase in manifest.codebases.items():
                for file in codebase.files:
                    if file.code_class is code_class:
                        note = f' <span class="mg-muted">{html.escape(file.class_note)}</span>' if file.class_note else ""
                        items.append(f'<li><a href="{_md_link(codebase_id, file.path)}"><code>{html.escape(file.path)}</code></a> '
                                     f'<span class="mg-muted">({html.escape(codebase.title)})</span>{note}</li>')
            columns.append(f'<div class="mg-file-classes__col mg-file-classes__col--{code_class.value}">'
                           f'<h3>{class_badge(code_class)}</h3><ul>{"".join(items)}</ul></div>')
        _attach(block, f'<div class="mg-file-classes__grid">{"".join(columns)}</div>')


class ConcordanceBlock(_DataBlock):
    """Each code location the article discusses, where it is, and our notes on it."""

    NAME = "concordance"
    WRAPPER = ("div", "mg-concordance")

    def on_end(self, block: etree.Element) -> None:
        data = self.data()
        try:
            rows = load_rows(data.project.annotations / "article-map.toml")
        except InputError as exc:
            return _error(block, str(exc))
        body = []
        for cov in coverage(rows, data.inputs.notes.notes):
            row = cov.row
            if row.outside is not None:
                where, notes = "—", html.escape(row.outside)
            elif (row.codebase, row.path) not in data.inputs.sources:
                _error(block, f"article-map row {row.id}: {row.codebase}/{row.path} is not a presented file")
                continue
            else:
                spans = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in row.spans())
                first = row.spans()[0]
                where = (f'<a href="{_md_link(row.codebase, row.path, urls.line_anchor(*first))}"><code>'
                         f'{html.escape(row.path)}</code> {spans}</a>')
                notes = " ".join(f'<a href="{_md_link(n.codebase, n.path, urls.note_anchor(n.id))}">'
                                 f'{html.escape(n.title)}</a>' for n in cov.notes) or "<strong>no note yet</strong>"
                notes = f"{class_badge(row.code_class)} {notes}"
            body.append(f'<tr id="row-{row.id.lower()}-{html.escape((row.path or "x").replace("/", "-"))}"><th scope="row">{row.id}</th>'
                        f'<td>{html.escape(row.cites)}</td><td>{html.escape(row.topic)}</td><td>{where}</td><td>{notes}</td></tr>')
        _attach(block, '<table class="mg-concordance__table"><thead><tr><th scope="col">Row</th><th scope="col">Article</th>'
                       '<th scope="col">What it discusses</th><th scope="col">Where, at the pinned version</th>'
                       f'<th scope="col">Class and notes</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


class _GeneratedHTML(Preprocessor):
    """Pass the generated code pages' HTML through untouched. Everything after the marker
    line is final, sanitised HTML; parsing it again as Markdown's raw HTML would only cost
    time (it is most of a code page) and could change it."""

    def run(self, lines: list[str]) -> list[str]:
        try:
            index = lines.index(RAW_HTML_MARKER)
        except ValueError:
            return lines
        placeholder = self.md.htmlStash.store("\n".join(lines[index + 1:]).strip("\n"))
        # A paragraph of exactly the placeholder, blank lines around it: Markdown then puts the
        # block-level HTML back without a <p> wrapper (a trailing newline inside the paragraph
        # kept the wrapper and left a stray </p>).
        return [*lines[:index], "", placeholder, "", ""]


class MarginaliaExtension(BlocksExtension):
    def __init__(self, *args, **kwargs):
        self.config = {"root": [".", "Project root (where sources.toml and annotations/ are)."]}
        super().__init__(*args, **kwargs)

    def extendMarkdown(self, md: Markdown) -> None:
        # after normalize_whitespace (30), which strips the placeholder markers; before html_block (20)
        md.preprocessors.register(_GeneratedHTML(md), "marginalia-generated-html", 25)
        super().extendMarkdown(md)

    def extendMarkdownBlocks(self, md: Markdown, block_mgr) -> None:
        for block in (BibliographyBlock, CodeBlock, CallMapBlock, FileClassesBlock, ConcordanceBlock, LibrarySurfaceBlock):
            block_mgr.register(block, self.getConfigs())
        # lineage hook: /// lineage-map (lineage_mdext imports this module, hence the late import)
        from .lineage_mdext import LineageMapBlock
        block_mgr.register(LineageMapBlock, self.getConfigs())
        # what-ran hook: /// what-ran | classes, /// what-ran | growth (figures of traces/)
        from .trace_mdext import WhatRanBlock
        block_mgr.register(WhatRanBlock, self.getConfigs())


def makeExtension(*args, **kwargs) -> MarginaliaExtension:
    return MarginaliaExtension(*args, **kwargs)
