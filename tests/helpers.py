"""Builders for the tests: small git repositories, wheels and sdists, and whole projects.

Nothing here touches the network or the real upstreams; every source a test reads is
made by the test.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED_DOCS = ("code", "lineage", "notes")  # folders of docs/ the build writes (git-ignored)


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_git_repo(path: Path, files: dict[str, str | bytes], *, symlinks: dict[str, str] | None = None) -> str:
    """Create a repository with one commit holding ``files``; return the commit id."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    git("config", "user.email", "test@example.org", cwd=path)
    git("config", "user.name", "Test", cwd=path)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    for name, link in (symlinks or {}).items():
        os.symlink(link, path / name)
    git("add", "-A", cwd=path)
    git("commit", "--quiet", "-m", "initial", cwd=path)
    # a second commit, so that fetching by the first commit's id is a real by-SHA fetch
    (path / "LATER.txt").write_text("later\n")
    git("add", "-A", cwd=path)
    git("commit", "--quiet", "-m", "later", cwd=path)
    return git("rev-parse", "HEAD~1", cwd=path)


def make_wheel(path: Path, members: dict[str, bytes | str], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content.encode() if isinstance(content, str) else content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    data = buffer.getvalue()
    path.write_bytes(data)
    return data


def make_sdist(path: Path, members: dict[str, bytes | str], *, symlinks: dict[str, str] | None = None,
               hardlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
        for name, target in (hardlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.LNKTYPE
            info.linkname = target
            archive.addfile(info)
    data = buffer.getvalue()
    path.write_bytes(data)
    return data


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


class FakeRegistry:
    """Stands in for files.pythonhosted.org: serves registered bytes, counts requests."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.fail_after: int | None = None

    def add(self, url: str, data: bytes) -> None:
        self.files[url] = data

    def __call__(self, url: str):
        import urllib.error

        self.requests.append(url)
        if url not in self.files:
            raise urllib.error.URLError("Name or service not known")
        data = self.files[url]
        if self.fail_after is not None:
            return _Interrupted(data, self.fail_after)
        return FakeResponse(data)


class _Interrupted(FakeResponse):
    def __init__(self, data: bytes, after: int):
        super().__init__(data)
        self.after = after

    def read(self, size: int = -1) -> bytes:
        if self.tell() >= self.after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(size, self.after - self.tell()) if size > 0 else self.after - self.tell())


# ------------------------------------------------------------------ whole projects --

SAMPLE_PY = textwrap.dedent('''\
    """A small module that stands in for upstream code in the tests."""
    import math


    def softmax(values):
        """Turn scores into probabilities."""
        top = max(values)
        exps = [math.exp(v - top) for v in values]
        total = sum(exps)
        return [e / total for e in exps]


    class Sampler:
        def __init__(self, temperature=1.0):
            self.temperature = temperature

        def step(self, logits):
            def scale(x):
                return x / self.temperature
            return softmax([scale(v) for v in logits])
    ''')

CODEBASE_IDS = ("gpt-2", "aidungeon", "twdne", "transformers")


def long_module(lines: int) -> str:
    out = ['"""A long generated module."""', ""]
    while len(out) < lines - 1:
        n = len(out)
        out.append(f"def f{n}(x):")
        out.append(f"    return x * {n}  # line {n + 2}")
    return "\n".join(out[:lines]) + "\n"


def note_text(note_id: str, codebase: str, path: str, lines: str, quote: str, *, cls: str = "model",
              title: str | None = None, extra: str = "", body: str | None = None) -> str:
    quote_yaml = "'" + quote.replace("'", "''") + "'"
    body = body or ("This note exists for the tests. " * 4 + "It explains what these lines do in plain words for "
                    "a reader who does not program, and then what the article argues about them, citing the "
                    "section and paragraph, so that it has more than the sixty words a note needs.")
    return (f"---\nid: {note_id}\ncodebase: {codebase}\npath: {path}\nlines: {lines}\nquote: {quote_yaml}\n"
            f"class: {cls}\ntitle: {title or note_id}\ncites: [hua-raley-2023 §2 ¶2]\nauthors: [Test]\n{extra}---\n{body}\n")


def make_project(tmp: Path, files: dict[str, dict[str, str]], notes: dict[str, str] | None = None,
                 *, unreachable: set[str] = frozenset()) -> Path:
    """A complete project in ``tmp``: the real mkdocs.yml, pages, assets and scripts, with a
    manifest whose codebases are git repositories made here. ``files`` maps codebase id to
    {path: text}; ``unreachable`` codebases point at a URL that does not exist."""
    root = tmp / "project"
    root.mkdir()
    for name in ("mkdocs.yml", "README.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "overrides", root / "overrides")
    shutil.copytree(ROOT / "docs", root / "docs", ignore=shutil.ignore_patterns(*GENERATED_DOCS))
    # the readings and the findings page quote and link the real notes and code
    for reading in [*(root / "docs").glob("reading-*.md"), root / "docs" / "what-runs.md"]:
        reading.write_text(f"# {reading.stem}\n\nA reading, replaced by a stub in the tests.\n")
    (root / "scripts").symlink_to(ROOT / "scripts")
    (root / "annotations").mkdir()
    shutil.copy(ROOT / "annotations" / "bibliography.json", root / "annotations" / "bibliography.json")
    (root / "annotations" / "article-map.toml").write_text(
        '[[row]]\nid = "G1"\ncites = "§2 ¶1"\ntopic = "The repository"\noutside = "Made by the tests."\n')
    manifest = ["schema = 1", ""]
    for codebase in CODEBASE_IDS:
        content = files.get(codebase, {"README.txt": f"{codebase}\n"})
        repo = tmp / "upstreams" / codebase
        commit = make_git_repo(repo, content)
        url = f"file://{repo}" if codebase not in unreachable else f"file://{tmp}/nowhere/{codebase}"
        manifest += [f'[codebases.{codebase}]', f'title = "Test {codebase}"', 'authors = "Tests"',
                     'summary = "A codebase made by the tests."', f'upstream = "https://example.org/{codebase}"',
                     'licence = "MIT"', "", f"[codebases.{codebase}.pins.main]", f'git = "{url}"',
                     f'commit = "{commit}"', f'label = "{commit[:7]}"',
                     f'browse = "https://example.org/{codebase}/blob/{{commit}}/{{member}}"', ""]
        for path, text in content.items():
            manifest += [f"[[codebases.{codebase}.files]]", f'path = "{path}"', f'sha256 = "{sha256(text)}"',
                         'class = "model"', ""]
    (root / "sources.toml").write_text("\n".join(manifest))
    for relative, text in (notes or {}).items():
        target = root / "annotations" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def run_marginalia(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m marginalia --root <root> <args>`` with a fixed build time. The environment is
    read at call time, so the test's isolated git configuration (conftest) applies."""
    return subprocess.run([sys.executable, "-m", "marginalia", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1",
                                                       "SOURCE_DATE_EPOCH": "1700000000", **(env or {})})


def skip_unless_extracted(root: Path, *codebases: str) -> None:
    """Skip, saying why, a check that needs upstream files this machine could not fetch
    (every codebase, or the ones named). Only checks of the real project call this."""
    import pytest

    from marginalia.manifest import load_manifest
    from marginalia.site import Project, missing_lines
    from marginalia.sources import load_sources

    project = Project(root)
    manifest = load_manifest(project.manifest_path)
    lines = [line for line in missing_lines(manifest, load_sources(manifest, project.cache))
             if not codebases or line.split(":", 1)[0] in codebases]
    if lines:
        pytest.skip("upstream not reachable here, so not extracted: " + "; ".join(lines))
