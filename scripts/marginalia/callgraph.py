"""Calls between the presented files, computed from their source with :mod:`ast`.

Nothing runs: imports are read, not executed. A call is resolved when its target can be
named statically:

* ``f(...)`` — a definition in the same scope or file, or a name imported from a
  presented module (``from x import f``, ``from x import *``);
* ``module.f(...)`` — where ``module`` is an imported presented module;
* ``self.m(...)`` — a method of the enclosing class;
* ``v.m(...)`` — where ``v`` was assigned an instance of a known class in the same
  function (``g = GPT2Generator()``), or where exactly one presented function of the
  codebase is named ``m`` (``self.generator.generate``).

Calls made through values (``self(**inputs)``, a model passed as an argument) cannot be
resolved this way and are left out; the map page says so. Functions nested in functions
count as part of the function that encloses them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .manifest import CodeClass, Manifest, member_of
from .sources import SourceText
from .symbols import parse_python

# Method names too common to resolve by name alone.
GENERIC = {"__init__", "__call__", "forward", "run", "get", "set", "update", "append", "extend", "load", "save",
           "read", "write", "close", "open", "format", "join", "split", "strip", "replace", "items", "keys",
           "values", "copy", "to", "size", "view", "sum", "mean", "item",
           "reset", "apply", "map", "filter", "sort", "add", "pop", "index", "count", "find", "match", "search",
           "group", "sub", "lower", "upper", "parse", "process", "call", "contains", "merge", "dump"}


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
    name: str
    code_class: CodeClass
    tree: ast.Module
    functions: dict[str, Function] = field(default_factory=dict)  # qualname -> function
    nodes: dict[str, ast.AST] = field(default_factory=dict)  # qualname -> its definition
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # alias -> (module, name)
    star: list[str] = field(default_factory=list)


def _module_name(member: str) -> str:
    return member.removesuffix(".py").replace("/", ".")


def _collect(module: _Module) -> None:
    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = f"{prefix}{child.name}"
                module.functions[qualname] = Function(module.codebase, module.path, qualname, child.lineno,
                                                      child.end_lineno or child.lineno, module.code_class)
                module.nodes[qualname] = child
            elif isinstance(child, ast.ClassDef):
                module.classes[f"{prefix}{child.name}"] = child
                visit(child, f"{prefix}{child.name}.")
            elif not prefix and isinstance(child, (ast.If, ast.Try, ast.With)):
                visit(child, prefix)

    visit(module.tree, "")
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module.imports[alias.asname or alias.name.split(".")[0]] = (alias.name if alias.asname else alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name == "*":
                    module.star.append(node.module)
                else:
                    module.imports[alias.asname or alias.name] = (node.module, alias.name)


class CallGraph:
    """Functions and resolved calls of the presented Python files."""

    def __init__(self, manifest: Manifest, sources: Mapping[tuple[str, str], SourceText]):
        self.modules: list[_Module] = []
        for codebase, file in manifest.files():
            source = sources.get((codebase, file.path))
            if not file.path.endswith(".py") or source is None or source.text is None:
                continue
            try:
                tree = parse_python(source.text)
            except SyntaxError:
                continue
            module = _Module(codebase, file.path, _module_name(member_of(file)), file.code_class, tree)
            _collect(module)
            self.modules.append(module)
        self.calls: list[Call] = sorted(set(self._resolve_all()), key=lambda c: (c.caller.codebase, c.caller.path, c.line))

    # -- module look-up ------------------------------------------------------------
    def _find_module(self, name: str, near: _Module) -> _Module | None:
        exact = [m for m in self.modules if m.name == name]
        if not exact:  # scripts import siblings by bare name (`import model` in src/)
            exact = [m for m in self.modules if m.name.endswith("." + name) and m.codebase == near.codebase]
        if len(exact) > 1:
            same = [m for m in exact if m.codebase == near.codebase]
            exact = same or exact
        return exact[0] if len(exact) == 1 else None

    def _top_level(self, module: _Module, name: str) -> Function | None:
        if name in module.functions:
            return module.functions[name]
        if name in module.classes:
            return module.functions.get(f"{name}.__init__")
        return None

    def _imported(self, module: _Module, name: str) -> Function | None:
        if name in module.imports:
            source, attr = module.imports[name]
            if attr is not None:
                target = self._find_module(source, module)
                if target is not None:
                    return self._top_level(target, attr)
        for star in module.star:
            target = self._find_module(star, module)
            if target is not None and (found := self._top_level(target, name)):
                return found
        return None

    def _imported_module(self, module: _Module, name: str) -> _Module | None:
        if name not in module.imports:
            return None
        source, attr = module.imports[name]
        return self._find_module(f"{source}.{attr}" if attr else source, module)

    def _class_of_name(self, module: _Module, name: str) -> tuple[_Module, str] | None:
        if name in module.classes:
            return module, name
        if name in module.imports and module.imports[name][1]:
            target = self._find_module(module.imports[name][0], module)
            if target is not None and module.imports[name][1] in target.classes:
                return target, module.imports[name][1]
        for star in module.star:
            target = self._find_module(star, module)
            if target is not None and name in target.classes:
                return target, name
        return None

    def _method(self, module: _Module, cls: str, attr: str, depth: int = 0) -> Function | None:
        """``cls.attr``, looking through base classes that are presented too."""
        if f"{cls}.{attr}" in module.functions:
            return module.functions[f"{cls}.{attr}"]
        node = module.classes.get(cls)
        if node is None or depth > 5:
            return None
        for base in node.bases:
            if isinstance(base, ast.Name) and (found := self._class_of_name(module, base.id)):
                if (method := self._method(found[0], found[1], attr, depth + 1)) is not None:
                    return method
        return None

    # -- resolution ----------------------------------------------------------------
    def _resolve_all(self):
        by_name: dict[tuple[str, str], list[Function]] = defaultdict(list)
        for module in self.modules:
            for qualname, function in module.functions.items():
                if "." not in qualname or qualname.count(".") == 1:
                    by_name[(module.codebase, qualname.rsplit(".", 1)[-1])].append(function)
        for module in self.modules:
            for qualname, function in module.functions.items():
                node = module.nodes[qualname]
                klass = qualname.rsplit(".", 1)[0] if "." in qualname else None
                yield from self._calls_in(module, function, node, klass, by_name)

    def _calls_in(self, module, function, node, klass, by_name):
        local_defs = {n.name for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n is not node}
        instances: dict[str, tuple[_Module, str]] = {}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Call) and isinstance(sub.value.func, ast.Name):
                found = self._class_of_name(module, sub.value.func.id)
                if found:
                    for target in sub.targets:
                        if isinstance(target, ast.Name):
                            instances[target.id] = found
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Call):
                continue
            callee = self._callee(module, sub.func, klass, local_defs, instances, by_name)
            if callee is not None and callee != function:
                yield Call(function, callee, sub.lineno)

    def _callee(self, module, func, klass, local_defs, instances, by_name) -> Function | None:
        if isinstance(func, ast.Name):
            if func.id in local_defs:
                return None  # nested helper: part of this function
            return self._top_level(module, func.id) or self._imported(module, func.id)
        if not isinstance(func, ast.Attribute):
            return None
        value, attr = func.value, func.attr
        if isinstance(value, ast.Name):
            if value.id == "self" and klass is not None:
                return self._method(module, klass, attr)
            if value.id in instances:
                target, cls = instances[value.id]
                return self._method(target, cls, attr)
            imported = self._imported_module(module, value.id)
            if imported is not None:
                return self._top_level(imported, attr)
            found = self._class_of_name(module, value.id)
            if found:  # ClassName.method(...)
                return self._method(found[0], found[1], attr)
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
            imported = self._imported_module(module, value.value.id)
            if imported is not None and value.attr in imported.classes:  # module.Class.method(...)
                return self._method(imported, value.attr, attr)
        if attr in GENERIC or attr.startswith("_"):
            return None
        candidates = by_name.get((module.codebase, attr), [])
        return candidates[0] if len(candidates) == 1 else None

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
        functions = {f for m in self.modules for f in m.functions.values()}
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
