"""Lineage: what a copy changed in the code it was copied from, compared statement by statement.

``annotations/lineage.toml`` records each copy relation between two files — an original
(codebase, path, pin) and a copy — and its kind: *identical* (byte for byte), *modified*
(copied, then changed) or *version* (a later version of the same module). This module
checks the record against ``sources.toml`` (``file:line: message``, like the note checker),
compares each pair of files and returns plain, frozen data for the pages to render.

The comparison is blind to formatting. Each file is parsed with :mod:`ast` and flattened
into its statements, nested ones included: a compound statement contributes its header
(``def f(x):``, ``if x:``, ``else:``) and then its body, one level deeper. Each statement is
normalised with :func:`ast.unparse`, so that quotes, line breaks, spacing and parentheses
no longer count, and keeps its line range in the file. The two sequences are diffed with
:mod:`difflib`; each run of differing statements is a *hunk*, with line ranges on both
sides. Comments are not in the syntax tree: they are read with :mod:`tokenize` and diffed
separately. A run of three or more statements deleted in one place and inserted unchanged
in another is a *move*, not a change; so is a single import (the order of imports is what
formatters such as isort change).

When two files differ a lot — a copy of three functions out of a library module — the
whole-file diff means nothing; the definitions are then paired (by name, by name with a
prefix such as ``custom_`` or ``GPT2``, then by similarity) and each pair is diffed on its
own, with its similarity ratio. A pair too dissimilar to diff usefully is shown as
*rewritten*.

Results are cached on disk by content hash (``.marginalia/cache/lineage/<sha256>.json``):
the key covers the code version (this module's source), the Python version (``ast.unparse``
output may change between versions), the relation and the sha256 of every file compared.
"""

from __future__ import annotations

import ast
import copy
import difflib
import functools
import hashlib
import inspect
import io
import json
import re
import sys
import tokenize
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .manifest import Manifest
from .problems import InputError, Problem
from .sources import Cache, ReferenceText, SourceText, write_atomically

FORMAT = 1
"""The results' format; with this module's own source it makes the code version in every cache key."""

SAME_FILE = 0.5
"""Below this whole-file similarity, definitions are paired and compared one by one."""
REWRITTEN = 0.5
"""Below this similarity a pair of definitions is shown as rewritten, not as a diff."""
PAIR_BY_SIMILARITY = 0.5
"""The least similarity at which two definitions with unrelated names are paired."""
MOVE_MIN = 3
"""A moved block needs this many consecutive statements (single imports excepted)."""
MODULE_LEVEL = "(module level)"

RECORD = "annotations/lineage.toml"


# =========================================================================== data --

@dataclass(frozen=True)
class Statement:
    """One statement, or the header of a compound statement, normalised."""

    text: str
    depth: int
    start: int
    end: int
    kind: str = "statement"  # statement | header | clause | docstring | import

    @property
    def key(self) -> str:
        return f"{self.depth}\x00{self.text}"

    @property
    def first_line(self) -> str:
        return self.text.split("\n")[-1] if self.kind == "header" else self.text.split("\n")[0]


@dataclass(frozen=True)
class Item:
    """A statement as a region shows it: where it is, and whether it moved (and whence)."""

    start: int
    end: int
    moved: bool = False
    partner: tuple[int, int] | None = None


@dataclass(frozen=True)
class Region:
    """A run of statements: the same on both sides (formatting aside), changed, moved, or
    omitted (the original's statements a partial copy did not take).
    ``a_chunks``/``b_chunks`` are the line spans to show (comments and blank lines before
    a statement go with it); ``hunk`` numbers the semantic change this region is."""

    kind: Literal["same", "change", "move", "omitted"]
    a_items: tuple[Item, ...]
    b_items: tuple[Item, ...]
    a_chunks: tuple[tuple[int, int], ...]
    b_chunks: tuple[tuple[int, int], ...]
    hunk: int | None = None


@dataclass(frozen=True)
class Hunk:
    """A semantic change. ``a``/``b`` are the line spans of the changed statements in the
    original and the copy (empty: nothing on that side; several only for the module level,
    whose statements lie between the definitions); ``a_at``/``b_at`` the line after which
    the other side's statements would go. ``what`` describes it from the normalised code."""

    number: int
    kind: Literal["change", "rewritten", "added", "removed", "module"]
    a: tuple[tuple[int, int], ...]
    b: tuple[tuple[int, int], ...]
    a_at: int
    b_at: int
    what: str
    unit: str | None = None

    @staticmethod
    def label(spans: tuple[tuple[int, int], ...]) -> str:
        parts = [f"{s}" if s == e else f"{s}–{e}" for s, e in spans]
        return ("line " if len(spans) == 1 and spans[0][0] == spans[0][1] else "lines ") + ", ".join(parts)


@dataclass(frozen=True)
class Move:
    a: tuple[int, int]
    b: tuple[int, int]
    statements: int
    imports: bool


@dataclass(frozen=True)
class CommentChange:
    kind: Literal["added", "removed", "changed"]
    a: tuple[tuple[int, str], ...]
    b: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Unit:
    """A definition compared on its own: a function, a class, or a method."""

    name: str
    kind: Literal["def", "class", "module"]
    start: int
    end: int
    statements: int


@dataclass(frozen=True)
class Pair:
    a: Unit
    b: Unit
    how: Literal["same name", "renamed", "similar", "module"]
    ratio: float
    rewritten: bool
    regions: tuple[Region, ...]
    comments: tuple[CommentChange, ...]


