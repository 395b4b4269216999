"""Notes as W3C Web Annotations (JSON-LD), and annotations made elsewhere as draft notes.

Export
------
Every note becomes one ``Annotation`` (W3C Web Annotation Data Model, 2017; context
``http://www.w3.org/ns/anno.jsonld``), all in one ``AnnotationCollection`` whose single
``AnnotationPage`` lists them by note id:

* ``id``: the note's page (``<site>notes/<id>/``); ``label``: its title; ``motivation``
  ``commenting``; ``created``/``modified``: the first and last commit of the note file (left
  out when history is missing); ``creator``: one ``Person`` or ``Organization`` per author;
  ``generator``: the site; ``rights``: the MIT licence of the notes.
* bodies: a ``TextualBody`` with the Markdown text (``text/markdown``, purpose
  ``commenting``), one ``TextualBody`` per tag (purpose ``tagging``), and the class as a
  ``TextualBody`` with purpose ``classifying`` and value ``model``, ``application`` or
  ``boundary``.
* target: a ``SpecificResource`` whose ``source`` is the raw upstream file at the pin —
  ``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<member>`` for a GitHub pin,
  and for a file read from a PyPI wheel, which has no raw URL, the ``jar:`` URL of the
  member inside the pinned wheel (``jar:<wheel URL>!/<member>``, the standard way to name a
  file inside a zip archive) — with the code page as ``scope``. A git pin on another host
  has the code page as ``source``. Three selectors, alternatives to one another: a
  ``TextQuoteSelector`` (``exact`` from the first non-blank character of the note's first
  line to the end of its last line, so that it starts with the note's ``quote``; ``prefix``
  and ``suffix`` of 32 characters or more, until ``prefix + exact + suffix`` occurs once in
  the file), a ``TextPositionSelector`` (0-based, end exclusive, in code points, the same
  characters) and an RFC 5147 ``FragmentSelector`` (``line=57,66`` for lines 58–66: RFC 5147
  counts line positions from 0), which selects the whole lines: the same text with the first
  line's indentation and the last line's line break.

Other front-matter fields (``symbol``, ``cites``, ``see_also``, ``reviewed``) are not part
of the exchange; import finds the symbol again from the code.

Import
------
:func:`import_annotations` reads a W3C collection (an ``AnnotationCollection`` with its
pages, an ``AnnotationPage``, one ``Annotation`` or a list of them) or Hypothesis' JSON
(the client's export file with ``annotations``, or an API search result with ``rows``).
Each annotation's target must name a presented file (by any of the URLs above, the code
page or the GitHub page of the file); its text is found again in the pinned file by its
quote (``prefix``/``suffix`` decide between several occurrences; a position or a line
fragment, when it agrees, decides too), and the note's lines are the lines that text
touches. What cannot be anchored is reported, never guessed. Drafts are written to
``annotations/<codebase>/<id>.md``: the id of an annotation exported from this site is kept,
any other gets ``imported-<words of the quote>-<6 hex digits of its identity>``; a missing
title or author becomes a placeholder that ``make check`` refuses until it is filled in.
Nothing is ever overwritten, no id that a note already has is used, and bodies are written
as Markdown with any raw HTML escaped (HTML bodies are converted to text).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import urls
from .citation import HOUSE_AUTHOR, ORGANISATIONS, SITE_TITLE, NoteDates, NoteHistory, note_url
from .manifest import Manifest, Pin, SourceFile, browse_url, member_of
from .notes import NOTE_ID, Note
from .sources import SourceText

CONTEXT = "http://www.w3.org/ns/anno.jsonld"
RFC5147 = "http://tools.ietf.org/rfc/rfc5147"
NOTES_LICENCE = "https://spdx.org/licenses/MIT.html"
MIN_CONTEXT = 32
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_ANNOTATIONS = 5000
MAX_DEPTH = 64
MAX_BODY_CHARS = 20_000

MOTIVATIONS = frozenset({"assessing", "bookmarking", "classifying", "commenting", "describing", "editing",
                         "highlighting", "identifying", "linking", "moderating", "questioning", "replying",
                         "tagging"})
"""The Web Annotation vocabulary's motivations (JSON-LD would silently accept any word)."""
SELECTORS = frozenset({"FragmentSelector", "CssSelector", "XPathSelector", "TextQuoteSelector",
                       "TextPositionSelector", "DataPositionSelector", "SvgSelector", "RangeSelector"})
