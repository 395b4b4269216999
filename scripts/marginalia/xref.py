"""Relation layer: cross-references. Every name in the presented Python files, resolved.

A static resolver (jedi) answers "where is this defined?" for each name token, with
imports followed and simple inference (``enc = encoder.get_encoder(...)`` makes
``enc.encode`` a use of ``Encoder.encode``). One resolver project per pinned version of a
codebase, holding only that version's presented files at their paths inside the pin, so
that OpenAI's ``model.model`` can never resolve into AI Dungeon's copy. A use is linked
only when every definition jedi gives lies in a presented file of that project: a wrong
link is worse than none.

Two more kinds of reference are computed beside jedi's:

* **hyper-parameters** (``hparams.n_embd``): no resolver can see them, because
  ``HParams`` sets attributes from keyword arguments. An explicit rule links the
  attribute to the keyword argument of the same name in ``default_hparams`` when the
  object is named ``hparams`` and the project defines ``default_hparams`` returning
  ``HParams(...)``;
* **library names** (``tf.matmul``, ``np.sqrt``, ``re.compile``): read from the import
  statements with :mod:`ast`, as qualified names (``tensorflow.matmul``). Where they are
  documented is decided later, by the rules in ``annotations/library-docs.toml``.

Columns are counted in characters, as jedi and :mod:`tokenize` count them (:mod:`ast`
counts UTF-8 bytes; ``encoder.py`` has non-ASCII characters). The result is plain data,
cached on disk by the content of each project's files.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import keyword
import shutil
import sys
import tempfile
import tokenize
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from .manifest import Manifest, member_of
from .sources import SourceText, write_atomically

FORMAT = 2  # bump when the data computed here changes

# Libraries named in the surface counts; anything else is counted under its own name.
LIBRARY_LABELS = {"tensorflow": "TensorFlow", "numpy": "NumPy", "torch": "PyTorch", "transformers": "transformers",
                  "stdlib": "Python standard library"}


@dataclass(frozen=True)
class Definition:
    """Something a name can be resolved to, in a presented file."""

    codebase: str
    path: str
    line: int
    column: int
    name: str
    kind: str  # function | class | module | param | statement | instance | keyword argument
    signature: str = ""
    doc: str = ""

    @property
    def key(self) -> str:
        return f"{self.codebase}/{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Use:
    """A name token that resolves to one or more definitions (several reaching definitions)."""

    line: int
    column: int
    name: str
    targets: tuple[str, ...]  # Definition keys
    call: bool = False


@dataclass(frozen=True)
class LibraryUse:
    line: int
    column: int
    name: str  # the token linked: the last part of the dotted name
    qualname: str  # tensorflow.nn.softmax
    library: str  # tensorflow | numpy | torch | transformers | stdlib | <top-level package>
    call: bool = False


@dataclass(frozen=True)
class FileRefs:
    codebase: str
    path: str
    uses: tuple[Use, ...] = ()
    library: tuple[LibraryUse, ...] = ()
    error: str | None = None


@dataclass
class XrefIndex:
    """All cross-references of the presented Python files, and the reverse index."""

    files: dict[tuple[str, str], FileRefs] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)
    exports: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(codebase, pin, "module.name") -> key of a top-level function or class of a presented
    file, by the dotted name other code imports it under (``transformers.modeling_utils.top_k_top_p_filtering``)."""
    seconds: float = 0.0  # resolver time in this build (0 when everything came from the cache)

    def __post_init__(self) -> None:
        self._uses: dict[str, list[tuple[str, str, int]]] | None = None

    def uses_of(self, key: str) -> list[tuple[str, str, int]]:
        """(codebase, path, line) of every use of a definition, built from the look-ups."""
        if self._uses is None:
            index: dict[str, set[tuple[str, str, int]]] = defaultdict(set)
            for refs in self.files.values():
                for use in refs.uses:
                    for target in use.targets:
                        index[target].add((refs.codebase, refs.path, use.line))
            self._uses = {k: sorted(v) for k, v in index.items()}
        return self._uses.get(key, [])

    def errors(self) -> list[str]:
        return [f"{refs.codebase}/{refs.path}: no cross-references ({refs.error})"
                for refs in self.files.values() if refs.error]


