"""Issue 4's contract: every code row of the article's G, D and W tables is covered by a
note whose lines contain the code the row cites, with the row's class; and the notes are
many, substantial and in our own words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marginalia.concordance import coverage, load_rows
from marginalia.notes import load_notes
from marginalia.site import Project

ROOT = Path(__file__).resolve().parent.parent
ROWS = load_rows(ROOT / "annotations" / "article-map.toml")
NOTES = load_notes(ROOT / "annotations", ROOT)


def test_the_map_has_every_row_of_the_three_tables():
    ids = {row.id for row in ROWS}
    expected = {f"G{n}" for n in range(1, 29)} | {f"D{n}" for n in range(1, 21)} | {f"W{n}" for n in range(1, 17)}
    assert ids == expected


@pytest.mark.parametrize("cov", coverage(ROWS, NOTES.notes), ids=lambda c: f"{c.row.id}-{c.row.path or 'outside'}")
def test_every_code_row_is_covered_by_a_note_of_its_class(cov):
    assert cov.complete, f"{cov.row.id} ({cov.row.path}): no {cov.row.code_class.value} note covers lines {cov.uncovered}"


def test_there_are_at_least_90_notes_of_at_least_60_words():
    assert not NOTES.broken
    assert len(NOTES.notes) >= 90
    short = [n.id for n in NOTES.notes if n.word_count < 60]
    assert short == []


def _prose(body: str) -> str:
    body = re.sub(r"^(```|~~~).*?^\1", " ", body, flags=re.S | re.M)  # code blocks
    body = re.sub(r"`[^`\n]*`", " ", body)  # code spans
    return re.sub(r"\]\([^)]*\)", "]", body)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_notes_do_not_reproduce_the_comments_of_the_code_they_discuss():
    """No run of 12 words of a note's prose appears in the file it annotates (docstrings and
    comments included): notes paraphrase, and quote only short fragments."""
    cache = Project(ROOT).cache
    offenders = []
    for note in NOTES.notes:
        source = cache.file_path(note.codebase, note.path)
        if not source.is_file():
            continue
        code_words = " ".join(_words(source.read_text(encoding="utf-8", errors="replace")))
        words = _words(_prose(note.body))
        for i in range(len(words) - 11):
            window = " ".join(words[i:i + 12])
            if window in code_words:
                offenders.append(f"{note.file}: {window!r}")
                break
    assert offenders == []


def test_quotations_in_notes_are_short():
    """Quoted passages (between quotation marks) stay under 25 words."""
    long = []
    for note in NOTES.notes:
        for quoted in re.findall(r"[\"“]([^\"”]{1,2000})[\"”]", _prose(note.body)):
            if len(_words(quoted)) >= 25:
                long.append(f"{note.file}: {quoted[:60]}…")
    assert long == []


def test_disagreements_between_article_and_code_have_notes():
    """Paper-map §7: each place where the code and the article disagree has its note."""
    bodies = {n.id: n.body.lower() for n in NOTES.notes}
    expected = {
        "aid-remember-alter-absent": ["remember", "alter"],
        "aid-revert-slicing": ["index"],
        "aid-output-second-person-off": ["second"],
        "aid-input-second-person": ["second"],
        "twdne-blacklist-ngrams": ["n-gram"],
        "twdne-special-tokens": ["seven"],
        "gpt2-conditional-context": ["unconditional"],
        "gpt2-nsamples-docstring": ["indefinately"],
    }
    for note_id, words in expected.items():
        assert note_id in bodies, note_id
        for word in words:
            assert word in bodies[note_id], (note_id, word)


def test_contributing_guide_shows_two_real_notes_verbatim():
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    examples = re.findall(r"`(annotations/[^`]+\.md)`:\n\n````markdown\n(.*?)````", guide, flags=re.S)
    assert len(examples) == 2
    for path, text in examples:
        assert (ROOT / path).read_text() == text, f"CONTRIBUTING.md's copy of {path} is out of date"
