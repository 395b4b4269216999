"""Which statement a line belongs to, for counting statements rather than line events.

A line event names a line, not a statement, and line events over-count: a ``with`` line is
reported again when its block ends, a call written over three lines revisits its first line, a
``for`` header is reported once per iteration and once more when the loop ends. We count a
statement as *entered* when control arrives in it from outside its own lines. For that, every
line of a file is mapped to the chain of statements that contain it, outermost first, within
one scope (the module, a class body or a function body: a ``def`` statement belongs to the
scope around it, its body to its own). Standard library only: it runs inside the trace venv.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field

MODULE = 0  # the scope key of a module's own statements; a def's or class's is its first line


@dataclass(frozen=True)
class Statement:
    first: int   # first line, decorators included: the key the counts are stored under
    last: int

    def holds(self, line: int | None) -> bool:
        return line is not None and self.first <= line <= self.last


@dataclass
class StatementMap:
    """``chains[scope][line]``: the statements of ``scope`` containing ``line``, outermost first."""

    statements: list[Statement] = field(default_factory=list)
    chains: dict[int, dict[int, tuple[Statement, ...]]] = field(default_factory=dict)

    def innermost(self, line: int) -> int | None:
        """The key of the innermost statement holding ``line`` in any scope (for op lines)."""
        best = None
        for lines in self.chains.values():
            chain = lines.get(line)
            if chain and (best is None or chain[-1].last - chain[-1].first < best.last - best.first):
                best = chain[-1]
        return best.first if best else None


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _is_function_docstring(node: ast.stmt, parent: ast.AST) -> bool:
    # A function's docstring is never executed (CPython stores it in the code object); a
    # module's or class's is, as an assignment to __doc__.
    return (isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and parent.body[0] is node
            and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _child_bodies(node: ast.AST):
    for name in ("body", "orelse", "finalbody"):
        block = getattr(node, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for holder in getattr(node, "handlers", []) + getattr(node, "cases", []):
        yield holder.body


def statement_map(source: str) -> StatementMap:
    with warnings.catch_warnings():  # upstream regexes in plain strings ("\?") warn
        warnings.simplefilter("ignore")
        tree = ast.parse(source)
    result = StatementMap()

    def mark(lines: dict, line: int, outer: tuple[Statement, ...], statement: Statement) -> None:
        here = lines.get(line, outer)
        # two statements on one line (`a = 1; b = 2`) are both entered there
        same_line_sibling = len(here) == len(outer) + 1 and here[:-1] == outer
        lines[line] = here + (statement,) if same_line_sibling else outer + (statement,)

    def visit(block: list[ast.stmt], parent: ast.AST, scope: int, outer: tuple[Statement, ...]) -> None:
        lines = result.chains.setdefault(scope, {})
        for node in block:
            if isinstance(node, (ast.Global, ast.Nonlocal)) or _is_function_docstring(node, parent):
                continue  # compiled to no instructions: never reported, never entered
            statement = Statement(_first_line(node), node.end_lineno)
            result.statements.append(statement)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # decorators, the signature and its defaults run in the enclosing scope; the
                # body runs in its own frame, a scope keyed by the def's first line
                body_start = node.body[0].lineno
                header_end = body_start - 1 if body_start > node.lineno else node.lineno
                for line in range(statement.first, header_end + 1):
                    mark(lines, line, outer, statement)
                visit(node.body, node, statement.first, ())
                continue
            for line in range(statement.first, statement.last + 1):
                mark(lines, line, outer, statement)
            for body in _child_bodies(node):
                visit(body, node, scope, outer + (statement,))

    visit(tree.body, tree, MODULE, ())
    result.statements.sort(key=lambda s: (s.first, s.last))
    return result
