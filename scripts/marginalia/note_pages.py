"""A page per note (``notes/<id>/``): what a reader cites, and what a reference manager captures.

Each page holds the note, its lines from the pinned code (each number links back to the
code page), its class, what it cites, its authors, its dates from git, the review record,
"Edit this note", the citation in three styles with BibTeX, RIS and CSL-JSON beside the
page, the ``citation_*`` and ``og:*`` meta elements that Zotero reads (in the page's head,
through ``overrides/main.html``), and the note as a W3C Web Annotation (JSON-LD). The
code page keeps the note itself (``#note-<id>``, its permalink); this page is about it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from . import urls
from .citation import NoteCitation, highwire_meta
from .layers import Layer
from .notes import Note
from .pages import RAW_HTML_MARKER, Page, PageContext, _front_matter, cite_block, class_badge, note_body
from .webanno import note_annotation



def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _day(moment) -> str:
    return moment.date().isoformat() if moment else "unknown"


def note_page(note: Note, ctx: PageContext, cited: NoteCitation | None, annotation: dict | None) -> Page:
    page_url = urls.note_page(note.id)
    code_url = urls.code_page(note.codebase, note.path)
    source = ctx.sources.get((note.codebase, note.path))
    codebase = ctx.manifest.codebases[note.codebase]
    body = note_body(note, ctx, page_url)
    lines_label = f"line {note.start}" if note.start == note.end else f"lines {note.start}–{note.end}"
    to_lines = urls.relative(page_url, code_url + "#" + urls.line_anchor(note.start, note.end))
    permalink = urls.relative(page_url, code_url + "#" + urls.note_anchor(note.id))

    excerpt = ""
    if source is not None and source.text is not None and note.end <= len(source.lines):
        highlighted = ctx.highlight(source.text, note.path)[note.start - 1:note.end]
        rows = "".join(f'<span class="l"><a class="mg-ln" href="{_e(urls.relative(page_url, code_url + "#L" + str(n)))}"'
                       f' aria-label="line {n} on the code page">{n}</a>{code}</span>'
                       for n, code in zip(range(note.start, note.end + 1), highlighted))
        excerpt = (f'<figure class="mg-notepage__code" data-search-exclude><div class="mg-code mg-code--numbered highlight no-copy">'
                   f'<pre data-search-exclude>{rows}</pre></div><figcaption><a href="{_e(to_lines)}">'
                   f'<code>{_e(note.codebase)}/{_e(note.path)}</code>, {lines_label}</a>, pinned at '
                   f'{_e(ctx.manifest.pin_of(note.codebase, _file(ctx, note)).label)}</figcaption></figure>')
    else:
        excerpt = (f'<p class="mg-muted">The lines are not shown: {_e(note.codebase)}/{_e(note.path)} is not '
                   f'extracted in this build.</p>')

    facts = [("Class", class_badge(note.code_class)),
             ("On", f'<a href="{_e(to_lines)}"><code>{_e(note.path)}</code>, {lines_label}</a> of '
                    f'{_e(codebase.title)} <span class="mg-muted">({_e(note.symbol or "module level")})</span>'),
             ("By", _e(", ".join(note.authors)))]
    if cited is not None and cited.dates.first:
        facts.append(("Written", f"{_day(cited.dates.first)}; last changed {_day(cited.dates.last)}"))
    elif cited is not None:
        facts.append(("Dates", _e(cited.dates.missing or "unknown")))
    if note.review is not None:
        means = "by reading the code" if note.review.means == "read" else "by running the code"
        facts.append(("Reviewed", f"{_e(note.review.date)}, {means}"
                                  + (f' <span class="mg-muted">({_e(note.review.how)})</span>' if note.review.how else "")))
    if note.cites:
        cites = []
        for citation in note.cites:
            work = ctx.bibliography[citation.key] if citation.key in ctx.bibliography else None
            label = _e(work.short) if work else _e(citation.key)
            if work:
                label = f'<a href="{_e(urls.relative(page_url, urls.bibliography(citation.key)))}">{label}</a>'
            cites.append(label + (f", {_e(citation.locator)}" if citation.locator else ""))
        facts.append(("Cites", "; ".join(cites)))
    if note.see_also:
        by_id = ctx.notes_by_id
        links = [f'<a href="{_e(urls.relative(page_url, urls.note_page(i)))}">{_e(by_id[i].title)}</a>'
                 for i in note.see_also if i in by_id]
        facts.append(("See also", " · ".join(links)))
    actions = [f'<a href="{_e(permalink)}">In the margin of the code</a>']
    if ctx.repository is not None:
        actions.append(f'<a class="mg-edit" href="{_e(ctx.repository.edit(note.file))}">Edit this note</a>')
    rows = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    # The annotation goes in the page's head (overrides/main.html): in the content, the theme's
    # instant navigation would re-create it as a script without its type, and run it.
    jsonld = json.dumps(annotation, ensure_ascii=False, sort_keys=True).replace("</", "<\\/") if annotation else ""

    # Search finds the note here, once: the title and the body, not the facts, the code or
    # the citation (its heading carries the exclusion, so its whole section is left out).
    content = (f'<div class="mg-notepage mg-note--{note.code_class.value}">'
               f'<h1>{_e(note.title)}</h1><dl class="mg-facts" data-search-exclude>{rows}</dl>{excerpt}'
               f'<div class="mg-notepage__body">{body}</div>'
               f'<p class="mg-notepage__actions" data-search-exclude>{" · ".join(actions)}</p>'
               f'{cite_block(cited, page_url, note.id, expanded=True)}</div>')
    meta = highwire_meta(note, cited) if cited is not None and not cited.unavailable else []
    front = _front_matter(note.title, f"A note on {note.path} ({codebase.title}), {lines_label}, in GPT-2 Marginalia.",
                          ("navigation", "toc"), head_meta=meta, jsonld=jsonld)
    companions = tuple(Page(urls.note_page(note.id) + name, download.text)
                       for name, download in (cited.downloads().items() if cited is not None else ()))
    return Page(urls.note_page_source(note.id), front + RAW_HTML_MARKER + "\n" + content + "\n", companions)


def _file(ctx: PageContext, note: Note):
    return next(f for f in ctx.manifest.codebases[note.codebase].files if f.path == note.path)


class NotePagesLayer(Layer):
    """The note pages as a page kind of their own, under ``notes/``."""

    directory = "notes"

    def __init__(self, citations: Mapping[str, NoteCitation], site: str):
        self.citations = citations
        self.site = site

    def pages(self, ctx: PageContext) -> list[Page]:
        out = []
        for note in ctx.notes.notes:
            cited = self.citations.get(note.id)
            try:
                annotation = note_annotation(note, ctx.manifest, ctx.sources, self.site, cited.dates if cited else None)
            except (ValueError, KeyError):
                annotation = None  # the file is not extracted: no selectors can be made
            out.append(note_page(note, ctx, cited, annotation))
        return out
