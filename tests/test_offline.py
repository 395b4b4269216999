"""The real project builds without an upstream when the reader opts in (ALLOW_MISSING).

The readings, the map, the concordance and the notes all link to lines of presented files.
When a file cannot be extracted, those links are reported as unverified, not broken, and
the build still succeeds; any other broken link still fails it.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from pathlib import Path

import pytest

from helpers import GENERATED_DOCS, run_marginalia

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = "aidungeon"


def _real_project(tmp: Path) -> tuple[Path, Path]:
    """A copy of the real project whose AI Dungeon upstream cannot be reached; its cache
    starts with the PyPI artifacts already downloaded in this checkout, if any."""
    root = tmp / "project"
    root.mkdir()
    for name in ("mkdocs.yml", "README.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, root / name)
    for name in ("docs", "annotations", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns(*GENERATED_DOCS))
    (root / "scripts").symlink_to(ROOT / "scripts")
    manifest = (ROOT / "sources.toml").read_text(encoding="utf-8")
    manifest, count = re.subn(r'(?m)^git = "https://github.com/AIDungeon/AIDungeon"$',
                              f'git = "file://{tmp}/nowhere/AIDungeon"', manifest)
    assert count == 1, "sources.toml no longer pins AI Dungeon by this URL; update the test"
    (root / "sources.toml").write_text(manifest, encoding="utf-8")
    cache = tmp / "cache"
    if (ROOT / ".marginalia/cache/artifacts").is_dir():
        shutil.copytree(ROOT / ".marginalia/cache/artifacts", cache / "artifacts")
    return root, cache


def _extracted(cache: Path, codebase: str, path: str) -> bool:
    return (cache / "files" / codebase / path).is_file()


@pytest.mark.network
@pytest.mark.upstream  # keeps the machine's insteadOf mirrors for the other codebases, if it has any
def test_the_real_site_builds_with_an_upstream_missing_and_lists_what_it_could_not_verify(tmp_path):
    root, cache = _real_project(tmp_path)
    env = {"MARGINALIA_CACHE": str(cache)}

    refused = run_marginalia(root, "build", env=env)
    assert refused.returncode != 0, "without the opt-in, a missing upstream must stop the build"
    assert "insteadOf" in refused.stderr

    result = run_marginalia(root, "build", "--allow-missing", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    site = root / "site"

    # Every file of the unreachable codebase has its page, with the notice and the upstream link.
    play = (site / "code/aidungeon/play.py/index.html").read_text(encoding="utf-8")
    assert "Not extracted" in play and 'class="mg-missing__upstream" href="https://github.com/AIDungeon/AIDungeon/blob/' in play

    # The notes on files not extracted are listed as unverified, and counted.
    from marginalia.notes import load_notes

    notes = load_notes(root / "annotations", root).notes
    expected_notes = sum(1 for n in notes if not _extracted(cache, n.codebase, n.path))
    assert sum(1 for n in notes if n.codebase == UNREACHABLE) > 0
    assert f"{expected_notes} unverified" in result.stderr

    # Links into lines of files that are not extracted are unverified, not broken; each one
    # points into such a file, and the summary counts them.
    unverified = [line for line in result.stderr.splitlines() if line.startswith("unverified: site/")]
    summary = re.search(r"linkcheck: (\d+) internal links and anchors, 0 broken, (\d+) unverified", result.stderr)
    assert summary, result.stderr[-2000:]
    assert int(summary[2]) == len(unverified) > 0
    missing_pages = {f"code/{n.codebase}/{n.path}/index.html" for n in notes if not _extracted(cache, n.codebase, n.path)}
    linking_pages = set()
    for line in unverified:
        _, page, href, _ = line.split(": ", 3)
        page = page.removeprefix("site/")
        path, _, fragment = href.partition("#")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path)) + "/index.html" if path else page
        assert target in missing_pages and re.fullmatch(r"L\d+(-L\d+)?", fragment), line
        linking_pages.add(page)
    # the readings, the map and the concordance are among the pages that link there
    assert "concordance/index.html" in linking_pages and "reading-ai-dungeon/index.html" in linking_pages

    # A genuinely broken link elsewhere still fails the opted-in build, and is named.
    glossary = root / "docs" / "glossary.md"
    glossary.write_text(glossary.read_text(encoding="utf-8") + "\nSee [nothing](bibliography.md#no-such-work).\n",
                        encoding="utf-8")
    broken = run_marginalia(root, "build", "--allow-missing", env=env)
    assert broken.returncode == 1
    assert re.search(r"error: site/glossary/index\.html: \.\./bibliography/#no-such-work: no element", broken.stderr), \
        broken.stderr[-2000:]
