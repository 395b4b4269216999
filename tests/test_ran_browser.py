"""The "What ran" layer on the real code pages, in a browser (Playwright + Debian's chromium)."""

from __future__ import annotations

import json
import re

import pytest

from browser import CHROMIUM, CHROMIUM_ARGS, LAYOUT_SHIFT_OBSERVER, run_axe, serve
from helpers import skip_unless_extracted

pytestmark = [pytest.mark.browser, pytest.mark.network]

MODEL = "code/gpt-2/src/model.py/"
ENCODER = "code/gpt-2/src/encoder.py/"  # some of its statements never run (the error paths)


@pytest.fixture(scope="module")
def ran_page(real_site):
    from playwright.sync_api import sync_playwright

    skip_unless_extracted(real_site.parent, "gpt-2")  # the pages below, their traces and cross-references

    with serve(real_site) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.add_init_script(LAYOUT_SHIFT_OBSERVER)
        yield page, base, real_site
        browser.close()


def _table(site, page=MODEL):
    return json.loads((site / page / "trace.json").read_text(encoding="utf-8"))


def test_the_switch_marks_each_line_and_says_its_counts(ran_page):
    page, base, site = ran_page
    table = _table(site, ENCODER)
    run = table["runs"][0][0]
    page.goto(base + ENCODER)
    assert page.get_attribute(".mg-ran__toggle", "aria-pressed") == "false"
    assert not page.evaluate("document.querySelector('.mg-file').classList.contains('mg-ran-on')")
    page.click(".mg-ran__toggle")
    page.wait_for_selector(".mg-file.mg-ran-on")
    assert page.evaluate("new URLSearchParams(location.search).get('ran')") == run
    counts = table["lines"][run]
    # a line that ran, a line that never ran, and the words for the one pointed at
    ran_line = next(int(n) for n, c in counts.items() if c[0] > 1)
    never = next(int(n) for n, c in counts.items() if c[0] == 0)
    assert re.search(r"\bh[2-5]\b", page.get_attribute(f"#L{ran_line}", "class"))
    assert re.search(r"\bh0\b", page.get_attribute(f"#L{never}", "class"))
    page.hover(f"#L{ran_line}")
    status = page.inner_text(".mg-ran__status")
    assert f"Line {ran_line}: Python entered it {counts[str(ran_line)][0]:,} times" in status
    page.hover(f"#L{never}")
    assert page.inner_text(".mg-ran__status") == f"Line {never}: never ran in this run."
    assert page.evaluate("window.__cls") == 0


def test_a_run_is_chosen_from_the_url_and_the_selector(ran_page):
    page, base, site = ran_page
    table = _table(site)
    other = table["runs"][-1][0]
    page.goto(base + MODEL + f"?ran={other}")
    page.wait_for_selector(".mg-file.mg-ran-on")
    assert page.input_value(".mg-ran__run") == other
    first = table["runs"][0][0]
    page.select_option(".mg-ran__run", first)
    page.wait_for_function(f"new URLSearchParams(location.search).get('ran') === {json.dumps(first)}")
    page.click(".mg-ran__toggle")  # off again: no marks, no ?ran=
    assert page.evaluate("document.querySelectorAll('.l.h0, .l.h1, .l.h2, .l.h3, .l.h4, .l.h5').length") == 0
    assert page.evaluate("new URLSearchParams(location.search).get('ran')") is None


def test_the_layer_works_from_the_keyboard_and_stays_accessible(ran_page):
    page, base, site = ran_page
    page.goto(base + MODEL)
    page.focus(".mg-ran__toggle")
    page.keyboard.press("Enter")
    page.wait_for_selector(".mg-file.mg-ran-on")
    page.keyboard.press("Tab")  # the run selector
    assert page.evaluate("document.activeElement.classList.contains('mg-ran__run')")
    page.focus("#L55 a[data-x]")  # a name in a line: its line's counts are said
    assert page.inner_text(".mg-ran__status").startswith("Line 55:")
    assert page.get_attribute(".mg-ran__status", "role") == "status"
    assert run_axe(page) == []
