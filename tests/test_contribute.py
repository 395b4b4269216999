"""Acting from the site: edit a note, suggest a new one, cite a note from its own page."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import ROOT
from helpers import skip_unless_extracted
from marginalia.manifest import load_manifest
from marginalia.notes import load_notes
from marginalia.scaffold import new_note
from marginalia.site import Project, load_inputs
from marginalia.urls import Repository

pytestmark = pytest.mark.network


def _inputs(site: Path):
    return load_inputs(Project(site.parent))


# -------------------------------------------------------------------- suggest a note --

def test_every_suggestion_url_stays_well_under_githubs_limit(real_site):
    skip_unless_extracted(real_site.parent)  # it counts the suggestions of every presented file
    inputs = _inputs(real_site)
    repository = Repository("https://github.com/some-very-long-organisation-name/some-fork-of-gpt2-marginalia", "main")
    longest, checked = 0, 0
    ranges = [(n.codebase, n.path, f"{n.start}-{n.end}") for n in inputs.notes.notes]
    for codebase, file in inputs.manifest.files():  # and each file's longest quotable line
        source = inputs.sources[(codebase, file.path)]
        if source.text is None:
            continue
        candidates = [(len(line), i + 1) for i, line in enumerate(source.lines) if line.strip() and len(line.strip()) <= 400]
        if candidates:
            ranges.append((codebase, file.path, str(max(candidates)[1])))
    for codebase, path, lines in ranges:
        if inputs.sources[(codebase, path)].text is None:
            continue
        scaffold = new_note(inputs.manifest, inputs.sources, inputs.notes.notes, codebase, path, lines)
        url = repository.new_file(f"annotations/{codebase}", scaffold.filename.rsplit("/", 1)[1], scaffold.text)
        longest = max(longest, len(url.encode()))
        checked += 1
    assert checked > 150 and longest < 8000, (checked, longest)


def _select(page, start: int, end: int) -> None:
    page.click(f"#L{start}", position={"x": 8, "y": 5})
    if end != start:
        page.click(f"#L{end}", position={"x": 8, "y": 5}, modifiers=["Shift"])
    page.wait_for_selector("#mg-suggest:not([hidden])")


@pytest.mark.browser
def test_a_selected_range_suggests_exactly_the_note_make_new_writes(real_site):
    from browser import CHROMIUM, CHROMIUM_ARGS, serve
    from playwright.sync_api import sync_playwright

    inputs = _inputs(real_site)
    source = inputs.sources[("gpt-2", "src/model.py")]
    assert source.text is not None  # from PyPI's byte-identical mirror when GitHub is unreachable
    quoted = next(i + 1 for i, line in enumerate(source.lines) if "'" in line)
    # a function, a function nested in one, a range a note encloses (its class), a quote with '
    ranges = [(69, 71), (75, 77), (61, 63), (quoted, quoted), (1, 3)]
    with serve(real_site) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(base + "code/gpt-2/src/model.py/")
        for start, end in ranges:
            _select(page, start, end)
            href = page.get_attribute("#mg-suggest a.mg-suggest__link", "href")
            assert len(href.encode()) < 8000
            parts = urlsplit(href)
            assert parts.path.endswith("/new/main/annotations/gpt-2")
            query = parse_qs(parts.query)
            expected = new_note(inputs.manifest, inputs.sources, inputs.notes.notes, "gpt-2", "src/model.py",
                                f"{start}-{end}")
            assert query["value"] == [expected.text], (start, end)
            assert query["filename"] == [expected.filename.rsplit("/", 1)[1]]
        # a blank first line: no note can start there (make new refuses it too)
        _select(page, 60, 62)
        assert "start a note at a line with code or text" in page.inner_text("#mg-suggest")
        # without a configured repository, the command that writes the same note
        page.evaluate("document.querySelector('.mg-file').removeAttribute('data-repo')")
        _select(page, 25, 26)
        assert page.inner_text("#mg-suggest .mg-suggest__command") == \
            "make new CODEBASE=gpt-2 FILE=src/model.py LINES=25-26"
        # a link that arrives with a range selects it, but suggests nothing
        page.goto(base + "code/gpt-2/src/model.py/#L30-L32")
        page.wait_for_timeout(300)
        assert page.is_hidden("#mg-suggest")
        browser.close()


# ---------------------------------------------------------------------- edit links --

def test_every_edit_link_points_to_a_file_git_tracks(real_site):
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("this checkout is not a git repository")
    files = set(tracked.stdout.split("\n"))
    edits = []
    for page in real_site.rglob("*.html"):
        edits += re.findall(r'<a class="mg-edit" href="[^"]*/edit/main/([^"]+)"', page.read_text(encoding="utf-8"))
    notes = load_notes(real_site.parent / "annotations", real_site.parent).notes
    assert len(edits) == 2 * len(notes)  # in the margin and on the note's own page
    untracked = sorted({path for path in edits if path not in files})
    new = {n.file for n in notes} - files  # notes written but not yet committed here
    assert set(untracked) <= new, untracked


def test_generated_pages_have_no_edit_this_page_action_and_written_pages_do(real_site):
    assert 'rel="edit"' not in (real_site / "code/gpt-2/src/model.py/index.html").read_text(encoding="utf-8")
    assert 'rel="edit"' not in (real_site / "notes/gpt2-attention-mask/index.html").read_text(encoding="utf-8")
    written = (real_site / "map/index.html").read_text(encoding="utf-8")
    assert re.search(r'href="[^"]*/edit/main/docs/map\.md"[^>]*rel="edit"', written)


# ---------------------------------------------------------------------- note pages --

def _meta(html: str, attribute: str, name: str) -> list[str]:
    return re.findall(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)">', html)


def test_every_note_has_a_page_that_reference_managers_can_capture(real_site):
    notes = load_notes(real_site.parent / "annotations", real_site.parent).notes
    dated = 0
    for note in notes:
        html = (real_site / "notes" / note.id / "index.html").read_text(encoding="utf-8")
        assert len(re.findall(r'<link rel="canonical" href="[^"]*/notes/' + re.escape(note.id) + '/">', html)) == 1
        anno = re.search(r"<script type='application/ld\+json;profile=\"http://www.w3.org/ns/anno.jsonld\"'>(.*?)</script>",
                         html, re.S)
        if anno:
            annotation = json.loads(anno[1].replace("<\\/", "</"))
            assert annotation["type"] == "Annotation" and annotation["body"]
        if "No citation:" in html:
            continue  # no date from git for this note here (see the page's own sentence)
        dated += 1
        assert _meta(html, "name", "citation_title") == [re.sub("&#x27;", "'", m) for m in _meta(html, "name", "citation_title")]
        assert len(_meta(html, "name", "citation_title")) == 1
        assert len(_meta(html, "name", "citation_author")) == len(note.authors)
        assert len(_meta(html, "name", "citation_date")) == 1
        assert _meta(html, "property", "og:type") == ["website"]
        assert _meta(html, "property", "og:site_name") == ["GPT-2 Marginalia"]
        assert "Chicago author-date" in html and "MLA" in html and "APA" in html
        for extension in ("bib", "ris", "json"):
            assert (real_site / "notes" / note.id / f"{note.id}.{extension}").is_file()
        assert "COinS" not in html and "Z3988" not in html
    if not dated:
        pytest.skip("no note has a date here (no git history): the citation metadata is not checked")


def _search_entries(site: Path) -> list[tuple[str, str, str]]:
    """(location, title, text) of every entry of the built search index: MkDocs'
    search/search_index.json or Zensical's search.json."""
    mkdocs_index = site / "search" / "search_index.json"
    if mkdocs_index.is_file():
        entries = json.loads(mkdocs_index.read_text(encoding="utf-8"))["docs"]
    else:
        entries = json.loads((site / "search.json").read_text(encoding="utf-8"))["items"]
    return [(e["location"], e["title"], e["text"]) for e in entries]