# ---------------------------------------------------------------------- projects --

@dataclass(frozen=True)
class _Member:
    path: str  # the presented path (page)
    member: str  # the path inside the pin (what imports see)
    text: str
    sha256: str


def _projects(manifest: Manifest, sources: Mapping[tuple[str, str], SourceText]) -> dict[tuple[str, str], list[_Member]]:
    """Presented Python files, grouped by (codebase, pin)."""
    groups: dict[tuple[str, str], list[_Member]] = defaultdict(list)
    for codebase_id, codebase in manifest.codebases.items():
        for file in codebase.files:
            source = sources.get((codebase_id, file.path))
            if not file.path.endswith(".py") or source is None or source.text is None:
                continue
            pin = file.pin or next(iter(codebase.pins))
            groups[(codebase_id, pin)].append(_Member(file.path, member_of(file), source.text, file.sha256))
    return dict(groups)


def _cache_key(codebase: str, pin: str, members: list[_Member]) -> str:
    import jedi

    digest = hashlib.sha256(f"{FORMAT}\0{jedi.__version__}\0{sys.version_info[:2]}\0{codebase}\0{pin}".encode())
    for member in sorted(members, key=lambda m: m.member):
        digest.update(f"\0{member.path}\0{member.member}\0{member.sha256}".encode())
    return digest.hexdigest()


def build_index(manifest: Manifest, sources: Mapping[tuple[str, str], SourceText], cache_dir: Path | None,
                workers: int | None = None) -> XrefIndex:
    """Resolve every presented Python file (or read the result from ``cache_dir``). Projects
    not in the cache are resolved in parallel, one process each (jedi is single-threaded)."""
    import os
    import time
    from concurrent.futures import ProcessPoolExecutor

    index = XrefIndex()
    results: dict[tuple[str, str], dict] = {}
    todo: list[tuple[tuple[str, str], list[_Member], Path | None]] = []
    for (codebase, pin), members in sorted(_projects(manifest, sources).items()):
        target = cache_dir / f"{_cache_key(codebase, pin, members)}.json" if cache_dir else None
        try:
            results[(codebase, pin)] = json.loads(target.read_text(encoding="utf-8")) if target else None
        except (OSError, ValueError):
            results[(codebase, pin)] = None
        if results[(codebase, pin)] is None:
            todo.append(((codebase, pin), members, target))
    if todo:
        started = time.perf_counter()
        workers = min(len(todo), workers or os.cpu_count() or 1)
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                computed = list(pool.map(_resolve_project, [k[0] for k, _, _ in todo], [k[1] for k, _, _ in todo],
                                         [m for _, m, _ in todo]))
        else:
            computed = [_resolve_project(k[0], k[1], m) for k, m, _ in todo]
        index.seconds = time.perf_counter() - started
        for (key, _, target), data in zip(todo, computed):
            results[key] = data
            if target is not None and not _transient_errors(data):
                try:
                    write_atomically(target, json.dumps(data, sort_keys=True).encode())
                except OSError:
                    pass  # a read-only cache only costs time
    for key in sorted(results):
        _load(index, results[key])
    return index


def _transient_errors(data: dict) -> bool:
    """A resolver crash other than the file's own syntax error is not kept: the next build
    tries again rather than serving a page without links from the cache."""
    return any(f["error"] and not f["error"].startswith("SyntaxError") for f in data["files"])


def _load(index: XrefIndex, data: dict) -> None:
    for qualname, key in data.get("exports", {}).items():
        index.exports[(data["codebase"], data["pin"], qualname)] = key
    for raw in data["definitions"]:
        definition = Definition(**raw)
        index.definitions[definition.key] = definition
    for raw in data["files"]:
        index.files[(raw["codebase"], raw["path"])] = FileRefs(
            raw["codebase"], raw["path"],
            tuple(Use(u["line"], u["column"], u["name"], tuple(u["targets"]), u["call"]) for u in raw["uses"]),
            tuple(LibraryUse(**u) for u in raw["library"]), raw["error"])


