"""Where things live on the built site. Every URL is relative to the site root and ends in
``/`` for pages (MkDocs' directory URLs), so that the site works under any base path."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlencode


def code_page(codebase: str, path: str) -> str:
    return f"code/{codebase}/{path}/"


def code_page_source(codebase: str, path: str) -> str:
    """The generated Markdown file of a code page, relative to ``docs/``. It is the ``index.md``
    of the page's own directory, so that a link relative to the source file and a link relative
    to the page's URL are the same link: MkDocs leaves links in raw HTML as written, Zensical
    resolves them from the source file, and both give the same site."""
    return f"code/{codebase}/{path}/index.md"


def codebase_page(codebase: str) -> str:
    return f"code/{codebase}/"


def lineage_page(relation_id: str) -> str:
    """The compare page of a copy relation (annotations/lineage.toml)."""
    return f"lineage/{relation_id}/"


def lineage_page_source(relation_id: str) -> str:
    """Its generated Markdown file, relative to ``docs/``: the ``index.md`` of its own directory."""
    return f"lineage/{relation_id}/index.md"


def note_anchor(note_id: str) -> str:
    return f"note-{note_id}"


def line_anchor(start: int, end: int | None = None) -> str:
    return f"L{start}" if end is None or end == start else f"L{start}-L{end}"


def glossary(term: str) -> str:
    return f"glossary/#{term}"


def bibliography(key: str) -> str:
    return f"bibliography/#{key}"


@lru_cache(maxsize=1 << 16)  # pure, and asked for the same pairs many times per build
def relative(from_page: str, target: str) -> str:
    """``target`` (site-root relative, may carry a fragment) as seen from ``from_page``."""
    path, _, fragment = target.partition("#")
    if not path:
        return f"#{fragment}" if fragment else "./"
    base = from_page if from_page.endswith("/") else posixpath.dirname(from_page) + "/"
    rel = _relpath(path, base.rstrip("/"))
    if path.endswith("/") and not rel.endswith("/"):
        rel += "/"
    if rel == "./" and base.rstrip("/") == path.rstrip("/"):
        rel = "./"
    return rel + (f"#{fragment}" if fragment else "")


def _relpath(path: str, start: str) -> str:
    """``posixpath.relpath`` for site paths (both relative to the site root), without its
    look-ups of the working directory: it ran ten thousand times a build."""
    to = [p for p in path.split("/") if p and p != "."]
    here = [p for p in start.split("/") if p and p != "."]
    common = 0
    while common < min(len(to), len(here)) and to[common] == here[common]:
        common += 1
    parts = [".."] * (len(here) - common) + to[common:]
    return "/".join(parts) or "."


def note_page(note_id: str) -> str:
    return f"notes/{note_id}/"


def note_page_source(note_id: str) -> str:
    return f"notes/{note_id}/index.md"


@dataclass(frozen=True)
class Repository:
    """Where the project's files live (``repo_url`` and the branch of ``edit_uri``)."""

    url: str
    branch: str

    @classmethod
    def from_edit_uri(cls, edit_uri: str | None) -> "Repository | None":
        """From mkdocs.yml's absolute ``edit_uri`` (``https://github.com/<owner>/<repo>/edit/<branch>/docs/``)."""
        match = re.match(r"^(https://[^/]+/[^/]+/[^/]+)/(?:edit|blob)/([^/]+)/", edit_uri or "")
        return cls(match[1], match[2]) if match else None

    def edit(self, path: str) -> str:
        """GitHub's editor for a file of the repository (forks it for people without write access)."""
        return f"{self.url}/edit/{quote(self.branch)}/{quote(path)}"

    def new_file(self, folder: str, filename: str, value: str) -> str:
        """GitHub's new-file page in ``folder``, prefilled (undocumented; fails above about 8 KB)."""
        return f"{self.url}/new/{quote(self.branch)}/{quote(folder)}?" + urlencode({"filename": filename, "value": value})
