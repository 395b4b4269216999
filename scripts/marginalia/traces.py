"""What ran: the committed measurements of ``make trace`` (``traces/*.json``), loaded and checked.

``make trace`` (scripts/trace/, in its own venv) runs the pinned files on a tiny random model
and writes one JSON file per run. This module is the site's side of that: it reads those files
into small frozen dataclasses and refuses any run that no longer describes the pinned code.
A file entry carries the sha256 of the file that was run; if ``sources.toml`` now pins other
bytes, loading stops with an error naming the trace, the file and both hashes (run
``make trace`` again). Standard library only, plus the manifest.

Counts are keyed by the first line of a statement (decorators included, as in ``ast``):

- ``statements[line]``: times control entered the statement from outside its own lines
  (0: never ran; a line that is not the first line of a statement has no key);
- ``calls[line]``: calls of the function, lambda or class body whose code starts there;
- ``ops[line]`` (TensorFlow runs): executions, summed over every ``Session.run`` of the run,
  of the graph ops that this statement created (the innermost presented line on the op's
  creation stack); ``ops_within[line]``: the same for every presented line on that stack, so a
  call such as ``block(...)`` counts the ops built in the functions it called.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .manifest import Manifest
from .problems import InputError, Problem
from .symbols import parse_python

SCHEMA = 1
TRACES_DIR = "traces"
STATUSES = ("finished", "input-ended", "failed")
ENGINES = ("tensorflow", "pytorch")


@dataclass(frozen=True)
class Place:
    """A line of a presented file."""

    codebase: str
    path: str
    line: int


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``finished``; ``input-ended`` (the scripted input ran out at an
    ``input()`` call, which is how interactive programs stop here); or ``failed``, with the
    exception and the innermost presented line it passed through."""

    status: str
    exception: str | None = None
    message: str | None = None
    place: Place | None = None


@dataclass(frozen=True)
class SessionRun:
    """One ``Session.run`` call of a TensorFlow run: where it was called, how many op
    executions it asked of TensorFlow's runtime."""

    place: Place | None
    ops: int


@dataclass(frozen=True)
class FileCounts:
    codebase: str
    path: str
    sha256: str
    code_class: str                       # model, application or boundary
    statements: Mapping[int, int]         # statement first line -> entries (0 included)
    calls: Mapping[int, int]              # code first line -> calls
    ops: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    ops_within: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def entries(self) -> int:
        """Statement entries in the whole file."""
        return sum(self.statements.values())

    @property
    def entered(self) -> int:
        """How many of the file's statements ran at least once."""
        return sum(1 for n in self.statements.values() if n)

    @property
    def op_executions(self) -> int:
        return sum(self.ops.values())


@dataclass(frozen=True)
class Run:
    id: str
    title: str
    codebase: str
    entry: str                            # the presented file the run starts from
    engine: str                           # tensorflow or pytorch
    settings: Mapping[str, object]        # seed, lengths, top_k, scripted input, tiny model sizes
    environment: Mapping[str, str]        # versions: python, tensorflow or torch + transformers, numpy
    outcome: Outcome
    generations: int                      # sess.run / generate calls that produced tokens
    tokens: int                           # tokens generated, all samples together
    files: Mapping[tuple[str, str], FileCounts]
    session_runs: tuple[SessionRun, ...] = ()
    ops_unattributed: int = 0             # executor bookkeeping (_SOURCE, _retval_…, _arg_…)
    source: Path | None = None            # the JSON file it was read from

    def file(self, codebase: str, path: str) -> FileCounts | None:
        return self.files.get((codebase, path))

    @property
    def op_executions(self) -> int:
        """Every op execution of every Session.run (0 for PyTorch runs)."""
        return sum(r.ops for r in self.session_runs)

    def entries_by_class(self) -> dict[str, int]:
        """Statement entries per class of file (model, application, boundary)."""
        totals = {"model": 0, "application": 0, "boundary": 0}
        for counts in self.files.values():
            totals[counts.code_class] += counts.entries
        return totals


# --------------------------------------------------------------------------- loading --

class _Bad(Exception):
    pass


def _need(data: Mapping, name: str, kind, where: str):
    if name not in data:
        raise _Bad(f"{where}: missing {name!r}")
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"{where}: {name!r} should be {getattr(kind, '__name__', kind)}, not {type(value).__name__}")
    return value


def _line_map(data: Mapping, name: str, where: str) -> Mapping[int, int]:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise _Bad(f"{where}: {name!r} should map line numbers to counts")
    out = {}
    for key, value in raw.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) > 0):
            raise _Bad(f"{where}: {name!r} has {key!r}, not a line number")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _Bad(f"{where}: {name}[{key}] should be a count, not {value!r}")
        out[int(key)] = value
    return MappingProxyType(dict(sorted(out.items())))


def _place(data, where: str) -> Place | None:
    if not isinstance(data, dict) or "codebase" not in data:
        return None
    return Place(_need(data, "codebase", str, where), _need(data, "path", str, where), _need(data, "line", int, where))