CLASSES = ("model", "application", "boundary")


# --------------------------------------------------------------------------- targets --

def raw_url(pin: Pin, file: SourceFile, wheel_url: str | None = None) -> str | None:
    """The URL of the file's exact bytes at the pin, or None (a git host other than GitHub)."""
    if pin.is_git:
        match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", pin.git or "")
        if not match:
            return None
        return f"https://raw.githubusercontent.com/{match[1]}/{match[2]}/{pin.commit}/{member_of(file)}"
    if wheel_url and wheel_url.endswith(".whl"):
        return f"jar:{wheel_url}!/{member_of(file)}"
    return None


@dataclass(frozen=True)
class Target:
    codebase: str
    path: str
    source: str
    scope: str


def file_targets(manifest: Manifest, site: str) -> dict[tuple[str, str], Target]:
    out = {}
    for codebase, file in manifest.files():
        pin = manifest.pin_of(codebase, file)
        wheel = manifest.artifacts[pin.artifact].url if pin.artifact else None
        page = site + urls.code_page(codebase, file.path)
        out[(codebase, file.path)] = Target(codebase, file.path, raw_url(pin, file, wheel) or page, page)
    return out


def _normal_url(url: str) -> str:
    parts = urlsplit(url.strip())
    path = unquote(parts.path).rstrip("/")
    return f"{parts.netloc.lower()}{path}" if parts.scheme in ("http", "https") else url.strip().split("#")[0]


def target_index(manifest: Manifest, site: str) -> dict[str, tuple[str, str]]:
    """Every URL that names a presented file -> (codebase, path): the raw URL or jar: URL,
    the code page (with or without the site's host), and the file's browse URL (GitHub)."""
    index: dict[str, tuple[str, str]] = {}
    for key, target in file_targets(manifest, site).items():
        codebase, path = key
        file = next(f for f in manifest.codebases[codebase].files if f.path == path)
        for url in (target.source, target.scope, browse_url(manifest.pin_of(codebase, file), file)):
            index[_normal_url(url)] = key
    return index


def find_target(index: Mapping[str, tuple[str, str]], manifest: Manifest, url: str | None) -> tuple[str, str] | None:
    """The presented file a target URL names: by the index, or by a code page path
    (``…/code/<codebase>/<path>/``) on whatever host and base path the site is served."""
    if not url:
        return None
    normal = _normal_url(url)
    if normal in index:
        return index[normal]
    match = re.search(r"/code/([^/]+)/(.+)$", urlsplit(url).path if "://" in url else url)
    if match:
        codebase, path = unquote(match[1]), unquote(match[2]).rstrip("/").removesuffix("/index.html")
        if codebase in manifest.codebases and any(f.path == path for f in manifest.codebases[codebase].files):
            return codebase, path
    return None


# -------------------------------------------------------------------------- selectors --

@dataclass(frozen=True)
class Span:
    start: int
    end: int
    """Code points, 0-based, end exclusive."""


@lru_cache(maxsize=64)  # every note of a file asks for the same file's offsets
def line_offsets(text: str) -> tuple[int, ...]:
    """The code-point offset where each line starts (lines split at ``\\n``, as the site does)."""
    offsets = [0]
    for match in re.finditer("\n", text):
        offsets.append(match.end())
    return tuple(offsets)


def note_span(text: str, start: int, end: int) -> Span:
    """From the first non-blank character of line ``start`` to the end of line ``end`` (its
    line break excluded): what ``exact`` selects."""
    offsets = line_offsets(text)
    first = offsets[start - 1]
    line = text[first:offsets[start] - 1 if start < len(offsets) else len(text)]
    first += len(line) - len(line.lstrip())
    last = offsets[end] - 1 if end < len(offsets) else len(text)
    if last > first and text[last - 1] == "\r":
        last -= 1
    return Span(first, last)


