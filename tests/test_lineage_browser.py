"""The lineage pages in a real browser: a change's two line links, the narrow layout, the
copy line on the code pages, the diagram, and axe-core. The fixture site (conftest's
browser_site, built by MkDocs and by Zensical) holds one copy relation."""

from __future__ import annotations

import textwrap

import pytest

from browser import run_axe, serve
from helpers import note_text

pytestmark = pytest.mark.browser

ORIGINAL = textwrap.dedent('''\
    import math


    def softmax(values):
        top = max(values)
        exps = [math.exp(v - top) for v in values]
        return [e / sum(exps) for e in exps]


    def sample(logits, temperature=1.0):
        logits = [x / temperature for x in logits]
        return softmax(logits)
    ''')

COPY = textwrap.dedent('''\
    import math


    def softmax(values):
        top = max(values)
        exps = [math.exp(v - top)
                for v in values]
        return [e / sum(exps) for e in exps]


    def penalize(logits, used):
        # the copy's own idea
        return [x * 0.85 if i in used else x for i, x in enumerate(logits)]


    def sample(logits, temperature = 1.0):
        logits = [x / temperature for x in logits]
        return softmax(penalize(logits, []))
    ''')

PENALIZE = (11, 13)  # lines of the new function in COPY
CALL = (12, 18)  # the changed return statement: its line in ORIGINAL, in COPY

LINEAGE_FILES = {"gpt-2": {"src/orig.py": ORIGINAL}, "aidungeon": {"src/copy.py": COPY}}
LINEAGE_NOTES = {
    "lineage.toml": textwrap.dedent('''\
        [[relation]]
        id = "demo-copy"
        kind = "modified"
        original = "gpt-2/src/orig.py"
        copy = "aidungeon/src/copy.py"
        title = "The copy of the sampler"
        summary = "A copy made by the tests: reformatted, with one function added."
        '''),
    "aidungeon/demo-penalize.md": note_text("demo-penalize", "aidungeon", "src/copy.py", "11-13",
                                            "def penalize(logits, used):", cls="boundary",
                                            title="The function the copy added"),
    "aidungeon/demo-penalize-call.md": note_text("demo-penalize-call", "aidungeon", "src/copy.py", "18",
                                                 "return softmax(penalize(logits, []))", cls="boundary",
                                                 title="Where the copy calls it"),
}


@pytest.fixture(scope="module")
def site(browser_site):
    with serve(browser_site) as url:
        yield url


def page_at(browser, width: int, height: int = 900, **options):
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    return context, context.new_page()


COMPARE = "lineage/demo-copy/"


def test_a_change_links_to_its_lines_on_both_sides(browser, site):
    context, page = page_at(browser, 1440)
    page.goto(site + COMPARE)
    assert len(page.query_selector_all(".mg-cmp__hunk")) == 2
    # (Material's instant navigation makes hrefs absolute once the page runs: compare resolved URLs)
    original = page.eval_on_selector("#change-2 a.mg-cmp__at--a", "e => e.href")
    copy = page.eval_on_selector("#change-2 a.mg-cmp__at--b", "e => e.href")
    assert original == f"{site}code/gpt-2/src/orig.py/#L{CALL[0]}"
    assert copy == f"{site}code/aidungeon/src/copy.py/#L{CALL[1]}"
    for side, url, line in (("a", original, CALL[0]), ("b", copy, CALL[1])):
        page.goto(site + COMPARE)
        page.click(f"#change-2 a.mg-cmp__at--{side}")
        page.wait_for_function("() => document.querySelectorAll('.l.is-sel').length > 0")
        assert page.url == url
        assert page.eval_on_selector_all(".l.is-sel", "els => els.map(e => e.id)") == [f"L{line}"]
    context.close()


