"""A new note, scaffolded from the lines it is about (``marginalia new``, ``make new``).

Given a codebase, a presented file and a line range, :func:`new_note` fills in what the
code can tell — ``codebase``, ``path``, ``lines``, ``quote`` (the exact first line at the
pin), ``symbol`` (the innermost function or class around the lines) and ``class`` (from an
existing note whose lines enclose these, else the file's class in ``sources.toml``; the
author confirms it) — and leaves placeholders ``{{…}}`` for what only the author can say:
``id``, ``title``, ``authors`` and the body. The checker (``make check``) reports every
placeholder still there as ``file:line: …``, so the scaffold fails the check until it is
filled in, and passes once it is.

:func:`new_note` returns text, not a file: the page engineer uses the same text to prefill
GitHub's new-file URL (it stays far below that URL's 8 KB limit); :func:`write_new_note`
writes it for the command line and never overwrites.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import symbols
from .manifest import Manifest
from .notes import PLACEHOLDER
from .sources import SourceText

ID_PREFIXES = {"gpt-2": "gpt2", "aidungeon": "aid", "twdne": "twdne", "transformers": "hf"}
MAX_TEXT_BYTES = 4096
"""The scaffold's size limit; URL-encoded it stays under GitHub's 8 KB URL limit."""

BODY_PROMPT = ("{{body: 60-200 words. First say what these lines do, for a reader who does not program; "
               "link programmers' jargon to the glossary, e.g. [exception](glossary:exception). Then say what "
               "matters about them: what the article argues (cite it as §2 ¶13 and add it to cites), what the code "
               "shows that the article does not, or how other code on the site compares. See CONTRIBUTING.md.}}")


class ScaffoldError(ValueError):
    """The lines cannot be scaffolded (unknown file, lines outside it, a blank first line)."""


@dataclass(frozen=True)
class Scaffold:
    text: str
    """The note file's text (UTF-8, under :data:`MAX_TEXT_BYTES`)."""
    filename: str
    """Where it goes, relative to the project root: ``annotations/<codebase>/<name>.md``."""
    class_from: str
    """Where the class came from: ``sources.toml`` or ``note <id>``."""


