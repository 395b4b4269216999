"""MkDocs and Zensical build the same site from the same pages.

Material for MkDocs reaches its end of life in 2027; Zensical, its makers' successor, reads
mkdocs.yml and our Markdown extension but runs no MkDocs hook. The real project is built
by both and compared page by page: the same pages, the same ids in the page content (so
`#L<n>` and `#note-<id>` links survive the move), every note's HTML identical, and the
same internal link targets. What legitimately differs is left out: the theme's own chrome
(navigation, header, footer, asset file names) and the search index format.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from marginalia import urls
from marginalia.manifest import load_manifest

from conftest import ROOT

pytestmark = pytest.mark.network

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
NOTE = re.compile(r'<article class="mg-note .*?</article>', re.S)
# The generators' own additions inside the content area.
CHROME_IDS = {"__skip"}


class _Content(HTMLParser):
    """Ids and link targets inside the page content (``.md-content``), not the theme's chrome."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.depth = 0  # stack depth at which the content element opened; 0 = outside
        self.ids: list[str] = []
        self.links: list[str] = []

    def _record(self, attrs: dict) -> None:
        if attrs.get("id") and attrs["id"] not in CHROME_IDS:
            self.ids.append(attrs["id"])
        for name in ("href", "src", "xlink:href"):
            if attrs.get(name) is not None:
                self.links.append(attrs[name])

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        opens = not self.depth and "md-content" in (values.get("class") or "").split()
        if tag not in VOID:
            self.stack.append(opens)
            if opens:
                self.depth = len(self.stack)
        if self.depth:
            self._record(values)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if self.depth:
            self._record(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not self.stack:
            return
        self.stack.pop()
        if self.depth and len(self.stack) < self.depth:
            self.depth = 0


def _target(page: str, href: str) -> str:
    """A link as the site-relative file and fragment it leads to."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", href) or href.startswith("//"):
        return href
    path, _, fragment = href.partition("#")
    if not path:
        target = page
    else:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
        if path.endswith("/") or not posixpath.splitext(target)[1]:
            target += "/index.html"
    return target + (f"#{fragment}" if fragment else "")


EDIT_ACTION = re.compile(r'<a href="[^"]*" title="[^"]*" class="md-content__button md-icon" rel="edit">')


def page_facts(site: Path) -> dict[str, tuple[list[str], Counter, list[str]]]:
    """For every page: content ids (in order), content link targets, each note's HTML."""
    facts = {}
    for file in sorted(site.rglob("*.html")):
        relative = file.relative_to(site).as_posix()
        html = EDIT_ACTION.sub("", file.read_text(encoding="utf-8"))  # MkDocs' "edit this page" (Zensical has none)
        content = _Content()
        content.feed(html)
        facts[relative] = (content.ids, Counter(_target(relative, h) for h in content.links), NOTE.findall(html))
    return facts


def test_page_facts_see_content_ids_links_and_notes(tmp_path):
    # the comparison below is only as good as what this reads
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text(
        '<html><body><nav><a href="../x/" id="nav">x</a></nav><div class="md-content"><a id="__skip"></a>'
        '<span id="L1">one</span><br><img src="../i.png"><a href="../b/#L2-L3">b</a>'
        '<article class="mg-note mg-note--model" id="note-n"><p>n</p></article></div>'
        '<footer><a href="../y/">y</a></footer></body></html>')
    ids, links, notes = page_facts(tmp_path)["a/index.html"]
    assert ids == ["L1", "note-n"]
    assert links == Counter({"i.png": 1, "b/index.html#L2-L3": 1})
    assert notes == ['<article class="mg-note mg-note--model" id="note-n"><p>n</p></article>']


def test_mkdocs_and_zensical_build_the_same_pages_ids_notes_and_links(real_site, real_site_zensical):
    ours, theirs = page_facts(real_site), page_facts(real_site_zensical)
    assert sorted(ours) == sorted(theirs), "the two builds have different pages"
    manifest = load_manifest(ROOT / "sources.toml")
    code_pages = [urls.code_page(cb, f.path) + "index.html" for cb, f in manifest.files()]
    assert all(page in ours for page in code_pages)

    differences = []
    notes = 0
    for page in sorted(ours):
        (ids_a, links_a, notes_a), (ids_b, links_b, notes_b) = ours[page], theirs[page]
        notes += len(notes_a)
        if ids_a != ids_b:
            differences.append(f"{page}: ids differ: {sorted(set(ids_a) ^ set(ids_b))[:5]}")
        if links_a != links_b:
            differences.append(f"{page}: links only in MkDocs' build {list((links_a - links_b).items())[:3]}, "
                               f"only in Zensical's {list((links_b - links_a).items())[:3]}")
        if notes_a != notes_b:
            differences.append(f"{page}: note HTML differs")
    assert not differences, "\n".join(differences[:30])
    # the comparison saw the whole site: every note, every line id of a code page
    note_files = list((ROOT / "annotations").glob("*/**/*.md"))
    assert notes == len(note_files)
    model_ids = ours["code/gpt-2/src/model.py/index.html"][0]  # extracted from PyPI's mirror when GitHub is unreachable
    assert sum(1 for i in model_ids if re.fullmatch(r"L\d+", i)) > 150
