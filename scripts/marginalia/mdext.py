"""Markdown directives for the site's hand-written pages (a Python-Markdown extension).

Written pages stay plain Markdown; where they need project data they use a pymdownx
block, resolved at build time::

    /// bibliography
    ///

Being a Markdown extension (not an MkDocs plugin), it also runs under other generators
that read mkdocs.yml's ``markdown_extensions``.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as etree
from functools import lru_cache
from pathlib import Path

from markdown import Markdown
from markdown.util import AtomicString
from pymdownx.blocks import BlocksExtension
from pymdownx.blocks.block import Block

from .bibliography import Bibliography, load_bibliography


@lru_cache(maxsize=8)
def _bibliography(path: str, mtime: float) -> Bibliography:
    return load_bibliography(Path(path), display="annotations/bibliography.json")


def _attach(parent: etree.Element, html: str) -> None:
    """Attach generated, well-formed HTML as elements (not a raw-HTML placeholder), so that
    its ids are part of the page's tree and MkDocs' anchor validation sees them. Text is
    atomic: no Markdown inline processing runs over it."""
    element = etree.fromstring(html)
    for node in element.iter():
        if node.text:
            node.text = AtomicString(node.text)
        if node.tail:
            node.tail = AtomicString(node.tail)
    parent.append(element)


class BibliographyBlock(Block):
    """Every work in annotations/bibliography.json, sorted, each with an anchor ``#<key>``."""

    NAME = "bibliography"
    ARGUMENT = None

    def on_create(self, parent: etree.Element) -> etree.Element:
        return etree.SubElement(parent, "div", {"class": "mg-bibliography"})

    def on_end(self, block: etree.Element) -> None:
        path = Path(self.config["root"]) / "annotations" / "bibliography.json"
        bibliography = _bibliography(str(path), path.stat().st_mtime)
        items = "".join(f'<li id="{work.key}"><span class="mg-bib-key">{html.escape(work.short)}</span> {work.reference_html()}</li>'
                        for work in bibliography.sorted())
        _attach(block, f'<ul class="mg-bib">{items}</ul>')


class MarginaliaExtension(BlocksExtension):
    def __init__(self, *args, **kwargs):
        self.config = {"root": [".", "Project root (where sources.toml and annotations/ are)."]}
        super().__init__(*args, **kwargs)

    def extendMarkdownBlocks(self, md: Markdown, block_mgr) -> None:
        block_mgr.register(BibliographyBlock, self.getConfigs())


def makeExtension(*args, **kwargs) -> MarginaliaExtension:
    return MarginaliaExtension(*args, **kwargs)
