"""Stage 2: load the note files in ``annotations/`` and check them against the sources.

A note is a Markdown file with YAML front matter (see CONTRIBUTING.md). Every problem is
reported as ``annotations/<codebase>/<file>.md:LINE: message``, LINE counting lines of the
note file, and every problem in every note is reported in one run. A note that cannot be
parsed is kept as a :class:`BrokenNote` so that it is shown, not dropped.

The YAML is read with PyYAML's LibYAML parser, which keeps the line of every node. A scan of
the parse events first refuses anchors, aliases and explicit tags: notes need none of them,
and refusing them closes the alias-bomb and object-construction tricks. Values are taken as
the text written (no YAML 1.1 guessing that turns ``No`` into false or ``1e3`` into a number);
the note model then checks each field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import symbols
from .bibliography import Bibliography, Citation
from .manifest import CodeClass, Manifest
from .problems import Problem
from .sources import SourceText

MAX_NOTE_BYTES = 64 * 1024
MIN_BODY_WORDS = 60
NOTE_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)")
PLACEHOLDER = re.compile(r"\{\{[^{}\n]*\}\}")
"""A placeholder left by ``marginalia new`` (``{{title: …}}``): refused wherever it is left,
except in ``quote`` (which is code) and in code inside the body."""


class Review(BaseModel):
    """When a note was last checked against the pinned code, and how (the review record)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Review record")

    date: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                               description="The day the note was last checked against the pinned code (YYYY-MM-DD).")]
    means: Annotated[Literal["read", "ran"], Field(
        description="read: every claim traced through the code by reading it; ran: behaviour claims also checked by running code.")]
    against: Annotated[str, Field(pattern=r"^[0-9a-f]{12,64}$",
                                  description="The first 12 (or more) hex digits of the sha256 of the file that was checked, "
                                              "as in sources.toml; a different pin makes the review stale.")]
    how: Annotated[str | None, Field(max_length=400, description="What was run or traced, in a sentence.")] = None

    @field_validator("date")
    @classmethod
    def _real_date(cls, value: str) -> str:
        date.fromisoformat(value)  # raises ValueError for 2026-02-30
        return value

    def is_current(self, sha256: str) -> bool:
        return sha256.startswith(self.against)