# --------------------------------------------------------------------- resolving --

def _resolve_project(codebase: str, pin: str, members: list[_Member]) -> dict:
    """Resolve every name of one project's files with jedi, in a private copy of the tree."""
    import jedi

    with tempfile.TemporaryDirectory(prefix="marginalia-xref-") as tmp:
        root = Path(tmp).resolve() / "tree"
        # A private parser cache: parso writes its pickles in place, so two resolver processes
        # sharing ~/.cache/jedi can read each other's half-written file (EOFError: a fresh CI
        # machine lost every link of one page that way). Kept outside the tree, deleted with it.
        shared_cache, jedi.settings.cache_directory = jedi.settings.cache_directory, str(Path(tmp).resolve() / "parso")
        try:
            return _resolve_tree(codebase, pin, members, root)
        finally:
            jedi.settings.cache_directory = shared_cache


def _resolve_tree(codebase: str, pin: str, members: list[_Member], root: Path) -> dict:
    """Write the files under ``root`` and resolve them as one jedi project."""
    import jedi

    for member in members:
        target = root / member.member
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(member.text, encoding="utf-8")
    # Scripts import their siblings by bare name (`import model` in src/): every folder
    # that holds a presented file is on the project's path, and nothing outside it.
    folders = sorted({str((root / m.member).parent) for m in members} | {str(root)})
    project = jedi.Project(path=str(root), added_sys_path=folders, smart_sys_path=False,
                           load_unsafe_extensions=False)
    by_member = {m.member: m for m in members}
    resolver = _Resolver(codebase, root, by_member, project)
    files = []
    for member in sorted(members, key=lambda m: m.path):
        try:
            uses = resolver.resolve_file(member)
            error = None
        except Exception as exc:  # a resolver crash leaves that page without links, never fails the build
            uses, error = [], f"{type(exc).__name__}: {exc}"
        try:
            library = _library_uses(member.text, set(by_member))
        except SyntaxError as exc:
            library, error = [], error or f"SyntaxError: {exc.msg} (line {exc.lineno})"
        linked = {(u.line, u.column) for u in uses}
        library = [u for u in library if (u.line, u.column) not in linked]
        files.append({"codebase": codebase, "path": member.path, "error": error,
                      "uses": [asdict(u) for u in uses], "library": [asdict(u) for u in library]})
    hparams = _hyperparameter_rule(codebase, members, files)
    exports = _exports(codebase, members)
    definitions = {**{d.key: d for d in exports.values()}, **resolver.definitions, **hparams}
    return {"codebase": codebase, "pin": pin, "definitions": [asdict(d) for _, d in sorted(definitions.items())],
            "files": files, "exports": {name: d.key for name, d in sorted(exports.items())}}


def _exports(codebase: str, members: list[_Member]) -> dict[str, Definition]:
    """Top-level functions and classes of each file, by their importable dotted name."""
    out = {}
    for member in members:
        try:
            tree = ast.parse(member.text)
        except SyntaxError:
            continue
        module = PurePosixPath(member.member).with_suffix("").as_posix().replace("/", ".")
        lines = member.text.split("\n")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                text = lines[node.lineno - 1]
                column = text.find(node.name, text.find("def" if kind == "function" else "class"))
                doc = (ast.get_docstring(node) or "").strip().split("\n")[0]
                signature = text.strip().rstrip(":")
                out[f"{module}.{node.name}"] = Definition(codebase, member.path, node.lineno, column, node.name, kind,
                                                         signature[:200], doc[:200])
    return out


