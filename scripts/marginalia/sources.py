"""Stage 1: materialise every pinned upstream file into the cache, verified by sha256.

Git pins are fetched with the real ``git`` CLI, by commit, shallow and blob-less, so that
git's own ``url.<mirror>.insteadOf`` configuration redirects them (offline builds).
PyPI pins are downloaded by their files URL, checked by sha256 and read with
zipfile/tarfile; no package code runs. Every extracted file is checked against the
manifest's sha256 and written atomically, so an interrupted run leaves nothing a later
run trusts. A file already in the cache with the right hash costs no network call.

Cache layout (``.marginalia/cache`` by default, git-ignored)::

    artifacts/<sha256>            downloaded PyPI files, named by their hash
    git/<name>-<hash>.git         one bare, shallow, partial repository per upstream URL
    files/<codebase>/<path>       the presented files, verified
    references/<id>               files extracted only to be compared (sources.toml [references])
    lock                          held while a run writes to the cache
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .archives import ArchiveError, read_member
from .manifest import Artifact, Manifest, Pin, Reference, SourceFile, member_of

MAX_ARTIFACT_BYTES = 200 * 1024 * 1024
MAX_MEMBER_BYTES = 16 * 1024 * 1024
GIT_TIMEOUT_SECONDS = 600
DISK_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- cache --


@dataclass(frozen=True)
class Cache:
    """Where extracted material lives. Nothing here is committed."""

    root: Path

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def git(self) -> Path:
        return self.root / "git"

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def highlight(self) -> Path:
        return self.root / "highlight"

    @property
    def references(self) -> Path:
        return self.root / "references"

    @property
    def lineage(self) -> Path:
        return self.root / "lineage"

    def reference_path(self, reference_id: str) -> Path:
        return self.references / reference_id

    def file_path(self, codebase: str, path: str) -> Path:
        target = (self.files / codebase / path).resolve()
        if not target.is_relative_to(self.files.resolve()):
            raise ValueError(f"{codebase}/{path} would leave the cache")
        return target

    def git_dir(self, url: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", url.rstrip("/").rsplit("/", 1)[-1]).strip("-") or "repo"
        return self.git / f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:12]}.git"

    @contextmanager
    def lock(self, report: "Reporter") -> Iterator[None]:
        """Hold an exclusive lock so that two runs never write the cache at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                report.note(f"waiting for another run to release {self.root / 'lock'} ...")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` so that ``target`` is either absent, old, or complete: never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------ reporting --


class Reporter:
    """Progress and notes for a human, on stderr. Tests pass a quiet subclass."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self._last_progress = 0.0

    def note(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def progress(self, label: str, done: int, total: int | None, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_progress < 0.5:
            return
        self._last_progress = now
        amount = f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
        end = "\n" if final or not self.stream.isatty() else ""
        prefix = "\r" if self.stream.isatty() else ""
        print(f"{prefix}  {label}: {amount}", end=end, file=self.stream, flush=True)


class QuietReporter(Reporter):
    def __init__(self):
        super().__init__(stream=open(os.devnull, "w"))
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


# ------------------------------------------------------------------------- failures --


class FetchError(Exception):
    """A file could not be obtained. ``kind`` is one of: unreachable, missing-commit,
    missing-file, hash-mismatch, unsafe-member, too-large, bad-archive, disk."""

    def __init__(self, kind: str, message: str, hint: str | None = None):
        self.kind = kind
        self.hint = hint
        super().__init__(message)


@dataclass(frozen=True)
class Failure:
    codebase: str
    path: str
    kind: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        line = f"{self.codebase}: {self.path}: {self.message}"
        return f"{line} ({self.hint})" if self.hint else line


@dataclass
class ExtractReport:
    extracted: list[tuple[str, str]] = field(default_factory=list)
    from_cache: list[tuple[str, str]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def missing_codebases(self) -> list[str]:
        return sorted({f.codebase for f in self.failures})

    def failure_lines(self) -> list[str]:
        """One line per codebase and cause: an unreachable upstream is one line, not ten."""
        lines: list[str] = []
        grouped: dict[tuple[str, str, str, str | None], list[str]] = {}
        for failure in self.failures:
            if failure.kind == "unreachable":
                grouped.setdefault((failure.codebase, failure.kind, failure.message, failure.hint), []).append(failure.path)
            else:
                lines.append(str(failure))
        for (codebase, _kind, message, hint), paths in grouped.items():
            files = ", ".join(paths)
            line = f"{codebase}: {message}; not extracted: {files}"
            lines.append(f"{line} ({hint})" if hint else line)
        return sorted(lines)


# ------------------------------------------------------------------------------ git --

_UNREACHABLE = re.compile(
    r"Could not resolve host|Failed to connect|Connection refused|Connection timed out|"
    r"unable to access|Could not read from remote|does not appear to be a git repository|"
    r"Network is unreachable|No route to host|unable to connect|Operation timed out|"
    r"repository '.*' not found|Temporary failure in name resolution",
    re.IGNORECASE,
)
_MISSING_COMMIT = re.compile(r"not our ref|couldn't find remote ref|no such remote ref|upload-pack: not our ref|"
                             r"Server does not allow request for unadvertised object|remote error", re.IGNORECASE)


def mirror_hint(url: str) -> str:
    return (f"offline? point git at a local mirror: git config --global "
            f"url.<path-to-mirror>.insteadOf {url}")


class GitSource:
    """Reads blobs at a commit from a bare, shallow, blob-less local repository."""

    def __init__(self, cache: Cache, git: str = "git"):
        self.cache = cache
        self.git_cmd = git

    def _run(self, repo: Path, *args: str, check_text: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_ASKPASS": "true"}
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
            env.pop(var, None)
        return subprocess.run(
            [self.git_cmd, "--git-dir", str(repo), *args],
            capture_output=True, env=env, timeout=GIT_TIMEOUT_SECONDS,
        )

    def _ensure_repo(self, url: str) -> Path:
        repo = self.cache.git_dir(url)
        if not (repo / "HEAD").exists():
            repo.parent.mkdir(parents=True, exist_ok=True)
            temp = Path(tempfile.mkdtemp(dir=repo.parent, prefix=f".{repo.name}."))
            subprocess.run([self.git_cmd, "init", "--quiet", "--bare", str(temp)], check=True, capture_output=True)
            subprocess.run([self.git_cmd, "--git-dir", str(temp), "remote", "add", "origin", url], check=True, capture_output=True)
            try:
                os.rename(temp, repo)
            except OSError:  # another process created it first
                subprocess.run(["rm", "-rf", str(temp)], check=False)
        current = self._run(repo, "remote", "get-url", "origin").stdout.decode().strip()
        if current != url:
            self._run(repo, "remote", "set-url", "origin", url)
        return repo

    def _has_commit(self, repo: Path, commit: str) -> bool:
        return self._run(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0

    def _classify(self, url: str, stderr: str, what: str) -> FetchError:
        text = stderr.strip().splitlines()
        detail = next((line.removeprefix("fatal: ").strip() for line in reversed(text) if line.strip()), "git failed")
        if _UNREACHABLE.search(stderr):
            return FetchError("unreachable", f"upstream {url} unreachable ({detail})", mirror_hint(url))
        if _MISSING_COMMIT.search(stderr):
            return FetchError("missing-commit", f"{what} not found at {url} ({detail})")
        return FetchError("unreachable", f"git could not fetch {what} from {url} ({detail})", mirror_hint(url))

    def fetch_commit(self, url: str, commit: str, report: Reporter) -> Path:
        repo = self._ensure_repo(url)
        if self._has_commit(repo, commit):
            return repo
        report.note(f"git fetch --depth 1 {url} {commit[:12]}")
        result = self._run(repo, "fetch", "--quiet", "--depth", "1", "--filter=blob:none", "--no-tags",
                           "origin", commit)
        if result.returncode != 0 or not self._has_commit(repo, commit):
            raise self._classify(url, result.stderr.decode(errors="replace"), f"commit {commit}")
        return repo

    def read(self, url: str, commit: str, member: str, report: Reporter) -> bytes:
        repo = self.fetch_commit(url, commit, report)
        exists = self._run(repo, "ls-tree", "--name-only", commit, "--", member)
        if exists.returncode != 0 or exists.stdout.decode().strip() != member:
            raise FetchError("missing-file", f"no file {member!r} at commit {commit[:12]}")
        kind = self._run(repo, "ls-tree", commit, "--", member).stdout.decode().split()
        if kind and kind[0] == "120000":
            raise FetchError("unsafe-member", f"{member!r} is a symbolic link at commit {commit[:12]}; refused")
        # The blob may not be local yet (blob-less clone): git fetches it from the promisor remote.
        result = self._run(repo, "cat-file", "blob", f"{commit}:{member}")
        if result.returncode != 0:
            raise self._classify(url, result.stderr.decode(errors="replace"), f"{member} at {commit[:12]}")
        return result.stdout


# ---------------------------------------------------------------------------- pypi --

Opener = Callable[[str], "urllib.response.addinfourl"]


def _open_url(url: str):
    request = urllib.request.Request(url, headers={"User-Agent": "gpt2-marginalia-extract/1"})
    return urllib.request.urlopen(request, timeout=60)


class ArtifactSource:
    """PyPI artifacts, downloaded once by URL, kept under their sha256."""

    def __init__(self, cache: Cache, opener: Opener = _open_url):
        self.cache = cache
        self.opener = opener

    def path(self, artifact_id: str, artifact: Artifact, report: Reporter) -> Path:
        target = self.cache.artifacts / artifact.sha256
        if target.exists():
            if sha256_file(target) == artifact.sha256:
                return target
            report.note(f"cached {artifact.filename} does not match its sha256; fetching it again")
            target.unlink()
        data = self._download(artifact, report)
        actual = sha256_bytes(data)
        if actual != artifact.sha256:
            raise FetchError("hash-mismatch", f"artifact {artifact.filename}: sha256 mismatch: expected {artifact.sha256}, got {actual}")
        write_atomically(target, data)
        return target

    def _download(self, artifact: Artifact, report: Reporter) -> bytes:
        report.note(f"downloading {artifact.url}")
        try:
            with self.opener(artifact.url) as response:
                total = response.headers.get("Content-Length")
                total = int(total) if total and total.isdigit() else None
                if total is not None and total > MAX_ARTIFACT_BYTES:
                    raise FetchError("too-large", f"artifact {artifact.filename} is {total:,} bytes, over the {MAX_ARTIFACT_BYTES:,}-byte limit")
                chunks: list[bytes] = []
                done = 0
                while block := response.read(1 << 16):
                    chunks.append(block)
                    done += len(block)
                    if done > MAX_ARTIFACT_BYTES:
                        raise FetchError("too-large", f"artifact {artifact.filename} exceeds the {MAX_ARTIFACT_BYTES:,}-byte limit")
                    report.progress(artifact.filename, done, total)
                report.progress(artifact.filename, done, total, final=True)
                return b"".join(chunks)
        except urllib.error.HTTPError as exc:
            kind = "missing-file" if exc.code == 404 else "unreachable"
            raise FetchError(kind, f"artifact {artifact.url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FetchError("unreachable", f"package registry unreachable for {artifact.filename} ({reason})") from None

    def read(self, artifact_id: str, artifact: Artifact, member: str, report: Reporter) -> bytes:
        archive = self.path(artifact_id, artifact, report)
        try:
            return read_member(archive, member, limit=MAX_MEMBER_BYTES)
        except ArchiveError as exc:
            raise FetchError(exc.kind, f"{artifact.filename}: {exc}") from None


# ------------------------------------------------------------------------- extract --


@dataclass
class Extractor:
    manifest: Manifest
    cache: Cache
    report: Reporter = field(default_factory=Reporter)
    git: GitSource | None = None
    artifacts: ArtifactSource | None = None

    def __post_init__(self) -> None:
        self.git = self.git or GitSource(self.cache)
        self.artifacts = self.artifacts or ArtifactSource(self.cache)

    def _read_primary(self, codebase: str, file: SourceFile) -> bytes:
        pin = self.manifest.pin_of(codebase, file)
        return self._read_pin(pin, member_of(file))

    def _read_pin(self, pin: Pin, member: str) -> bytes:
        if pin.is_git:
            assert pin.git and pin.commit
            return self.git.read(pin.git, pin.commit, member, self.report)
        assert pin.artifact
        return self.artifacts.read(pin.artifact, self.manifest.artifacts[pin.artifact], member, self.report)

    def _obtain(self, codebase: str, file: SourceFile) -> bytes:
        """Try the primary pin, then each mirror; a mirror is used only with the same sha256."""
        attempts: list[Callable[[], bytes]] = [lambda: self._read_primary(codebase, file)]
        for mirror in file.mirrors:
            artifact = self.manifest.artifacts[mirror.artifact]
            attempts.append(lambda a=artifact, m=mirror: self.artifacts.read(m.artifact, a, m.member, self.report))
        first_error: FetchError | None = None
        for index, attempt in enumerate(attempts):
            try:
                data = attempt()
            except FetchError as exc:
                first_error = first_error or exc
                if exc.kind != "unreachable":
                    raise
                continue
            actual = sha256_bytes(data)
            if actual != file.sha256:
                raise FetchError("hash-mismatch", f"sha256 mismatch: expected {file.sha256}, got {actual}")
            if index > 0:
                self.report.note(f"{codebase}: {file.path}: upstream unreachable; taken from PyPI mirror {file.mirrors[index - 1].artifact} (same sha256)")
            return data
        assert first_error is not None
        raise first_error

    def run(self, only: set[str] | None = None) -> ExtractReport:
        result = ExtractReport()
        with self.cache.lock(self.report):
            for codebase, file in self.manifest.files():
                if only is not None and codebase not in only:
                    continue
                target = self.cache.file_path(codebase, file.path)
                try:
                    if target.is_file() and sha256_file(target) == file.sha256:
                        result.from_cache.append((codebase, file.path))
                        continue
                    data = self._obtain(codebase, file)
                    write_atomically(target, data)
                    result.extracted.append((codebase, file.path))
                except FetchError as exc:
                    result.failures.append(Failure(codebase, file.path, exc.kind, str(exc), exc.hint))
                except OSError as exc:
                    if exc.errno in DISK_ERRNOS:
                        where = exc.filename or self.cache.root
                        result.failures.append(Failure(codebase, file.path, "disk",
                                                       f"cannot write to the cache at {where}: {exc.strerror}"))
                        break  # every further write would fail the same way
                    raise
            if only is None:
                self._references(result)
        return result

    def _references(self, result: ExtractReport) -> None:
        """Files extracted only to be compared (``[references]``): PyPI members, hash-checked."""
        for ref_id, ref in self.manifest.references.items():
            target = self.cache.reference_path(ref_id)
            where = ("references", ref_id)
            try:
                if target.is_file() and sha256_file(target) == ref.sha256:
                    result.from_cache.append(where)
                    continue
                data = self.artifacts.read(ref.artifact, self.manifest.artifacts[ref.artifact], ref.member, self.report)
                actual = sha256_bytes(data)
                if actual != ref.sha256:
                    raise FetchError("hash-mismatch", f"sha256 mismatch: expected {ref.sha256}, got {actual}")
                write_atomically(target, data)
                result.extracted.append(where)
            except FetchError as exc:
                result.failures.append(Failure(*where, exc.kind, str(exc), exc.hint))
            except OSError as exc:
                if exc.errno in DISK_ERRNOS:
                    result.failures.append(Failure(*where, "disk", f"cannot write to the cache at "
                                                   f"{exc.filename or self.cache.root}: {exc.strerror}"))
                    return
                raise


# ---------------------------------------------------------------------------- load --


@dataclass(frozen=True)
class SourceText:
    """A presented file as the later stages see it: its text, or why it is absent."""

    codebase: str
    file: SourceFile
    text: str | None
    absent_reason: str | None = None

    @property
    def lines(self) -> list[str]:
        if self.text is None:
            return []
        lines = self.text.split("\n")
        if self.text.endswith("\n"):
            lines.pop()
        return lines


@dataclass(frozen=True)
class ReferenceText:
    """A reference file (extracted only to be compared), or why it is absent."""

    id: str
    reference: Reference
    text: str | None
    absent_reason: str | None = None


def load_references(manifest: Manifest, cache: Cache) -> dict[str, ReferenceText]:
    """Read every reference file from the cache, trusting only those whose sha256 matches."""
    out: dict[str, ReferenceText] = {}
    for ref_id, ref in manifest.references.items():
        target = cache.reference_path(ref_id)
        text, reason = None, "not extracted: run `make extract`"
        if target.is_file():
            data = target.read_bytes()
            if sha256_bytes(data) == ref.sha256:
                text, reason = data.decode("utf-8", errors="replace"), None
            else:
                reason = "the cached copy does not match the pinned sha256: run `make extract` again"
        out[ref_id] = ReferenceText(ref_id, ref, text, reason)
    return out


def load_sources(manifest: Manifest, cache: Cache) -> dict[tuple[str, str], SourceText]:
    """Read every presented file from the cache, trusting only those whose sha256 matches."""
    out: dict[tuple[str, str], SourceText] = {}
    for codebase, file in manifest.files():
        target = cache.file_path(codebase, file.path)
        text: str | None = None
        reason = "not extracted: run `make extract` (see the README for offline builds)"
        if target.is_file():
            data = target.read_bytes()
            if sha256_bytes(data) == file.sha256:
                text = data.decode("utf-8", errors="replace")
                reason = None
            else:
                reason = "the cached copy does not match the pinned sha256: run `make extract` again"
        out[(codebase, file.path)] = SourceText(codebase, file, text, reason)
    return out