class NoteFrontMatter(BaseModel):
    """The front matter of a note file. Published as ``annotations/note.schema.json``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        title="GPT-2 Marginalia note",
        json_schema_extra={"description": "Front matter of a margin note (annotations/<codebase>/<id>.md). See CONTRIBUTING.md."},
    )

    id: Annotated[str, Field(pattern=NOTE_ID, max_length=80,
                             description="Permanent slug, unique across the site; the permalink is #note-<id>. Never reuse one.")]
    codebase: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="A codebase id from sources.toml.")]
    path: Annotated[str, Field(min_length=1, description="The file's path as listed in sources.toml.")]
    lines: Annotated[int | str, Field(description="One line (85) or a range (80-82), at the pinned version.",
                                      json_schema_extra={"pattern": r"^[1-9][0-9]*(-[1-9][0-9]*)?$"})]
    quote: Annotated[str, Field(min_length=1, max_length=400,
                                description="Exact text of the first annotated line (surrounding spaces may be omitted).")]
    symbol: Annotated[str | None, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
                                        description="Dotted path of the enclosing function or class, starting with the module name, e.g. model.attn.")] = None
    code_class: Annotated[CodeClass, Field(alias="class", description="model | application | boundary (Hua & Raley's map).")]
    title: Annotated[str, Field(min_length=1, max_length=120, description="Short plain-text title.")]
    tags: Annotated[list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9 -]*$")]], Field(description="Lower-case keywords.")] = []
    cites: Annotated[list[str], Field(description="Bibliography key, optionally followed by a locator: 'hua-raley-2023 §2 ¶13'.")] = []
    see_also: Annotated[list[Annotated[str, Field(pattern=NOTE_ID)]], Field(description="Ids of related notes.")] = []
    authors: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1, description="Who wrote the note.")]
    reviewed: Annotated[Review | None, Field(description="The review record: when the note was last checked against "
                                                         "the pinned code, and by what means.")] = None

    @field_validator("lines")
    @classmethod
    def _lines(cls, value: int | str) -> int | str:
        text = str(value).strip()
        match = re.fullmatch(r"([1-9][0-9]*)(?:\s*-\s*([1-9][0-9]*))?", text)
        if not match:
            raise ValueError(f"lines must be a line number (85) or a range (80-82), not {value!r}")
        if match.group(2) and int(match.group(2)) < int(match.group(1)):
            raise ValueError(f"the range {text} ends before it starts")
        return text

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("the title must fit on one line")
        return value.strip()


@dataclass(frozen=True)
class Note:
    id: str
    codebase: str
    path: str
    start: int
    end: int
    quote: str
    symbol: str | None
    code_class: CodeClass
    title: str
    tags: tuple[str, ...]
    cites: tuple[Citation, ...]
    see_also: tuple[str, ...]
    authors: tuple[str, ...]
    body: str
    file: str
    body_line: int
    review: Review | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    item_lines: Mapping[str, tuple[int, ...]] = field(default_factory=dict, compare=False, hash=False)

    def line_of(self, name: str, index: int | None = None) -> int:
        if index is not None and name in self.item_lines and index < len(self.item_lines[name]):
            return self.item_lines[name][index]
        return self.field_lines.get(name, 1)

    def body_line_of(self, needle: str) -> int:
        for offset, line in enumerate(self.body.split("\n")):
            if needle in line:
                return self.body_line + offset
        return self.body_line

    @property
    def word_count(self) -> int:
        return len(re.findall(r"[A-Za-z0-9À-ž’'_-]+", re.sub(r"\]\([^)]*\)", "]", self.body)))


@dataclass(frozen=True)
class BrokenNote:
    """A note file that could not be read as a note at all. It is still shown."""

    file: str
    text: str


@dataclass
class NoteSet:
    notes: list[Note] = field(default_factory=list)
    broken: list[BrokenNote] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unverified: list[Note] = field(default_factory=list)
    unreviewed: list[tuple[Note, str]] = field(default_factory=list)
    """Notes with no review record, or one made against another version of their file (why)."""

    def by_id(self) -> dict[str, Note]:
        return {n.id: n for n in self.notes}


# ------------------------------------------------------------------------- reading --

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # LibYAML when available: ~50x faster
_NULL = "tag:yaml.org,2002:null"


def _scan_events(yaml_text: str, file: str, first_line: int) -> list[Problem]:
    """Refuse YAML features notes never need: anchors, aliases and explicit tags."""
    problems = []
    for event in yaml.parse(yaml_text, Loader=_Loader):
        line = first_line + (event.start_mark.line if event.start_mark else 0)
        if isinstance(event, AliasEvent):
            problems.append(Problem(file, line, "YAML aliases (*name) are not allowed in notes"))
        elif isinstance(event, (ScalarEvent, CollectionStartEvent)):
            if event.anchor:
                problems.append(Problem(file, line, "YAML anchors (&name) are not allowed in notes"))
            explicit = event.tag and not (isinstance(event, ScalarEvent) and event.implicit[0])
            if explicit and event.tag != "!":
                problems.append(Problem(file, line, f"YAML tags ({event.tag}) are not allowed in notes"))
    return problems


def _value(node: Node) -> Any:
    """A node as plain Python: scalars stay the text written, empty or ~ becomes None."""
    if isinstance(node, ScalarNode):
        return None if node.tag == _NULL else node.value
    if isinstance(node, SequenceNode):
        return [_value(item) for item in node.value]
    return {str(_value(key)): _value(value) for key, value in node.value}


def _split_front_matter(text: str) -> tuple[str, int, str, int] | str:
    """Return (yaml, first yaml line, body, first body line) or an error message."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return "a note must start with a line '---' that opens its YAML front matter"
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "\n".join(lines[1:index]), 2, "\n".join(lines[index + 1:]), index + 2
    return "the front matter opened on line 1 is never closed with '---'"


