"""The ``/// lineage-map`` directive: the lineage diagram on a hand-written page.

    /// lineage-map
    ///

Registered by :mod:`marginalia.mdext` (one line there). Like the call maps, the drawing is
attached as elements whose links are ``.md`` links relative to the page's source file, so
MkDocs and Zensical both rewrite and check them. Meant for pages at the top of ``docs/``.
"""

from __future__ import annotations

import xml.etree.ElementTree as etree

from . import urls
from .lineage import FileSide
from .lineage_pages import lineage_svg, lineage_table
from .mdext import _attach, _DataBlock, _md_link


class LineageMapBlock(_DataBlock):
    NAME = "lineage-map"
    WRAPPER = ("figure", "mg-lineage-figure")

    def on_end(self, block: etree.Element) -> None:
        lineage = self.data().inputs.lineage
        if not lineage.relations:
            _attach(block, '<p class="mg-muted">No copy relations are recorded (annotations/lineage.toml).</p>')
            return

        def file_href(side: FileSide) -> str:
            if side.presented:
                return _md_link(side.codebase, side.file_path)
            relation = next(r for r in lineage.relations if side.address in
                            (lineage.results[r.id].copy.address, lineage.results[r.id].original.address))
            return urls.lineage_page_source(relation.id)

        _attach(block, "<figcaption>Copies as arrows, from original to copy, labelled with what the copy changed; "
                       "each box links to its file, each arrow to the comparison.</figcaption>")
        scroll = etree.SubElement(block, "div", {"class": "mg-callmap-scroll"})
        _attach(scroll, lineage_svg(lineage, file_href, urls.lineage_page_source, "mg-lineage-map"))
        _attach(block, lineage_table(lineage, file_href, urls.lineage_page_source))
