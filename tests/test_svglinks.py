"""SVG diagram links are written as xlink:href after the build (svglinks.py), and still checked."""

from __future__ import annotations

from marginalia.linkcheck import check_site
from marginalia.svglinks import rewrite, rewrite_site


def test_only_links_inside_svg_change():
    html = ('<p><a href="x/">text</a></p><svg viewBox="0 0 1 1"><a href="../code/a/#L3" class="n"><rect/></a>'
            '<a class="e" href=\'#L4\'><path/></a></svg><a href="y/"><svg><path/></svg></a>')
    assert rewrite(html) == ('<p><a href="x/">text</a></p><svg viewBox="0 0 1 1"><a xlink:href="../code/a/#L3" class="n">'
                             "<rect/></a><a class=\"e\" xlink:href='#L4'><path/></a></svg><a href=\"y/\"><svg><path/></svg></a>")
    assert rewrite(rewrite(html)) == rewrite(html)


def test_rewritten_links_are_still_link_checked(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text('<html><body><p id="here">x</p><svg><a href="../a/#here"><rect/></a>'
                                               '<a href="../nowhere/"><rect/></a></svg></body></html>')
    assert rewrite_site(tmp_path) == 1
    assert 'xlink:href="../a/#here"' in (tmp_path / "a" / "index.html").read_text()
    report = check_site(tmp_path)
    assert report.checked == 2 and [b.target for b in report.broken] == ["../nowhere/"]