class _Resolver:
    def __init__(self, codebase: str, root: Path, by_member: dict[str, _Member], project) -> None:
        self.codebase = codebase
        self.root = root
        self.by_member = by_member
        self.project = project
        self.definitions: dict[str, Definition] = {}

    def _presented(self, name) -> str | None:
        """The presented path of the file a jedi name lives in, or None if it is elsewhere."""
        if name.module_path is None or name.line is None:
            return None
        try:
            member = PurePosixPath(Path(name.module_path).resolve().relative_to(self.root)).as_posix()
        except ValueError:
            return None
        found = self.by_member.get(member)
        return found.path if found else None

    def _definition(self, name, path: str, lines: list[str]) -> Definition:
        kind = name.type
        signature, doc = "", ""
        if kind in ("function", "class"):
            try:
                signatures = name.get_signatures()
                signature = ("class " if kind == "class" else "def ") + signatures[0].to_string() if signatures else ""
            except Exception:
                signature = ""
            try:
                doc = next((line.strip() for line in name.docstring(raw=True).splitlines() if line.strip()), "")
            except Exception:
                doc = ""
        elif kind == "module":
            try:
                doc = next((line.strip() for line in name.docstring(raw=True).splitlines() if line.strip()), "")
            except Exception:
                doc = ""
        elif 1 <= name.line <= len(lines):
            signature = lines[name.line - 1].strip()
        definition = Definition(self.codebase, path, name.line, name.column, name.name, kind, signature[:200], doc[:200])
        self.definitions.setdefault(definition.key, definition)
        return definition

    def resolve_file(self, member: _Member) -> list[Use]:
        import jedi

        script = jedi.Script(member.text, path=str(self.root / member.member), project=self.project)
        _index_positions(script._module_node)
        lines = member.text.split("\n")
        own_lines = {m.path: m.text.split("\n") for m in self.by_member.values()}
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(member.text).readline)
                  if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]
        uses: list[Use] = []
        for index, token in enumerate(tokens):
            if token.type != tokenize.NAME or keyword.iskeyword(token.string):
                continue
            line, column = token.start
            names = script.goto(line, column, follow_imports=True)
            if not names:
                continue
            places = [self._presented(n) for n in names]
            if any(p is None for p in places):
                continue  # something outside the presented files, or unknown: no link
            definitions = [self._definition(n, p, own_lines[p]) for n, p in zip(names, places)]
            if any(d.path == member.path and d.line == line and d.column == column for d in definitions):
                continue  # the definition itself
            following = tokens[index + 1].string if index + 1 < len(tokens) else ""
            keys = tuple(sorted({d.key for d in definitions}, key=lambda k: (k.split(":")[0], int(k.split(":")[1]))))
            uses.append(Use(line, column, token.string, keys, following == "("))
        return uses


_INDEXED: dict[type, type] = {}  # parso node class -> its subclass with a fast position look-up


def _index_positions(module) -> None:
    """Make ``get_name_of_position`` a binary search. jedi asks it once per look-up, and
    parso's version walks the whole tree each time: for every name of a 3,000-line file
    that is quadratic, and was more than half of the resolver's time."""
    base = type(module)
    if base not in _INDEXED:
        def get_name_of_position(self, position):
            try:
                leaf = self.get_leaf_for_position(position)
            except ValueError:
                return None
            # the leaf found may be the one that ends where the name starts: `(` in `f(name`
            for candidate in (leaf, leaf.get_next_leaf() if leaf is not None else None):
                if candidate is not None and candidate.type == "name" and candidate.start_pos <= position <= candidate.end_pos:
                    return candidate
            return None

        _INDEXED[base] = type(f"Indexed{base.__name__}", (base,), {"__slots__": (), "get_name_of_position": get_name_of_position})
    module.__class__ = _INDEXED[base]


# ------------------------------------------------------------- hyper-parameters --

