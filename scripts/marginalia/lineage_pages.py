"""Lineage on the site: a compare page per copy relation, a line on the code pages of copies
and originals, and the lineage diagram. Only renders the data of :mod:`marginalia.lineage`.

A compare page (``lineage/<id>/``, from ``lineage/<id>/index.md``) shows the two files side
by side, region by region: statements unchanged except for formatting are collapsed with
their count, each semantic change is highlighted with links to its lines on both sides
(``#L`` anchors of the code pages, or of the file upstream for files without a page) and
the notes that discuss it, moves are marked, and comment changes are listed. Every link is
computed from the page's own URL with :func:`urls.relative`, so MkDocs and Zensical give
the same links. The lines on these pages carry no ids: the ``L<n>`` anchors stay the code
pages' own, and the notes keep their one home (their ids are not repeated here).
"""

from __future__ import annotations

import difflib
import html
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from . import urls
from .lineage import (Candidate, Comparison, FileSide, Hunk, Lineage, Region, Relation, RelationKind, Result,
                      notes_on, pair_label)
from .layers import CodeView, Layer, PageAdditions
from .notes import Note
from .pages import RAW_HTML_MARKER, Page, PageContext, _front_matter, class_badge, note_body

INDEX = "lineage/"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _span_text(start: int, end: int) -> str:
    return f"line {start}" if start == end else f"lines {start}–{end}"


# ------------------------------------------------------------------------- links --

def side_href(page_url: str, side: FileSide, span: tuple[int, int] | None = None) -> str | None:
    """Where a side's lines are: its code page, or the file upstream (GitHub keeps #L anchors)."""
    fragment = urls.line_anchor(*span) if span else ""
    if side.presented:
        target = urls.code_page(side.codebase, side.file_path)
        return urls.relative(page_url, target + (f"#{fragment}" if fragment else ""))
    if fragment and not side.line_links:
        return side.browse
    return side.browse + (f"#{fragment}" if fragment else "")


def _at(side: FileSide, before: str = "") -> str:
    """'at 9b63575' for a commit; nothing for a release, whose name already says it."""
    return "" if side.owner.endswith(side.version) else f"{before}at {side.version}"


def _side_link(page_url: str, side: FileSide, *, code: bool = True) -> str:
    href = side_href(page_url, side)
    name = f"<code>{_e(side.path)}</code>" if code else _e(side.path)
    return f'<a href="{_e(href)}">{_e(side.owner)} {name}</a>'


# --------------------------------------------------------------------- the pages --

