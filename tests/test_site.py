"""The whole pipeline on a project made by the test: extract, check, build --strict."""

from __future__ import annotations

import pytest

from helpers import SAMPLE_PY, make_project, note_text, run_marginalia


FILES = {"gpt-2": {"src/sample.py": SAMPLE_PY, "LICENSE": "MIT licence text\n"},
         "twdne": {"title_maker_pro/words.py": "WORDS = ['a', 'b']\n"}}
NOTES = {"gpt-2/demo-softmax.md": note_text("demo-softmax", "gpt-2", "src/sample.py", "5-10", "def softmax(values):")}


def test_build_produces_a_page_per_file_with_line_anchors(tmp_path):
    root = make_project(tmp_path, FILES, NOTES)
    result = run_marginalia(root, "build")
    assert result.returncode == 0, result.stderr
    for codebase, files in FILES.items():
        for path, text in files.items():
            page = root / "site" / "code" / codebase / path / "index.html"
            assert page.is_file(), page
            html = page.read_text()
            assert html.count(' id="L') == len(text.splitlines())
    model_page = (root / "site/code/gpt-2/src/sample.py/index.html").read_text()
    assert 'id="note-demo-softmax"' in model_page
    assert "https://example.org/gpt-2/blob/" in model_page  # link upstream at the pinned commit
    assert (root / "site/code/gpt-2/index.html").is_file()


def test_unreachable_upstream_fails_with_one_line_per_codebase(tmp_path):
    root = make_project(tmp_path, FILES, NOTES, unreachable={"twdne", "gpt-2"})
    result = run_marginalia(root, "build")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith("error: gpt-2: upstream") and errors[1].startswith("error: twdne: upstream")
    assert all("insteadOf" in line for line in errors)
    assert "Traceback" not in result.stderr
    assert not (root / "site").exists()


def test_opt_in_builds_the_rest_with_a_visible_notice(tmp_path):
    root = make_project(tmp_path, FILES, NOTES, unreachable={"gpt-2"})
    result = run_marginalia(root, "build", "--allow-missing")
    assert result.returncode == 0, result.stderr
    page = (root / "site/code/gpt-2/src/sample.py/index.html").read_text()
    assert "Not extracted" in page and "unverified" in page
    assert 'id="note-demo-softmax"' in page  # the note is listed, not dropped
    assert "not extracted" in (root / "site/code/gpt-2/index.html").read_text()
    assert 'id="L1"' in (root / "site/code/twdne/title_maker_pro/words.py/index.html").read_text()
    env_result = run_marginalia(root, "build", env={"MARGINALIA_ALLOW_MISSING": "1"})
    assert env_result.returncode == 0, env_result.stderr


def test_a_broken_note_fails_the_strict_build_with_file_and_line(tmp_path):
    notes = dict(NOTES)
    notes["gpt-2/broken.md"] = note_text("demo-broken", "gpt-2", "src/sample.py", "7", "not this line")
    root = make_project(tmp_path, FILES, notes)
    result = run_marginalia(root, "build")
    assert result.returncode != 0
    assert "annotations/gpt-2/broken.md:6: quote does not match line 7 of src/sample.py" in result.stderr
    check = run_marginalia(root, "check")
    assert check.returncode == 1
    assert "annotations/gpt-2/broken.md:6: quote does not match" in check.stderr


def test_preview_keeps_building_and_shows_the_broken_note(tmp_path):
    notes = dict(NOTES)
    notes["gpt-2/broken.md"] = note_text("demo-broken", "gpt-2", "src/sample.py", "7", "not this line")
    notes["gpt-2/unreadable.md"] = "---\nid: [\n---\nbody\n"
    root = make_project(tmp_path, FILES, notes)
    assert run_marginalia(root, "extract").returncode == 0
    result = run_marginalia(root, "pages", "--preview")
    assert result.returncode == 0, result.stderr
    page = (root / "docs/code/gpt-2/src/sample.py/index.md").read_text()
    assert 'id="note-demo-broken"' in page and "This note has problems" in page
    assert 'id="note-demo-softmax"' in page
    problems = (root / "docs/code/problems.md").read_text()
    assert "annotations/gpt-2/unreadable.md" in problems


def test_pages_are_rewritten_only_when_they_change(tmp_path):
    root = make_project(tmp_path, FILES, NOTES)
    assert run_marginalia(root, "extract").returncode == 0
    first = run_marginalia(root, "pages")
    assert first.returncode == 0 and " 0 written" not in first.stderr
    second = run_marginalia(root, "pages")
    assert " 0 written, 0 removed" in second.stderr
