"""`marginalia new`: the scaffold of a note, refused by the checker until it is filled in."""

from __future__ import annotations

import re
from urllib.parse import quote as urlquote

import pytest

from helpers import SAMPLE_PY, make_project, note_text, run_marginalia
from marginalia import scaffold
from marginalia.manifest import load_manifest
from marginalia.notes import load_notes, read_note
from marginalia.sources import Cache, load_sources

BODY = ("These lines turn scores into probabilities for a reader who does not program: they subtract the "
        "largest score, raise e to each, and divide by the total. The article leaves this boundary open; the "
        "code shows a plain formula written out by hand rather than a library call, which is what makes it "
        "readable here, and the same three steps appear again in the sampler of every later codebase.")


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path, {"gpt-2": {"src/sample.py": SAMPLE_PY, "README.md": "# Title\n\ntext\n"}},
                        {"gpt-2/gpt2-sampler.md": note_text("gpt2-sampler", "gpt-2", "src/sample.py", "13-20",
                                                            "class Sampler:", cls="boundary")})
    assert run_marginalia(root, "extract").returncode == 0
    return root


def _inputs(root):
    manifest = load_manifest(root / "sources.toml")
    return manifest, load_sources(manifest, Cache(root / ".marginalia" / "cache")), load_notes(root / "annotations", root).notes


def test_the_scaffold_fills_in_what_the_code_tells(project):
    manifest, sources, notes = _inputs(project)
    made = scaffold.new_note(manifest, sources, notes, "gpt-2", "src/sample.py", "18-19")
    assert made.filename == "annotations/gpt-2/new-gpt2-sample-18.md"
    text = made.text
    assert "\ncodebase: gpt-2\npath: src/sample.py\nlines: 18-19\nquote: 'def scale(x):'\n" in text
    assert "\nsymbol: sample.Sampler.step.scale\n" in text  # the innermost definition, nested functions too
    assert "\nclass: boundary  # from note gpt2-sampler:" in text  # the enclosing note's class, to be confirmed
    assert made.class_from == "note gpt2-sampler"
    outside = scaffold.new_note(manifest, sources, notes, "gpt-2", "src/sample.py", "5")
    assert "\nclass: model  # from sources.toml:" in outside.text and "symbol: sample.softmax\n" in outside.text
    module_level = scaffold.new_note(manifest, sources, notes, "gpt-2", "src/sample.py", "2")
    assert "symbol:" not in module_level.text
    assert "symbol:" not in scaffold.new_note(manifest, sources, notes, "gpt-2", "README.md", "1").text
    assert len(urlquote(text).encode()) < 8 * 1024 / 2  # prefills GitHub's new-file URL with room to spare


def test_the_quote_is_yaml_safe_and_exact(tmp_path):
    code = "x = {'a': \"it's\"}  # note: yes\n"
    root = make_project(tmp_path, {"gpt-2": {"src/odd.py": code}})
    assert run_marginalia(root, "extract").returncode == 0
    manifest, sources, notes = _inputs(root)
    made = scaffold.new_note(manifest, sources, notes, "gpt-2", "src/odd.py", "1", note_id="gpt2-odd")
    path = scaffold.write_new_note(root, made)
    note, problems = read_note(path, made.filename)
    assert [str(p) for p in problems if "placeholder" not in p.message] == []
    assert "quote: 'x = {''a'': \"it''s\"}  # note: yes'" in made.text


@pytest.mark.parametrize("args, message", [
    (("nowhere", "src/sample.py", "1"), "unknown codebase"),
    (("gpt-2", "src/missing.py", "1"), "is not a presented file"),
    (("gpt-2", "src/sample.py", "90"), "outside src/sample.py"),
    (("gpt-2", "src/sample.py", "3"), "is blank"),
    (("gpt-2", "src/sample.py", "9-2"), "ends before it starts"),
    (("gpt-2", "src/sample.py", "x"), "must be a line number"),
])
def test_bad_requests_say_why(project, args, message):
    manifest, sources, notes = _inputs(project)
    with pytest.raises(scaffold.ScaffoldError, match=message):
        scaffold.new_note(manifest, sources, notes, *args)


def test_make_check_refuses_the_placeholders_then_accepts_the_filled_note(project):
    result = run_marginalia(project, "new", "gpt-2", "src/sample.py", "5-10")
    assert result.returncode == 0, result.stderr
    written = result.stdout.strip()
    assert written == "annotations/gpt-2/new-gpt2-sample-5.md"
    path = project / written
    check = run_marginalia(project, "check")
    assert check.returncode == 1
    lines = path.read_text().split("\n")
    for field in ("id", "title", "authors"):
        number = next(i for i, line in enumerate(lines, 1) if line.startswith(f"{field}:"))
        assert f"{written}:{number}: {field}: fill in the placeholder {{{{" in check.stderr
    body_line = len(lines) - 1
    assert f"{written}:{body_line}: the body still has the placeholder {{{{body:" in check.stderr

    # filled in, the same file passes
    text = path.read_text()
    text = re.sub(r"id: '\{\{[^}]*\}\}'", "id: gpt2-softmax-by-hand", text)
    text = re.sub(r"title: '\{\{[^}]*\}\}'", "title: 'Softmax by hand'", text)
    text = re.sub(r"authors: \['\{\{[^}]*\}\}'\]", "authors: [Jane Doe]", text)
    text = re.sub(r"\{\{body:.*\}\}", BODY, text)
    path.write_text(text)
    check = run_marginalia(project, "check")
    assert check.returncode == 0, check.stderr

    # a body placeholder alone is reported on its line; inside code it is code
    path.write_text(text.replace(BODY, BODY + "\n\n{{body: more}} and `{{not: a placeholder}}`"))
    check = run_marginalia(project, "check")
    assert check.returncode == 1
    assert f"{written}:{body_line + 2}: the body still has the placeholder {{{{body: more}}}}" in check.stderr
    assert "not: a placeholder" not in check.stderr


def test_new_refuses_to_overwrite(project):
    first = run_marginalia(project, "new", "gpt-2", "src/sample.py", "5", "--id", "gpt2-softmax-new")
    assert first.returncode == 0 and first.stdout.strip() == "annotations/gpt-2/gpt2-softmax-new.md"
    before = (project / "annotations/gpt-2/gpt2-softmax-new.md").read_text()
    again = run_marginalia(project, "new", "gpt-2", "src/sample.py", "13", "--id", "gpt2-softmax-new")
    assert again.returncode == 1 and "already exists: not overwritten" in again.stderr
    assert (project / "annotations/gpt-2/gpt2-softmax-new.md").read_text() == before
    (project / "annotations/gpt-2/new-gpt2-sample-5.md").symlink_to(project / "elsewhere.md")
    dangling = run_marginalia(project, "new", "gpt-2", "src/sample.py", "5")
    assert dangling.returncode == 1 and not (project / "elsewhere.md").exists()
    bad = run_marginalia(project, "new", "gpt-2", "src/sample.py", "5", "--id", "../../escape")
    assert bad.returncode == 1 and "lower-case slug" in bad.stderr


def test_the_makefile_target_prints_the_path(project):
    import subprocess

    from helpers import ROOT

    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^new: .*\n(\t.*\n)*\t\$\(PY\) -m marginalia new \"\$\(CODEBASE\)\" \"\$\(FILE\)\" \"\$\(LINES\)\"",
                     text, re.M)
    usage = subprocess.run(["make", "-s", "-C", str(ROOT), "new", "VENV=.venv"], capture_output=True, text=True)
    assert usage.returncode != 0 and "usage: make new CODEBASE=" in usage.stdout