def parse_run(text: str, manifest: Manifest, *, filename: str = "traces/run.json") -> Run:
    """One run from JSON text; raise :class:`InputError` if it is malformed or stale."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError([Problem(filename, exc.lineno, f"not valid JSON: {exc.msg}")]) from None
    try:
        if not isinstance(data, dict):
            raise _Bad("a trace is a JSON object")
        if data.get("schema") != SCHEMA:
            raise _Bad(f"schema {data.get('schema')!r} is not {SCHEMA}; run `make trace`")
        engine = _need(data, "engine", str, "run")
        if engine not in ENGINES:
            raise _Bad(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
        outcome_data = _need(data, "outcome", dict, "run")
        status = _need(outcome_data, "status", str, "outcome")
        if status not in STATUSES:
            raise _Bad(f"outcome: status {status!r} is not one of {', '.join(STATUSES)}")
        outcome = Outcome(status, outcome_data.get("exception"), outcome_data.get("message"),
                          _place(outcome_data, "outcome"))
        files: dict[tuple[str, str], FileCounts] = {}
        for index, entry in enumerate(_need(data, "files", list, "run")):
            where = f"files[{index}]"
            if not isinstance(entry, dict):
                raise _Bad(f"{where}: should be an object")
            counts = FileCounts(
                _need(entry, "codebase", str, where), _need(entry, "path", str, where),
                _need(entry, "sha256", str, where), _need(entry, "class", str, where),
                _line_map(entry, "statements", where), _line_map(entry, "calls", where),
                _line_map(entry, "ops", where), _line_map(entry, "ops_within", where))
            files[(counts.codebase, counts.path)] = counts
        session_runs = tuple(SessionRun(_place(r, "session_runs"), _need(r, "ops", int, "session_runs"))
                             for r in data.get("session_runs", []))
        run = Run(
            id=_need(data, "id", str, "run"), title=_need(data, "title", str, "run"),
            codebase=_need(data, "codebase", str, "run"), entry=_need(data, "entry", str, "run"), engine=engine,
            settings=MappingProxyType(_need(data, "settings", dict, "run")),
            environment=MappingProxyType(_need(data, "environment", dict, "run")), outcome=outcome,
            generations=_need(data, "generations", int, "run"), tokens=_need(data, "tokens", int, "run"),
            files=MappingProxyType(files), session_runs=session_runs,
            ops_unattributed=data.get("ops_unattributed", 0), source=Path(filename))
    except _Bad as exc:
        raise InputError([Problem(filename, None, f"malformed trace: {exc}")]) from None
    _check_pins(run, manifest, filename)
    return run


def _check_pins(run: Run, manifest: Manifest, filename: str) -> None:
    """Refuse a run that measured other bytes than the ones sources.toml pins now."""
    pinned = {(cb, f.path): f for cb, f in manifest.files()}
    problems = []
    for (codebase, path), counts in run.files.items():
        file = pinned.get((codebase, path))
        if file is None:
            problems.append(Problem(filename, None, f"{codebase}/{path} is not a presented file in sources.toml"))
        elif file.sha256 != counts.sha256:
            problems.append(Problem(filename, None, (
                f"{codebase}/{path} was traced at sha256 {counts.sha256}, but sources.toml pins "
                f"{file.sha256}: these counts describe other code; run `make trace` again")))
    if problems:
        raise InputError(problems)


def load_run(path: Path, manifest: Manifest, *, root: Path | None = None) -> Run:
    name = str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(name, None, f"cannot read the trace: {exc.strerror}")]) from None
    return parse_run(text, manifest, filename=name)


def load_traces(directory: Path, manifest: Manifest, *, root: Path | None = None) -> dict[str, Run]:
    """Every run in ``directory`` (``traces/``), by id in sorted order; an absent directory
    gives no runs. Raises :class:`InputError` listing every malformed or stale run."""
    runs: dict[str, Run] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            run = load_run(path, manifest, root=root)
        except InputError as error:
            problems += error.problems
            continue
        if run.id != path.stem:
            problems.append(Problem(str(path.name), None, f"holds run {run.id!r}; the file must be named {run.id}.json"))
            continue
        runs[run.id] = run
    if problems:
        raise InputError(problems)
    return runs


def load_project_traces(root: Path, manifest: Manifest) -> dict[str, Run]:
    """The runs committed in ``<root>/traces``."""
    return load_traces(root / TRACES_DIR, manifest, root=root)


def runs_of_file(runs: Mapping[str, Run] | Iterable[Run], codebase: str, path: str) -> list[tuple[Run, FileCounts]]:
    """The runs that loaded a file, with its counts in each (for a run selector on a code page)."""
    values = runs.values() if isinstance(runs, Mapping) else runs
    return [(run, counts) for run in values if (counts := run.file(codebase, path)) is not None]


def _statements(body: list[ast.stmt], in_function: bool = False):
    """Every statement that runs, outer before inner: statement lists are the only place
    statements live (bodies, ``else``, ``finally``, handlers, match cases), so expressions,
    most of a tree, are never visited. A function's docstring and ``global``/``nonlocal``
    never execute, and make trace never counts them."""
    for index, node in enumerate(body):
        if in_function and index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            continue
        if not isinstance(node, (ast.Global, ast.Nonlocal)):
            yield node
        function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                yield from _statements(inner, function and name == "body")
        for handler in getattr(node, "handlers", ()):
            yield from _statements(handler.body)
        for case in getattr(node, "cases", ()):
            yield from _statements(case.body)


def statement_lines(source: str) -> dict[int, int]:
    """Which count a line shows: line -> the first line of the statement it belongs to.

    A simple statement owns all its lines (a call written over three lines shows one count on
    each); a compound statement (``def``, ``for``, ``if``, ``with``…) owns its header lines only,
    from its first decorator to the line before its body, and its body's lines belong to the
    statements in it. Lines that are no statement's (blank lines, comments, ``else:``) are
    absent. The keys match ``FileCounts.statements``."""
    owner: dict[int, int] = {}
    for node in _statements(parse_python(source).body):
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            last = max(first, body[0].lineno - 1) if body[0].lineno > node.lineno else node.lineno
        else:
            last = node.end_lineno
        for line in range(first, last + 1):
            if owner.get(line, 0) < first:  # the innermost statement owns a line
                owner[line] = first
    return dict(sorted(owner.items()))