def yaml_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_lines(lines: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*([1-9][0-9]*)(?:\s*-\s*([1-9][0-9]*))?\s*", str(lines))
    if not match:
        raise ScaffoldError(f"lines must be a line number (85) or a range (80-82), not {lines!r}")
    start, end = int(match.group(1)), int(match.group(2) or match.group(1))
    if end < start:
        raise ScaffoldError(f"the range {lines} ends before it starts")
    return start, end


def enclosing_symbol(path: str, text: str, start: int, end: int) -> str | None:
    """The dotted path of the innermost function or class containing lines start..end
    (``model.attn``, ``sample.sample_sequence.body``), checked with :func:`symbols.resolve`
    as the note checker will check it; None at module level or for non-Python files."""
    if not path.endswith(".py"):
        return None
    try:
        tree = symbols.parse_python(text)
    except SyntaxError:
        return None
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    chain: list[str] = []
    node: ast.AST = tree
    while True:
        inner = next((d for d in symbols._direct_defs(node) if isinstance(d, kinds)
                      and symbols._with_decorators(d) <= start and end <= (d.end_lineno or d.lineno)), None)
        if inner is None:
            break
        chain.append(inner.name)
        node = inner
    while chain:  # the checker must resolve it; step out until it does
        dotted = ".".join([symbols.module_name(path), *chain])
        span = symbols.resolve(path, text, dotted)
        if not isinstance(span, str) and span.contains(start, end):
            return dotted
        chain.pop()
    return None


def enclosing_note(notes: Iterable, codebase: str, path: str, start: int, end: int):
    """The existing note on the same file whose lines enclose these most tightly, or None."""
    around = [n for n in notes if n.codebase == codebase and n.path == path and n.start <= start and end <= n.end]
    return min(around, key=lambda n: (n.end - n.start, n.id), default=None)


def new_note(manifest: Manifest, sources: Mapping[tuple[str, str], SourceText], notes: Iterable,
             codebase: str, path: str, lines: str, note_id: str | None = None) -> Scaffold:
    """The scaffold of a note on ``lines`` of ``codebase``/``path`` (see the module doc).
    ``note_id`` fills in the id (and names the file); without it the id is a placeholder."""
    if codebase not in manifest.codebases:
        raise ScaffoldError(f"unknown codebase {codebase!r} (known: {', '.join(manifest.codebases)})")
    files = {f.path: f for f in manifest.codebases[codebase].files}
    if path not in files:
        raise ScaffoldError(f"{path!r} is not a presented file of {codebase} (files: {', '.join(files)})")
    start, end = parse_lines(lines)
    source = sources.get((codebase, path))
    if source is None or source.text is None:
        raise ScaffoldError(f"{codebase}/{path} is not extracted: run `make extract`")
    text_lines = source.lines
    if end > len(text_lines):
        raise ScaffoldError(f"lines {start}-{end} are outside {path} ({len(text_lines)} lines)")
    quote = text_lines[start - 1].strip()
    if not quote:
        raise ScaffoldError(f"line {start} of {path} is blank: start the note at its first line of code or text")
    if len(quote) > 400:
        raise ScaffoldError(f"line {start} of {path} is longer than a quote may be (400 characters)")
    symbol = enclosing_symbol(path, source.text, start, end)
    around = enclosing_note(notes, codebase, path, start, end)
    if around is not None:
        code_class, class_from = around.code_class.value, f"note {around.id}"
    else:
        code_class, class_from = files[path].code_class.value, "sources.toml"
    prefix = ID_PREFIXES.get(codebase, codebase)
    if note_id is not None and not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", note_id):
        raise ScaffoldError(f"id {note_id!r} must be a lower-case slug (a-z, 0-9, -), e.g. {prefix}-…")
    span = f"{start}" if start == end else f"{start}-{end}"
    front = [
        "---",
        f"id: {note_id}" if note_id else f"id: '{{{{id: a new lower-case slug starting {prefix}-, never used before}}}}'",
        f"codebase: {codebase}",
        f"path: {path}",
        f"lines: {span}",
        f"quote: {yaml_quote(quote)}",
        *([f"symbol: {symbol}"] if symbol else []),
        f"class: {code_class}  # from {class_from}: confirm it for these lines (CONTRIBUTING.md §3)",
        "title: '{{title: a short plain-text title, at most 120 characters}}'",
        "tags: []",
        "cites: []",
        "see_also: []",
        "authors: ['{{authors: your name as it should be cited}}']",
        "---",
        BODY_PROMPT,
    ]
    text = "\n".join(front) + "\n"
    name = note_id or f"new-{prefix}-{re.sub(r'[^a-z0-9]+', '-', PurePosixPath(path).stem.lower()).strip('-')}-{start}"
    scaffold = Scaffold(text, f"annotations/{codebase}/{name}.md", class_from)
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise ScaffoldError(f"the scaffold would be {len(text.encode())} bytes (limit {MAX_TEXT_BYTES})")
    return scaffold


def write_new_note(root: Path, scaffold: Scaffold) -> Path:
    """Write the scaffold to its file, refusing to overwrite anything (even a dangling
    symbolic link) and any path outside ``annotations/``. Returns the path written."""
    annotations = (root / "annotations").resolve()
    target = root / scaffold.filename
    if annotations not in target.parent.resolve().parents and target.parent.resolve() != annotations:
        raise ScaffoldError(f"{scaffold.filename} is outside annotations/")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        raise ScaffoldError(f"{scaffold.filename} already exists: not overwritten "
                            "(choose another id with --id, or edit that note)") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
        stream.write(scaffold.text)
    return target


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)