def unique_context(text: str, span: Span, minimum: int = MIN_CONTEXT) -> tuple[str, str]:
    """``prefix`` and ``suffix`` of at least ``minimum`` code points (less at the file's
    ends), grown until ``prefix + exact + suffix`` occurs once in the text."""
    size = minimum
    while True:
        prefix = text[max(0, span.start - size):span.start]
        suffix = text[span.end:span.end + size]
        if _count(text, prefix + text[span.start:span.end] + suffix) == 1 or size >= len(text):
            return prefix, suffix
        size *= 2


def _count(text: str, needle: str) -> int:
    count, at = 0, text.find(needle)
    while at != -1:
        count += 1
        at = text.find(needle, at + 1)
    return count


def selectors(text: str, start: int, end: int) -> list[dict[str, Any]]:
    """The three alternative selectors of lines ``start``..``end`` of ``text``."""
    span = note_span(text, start, end)
    prefix, suffix = unique_context(text, span)
    out: list[dict[str, Any]] = [
        {"type": "TextQuoteSelector", "exact": text[span.start:span.end], "prefix": prefix, "suffix": suffix},
        {"type": "TextPositionSelector", "start": span.start, "end": span.end},
    ]
    if "\r" not in text.replace("\r\n", "\n"):  # RFC 5147 also ends lines at a lone CR; the site does not
        out.append({"type": "FragmentSelector", "conformsTo": RFC5147, "value": f"line={start - 1},{end}"})
    return out


def rfc5147_lines(text: str, value: str) -> str:
    """The text an RFC 5147 ``line=a,b`` fragment selects (line ends: CRLF, LF or CR)."""
    match = re.fullmatch(r"line=(\d+),(\d+)", value)
    if not match:
        raise ValueError(f"not a line range: {value!r}")
    a, b = int(match[1]), int(match[2])
    ends = [m.end() for m in re.finditer(r"\r\n|\n|\r", text)]
    positions = [0, *ends] if not ends or ends[-1] != len(text) else [0, *ends]
    start = positions[a] if a < len(positions) else len(text)
    stop = positions[b] if b < len(positions) else len(text)
    return text[start:stop]


# ----------------------------------------------------------------------------- export --

def _agent(name: str) -> dict[str, str]:
    return {"type": "Organization" if name in ORGANISATIONS else "Person", "name": name}


def generator(site: str) -> dict[str, str]:
    return {"id": site, "type": "Software", "name": SITE_TITLE, "homepage": site}


def note_annotation(note: Note, manifest: Manifest, sources: Mapping[tuple[str, str], SourceText], site: str,
                    dates: NoteDates | None = None) -> dict[str, Any]:
    """One note as a W3C Annotation: a plain dict with its own ``@context``, keys sorted,
    ready for ``json.dumps`` (or :func:`dumps`). The note page embeds it as
    ``<script type='application/ld+json;profile="http://www.w3.org/ns/anno.jsonld"'>``
    (escape ``</`` as ``<\\/`` inside a script element). ``dates`` (from
    :class:`~marginalia.citation.NoteHistory`) give ``created`` and ``modified``.
    Raises ValueError when the note's file is not extracted."""
    target = file_targets(manifest, site)[(note.codebase, note.path)]
    return _annotation(note, sources.get((note.codebase, note.path)), target, site, dates)


def _annotation(note: Note, source: SourceText | None, target: Target, site: str,
                dates: NoteDates | None = None) -> dict[str, Any]:
    if source is None or source.text is None:
        raise ValueError(f"{note.codebase}/{note.path} is not extracted: cannot select the note's text")
    bodies: list[dict[str, Any]] = [
        {"type": "TextualBody", "value": note.body, "format": "text/markdown", "language": "en",
         "purpose": "commenting"},
        *({"type": "TextualBody", "value": tag, "purpose": "tagging"} for tag in note.tags),
        {"type": "TextualBody", "value": note.code_class.value, "purpose": "classifying"},
    ]
    annotation: dict[str, Any] = {
        "@context": CONTEXT,
        "id": note_url(site, note.id),
        "type": "Annotation",
        "label": note.title,
        "motivation": "commenting",
        "creator": [_agent(a) for a in note.authors],
        "generator": generator(site),
        "rights": NOTES_LICENCE,
        "body": bodies,
        "target": {"type": "SpecificResource", "source": target.source, "scope": target.scope,
                   "selector": selectors(source.text, note.start, note.end)},
    }
    if dates is not None and dates.first is not None:
        annotation["created"] = dates.first.isoformat()
    if dates is not None and dates.last is not None:
        annotation["modified"] = dates.last.isoformat()
    return _sorted(annotation)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def collection(notes: Iterable[Note], sources: Mapping[tuple[str, str], SourceText], manifest: Manifest,
               site: str, history: NoteHistory | None = None) -> tuple[dict[str, Any], list[str]]:
    """Every note whose file is extracted, in one AnnotationCollection, sorted by note id;
    and one line for each note left out (its file not extracted)."""
    targets = file_targets(manifest, site)
    items, skipped = [], []
    for note in sorted(notes, key=lambda n: n.id):
        source = sources.get((note.codebase, note.path))
        if source is None or source.text is None or (note.codebase, note.path) not in targets:
            skipped.append(f"{note.file}: not exported: {note.codebase}/{note.path} is not extracted")
            continue
        item = _annotation(note, source, targets[(note.codebase, note.path)], site,
                           history.of(note.file) if history else None)
        del item["@context"]
        items.append(item)
    data = {
        "@context": CONTEXT,
        "id": site + "annotations.jsonld",
        "type": "AnnotationCollection",
        "label": f"{SITE_TITLE}: every note as a W3C Web Annotation",
        "creator": _agent(HOUSE_AUTHOR),
        "generator": generator(site),
        "total": len(items),
        "first": {"id": site + "annotations.jsonld#page1", "type": "AnnotationPage", "startIndex": 0,
                  "items": items},
    }
    return _sorted(data), skipped


def dumps(data: Any) -> str:
    """Stable JSON text: sorted keys, two-space indent, UTF-8 characters as they are."""
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


# ----------------------------------------------------------------------------- import --

@dataclass(frozen=True)
class Draft:
    """An anchored annotation, ready to be written as a note file."""

    id: str
    codebase: str
    path: str
    start: int
    end: int
    quote: str
    symbol: str | None
    code_class: str
    title: str | None
    tags: tuple[str, ...]
    authors: tuple[str, ...]
    body: str
    origin: str
    """Where it came from: the annotation's id, or its position in the input."""

    @property
    def filename(self) -> str:
        return f"annotations/{self.codebase}/{self.id}.md"


@dataclass
class ImportReport:
    drafts: list[Draft] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One line per annotation not imported (or imported with changes), saying why."""
    fatal: str | None = None
    """Why nothing at all could be read (size, JSON syntax, shape)."""


class ImportError_(ValueError):
    pass


def read_json(path: Path, limit: int = MAX_IMPORT_BYTES) -> Any:
    """The file's JSON, refusing files over ``limit`` bytes and nesting deeper than
    :data:`MAX_DEPTH`; every refusal is an :class:`ImportError_` with a plain message."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise ImportError_(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise ImportError_(f"{path}: more than {limit:,} bytes; split the export and import it in parts")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{path}: not UTF-8 (byte {exc.start})") from None
    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise ImportError_(f"{path}: JSON nested {depth} levels deep (at most {MAX_DEPTH})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportError_(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ImportError_(f"{path}: JSON nested too deeply") from None


def _max_depth(text: str) -> int:
    """Nesting depth of brackets outside strings (checked before parsing, cheaply)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def annotations_of(data: Any) -> list[Any]:
    """The annotations in a W3C collection/page/annotation/list or a Hypothesis export."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise ImportError_("the file holds neither annotations nor a collection of them")
    kind = data.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind}
    if "AnnotationCollection" in kinds:
        out: list[Any] = []
        page = data.get("first")
        seen = 0
        while isinstance(page, dict) and seen < 1000:
            out.extend(page.get("items") or [])
            page = page.get("next") if isinstance(page.get("next"), dict) else None
            seen += 1
        out.extend(data.get("items") or [])
        return out
    if "AnnotationPage" in kinds:
        return list(data.get("items") or [])
    if "Annotation" in kinds:
        return [data]
    for key in ("annotations", "rows"):  # Hypothesis: the client's export file, an API search
        if isinstance(data.get(key), list):
            return data[key]
    raise ImportError_("the file holds neither annotations nor a collection of them "
                       "(expected a W3C AnnotationCollection, AnnotationPage, Annotation or list, "
                       "or Hypothesis' export with 'annotations')")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any, limit: int = MAX_BODY_CHARS) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


@dataclass(frozen=True)
class Parsed:
    """What import reads from one annotation, whatever its format."""

    origin: str
    source: str | None
    quote: dict[str, str] | None
    position: tuple[int, int] | None
    fragment: str | None
    body: str
    body_format: str
    tags: tuple[str, ...]
    code_class: str | None
    title: str | None
    authors: tuple[str, ...]
    problems: tuple[str, ...] = ()


def parse_annotation(item: Any, index: int) -> Parsed | str:
    """Read one annotation (W3C or Hypothesis); a string says why it cannot be read."""
    where = f"annotation {index + 1}"
    if not isinstance(item, dict):
        return f"{where}: not an annotation object"
    origin = item.get("id") if isinstance(item.get("id"), str) else where
    origin = origin[:300]
    problems: list[str] = []
    motivation = [m for m in _as_list(item.get("motivation")) if isinstance(m, str)]
    for word in motivation:
        if word.removeprefix("oa:") not in MOTIVATIONS:
            problems.append(f"{origin}: unknown motivation {word[:40]!r} ignored")
    body, body_format, tags, code_class = "", "text/plain", [], None
    if "text" in item or "uri" in item:  # Hypothesis' own JSON
        body = _text(item.get("text")) or ""
        body_format = "text/markdown"
        tags = [t for t in _as_list(item.get("tags")) if isinstance(t, str)]
        targets = _as_list(item.get("target"))
        source = next((t.get("source") for t in targets if isinstance(t, dict) and isinstance(t.get("source"), str)),
                      item.get("uri") if isinstance(item.get("uri"), str) else None)
        title = None
        info = item.get("user_info") if isinstance(item.get("user_info"), dict) else {}
        user = info.get("display_name") if isinstance(info.get("display_name"), str) else None
        if not user and isinstance(item.get("user"), str):
            user = re.sub(r"^acct:([^@]+)@.*$", r"\1", item["user"])
        authors = (user[:100],) if user else ()
    else:
        for entry in _as_list(item.get("body")) + ([item["bodyValue"]] if isinstance(item.get("bodyValue"), str) else []):
            if isinstance(entry, str):
                if not body:
                    body = entry if len(entry) <= MAX_BODY_CHARS else ""
                continue
            if not isinstance(entry, dict):
                continue
            purpose = entry.get("purpose")
            value = _text(entry.get("value"))
            if isinstance(purpose, str) and purpose.removeprefix("oa:") not in MOTIVATIONS:
                problems.append(f"{origin}: unknown body purpose {purpose[:40]!r} ignored")
                continue
            if value is None:
                continue
            purpose = purpose.removeprefix("oa:") if isinstance(purpose, str) else None
            if purpose == "tagging":
                tags.append(value)
            elif purpose == "classifying":
                if value in CLASSES:
                    code_class = value
                else:
                    problems.append(f"{origin}: classifying body {value[:40]!r} is not a class of the site "
                                    f"({', '.join(CLASSES)}); the file's class is used")
            elif purpose in (None, "commenting", "describing") and not body:
                body = value
                body_format = entry.get("format") if isinstance(entry.get("format"), str) else "text/plain"
        targets = _as_list(item.get("target"))
        source, title = None, _text(item.get("label"), 300)
        authors = tuple(a for a in (_agent_name(c) for c in _as_list(item.get("creator"))) if a)
    selector_list: list[Any] = []
    for target in targets:
        if isinstance(target, str):
            source = source or target
        elif isinstance(target, dict):
            candidate = target.get("source")
            if isinstance(candidate, dict):
                candidate = candidate.get("id")
            if isinstance(candidate, str) and source is None:
                source = candidate
            if isinstance(target.get("scope"), str) and source is None:
                source = target["scope"]
            selector_list.extend(_as_list(target.get("selector")))
    quote = position = fragment = None
    for selector in selector_list:
        if not isinstance(selector, dict):
            continue
        kind = selector.get("type")
        if isinstance(kind, str) and kind not in SELECTORS:
            problems.append(f"{origin}: unknown selector type {kind[:40]!r} ignored")
        if kind == "TextQuoteSelector" and isinstance(selector.get("exact"), str) and quote is None:
            quote = {k: selector[k] for k in ("exact", "prefix", "suffix") if isinstance(selector.get(k), str)}
        elif kind == "TextPositionSelector" and position is None:
            start, end = selector.get("start"), selector.get("end")
            if isinstance(start, int) and isinstance(end, int) and 0 <= start < end:
                position = (start, end)
        elif kind == "FragmentSelector" and isinstance(selector.get("value"), str) and fragment is None:
            fragment = selector["value"][:100]
    return Parsed(origin, source if isinstance(source, str) else None, quote, position, fragment, body,
                  body_format, tuple(tags), code_class, title, authors, tuple(problems))


