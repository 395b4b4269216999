"""Cross-references on the code pages: names become links, definitions list their uses.

Renders the data of :mod:`xref` and nothing else. A linked name *replaces* Pygments'
``<span class="n">`` with ``<a class="n" href=…>``, so a page gains links, not elements.
Every link is a plain ``href`` (to ``<page>#L<n>``, to the library's reference, or, on a
definition, to the list of its uses at the foot of the page), so the page works without
script; ``marginalia.js`` adds the preview from the small JSON table each page carries.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import PurePosixPath

from . import urls
from .layers import CodeView, Layer, PageAdditions
from .libdocs import LibraryDocs
from .manifest import Manifest
from .notes import Note
from .pages import Page
from .xref import Definition, FileRefs, XrefIndex

# What a highlighted line is made of: Pygments spans (never nested) and escaped text.
_PART = re.compile(r'<span class="([^"]+)">([^<]*)</span>|([^<]+)')
# Definitions that offer the list of their uses (parameters and locals are left out: their
# uses are a few lines below them).
OFFER_USES = {"function", "class", "keyword argument"}
PREVIEW_USES = 12


@dataclass
class PageRefs:
    """What one code page shows of the cross-references."""

    lines: tuple[str, ...]
    preview: dict[str, list] = field(default_factory=dict)
    uses_html: str = ""
    links: int = 0


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def link_line(line_html: str, links: Mapping[int, tuple[str, str]]) -> tuple[str, int]:
    """Replace the span of each name token starting at a linked column with an ``<a>``.
    ``links`` maps a character column to (expected name, attributes)."""
    if not links:
        return line_html, 0
    out, column, made = [], 0, 0
    for match in _PART.finditer(line_html):
        if match.group(3) is not None:
            out.append(match.group(3))
            column += len(html.unescape(match.group(3)))
            continue
        css, inner = match.group(1), match.group(2)
        text = html.unescape(inner)
        wanted = links.get(column)
        if wanted is not None and wanted[0] == text:
            out.append(f'<a class="{css}" {wanted[1]}>{inner}</a>')
            made += 1
        else:
            out.append(match.group(0))
        column += len(text)
    return "".join(out), made


def _short_path(path: str) -> str:
    return PurePosixPath(path).name


@dataclass
class _Table:
    """The page's preview table: one row per definition or library name, by short id."""

    ids: dict[str, str] = field(default_factory=dict)
    rows: dict[str, list] = field(default_factory=dict)

    def id_for(self, key: str, row: Callable[[], list]) -> str:
        if key not in self.ids:
            self.ids[key] = str(len(self.ids))
            self.rows[self.ids[key]] = row()
        return self.ids[key]


def render_refs(lines: tuple[str, ...], refs: FileRefs | None, index: XrefIndex, docs: LibraryDocs,
                page_url: str, pin: str, notes_by_file: Mapping[tuple[str, str], list[Note]]) -> PageRefs:
    if refs is None or refs.error:
        return PageRefs(lines)
    codebase, path = refs.codebase, refs.path
    table = _Table()

    def definition_href(definition: Definition) -> str:
        fragment = urls.line_anchor(definition.line)
        return urls.relative(page_url, urls.code_page(definition.codebase, definition.path) + "#" + fragment)

    def uses_of(definition: Definition) -> list[tuple[str, str, int]]:
        return [u for u in index.uses_of(definition.key) if u[0] == definition.codebase]

    def use_rows(definition: Definition) -> list[list]:
        rows = []
        for (cb, file_path), group in groupby(uses_of(definition), key=lambda u: (u[0], u[1])):
            page = urls.code_page(cb, file_path)
            line_links = [[n, urls.relative(page_url, page + "#" + urls.line_anchor(n))] for _, _, n in group]
            rows.append([_short_path(file_path), line_links])
        return rows

    def definition_row(definition: Definition) -> list:
        notes = [[n.title, urls.relative(page_url, urls.code_page(n.codebase, n.path) + "#" + urls.note_anchor(n.id))]
                 for n in notes_by_file.get((definition.codebase, definition.path), [])
                 if n.start <= definition.line <= n.end]
        where = f"{definition.path}, line {definition.line}"
        total = len(uses_of(definition))
        uses = use_rows(definition) if definition.kind in OFFER_USES else []
        shown, trimmed = 0, []
        for file_label, line_links in uses:
            take = line_links[:max(0, PREVIEW_USES - shown)]
            shown += len(take)
            if take:
                trimmed.append([file_label, take])
        return ["d", definition.name, definition.kind, definition.signature, definition.doc, where,
                definition_href(definition), notes, total, trimmed]

    by_line: dict[int, dict[int, tuple[str, str]]] = {}

    def add(line: int, column: int, name: str, attributes: str) -> None:
        by_line.setdefault(line, {})[column] = (name, attributes)

    for use in refs.uses:
        definitions = [index.definitions[k] for k in use.targets if k in index.definitions]
        if not definitions:
            continue
        ids = " ".join(table.id_for(d.key, lambda d=d: definition_row(d)) for d in definitions)
        add(use.line, use.column, use.name, f'href="{_e(definition_href(definitions[0]))}" data-x="{ids}"')
    for use in refs.library:
        found = docs.target(codebase, pin, use, index)
        if found is None:
            continue
        if isinstance(found, Definition):  # the library's own code, presented at the pinned version
            ident = table.id_for(found.key, lambda d=found: definition_row(d))
            add(use.line, use.column, use.name, f'href="{_e(definition_href(found))}" data-x="{ident}" data-lib=""')
            continue
        url, label = found
        ident = table.id_for("lib:" + use.qualname, lambda: ["l", use.qualname, label, url])
        add(use.line, use.column, use.name, f'href="{_e(url)}" data-x="{ident}" data-lib="" rel="external"')

    # definitions in this file that offer their uses: the name links to its list of uses
    offered = sorted((d for d in index.definitions.values()
                      if d.codebase == codebase and d.path == path and d.kind in OFFER_USES and uses_of(d)),
                     key=lambda d: (d.line, d.column))
    for definition in offered:
        ident = table.id_for(definition.key, lambda d=definition: definition_row(d))
        add(definition.line, definition.column, definition.name,
            f'href="#{_uses_anchor(definition)}" data-x="{ident}" data-def=""')

    linked, count = [], 0
    for number, line_html in enumerate(lines, start=1):
        new, made = link_line(line_html, by_line.get(number, {}))
        linked.append(new)
        count += made
    return PageRefs(tuple(linked), table.rows, _uses_section(offered, page_url, use_rows), count)