def test_an_insertion_links_to_the_copy_and_says_where_it_would_be_in_the_original(browser, site):
    context, page = page_at(browser, 1440)
    page.goto(site + COMPARE)
    assert "penalize" in page.inner_text("#change-1 .mg-cmp__title")
    # nothing in the original, but a link to where it would be: after line 7
    assert page.inner_text("#change-1 a.mg-cmp__at--a") == "nothing in the original: after line 7"
    assert page.eval_on_selector("#change-1 a.mg-cmp__at--a", "e => e.href") == f"{site}code/gpt-2/src/orig.py/#L7"
    assert page.eval_on_selector("#change-1 a.mg-cmp__at--b", "e => e.href") == \
        f"{site}code/aidungeon/src/copy.py/#L{PENALIZE[0]}-L{PENALIZE[1]}"
    assert page.eval_on_selector_all("#change-1 .mg-cmp__side .l.is-chg", "els => els.length") == 2  # def, return
    assert page.eval_on_selector_all("#change-1 .mg-cmp__side .l.is-cmt", "els => els.length") == 1  # its comment
    assert "The function the copy added" in page.inner_text("#change-1 .mg-cmp__notes")
    same = page.query_selector_all("details.mg-cmp__same")
    assert same and "unchanged except for formatting" in same[0].inner_text()
    assert not same[0].evaluate("e => e.open")  # collapsed
    context.close()


def test_code_pages_of_copy_and_original_link_to_the_comparison(browser, site):
    context, page = page_at(browser, 1440)
    for path, words in (("code/aidungeon/src/copy.py/", "Copied from"), ("code/gpt-2/src/orig.py/", "Copied by")):
        page.goto(site + path)
        facts = page.inner_text(".mg-facts")
        assert words in facts and "2 changes" in facts
        page.click(".mg-facts a[href$='lineage/demo-copy/']")
        page.wait_for_url("**/lineage/demo-copy/")
    context.close()


def test_narrow_screen_stacks_the_two_sides_and_the_notes(browser, site):
    context, page = page_at(browser, 390, 844, is_mobile=True, has_touch=True)
    page.goto(site + COMPARE)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out
    boxes = page.eval_on_selector_all("#change-1 .mg-cmp__side, #change-1 .mg-cmp__note", """els => els.map(e => {
        const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, width: r.width}; })""")
    assert len(boxes) == 3  # original, copy, note
    for above, below in zip(boxes, boxes[1:]):
        assert below["top"] >= above["bottom"] - 1  # one column: each below the one before
        assert abs(below["left"] - above["left"]) < 20
    assert boxes[1]["width"] > 300
    context.close()


def test_wide_screen_puts_the_sides_side_by_side_and_the_note_in_the_margin(browser, site):
    context, page = page_at(browser, 1440)
    page.goto(site + COMPARE)
    original, copy, note = page.eval_on_selector_all("#change-1 .mg-cmp__side, #change-1 .mg-cmp__note", """els => els.map(e => {
        const r = e.getBoundingClientRect(); return {top: r.top, left: r.left, right: r.right}; })""")
    assert abs(original["top"] - copy["top"]) < 2 and original["right"] <= copy["left"]
    assert note["left"] >= copy["right"] and abs(note["top"] - original["top"]) < 60
    context.close()


def test_the_map_draws_the_relation_as_links(browser, site):
    context, page = page_at(browser, 1440)
    page.goto(site + "map/")
    hrefs = page.eval_on_selector_all("svg.mg-lineage a", "els => els.map(e => new URL(e.href.baseVal, location.href).href)")
    assert f"{site}lineage/demo-copy/" in hrefs
    assert f"{site}code/gpt-2/src/orig.py/" in hrefs and f"{site}code/aidungeon/src/copy.py/" in hrefs
    assert "2 changes" in page.eval_on_selector("svg.mg-lineage", "e => e.textContent")
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path, width", [(COMPARE, 1440), (COMPARE, 390), ("lineage/", 1440), ("map/", 1440),
                                         ("code/aidungeon/src/copy.py/", 1440)])
def test_no_serious_accessibility_violations(browser, site, path, width, scheme):
    context, page = page_at(browser, width, color_scheme=scheme)
    page.goto(site + path)
    violations = run_axe(page)
    context.close()
    assert violations == [], violations
