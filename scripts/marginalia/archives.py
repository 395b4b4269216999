"""Reading one member out of a wheel or sdist without trusting the archive.

Only the named member is read; nothing is ever extracted to disk by these functions and
no code in the archive runs. A member that is a link, a directory, not unique, or larger
than the limit (a decompression bomb) is refused.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path


class ArchiveError(Exception):
    """The archive cannot give us the member safely; ``kind`` classifies why."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def _bounded_read(stream, limit: int, member: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError("too-large", f"archive member {member!r} expands beyond {limit:,} bytes; refused")
    return data


def _zip_member(path: Path, member: str, limit: int) -> bytes:
    with zipfile.ZipFile(path) as archive:
        matches = [info for info in archive.infolist() if info.filename == member]
        if not matches:
            raise ArchiveError("missing-file", f"archive has no member {member!r}")
        if len(matches) > 1:
            raise ArchiveError("unsafe-member", f"archive member {member!r} occurs {len(matches)} times; refused")
        info = matches[0]
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError("unsafe-member", f"archive member {member!r} is a symbolic link; refused")
        if info.is_dir():
            raise ArchiveError("unsafe-member", f"archive member {member!r} is a directory")
        if info.file_size > limit:
            raise ArchiveError("too-large", f"archive member {member!r} declares {info.file_size:,} bytes, over the {limit:,}-byte limit; refused")
        with archive.open(info) as stream:
            return _bounded_read(stream, limit, member)


def _tar_member(path: Path, member: str, limit: int) -> bytes:
    with tarfile.open(path, mode="r:*") as archive:
        matches = [info for info in archive.getmembers() if info.name.removeprefix("./") == member]
        if not matches:
            raise ArchiveError("missing-file", f"archive has no member {member!r}")
        if len(matches) > 1:
            raise ArchiveError("unsafe-member", f"archive member {member!r} occurs {len(matches)} times; refused")
        info = matches[0]
        if info.issym() or info.islnk():
            raise ArchiveError("unsafe-member", f"archive member {member!r} is a link to {info.linkname!r}; refused")
        if not info.isfile():
            raise ArchiveError("unsafe-member", f"archive member {member!r} is not a regular file; refused")
        if info.size > limit:
            raise ArchiveError("too-large", f"archive member {member!r} declares {info.size:,} bytes, over the {limit:,}-byte limit; refused")
        stream = archive.extractfile(info)
        assert stream is not None  # regular files always have a stream
        with stream:
            return _bounded_read(stream, limit, member)


def read_member(path: Path, member: str, *, limit: int) -> bytes:
    """Return the bytes of ``member`` from the wheel (zip) or sdist (tar) at ``path``."""
    try:
        if zipfile.is_zipfile(path):
            return _zip_member(path, member, limit)
        return _tar_member(path, member, limit)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise ArchiveError("bad-archive", f"cannot read the archive: {exc}") from None