@dataclass(frozen=True)
class Comparison:
    """Everything the pages show about two files."""

    mode: Literal["identical", "file", "units"]
    ratio: float
    a_statements: int
    b_statements: int
    raw_changed_lines: int
    hunks: tuple[Hunk, ...] = ()
    regions: tuple[Region, ...] = ()
    moves: tuple[Move, ...] = ()
    comments: tuple[CommentChange, ...] = ()
    pairs: tuple[Pair, ...] = ()
    added: tuple[Unit, ...] = ()
    removed: tuple[Unit, ...] = ()
    not_copied: int = 0
    error: str | None = None

    @property
    def same_statements(self) -> int:
        regions = self.regions or tuple(r for p in self.pairs for r in p.regions)
        return sum(len(r.a_items) for r in regions if r.kind == "same")

    @property
    def moved_statements(self) -> int:
        return sum(m.statements for m in self.moves)

    @property
    def short_finding(self) -> str:
        """The finding in at most a few words, for the diagram's arrows."""
        if self.moves and not self.hunks and self.mode == "file" and not self.error:
            return "imports reordered" if all(m.imports for m in self.moves) else "statements moved"
        return self.finding

    @property
    def finding(self) -> str:
        """The verdict in a few words: 'identical', 'formatting only', '2 changes'."""
        if self.error:
            return "not compared"
        if self.mode == "identical":
            return "identical"
        if self.hunks:
            return f"{len(self.hunks)} change{'s' if len(self.hunks) != 1 else ''}"
        if self.moves:
            what = "imports reordered" if all(m.imports for m in self.moves) else "statements moved"
            return f"formatting and {what} only"
        return "formatting only"


# ==================================================================== statements --

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPOUND = (*_DEFS, ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
             *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))


def _header(node: ast.stmt) -> str:
    if isinstance(node, _DEFS):
        bare = copy.copy(node)  # ast.unparse needs the original node's positions: copy it
        bare.body = []
        return ast.unparse(bare)
    if isinstance(node, ast.If):
        return f"if {ast.unparse(node.test)}:"
    if isinstance(node, (ast.For, ast.AsyncFor)):
        prefix = "async " if isinstance(node, ast.AsyncFor) else ""
        return f"{prefix}for {ast.unparse(node.target)} in {ast.unparse(node.iter)}:"
    if isinstance(node, ast.While):
        return f"while {ast.unparse(node.test)}:"
    if isinstance(node, (ast.With, ast.AsyncWith)):
        prefix = "async " if isinstance(node, ast.AsyncWith) else ""
        return f"{prefix}with {', '.join(ast.unparse(item) for item in node.items)}:"
    return "try:"


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def statements(text: str, tree: ast.Module | None = None) -> tuple[Statement, ...]:
    """Every statement of ``text`` in source order, compound headers first, then their bodies."""
    tree = tree or ast.parse(text)
    lines = text.split("\n")
    out: list[Statement] = []

    def code_line(n: int) -> bool:
        stripped = lines[n - 1].strip() if 0 < n <= len(lines) else ""
        return bool(stripped) and not stripped.startswith("#")

    def clause_line(after: int, before: int, word: str) -> int:
        for n in range(after + 1, before):
            if lines[n - 1].lstrip().startswith(word):
                return n
        return before

    def body(stmts: list[ast.stmt], depth: int, docstring: bool) -> None:
        for index, node in enumerate(stmts):
            if index == 0 and docstring and _is_docstring(node):
                out.append(Statement(repr(inspect.cleandoc(node.value.value)), depth, node.lineno,
                                     node.end_lineno or node.lineno, "docstring"))
                continue
            if not isinstance(node, _COMPOUND):
                kind = "import" if isinstance(node, (ast.Import, ast.ImportFrom)) else "statement"
                out.append(Statement(ast.unparse(node), depth, node.lineno, node.end_lineno or node.lineno, kind))
                continue
            end = node.body[0].lineno - 1 if node.body[0].lineno > node.lineno else node.lineno
            while end > node.lineno and not code_line(end):
                end -= 1
            out.append(Statement(_header(node), depth, _first_line(node), end, "header"))
            body(node.body, depth + 1, isinstance(node, _DEFS))
            last = node.body[-1].end_lineno or node.body[-1].lineno
            for handler in getattr(node, "handlers", []):
                text_ = "except" + (f" {ast.unparse(handler.type)}" if handler.type else "")
                text_ += f" as {handler.name}:" if handler.name else ":"
                out.append(Statement(text_, depth, handler.lineno, handler.lineno, "clause"))
                body(handler.body, depth + 1, False)
                last = handler.body[-1].end_lineno or last
            orelse = getattr(node, "orelse", [])
            if orelse:
                first = orelse[0]
                if (isinstance(node, ast.If) and len(orelse) == 1 and isinstance(first, ast.If)
                        and lines[first.lineno - 1].lstrip().startswith("elif")):
                    mark = len(out)
                    body([first], depth, False)
                    head = out[mark]
                    out[mark] = Statement("el" + head.text, head.depth, head.start, head.end, "clause")
                else:
                    line = clause_line(last, first.lineno, "else")
                    out.append(Statement("else:", depth, line, line, "clause"))
                    body(orelse, depth + 1, False)
                    last = orelse[-1].end_lineno or last
            final = getattr(node, "finalbody", [])
            if final:
                line = clause_line(last, final[0].lineno, "finally")
                out.append(Statement("finally:", depth, line, line, "clause"))
                body(final, depth + 1, False)

    body(tree.body, 0, True)
    return tuple(out)


def comments(text: str, start: int = 1, end: int | None = None) -> tuple[tuple[int, str], ...]:
    """Comments (line, text with spacing normalised) between lines ``start`` and ``end``."""
    out = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT and start <= token.start[0] <= (end or token.start[0]):
                out.append((token.start[0], " ".join(token.string.lstrip("#").split())))
    except (tokenize.TokenError, SyntaxError):
        pass
    return tuple(c for c in out if c[1])