def _uses_anchor(definition: Definition) -> str:
    return f"uses-L{definition.line}-{definition.column}"


def _uses_section(offered: list[Definition], page_url: str, use_rows: Callable[[Definition], list[list]]) -> str:
    """Every definition of this file that is used somewhere, with the lines that use it:
    what a definition's link leads to without script, and what print shows."""
    if not offered:
        return ""
    items = []
    for definition in offered:
        groups = []
        for file_label, line_links in use_rows(definition):
            links = ", ".join(f'<a href="{_e(href)}">{n}</a>' for n, href in line_links)
            groups.append(f"<li><code>{_e(file_label)}</code>: line{'s' if len(line_links) > 1 else ''} {links}</li>")
        count = sum(len(links) for _, links in use_rows(definition))
        own = urls.line_anchor(definition.line)
        items.append(f'<div class="mg-uses__item" id="{_uses_anchor(definition)}"><dt><code>{_e(definition.name)}</code> '
                     f'<a href="#{own}">line {definition.line}</a> <span class="mg-muted">{count} use{"s" if count != 1 else ""}'
                     f'</span></dt><dd><ul>{"".join(groups)}</ul></dd></div>')
    return ('<section class="mg-uses" aria-labelledby="mg-uses-title" data-search-exclude>'
            '<h2 id="mg-uses-title">Where this file\'s definitions are used</h2>'
            f'<dl>{"".join(items)}</dl></section>')


PREVIEW_FILE = "xref.json"
"""The preview table's file, beside the page's index.md (and so beside its index.html)."""


def preview_json(rows: Mapping[str, list]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"


class XrefLayer(Layer):
    """Cross-references as a relation layer: linked names, the uses list, the preview file."""

    def __init__(self, index: XrefIndex, docs: LibraryDocs, manifest: Manifest,
                 notes_by_file: Mapping[tuple[str, str], list[Note]]):
        self.index, self.docs, self.manifest, self.notes_by_file = index, docs, manifest, notes_by_file

    def code_page(self, view: CodeView) -> PageAdditions | None:
        if view.text is None:
            return None
        pin = view.file.pin or next(iter(self.manifest.codebases[view.codebase].pins))
        refs = render_refs(view.lines, self.index.files.get((view.codebase, view.path)), self.index, self.docs,
                           view.page_url, pin, self.notes_by_file)
        added = PageAdditions(lines=refs.lines, after_code=refs.uses_html)
        if refs.preview:  # fetched by the script on the first preview: the page stays light
            added.attributes["data-xref"] = PREVIEW_FILE
            added.companions.append(Page(view.page_dir + PREVIEW_FILE, preview_json(refs.preview)))
        return added

    def log(self) -> list[str]:
        index = self.index
        uses = sum(len(refs.uses) for refs in index.files.values())
        library = sum(len(refs.library) for refs in index.files.values())
        timing = f"resolved in {index.seconds:.1f} s" if index.seconds else "from the cache"
        lines = [f"cross-references: {uses} uses of {len(index.definitions)} definitions and {library} library names "
                 f"in {len(index.files)} files ({timing})"]
        return lines + [f"warning: {error}" for error in index.errors()]
