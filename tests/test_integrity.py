"""Issue 5's guarantees: deterministic output, nothing lost, hostile input refused."""

from __future__ import annotations

import filecmp
import shutil
import time
from pathlib import Path

import pytest

from helpers import ROOT, SAMPLE_PY, make_project, note_text, run_marginalia
from marginalia.linkcheck import check_completeness, check_site
from marginalia.notes import MAX_NOTE_BYTES, load_notes

FILES = {"gpt-2": {"src/sample.py": SAMPLE_PY}}


def note(note_id: str, lines: str = "5-10", quote: str = "def softmax(values):", **kw) -> str:
    return note_text(note_id, "gpt-2", "src/sample.py", lines, quote, **kw)


def same_tree(a: Path, b: Path) -> list[str]:
    comparison = filecmp.dircmp(a, b)
    differences = [*comparison.left_only, *comparison.right_only]
    _, mismatch, errors = filecmp.cmpfiles(a, b, comparison.common_files, shallow=False)
    differences += mismatch + errors
    for sub in comparison.common_dirs:
        differences += [f"{sub}/{d}" for d in same_tree(a / sub, b / sub)]
    return differences


GENERATED_DOCS = ("docs/code", "docs/lineage", "docs/notes")  # written by the build from annotations/ and sources


def test_no_generated_page_or_build_output_is_committed():
    import subprocess

    listed = subprocess.run(["git", "ls-files", *GENERATED_DOCS, "site", "site-zensical", "traces"],
                            cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("this checkout is not a git repository")
    tracked = [p for p in listed.stdout.split() if not p.startswith("traces/")]
    assert tracked == [], tracked
    # Trailing slashes: they are folders, and a folder pattern ("/site/") matches a path that does not
    # exist yet (a clean clone) only when the path says it is a folder.
    folders = [f"{p}/" for p in (*GENERATED_DOCS, "site", "site-zensical")]
    ignored = subprocess.run(["git", "check-ignore", *folders], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert sorted(ignored) == sorted(folders)


def test_two_clean_builds_are_byte_identical(tmp_path):
    root = make_project(tmp_path, FILES, {"gpt-2/a.md": note("demo-a")})
    assert run_marginalia(root, "build").returncode == 0
    first = tmp_path / "first"
    shutil.copytree(root / "site", first)
    for generated in ("site", *GENERATED_DOCS, ".marginalia", ".cache"):
        shutil.rmtree(root / generated, ignore_errors=True)
    time.sleep(1.1)  # a build stamped with the wall clock would now differ
    result = run_marginalia(root, "build")
    assert result.returncode == 0, result.stderr
    assert same_tree(first, root / "site") == []


def test_a_note_missing_from_the_built_site_is_named(tmp_path):
    root = make_project(tmp_path, FILES, {"gpt-2/a.md": note("demo-a"), "gpt-2/b.md": note("demo-b", "7", "top = max(values)")})
    assert run_marginalia(root, "build").returncode == 0
    page = root / "site/code/gpt-2/src/sample.py/index.html"
    html = page.read_text()
    assert check_completeness(root / "site", ["demo-a", "demo-b"], ["code/gpt-2/src/sample.py/"]) == []
    page.write_text(html.replace('id="note-demo-b"', 'id="lost"'))
    problems = check_completeness(root / "site", ["demo-a", "demo-b"], ["code/gpt-2/src/sample.py/", "code/gpt-2/gone/"])
    assert problems == ["note 'demo-b' appears 0 times in the built site (expected exactly once)",
                        "the page code/gpt-2/gone/ is missing from the built site"]
    result = run_marginalia(root, "linkcheck")
    assert result.returncode == 1 and "demo-b" in result.stderr


def test_broken_links_and_line_ranges_in_the_built_site_are_found(tmp_path):
    root = make_project(tmp_path, FILES, {"gpt-2/a.md": note("demo-a")})
    assert run_marginalia(root, "build").returncode == 0
    report = check_site(root / "site")
    assert report.checked > 100 and report.broken == [] and report.unverified == []
    page = root / "site/index.html"
    page.write_text(page.read_text().replace(
        "</body>", '<a href="code/gpt-2/src/sample.py/#L3-L999">a</a><a href="code/gpt-2/src/sample.py/#note-nope">b</a>'
                   '<a href="nowhere/">c</a><a href="code/gpt-2/src/sample.py/#L2-L4">fine</a></body>'))
    broken = check_site(root / "site").broken
    assert sorted(b.reason for b in broken) == ["line range outside the file", "no element with id 'note-nope'", "no such file"]


def test_a_broken_anchor_in_a_written_page_fails_the_build(tmp_path):
    # MkDocs's own anchor check is off (it cannot see ids inside generated code pages), so this
    # is the guard for hand-written pages: the build itself must fail and name the link.
    root = make_project(tmp_path, FILES, {"gpt-2/a.md": note("demo-a")})
    reading = root / "docs" / "reading-two-scripts.md"
    reading.write_text(reading.read_text() + "\nSee [the note](code/gpt-2/src/sample.py/index.md#note-demo-typo) "
                       "and [its lines](code/gpt-2/src/sample.py/index.md#L2-L3).\n")
    result = run_marginalia(root, "build")
    assert result.returncode == 1
    assert "reading-two-scripts/" in result.stderr and "note-demo-typo" in result.stderr
    assert "L2-L3" not in result.stderr


HOSTILE_BODY = ("Hostile body with payloads: <script>alert(1)</script> <img src=x onerror=alert(2)> "
                "[x](javascript:alert(3)) <iframe src=https://evil.example></iframe> " + "padding words " * 40)


def test_hostile_notes_fail_the_strict_build_and_leave_no_output(tmp_path):
    notes = {
        "gpt-2/xss.md": note("demo-xss", title="<script>alert(1)</script>", body=HOSTILE_BODY),
        "gpt-2/bad-id.md": note('demo-x" onmouseover="alert(1)').replace("id: demo-x\" onmouseover=\"alert(1)", "id: 'demo-x\" onmouseover=alert(1)'"),
        "gpt-2/bad-tags.md": note("demo-tags", extra="tags: ['<b>x</b>']\n"),
    }
    root = make_project(tmp_path, FILES, notes)
    result = run_marginalia(root, "build")
    assert result.returncode == 1
    assert "annotations/gpt-2/xss.md" in result.stderr and "raw HTML is not allowed" in result.stderr
    assert "annotations/gpt-2/bad-id.md:2: id: String should match pattern" in result.stderr
    assert "annotations/gpt-2/bad-tags.md:11: tags: String should match pattern" in result.stderr
    assert not (root / "site").exists()


def test_hostile_notes_are_inert_in_preview(tmp_path):
    root = make_project(tmp_path, FILES, {"gpt-2/xss.md": note("demo-xss", title="<script>alert(1)</script>", body=HOSTILE_BODY)})
    assert run_marginalia(root, "extract").returncode == 0
    assert run_marginalia(root, "pages", "--preview").returncode == 0
    page = (root / "docs/code/gpt-2/src/sample.py/index.md").read_text()
    note_html = page[page.index('id="note-demo-xss"'):]
    note_html = note_html[: note_html.index("</article>")]
    for forbidden in ("<script", "onerror=", "href=\"javascript", "<iframe", "<img"):  # as markup; the problem list may name them as text
        assert forbidden not in note_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in note_html  # the title, shown as text


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    bomb = ["---", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        bomb.append(f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, "
                    f"*{previous}, *{previous}, *{previous}, *{previous}, *{previous}]")
    bomb += ["---", "body"]
    folder = tmp_path / "annotations" / "gpt-2"
    folder.mkdir(parents=True)
    (folder / "bomb.md").write_text("\n".join(bomb))
    started = time.monotonic()
    notes = load_notes(tmp_path / "annotations", tmp_path)
    assert time.monotonic() - started < 2
    assert notes.notes == [] and len(notes.broken) == 1
    assert any("aliases (*name) are not allowed" in str(p) for p in notes.problems)


def test_huge_note_file_is_refused_without_being_read(tmp_path):
    folder = tmp_path / "annotations" / "gpt-2"
    folder.mkdir(parents=True)
    (folder / "huge.md").write_bytes(b"---\nid: x\n---\n" + b"A" * (MAX_NOTE_BYTES * 16))
    notes = load_notes(tmp_path / "annotations", tmp_path)
    (problem,) = notes.problems
    assert str(problem).startswith("annotations/gpt-2/huge.md: the file is") and "at most 65,536" in str(problem)


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['touch pwned']", "!!python/name:os.system",
                                 "!custom {}", "!!binary aGVsbG8="])
def test_yaml_tags_never_construct_anything(tmp_path, tag):
    folder = tmp_path / "annotations" / "gpt-2"
    folder.mkdir(parents=True)
    (folder / "tag.md").write_text(f"---\nid: demo-tag\ncodebase: {tag}\n---\nbody\n")
    notes = load_notes(tmp_path / "annotations", tmp_path)
    assert not (Path.cwd() / "pwned").exists()
    assert any("YAML tags" in str(p) and ":3:" in str(p) for p in notes.problems), notes.problems
