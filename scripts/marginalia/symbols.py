"""Dotted symbols (``model.attn``, ``sample.sample_sequence.body``) and their line spans.

Griffe reads modules statically (no import, so TensorFlow 1 code needs no TensorFlow) and
gives every module-level and class-level object its ``lineno``/``endlineno``. Griffe does
not index functions defined inside functions, which GPT-2's sampler relies on
(``sample_sequence.body``), so those are found with :mod:`ast` under the griffe object.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import griffe

from .sources import write_atomically

logging.getLogger("griffe").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Span:
    start: int
    end: int

    def contains(self, start: int, end: int) -> bool:
        return self.start <= start and end <= self.end


def module_name(path: str) -> str:
    return PurePosixPath(path).stem


def _with_decorators(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _direct_defs(node: ast.AST):
    """Definitions whose nearest enclosing definition is ``node`` (inside if/with/for too)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _DEFS):
            yield child
        else:
            yield from _direct_defs(child)


def _nested(tree: ast.Module, lineno: int, names: list[str]) -> Span | None:
    """Follow ``names`` through definitions nested in the definition on line ``lineno``."""
    # griffe numbers a decorated definition from its first decorator, ast from its `def`
    node = next((n for n in ast.walk(tree) if isinstance(n, _DEFS) and lineno in (n.lineno, _with_decorators(n))), None)
    for name in names:
        if node is None:
            return None
        node = next((d for d in _direct_defs(node) if d.name == name), None)
    if node is None:
        return None
    return Span(_with_decorators(node), node.end_lineno or node.lineno)


@lru_cache(maxsize=256)
def parse_python(text: str) -> ast.Module:
    """``ast.parse``, quiet about upstream code's invalid escapes and the like; cached, since
    the checker and the call graph read the same files. Raises SyntaxError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


@lru_cache(maxsize=256)
def _load(path: str, text: str) -> tuple[griffe.Module | None, ast.Module | None, str | None]:
    name = module_name(path)
    try:
        tree = parse_python(text)
    except SyntaxError as exc:
        return None, None, f"the file does not parse as Python ({exc.msg}, line {exc.lineno})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = griffe.visit(name, filepath=PurePosixPath(path), code=text)  # type: ignore[arg-type]
    except Exception as exc:  # griffe raises several types on odd code; report, don't crash
        return None, tree, f"griffe could not read the module ({exc})"
    return module, tree, None


def resolve(path: str, text: str, symbol: str) -> Span | str:
    """Return the span of ``symbol`` in the Python file, or a message saying why not."""
    if not path.endswith(".py"):
        return "symbols can only be given for Python files"
    module, tree, error = _load(path, text)
    if error and tree is None:
        return error
    expected = module_name(path)
    parts = symbol.split(".")
    if parts[0] != expected:
        return f"symbol must start with the module name {expected!r}"
    if len(parts) == 1:
        return Span(1, max(1, text.count("\n")))
    obj = module
    consumed = 1
    if obj is not None:
        for part in parts[1:]:
            members = obj.members if hasattr(obj, "members") else {}
            if part in members and not members[part].is_alias:
                obj = members[part]
                consumed += 1
            else:
                break
    if consumed == len(parts) and obj is not None and obj.lineno is not None:
        start = min([obj.lineno, *(d.lineno for d in getattr(obj, "decorators", []) if d.lineno)])
        return Span(start, obj.endlineno or obj.lineno)
    if obj is not None and obj is not module and obj.lineno is not None and tree is not None:
        span = _nested(tree, obj.lineno, parts[consumed:])
        if span is not None:
            return span
    known = sorted(module.members) if module is not None else []
    return f"symbol {symbol!r} not found (module-level names: {', '.join(known[:12])}{'…' if len(known) > 12 else ''})"


def definitions(path: str, text: str) -> list[list]:
    """Every function and class: [first line with decorators, last line, dotted path,
    parent index (-1 at module level), resolved span or None], in source order."""
    if not path.endswith(".py"):
        return []
    try:
        tree = parse_python(text)
    except SyntaxError:
        return []
    out: list[list] = []

    def visit(node: ast.AST, parent: int, prefix: list[str]) -> None:
        for child in _direct_defs(node):
            dotted = ".".join([module_name(path), *prefix, child.name])
            span = resolve(path, text, dotted)
            resolved = None if isinstance(span, str) else [span.start, span.end]
            out.append([_with_decorators(child), child.end_lineno or child.lineno, dotted, parent, resolved])
            visit(child, len(out) - 1, [*prefix, child.name])

    visit(tree, -1, [])
    return out


class SymbolCache:
    """:func:`resolve`, :func:`definitions` and other facts of a file's syntax, remembered on disk by file content
    (``<cache>/symbols/<sha256>.json``), so that a build whose files have not changed parses
    none of them for the checker or the "Suggest a note" data (parsing them with ast and
    griffe was most of the checker's time). The key holds this module's own text, griffe's
    version and Python's, so a change to any of them starts afresh. Without a directory it
    remembers in memory only."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory
        self._entries: dict[tuple[str, str], tuple[Path | None, dict]] = {}

    def resolve(self, path: str, text: str, symbol: str) -> Span | str:
        target, entry = self._entry(path, text)
        found = entry["resolved"].get(symbol)
        if found is None:
            span = resolve(path, text, symbol)
            found = entry["resolved"][symbol] = span if isinstance(span, str) else [span.start, span.end]
            self._save(target, entry)
        return found if isinstance(found, str) else Span(*found)

    def definitions(self, path: str, text: str) -> list[list]:
        target, entry = self._entry(path, text)
        if "definitions" not in entry:
            entry["definitions"] = definitions(path, text)
            self._save(target, entry)
        return entry["definitions"]

    def remember(self, path: str, text: str, name: str, compute: Callable[[], Any]) -> Any:
        """Another fact of the file's syntax (JSON data), computed once per content; the
        caller's code is not in the key, so ``name`` must change when ``compute`` does."""
        target, entry = self._entry(path, text)
        facts = entry.setdefault("facts", {})
        if name not in facts:
            facts[name] = compute()
            self._save(target, entry)
        return facts[name]

    def _entry(self, path: str, text: str) -> tuple[Path | None, dict]:
        found = self._entries.get((path, text))
        if found is not None:
            return found
        target = None
        entry: dict = {"resolved": {}}
        if self.directory is not None:
            key = hashlib.sha256("\0".join([_CODE_DIGEST, griffe_version(), sys.version.split()[0], path, text]).encode())
            target = self.directory / f"{key.hexdigest()}.json"
            try:
                entry = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass
        self._entries[(path, text)] = (target, entry)
        return target, entry

    @staticmethod
    def _save(target: Path | None, entry: dict) -> None:
        if target is not None:
            try:
                write_atomically(target, json.dumps(entry, sort_keys=True).encode())
            except OSError:
                pass  # a read-only cache only costs speed


_CODE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@lru_cache(maxsize=1)
def griffe_version() -> str:
    from importlib.metadata import version

    return version("griffe")