def raw_changed_lines(a: str, b: str) -> int:
    """Lines a plain line diff marks as removed or added: what a reader of `diff` wades through."""
    count = 0
    matcher = difflib.SequenceMatcher(None, a.splitlines(), b.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            count += (i2 - i1) + (j2 - j1)
    return count


# ===================================================================== comparing --

@dataclass(frozen=True)
class _Side:
    """One side of a comparison: the file's lines and the statements being compared."""

    lines: tuple[str, ...]
    statements: tuple[Statement, ...]
    tile: bool  # the statements cover a contiguous span: comments before a statement go with it

    def owned(self, index: int) -> tuple[int, int]:
        """The lines statement ``index`` owns: its own, plus the comments and blank lines just
        above it (back to the previous statement)."""
        statement = self.statements[index]
        start = statement.start
        floor = self.statements[index - 1].end + 1 if index > 0 else 1
        if self.tile or index > 0:
            while start - 1 >= floor and not _is_code(self.lines[start - 2]):
                start -= 1
        return start, statement.end


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _chunks(side: _Side, indexes: range) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for index in indexes:
        start, end = side.owned(index)
        if out and start <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((s, e) for s, e in out)


def _tight(side: _Side, indexes: Sequence[int]) -> tuple[int, int] | None:
    if not indexes:
        return None
    return side.statements[indexes[0]].start, max(side.statements[i].end for i in indexes)


def _spans(side: _Side, indexes: Sequence[int]) -> tuple[tuple[int, int], ...]:
    span = _tight(side, indexes)
    return (span,) if span else ()


def _after(side: _Side, index: int) -> int:
    """The line after which something inserted before statement ``index`` would go."""
    return side.statements[index - 1].end if index > 0 else (side.statements[0].start - 1 if side.statements else 0)


def _describe(statements: Sequence[Statement]) -> str:
    if not statements:
        return ""
    top = min(s.depth for s in statements)
    shown = [s.first_line for s in statements if s.depth == top]
    text = "; ".join(shown[:3]) + (f"; … ({len(shown) - 3} more)" if len(shown) > 3 else "")
    return text if len(text) <= 160 else text[:159] + "…"


def _find_moves(a: _Side, b: _Side, opcodes: list[tuple]) -> dict[tuple[str, int], tuple[str, int]]:
    """Statements deleted in one place and inserted unchanged in another: a block of
    MOVE_MIN or more, or a single import. Returns a map from (side, index) to its partner."""
    a_runs = [(n, i1, i2) for n, (tag, i1, i2, _, _) in enumerate(opcodes) if tag in ("delete", "replace")]
    b_runs = [(n, j1, j2) for n, (tag, _, _, j1, j2) in enumerate(opcodes) if tag in ("insert", "replace")]
    candidates = []
    for a_op, i1, i2 in a_runs:
        for b_op, j1, j2 in b_runs:
            if a_op == b_op:  # the same place on both sides: re-indented or edited, not moved
                continue
            matcher = difflib.SequenceMatcher(None, [s.text for s in a.statements[i1:i2]],
                                              [s.text for s in b.statements[j1:j2]], autojunk=False)
            for block in matcher.get_matching_blocks():
                if block.size:
                    candidates.append((block.size, i1 + block.a, j1 + block.b))
    partner: dict[tuple[str, int], tuple[str, int]] = {}
    for size, ai, bj in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        pairs = [(ai + k, bj + k) for k in range(size) if ("a", ai + k) not in partner and ("b", bj + k) not in partner]
        # a block keeps its shape: every statement at the same depth offset
        offsets = {a.statements[i].depth - b.statements[j].depth for i, j in pairs}
        runs: list[list[tuple[int, int]]] = []
        for i, j in pairs:
            if runs and runs[-1][-1] == (i - 1, j - 1):
                runs[-1].append((i, j))
            else:
                runs.append([(i, j)])
        for run in runs:
            imports = all(a.statements[i].kind == "import" for i, _ in run)
            if (len(run) >= MOVE_MIN and len(offsets) == 1) or imports:
                for i, j in run:
                    partner[("a", i)] = ("b", j)
                    partner[("b", j)] = ("a", i)
    return partner


def _diff(a: _Side, b: _Side, *, unit: str | None, first_hunk: int) -> tuple[list[Region], list[Hunk], list[Move]]:
    matcher = difflib.SequenceMatcher(None, [s.key for s in a.statements], [s.key for s in b.statements], autojunk=False)
    opcodes = matcher.get_opcodes()
    partner = _find_moves(a, b, opcodes)
    regions: list[Region] = []
    hunks: list[Hunk] = []
    moves: list[Move] = []
    for tag, i1, i2, j1, j2 in opcodes:
        a_chunks, b_chunks = _chunks(a, range(i1, i2)), _chunks(b, range(j1, j2))
        if tag == "equal":
            items_a = tuple(Item(a.statements[i].start, a.statements[i].end) for i in range(i1, i2))
            items_b = tuple(Item(b.statements[j].start, b.statements[j].end) for j in range(j1, j2))
            regions.append(Region("same", items_a, items_b, a_chunks, b_chunks))
            continue

        def item(side: _Side, name: str, index: int) -> Item:
            statement = side.statements[index]
            other = partner.get((name, index))
            if other is None:
                return Item(statement.start, statement.end)
            other_side = b if other[0] == "b" else a
            target = other_side.statements[other[1]]
            return Item(statement.start, statement.end, True, (target.start, target.end))

        items_a = tuple(item(a, "a", i) for i in range(i1, i2))
        items_b = tuple(item(b, "b", j) for j in range(j1, j2))
        changed_a = [i for i in range(i1, i2) if ("a", i) not in partner]
        changed_b = [j for j in range(j1, j2) if ("b", j) not in partner]
        for j in range(j1, j2):  # each moved run is recorded once, from the copy's side
            if ("b", j) in partner and (j == j1 or ("b", j - 1) not in partner
                                        or partner[("b", j - 1)][1] != partner[("b", j)][1] - 1):
                run = [j]
                while run[-1] + 1 < j2 and ("b", run[-1] + 1) in partner and \
                        partner[("b", run[-1] + 1)][1] == partner[("b", run[-1])][1] + 1:
                    run.append(run[-1] + 1)
                a_idx = [partner[("b", k)][1] for k in run]
                moves.append(Move(_tight(a, a_idx), _tight(b, run), len(run),
                                  all(b.statements[k].kind == "import" for k in run)))
        if not changed_a and not changed_b:  # everything here moved
            regions.append(Region("move", items_a, items_b, a_chunks, b_chunks))
            continue
        number = first_hunk + len(hunks)
        old = [a.statements[i] for i in changed_a]
        new = [b.statements[j] for j in changed_b]
        if old and new:
            what = f"{_describe(old)} → {_describe(new)}"
        elif new:
            what = f"added: {_describe(new)}"
        else:
            what = f"removed: {_describe(old)}"
        hunks.append(Hunk(number, "change", _spans(a, changed_a), _spans(b, changed_b),
                          _after(a, i1), _after(b, j1), what, unit))
        regions.append(Region("change", items_a, items_b, a_chunks, b_chunks, number))
    return regions, hunks, moves


def _comment_changes(a: tuple[tuple[int, str], ...], b: tuple[tuple[int, str], ...]) -> tuple[CommentChange, ...]:
    out = []
    matcher = difflib.SequenceMatcher(None, [c[1] for c in a], [c[1] for c in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        kind = {"insert": "added", "delete": "removed", "replace": "changed"}[tag]
        out.append(CommentChange(kind, a[i1:i2], b[j1:j2]))
    return tuple(out)


def _ratio(a: Sequence[Statement], b: Sequence[Statement]) -> float:
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, [s.key for s in a], [s.key for s in b], autojunk=False).ratio()


def compare_files(a_text: str, b_text: str) -> Comparison:
    """The whole-file comparison, or, when the files diverge too much, the paired one."""
    raw = raw_changed_lines(a_text, b_text)
    if a_text == b_text:
        count = len(statements(a_text)) if _parses(a_text) else 0
        return Comparison("identical", 1.0, count, count, 0)
    try:
        a_tree, b_tree = ast.parse(a_text), ast.parse(b_text)
    except SyntaxError as exc:
        return Comparison("file", 0.0, 0, 0, raw, error=f"not Python that parses: {exc.msg} (line {exc.lineno})")
    a_all, b_all = statements(a_text, a_tree), statements(b_text, b_tree)
    ratio = _ratio(a_all, b_all)
    if ratio < SAME_FILE:
        return _compare_units(a_text, b_text, a_tree, b_tree, a_all, b_all, ratio, raw, version=False)
    a_side = _Side(tuple(a_text.split("\n")), a_all, True)
    b_side = _Side(tuple(b_text.split("\n")), b_all, True)
    regions, hunks, moves = _diff(a_side, b_side, unit=None, first_hunk=1)
    return Comparison("file", round(ratio, 3), len(a_all), len(b_all), raw, tuple(hunks), tuple(regions),
                      tuple(moves), _comment_changes(comments(a_text), comments(b_text)))


def compare_versions(a_text: str, b_text: str) -> Comparison:
    """A later version of the same module: definitions paired, removals counted too."""
    raw = raw_changed_lines(a_text, b_text)
    if a_text == b_text:
        count = len(statements(a_text))
        return Comparison("identical", 1.0, count, count, 0)
    try:
        a_tree, b_tree = ast.parse(a_text), ast.parse(b_text)
    except SyntaxError as exc:
        return Comparison("units", 0.0, 0, 0, raw, error=f"not Python that parses: {exc.msg} (line {exc.lineno})")
    a_all, b_all = statements(a_text, a_tree), statements(b_text, b_tree)
    return _compare_units(a_text, b_text, a_tree, b_tree, a_all, b_all, round(_ratio(a_all, b_all), 3), raw,
                          version=True)


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


# ---------------------------------------------------------------- definitions --

@dataclass(frozen=True)
class _Def:
    name: str  # qualified: Class.method
    kind: Literal["def", "class"]
    start: int
    end: int
    parent: str | None
    statements: tuple[Statement, ...]

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def unit(self) -> Unit:
        return Unit(self.name, self.kind, self.start, self.end, len(self.statements))


def _definitions(tree: ast.Module, flat: tuple[Statement, ...], *, methods: bool) -> list[_Def]:
    out: list[_Def] = []

    def add(node: ast.stmt, parent: str | None, depth: int) -> None:
        name = f"{parent}.{node.name}" if parent else node.name
        start, end = _first_line(node), node.end_lineno or node.lineno
        own = tuple(Statement(s.text, s.depth - depth, s.start, s.end, s.kind) for s in flat
                    if start <= s.start and s.end <= end and s.depth >= depth)
        out.append(_Def(name, "class" if isinstance(node, ast.ClassDef) else "def", start, end, parent, own))
        if methods and isinstance(node, ast.ClassDef):
            for child in node.body:
                if isinstance(child, _DEFS):
                    add(child, name, depth + 1)

    for node in tree.body:
        if isinstance(node, _DEFS):
            add(node, None, 0)
    return out


_PREFIX = re.compile(r"^[A-Za-z0-9]+_?$")


def _renamed(a: str, b: str) -> bool:
    """One name is the other with a one-word prefix: Attention/GPT2Attention, generate/custom_generate."""
    short, long = sorted((a, b), key=len)
    return long != short and long.endswith(short) and bool(_PREFIX.match(long[: -len(short)]))


def pair_definitions(a_defs: list[_Def], b_defs: list[_Def]) -> list[tuple[_Def, _Def, str, float]]:
    """Pair each of the copy's definitions with one of the original's: by the same name, by a
    name with a prefix added or removed, then by similarity (at least PAIR_BY_SIMILARITY).
    A class and its own methods are never both taken."""
    used: set[str] = set()
    pairs: list[tuple[_Def, _Def, str, float]] = []
    paired_b: set[str] = set()

    def free(d: _Def) -> bool:
        if d.name in used or (d.parent and d.parent in used):
            return False
        return not any(u.startswith(d.name + ".") for u in used)

    def take(a: _Def, b: _Def, how: str, ratio: float) -> None:
        used.add(a.name)
        paired_b.add(b.name)
        pairs.append((a, b, how, ratio))

    for how, matches in (("same name", lambda x, y: x.short == y.short), ("renamed", lambda x, y: _renamed(x.short, y.short))):
        for b in b_defs:
            if b.name in paired_b:
                continue
            options = [(round(_ratio(a.statements, b.statements), 3), a) for a in a_defs
                       if a.kind == b.kind and free(a) and matches(a, b)]
            if options:
                ratio, best = max(options, key=lambda o: (o[0], -o[1].start))
                take(best, b, how, ratio)
    scored = []
    for b in b_defs:
        if b.name in paired_b:
            continue
        for a in a_defs:
            if a.kind == b.kind and free(a):
                matcher = difflib.SequenceMatcher(None, [s.key for s in a.statements], [s.key for s in b.statements],
                                                  autojunk=False)
                if matcher.real_quick_ratio() >= PAIR_BY_SIMILARITY and matcher.quick_ratio() >= PAIR_BY_SIMILARITY:
                    scored.append((round(matcher.ratio(), 3), b.start, a.start, a, b))
    for ratio, _, _, a, b in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if ratio >= PAIR_BY_SIMILARITY and b.name not in paired_b and free(a):
            take(a, b, "similar", ratio)
    order = {b.name: index for index, b in enumerate(b_defs)}
    return sorted(pairs, key=lambda p: order[p[1].name])


def _module_level(flat: tuple[Statement, ...], defs: list[_Def]) -> tuple[Statement, ...]:
    spans = [(d.start, d.end) for d in defs if d.parent is None]
    return tuple(s for s in flat if not any(start <= s.start and s.end <= end for start, end in spans))


def _runs(statements: tuple[Statement, ...], indexes: list[int], defs: list[_Def]) -> tuple[tuple[int, int], ...]:
    """Line spans of the given module-level statements: neighbours in the module level that no
    definition separates form one span."""
    spans: list[list[int]] = []
    previous, last = None, -2
    for index in indexes:
        statement = statements[index]
        between = previous is not None and any(previous < d.start < statement.start for d in defs if d.parent is None)
        if spans and index == last + 1 and not between:
            spans[-1][1] = statement.end
        else:
            spans.append([statement.start, statement.end])
        previous, last = statement.end, index
    return tuple((s, e) for s, e in spans)


def _module_pair(a_mod: tuple[Statement, ...], b_mod: tuple[Statement, ...], a_defs: list[_Def], b_defs: list[_Def],
                 version: bool) -> tuple[Pair, Hunk | None]:
    """The module level as a multiset of statements: what the copy added (and, for a later
    version, what it dropped) is one change, however scattered."""
    pool: dict[str, list[int]] = {}
    for index, statement in enumerate(a_mod):
        pool.setdefault(statement.key, []).append(index)
    matched_a: set[int] = set()
    added = []
    for index, statement in enumerate(b_mod):
        options = pool.get(statement.key)
        if options:
            matched_a.add(options.pop(0))
        else:
            added.append(index)
    removed = [i for i in range(len(a_mod)) if i not in matched_a]
    a_unit = Unit(MODULE_LEVEL, "module", a_mod[0].start if a_mod else 1, a_mod[-1].end if a_mod else 1, len(a_mod))
    b_unit = Unit(MODULE_LEVEL, "module", b_mod[0].start if b_mod else 1, b_mod[-1].end if b_mod else 1, len(b_mod))
    ratio = round(_ratio(a_mod, b_mod), 3)
    same = Region("same", tuple(Item(a_mod[i].start, a_mod[i].end) for i in sorted(matched_a)),
                  tuple(Item(s.start, s.end) for i, s in enumerate(b_mod) if i not in added), (), ())
    a_spans = _runs(a_mod, removed, a_defs)
    b_spans = _runs(b_mod, added, b_defs)
    counted_a = a_spans if version else ()
    if not b_spans and not counted_a:
        omitted = Region("omitted", tuple(Item(a_mod[i].start, a_mod[i].end) for i in removed), (), a_spans, ())
        return Pair(a_unit, b_unit, "module", ratio, False, (same, omitted) if removed else (same,), ()), None
    parts = []
    if added:
        parts.append(f"added: {_describe([b_mod[i] for i in added])}")
    if removed and version:
        parts.append(f"removed: {_describe([a_mod[i] for i in removed])}")
    hunk = Hunk(1, "module", counted_a, b_spans, 0, 0, "; ".join(parts), MODULE_LEVEL)
    gone = tuple(Item(a_mod[i].start, a_mod[i].end) for i in removed)
    change = Region("change", gone if version else (), tuple(Item(b_mod[i].start, b_mod[i].end) for i in added),
                    counted_a, b_spans, 1)
    regions = (same, change) if version or not removed else (same, change, Region("omitted", gone, (), a_spans, ()))
    return Pair(a_unit, b_unit, "module", ratio, False, regions, ()), hunk


def _label(a_name: str, b_name: str) -> str:
    return b_name if a_name == b_name else f"{b_name} ← {a_name}"


def pair_label(pair: Pair) -> str:
    """The ``unit`` of the hunks found in ``pair``."""
    return _label(pair.a.name, pair.b.name)


def _compare_units(a_text: str, b_text: str, a_tree: ast.Module, b_tree: ast.Module, a_all: tuple[Statement, ...],
                   b_all: tuple[Statement, ...], ratio: float, raw: int, *, version: bool) -> Comparison:
    a_lines, b_lines = tuple(a_text.split("\n")), tuple(b_text.split("\n"))
    a_defs = _definitions(a_tree, a_all, methods=True)
    b_defs = _definitions(b_tree, b_all, methods=False)
    hunks: list[Hunk] = []
    moves: list[Move] = []
    pairs: list[Pair] = []

    # the module level (imports, constants, docstrings) first: its statements lie between the
    # definitions and their order means little, so they are matched as a multiset
    a_top = [d for d in a_defs if d.parent is None]
    a_mod, b_mod = _module_level(a_all, a_top), _module_level(b_all, b_defs)
    if b_mod or (version and a_mod):
        pair, hunk = _module_pair(a_mod, b_mod, a_top, b_defs, version)
        pairs.append(pair)
        if hunk:
            hunks.append(hunk)

    paired = pair_definitions(a_defs, b_defs)
    for a_def, b_def, how, pair_ratio in paired:
        a_unit, b_unit, a_st, b_st = a_def.unit(), b_def.unit(), a_def.statements, b_def.statements
        a_side, b_side = _Side(a_lines, a_st, True), _Side(b_lines, b_st, True)
        label = _label(a_unit.name, b_unit.name)
        if pair_ratio < REWRITTEN:
            number = len(hunks) + 1
            hunks.append(Hunk(number, "rewritten", ((a_unit.start, a_unit.end),), ((b_unit.start, b_unit.end),),
                              a_unit.start - 1, b_unit.start - 1,
                              f"rewritten: {b_unit.name} has {b_unit.statements} statements, {a_unit.name} had "
                              f"{a_unit.statements}; similarity {pair_ratio:.2f}", label))
            region = Region("change", tuple(Item(s.start, s.end) for s in a_st), tuple(Item(s.start, s.end) for s in b_st),
                            ((a_unit.start, a_unit.end),), ((b_unit.start, b_unit.end),), number)
            pairs.append(Pair(a_unit, b_unit, how, pair_ratio, True, (region,), ()))
            continue
        regions, new_hunks, new_moves = _diff(a_side, b_side, unit=label, first_hunk=len(hunks) + 1)
        hunks.extend(new_hunks)
        moves.extend(new_moves)
        pairs.append(Pair(a_unit, b_unit, how, pair_ratio, False, tuple(regions),
                          _comment_changes(comments(a_text, a_unit.start, a_unit.end),
                                           comments(b_text, b_unit.start, b_unit.end))))

    paired_b = {p[1].name for p in paired}
    covered_a = {p[0].name for p in paired}
    added = tuple(d.unit() for d in b_defs if d.name not in paired_b)
    left = [d for d in a_top if d.name not in covered_a and not any(c.startswith(d.name + ".") for c in covered_a)]
    removed = tuple(d.unit() for d in left) if version else ()
    # consecutive new definitions are one change, as consecutive new statements are in a diff
    groups: list[list[Unit]] = []
    for unit in added:
        previous = groups[-1][-1] if groups else None
        between = [d for d in b_defs if previous and previous.end < d.start < unit.start]
        if previous is not None and not between:
            groups[-1].append(unit)
        else:
            groups.append([unit])
    for group in groups:
        names = ", ".join(u.name for u in group)
        hunks.append(Hunk(len(hunks) + 1, "added", (), ((group[0].start, group[-1].end),), 0, group[0].start - 1,
                          f"new: {names}", names))
    for unit in removed:
        hunks.append(Hunk(len(hunks) + 1, "removed", ((unit.start, unit.end),), (), unit.start - 1, 0,
                          f"removed: {unit.name}", unit.name))
    not_copied = 0 if version else len(left)
    return Comparison("units", round(ratio, 3), len(a_all), len(b_all), raw, tuple(hunks), (), tuple(moves),
                      (), tuple(pairs), added, removed, not_copied)


# ================================================================ serialisation --

def to_json(value) -> object:
    if is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def from_json(cls, data):
    """Rebuild a (nested, frozen) dataclass value from :func:`to_json` output."""
    origin = typing.get_origin(cls)
    if origin in (typing.Union, types.UnionType):
        options = [c for c in typing.get_args(cls) if c is not type(None)]
        return None if data is None else from_json(options[0], data)
    if origin is tuple:
        args = typing.get_args(cls)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], v) for v in data)
        return tuple(from_json(a, v) for a, v in zip(args, data))
    if origin is Literal or cls in (str, int, float, bool):
        return data
    if is_dataclass(cls):
        hints = _hints(cls)
        return cls(**{f.name: from_json(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data})
    return data


# ======================================================================== record --

class RelationKind(str, Enum):
    identical = "identical"
    modified = "modified"
    version = "version"

    @property
    def label(self) -> str:
        return {"identical": "byte-identical copy", "modified": "copied and modified",
                "version": "later version of the same module"}[self.value]


class Relation(BaseModel):
    """One copy relation, as written in ``annotations/lineage.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
    kind: RelationKind
    original: str | list[str] = Field(description="the original's address, or several candidates (oldest first): "
                                                  "the nearest is compared")
    copy_: str = Field(alias="copy")
    title: Annotated[str, Field(min_length=1, max_length=120)]
    summary: Annotated[str, Field(min_length=1, max_length=600)]
    article: str | None = Field(default=None, description="where the article speaks of this copy, e.g. '§3 ¶3'")
    notes: list[Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]] = Field(
        default=[], description="notes about the relation as a whole, listed at the top of its page")

    @field_validator("original")
    @classmethod
    def _some(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one original")
        return value

    @property
    def originals(self) -> tuple[str, ...]:
        return (self.original,) if isinstance(self.original, str) else tuple(self.original)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relation: list[Relation] = []


@dataclass(frozen=True)
class FileSide:
    """A compared file: a presented one (``codebase/path``) or a reference (``reference:<id>``)."""

    address: str
    owner: str  # "OpenAI's GPT-2", "transformers 2.9.0"
    path: str
    version: str  # the pin's short label: "9b63575", "2.9.0"
    sha256: str
    browse: str  # upstream, a line fragment may be appended (when line_links)
    line_links: bool
    codebase: str | None = None  # presented files only: their page is code/<codebase>/<path>/
    file_path: str | None = None
    date: str | None = None
    code_class: str | None = None  # presented files: their class on the map

    @property
    def presented(self) -> bool:
        return self.codebase is not None

    @property
    def label(self) -> str:
        return f"{self.owner} {self.path}"


@dataclass(frozen=True)
class Candidate:
    side: FileSide
    score: float
    ratios: tuple[tuple[str, str, float], ...]  # (copy's definition, original's, ratio)
    exact: bool
    same_as: tuple[str, ...] = ()  # candidates whose compared definitions are statement for statement the same


@dataclass(frozen=True)
class Result:
    relation: str
    original: FileSide
    copy: FileSide
    comparison: Comparison | None
    candidates: tuple[Candidate, ...] = ()
    absent: str | None = None


def _line_of(text: str) -> tuple[list[int], list[dict[str, int]]]:
    """The line of each [[relation]] and of each of its keys (tomllib gives no positions)."""
    starts: list[int] = []
    keys: list[dict[str, int]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if re.match(r"^\s*\[\[\s*relation\s*\]\]", line):
            starts.append(number)
            keys.append({})
        elif keys:
            match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=", line)
            if match:
                keys[-1].setdefault(match.group(1), number)
    return starts, keys


@dataclass(frozen=True)
class Record:
    relations: tuple[Relation, ...]
    lines: tuple[tuple[int, Mapping[str, int]], ...]  # per relation: its line, and its keys' lines
    file: str = RECORD

    def line(self, index: int, key: str | None = None) -> int:
        start, keys = self.lines[index]
        return keys.get(key, start) if key else start


def parse_record(text: str, file: str = RECORD) -> Record:
    """Parse and validate the record; :class:`InputError` lists every problem with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise InputError([Problem(file, int(match.group(1)) if match else None, f"not valid TOML: {exc}")]) from None
    starts, keys = _line_of(text)
    try:
        record = _Record.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = error["loc"]
            line = None
            if len(loc) >= 2 and loc[0] == "relation" and isinstance(loc[1], int) and loc[1] < len(starts):
                line = keys[loc[1]].get(str(loc[2]) if len(loc) > 2 else "", starts[loc[1]])
            where = ".".join(str(p) for p in loc[2:]) if len(loc) > 2 else ""
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(Problem(file, line, f"{where}: {message}" if where else message))
        raise InputError(problems) from None
    return Record(tuple(record.relation), tuple(zip(starts, keys)), file)


def load_record(path: Path, display: str = RECORD) -> Record:
    if not path.is_file():
        return Record((), (), display)
    return parse_record(path.read_text(encoding="utf-8"), display)


def resolve(address: str, manifest: Manifest) -> FileSide | str:
    """The file an address names, or why it names none."""
    if address.startswith("reference:"):
        ref_id = address.removeprefix("reference:")
        ref = manifest.references.get(ref_id)
        if ref is None:
            known = ", ".join(manifest.references) or "none"
            return f"{address!r}: no such reference in sources.toml (known: {known})"
        return FileSide(address, ref.label, ref.path, ref.label.rsplit(" ", 1)[-1], ref.sha256, ref.browse,
                        ref.browse.startswith("https://github.com/"), date=ref.date)
    codebase_id, _, path = address.partition("/")
    codebase = manifest.codebases.get(codebase_id)
    if codebase is None:
        return f"{address!r}: unknown codebase {codebase_id!r} (write <codebase>/<path> or reference:<id>)"
    file = next((f for f in codebase.files if f.path == path), None)
    if file is None:
        close = difflib.get_close_matches(path, [f.path for f in codebase.files], n=1)
        hint = f"; did you mean {codebase_id}/{close[0]}?" if close else ""
        return f"{address!r}: not a presented file of {codebase_id}{hint}"
    from .manifest import browse_url, member_of

    pin = manifest.pin_of(codebase_id, file)
    if pin.is_git:
        owner, display, version = codebase.title, file.path, pin.commit[:7]
    else:  # a release: "transformers 2.8.0", and the file's path inside the package
        owner, display = pin.label.split(" (")[0], member_of(file)
        version = owner.rsplit(" ", 1)[-1]
    upstream = browse_url(pin, file)
    return FileSide(address, owner, display, version, file.sha256, upstream, upstream.startswith("https://github.com/"),
                    codebase_id, file.path, code_class=file.code_class.value)


def check_record(record: Record, manifest: Manifest) -> tuple[list[Problem], dict[str, tuple[list[FileSide], FileSide]]]:
    """Problems of the record against the manifest, and each valid relation's files."""
    problems: list[Problem] = []
    resolved: dict[str, tuple[list[FileSide], FileSide]] = {}
    seen: dict[str, int] = {}
    for index, relation in enumerate(record.relations):
        def problem(key: str | None, message: str) -> None:
            problems.append(Problem(record.file, record.line(index, key), f"relation {relation.id}: {message}"))

        if relation.id in seen:
            problem("id", f"duplicate id (first on line {seen[relation.id]})")
            continue
        seen[relation.id] = record.line(index, "id")
        originals: list[FileSide] = []
        for address in relation.originals:
            side = resolve(address, manifest)
            if isinstance(side, str):
                problem("original", side)
            else:
                originals.append(side)
        copy_side = resolve(relation.copy_, manifest)
        if isinstance(copy_side, str):
            problem("copy", copy_side)
        if isinstance(copy_side, str) or len(originals) != len(relation.originals):
            continue
        if copy_side.address in relation.originals:
            problem("copy", "a file cannot be a copy of itself")
            continue
        if relation.kind is RelationKind.identical:
            if len(originals) != 1:
                problem("original", "a byte-identical copy has exactly one original")
                continue
            if originals[0].sha256 != copy_side.sha256:
                problem("kind", f"recorded as identical, but the sha256 in sources.toml differ "
                                f"({originals[0].sha256[:12]}… and {copy_side.sha256[:12]}…): say kind = \"modified\"")
                continue
        else:
            for side, key in ((copy_side, "copy"), *((o, "original") for o in originals)):
                if not side.path.endswith(".py"):
                    problem(key, f"{side.address} is not Python: only an identical copy can be recorded for it")
            same = [o for o in originals if o.sha256 == copy_side.sha256]
            if same:
                problem("kind", f"{same[0].address} and {copy_side.address} have the same sha256: "
                                "record them as kind = \"identical\"")
                continue
            if relation.kind is RelationKind.version and len(originals) != 1:
                problem("original", "a later version names exactly one earlier version")
                continue
        resolved[relation.id] = (originals, copy_side)
    return problems, resolved


# ======================================================================= compute --

def _text(side: FileSide, sources: Mapping[tuple[str, str], SourceText], references: Mapping[str, ReferenceText]
          ) -> tuple[str | None, str | None]:
    if side.presented:
        source = sources.get((side.codebase, side.file_path))
        return (source.text, source.absent_reason) if source else (None, "not a presented file")
    reference = references.get(side.address.removeprefix("reference:"))
    return (reference.text, reference.absent_reason) if reference else (None, "not a reference")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """This module's format and source: any change to the comparison invalidates the cache."""
    return f"{FORMAT}-{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}"


def _cache_key(relation: Relation, sides: Sequence[FileSide]) -> str:
    material = json.dumps({"code": code_version(), "python": list(sys.version_info[:2]),
                           "relation": relation.model_dump(mode="json", by_alias=True),
                           "sha256": [s.sha256 for s in sides]}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


def _score(comparison: Comparison) -> float:
    """How near a candidate original is: the copy's definitions' similarity, weighted by size."""
    if comparison.mode != "units":
        return comparison.ratio
    total = sum(p.b.statements for p in comparison.pairs if p.how != "module") + sum(u.statements for u in comparison.added)
    if not total:
        return comparison.ratio
    return round(sum(p.ratio * p.b.statements for p in comparison.pairs if p.how != "module") / total, 3)


def _compare(relation: Relation, a: str, b: str) -> Comparison:
    return compare_versions(a, b) if relation.kind is RelationKind.version else compare_files(a, b)


def _unit_keys(text: str, name: str) -> tuple[str, ...] | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    flat = statements(text, tree)
    for d in _definitions(tree, flat, methods=True):
        if d.name == name:
            return tuple(s.key for s in d.statements)
    return None


def compute_relation(relation: Relation, originals: list[FileSide], copy_side: FileSide,
                     sources: Mapping[tuple[str, str], SourceText], references: Mapping[str, ReferenceText],
                     cache: Cache | None) -> Result:
    """Compare one relation (every candidate original, if several), through the disk cache."""
    target = None
    if cache is not None:
        target = cache.lineage / f"{_cache_key(relation, [*originals, copy_side])}.json"
        try:
            return from_json(Result, json.loads(target.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    result = _compute(relation, originals, copy_side, sources, references)
    if target is not None and result.absent is None:
        try:
            write_atomically(target, json.dumps(to_json(result), ensure_ascii=False).encode())
        except OSError:
            pass  # a read-only cache only costs time
    return result


def _compute(relation: Relation, originals: list[FileSide], copy_side: FileSide,
             sources: Mapping[tuple[str, str], SourceText], references: Mapping[str, ReferenceText]) -> Result:
    b_text, why = _text(copy_side, sources, references)
    if b_text is None:
        return Result(relation.id, originals[-1], copy_side, None, absent=f"{copy_side.label}: {why}")
    texts = []
    for side in originals:
        text, why = _text(side, sources, references)
        if text is None:
            return Result(relation.id, side, copy_side, None, absent=f"{side.label}: {why}")
        texts.append(text)
    comparisons = [_compare(relation, text, b_text) for text in texts]
    if len(originals) == 1:
        return Result(relation.id, originals[0], copy_side, comparisons[0])
    candidates = []
    for side, text, comparison in zip(originals, texts, comparisons):
        ratios = tuple((p.b.name, p.a.name, p.ratio) for p in comparison.pairs if p.how != "module")
        exact = comparison.mode == "identical" or (bool(ratios) and all(r == 1.0 for _, _, r in ratios)
                                                  and not comparison.added)
        candidates.append(Candidate(side, _score(comparison), ratios, exact))
    best = max(range(len(candidates)), key=lambda i: (candidates[i].score, -i))
    # which other candidates hold the same code in every definition the copy was compared with
    best_text = texts[best]
    names = [a for _, a, _ in candidates[best].ratios]
    keys = {n: _unit_keys(best_text, n) for n in names}
    out = []
    for index, candidate in enumerate(candidates):
        same = ()
        if index != best and [a for _, a, _ in candidate.ratios] == names and \
                all(_unit_keys(texts[index], n) == keys[n] for n in names):
            same = (candidates[best].side.address,)
        out.append(Candidate(candidate.side, candidate.score, candidate.ratios, candidate.exact, same))
    return Result(relation.id, originals[best], copy_side, comparisons[best], tuple(out))


@dataclass(frozen=True)
class Lineage:
    """The checked record and every relation's result: what the pages render."""

    record: Record
    results: Mapping[str, Result]
    problems: tuple[Problem, ...] = ()

    @classmethod
    def empty(cls) -> "Lineage":
        return cls(Record((), ()), {})

    @property
    def relations(self) -> tuple[Relation, ...]:
        return tuple(r for r in self.record.relations if r.id in self.results)

    def relation(self, relation_id: str) -> Relation:
        return next(r for r in self.record.relations if r.id == relation_id)

    def for_file(self, address: str) -> list[tuple[Relation, Result, str]]:
        """Relations a presented file takes part in: (relation, result, 'copy' | 'original' | 'candidate')."""
        out = []
        for relation in self.relations:
            result = self.results[relation.id]
            if result.copy.address == address:
                out.append((relation, result, "copy"))
            elif result.original.address == address:
                out.append((relation, result, "original"))
            elif address in relation.originals:
                out.append((relation, result, "candidate"))
        return out


def notes_on(hunk: Hunk, original: FileSide, copy_side: FileSide, notes) -> list:
    """The notes that discuss a hunk: notes on the copy whose lines overlap the hunk's lines in
    the copy; for a hunk with nothing in the copy (a removal), notes on the original's lines,
    or on the copy's lines around the place where the removed statements were."""
    def on(side: FileSide, spans: tuple[tuple[int, int], ...]) -> list:
        if not side.presented:
            return []
        return [n for n in notes if n.codebase == side.codebase and n.path == side.file_path
                and any(n.start <= end and n.end >= start for start, end in spans)]

    found = on(copy_side, hunk.b or ((max(hunk.b_at, 1), hunk.b_at + 1),))
    if not found and not hunk.b:
        found = on(original, hunk.a)
    return sorted(found, key=lambda n: (n.start, n.end, n.id))


def check_notes_cover(lineage: Lineage, notes) -> list[Problem]:
    """Every semantic hunk has a note (see :func:`notes_on`), and relation notes exist."""
    problems = []
    ids = {n.id for n in notes}
    for index, relation in enumerate(lineage.record.relations):
        for note_id in relation.notes:
            if note_id not in ids:
                problems.append(Problem(lineage.record.file, lineage.record.line(index, "notes"),
                                        f"relation {relation.id}: notes: unknown note id {note_id!r}"))
        result = lineage.results.get(relation.id)
        if result is None or result.comparison is None:
            continue
        for hunk in result.comparison.hunks:
            if not notes_on(hunk, result.original, result.copy, notes):
                where = (f"{Hunk.label(hunk.b)} of {result.copy.label}" if hunk.b else
                         f"{Hunk.label(hunk.a)} of {result.original.label}")
                problems.append(Problem(lineage.record.file, lineage.record.line(index),
                                        f"relation {relation.id}: change {hunk.number} ({where}: {hunk.what[:80]}) "
                                        "has no note; write one whose lines overlap it"))
    return problems


def load_lineage(path: Path, manifest: Manifest, sources: Mapping[tuple[str, str], SourceText],
                 references: Mapping[str, ReferenceText], notes, cache: Cache | None,
                 display: str = RECORD) -> Lineage:
    """Read the record, check it, compare every relation and check that the changes have notes."""
    try:
        record = load_record(path, display)
    except InputError as exc:
        return Lineage(Record((), (), display), {}, tuple(exc.problems))
    problems, resolved = check_record(record, manifest)
    results = {}
    for relation in record.relations:
        if relation.id in resolved:
            originals, copy_side = resolved[relation.id]
            results[relation.id] = compute_relation(relation, originals, copy_side, sources, references, cache)
    lineage = Lineage(record, results)
    problems += check_notes_cover(lineage, notes)
    return Lineage(record, results, tuple(sorted(set(problems))))
