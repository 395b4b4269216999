"""Calls between the presented files: the call sites of the cross-reference layer.

Nothing runs. The functions are read from each file with :mod:`ast`; the calls are the
uses that the cross-reference resolver (:mod:`xref`, jedi) resolved to a function or a
class of a presented file of the same codebase and that are followed by ``(``. The map's
diagrams and the code pages' links therefore come from one resolution and cannot
disagree. A call to a class counts as a call to its ``__init__``. Calls made through values
the resolver cannot follow (``self(**inputs)``, a model passed as an argument) are left out;
the map page says so. Calls into the presented code of a library, at the version a codebase
pinned (This Word Does Not Exist into transformers 2.8.0), come from the same rules that
link those names on the code pages (``annotations/library-docs.toml``). Functions nested in
functions count as part of the function that encloses them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .manifest import CodeClass, Manifest
from .sources import SourceText
from .symbols import parse_python
from .libdocs import LibraryDocs
from .xref import Definition, XrefIndex


@dataclass(frozen=True)
class Function:
    codebase: str
    path: str
    qualname: str
    start: int
    end: int
    code_class: CodeClass

    @property
    def label(self) -> str:
        return f"{PurePosixPath(self.path).name}: {self.qualname}"


@dataclass(frozen=True)
class Call:
    caller: Function
    callee: Function
    line: int


@dataclass
class _Module:
    codebase: str
    path: str
    code_class: CodeClass
    functions: dict[str, Function] = field(default_factory=dict)  # qualname -> function
    classes: dict[str, int] = field(default_factory=dict)  # qualname -> line of `class`


def _collect(module: _Module, tree: ast.Module) -> None:
    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = f"{prefix}{child.name}"
                module.functions[qualname] = Function(module.codebase, module.path, qualname, child.lineno,
                                                      child.end_lineno or child.lineno, module.code_class)
            elif isinstance(child, ast.ClassDef):
                module.classes[f"{prefix}{child.name}"] = child.lineno
                visit(child, f"{prefix}{child.name}.")
            elif not prefix and isinstance(child, (ast.If, ast.Try, ast.With)):
                visit(child, prefix)

    visit(tree, "")


class CallGraph:
    """Functions and resolved calls of the presented Python files."""

    def __init__(self, manifest: Manifest, sources: Mapping[tuple[str, str], SourceText], xref: XrefIndex,
                 docs: LibraryDocs | None = None):
        self.modules: dict[tuple[str, str], _Module] = {}
        self.pins: dict[tuple[str, str], str] = {}
        for codebase, file in manifest.files():
            source = sources.get((codebase, file.path))
            if not file.path.endswith(".py") or source is None or source.text is None:
                continue
            try:
                tree = parse_python(source.text)
            except SyntaxError:
                continue
            module = _Module(codebase, file.path, file.code_class)
            _collect(module, tree)
            self.modules[(codebase, file.path)] = module
            self.pins[(codebase, file.path)] = file.pin or next(iter(manifest.codebases[codebase].pins))
        calls = set(self._resolve_all(xref, docs or LibraryDocs()))
        self.calls: list[Call] = sorted(calls, key=lambda c: (c.caller.codebase, c.caller.path, c.line))

    def _callee(self, definition: Definition) -> Function | None:
        module = self.modules.get((definition.codebase, definition.path))
        if module is None:
            return None
        if definition.kind == "function":
            return next((f for f in module.functions.values() if f.start == definition.line), None)
        if definition.kind == "class":
            qualname = next((q for q, line in module.classes.items() if line == definition.line), None)
            return module.functions.get(f"{qualname}.__init__") if qualname else None
        return None

    def _caller(self, module: _Module, line: int) -> Function | None:
        """The outermost function (or method) whose lines hold ``line``: nested helpers are part of it."""
        enclosing = [f for f in module.functions.values() if f.start <= line <= f.end]
        if not enclosing:
            return None
        # methods are named Class.method: prefer the shortest qualname among the widest spans
        return min(enclosing, key=lambda f: (f.start, -f.end, f.qualname.count(".")))

    def _resolve_all(self, xref: XrefIndex, docs: LibraryDocs):
        for (codebase, path), refs in xref.files.items():
            module = self.modules.get((codebase, path))
            if module is None:
                continue
            sites = [(use.line, [xref.definitions[k] for k in use.targets if k in xref.definitions])
                     for use in refs.uses if use.call]
            # calls into the presented code of a library at the version the codebase pinned
            for use in refs.library:
                target = docs.target(codebase, self.pins[(codebase, path)], use, xref) if use.call else None
                if isinstance(target, Definition):
                    sites.append((use.line, [target]))
            for line, definitions in sites:
                callees = {self._callee(d) for d in definitions}
                callees.discard(None)
                caller = self._caller(module, line)
                if caller is None or len(callees) != 1:
                    continue  # module-level code, or several possible targets: not drawn
                callee = callees.pop()
                if callee != caller and not (callee.path == caller.path and caller.start <= callee.start <= caller.end):
                    yield Call(caller, callee, line)

    # -- queries -------------------------------------------------------------------
    def crossing(self) -> list[Call]:
        """The calls a reader follows from application code into the model: calls between
        files whose caller is reachable from application code and whose callee is, or
        leads to, boundary or model code."""
        forward: dict[Function, set[Function]] = defaultdict(set)
        backward: dict[Function, set[Function]] = defaultdict(set)
        for call in self.calls:
            forward[call.caller].add(call.callee)
            backward[call.callee].add(call.caller)
        functions = {f for m in self.modules.values() for f in m.functions.values()}
        from_application = _closure({f for f in functions if f.code_class is CodeClass.application}, forward)
        to_core = _closure({f for f in functions if f.code_class is not CodeClass.application}, backward)
        return [call for call in self.calls
                if (call.caller.codebase, call.caller.path) != (call.callee.codebase, call.callee.path)
                and call.caller in from_application and call.callee in to_core]


def _closure(start: set[Function], edges: Mapping[Function, set[Function]]) -> set[Function]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