@dataclass
class _Render:
    """What one compare page needs: its URL, the context, the two files' highlighted lines."""

    ctx: PageContext
    page_url: str
    relation: Relation
    result: Result
    a_lines: tuple[str, ...]
    b_lines: tuple[str, ...]
    seen_notes: dict[str, str]

    @property
    def a(self) -> FileSide:
        return self.result.original

    @property
    def b(self) -> FileSide:
        return self.result.copy

    # -- code ------------------------------------------------------------------
    def code(self, lines: tuple[str, ...], chunks: Sequence[tuple[int, int]], marks: Mapping[int, str], label: str,
             who: str) -> str:
        if not chunks:
            return (f'<div class="mg-cmp__side mg-cmp__side--empty"><p class="mg-cmp__who">{who}</p>'
                    f'<p class="mg-muted">{_e(label)}</p></div>')
        parts = []
        for start, end in chunks:
            body = "".join(f'<span class="l{marks.get(n, "")}">{lines[n - 1] if n <= len(lines) else ""}</span>'
                           for n in range(start, end + 1))
            parts.append(f'<div class="mg-code mg-code--cmp highlight no-copy" style="counter-reset: mgl {start - 1}">'
                         f'<pre data-search-exclude><code>{body}</code></pre></div>')
        where = ", ".join(_span_text(s, e) for s, e in chunks)
        return f'<div class="mg-cmp__side"><p class="mg-cmp__who">{who}, {where}</p>{"".join(parts)}</div>'

    def sides(self, region: Region, a_marks: Mapping[int, str] | None = None, b_marks: Mapping[int, str] | None = None,
              a_empty: str = "nothing here in the original", b_empty: str = "nothing here in the copy") -> str:
        return ('<div class="mg-cmp__sides">'
                + self.code(self.a_lines, region.a_chunks, a_marks or {}, a_empty, "Original")
                + self.code(self.b_lines, region.b_chunks, b_marks or {}, b_empty, "Copy") + "</div>")

    # -- notes -----------------------------------------------------------------
    def note(self, note: Note, anchor: str) -> str:
        home = urls.relative(self.page_url, urls.code_page(note.codebase, note.path) + "#" + urls.note_anchor(note.id))
        where = f'<a href="{_e(urls.relative(self.page_url, urls.code_page(note.codebase, note.path) + "#" + urls.line_anchor(note.start, note.end)))}">' \
                f'{_e(PurePosixPath(note.path).name)}, {_span_text(note.start, note.end)}</a>'
        head = (f'<p class="mg-cmp__note-title"><a href="{_e(home)}">{_e(note.title)}</a></p>'
                f'<p class="mg-cmp__note-head">{class_badge(note.code_class)} {where}</p>')
        if note.id in self.seen_notes:
            body = f'<p class="mg-muted">Shown with <a href="#{self.seen_notes[note.id]}">an earlier change</a> on this page.</p>'
        else:
            self.seen_notes[note.id] = anchor
            body = note_body(note, self.ctx, self.page_url)
        return (f'<aside class="mg-cmp__note mg-cmp__note--{note.code_class.value}" data-search-exclude>'
                f'{head}<div class="mg-cmp__note-body">{body}</div></aside>')

    def notes(self, hunk: Hunk) -> str:
        found = notes_on(hunk, self.a, self.b, self.ctx.notes.notes)
        if not found:
            return '<div class="mg-cmp__notes"><p class="mg-muted">No note discusses this change yet.</p></div>'
        return f'<div class="mg-cmp__notes">{"".join(self.note(n, f"change-{hunk.number}") for n in found)}</div>'

    # -- regions ---------------------------------------------------------------
    def where(self, hunk: Hunk) -> str:
        def links(side: FileSide, spans: tuple[tuple[int, int], ...], at: int, name: str, css: str) -> str:
            if not spans:  # where the statements would be: the line after which they were inserted
                if not at:
                    href = side_href(self.page_url, side)
                    return f'<a class="mg-cmp__at mg-cmp__at--{css}" href="{_e(href)}">not in the {name}</a>'
                href = side_href(self.page_url, side, (at, at))
                return f'<a class="mg-cmp__at mg-cmp__at--{css}" href="{_e(href)}">nothing in the {name}: after line {at}</a>'
            out = []
            for span in spans:
                href = side_href(self.page_url, side, span)
                out.append(f'<a class="mg-cmp__at mg-cmp__at--{css}" href="{_e(href)}">{name} {_span_text(*span)}</a>')
            return " ".join(out)

        return (f'<p class="mg-cmp__where">{links(self.a, hunk.a, hunk.a_at, "original", "a")} '
                f'<span aria-hidden="true">↔</span> {links(self.b, hunk.b, hunk.b_at, "copy", "b")}</p>')

    def marks(self, region: Region, side: str) -> dict[int, str]:
        items = region.a_items if side == "a" else region.b_items
        out: dict[int, str] = {}
        for item in items:
            css = " is-mov" if item.moved else (" is-chg" if region.kind == "change" else "")
            for n in range(item.start, item.end + 1):
                out[n] = css
        for n in self._unchanged_lines(region, side):
            out[n] = ""
        for n in self.comment_lines[side]:
            out[n] = out.get(n, "") + " is-cmt"
        return out

    def _unchanged_lines(self, region: Region, side: str) -> set[int]:
        """Within a change that has statements on both sides, the lines whose text (spacing
        aside) is on the other side too: only the others are marked, as word-level diffs mark
        words. A long docstring with one line changed is then one marked line, not a hundred."""
        if region.kind != "change" or not region.a_items or not region.b_items or region.hunk is None:
            return set()
        def lines(items, source):
            numbers = [n for i in items if not i.moved for n in range(i.start, i.end + 1)]
            return numbers, [" ".join(_plain(source[n - 1]).split()) if n <= len(source) else "" for n in numbers]
        a_numbers, a_text = lines(region.a_items, self.a_lines)
        b_numbers, b_text = lines(region.b_items, self.b_lines)
        if len(a_text) * len(b_text) > 250_000:  # a rewritten class: mark it whole
            return set()
        own_numbers, own_text = (a_numbers, a_text) if side == "a" else (b_numbers, b_text)
        same: set[int] = {n for n, text in zip(own_numbers, own_text) if not text}  # blank lines: nothing to mark
        matcher = difflib.SequenceMatcher(None, a_text, b_text, autojunk=False)
        for block in matcher.get_matching_blocks():
            numbers = a_numbers[block.a:block.a + block.size] if side == "a" else b_numbers[block.b:block.b + block.size]
            same.update(n for n, text in zip(numbers, (a_text if side == "a" else b_text)[
                (block.a if side == "a" else block.b):(block.a if side == "a" else block.b) + block.size]) if text)
        return same

    comment_lines: dict = None  # side -> lines with a changed comment, set per page

    def region(self, region: Region, hunks: Mapping[int, Hunk]) -> str:
        a_count, b_count = len(region.a_items), len(region.b_items)
        if region.kind == "same":
            if not region.a_chunks and not region.b_chunks:
                return (f'<p class="mg-cmp__same mg-cmp__same--flat">{_plural(a_count, "statement")} the same in both '
                        f'(in any order)</p>')
            a_span, b_span = _outer(region.a_chunks), _outer(region.b_chunks)
            return (f'<details class="mg-cmp__same"><summary>{_plural(a_count, "statement")} unchanged except for '
                    f'formatting <span class="mg-muted">(original {_span_text(*a_span)}; copy {_span_text(*b_span)})'
                    f'</span></summary>{self.sides(region, self.marks(region, "a"), self.marks(region, "b"))}</details>')
        if region.kind == "omitted":
            return (f'<details class="mg-cmp__omitted"><summary>{_plural(a_count, "statement")} of the original '
                    f'not copied</summary>{self.sides(region, b_empty="not copied")}</details>')
        if region.kind == "move":
            pairs = sorted({(i.start, i.end, *i.partner) for i in region.a_items if i.partner}
                           | {(*i.partner, i.start, i.end) for i in region.b_items if i.partner})
            label = "Moved" if a_count and b_count else ("Moved away from here" if a_count else "Moved here")
            where = "; ".join(f"original {_span_text(a1, a2)} → copy {_span_text(b1, b2)}" for a1, a2, b1, b2 in pairs)
            return (f'<div class="mg-cmp__move"><p class="mg-cmp__label"><span class="mg-cmp__tag mg-cmp__tag--move">'
                    f'{label}</span> unchanged: {_e(where)}</p>'
                    f'{self.sides(region, self.marks(region, "a"), self.marks(region, "b"), "moved: see the copy", "moved: see the original")}</div>')
        hunk = hunks[region.hunk]
        tag = {"change": "Change", "rewritten": "Rewritten", "added": "New", "removed": "Removed",
               "module": "Change"}[hunk.kind]
        anchor = f"change-{hunk.number}"
        body = self.sides(region, self.marks(region, "a"), self.marks(region, "b"))
        if hunk.kind == "rewritten":
            lines = sum(e - s + 1 for s, e in region.a_chunks), sum(e - s + 1 for s, e in region.b_chunks)
            body = (f'<details class="mg-cmp__both"><summary>Both versions side by side ({lines[0]} and {lines[1]} '
                    f'lines)</summary>{body}</details>')
        return (f'<section class="mg-cmp__hunk" id="{anchor}" aria-labelledby="{anchor}-t">'
                f'<h3 class="mg-cmp__title" id="{anchor}-t"><span class="mg-cmp__tag">{tag} {hunk.number}</span> '
                f'<code>{_e(hunk.what)}</code></h3>{self.where(hunk)}'
                f'<div class="mg-cmp__body">{body}{self.notes(hunk)}</div></section>')


