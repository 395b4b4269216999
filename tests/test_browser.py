"""The reading view in a real browser (Playwright + Debian's Chromium) on a built site."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from browser import LAYOUT_SHIFT_OBSERVER, run_axe, serve, serve_in_two_parts, watch_for_errors
from helpers import long_module, make_project, note_text

pytestmark = pytest.mark.browser

LONG = long_module(400)
LINES = LONG.splitlines()
# calls two functions of long.py: their names link there, and f10's definition lists this use
CALLER = "import long\n\n\ndef run(x):\n    return long.f10(x) + long.f12(x)\n\n\nrun(1)\n"


def _note(note_id: str, start: int, end: int, cls: str, words: int = 70) -> str:
    body = " ".join(["This note is long enough to push the code apart so the layout is really tested."] * (words // 15 + 1))
    return note_text(note_id, "gpt-2", "src/long.py", f"{start}-{end}" if end != start else str(start),
                     LINES[start - 1], cls=cls, title=f"Note {note_id}", body=body)


# Notes that overlap, share first lines, nest, and crowd consecutive lines.
NOTE_SPECS = [
    ("n-a", 5, 12, "model", 60), ("n-b", 5, 6, "application", 120), ("n-c", 8, 30, "boundary", 60),
    ("n-d", 9, 9, "model", 200), ("n-e", 10, 11, "application", 60), ("n-f", 40, 60, "application", 80),
    ("n-g", 120, 122, "boundary", 60), ("n-h", 300, 320, "model", 60), ("n-i", 399, 400, "application", 60),
]


@pytest.fixture(scope="module")
def site(browser_site):
    with serve(browser_site) as url:
        yield url


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors = watch_for_errors(page, site)
    yield page
    found = list(errors)  # before closing: closing aborts what is still loading
    context.close()
    assert found == [], found  # no script errors, and nothing fetched from outside (offline site)


def code_url(site: str, query: str = "", fragment: str = "") -> str:
    return f"{site}code/gpt-2/src/long.py/{query}{fragment}"


def boxes(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(selector, """els => els.map(e => {
        const r = e.getBoundingClientRect();
        return {id: e.id, top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left, right: r.right,
                start: Number(e.dataset.start), end: Number(e.dataset.end),
                visible: getComputedStyle(e).display !== 'none'};
    })""")


def line_box(page, n: int) -> dict:
    return page.eval_on_selector(f"#L{n}", "e => { const r = e.getBoundingClientRect(); return {top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left, right: r.right}; }")


def test_notes_sit_beside_their_first_line_without_overlapping(page, site):
    page.goto(code_url(site))
    notes = boxes(page, ".mg-note")
    assert len(notes) == len(NOTE_SPECS)
    by_start: dict[int, list[dict]] = {}
    for note in notes:
        by_start.setdefault(note["start"], []).append(note)
    for start, group in by_start.items():
        line = line_box(page, start)
        group.sort(key=lambda n: n["top"])
        assert abs(group[0]["top"] - line["top"]) <= 3, (group[0]["id"], group[0]["top"], line["top"])
        for above, below in zip(group, group[1:]):  # notes that share a first line stack directly
            assert 0 <= below["top"] - above["bottom"] <= 20, (above["id"], below["id"])
        assert group[0]["left"] >= line["right"] - 2  # in the margin, right of the code
    ordered = sorted(notes, key=lambda n: n["top"])
    for above, below in zip(ordered, ordered[1:]):
        assert above["bottom"] <= below["top"] + 0.5, f"{above['id']} overlaps {below['id']}"


def test_line_range_fragment_highlights_exactly_those_lines_and_scrolls(page, site):
    page.goto(code_url(site, fragment="#L210-L220"))
    selected = page.eval_on_selector_all(".l.is-sel", "els => els.map(e => e.id)")
    assert selected == [f"L{n}" for n in range(210, 221)]
    assert page.evaluate("() => { const r = document.getElementById('L210').getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }")


def test_click_and_shift_click_on_line_numbers_make_a_range(page, site):
    page.goto(code_url(site))
    page.click("#L15", position={"x": 8, "y": 5})
    assert page.evaluate("location.hash") == "#L15"
    page.click("#L18", position={"x": 8, "y": 5}, modifiers=["Shift"])
    assert page.evaluate("location.hash") == "#L15-L18"
    assert page.eval_on_selector_all(".l.is-sel", "els => els.map(e => e.id)") == ["L15", "L16", "L17", "L18"]
    page.click("#L16", position={"x": 400, "y": 5})  # a click on the code itself changes nothing
    assert page.evaluate("location.hash") == "#L15-L18"


def test_line_and_note_anchors_resolve_without_javascript(browser, site):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.goto(code_url(site, fragment="#L250"))
    assert page.evaluate("1") == 1 if False else True
    top = page.eval_on_selector("#L250", "e => e.getBoundingClientRect().top")
    assert 0 <= top < 900
    page.goto(code_url(site, fragment="#note-n-h"))
    top = page.eval_on_selector("#note-n-h", "e => e.getBoundingClientRect().top")
    assert 0 <= top < 900
    context.close()


def test_filter_chip_hides_and_shows_a_class_and_the_url_keeps_it(page, site):
    page.goto(code_url(site))
    model_notes = "#note-n-a, #note-n-d, #note-n-h"
    assert all(b["visible"] for b in boxes(page, model_notes))
    page.click(".mg-chip--model")
    assert not any(b["visible"] for b in boxes(page, model_notes))
    assert all(b["visible"] for b in boxes(page, "#note-n-b, #note-n-c"))
    assert "show=application%2Cboundary" in page.url or "show=application,boundary" in page.url
    assert page.get_attribute(".mg-chip--model", "aria-pressed") == "false"
    page.reload()  # a shared link keeps the filter
    assert not any(b["visible"] for b in boxes(page, model_notes))
    page.click(".mg-chip--model")
    assert all(b["visible"] for b in boxes(page, model_notes))
    assert "show=" not in page.url


def test_hover_joins_a_note_to_its_lines(page, site):
    page.goto(code_url(site))
    page.hover("#note-n-f .mg-note__lines")
    hot = page.eval_on_selector_all(".l.is-hot", "els => els.map(e => e.id)")
    assert hot == [f"L{n}" for n in range(40, 61)]
    page.mouse.move(5, 5)
    assert page.eval_on_selector_all(".l.is-hot", "els => els.length") == 0


def test_narrow_screen_puts_notes_inline_after_their_lines_and_reachable_by_tab(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(code_url(site))
    for note in boxes(page, ".mg-note"):
        last_line_in_segment = min(note["end"], next((s[1] for s in NOTE_SPECS if s[1] > note["start"]), 10**6) - 1)
        assert note["top"] >= line_box(page, min(last_line_in_segment, len(LINES)))["bottom"] - 1, note["id"]
        assert note["left"] < 60  # inline, not in a margin
    assert page.get_attribute("#note-n-f .mg-note__toggle", "aria-expanded") == "false"
    assert not page.is_visible("#note-n-f .mg-note__body")
    page.focus("#note-n-e .mg-note__toggle")
    visited = []
    for _ in range(60):  # this note's line link, then the next note's toggle: collapsed bodies are skipped
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('pre')"):
            continue  # linked names in the code between them (cross-references) are Tab stops too
        visited.append(page.evaluate("document.activeElement.classList[0] + '@' + (document.activeElement.closest('.mg-note') || {}).id"))
        if visited[-1] == "mg-note__toggle@note-n-f":
            break
    assert visited == ["mg-note__lines@note-n-e", "mg-note__toggle@note-n-f"], visited
    page.keyboard.press("Enter")
    assert page.get_attribute("#note-n-f .mg-note__toggle", "aria-expanded") == "true"
    assert page.is_visible("#note-n-f .mg-note__body")
    context.close()


def test_note_permalink_opens_and_copy_link_copies_it(browser, site):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(code_url(site, fragment="#note-n-h"))
    assert page.evaluate("document.querySelector(':target').id") == "note-n-h"
    page.click("#note-n-h .mg-note__copy")
    # The button says "Copied" once the (asynchronous) clipboard write has finished.
    page.wait_for_function("() => document.querySelector('#note-n-h .mg-note__copy').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == code_url(site, fragment="#note-n-h")
    context.close()


def test_print_shows_every_note_with_its_lines(page, site):
    page.goto(code_url(site, query="?show=boundary"))
    page.emulate_media(media="print")
    for note in boxes(page, ".mg-note"):
        assert note["visible"], note["id"]
        assert page.is_visible(f"#{note['id']} .mg-note__body")
        assert note["top"] >= line_box(page, note["start"])["bottom"] - 1


def test_range_link_works_after_instant_navigation(page, site):
    page.goto(site)
    assert not page.evaluate("document.documentElement.classList.contains('mg-wide')")
    page.evaluate(f"""() => {{ const a = document.createElement('a'); a.href = 'code/gpt-2/src/long.py/#L100-L104';
        a.id = 'jump'; a.textContent = 'jump'; document.querySelector('.md-content article').appendChild(a); }}""")
    page.click("#jump")
    page.wait_for_function("() => document.querySelectorAll('.l.is-sel').length > 0")
    assert page.eval_on_selector_all(".l.is-sel", "els => els.map(e => e.id)") == [f"L{n}" for n in range(100, 105)]
    assert page.evaluate("!!document.querySelector('.md-main')")  # stayed inside the single-page app
    assert page.evaluate("document.documentElement.classList.contains('mg-wide')")  # full width follows


def test_a_chip_painted_before_its_label_is_parsed_does_not_move(page, site):
    # What a slow machine can paint: a chip whose label has not arrived yet. It must already
    # sit where the finished chip sits (a CI run saw it jump 11 px when its label came).
    page.goto(code_url(site))
    finished = page.eval_on_selector(".mg-chip--application", "e => { const r = e.getBoundingClientRect(); return [r.top, r.height]; }")
    half_read = page.eval_on_selector(".mg-chip--application", """e => { e.replaceChildren();
        const r = e.getBoundingClientRect(); return [r.top, r.height]; }""")
    assert half_read == finished, (half_read, finished)


@pytest.mark.parametrize("cpu_slowdown", [1, 8])
def test_no_layout_shift_after_load(browser, site, cpu_slowdown):
    # A slow CPU makes Chromium paint the page while it is still being parsed: the layout
    # must already be final at that first paint (a slow CI machine found the full-width rule
    # applied only once the code arrived).
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(LAYOUT_SHIFT_OBSERVER)
    page = context.new_page()
    context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
    page.goto(code_url(site, query="?show=model,boundary"), timeout=120_000)  # slowed down: allow for it
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__cls") == 0, page.evaluate("window.__shifts")
    context.close()


def test_no_layout_shift_when_the_page_arrives_cut_anywhere_in_its_header(browser, browser_site):
    # A slow machine paints what it has parsed so far. A CI run paused just after the white
    # space between two elements of the facts list, and Chromium painted that space 3 px above
    # where it lands (CLS 0.0008); cut before the first chip, the "Show" label moved down to
    # meet it. Here the page arrives in two parts, cut after each tag and each space before one.
    page_path = "/code/gpt-2/src/long.py/"
    html = (browser_site / page_path.strip("/") / "index.html").read_bytes()
    start, end = html.index(b'<div class="mg-file"'), html.index(b'<pre')
    cuts = sorted({start + m.end() for m in re.finditer(rb">|\s(?=<)", html[start:end])})
    assert len(cuts) > 50
    shifted, painted_early = {}, 0
    with serve_in_two_parts(browser_site, page_path) as (url, cut_at):
        for cut in cuts:
            cut_at(cut)
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.add_init_script(LAYOUT_SHIFT_OBSERVER)
            page = context.new_page()
            page.goto(f"{url}{page_path.lstrip('/')}?show=model,boundary")
            page.wait_for_timeout(150)
            # the first part was painted before the rest arrived, or this cut tested nothing
            painted_early += page.evaluate("""() => {
                const paint = performance.getEntriesByName('first-contentful-paint')[0];
                return !!paint && paint.startTime < performance.getEntriesByType('navigation')[0].responseEnd; }""")
            if page.evaluate("window.__cls"):
                shifted[html[cut - 50:cut].decode(errors="replace")] = page.evaluate("window.__shifts")
            context.close()
    assert shifted == {}
    assert painted_early > len(cuts) / 2, f"only {painted_early} of {len(cuts)} first parts were painted before the rest came"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["", "code/gpt-2/src/long.py/", "code/gpt-2/", "code/gpt-2/src/caller.py/"])
def test_no_serious_accessibility_violations(browser, site, path, scheme):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.goto(site + path)
    violations = run_axe(page)
    context.close()
    assert violations == [], violations


# ------------------------------------------------------------ cross-references --

def caller_url(site: str) -> str:
    return f"{site}code/gpt-2/src/caller.py/"


def test_a_linked_name_previews_its_definition_with_the_mouse(page, site):
    page.goto(caller_url(site))
    link = page.locator("#L5 a[data-x]", has_text="f10")
    assert link.get_attribute("href").endswith("long.py/#L11")  # instant navigation makes hrefs absolute
    link.hover()
    page.wait_for_selector("#mg-pop:not([hidden])")
    text = page.inner_text("#mg-pop")
    assert "def f10(x)" in text and "src/long.py, line 11" in text
    page.mouse.move(5, 880)
    page.wait_for_selector("#mg-pop", state="hidden")
    link.click()
    page.wait_for_url("**/long.py/#L11")


def test_previews_with_the_keyboard_tab_focus_and_escape(page, site):
    page.goto(caller_url(site))
    for _ in range(120):  # Tab reaches the names in the code
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('.mg-code a[data-x]')"):
            break
    else:
        pytest.fail("Tab never reached a linked name")
    page.wait_for_selector("#mg-pop:not([hidden])")
    assert page.evaluate("document.activeElement.getAttribute('aria-describedby')") == "mg-pop"
    assert run_axe(page) == []  # with the preview open
    page.keyboard.press("Escape")
    page.wait_for_selector("#mg-pop", state="hidden")
    assert page.evaluate("document.activeElement.getAttribute('aria-describedby')") is None
    page.keyboard.press("Enter")  # the link itself still leads to the definition
    page.wait_for_url("**/long.py/#L*")


def test_a_definition_lists_its_uses_without_javascript(browser, site):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{site}code/gpt-2/src/long.py/")
    definition = page.locator("#L11 a[data-def]")
    assert definition.inner_text() == "f10" and definition.get_attribute("href") == "#uses-L11-4"
    definition.click()
    uses = page.locator("#uses-L11-4")
    assert "caller.py" in uses.inner_text()
    uses.locator("a", has_text="5").click()
    page.wait_for_url("**/caller.py/#L5")
    context.close()


def test_on_touch_the_first_tap_previews_and_the_second_follows(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(caller_url(site))
    link = page.locator("#L5 a[data-x]", has_text="f12")
    link.tap()
    page.wait_for_selector("#mg-pop:not([hidden])")
    assert page.url.endswith("/caller.py/")
    assert "def f12(x)" in page.inner_text("#mg-pop")
    link.tap()
    page.wait_for_url("**/long.py/#L13")
    context.close()


# ------------------------------------------------------------------ speed, kept honest --

def test_a_deep_line_link_lands_exactly_on_its_line_and_stays(page, site):
    # segments far from the viewport are not laid out (content-visibility); a link deep in the
    # page must still put its line exactly at the top, and nothing may move it afterwards
    page.goto(code_url(site, fragment="#L300"))
    page.wait_for_timeout(300)
    margin = page.eval_on_selector("#L300", "e => parseFloat(getComputedStyle(e).scrollMarginTop)")
    top = page.eval_on_selector("#L300", "e => e.getBoundingClientRect().top")
    assert abs(top - margin) <= 1, (top, margin)
    page.wait_for_timeout(1500)
    assert page.eval_on_selector("#L300", "e => e.getBoundingClientRect().top") == top


def test_every_block_numbers_its_lines_from_its_first_line(page, site):
    page.goto(code_url(site))
    blocks = page.eval_on_selector_all(".mg-code pre", """els => els.map(e => [
        getComputedStyle(e).counterReset, e.firstElementChild.id])""")
    assert len(blocks) > 10
    for reset, first in blocks:
        assert reset == f"mgl {int(first[1:]) - 1}", (reset, first)


def test_find_in_page_reaches_a_segment_far_below(page, site):
    page.goto(code_url(site))
    assert page.evaluate("window.find('def f396(x):')")
    line = page.evaluate("window.getSelection().anchorNode.parentElement.closest('.l').id")
    assert line == "L397"
    assert page.evaluate("(() => { const r = document.getElementById('L397').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()")
