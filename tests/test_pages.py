"""Page generation: per-line anchors, note placement, stability, missing sources."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import SAMPLE_PY, long_module
from marginalia.bibliography import load_bibliography
from marginalia.highlight import highlight_lines, line_count
from marginalia.markup import BodyRenderer
from marginalia.notes import check_notes, load_notes
from marginalia.pages import PageContext, code_page, problems_page
from test_notes import CORPUS, demo_context

ROOT = Path(__file__).parent.parent


def context(text=SAMPLE_PY, *, preview=False) -> PageContext:
    ctx = demo_context(text)
    notes = check_notes(load_notes(CORPUS / "annotations", CORPUS), ctx)
    return PageContext(ctx.manifest, ctx.sources, notes, load_bibliography(ROOT / "annotations/bibliography.json"),
                       BodyRenderer.for_site(ROOT / "mkdocs.yml"), preview=preview)


def page_html() -> str:
    ctx = context()
    return code_page("demo", ctx.manifest.codebases["demo"].files[0], ctx).content


def test_every_line_has_one_anchor_in_order():
    html = page_html()
    ids = re.findall(r'<span class="l[^"]*" id="L(\d+)"', html)
    assert [int(i) for i in ids] == list(range(1, line_count(SAMPLE_PY) + 1))


def test_highlighting_keeps_the_line_count_and_text():
    for text in (SAMPLE_PY, long_module(2000), "no newline at end", "\n\nleading blank lines\n", '"""doc\nstring\nspanning"""\n'):
        lines = highlight_lines(text, "x.py")
        assert len(lines) == line_count(text)
        plain = [re.sub(r"<[^>]+>", "", line).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for line in lines]
        assert "\n".join(plain) == text.rstrip("\n") if text.endswith("\n") else text


def test_anchors_are_stable_across_rebuilds_and_independent_of_notes():
    first, second = page_html(), page_html()
    assert first == second
    ctx = context()
    bare = PageContext(ctx.manifest, ctx.sources, type(ctx.notes)(), ctx.bibliography, ctx.renderer)
    bare_html = code_page("demo", ctx.manifest.codebases["demo"].files[0], bare).content
    line = re.compile(r'id="L(\d+)">(.*?)</span>(?=<span class="l|</pre>)')
    with_notes = {n: code for n, code in line.findall(first)}
    without = {n: code for n, code in line.findall(bare_html)}
    assert len(with_notes) == len(SAMPLE_PY.splitlines()) and with_notes == without


def test_a_note_sits_in_the_segment_that_starts_at_its_first_line():
    html = page_html()
    for note_id, first in (("demo-softmax", 5), ("demo-scale", 18), ("demo-step", 17)):
        segment = next(s for s in html.split('<div class="mg-seg') if f'id="note-{note_id}"' in s)
        assert re.search(r'id="L(\d+)"', segment).group(1) == str(first)


def test_lines_of_a_note_carry_its_class_mark():
    html = page_html()
    for n in range(5, 11):
        assert re.search(rf'<span class="l[^"]*\bcm\b[^"]*" id="L{n}"', html), n
    assert re.search(r'<span class="l" id="L2"', html)


def test_unextracted_file_page_says_so_and_keeps_its_notes():
    ctx = context(text=None)
    html = code_page("demo", ctx.manifest.codebases["demo"].files[0], ctx).content
    assert "Not extracted" in html and "unverified" in html
    for note_id in ("demo-softmax", "demo-scale", "demo-step"):
        assert f'id="note-{note_id}"' in html
    assert 'id="L1"' not in html


def test_preview_problems_page_lists_every_problem_and_broken_file():
    ctx = context(preview=True)
    text = problems_page(ctx.notes).content
    for problem in ctx.notes.problems:
        assert str(problem) in text
    for broken in ctx.notes.broken:
        assert broken.file in text


def test_note_html_is_sanitised_and_links_resolved():
    html = page_html()
    softmax = html[html.index('id="note-demo-softmax"'):]
    softmax = softmax[: softmax.index("</article>")]
    assert 'href="#note-demo-scale"' in softmax  # a note on the same page: its fragment alone
    assert 'href="../../../glossary/#logits"' in softmax
    assert 'href="../../../bibliography/#holtzman-2020"' in softmax
    assert 'href="#L7-L9"' in softmax
    raw = html[html.index('id="note-demo-b15"'):]
    assert "onerror" not in raw[: raw.index("</article>")]


def test_highlight_cache_gives_the_same_lines_and_survives_corruption(tmp_path, monkeypatch):
    from marginalia import highlight

    cache = highlight.HighlightCache(tmp_path)
    first = cache(SAMPLE_PY, "x.py")
    assert first == highlight_lines(SAMPLE_PY, "x.py")
    (stored,) = tmp_path.glob("*.json")
    calls = []
    monkeypatch.setattr(highlight, "highlight_lines", lambda *a: calls.append(a) or ("changed",))
    assert highlight.HighlightCache(tmp_path)(SAMPLE_PY, "x.py") == first and calls == []  # read from disk
    stored.write_text("{not json")
    assert highlight.HighlightCache(tmp_path)(SAMPLE_PY, "x.py") == ("changed",) and len(calls) == 1