def read_note(path: Path, display: str) -> Note | tuple[BrokenNote, list[Problem]] | tuple[Note, list[Problem]]:
    """Read one note file. Returns the note (possibly with schema-level problems)."""
    try:
        size = path.stat().st_size
        if size > MAX_NOTE_BYTES:
            return BrokenNote(display, ""), [Problem(display, None, f"the file is {size:,} bytes; a note may have at most {MAX_NOTE_BYTES:,}")]
        raw = path.read_bytes()
    except OSError as exc:
        return BrokenNote(display, ""), [Problem(display, None, f"cannot read the file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return BrokenNote(display, raw.decode("utf-8", "replace")), [Problem(display, line, "the file is not valid UTF-8")]
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    split = _split_front_matter(text)
    if isinstance(split, str):
        return BrokenNote(display, text), [Problem(display, 1, split)]
    yaml_text, yaml_line, body, body_line = split
    try:
        scan = _scan_events(yaml_text, display, yaml_line)
        if scan:
            return BrokenNote(display, text), scan
        root = yaml.compose(yaml_text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        # the context mark points at the construct left open (e.g. a '[' never closed)
        mark = exc.context_mark or exc.problem_mark
        line = yaml_line + (mark.line if mark else 0)
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return BrokenNote(display, text), [Problem(display, line, f"YAML error: {exc.problem or exc.context}{context}")]
    except yaml.YAMLError as exc:
        return BrokenNote(display, text), [Problem(display, yaml_line, f"YAML error: {exc}")]
    if not isinstance(root, MappingNode):
        return BrokenNote(display, text), [Problem(display, yaml_line, "the front matter must be a mapping of fields (key: value)")]

    field_lines: dict[str, int] = {}
    item_lines: dict[str, tuple[int, ...]] = {}
    duplicates: list[Problem] = []
    for key, value in root.value:
        name = str(_value(key))
        if name in field_lines:
            duplicates.append(Problem(display, yaml_line + key.start_mark.line,
                                      f"field {name!r} is given twice (first on line {field_lines[name]})"))
            continue
        field_lines[name] = yaml_line + key.start_mark.line
        if isinstance(value, SequenceNode):
            item_lines[name] = tuple(yaml_line + item.start_mark.line for item in value.value)
    if duplicates:
        return BrokenNote(display, text), duplicates
    data = _value(root)

    unfilled = _placeholders(data, field_lines, item_lines, display)
    body_unfilled = _body_placeholders(body, display, body_line + (len(body) - len(body.lstrip("\n"))))
    if unfilled:
        return BrokenNote(display, text), unfilled + body_unfilled

    problems: list[Problem] = list(body_unfilled)
    plain = {k: v for k, v in data.items() if not (v is None and k in _OPTIONAL)}
    try:
        front = NoteFrontMatter.model_validate(plain)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            name = str(loc[0]) if loc else ""
            line = field_lines.get(name, 1)
            if len(loc) > 1 and isinstance(loc[1], int) and name in item_lines and loc[1] < len(item_lines[name]):
                line = item_lines[name][loc[1]]
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown field {name!r} (fields: {', '.join(sorted(_FIELD_NAMES))})"
            elif error["type"] == "missing":
                message = f"missing required field {name!r}"
            elif error["type"] == "enum":
                message = f"{name}: {message} (got {error.get('input')!r})"
            elif name:
                message = f"{name}: {message}"
            problems.append(Problem(display, line, message))
        if not all(e["type"] == "extra_forbidden" or e["loc"][:1] == ("reviewed",) for e in exc.errors()):
            return BrokenNote(display, text), problems
        # Only unknown fields or a faulty review record: report them, and still check the rest of the note.
        front = NoteFrontMatter.model_validate({k: v for k, v in plain.items() if k in _FIELD_NAMES and k != "reviewed"})

    start, _, end = str(front.lines).partition("-")
    note = Note(
        id=front.id, codebase=front.codebase, path=front.path.strip(),
        start=int(start), end=int(end or start), quote=front.quote, symbol=front.symbol,
        code_class=front.code_class, title=front.title, tags=tuple(front.tags),
        cites=tuple(Citation.parse(c) for c in front.cites), see_also=tuple(front.see_also),
        authors=tuple(front.authors), body=body.strip("\n"), file=display,
        body_line=body_line + (len(body) - len(body.lstrip("\n"))), review=front.reviewed,
        field_lines=field_lines, item_lines=item_lines,
    )
    return note, problems


def _placeholders(data: dict, field_lines: dict[str, int], item_lines: dict[str, tuple[int, ...]],
                  display: str) -> list[Problem]:
    """Every ``{{…}}`` placeholder of ``marginalia new`` still in the front matter."""
    problems = []
    for name, value in data.items():
        if name == "quote":
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            for match in PLACEHOLDER.findall(item) if isinstance(item, str) else []:
                line = field_lines.get(name, 1)
                if isinstance(value, list) and index < len(item_lines.get(name, ())):
                    line = item_lines[name][index]
                problems.append(Problem(display, line, f"{name}: fill in the placeholder {match}"))
    return problems


def _body_placeholders(body: str, display: str, first_line: int) -> list[Problem]:
    blanked = re.sub(r"^(```|~~~).*?^\1", lambda m: re.sub(r"[^\n]", " ", m.group(0)), body.strip("\n"),
                     flags=re.S | re.M)
    blanked = re.sub(r"`[^`\n]*`", lambda m: " " * len(m.group(0)), blanked)
    problems = []
    for offset, line in enumerate(blanked.split("\n")):
        for match in PLACEHOLDER.findall(line):
            shown = match if len(match) <= 60 else match[:57] + "…}}"
            problems.append(Problem(display, first_line + offset, f"the body still has the placeholder {shown}: "
                                                                  "replace it with the note's text"))
    return problems


_FIELD_NAMES = {f.alias or name for name, f in NoteFrontMatter.model_fields.items()}
_OPTIONAL = {f.alias or name for name, f in NoteFrontMatter.model_fields.items() if not f.is_required()}


def note_files(annotations: Path) -> list[Path]:
    """Every note file: ``annotations/<codebase>/**/*.md``, sorted for stable output."""
    return sorted(p for p in annotations.glob("*/**/*.md") if p.is_file())


def load_notes(annotations: Path, root: Path, memo: dict | None = None) -> NoteSet:
    """Read every note file. ``memo`` (kept by a preview server between rebuilds) maps a
    file's (path, mtime, size) to what reading it gave, so only edited notes are re-read."""
    result = NoteSet()
    for path in note_files(annotations):
        display = path.relative_to(root).as_posix()
        stat = path.stat()
        key = (display, stat.st_mtime_ns, stat.st_size)
        if memo is not None and key in memo:
            outcome = memo[key]
        else:
            outcome = read_note(path, display)
            if memo is not None:
                memo[key] = outcome
        if isinstance(outcome, Note):
            result.notes.append(outcome)
            continue
        item, problems = outcome
        result.problems.extend(problems)
        if isinstance(item, BrokenNote):
            result.broken.append(item)
        else:
            result.notes.append(item)
    return result


# ------------------------------------------------------------------------ checking --

@dataclass(frozen=True)
class Glossary:
    """The glossary's term ids, and for the entries marked as programmers' jargon the word
    forms whose first use in a note must link to the entry."""

    terms: frozenset[str] = frozenset()
    jargon: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __contains__(self, term: object) -> bool:
        return term in self.terms


@dataclass(frozen=True)
class CheckContext:
    manifest: Manifest
    sources: Mapping[tuple[str, str], SourceText]
    bibliography: Bibliography
    glossary: Glossary
    symbols: symbols.SymbolCache = field(default_factory=symbols.SymbolCache)


_GLOSSARY_HEADING = re.compile(r"^#{2,4} .*\{([^}]*#[a-z0-9-]+[^}]*)\}\s*$", re.M)


def glossary_terms(glossary_page: Path) -> Glossary:
    """The glossary page's entries: headings with an explicit ``{#id}``; ``.jargon`` marks
    programmers' jargon, ``data-forms="a|b"`` the forms that count as a use of it."""
    try:
        text = glossary_page.read_text(encoding="utf-8")
    except OSError:
        return Glossary()
    terms, jargon = set(), {}
    for attributes in _GLOSSARY_HEADING.findall(text):
        term = re.search(r"#([a-z0-9-]+)", attributes)[1]
        terms.add(term)
        if re.search(r"(^|\s)\.jargon(\s|$)", attributes):
            forms = re.search(r'data-forms="([^"]*)"', attributes)
            jargon[term] = tuple(f.strip() for f in forms[1].split("|") if f.strip()) if forms else ()
    return Glossary(frozenset(terms), jargon)


def _suggest_lines(lines: list[str], quote: str, span: int) -> str:
    wanted = quote.strip()
    exact = [i + 1 for i, line in enumerate(lines) if line.strip() == wanted]
    if exact:
        ranges = [f"{n}" if span == 0 else f"{n}-{n + span}" for n in exact[:5]]
        return f"; the quote is on line {', '.join(str(n) for n in exact[:5])}: did you mean lines: {' or '.join(ranges)}?"
    stripped = [line.strip() for line in lines]
    close = difflib.get_close_matches(wanted, stripped, n=3, cutoff=0.75)
    if close:
        found = [str(stripped.index(c) + 1) for c in close]
        return f"; similar text on line {', '.join(found)}"
    return ""


_LINE_FRAGMENT = re.compile(r"^L([1-9][0-9]*)(?:-L([1-9][0-9]*))?$")


def check_link(target: str, note: Note, ids: set[str], ctx: CheckContext) -> str | None:
    """Why a link target in a note body is wrong, or None if it is fine."""
    scheme, sep, rest = target.partition(":")
    if not sep or target.startswith("#"):
        if target.startswith("#"):
            frag = target[1:]
            if frag.startswith("note-"):
                return None if frag[5:] in ids else f"link to unknown note {frag[5:]!r}"
            match = _LINE_FRAGMENT.match(frag)
            if not match:
                return f"link target {target!r}: write #L10 or #L10-L20 for lines on this page"
            source = ctx.sources.get((note.codebase, note.path))
            return _check_range(match, source, target)
        return f"link target {target!r} is not supported; use note:, code:, glossary:, bib:, #L.. or https://"
    if scheme in ("http", "https", "mailto"):
        return None
    if scheme == "note":
        return None if rest in ids else f"link to unknown note {rest!r}"
    if scheme == "glossary":
        return None if rest in ctx.glossary else f"link to unknown glossary term {rest!r}"
    if scheme == "bib":
        return None if rest in ctx.bibliography else f"link to unknown bibliography key {rest!r}"
    if scheme == "code":
        location, _, frag = rest.partition("#")
        codebase, _, path = location.partition("/")
        source = ctx.sources.get((codebase, path))
        if source is None:
            return f"link to {location!r}, which is not a presented file (see sources.toml)"
        if not frag:
            return None
        match = _LINE_FRAGMENT.match(frag)
        if not match:
            return f"link target {target!r}: the fragment must be #L10 or #L10-L20"
        return _check_range(match, source, target)
    return f"link target {target!r} is not supported; use note:, code:, glossary:, bib:, #L.. or https://"


def _check_range(match: re.Match, source: SourceText | None, target: str) -> str | None:
    start = int(match.group(1))
    end = int(match.group(2) or start)
    if end < start:
        return f"link target {target!r}: the range ends before it starts"
    if source is not None and source.text is not None and end > len(source.lines):
        return f"link target {target!r} is past the end of the file ({len(source.lines)} lines)"
    return None


def check_notes(notes: NoteSet, ctx: CheckContext) -> NoteSet:
    """Add every semantic problem to ``notes.problems`` and list the unverified notes."""
    problems = notes.problems
    files_by_id: dict[str, list[str]] = {}
    for note in notes.notes:
        files_by_id.setdefault(note.id, []).append(note.file)
    ids = set(files_by_id)
    for note in notes.notes:
        others = [f for f in files_by_id[note.id] if f != note.file]
        if others:
            problems.append(Problem(note.file, note.line_of("id"),
                                    f"duplicate id {note.id!r}: also used by {', '.join(others)}"))
        expected_dir = f"annotations/{note.codebase}/"
        if (note.codebase in ctx.manifest.codebases and note.file.startswith("annotations/")
                and not note.file.startswith(expected_dir)):
            problems.append(Problem(note.file, note.line_of("codebase"),
                                    f"a note on codebase {note.codebase!r} belongs in {expected_dir}"))

        # where the note points
        codebase = ctx.manifest.codebases.get(note.codebase)
        if codebase is None:
            problems.append(Problem(note.file, note.line_of("codebase"),
                                    f"unknown codebase {note.codebase!r} (known: {', '.join(ctx.manifest.codebases)})"))
        elif note.path not in {f.path for f in codebase.files}:
            close = difflib.get_close_matches(note.path, [f.path for f in codebase.files], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(Problem(note.file, note.line_of("path"),
                                    f"{note.path!r} is not a presented file of {note.codebase}{hint}"))
        else:
            pinned = next(f.sha256 for f in codebase.files if f.path == note.path)
            if note.review is None:
                notes.unreviewed.append((note, "no review record"))
            elif not note.review.is_current(pinned):
                notes.unreviewed.append((note, f"reviewed against {note.review.against}, but the pinned file is "
                                               f"{pinned[:12]}: review it again"))
            source = ctx.sources[(note.codebase, note.path)]
            if source.text is None:
                notes.unverified.append(note)
            else:
                problems.extend(_check_anchor(note, source, ctx.symbols))

        # what the note refers to
        for index, other in enumerate(note.see_also):
            if other not in ids:
                problems.append(Problem(note.file, note.line_of("see_also", index), f"see_also: unknown note id {other!r}"))
            elif other == note.id:
                problems.append(Problem(note.file, note.line_of("see_also", index), "see_also: a note cannot refer to itself"))
        for index, citation in enumerate(note.cites):
            line = note.line_of("cites", index)
            if citation.key not in ctx.bibliography:
                close = difflib.get_close_matches(citation.key, list(ctx.bibliography.works), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(Problem(note.file, line, f"cites: unknown bibliography key {citation.key!r}{hint}"))
            elif citation.locator:
                error = ctx.bibliography[citation.key].check_locator(citation.locator)
                if error:
                    problems.append(Problem(note.file, line, f"cites: {error}"))

        # the body
        if not note.body.strip():
            problems.append(Problem(note.file, note.body_line, "the note has no body"))
        elif note.word_count < MIN_BODY_WORDS:
            problems.append(Problem(note.file, note.body_line,
                                    f"the body has {note.word_count} words; a note needs at least {MIN_BODY_WORDS}"))
        if re.search(r"<\s*[a-zA-Z!/]", _without_code(note.body)):
            problems.append(Problem(note.file, note.body_line_of("<"),
                                    "raw HTML is not allowed in a note body (it is removed when the site is built)"))
        for target in LINK_TARGET.findall(_without_code(note.body)):
            error = check_link(target, note, ids, ctx)
            if error:
                problems.append(Problem(note.file, note.body_line_of(target), error))
        problems.extend(_check_jargon(note, ctx.glossary))
    notes.problems = sorted(set(problems))
    return notes


_LINK = re.compile(r"\[((?:[^\[\]`]|`[^`\n]*`)*)\]\(\s*<?([^)\s>]*)>?\s*\)")


def _check_jargon(note: Note, glossary: Glossary) -> list[Problem]:
    """The first use of a jargon term in the body (prose or inline code, not code blocks
    and not link targets) must be inside a link to its glossary entry."""
    if not glossary.jargon:
        return []
    body = re.sub(r"^(```|~~~).*?^\1", lambda m: " " * len(m.group(0)), note.body, flags=re.S | re.M)
    links = []  # (start, end, target) of each link's text; the targets are blanked out
    for match in _LINK.finditer(body):
        links.append((match.start(1), match.end(1), match.group(2)))
    for match in reversed(list(_LINK.finditer(body))):
        start, end = match.end(1), match.end(0)
        body = body[:start] + " " * (end - start) + body[end:]
    problems = []
    for term, forms in glossary.jargon.items():
        if not forms:
            continue
        pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
                             + r")(?![\w])", re.I)
        first = pattern.search(body)
        if first is None:
            continue
        linked = any(start <= first.start() < end and target == f"glossary:{term}" for start, end, target in links)
        if not linked:
            line = note.body_line + body[:first.start()].count("\n")
            problems.append(Problem(note.file, line,
                                    f"first use of {first.group(0)!r}, programmers' jargon: link it to the glossary, "
                                    f"[{first.group(0)}](glossary:{term}), or say it in plain words"))
    return problems


def _without_code(body: str) -> str:
    """The body with fenced and inline code removed (code may legitimately contain '<')."""
    body = re.sub(r"^(```|~~~).*?^\1", "", body, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", body)


def _check_anchor(note: Note, source: SourceText, symbol_cache: symbols.SymbolCache) -> list[Problem]:
    problems = []
    lines = source.lines
    if note.end > len(lines) or note.start > len(lines):
        problems.append(Problem(note.file, note.line_of("lines"),
                                f"lines {note.start}-{note.end} are outside {note.path} ({len(lines)} lines)"))
        return problems
    actual = lines[note.start - 1].strip()
    if actual != note.quote.strip():
        hint = _suggest_lines(lines, note.quote, note.end - note.start)
        problems.append(Problem(note.file, note.line_of("quote"),
                                f"quote does not match line {note.start} of {note.path} (it reads {actual!r}){hint}"))
    if note.symbol:
        span = symbol_cache.resolve(note.path, source.text or "", note.symbol)
        if isinstance(span, str):
            problems.append(Problem(note.file, note.line_of("symbol"), span))
        elif not span.contains(note.start, note.end):
            problems.append(Problem(note.file, note.line_of("symbol"),
                                    f"{note.symbol} spans lines {span.start}-{span.end}, which do not contain "
                                    f"lines {note.start}-{note.end}"))
    return problems
