"""The pinned files a run executes, checked against ``sources.toml`` before anything runs.

The trace venv does not have the site's packages, so the manifest is read here with
``tomllib`` (only ``codebases.<id>.files``: path, sha256, class). A file whose bytes do not
hash to the manifest's sha256 stops the run: the counts would describe other code.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path


class PinError(Exception):
    pass


@dataclass(frozen=True)
class Pinned:
    codebase: str
    path: str            # the path in sources.toml, e.g. "src/model.py"
    sha256: str
    code_class: str      # model, application or boundary

    @property
    def key(self) -> str:
        return f"{self.codebase}/{self.path}"


def read_manifest(root: Path) -> dict[tuple[str, str], Pinned]:
    data = tomllib.loads((root / "sources.toml").read_text(encoding="utf-8"))
    return {(cb, f["path"]): Pinned(cb, f["path"], f["sha256"], f["class"])
            for cb, codebase in data["codebases"].items() for f in codebase["files"]}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verified(pinned: Pinned, location: Path) -> Path:
    """``location`` if it holds exactly the pinned bytes; otherwise refuse, naming both hashes."""
    if not location.is_file():
        raise PinError(f"{pinned.key}: not found at {location} (run `make extract` first)")
    actual = sha256_of(location)
    if actual != pinned.sha256:
        raise PinError(f"{pinned.key}: {location} has sha256 {actual}, but sources.toml pins "
                       f"{pinned.sha256}; refusing to run a file that is not the pinned one")
    return location