@pytest.mark.parametrize("generator", ["mkdocs", "zensical"])
def test_search_finds_each_note_once_on_its_own_page(request, generator):
    site = request.getfixturevalue("real_site" if generator == "mkdocs" else "real_site_zensical")
    entries = _search_entries(site)
    locations = [loc for loc, _, _ in entries]
    notes = load_notes(site.parent / "annotations", site.parent).notes
    assert len(notes) > 100
    code_pages = {f"code/{n.codebase}/{n.path}/" for n in notes}
    assert not [loc for loc in locations if loc.partition("#")[0] in code_pages], "code pages are out of search"
    assert not [loc for loc in locations if re.match(r"lineage/[^#]", loc)], "compare pages are out of search"
    assert any(loc.partition("#")[0] == "lineage/" for loc in locations), "the lineage overview is searched"
    assert any(loc.partition("#")[0] == "code/gpt-2/" for loc in locations), "a codebase's page is searched"
    for note in notes:
        found = [(loc, title, text) for loc, title, text in entries if loc.startswith(f"notes/{note.id}/")]
        assert len(found) == 1, (note.id, found)
        loc, title, text = found[0]
        assert loc.partition("#")[0] == f"notes/{note.id}/"
        assert "Cite this note" not in title + text and "Edit this note" not in text, note.id
        words = re.findall(r"[A-Za-z]{6,}", re.sub(r"`[^`]*`|\[[^\]]*\]\([^)]*\)|<[^>]*>", " ", note.body))
        assert words and all(w in text for w in words[:5]), (note.id, words[:5], text[:300])
