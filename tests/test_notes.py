"""The note checker, against a corpus of good and broken notes (tests/corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SAMPLE_PY, sha256
from marginalia.bibliography import load_bibliography
from marginalia.manifest import parse_manifest
from marginalia.notes import CheckContext, Glossary, NoteFrontMatter, check_notes, glossary_terms, load_notes
from marginalia.sources import SourceText

CORPUS = Path(__file__).parent / "corpus"
ROOT = Path(__file__).parent.parent


def demo_context(text: str | None = SAMPLE_PY) -> CheckContext:
    manifest = parse_manifest(
        'schema = 1\n[codebases.demo]\ntitle = "Demo"\nauthors = "T"\nsummary = "S"\n'
        'upstream = "https://example.org/demo"\nlicence = "MIT"\n[codebases.demo.pins.main]\n'
        f'git = "https://example.org/demo.git"\ncommit = "{"a" * 40}"\nlabel = "x"\nbrowse = "https://example.org/{{member}}"\n'
        f'[[codebases.demo.files]]\npath = "sample.py"\nsha256 = "{sha256(SAMPLE_PY)}"\nclass = "model"\n')
    file = manifest.codebases["demo"].files[0]
    sources = {("demo", "sample.py"): SourceText("demo", file, text, None if text else "not extracted")}
    bibliography = load_bibliography(ROOT / "annotations" / "bibliography.json")
    glossary = Glossary(frozenset({"logits", "softmax", "exception", "valueerror"}),
                        {"exception": ("exception", "exceptions"), "valueerror": ("ValueError",)})
    return CheckContext(manifest, sources, bibliography, glossary)


def expected_lines() -> list[str]:
    return [line for line in (CORPUS / "expected.txt").read_text().splitlines() if line and not line.startswith("#")]


@pytest.fixture
def checked():
    notes = load_notes(CORPUS / "annotations", CORPUS)
    return check_notes(notes, demo_context())


def test_every_expected_problem_is_reported_with_file_and_line(checked):
    produced = [str(p) for p in checked.problems]
    missing = [e for e in expected_lines() if not any(p.startswith(e) for p in produced)]
    assert missing == [], "\n".join(produced)


def test_no_unexpected_problems_and_good_notes_are_clean(checked):
    produced = [str(p) for p in checked.problems]
    unexpected = [p for p in produced if not any(p.startswith(e) for e in expected_lines())]
    assert unexpected == []
    assert not [p for p in produced if "/good-" in p]


def test_broken_notes_do_not_stop_the_others_loading(checked):
    ids = {n.id for n in checked.notes}
    assert {"demo-softmax", "demo-scale", "demo-step"} <= ids
    broken_files = {b.file for b in checked.broken}
    # unreadable notes are kept (shown in preview), not dropped
    assert "annotations/demo/broken-yaml.md" in broken_files
    assert "annotations/demo/broken-python-tag.md" in broken_files
    files = {p.name for p in (CORPUS / "annotations" / "demo").glob("*.md")}
    loaded = {Path(n.file).name for n in checked.notes} | {Path(b.file).name for b in checked.broken}
    assert loaded == files


def test_notes_on_an_unextracted_file_are_unverified_not_dropped():
    notes = load_notes(CORPUS / "annotations", CORPUS)
    checked = check_notes(notes, demo_context(text=None))
    assert {n.id for n in checked.unverified} >= {"demo-softmax", "demo-scale", "demo-step"}
    assert not any("quote does not match" in str(p) for p in checked.problems)


def test_glossary_entries_marked_jargon_carry_their_forms(tmp_path):
    page = tmp_path / "glossary.md"
    page.write_text("# Glossary\n\n## Token {#token}\n\nText.\n\n"
                    '## Exception {#exception .jargon data-forms="exception|exceptions"}\n\nText.\n\n'
                    "### `else` branch { #else-branch .jargon }\n\nText.\n")
    glossary = glossary_terms(page)
    assert glossary.terms == {"token", "exception", "else-branch"}
    assert dict(glossary.jargon) == {"exception": ("exception", "exceptions"), "else-branch": ()}
    assert "token" in glossary and "logits" not in glossary


def test_a_review_record_against_another_file_version_is_stale(checked):
    reviewed = {note.id: why for note, why in checked.unreviewed}
    assert "demo-jargon-linked" in reviewed and "reviewed against 0123456789ab" in reviewed["demo-jargon-linked"]
    assert reviewed.get("demo-softmax") == "no review record"


def test_published_schema_is_the_note_model():
    import json

    schema = json.loads((ROOT / "annotations" / "note.schema.json").read_text())
    assert schema["properties"].keys() == NoteFrontMatter.model_json_schema(by_alias=True)["properties"].keys()
    assert set(schema["required"]) == {"id", "codebase", "path", "lines", "quote", "class", "title", "authors"}
    assert schema["properties"]["class"]["$ref"].endswith("CodeClass") or "enum" in str(schema)
