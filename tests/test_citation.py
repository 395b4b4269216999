"""Citing a note: golden citations per style, BibTeX/RIS/CSL-JSON read back, git dates.

The golden strings were checked by hand against the rules for a web page in the three
manuals: Chicago author-date, 18th ed. (author, year, title in quotation marks with the
period inside, website roman, month and day, URL); MLA Handbook, 9th ed. (author, title in
quotation marks with the period inside, website in italics, day month year, URL); APA, 7th
ed. (author with initials, full date in parentheses, title in italics in sentence case,
website, URL without a final period). A group author is written out in every style; two
personal authors have full given names in Chicago and MLA, initials in APA. No locator.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from marginalia import citation
from marginalia.citation import (CitationRenderer, NoteHistory, RendererMissing, bibtex_entry, csl_item, csl_name,
                                 note_dates, ris_record)

ROOT = Path(__file__).resolve().parent.parent
URL = "https://example.org/marginalia/notes/{}/"


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    try:
        found = CitationRenderer.locate(ROOT, cache_dir=tmp_path_factory.mktemp("citations"))
    except RendererMissing as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    return found


ORG = csl_item("gpt2-nsamples-zero", "Zero means for ever", ["GPT-2 Marginalia editors"],
               URL.format("gpt2-nsamples-zero"), date(2026, 12, 1))
TWO = csl_item("aid-cut", "cut_trailing_sentence: where a reply is made to end", ["Jane Doe", "Richard Roe"],
               URL.format("aid-cut"), date(2026, 3, 9))
QUOTED = csl_item("aid-revert-slicing", '"Revert" drops the last turn', ["GPT-2 Marginalia editors"],
                  URL.format("aid-revert-slicing"), date(2026, 12, 1))

GOLDEN_TEXT = {
    ("gpt2-nsamples-zero", "chicago"): (
        "GPT-2 Marginalia editors. 2026. “Zero Means for Ever.” GPT-2 Marginalia, December 1. "
        "https://example.org/marginalia/notes/gpt2-nsamples-zero/.",
        "(GPT-2 Marginalia editors 2026)"),
    ("gpt2-nsamples-zero", "mla"): (
        "GPT-2 Marginalia editors. “Zero Means for Ever.” GPT-2 Marginalia, 1 Dec. 2026, "
        "https://example.org/marginalia/notes/gpt2-nsamples-zero/.",
        "(GPT-2 Marginalia editors)"),
    ("gpt2-nsamples-zero", "apa"): (
        "GPT-2 Marginalia editors. (2026, December 1). Zero means for ever. GPT-2 Marginalia. "
        "https://example.org/marginalia/notes/gpt2-nsamples-zero/",
        "(GPT-2 Marginalia editors, 2026)"),
    ("aid-cut", "chicago"): (
        "Doe, Jane, and Richard Roe. 2026. “cut_trailing_sentence: Where a Reply Is Made to End.” "
        "GPT-2 Marginalia, March 9. https://example.org/marginalia/notes/aid-cut/.",
        "(Doe and Roe 2026)"),
    ("aid-cut", "mla"): (
        "Doe, Jane, and Richard Roe. “cut_trailing_sentence: Where a Reply Is Made to End.” GPT-2 Marginalia, "
        "9 Mar. 2026, https://example.org/marginalia/notes/aid-cut/.",
        "(Doe and Roe)"),
    ("aid-cut", "apa"): (
        "Doe, J., & Roe, R. (2026, March 9). cut_trailing_sentence: where a reply is made to end. GPT-2 Marginalia. "
        "https://example.org/marginalia/notes/aid-cut/",
        "(Doe & Roe, 2026)"),
    ("aid-revert-slicing", "chicago"): (
        "GPT-2 Marginalia editors. 2026. “‘Revert’ Drops the Last Turn.” GPT-2 Marginalia, December 1. "
        "https://example.org/marginalia/notes/aid-revert-slicing/.",
        "(GPT-2 Marginalia editors 2026)"),
    ("aid-revert-slicing", "mla"): (
        "GPT-2 Marginalia editors. “‘Revert’ Drops the Last Turn.” GPT-2 Marginalia, 1 Dec. 2026, "
        "https://example.org/marginalia/notes/aid-revert-slicing/.",
        "(GPT-2 Marginalia editors)"),
    ("aid-revert-slicing", "apa"): (
        "GPT-2 Marginalia editors. (2026, December 1). “Revert” drops the last turn. GPT-2 Marginalia. "
        "https://example.org/marginalia/notes/aid-revert-slicing/",
        "(GPT-2 Marginalia editors, 2026)"),
}

GOLDEN_HTML = {
    "chicago": ('GPT-2 Marginalia editors. 2026. “Zero Means for Ever.” GPT-2 Marginalia, December 1. '
                '<a href="{u}">{u}</a>.'),
    "mla": ('GPT-2 Marginalia editors. “Zero Means for Ever.” <em>GPT-2 Marginalia</em>, 1 Dec. 2026, '
            '<a href="{u}">{u}</a>.'),
    "apa": ('GPT-2 Marginalia editors. (2026, December 1). <em>Zero means for ever</em>. GPT-2 Marginalia. '
            '<a href="{u}">{u}</a>'),
}


@pytest.fixture(scope="module")
def rendered(renderer):
    return renderer.render([ORG, TWO, QUOTED])


@pytest.mark.parametrize("key", sorted(GOLDEN_TEXT))
def test_each_style_renders_the_golden_citation(rendered, key):
    note_id, style = key
    entry, in_text = GOLDEN_TEXT[key]
    assert rendered[note_id][style].text == entry
    assert rendered[note_id][style].in_text == in_text


@pytest.mark.parametrize("style", sorted(GOLDEN_HTML))
def test_the_html_has_only_italics_and_the_link(rendered, style):
    url = URL.format("gpt2-nsamples-zero")
    assert rendered["gpt2-nsamples-zero"][style].html == GOLDEN_HTML[style].format(u=url)
    for citations in rendered.values():
        tags = set(re.findall(r"</?([a-z]+)", citations[style].html + citations[style].in_text_html))
        assert tags <= {"em", "a"}


def test_the_rules_the_golden_strings_check(rendered):
    """The points a reader can verify against the manuals, stated one by one."""
    chicago, mla, apa = (rendered["aid-cut"][s].text for s in ("chicago", "mla", "apa"))
    assert "Doe, Jane, and Richard Roe." in chicago and "Doe, Jane, and Richard Roe." in mla  # full given names
    assert "Doe, J., & Roe, R." in apa  # APA: initials
    assert "End.”" in chicago and "End.”" in mla  # punctuation inside the closing quotation mark
    for note in rendered.values():
        for cited in note.values():
            assert "Editors, G" not in cited.text and "editors, G" not in cited.text  # an organisation, not a person
            assert not re.search(r"\bp\.|\bpp\.|¶|§|Retrieved|Accessed", cited.text + cited.in_text)  # no locators
    assert not apa.endswith(".")  # APA: no period after the URL


def test_each_note_is_rendered_alone_so_mla_never_abbreviates_a_repeated_author(rendered):
    assert "———" not in rendered["aid-revert-slicing"]["mla"].text
    assert "Revert" not in rendered["aid-revert-slicing"]["mla"].in_text  # no title added to tell works apart


def test_a_second_render_comes_from_the_cache(renderer, rendered, monkeypatch):
    monkeypatch.setattr(CitationRenderer, "_run", lambda *a: pytest.fail("pandoc ran again"))
    assert renderer.render([ORG]) == {"gpt2-nsamples-zero": rendered["gpt2-nsamples-zero"]}


def test_only_the_pinned_pandoc_is_accepted(tmp_path, monkeypatch):
    fake = tmp_path / "pandoc"
    fake.write_text("#!/bin/sh\necho 'pandoc 2.17.1.1'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("MARGINALIA_PANDOC", str(fake))
    monkeypatch.setenv("MARGINALIA_CSL_DIR", str(tmp_path))
    with pytest.raises(RendererMissing, match="CSL styles"):
        CitationRenderer.locate(tmp_path)
    for csl, _ in citation.STYLES.values():
        (tmp_path / f"{csl}.csl").write_text("<style/>")
    with pytest.raises(RendererMissing, match="pandoc 3.9 .*is 2.17"):
        CitationRenderer.locate(tmp_path)
    monkeypatch.delenv("MARGINALIA_PANDOC")
    monkeypatch.delenv("MARGINALIA_CSL_DIR")
    with pytest.raises(RendererMissing, match="make cite-env"):
        CitationRenderer.locate(tmp_path)


# ------------------------------------------------------------------------ names, titles --

@pytest.mark.parametrize("author, name", [
    ("GPT-2 Marginalia editors", {"literal": "GPT-2 Marginalia editors"}),
    ("Jane Doe", {"family": "Doe", "given": "Jane"}),
    ("Rita  Raley", {"family": "Raley", "given": "Rita"}),
    ("Ludwig van Beethoven", {"family": "Beethoven", "given": "Ludwig", "non-dropping-particle": "van"}),
    ("Hua, Minh", {"family": "Hua", "given": "Minh"}),
    ("Le Guin, Ursula K.", {"family": "Le Guin", "given": "Ursula K."}),
    ("Plato", {"literal": "Plato"}),
])
def test_author_names(author, name):
    assert csl_name(author) == name


@pytest.mark.parametrize("title, protected", [
    ("play.py: a game in place of OpenAI's two sample scripts", ["play.py"]),
    ("cut_trailing_sentence: where a reply is made to end", ["cut_trailing_sentence"]),
    ("/censor: an off switch", ["/censor"]),
    ('"conv1d": a plain matrix product', ["conv1d"]),
    ("Where the run of <|pad|> comes from", ["<|pad|>"]),
    ("bpe: OpenAI's merge loop", ["bpe"]),
    ("encode and decode, split into steps", ["encode", "decode"]),
    ("Ten commands in a chain of elif", ["elif"]),
    ("Zero means for ever", []),
])
def test_code_words_keep_their_case(title, protected):
    assert [title[s:e] for s, e in citation.code_words(title)] == protected


def test_the_csl_title_marks_code_words_with_nocase():
    assert csl_item("x", "The function called splash is a menu", ["A B"], "https://e.org/", None,
                    names=("splash",))["title"] == 'The function called <span class="nocase">splash</span> is a menu'


# ----------------------------------------------------------------------- downloads --

def test_bibtex_is_read_back_by_a_bibtex_parser():
    import bibtexparser

    text = (bibtex_entry("aid-cut", "cut_trailing_sentence: where a reply is made to end", ["Jane Doe", "Richard Roe"],
                         URL.format("aid-cut"), date(2026, 3, 9))
            + bibtex_entry("gpt2-x", '"Revert" & 100% of <|pad|> in GPT-2', ["GPT-2 Marginalia editors"],
                           URL.format("gpt2-x"), date(2026, 12, 1)))
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    first, second = library.entries
    assert (first.entry_type, first.key) == ("misc", "aid-cut")
    fields = first.fields_dict
    assert fields["author"].value == "Doe, Jane and Roe, Richard"
    assert fields["title"].value == r"{cut\_trailing\_sentence:} where a reply is made to end"
    assert fields["howpublished"].value == "GPT-2 Marginalia"
    assert (fields["year"].value, fields["month"].value, fields["date"].value) == ("2026", "mar", "2026-03-09")
    assert fields["url"].value == URL.format("aid-cut")
    assert "urldate" not in fields and "note" not in fields
    assert second.fields_dict["author"].value == "{GPT-2 Marginalia editors}"  # braces: one organisation
    assert second.fields_dict["title"].value == (r"{“Revert”} \& 100\% of {\textless{}\textbar{}pad\textbar{}"
                                                 r"\textgreater{}} in {GPT-2}")
    # the LaTeX decodes back to the title (pylatexenc, bibtexparser's own decoder)
    from pylatexenc.latex2text import LatexNodes2Text

    assert LatexNodes2Text().latex_to_text(fields["title"].value) == "cut_trailing_sentence: where a reply is made to end"


def test_ris_is_read_back_by_an_ris_reader():
    import rispy

    text = (ris_record("aid-cut", "cut_trailing_sentence: where a reply is made to end", ["Jane Doe", "Richard Roe"],
                       URL.format("aid-cut"), date(2026, 3, 9))
            + ris_record("gpt2-x", "Zero means for ever", ["GPT-2 Marginalia editors"], URL.format("gpt2-x"),
                         date(2026, 12, 1)))
    assert text.count("\r\n") == text.count("\n")
    first, second = rispy.loads(text)
    assert first["type_of_reference"] == "ELEC"
    assert first["authors"] == ["Doe, Jane", "Roe, Richard"]
    assert first["title"] == "cut_trailing_sentence: where a reply is made to end"
    assert first["secondary_title"] == "GPT-2 Marginalia"
    assert (first["year"], first["date"]) == ("2026", "2026/03/09")
    assert first["urls"] == [URL.format("aid-cut")]
    assert first["id"] == "aid-cut"
    assert second["authors"] == ["GPT-2 Marginalia editors"]  # no comma: one name, not family + given
    assert "access_date" not in first and "start_page" not in first


CSL_TYPES = {"article", "article-journal", "article-magazine", "article-newspaper", "bill", "book", "broadcast",
             "chapter", "classic", "collection", "dataset", "document", "entry", "entry-dictionary",
             "entry-encyclopedia", "event", "figure", "graphic", "hearing", "interview", "legal_case",
             "legislation", "manuscript", "map", "motion_picture", "musical_score", "pamphlet",
             "paper-conference", "patent", "performance", "periodical", "personal_communication", "post",
             "post-weblog", "regulation", "report", "review", "review-book", "software", "song", "speech",
             "standard", "thesis", "treaty", "webpage"}
CSL_NAME_KEYS = {"family", "given", "dropping-particle", "non-dropping-particle", "suffix", "comma-suffix",
                 "static-ordering", "literal", "parse-names"}


def check_csl_item(item: dict) -> None:
    """A minimal check against the CSL-JSON schema (csl-data.json, CSL 1.0.2) for the fields
    a note uses: required id and type (from the type list), string variables, name lists,
    date-parts of one to three integers."""
    assert set(item) <= {"id", "type", "title", "container-title", "author", "URL", "issued", "language"}
    assert isinstance(item["id"], str) and item["type"] in CSL_TYPES
    for key in ("title", "container-title", "URL", "language"):
        assert isinstance(item.get(key, ""), str)
    for name in item["author"]:
        assert name and set(name) <= CSL_NAME_KEYS and all(isinstance(v, str) for v in name.values())
        assert ("literal" in name) != ("family" in name)
    if "issued" in item:
        assert set(item["issued"]) == {"date-parts"}
        (parts,) = item["issued"]["date-parts"]
        assert 1 <= len(parts) <= 3 and all(isinstance(p, int) for p in parts)


def test_csl_json_matches_the_schema_and_pandoc_reads_it(renderer):
    for item in (ORG, TWO, QUOTED):
        check_csl_item(item)
    cited = citation.NoteCitation("aid-cut", TWO["URL"], citation.NoteDates(None, None), TWO)
    data = json.loads(cited.csl_json)
    assert data == [TWO]
    back = subprocess.run([str(renderer.pandoc), "-f", "csljson", "-t", "csljson"], input=cited.csl_json,
                          capture_output=True, text=True, check=True)
    (item,) = json.loads(back.stdout)
    assert item["author"] == TWO["author"] and item["issued"] == TWO["issued"] and item["URL"] == TWO["URL"]


# ---------------------------------------------------------------------------- dates --

def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _commit(repo: Path, when: str, message: str):
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", message], cwd=repo, check=True, env=env)


@pytest.fixture
def history_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "annotations" / "gpt-2").mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    note = repo / "annotations" / "gpt-2" / "a.md"
    note.write_text("first\n" + "x\n" * 40)
    (repo / "annotations" / "gpt-2" / "b.md").write_text("other\n")
    _commit(repo, "2026-01-02T10:00:00+00:00", "add")
    note.write_text("second\n" + "x\n" * 40)
    _commit(repo, "2026-02-03T10:00:00+00:00", "edit")
    _git("mv", "annotations/gpt-2/a.md", "annotations/gpt-2/renamed.md", cwd=repo)
    _commit(repo, "2026-03-04T10:00:00+00:00", "rename")
    (repo / "unrelated.txt").write_text("later\n")
    _commit(repo, "2026-04-05T10:00:00+00:00", "unrelated")
    return repo


def test_dates_come_from_git_and_follow_renames(history_repo):
    first, last = note_dates(history_repo, "annotations/gpt-2/renamed.md")
    assert (first.date(), last.date()) == (date(2026, 1, 2), date(2026, 3, 4))
    history = NoteHistory.read(history_repo)
    assert tuple(history.of("annotations/gpt-2/renamed.md")) == (first, last)
    assert tuple(history.of("annotations/gpt-2/b.md")) == tuple(note_dates(history_repo, "annotations/gpt-2/b.md"))
    assert history.of("annotations/gpt-2/b.md").last_day == date(2026, 1, 2)


def test_the_real_notes_get_the_same_dates_from_one_git_log_as_from_git_log_per_file():
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"], capture_output=True,
                      text=True).stdout.strip() != "false":
        pytest.skip("this checkout is shallow or not a repository")
    history = NoteHistory.read(ROOT)
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "annotations").glob("*/*.md"))
    for file in files[::9]:
        assert tuple(history.of(file)) == tuple(note_dates(ROOT, file)), file


def test_missing_history_is_said_not_invented(history_repo, tmp_path):
    shallow = tmp_path / "shallow"
    _git("clone", "-q", "--depth", "1", f"file://{history_repo}", str(shallow), cwd=tmp_path)
    dates = note_dates(shallow, "annotations/gpt-2/renamed.md")
    assert tuple(dates) == (None, None) and "shallow clone" in dates.missing
    assert NoteHistory.read(shallow).of("annotations/gpt-2/renamed.md").missing == dates.missing

    plain = tmp_path / "plain"
    plain.mkdir()
    assert "not a git repository" in note_dates(plain, "annotations/gpt-2/a.md").missing
    assert "not a git repository" in NoteHistory.read(plain).of("annotations/gpt-2/a.md").missing

    (history_repo / "annotations" / "gpt-2" / "new.md").write_text("new\n")
    assert "not committed" in note_dates(history_repo, "annotations/gpt-2/new.md").missing


def test_a_note_without_a_date_gets_no_citation_but_a_reason(tmp_path):
    from marginalia.notes import read_note
    from helpers import note_text

    (tmp_path / "n.md").write_text(note_text("gpt2-x", "gpt-2", "src/a.py", "1", "x = 1"))
    note = read_note(tmp_path / "n.md", "annotations/gpt-2/n.md")[0]
    cited = citation.cite_notes([note], "https://example.org/m/", NoteHistory({}, "no history here"), None)["gpt2-x"]
    assert cited.unavailable == "No citation: no history here."
    assert cited.styles == {} and cited.downloads() == {}
    assert "issued" not in cited.item and cited.url == "https://example.org/m/notes/gpt2-x/"


def test_the_site_url_is_read_like_mkdocs_reads_it(tmp_path, monkeypatch):
    (tmp_path / "mkdocs.yml").write_text('site_url: !ENV [SITE_URL, "https://example.org/base"]\nx: !relative\n')
    monkeypatch.delenv("SITE_URL", raising=False)
    assert citation.site_url(tmp_path) == "https://example.org/base/"
    monkeypatch.setenv("SITE_URL", "https://pages.example/m/")
    assert citation.site_url(tmp_path) == "https://pages.example/m/"
    monkeypatch.delenv("SITE_URL")
    assert citation.site_url(ROOT) == "http://127.0.0.1:8000/"


def test_a_whole_note_citation_end_to_end(history_repo, renderer):
    from marginalia.notes import read_note
    from helpers import note_text

    path = history_repo / "annotations" / "gpt-2" / "renamed.md"
    path.write_text(note_text("gpt2-renamed", "gpt-2", "src/a.py", "1", "x = 1", title="'play.py: a game'",
                              extra="authors: [Jane Doe]\n").replace("authors: [Test]\n", ""))
    _commit(history_repo, "2026-05-06T10:00:00+00:00", "note")
    note = read_note(path, "annotations/gpt-2/renamed.md")[0]
    cited = citation.cite_note(history_repo, note, "https://example.org/m/", renderer)
    assert cited.unavailable is None
    assert cited.styles["chicago"].text == ("Doe, Jane. 2026. “play.py: A Game.” GPT-2 Marginalia, May 6. "
                                            "https://example.org/m/notes/gpt2-renamed/.")
    assert set(cited.downloads()) == {"gpt2-renamed.bib", "gpt2-renamed.ris", "gpt2-renamed.json"}
    assert (cited.dates.first.date(), cited.dates.last.date()) == (date(2026, 1, 2), date(2026, 5, 6))
    meta = citation.highwire_meta(note, cited)
    assert ("name", "citation_author", "Doe, Jane") in meta and ("name", "citation_date", "2026/05/06") in meta
    assert ("property", "og:type", "website") in meta and ("name", "citation_title", "play.py: a game") in meta


# ------------------------------------------------------------------------ CITATION.cff --

CFFCONVERT = ROOT / ".marginalia" / "cff-venv" / "bin" / "cffconvert"


def test_citation_cff_validates_with_cffconvert(tmp_path):
    if not CFFCONVERT.exists():
        if os.environ.get("CI"):
            pytest.fail("make cff-check installs cffconvert; `make test` runs it")
        pytest.skip("cffconvert is not installed: run `make cff-check`")
    ok = subprocess.run([str(CFFCONVERT), "--validate", "--infile", str(ROOT / "CITATION.cff")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "CITATION.cff"
    broken.write_text((ROOT / "CITATION.cff").read_text().replace("cff-version: 1.2.0", "cff-version: 1.2.0\nauthor: x"))
    bad = subprocess.run([str(CFFCONVERT), "--validate", "--infile", str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0  # the validator really validates


def test_citation_cff_agrees_with_the_project():
    import tomllib
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["title"] == citation.SITE_TITLE
    assert cff["version"] == project["version"]
    assert cff["license"] == project["license"]["text"]
    assert cff["authors"] == [{"name": citation.HOUSE_AUTHOR}]


def test_a_project_inside_a_larger_repository_names_its_notes_from_its_own_root(tmp_path):
    repo = tmp_path / "outer"
    (repo / "sub" / "annotations" / "gpt-2").mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    (repo / "sub" / "annotations" / "gpt-2" / "n.md").write_text("n\n")
    _commit(repo, "2026-06-07T10:00:00+00:00", "add")
    project = repo / "sub"
    assert NoteHistory.read(project).of("annotations/gpt-2/n.md").last_day == date(2026, 6, 7)
    assert note_dates(project, "annotations/gpt-2/n.md").last_day == date(2026, 6, 7)
