"""Extraction: git by commit (with insteadOf), PyPI artifacts, the cache and its faults."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from helpers import FakeRegistry, git, make_git_repo, make_sdist, make_wheel, sha256
from marginalia.manifest import parse_manifest
from marginalia.sources import Cache, Extractor, QuietReporter, ArtifactSource, load_sources

MODEL = "def model():\n    return 42\n"


def manifest_for_git(url: str, commit: str, files: dict[str, str], extra: str = "") -> str:
    out = [f'schema = 1\n{extra}\n[codebases.demo]\ntitle = "Demo"\nauthors = "T"\nsummary = "S"\n'
           f'upstream = "https://example.org/demo"\nlicence = "MIT"\n'
           f'[codebases.demo.pins.main]\ngit = "{url}"\ncommit = "{commit}"\nlabel = "x"\n'
           f'browse = "https://example.org/{{commit}}/{{member}}"\n']
    for path, digest in files.items():
        out.append(f'[[codebases.demo.files]]\npath = "{path}"\nsha256 = "{digest}"\nclass = "model"\n')
    return "\n".join(out)


def manifest_for_wheel(url: str, digest: str, member: str, member_sha: str, *, kind: str = "whl") -> str:
    return (f'schema = 1\n[artifacts.pkg]\nurl = "{url}"\nsha256 = "{digest}"\n'
            f'[codebases.demo]\ntitle = "Demo"\nauthors = "T"\nsummary = "S"\nupstream = "https://example.org/demo"\n'
            f'licence = "MIT"\n[codebases.demo.pins.v1]\nartifact = "pkg"\nlabel = "1.0"\n'
            f'browse = "https://example.org/{{member}}"\n'
            f'[[codebases.demo.files]]\npath = "v1/model.py"\nmember = "{member}"\nsha256 = "{member_sha}"\nclass = "model"\n')


def extractor(manifest_text: str, cache: Path, registry: FakeRegistry | None = None) -> Extractor:
    manifest = parse_manifest(manifest_text)
    cache_obj = Cache(cache)
    artifacts = ArtifactSource(cache_obj, opener=registry or FakeRegistry())
    return Extractor(manifest, cache_obj, QuietReporter(), artifacts=artifacts)


# --------------------------------------------------------------------------- git --

def test_git_file_is_fetched_by_commit_and_verified(tmp_path):
    repo = tmp_path / "upstream"
    commit = make_git_repo(repo, {"src/model.py": MODEL})
    # the pinned commit is not the branch tip: a by-SHA fetch is required
    assert git("rev-parse", "HEAD", cwd=repo) != commit
    report = extractor(manifest_for_git(f"file://{repo}", commit, {"src/model.py": sha256(MODEL)}), tmp_path / "cache").run()
    assert report.ok, report.failure_lines()
    assert (tmp_path / "cache/files/demo/src/model.py").read_text() == MODEL
    shallow = list((tmp_path / "cache/git").glob("*.git/shallow"))
    assert shallow, "the fetch should be shallow (--depth 1)"


def test_insteadof_redirects_the_upstream_url_to_a_mirror(tmp_path, isolated_git):
    mirror = tmp_path / "mirror"
    commit = make_git_repo(mirror, {"src/model.py": MODEL})
    upstream = "https://github.invalid/openai/gpt-2"
    with isolated_git.open("a") as config:
        config.write(f'[url "file://{mirror}"]\n\tinsteadOf = {upstream}\n')
    report = extractor(manifest_for_git(upstream, commit, {"src/model.py": sha256(MODEL)}), tmp_path / "cache").run()
    assert report.ok, report.failure_lines()
    assert (tmp_path / "cache/files/demo/src/model.py").read_text() == MODEL


def test_unreachable_upstream_is_one_line_per_codebase_with_the_mirror_hint(tmp_path):
    commit = "a" * 40
    text = manifest_for_git(f"file://{tmp_path}/nowhere", commit, {"a.py": sha256("a"), "b.py": sha256("b")})
    report = extractor(text, tmp_path / "cache").run()
    lines = report.failure_lines()
    assert len(lines) == 1
    assert lines[0].startswith("demo: upstream file://") and "unreachable" in lines[0]
    assert "a.py, b.py" in lines[0] and "insteadOf" in lines[0]
    assert "Traceback" not in lines[0]


def test_missing_commit_and_missing_file_are_named(tmp_path):
    repo = tmp_path / "upstream"
    commit = make_git_repo(repo, {"src/model.py": MODEL})
    report = extractor(manifest_for_git(f"file://{repo}", "b" * 40, {"src/model.py": sha256(MODEL)}), tmp_path / "c1").run()
    assert report.failures[0].kind == "missing-commit", report.failure_lines()
    assert "bbbbbbbb" in report.failure_lines()[0]
    report = extractor(manifest_for_git(f"file://{repo}", commit, {"src/absent.py": sha256("x")}), tmp_path / "c2").run()
    assert report.failure_lines() == [f"demo: src/absent.py: no file 'src/absent.py' at commit {commit[:12]}"]


def test_hash_mismatch_names_expected_and_actual(tmp_path):
    repo = tmp_path / "upstream"
    commit = make_git_repo(repo, {"src/model.py": MODEL})
    wrong = "0" * 64
    report = extractor(manifest_for_git(f"file://{repo}", commit, {"src/model.py": wrong}), tmp_path / "cache").run()
    (line,) = report.failure_lines()
    assert line == f"demo: src/model.py: sha256 mismatch: expected {wrong}, got {sha256(MODEL)}"
    assert not (tmp_path / "cache/files/demo/src/model.py").exists()


def test_symlink_in_the_repository_is_refused(tmp_path):
    repo = tmp_path / "upstream"
    commit = make_git_repo(repo, {"real.py": MODEL}, symlinks={"link.py": "/etc/passwd"})
    report = extractor(manifest_for_git(f"file://{repo}", commit, {"link.py": sha256("/etc/passwd")}), tmp_path / "cache").run()
    assert report.failures[0].kind == "unsafe-member"
    assert "symbolic link" in report.failure_lines()[0]


def test_warm_cache_makes_no_network_call(tmp_path):
    repo = tmp_path / "upstream"
    commit = make_git_repo(repo, {"src/model.py": MODEL})
    text = manifest_for_git(f"file://{repo}", commit, {"src/model.py": sha256(MODEL)})
    assert extractor(text, tmp_path / "cache").run().ok
    subprocess.run(["rm", "-rf", str(repo)], check=True)  # the upstream is gone
    registry = FakeRegistry()
    report = extractor(text, tmp_path / "cache", registry).run()
    assert report.ok and report.from_cache == [("demo", "src/model.py")] and not report.extracted
    assert registry.requests == []


def test_corrupted_cache_file_is_detected_and_fetched_again(tmp_path):
    repo = tmp_path / "upstream"
    commit = make_git_repo(repo, {"src/model.py": MODEL})
    text = manifest_for_git(f"file://{repo}", commit, {"src/model.py": sha256(MODEL)})
    assert extractor(text, tmp_path / "cache").run().ok
    cached = tmp_path / "cache/files/demo/src/model.py"
    cached.write_text("tampered\n")
    manifest = parse_manifest(text)
    assert load_sources(manifest, Cache(tmp_path / "cache"))[("demo", "src/model.py")].text is None
    report = extractor(text, tmp_path / "cache").run()
    assert report.extracted == [("demo", "src/model.py")]
    assert cached.read_text() == MODEL


def test_mirror_is_used_when_the_git_upstream_is_unreachable(tmp_path):
    wheel = tmp_path / "mirror.whl"
    data = make_wheel(wheel, {"pkg/src/model.py": MODEL})
    url = "https://files.example.org/mirror-1.0-py3-none-any.whl"
    registry = FakeRegistry()
    registry.add(url, data)
    text = manifest_for_git(f"file://{tmp_path}/nowhere", "c" * 40, {}, extra=f'[artifacts.mirror]\nurl = "{url}"\nsha256 = "{sha256(data)}"')
    text += (f'[[codebases.demo.files]]\npath = "src/model.py"\nsha256 = "{sha256(MODEL)}"\nclass = "model"\n'
             f'mirrors = [{{ artifact = "mirror", member = "pkg/src/model.py" }}]\n')
    ex = extractor(text, tmp_path / "cache", registry)
    report = ex.run()
    assert report.ok, report.failure_lines()
    assert any("mirror" in note for note in ex.report.notes)


# -------------------------------------------------------------------------- pypi --

URL = "https://files.example.org/pkg-1.0-py3-none-any.whl"


def test_wheel_member_is_extracted_after_the_artifact_hash_matches(tmp_path):
    data = make_wheel(tmp_path / "pkg.whl", {"pkg/model.py": MODEL})
    registry = FakeRegistry()
    registry.add(URL, data)
    report = extractor(manifest_for_wheel(URL, sha256(data), "pkg/model.py", sha256(MODEL)), tmp_path / "cache", registry).run()
    assert report.ok, report.failure_lines()
    assert (tmp_path / "cache/files/demo/v1/model.py").read_text() == MODEL
    assert (tmp_path / "cache/artifacts" / sha256(data)).is_file()


def test_sdist_member_is_extracted(tmp_path):
    data = make_sdist(tmp_path / "pkg.tar.gz", {"pkg-1.0/pkg/model.py": MODEL, "pkg-1.0/setup.py": "raise SystemExit('ran!')"})
    registry = FakeRegistry()
    url = "https://files.example.org/pkg-1.0.tar.gz"
    registry.add(url, data)
    report = extractor(manifest_for_wheel(url, sha256(data), "pkg-1.0/pkg/model.py", sha256(MODEL)), tmp_path / "cache", registry).run()
    assert report.ok, report.failure_lines()


def test_tampered_wheel_is_refused_and_not_kept(tmp_path):
    good = make_wheel(tmp_path / "good.whl", {"pkg/model.py": MODEL})
    bad = make_wheel(tmp_path / "bad.whl", {"pkg/model.py": MODEL + "import os; os.system('x')\n"})
    registry = FakeRegistry()
    registry.add(URL, bad)
    report = extractor(manifest_for_wheel(URL, sha256(good), "pkg/model.py", sha256(MODEL)), tmp_path / "cache", registry).run()
    (line,) = report.failure_lines()
    assert f"expected {sha256(good)}, got {sha256(bad)}" in line and line.startswith("demo: v1/model.py:")
    assert not any((tmp_path / "cache/artifacts").glob("*")) if (tmp_path / "cache/artifacts").exists() else True


@pytest.mark.parametrize("member", ["../evil.py", "/etc/passwd", "pkg/../../evil.py", "C:/evil.py"])
def test_unsafe_member_paths_are_refused_by_the_manifest(member):
    from marginalia.problems import InputError

    with pytest.raises(InputError) as error:
        parse_manifest(manifest_for_wheel(URL, "a" * 64, member, "b" * 64))
    assert "not a safe relative path" in str(error.value)


@pytest.mark.parametrize("kind", ["wheel", "sdist-symlink", "sdist-hardlink"])
def test_link_members_are_refused(tmp_path, kind):
    if kind == "wheel":
        data = make_wheel(tmp_path / "a", {"pkg/real.py": MODEL}, symlinks={"pkg/model.py": "/etc/passwd"})
    elif kind == "sdist-symlink":
        data = make_sdist(tmp_path / "a", {"pkg/real.py": MODEL}, symlinks={"pkg/model.py": "/etc/passwd"})
    else:
        data = make_sdist(tmp_path / "a", {"pkg/real.py": MODEL}, hardlinks={"pkg/model.py": "pkg/real.py"})
    registry = FakeRegistry()
    registry.add(URL, data)
    report = extractor(manifest_for_wheel(URL, sha256(data), "pkg/model.py", sha256(MODEL)), tmp_path / "cache", registry).run()
    assert report.failures and report.failures[0].kind == "unsafe-member", report.failure_lines()
    assert "link" in report.failure_lines()[0] and "refused" in report.failure_lines()[0]


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    import marginalia.sources as sources

    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1024 * 1024)
    bomb = b"\0" * (8 * 1024 * 1024)  # 8 MiB of zeros compresses to a few KiB
    data = make_wheel(tmp_path / "bomb.whl", {"pkg/model.py": bomb})
    assert len(data) < 64 * 1024
    registry = FakeRegistry()
    registry.add(URL, data)
    report = extractor(manifest_for_wheel(URL, sha256(data), "pkg/model.py", sha256(bomb)), tmp_path / "cache", registry).run()
    assert report.failures[0].kind == "too-large", report.failure_lines()
    assert not (tmp_path / "cache/files/demo/v1/model.py").exists()


def test_interrupted_download_leaves_nothing_a_later_run_trusts(tmp_path):
    data = make_wheel(tmp_path / "pkg.whl", {"pkg/model.py": MODEL * 2000})
    registry = FakeRegistry()
    registry.add(URL, data)
    registry.fail_after = len(data) // 2
    text = manifest_for_wheel(URL, sha256(data), "pkg/model.py", sha256(MODEL * 2000))
    report = extractor(text, tmp_path / "cache", registry).run()
    assert report.failures and report.failures[0].kind == "unreachable"
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != "lock"]
    assert leftovers == []
    registry.fail_after = None
    assert extractor(text, tmp_path / "cache", registry).run().ok


def test_corrupted_cached_artifact_is_fetched_again(tmp_path):
    data = make_wheel(tmp_path / "pkg.whl", {"pkg/model.py": MODEL})
    registry = FakeRegistry()
    registry.add(URL, data)
    text = manifest_for_wheel(URL, sha256(data), "pkg/model.py", sha256(MODEL))
    assert extractor(text, tmp_path / "cache", registry).run().ok
    (tmp_path / "cache/artifacts" / sha256(data)).write_bytes(b"garbage")
    (tmp_path / "cache/files/demo/v1/model.py").unlink()
    ex = extractor(text, tmp_path / "cache", registry)
    assert ex.run().ok
    assert len(registry.requests) == 2
    assert any("does not match its sha256" in n for n in ex.report.notes)


def test_two_runs_at_once_do_not_corrupt_the_cache(tmp_path):
    data = make_wheel(tmp_path / "pkg.whl", {"pkg/model.py": MODEL * 5000})
    registry = FakeRegistry()
    registry.add(URL, data)
    text = manifest_for_wheel(URL, sha256(data), "pkg/model.py", sha256(MODEL * 5000))
    results = []

    def run():
        results.append(extractor(text, tmp_path / "cache", registry).run())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.ok for r in results)
    assert sum(len(r.extracted) for r in results) == 1  # one run fetched, the others found it cached
    assert (tmp_path / "cache/files/demo/v1/model.py").read_text() == MODEL * 5000


@pytest.mark.parametrize("error, words", [(28, "No space left on device"), (30, "Read-only file system")])
def test_full_or_read_only_disk_gives_one_clear_line(tmp_path, monkeypatch, error, words):
    """Root ignores permissions, so the disk errors are injected where the cache is written."""
    import marginalia.sources as sources

    def failing_mkstemp(*args, **kwargs):
        raise OSError(error, os.strerror(error), str(tmp_path / "cache" / "files"))

    data = make_wheel(tmp_path / "pkg.whl", {"pkg/model.py": MODEL})
    registry = FakeRegistry()
    registry.add(URL, data)
    text = manifest_for_wheel(URL, sha256(data), "pkg/model.py", sha256(MODEL))
    text += text[text.index("[[codebases.demo.files]]"):].replace("v1/model.py", "v1/other.py")
    monkeypatch.setattr(sources.tempfile, "mkstemp", failing_mkstemp)
    report = extractor(text, tmp_path / "cache", registry).run()
    lines = report.failure_lines()
    assert len(lines) == 1, lines  # the run stops at the first disk error instead of repeating it
    assert "cannot write to the cache" in lines[0] and words in lines[0]


def test_an_extraction_killed_mid_write_leaves_nothing_trusted(tmp_path, monkeypatch):
    """A run interrupted while writing (Ctrl-C) removes its partial file; one killed outright
    (no chance to clean up) leaves only a *.part file, which no later run reads."""
    import marginalia.sources as sources

    repo = tmp_path / "upstream"
    commit = make_git_repo(repo, {"src/model.py": MODEL})
    text = manifest_for_git(f"file://{repo}", commit, {"src/model.py": sha256(MODEL)})

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sources.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extractor(text, tmp_path / "cache").run()
    monkeypatch.undo()
    files = tmp_path / "cache/files/demo/src"
    assert not (files / "model.py").exists() and list(files.glob("*.part")) == []

    (files / ".model.py.killed.part").write_text(MODEL[:10])  # what a SIGKILL would leave
    manifest = parse_manifest(text)
    assert load_sources(manifest, Cache(tmp_path / "cache"))[("demo", "src/model.py")].text is None
    report = extractor(text, tmp_path / "cache").run()
    assert report.extracted == [("demo", "src/model.py")]
    assert (files / "model.py").read_text() == MODEL
