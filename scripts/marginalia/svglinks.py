"""After the build: links inside inline SVG diagrams use ``xlink:href``, not ``href``.

Material's (and Zensical's) instant navigation makes every relative link of an incoming page
absolute by assigning ``a.href = a.href`` to each element matching ``[href]``. For an SVG
``<a>`` that property is read-only, the assignment throws, and the page (the map, the lineage
overview) is never swapped in. An ``xlink:href`` attribute is an attribute in the XLink
namespace, which ``[href]`` does not match; every browser follows it on an SVG link. The link
check reads both. Plain Python over the built HTML, after either generator.
"""

from __future__ import annotations

import re
from pathlib import Path

_SVG = re.compile(r"<svg\b.*?</svg>", re.S | re.I)
_HREF = re.compile(r'(<a\b[^>]*?\s)href=(["\'])')


def rewrite(html: str) -> str:
    return _SVG.sub(lambda m: _HREF.sub(r"\1xlink:href=\2", m.group(0)), html)


def rewrite_site(site: Path) -> int:
    """Rewrite every page of ``site``; return how many pages changed."""
    changed = 0
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        if "<svg" not in text:
            continue
        new = rewrite(text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed
