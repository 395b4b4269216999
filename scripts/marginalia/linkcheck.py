"""Check every internal link and anchor of the built site, our fragment grammar included.

MkDocs validates links between Markdown pages but cannot know that ``#L10-L20`` is a valid
fragment (the script turns it into a highlight), nor see the ids inside generated code pages,
so its anchor check is off (``validation: anchors: ignore``) and this check takes over: every ``href`` and ``src`` inside ``site/`` must lead to an existing
file, and every fragment to an element id on that page — or, for ``#L<a>-L<b>``, to a page
that has both ``L<a>`` and ``L<b>``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"^L(\d+)-L(\d+)$")
_LINE = re.compile(r"^L\d+(?:-L\d+)?$")


@dataclass(frozen=True)
class BrokenLink:
    page: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"site/{self.page}: {self.target}: {self.reason}"


@dataclass
class LinkReport:
    checked: int = 0
    broken: list[BrokenLink] = field(default_factory=list)
    unverified: list[BrokenLink] = field(default_factory=list)
    """Links to lines of files this build could not extract (only with allow-missing): their
    pages exist and say so, but whether the lines exist cannot be known."""


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.base_href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id", "name"):
            if values.get(name) and (name == "id" or tag == "a"):
                self.ids.add(values[name])
        for name in ("href", "src", "xlink:href"):
            value = values.get(name)
            if value is not None and not (tag == "link" and values.get("rel") in ("canonical", "alternate")):
                self.links.append(value)


def _parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return collector


def check_site(site: Path, base_path: str = "/", unextracted: frozenset[str] = frozenset()) -> LinkReport:
    """Check every internal link. ``base_path`` is the path of the site's URL (``site_url``),
    which absolute links such as those of 404.html start with. ``unextracted`` holds the
    pages (``code/<codebase>/<path>/index.html``) of files this build could not extract: a
    line fragment into one of them is reported as unverified, not broken."""
    base = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
    pages = {p.relative_to(site).as_posix(): p for p in site.rglob("*.html")}
    parsed: dict[str, _Collector] = {}

    def page_of(relative: str) -> _Collector:
        if relative not in parsed:
            parsed[relative] = _parse(pages[relative])
        return parsed[relative]

    report = LinkReport()
    broken = report.broken
    for relative in sorted(pages):
        for href in page_of(relative).links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:", "data:")):
                continue
            report.checked += 1
            target_path = unquote(parts.path)
            if target_path.startswith("/"):
                if not target_path.startswith(base) and target_path + "/" != base:
                    broken.append(BrokenLink(relative, href, f"absolute link outside the site's base path {base}"))
                    continue
                target_path = target_path[len(base):] or "./"
                origin = ""
            else:
                origin = posixpath.dirname(relative)
            if target_path:
                joined = posixpath.normpath(posixpath.join(origin, target_path))
                if joined.startswith(".."):
                    broken.append(BrokenLink(relative, href, "points outside the site"))
                    continue
                candidate = site / joined
                if candidate.is_dir() or target_path.endswith("/"):
                    joined = posixpath.join(joined, "index.html") if joined != "." else "index.html"
                    candidate = site / joined
                if not candidate.exists():
                    broken.append(BrokenLink(relative, href, "no such file"))
                    continue
            else:
                joined = relative
            fragment = unquote(parts.fragment)
            if not fragment or not joined.endswith(".html"):
                continue
            if joined in unextracted and _LINE.match(fragment):
                report.unverified.append(BrokenLink(relative, href, "lines of a file that is not extracted in this build"))
                continue
            ids = page_of(joined).ids
            span = _RANGE.match(fragment)
            if span:
                if f"L{span[1]}" not in ids or f"L{span[2]}" not in ids:
                    broken.append(BrokenLink(relative, href, "line range outside the file"))
            elif fragment not in ids:
                broken.append(BrokenLink(relative, href, f"no element with id {fragment!r}"))
    return report


def check_completeness(site: Path, note_ids: list[str], code_pages: list[str]) -> list[str]:
    """Every note id appears as exactly one element id across the built site, and every
    presented file has its page. Returns one message per problem."""
    counts: dict[str, int] = {}
    wanted = {f"note-{note_id}" for note_id in note_ids}
    for page in site.rglob("*.html"):
        collector = _parse(page)
        for element_id in collector.ids & wanted:
            counts[element_id] = counts.get(element_id, 0) + 1
    problems = []
    for note_id in sorted(note_ids):
        found = counts.get(f"note-{note_id}", 0)
        if found != 1:
            problems.append(f"note {note_id!r} appears {found} times in the built site (expected exactly once)")
    for url in code_pages:
        if not (site / url / "index.html").is_file():
            problems.append(f"the page {url} is missing from the built site")
    return problems