def _hyperparameter_rule(codebase: str, members: list[_Member], files: list[dict]) -> dict[str, Definition]:
    """``hparams.<name>`` → the keyword argument ``<name>=`` of ``default_hparams``'s
    ``HParams(...)`` call, in the same project. Returns the keyword-argument definitions
    it links to (and adds the uses to ``files``)."""
    keywords: dict[str, Definition] = {}
    for member in members:
        try:
            tree = ast.parse(member.text)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "default_hparams":
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) == "HParams":
                        line_text = member.text.split("\n")
                        for kw in call.keywords:
                            if kw.arg is None:
                                continue
                            value_line = line_text[kw.value.lineno - 1]
                            column = _char_column(value_line, kw.value.col_offset)
                            start = value_line.rfind(kw.arg, 0, column)
                            if start < 0:
                                continue
                            keywords[kw.arg] = Definition(codebase, member.path, kw.value.lineno, start, kw.arg,
                                                          "keyword argument", value_line.strip().rstrip(","),
                                                          "A GPT-2 hyper-parameter, set by default_hparams and "
                                                          "overridden from the model's hparams.json.")
    if not keywords:
        return {}
    by_path = {m.path: m for m in members}
    for entry in files:
        member = by_path[entry["path"]]
        try:
            tree = ast.parse(member.text)
        except SyntaxError:
            continue
        lines = member.text.split("\n")
        taken = {(u["line"], u["column"]) for u in entry["uses"]} | {(u["line"], u["column"]) for u in entry["library"]}
        added = []
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "hparams"
                    and node.attr in keywords and node.end_lineno == node.lineno):
                column = _char_column(lines[node.lineno - 1], node.end_col_offset) - len(node.attr)
                if (node.lineno, column) not in taken:
                    added.append(asdict(Use(node.lineno, column, node.attr, (keywords[node.attr].key,))))
        entry["uses"] = sorted(entry["uses"] + added, key=lambda u: (u["line"], u["column"]))
    return {d.key: d for d in keywords.values()}


# ------------------------------------------------------------------ library names --

def _char_column(line: str, byte_offset: int) -> int:
    """ast's UTF-8 byte column as a character column."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _library_of(qualname: str) -> str:
    top = qualname.split(".")[0]
    if top in ("tensorflow", "numpy", "torch", "transformers"):
        return top
    if top in sys.stdlib_module_names:
        return "stdlib"
    return top


def _library_uses(text: str, presented_members: set[str]) -> list[LibraryUse]:
    """Names that come from imported modules which are not presented files: qualified."""
    tree = ast.parse(text)
    local_modules = {PurePosixPath(m).with_suffix("").as_posix().replace("/", ".") for m in presented_members}
    local_names = local_modules | {m.rsplit(".", 1)[-1] for m in local_modules}

    def presented(module: str) -> bool:
        return module in local_names or any(module == m or module.startswith(m + ".") or m.endswith("." + module)
                                            for m in local_modules)

    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if presented(alias.name):
                    continue
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and not presented(node.module):
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    if not aliases:
        return []
    lines = text.split("\n")
    calls = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    # names rebound locally (assigned, or parameters) are not the imported module any more
    rebound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    rebound |= {a.arg for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs)}
    out: list[LibraryUse] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts = []
            value = node
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if not isinstance(value, ast.Name) or value.id not in aliases or value.id in rebound:
                continue
            if node.end_lineno != node.lineno and node.end_lineno is None:
                continue
            qualname = ".".join([aliases[value.id], *reversed(parts)])
            line = node.end_lineno
            column = _char_column(lines[line - 1], node.end_col_offset) - len(node.attr)
            if column < 0 or lines[line - 1][column:column + len(node.attr)] != node.attr:
                continue
            out.append(LibraryUse(line, column, node.attr, qualname, _library_of(qualname), id(node) in calls))
        elif (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in aliases
              and id(node) not in inner and node.id not in rebound and "." in aliases[node.id]):
            # a name imported from a module (`from tensorflow.contrib.training import HParams`)
            column = _char_column(lines[node.lineno - 1], node.col_offset)
            qualname = aliases[node.id]
            out.append(LibraryUse(node.lineno, column, node.id, qualname, _library_of(qualname), id(node) in calls))
    return sorted(out, key=lambda u: (u.line, u.column))


def clear_cache(cache_dir: Path) -> None:
    shutil.rmtree(cache_dir, ignore_errors=True)