def _agent_name(creator: Any) -> str | None:
    if isinstance(creator, dict):
        for key in ("name", "nickname"):
            if isinstance(creator.get(key), str) and creator[key].strip():
                return " ".join(creator[key].split())[:100]
        creator = creator.get("id")
    if isinstance(creator, str):
        match = re.match(r"^acct:([^@]+)@", creator)
        if match:
            return match[1][:100]
    return None


def find_quote(text: str, exact: str, prefix: str = "", suffix: str = "",
               position: tuple[int, int] | None = None) -> tuple[Span | None, str | None]:
    """Where ``exact`` is in ``text``: the one occurrence; or, among several, the one whose
    ``prefix``/``suffix`` match best (the whole context first, then its nearest characters),
    or the one at ``position``. Returns (span, None) or (None, why not)."""
    if not exact:
        return None, "the quote is empty"
    starts = []
    at = text.find(exact)
    while at != -1 and len(starts) <= 10_000:
        starts.append(at)
        at = text.find(exact, at + 1)
    if not starts:
        return None, "the quoted text is not in the pinned file"
    if len(starts) == 1:
        return Span(starts[0], starts[0] + len(exact)), None
    if position is not None and position[0] in starts and position[1] - position[0] == len(exact):
        return Span(*position), None

    def score(start: int) -> int:
        before = text[:start]
        after = text[start + len(exact):]
        same_before = len(os.path.commonprefix([before[::-1], prefix[::-1]]))
        same_after = len(os.path.commonprefix([after, suffix]))
        return same_before + same_after

    ranked = sorted(starts, key=score, reverse=True)
    if score(ranked[0]) == score(ranked[1]):
        return None, (f"the quoted text occurs {len(starts)} times in the pinned file and its prefix and suffix "
                      "do not tell which one is meant")
    return Span(ranked[0], ranked[0] + len(exact)), None


def span_lines(text: str, span: Span) -> tuple[int, int]:
    """The 1-based first and last line that the span touches."""
    start = text.count("\n", 0, span.start) + 1
    last_char = max(span.start, span.end - 1)
    end = text.count("\n", 0, last_char) + 1
    if span.end > span.start and text[span.end - 1] == "\n":
        end = text.count("\n", 0, span.end - 1) + 1
    return start, end


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("p", "br", "div", "li", "blockquote", "pre"):
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_markdown_text(value: str) -> str:
    parser = _Text()
    parser.feed(value)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


_TAG_START = re.compile(r"<(?=\s*[a-zA-Z!/?])")


