"""Relation layers: what a layer may add to the site, and nothing more.

A relation layer is a stage like the others: a module that turns the sources into plain
data, cached on disk by content (:mod:`xref`, :mod:`traces`, :mod:`lineage`), and a
renderer that only turns that data into HTML. The renderer implements :class:`Layer`:
for each code page it returns :class:`PageAdditions` (rows under the file facts, the
highlighted lines with more in them, controls beside the class chips, what follows the
code, attributes of the page's root element, data files beside the page), and it may have
pages of its own kind. The code page asks every layer in turn (:func:`pages.code_page`);
``site.relation_layers`` lists them. Adding a layer is one data module, one renderer, and
one line there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .manifest import SourceFile
    from .pages import Page, PageContext


@dataclass(frozen=True)
class CodeView:
    """One code page, as a layer sees it."""

    codebase: str
    file: SourceFile
    text: str | None  # None: not extracted in this build
    page_url: str  # the page's URL, relative to the site root: links are computed from it
    page_dir: str  # where the page's index.md is, relative to docs/ (data files go beside it)
    lines: tuple[str, ...] = ()  # highlighted lines, as the layers before this one left them

    @property
    def path(self) -> str:
        return self.file.path


@dataclass
class PageAdditions:
    facts: list[tuple[str, str]] = field(default_factory=list)
    lines: tuple[str, ...] | None = None  # replaces the highlighted lines (same count)
    controls: str = ""
    after_code: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    companions: list[Page] = field(default_factory=list)


class Layer:
    """A relation layer's renderer. Override what the layer shows; the rest adds nothing."""

    directory: str | None = None
    """The docs/ folder of the layer's own pages, if it has any (written and cleaned by the build)."""

    def code_page(self, view: CodeView) -> PageAdditions | None:
        return None

    def pages(self, ctx: PageContext) -> list[Page]:
        return []

    def log(self) -> list[str]:
        """Lines for the build log (timings, files left without the layer)."""
        return []