def _plain(line_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", line_html))


def _outer(chunks: Sequence[tuple[int, int]]) -> tuple[int, int]:
    return (chunks[0][0], chunks[-1][1]) if chunks else (0, 0)


def _comment_list(r: _Render, changes, heading_id: str) -> str:
    if not changes:
        return '<p class="mg-muted">No comment was added, removed or changed.</p>'
    items = []
    for change in changes:
        def side(entries, file: FileSide, name: str) -> str:
            return "; ".join(f'<a href="{_e(side_href(r.page_url, file, (line, line)))}">{name} line {line}</a>: '
                             f'<code>#&nbsp;{_e(text)}</code>' for line, text in entries)
        parts = [p for p in (side(change.a, r.a, "original"), side(change.b, r.b, "copy")) if p]
        items.append(f'<li><span class="mg-cmp__tag mg-cmp__tag--{change.kind}">{change.kind}</span> {" → ".join(parts)}</li>')
    return f'<ul class="mg-cmp__comments" aria-labelledby="{heading_id}">{"".join(items)}</ul>'


def _comment_lines(changes) -> dict[str, set[int]]:
    out = {"a": set(), "b": set()}
    for change in changes:
        out["a"].update(line for line, _ in change.a)
        out["b"].update(line for line, _ in change.b)
    return out


def _finding_html(c: Comparison) -> str:
    if c.mode == "identical":
        return f"<strong>identical</strong>, byte for byte ({_plural(c.a_statements, 'statement')})"
    parts = [f"<strong>{_e(c.finding)}</strong>"]
    if c.mode == "file":
        parts.append(f"{_plural(c.same_statements, 'statement')} unchanged except for formatting")
    if c.moves:
        parts.append(f"{_plural(c.moved_statements, 'statement')} moved")
    comments = c.comments or tuple(x for p in c.pairs for x in p.comments)
    parts.append(_plural(len(comments), "comment change") if comments else "comments unchanged")
    parts.append(f"a line diff marks {_plural(c.raw_changed_lines, 'line')}")
    return " · ".join(parts)


def _candidates(r: _Render, candidates: Sequence[Candidate]) -> str:
    best = max(c.score for c in candidates)
    names = [b for b, _, _ in candidates[0].ratios]
    head = "".join(f'<th scope="col"><code>{_e(n)}</code></th>' for n in names)
    rows = []
    for candidate in candidates:
        ratios = {b: ratio for b, _, ratio in candidate.ratios}
        cells = "".join(f'<td class="mg-num">{ratios[n]:.2f}</td>' if n in ratios else '<td>—</td>' for n in names)
        nearest = candidate.score == best
        mark = ' <span class="mg-cmp__tag mg-cmp__tag--nearest">nearest</span>' if nearest else ""
        date = f' <span class="mg-muted">({_e(candidate.side.date)})</span>' if candidate.side.date else ""
        label = f'<a href="{_e(side_href(r.page_url, candidate.side))}">{_e(candidate.side.owner)}</a>'
        css = ' class="is-nearest"' if nearest else ""
        rows.append(f'<tr{css}><th scope="row">{label}{date}{mark}</th>'
                    f'<td class="mg-num"><strong>{candidate.score:.2f}</strong></td>{cells}</tr>')
    return ('<table class="mg-cmp__candidates"><thead><tr><th scope="col">Release</th><th scope="col">Similarity</th>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def nearest_sentence(result: Result) -> str:
    """'0.90 against transformers 2.9.0 (as near: 2.9.1); no release matches exactly.'"""
    if not result.candidates:
        return ""
    best = max(c.score for c in result.candidates)
    nearest = [c for c in result.candidates if c.score == best]
    others = ", ".join(c.side.owner for c in nearest[1:])
    tie = f", equally near as {others}" if others else ""
    exact = "matches exactly" if any(c.exact for c in result.candidates) else "no release matches exactly"
    return f"{best:.2f} against {nearest[0].side.owner}{tie}; {exact}"


def _pairs_table(r: _Render, c: Comparison) -> str:
    rows = []
    for index, pair in enumerate(c.pairs, start=1):
        hunks = [h for h in c.hunks if h.unit == pair_label(pair)]
        name_b = "module level" if pair.how == "module" else pair.b.name
        name_a = "module level" if pair.how == "module" else pair.a.name
        how = {"same name": "same name", "renamed": "renamed", "similar": "by similarity",
               "module": "imports and constants"}[pair.how]
        state = "rewritten" if pair.rewritten else (_plural(len(hunks), "change") if hunks else "formatting only")
        rows.append(f'<tr><td><a href="#pair-{index}"><code>{_e(name_b)}</code></a></td><td><code>{_e(name_a)}</code></td>'
                    f'<td>{how}</td><td class="mg-num">{pair.ratio:.2f}</td><td>{state}</td></tr>')
    for unit in c.added:
        rows.append(f'<tr><td><code>{_e(unit.name)}</code></td><td>—</td><td>new</td><td class="mg-num">—</td><td>new</td></tr>')
    for unit in c.removed:
        rows.append(f'<tr><td>—</td><td><code>{_e(unit.name)}</code></td><td>removed</td><td class="mg-num">—</td>'
                    '<td>removed</td></tr>')
    return ('<table class="mg-cmp__pairs"><thead><tr><th scope="col">In the copy</th><th scope="col">In the original</th>'
            '<th scope="col">Paired by</th><th scope="col">Similarity</th><th scope="col">Result</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _unit_section(r: _Render, c: Comparison, hunks: Mapping[int, Hunk]) -> str:
    out = []
    for index, pair in enumerate(c.pairs, start=1):
        if pair.how == "module":
            title = "Module level: imports, constants, docstrings"
        elif pair.a.name == pair.b.name:
            title = f"<code>{_e(pair.b.name)}</code>"
        else:
            title = f"<code>{_e(pair.b.name)}</code> ← <code>{_e(pair.a.name)}</code>"
        facts = (f"similarity {pair.ratio:.2f}" + ("" if pair.how == "module" else
                 f" · original {_span_text(pair.a.start, pair.a.end)}, copy {_span_text(pair.b.start, pair.b.end)}"))
        r.comment_lines = _comment_lines(pair.comments)
        regions = "".join(r.region(region, hunks) for region in pair.regions)
        comments = ""
        if pair.comments:
            comments = (f'<p class="mg-cmp__sub" id="pair-{index}-comments">Comment changes in this pair</p>'
                        + _comment_list(r, pair.comments, f"pair-{index}-comments"))
        out.append(f'<section class="mg-cmp__pair" aria-labelledby="pair-{index}"><h3 id="pair-{index}">{title} '
                   f'<span class="mg-muted mg-cmp__facts">{facts}</span></h3>{regions}{comments}</section>')
    r.comment_lines = {"a": set(), "b": set()}
    for hunk in c.hunks:
        if hunk.kind not in ("added", "removed"):
            continue
        chunks_a, chunks_b = hunk.a, hunk.b
        region = Region("change", (), (), chunks_a, chunks_b, hunk.number)
        marks_a = {n: " is-chg" for s, e in chunks_a for n in range(s, e + 1)}
        marks_b = {n: " is-chg" for s, e in chunks_b for n in range(s, e + 1)}
        anchor = f"change-{hunk.number}"
        tag = "New" if hunk.kind == "added" else "Removed"
        body = r.sides(region, marks_a, marks_b, "not in the original", "not in the later version")
        out.append(f'<section class="mg-cmp__hunk" id="{anchor}" aria-labelledby="{anchor}-t">'
                   f'<h3 class="mg-cmp__title" id="{anchor}-t"><span class="mg-cmp__tag">{tag} {hunk.number}</span> '
                   f'<code>{_e(hunk.unit or "")}</code></h3>{r.where(hunk)}'
                   f'<div class="mg-cmp__body"><details class="mg-cmp__both"><summary>The code '
                   f'({_plural(sum(e - s + 1 for s, e in (chunks_a or chunks_b)), "line")})</summary>{body}</details>'
                   f'{r.notes(hunk)}</div></section>')
    return "".join(out)


def relation_page(relation: Relation, result: Result, ctx: PageContext, lines: Callable[[FileSide], tuple[str, ...]],
                  ) -> Page:
    page_url = urls.lineage_page(relation.id)
    a, b = result.original, result.copy
    c = result.comparison
    r = _Render(ctx, page_url, relation, result, lines(a) if c else (), lines(b) if c else (), {})
    r.comment_lines = {"a": set(), "b": set()}
    version = tuple(f'<span class="mg-muted">{_e(_at(side))}</span>' for side in (a, b))
    article = f" · the article: {_e(relation.article)}" if relation.article else " · the article does not discuss it"
    facts = [("Original", f"{_side_link(page_url, a)} {version[0]}"),
             ("Copy", f"{_side_link(page_url, b)} {version[1]}"),
             ("Relation", f"{_e(relation.kind.label)}{article}")]
    if c is not None:
        facts.append(("Finding", _finding_html(c)))
    if result.candidates:
        facts.append(("Nearest original", _e(nearest_sentence(result))))
    if relation.notes:
        by_id = ctx.notes_by_id
        links = " · ".join(f'<a href="{_e(urls.relative(page_url, urls.code_page(by_id[n].codebase, by_id[n].path) + "#" + urls.note_anchor(n)))}">'
                           f'{_e(by_id[n].title)}</a>' for n in relation.notes if n in by_id)
        facts.append(("Notes", links))
    rows = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    parts = [f'<div class="mg-lin" data-relation="{_e(relation.id)}">',
             f'<h1 class="mg-title"><span class="mg-title__codebase">Lineage</span> {_e(relation.title)}</h1>',
             f'<p class="mg-lin__summary">{_e(relation.summary)}</p>',
             f'<dl class="mg-facts">{rows}</dl>',
             f'<p class="mg-lin__back"><a href="{_e(urls.relative(page_url, INDEX))}">All copy relations</a> · '
             f'<a href="{_e(urls.relative(page_url, "map/#lineage"))}">the lineage diagram</a></p>']
    if c is None:
        parts.append(f'<div class="admonition warning" role="alert"><p class="admonition-title">Not compared</p>'
                     f'<p>{_e(result.absent or "")}</p></div>')
    elif c.error:
        parts.append(f'<div class="admonition warning" role="alert"><p class="admonition-title">Not compared</p>'
                     f'<p>{_e(c.error)}</p></div>')
    elif c.mode == "identical":
        parts.append(f'<div class="admonition success mg-lin__identical"><p class="admonition-title">Identical</p>'
                     f'<p>The copy is the original byte for byte: both files have the sha256 '
                     f'<code>{_e(a.sha256)}</code>. There is nothing to compare, and that is the finding: '
                     f'this code travelled without a single change.</p></div>')
    else:
        hunks = {h.number: h for h in c.hunks}
        legend = ('<p class="mg-cmp__legend"><span class="mg-cmp__key mg-cmp__key--chg">changed</span> '
                  '<span class="mg-cmp__key mg-cmp__key--mov">moved</span> '
                  '<span class="mg-cmp__key mg-cmp__key--cmt">comment changed</span> '
                  'Statements are compared after normalisation (Python\'s <code>ast.unparse</code>), so quotes, '
                  'line breaks, spacing and parentheses do not count; comments are compared separately.</p>')
        if not c.hunks:
            verdict = ("Formatting only: every statement of the original is in the copy, unchanged, in the same order."
                       if not c.moves else
                       f"No semantic change: the only differences besides formatting are "
                       f"{_plural(c.moved_statements, 'moved statement')}"
                       + (" (imports put in another order)" if all(m.imports for m in c.moves) else "") + ".")
            parts.append(f'<div class="admonition success mg-lin__verdict"><p class="admonition-title">{_e(c.finding.capitalize())}</p>'
                         f'<p>{_e(verdict)}</p></div>')
        if result.candidates:
            parts.append('<h2 id="nearest">Which release was copied</h2>'
                         '<p>Each release is compared with the copy definition by definition; the similarity of a release '
                         'is the mean of its definitions\' similarity, weighted by their length in the copy. The page '
                         f'shows the nearest: {_e(nearest_sentence(result))}.</p>' + _candidates(r, result.candidates))
        if c.mode == "units":
            parts.append('<h2 id="pairs">Definitions, paired</h2>'
                         f'<p>The files differ too much to compare line by line (similarity {c.ratio:.2f} over '
                         f'{c.a_statements} and {c.b_statements} statements), so each definition of the copy is paired '
                         'with one of the original, by name and then by similarity, and each pair is compared.'
                         + (f' {_plural(c.not_copied, "other definition")} of the original were not copied.' if c.not_copied else "")
                         + '</p>' + _pairs_table(r, c))
            parts.append('<h2 id="side-by-side">Side by side</h2>' + legend
                         + f'<div class="mg-cmp">{_unit_section(r, c, hunks)}</div>')
        else:
            r.comment_lines = _comment_lines(c.comments)
            body = "".join(r.region(region, hunks) for region in c.regions)
            parts.append('<h2 id="side-by-side">Side by side</h2>' + legend
                         + f'<div class="mg-cmp">{body}</div>')
            parts.append('<h2 id="comments">Comment changes</h2>'
                         '<p>Python\'s syntax tree has no comments, so they are compared on their own, in order.</p>'
                         + _comment_list(r, c.comments, "comments"))
    parts.append("</div>")
    title = f"Lineage: {relation.title}"
    finding = c.finding if c else "not compared"
    description = f"{relation.title}: {b.label} against {a.label} — {finding}."
    return Page(urls.lineage_page_source(relation.id),
                # Out of search: its text is the two files' code (never indexed) and notes that
                # search finds beside their code; the overview page (lineage/) is searched.
                _front_matter(title, description, ("navigation", "toc"), wide=True, searched=False)
                + RAW_HTML_MARKER + "\n" + "\n".join(parts) + "\n")


def index_page(lineage: Lineage, ctx: PageContext) -> Page:
    page_url = INDEX
    rows = []
    for relation in lineage.relations:
        result = lineage.results[relation.id]
        href = urls.relative(page_url, urls.lineage_page(relation.id))
        finding = result.comparison.finding if result.comparison else "not compared"
        rows.append(f'<tr><td><a href="{_e(href)}">{_e(relation.title)}</a></td>'
                    f'<td>{_side_link(page_url, result.original)}</td><td>{_side_link(page_url, result.copy)}</td>'
                    f'<td>{_e(relation.kind.label)}</td><td>{_e(finding)}</td></tr>')
    intro = ("<p>Copying is how GPT-2 spread. Each row is a copy relation recorded in "
             "<code>annotations/lineage.toml</code>: a file, the file it was copied from, and what the copy "
             "changed. The files are compared statement by statement, blind to formatting, so that "
             "reformatting (quotes, line breaks, spacing) does not hide the few real changes. "
             f'<a href="{_e(urls.relative(page_url, "about/#lineage"))}">How the comparison works</a>.</p>')
    if rows:
        table = ('<table class="mg-lin__table"><thead><tr><th scope="col">Relation</th><th scope="col">Original</th>'
                 '<th scope="col">Copy</th><th scope="col">Kind</th><th scope="col">Finding</th></tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>')
        diagram = ('<figure class="mg-lineage-figure"><figcaption>Copies as arrows, from original to copy; each box links '
                   'to its file, each arrow to its comparison.</figcaption><div class="mg-callmap-scroll">'
                   + lineage_svg(lineage, lambda side: _node_href(page_url, side, lineage),
                                 lambda rid: urls.relative(page_url, urls.lineage_page(rid)), "mg-lineage-index")
                   + "</div></figure>")
    else:
        table, diagram = '<p class="mg-muted">No copy relations are recorded.</p>', ""
    content = (RAW_HTML_MARKER + "\n" + '<div class="mg-lin-index"><h1>Lineage</h1>' + intro + table + diagram + "</div>\n")
    return Page("lineage/index.md", _front_matter("Lineage", "What each copy of GPT-2's code changed in what it "
                                                  "copied, compared statement by statement.") + content)


def _node_href(page_url: str, side: FileSide, lineage: Lineage) -> str:
    if side.presented:
        return urls.relative(page_url, urls.code_page(side.codebase, side.file_path))
    relation = next(r for r in lineage.relations if side.address in (lineage.results[r.id].copy.address,
                                                                      lineage.results[r.id].original.address))
    return urls.relative(page_url, urls.lineage_page(relation.id))


def pages(lineage: Lineage, ctx: PageContext, lines: Callable[[FileSide], tuple[str, ...]]) -> list[Page]:
    """The lineage index and one compare page per relation."""
    out = [index_page(lineage, ctx)]
    for relation in lineage.relations:
        out.append(relation_page(relation, lineage.results[relation.id], ctx, lines))
    return out


# ------------------------------------------------------------ code page facts --

class FactRows:
    """The extra row of a code page's facts: which copies this file is, or has."""

    def __init__(self, lineage: Lineage):
        self.lineage = lineage

    def __call__(self, codebase: str, path: str, page_url: str) -> list[tuple[str, str]]:
        entries = self.lineage.for_file(f"{codebase}/{path}")
        if not entries:
            return []
        items = []
        for relation, result, role in entries:
            compare = urls.relative(page_url, urls.lineage_page(relation.id))
            c = result.comparison
            finding = c.finding if c else "not compared in this build"
            if role == "copy":
                a = result.original
                verb = "Later version of" if relation.kind is RelationKind.version else "Copied from"
                near = ""
                if result.candidates:
                    best = max(x.score for x in result.candidates)
                    near = f" (the nearest of {len(result.candidates)} releases, similarity {best:.2f})"
                text = (f'{verb} {_e(a.owner)} <code>{_e(a.path)}</code>{_e(_at(a, " "))}{_e(near)} — '
                        f'{_e(finding)} · <a href="{_e(compare)}">compare</a>')
            elif role == "original":
                copy_ = result.copy
                if c is not None and c.mode == "identical":
                    text = (f'Copied unchanged by {_e(copy_.owner)} <code>{_e(copy_.path)}</code> · '
                            f'<a href="{_e(compare)}">compare</a>')
                else:
                    verb = "Followed by" if relation.kind is RelationKind.version else "Copied by"
                    text = (f'{verb} {_e(copy_.owner)} <code>{_e(copy_.path)}</code> — {_e(finding)} · '
                            f'<a href="{_e(compare)}">compare</a>')
            else:
                score = next((x.score for x in result.candidates if x.side.address == f"{codebase}/{path}"), None)
                nearest = result.original
                text = (f'{_e(result.copy.owner)} <code>{_e(result.copy.path)}</code> copies from this module; '
                        f'similarity {score:.2f} here, but nearer to {_e(nearest.owner)}'
                        f' · <a href="{_e(compare)}">compare</a>') if score is not None else ""
            if text:
                items.append(f"<li>{text}</li>")
        if not items:
            return []
        return [("Lineage", f'<ul class="mg-plain mg-lineage-line">{"".join(items)}</ul>')]


# -------------------------------------------------------------------- diagram --

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 230, 48, 160, 20, 10


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def lineage_svg(lineage: Lineage, node_href: Callable[[FileSide], str], relation_href: Callable[[str], str],
                diagram_id: str) -> str:
    """Files as boxes, copy relations as arrows labelled with their kind and finding; every box
    and arrow a link. Columns by generation: originals left, their copies to the right."""
    edges = []
    nodes: dict[str, FileSide] = {}
    for relation in lineage.relations:
        result = lineage.results[relation.id]
        nodes.setdefault(result.original.address, result.original)
        nodes.setdefault(result.copy.address, result.copy)
        edges.append((result.original.address, result.copy.address, relation, result))
    incoming: dict[str, list[str]] = defaultdict(list)
    for a, b, _, _ in edges:
        incoming[b].append(a)
    layer: dict[str, int] = {}

    def depth(address: str, seen: frozenset) -> int:
        if address not in layer:
            preds = [p for p in incoming[address] if p not in seen]
            layer[address] = 0 if not preds else 1 + max(depth(p, seen | {address}) for p in preds)
        return layer[address]

    order = list(nodes)
    for address in order:
        depth(address, frozenset())
    columns: dict[int, list[str]] = defaultdict(list)
    for address in order:
        columns[layer[address]].append(address)
    row: dict[str, float] = {}
    for col in sorted(columns):
        members = columns[col]
        if col:  # under the original they come from, in the order of the record
            members.sort(key=lambda m: (min(row[p] for p in incoming[m]), order.index(m)))
        placed = 0.0
        for member in members:
            want = min((row[p] for p in incoming[member]), default=placed)
            row[member] = max(placed, want)
            placed = row[member] + 1
    position = {m: (PAD + layer[m] * (NODE_W + GAP_X), PAD + row[m] * (NODE_H + GAP_Y)) for m in nodes}
    width = PAD * 2 + (max(columns) + 1) * NODE_W + max(columns) * GAP_X if columns else 0
    height = PAD * 2 + (max(row.values(), default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    title = "Copies of GPT-2's code: files as boxes, copy relations as arrows"
    parts = [f'<svg class="mg-callmap mg-lineage" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
             f'height="{height:.0f}" aria-label="{_e(title)}">',
             f'<defs><marker id="{_e(diagram_id)}-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" class="mg-callmap__head"/>'
             '</marker></defs>']
    for a, b, relation, result in edges:
        x1, y1 = position[a]
        x2, y2 = position[b]
        sx, sy, ex, ey = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
        bend = max(40, (ex - sx) / 2)
        path = f"M{sx:.0f},{sy:.0f} C{sx + bend:.0f},{sy:.0f} {ex - bend:.0f},{ey:.0f} {ex:.0f},{ey:.0f}"
        finding = result.comparison.short_finding if result.comparison else "not compared"
        kind = {"identical": "identical", "modified": "copied", "version": "later version"}[relation.kind.value]
        label = kind if finding == "identical" else f"{kind} · {finding}"
        mx, my = (sx + ex) / 2, (sy + ey) / 2
        parts.append(f'<a href="{_e(relation_href(relation.id))}" class="mg-callmap__edge mg-lineage__edge '
                     f'mg-lineage__edge--{relation.kind.value}"><title>{_e(relation.title)}: {_e(label)}</title>'
                     f'<path d="{path}" marker-end="url(#{_e(diagram_id)}-arrow)"/>'
                     f'<text x="{mx:.0f}" y="{my - 5:.0f}" text-anchor="middle" class="mg-lineage__label">'
                     f'{_e(_fit(label, 34))}</text></a>')
    partner_class = {}
    for a, b, _, _ in edges:  # a file without a class of its own (a reference) takes its partner's
        partner_class.setdefault(a, nodes[b].code_class)
        partner_class.setdefault(b, nodes[a].code_class)
    for address, side in nodes.items():
        x, y = position[address]
        css = "presented" if side.presented else "reference"
        code_class = side.code_class or partner_class.get(address) or "boundary"
        parts.append(f'<a href="{_e(node_href(side))}" class="mg-callmap__node mg-callmap__node--{code_class} '
                     f'mg-lineage__node mg-lineage__node--{css}">'
                     f'<title>{_e(side.owner)} {_e(side.path)}{_e(_at(side, " "))}</title>'
                     f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
                     f'<text x="{x + 8:.0f}" y="{y + 18:.0f}" class="mg-callmap__file">{_e(_fit(side.owner, 38))}</text>'
                     f'<text x="{x + 8:.0f}" y="{y + 37:.0f}" class="mg-callmap__name">{_e(_fit(side.path, 32))}</text></a>')
    parts.append("</svg>")
    return "".join(parts)


def lineage_table(lineage: Lineage, file_href: Callable[[FileSide], str], relation_href: Callable[[str], str]) -> str:
    """The diagram's content as a table, for readers who do not see the drawing."""
    rows = []
    for relation in lineage.relations:
        result = lineage.results[relation.id]
        finding = result.comparison.finding if result.comparison else "not compared"
        cells = []
        for side in (result.original, result.copy):
            cells.append(f'<td><a href="{_e(file_href(side))}">{_e(side.owner)} <code>{_e(side.path)}</code></a></td>')
        rows.append(f'<tr>{cells[0]}{cells[1]}<td><a href="{_e(relation_href(relation.id))}">{_e(relation.kind.label)}: '
                    f'{_e(finding)}</a></td></tr>')
    return ('<details class="mg-calls"><summary>The same relations as a table</summary><table><thead><tr>'
            '<th scope="col">Original</th><th scope="col">Copy</th><th scope="col">Relation and finding</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></details>')


class LineageLayer(Layer):
    """Lineage as a relation layer: a row under a copy's (or an original's) file facts, and
    the compare pages under ``lineage/``."""

    directory = "lineage"

    def __init__(self, lineage: Lineage, lines: Callable[[FileSide], tuple[str, ...]]):
        self.lineage = lineage
        self.lines = lines
        self.rows = FactRows(lineage)

    def code_page(self, view: CodeView) -> PageAdditions | None:
        facts = self.rows(view.codebase, view.path, view.page_url)
        return PageAdditions(facts=facts) if facts else None

    def pages(self, ctx: PageContext) -> list[Page]:
        return pages(self.lineage, ctx, self.lines)