def safe_markdown(body: str) -> tuple[str, bool]:
    """The body with raw HTML made harmless: every ``<`` that could open a tag, outside
    code, becomes ``&lt;`` (Markdown shows it as ``<``), so the note checker's no-raw-HTML
    rule holds and nothing reaches the page as markup. Returns (text, whether anything was
    escaped)."""
    out, changed = [], False
    fence = None
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.lstrip()
        marker = re.match(r"(```|~~~)", stripped)
        if fence:
            out.append(line)
            if marker and stripped.startswith(fence):
                fence = None
            continue
        if marker:
            fence = marker[1]
            out.append(line)
            continue
        pieces = re.split(r"(`[^`\n]*`)", line)
        for i in range(0, len(pieces), 2):
            escaped = _TAG_START.sub("&lt;", pieces[i])
            changed = changed or escaped != pieces[i]
            pieces[i] = escaped
        out.append("".join(pieces))
    return "\n".join(out).strip("\n"), changed


def _slug_words(text: str, count: int = 4) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:count]) or "note"


def _tag(tag: str) -> str | None:
    clean = re.sub(r"[^a-z0-9 -]+", "", tag.lower()).strip(" -")
    return clean[:60] if clean else None


def plan_import(data: Any, manifest: Manifest, sources: Mapping[tuple[str, str], SourceText],
                notes: Iterable[Note], site: str) -> ImportReport:
    """Anchor every annotation; no file is written (see :func:`write_drafts`)."""
    from .scaffold import enclosing_symbol  # scaffold imports notes; imported late to keep stages apart

    report = ImportReport()
    try:
        items = annotations_of(data)
    except ImportError_ as exc:
        report.fatal = str(exc)
        return report
    if len(items) > MAX_ANNOTATIONS:
        report.fatal = f"{len(items):,} annotations: at most {MAX_ANNOTATIONS:,} are imported at once"
        return report
    index = target_index(manifest, site)
    existing = {n.id for n in notes}
    taken: set[str] = set()
    seen_origins: set[str] = set()
    site_prefix = _normal_url(site + "notes/")
    for number, item in enumerate(items):
        parsed = parse_annotation(item, number)
        if isinstance(parsed, str):
            report.problems.append(parsed)
            continue
        report.problems.extend(parsed.problems)
        origin = parsed.origin
        if origin in seen_origins and not origin.startswith("annotation "):
            report.problems.append(f"{origin}: the same annotation id appears again; imported once")
            continue
        seen_origins.add(origin)
        key = find_target(index, manifest, parsed.source)
        if key is None:
            shown = (parsed.source or "no target")[:200]
            report.problems.append(f"{origin}: targets {shown}, which is not a file presented on this site")
            continue
        codebase, path = key
        source = sources.get(key)
        if source is None or source.text is None:
            report.problems.append(f"{origin}: {codebase}/{path} is not extracted here (make extract); not anchored")
            continue
        text = source.text
        if parsed.quote is None:
            report.problems.append(f"{origin}: no TextQuoteSelector: nothing to anchor by")
            continue
        span, why = find_quote(text, parsed.quote.get("exact", ""), parsed.quote.get("prefix", ""),
                               parsed.quote.get("suffix", ""), parsed.position)
        if span is None:
            report.problems.append(f"{origin}: could not anchor in {codebase}/{path}: {why}")
            continue
        start, end = span_lines(text, span)
        if parsed.fragment:
            match = re.fullmatch(r"line=(\d+),(\d+)", parsed.fragment)
            if match and (int(match[1]) + 1, int(match[2])) != (start, end):
                report.problems.append(f"{origin}: its line fragment ({parsed.fragment}) disagrees with where the "
                                       f"quote is (lines {start}-{end}); the quote wins")
        quote = source.lines[start - 1].strip()
        if not quote:
            report.problems.append(f"{origin}: the text starts on a blank line ({start}); not anchored")
            continue
        # the id: ours when it is one of our note pages, else imported-<words>-<hash>
        note_id = None
        normal_origin = _normal_url(origin)
        if normal_origin.startswith(site_prefix):
            candidate = normal_origin[len(site_prefix):].strip("/")
            if re.fullmatch(NOTE_ID, candidate) and len(candidate) <= 80:
                note_id = candidate
        if note_id is None:
            digest = hashlib.sha256(f"{origin}\0{codebase}/{path}\0{span.start}".encode()).hexdigest()[:6]
            note_id = f"imported-{_slug_words(quote)}-{digest}"
        if note_id in existing:
            report.problems.append(f"{origin}: a note with id {note_id!r} already exists; not imported")
            continue
        if note_id in taken:
            report.problems.append(f"{origin}: id {note_id!r} appears twice in the input; imported once")
            continue
        body = parsed.body
        if parsed.body_format.lower().startswith("text/html"):
            body = html_to_markdown_text(body)
            report.problems.append(f"{origin}: the HTML body was converted to plain text")
        body, escaped = safe_markdown(body)
        if escaped:
            report.problems.append(f"{origin}: raw HTML in the body was escaped (the site allows none)")
        tags: list[str] = []
        for tag in parsed.tags:
            clean = _tag(tag)
            if clean is None:
                report.problems.append(f"{origin}: tag {tag[:40]!r} has no usable characters; dropped")
            elif clean not in tags:
                if clean != tag:
                    report.problems.append(f"{origin}: tag {tag[:40]!r} written as {clean!r}")
                tags.append(clean)
        file = next(f for f in manifest.codebases[codebase].files if f.path == path)
        taken.add(note_id)
        report.drafts.append(Draft(
            id=note_id, codebase=codebase, path=path, start=start, end=end, quote=quote,
            symbol=enclosing_symbol(path, text, start, end), code_class=parsed.code_class or file.code_class.value,
            title=" ".join(parsed.title.split())[:120] if parsed.title else None, tags=tuple(tags),
            authors=parsed.authors, body=body, origin=origin))
    return report


