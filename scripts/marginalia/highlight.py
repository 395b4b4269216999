"""Pygments highlighting, one HTML fragment per source line.

Pygments' token classes (``k``, ``nf``, ``s2`` …) are the ones Material's stylesheet colours
through its ``--md-code-hl-*`` variables, so light and dark schemes work unchanged. Tokens
that span lines (docstrings) are cut at each newline so that every line is self-contained
and can carry its own anchor.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from html import escape
from pathlib import Path, PurePosixPath

from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

from .sources import write_atomically


def lexer_for(path: str) -> Lexer:
    try:
        return get_lexer_for_filename(path, stripnl=False, stripall=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


def _css_class(token: _TokenType) -> str:
    while token not in STANDARD_TYPES:
        token = token.parent
    return STANDARD_TYPES[token]


def line_count(text: str) -> int:
    """Lines as editors and GitHub number them: only ``\\n`` ends a line."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


@lru_cache(maxsize=128)
def highlight_lines(text: str, path: str) -> tuple[str, ...]:
    """Highlighted HTML for each line of ``text`` (without the newline). Cached: a preview
    server re-renders pages after every edit, but the upstream files never change."""
    lines: list[list[str]] = [[]]
    for token, value in lexer_for(path).get_tokens(text):
        css = _css_class(token)
        for index, part in enumerate(value.split("\n")):
            if index:
                lines.append([])
            if not part:
                continue
            if css in ("", "w"):
                lines[-1].append(escape(part, quote=False))
            else:
                lines[-1].append(f'<span class="{css}">{escape(part, quote=False)}</span>')
    count = line_count(text)
    out = ["".join(parts) for parts in lines[:count]]
    out.extend("" for _ in range(count - len(out)))
    return tuple(out)


class HighlightCache:
    """Highlighted lines kept on disk by content, so that a build from a warm cache skips
    Pygments for every file that has not changed (it is most of a cold build's work)."""

    FORMAT = 1  # bump when the HTML produced by highlight_lines changes

    def __init__(self, directory: Path):
        self.directory = directory
        self._read: dict[tuple[str, str], tuple[str, ...]] = {}  # a note page asks for its file again

    def __call__(self, text: str, path: str) -> tuple[str, ...]:
        lines = self._read.get((path, text))
        if lines is None:
            lines = self._read[(path, text)] = self._load(text, path)
        return lines

    def _load(self, text: str, path: str) -> tuple[str, ...]:
        import pygments

        # Keyed by what picks the lexer (the file's name, or "any .py"), not by the lexer:
        # a warm build then asks Pygments nothing, not even for a lexer.
        kind = "*.py" if path.endswith(".py") else PurePosixPath(path).name
        key = hashlib.sha256(f"{self.FORMAT}\0{pygments.__version__}\0{kind}\0".encode() + text.encode()).hexdigest()
        target = self.directory / f"{key}.json"
        try:
            return tuple(json.loads(target.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
        lines = highlight_lines(text, path)
        try:
            write_atomically(target, json.dumps(list(lines)).encode())
        except OSError:
            pass  # a read-only cache only costs speed
        return lines
