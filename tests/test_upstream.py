"""Checks against the real pinned upstreams.

The transformers wheels come from PyPI, which CI reaches, so those tests always run. The
three git upstreams live only on GitHub: each test that needs one first asks git (which
honours `url.<mirror>.insteadOf`) whether it is reachable, and skips with the reason when
it is not.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from marginalia.manifest import load_manifest
from marginalia.site import Project, load_inputs
from marginalia.sources import ArtifactSource, Cache, Extractor, QuietReporter, sha256_file

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = load_manifest(ROOT / "sources.toml")
GIT_CODEBASES = [cb for cb, c in MANIFEST.codebases.items() if any(p.is_git for p in c.pins.values())]


def reachable(url: str) -> str | None:
    """None if git can reach ``url`` (directly or through insteadOf), else the reason."""
    try:
        result = subprocess.run(["git", "ls-remote", "--exit-code", url, "HEAD"], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.TimeoutExpired:
        return "timed out"
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or ["git ls-remote failed"])[-1]


@pytest.mark.network
def test_transformers_2_8_0_wheel_matches_the_pinned_hashes(tmp_path):
    """Download the real wheel TWDNE pinned, check it and the three presented members."""
    cache = Cache(tmp_path / "cache")
    pin = MANIFEST.codebases["transformers"].pins["v2.8.0"]
    artifact = MANIFEST.artifacts[pin.artifact]
    path = ArtifactSource(cache).path(pin.artifact, artifact, QuietReporter())
    assert sha256_file(path) == artifact.sha256 == "2b64cfe0033a47ba664837758cd9750196666ea1306e5c40ad5617353c3dc2fc"
    report = Extractor(MANIFEST, cache, QuietReporter()).run({"transformers"})
    assert report.ok, report.failure_lines()
    for file in MANIFEST.codebases["transformers"].files:
        assert sha256_file(cache.file_path("transformers", file.path)) == file.sha256
    members = {f.member for f in MANIFEST.codebases["transformers"].files if f.pin == "v2.8.0"}
    assert members == {"transformers/modeling_gpt2.py", "transformers/tokenization_gpt2.py", "transformers/modeling_utils.py"}


@pytest.mark.upstream
@pytest.mark.parametrize("codebase", GIT_CODEBASES)
def test_git_upstream_matches_the_pinned_hashes(codebase, tmp_path):
    pin = next(iter(MANIFEST.codebases[codebase].pins.values()))
    reason = reachable(pin.git)
    if reason:
        pytest.skip(f"{codebase}: {pin.git} unreachable ({reason}); configure an insteadOf mirror to run this check")
    report = Extractor(MANIFEST, Cache(tmp_path / "cache"), QuietReporter()).run({codebase})
    assert report.ok, report.failure_lines()
    assert len(report.extracted) == len(MANIFEST.codebases[codebase].files)


@pytest.mark.upstream
def test_every_note_checks_against_the_real_sources():
    """The notes in annotations/ against the pinned files: no problems at all, and notes
    are unverified only where an upstream is unreachable (then this test says so)."""
    project = Project(ROOT)
    Extractor(MANIFEST, project.cache, QuietReporter()).run()
    inputs = load_inputs(project)
    assert [str(p) for p in inputs.notes.problems] == []
    assert not inputs.notes.broken
    unverified = sorted({n.codebase for n in inputs.notes.unverified})
    if unverified:
        pytest.skip(f"{len(inputs.notes.unverified)} notes unverified, upstream unreachable for: {', '.join(unverified)}; "
                    f"the other {len(inputs.notes.notes) - len(inputs.notes.unverified)} notes check cleanly")