def _yaml(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def draft_text(draft: Draft) -> str:
    """The draft as a note file. Missing title, authors or body become placeholders."""
    lines = f"{draft.start}" if draft.start == draft.end else f"{draft.start}-{draft.end}"
    front = [
        "---",
        f"id: {draft.id}",
        f"codebase: {draft.codebase}",
        f"path: {draft.path}",
        f"lines: {lines}",
        f"quote: {_yaml(draft.quote)}",
        *([f"symbol: {draft.symbol}"] if draft.symbol else []),
        f"class: {draft.code_class}",
        f"title: {_yaml(draft.title) if draft.title else _yaml('{{title: a short plain-text title}}')}",
        f"tags: [{', '.join(_yaml(t) for t in draft.tags)}]",
        "cites: []",
        "see_also: []",
        "authors: [" + (", ".join(_yaml(a) for a in draft.authors) if draft.authors
                        else _yaml("{{authors: who wrote the annotation}}")) + "]",
        "---",
    ]
    body = draft.body or "{{body: the annotation had no text; write the note}}"
    return "\n".join(front) + "\n" + body + "\n"


def write_drafts(root: Path, report: ImportReport) -> None:
    """Write each draft to ``annotations/<codebase>/<id>.md``, never over an existing file
    (``O_EXCL``, which also refuses a symbolic link); what exists is reported instead."""
    annotations = (root / "annotations").resolve()
    for draft in report.drafts:
        target = root / draft.filename
        parent = target.parent.resolve() if target.parent.exists() else target.parent
        if not re.fullmatch(NOTE_ID, draft.id) or (target.parent.exists() and annotations not in parent.parents):
            report.problems.append(f"{draft.origin}: {draft.filename} is not a safe place to write; skipped")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            report.problems.append(f"{draft.origin}: {draft.filename} already exists; not overwritten")
            continue
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(draft_text(draft))
        report.written.append(draft.filename)


def import_file(root: Path, file: Path, manifest: Manifest, sources: Mapping[tuple[str, str], SourceText],
                notes: Iterable[Note], site: str, *, dry_run: bool = False) -> ImportReport:
    """``marginalia import FILE``: read, anchor, and (unless ``dry_run``) write drafts."""
    try:
        data = read_json(file)
    except ImportError_ as exc:
        return ImportReport(fatal=str(exc))
    report = plan_import(data, manifest, sources, notes, site)
    if not dry_run and report.fatal is None:
        write_drafts(root, report)
    return report
