"""The Content-Security-Policy in a real browser (Playwright + Debian's Chromium).

Every page type is visited, on the fixture site built by MkDocs and by Zensical and on the real
site, while the features are used (the filter chips, line ranges by click and shift-click, copy
link, a name preview, "What ran", search, the palette toggle, instant navigation), and not one
CSP violation may occur: a ``securitypolicyviolation`` listener registered before any page
script runs records them on ``window``, and the console is watched for CSP errors. The policy
must also bite: an inline script that is not in the hashes is refused, on a loaded page and on a
page reached by instant navigation. And the browser itself decides whether the hashes are right:
on a page of tricky scripts it runs exactly those the policy allows.
"""

from __future__ import annotations

import json
import re

import pytest

from browser import serve, watch_for_errors
from helpers import skip_unless_extracted
from marginalia import csp

pytestmark = pytest.mark.browser

LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push({
  directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile, line: e.lineNumber}));
"""
CSP_CONSOLE = re.compile(r"Content[- ]Security[- ]Policy", re.I)


def _sitemap_here(route) -> None:
    """The sitemap names pages at site_url (port 8000), and the themes intercept a link only if
    the sitemap lists it, ignoring the port; the test server has its own port, so the sitemap
    is given that one, or no navigation would be instant."""
    response = route.fetch()
    here = re.match(r"https?://[^/]+/", route.request.url).group()
    route.fulfill(response=response, body=re.sub(r"<loc>https?://[^/<]+/", "<loc>" + here, response.text()))


class Watched:
    """A page whose CSP violations, CSP console messages and script errors are collected."""

    def __init__(self, browser, also_allowed: tuple[str, ...] = (), **options):
        self.context = browser.new_context(viewport={"width": 1440, "height": 900}, **options)
        self.context.add_init_script(LISTEN)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if CSP_CONSOLE.search(m.text) else None)
        # any port of the test server (tests serve several sites), and what a test allows besides
        self.errors = watch_for_errors(self.page, "http://127.0.0.1:", *also_allowed)
        self.page.route("**/sitemap.xml", _sitemap_here)

    def violations(self) -> list:
        return self.page.evaluate("window.__csp || []")

    def assert_clean(self, where: str) -> None:
        found = {"violations": self.violations(), "console": self.console, "errors": self.errors}
        assert found == {"violations": [], "console": [], "errors": []}, f"{where}: {found}"


@pytest.fixture
def watched(browser):
    made: list[Watched] = []

    def make(also_allowed: tuple[str, ...] = (), **options) -> Watched:
        made.append(Watched(browser, also_allowed, **options))
        return made[-1]

    yield make
    for w in made:
        w.context.close()


# ------------------------------------------------------------- the browser decides --

SCRIPT_TYPES = ["", "text/javascript", " TEXT/JavaScript ", "application/x-javascript", "text/jscript",
                "text/ecmascript", "text/javascript1.5", "module", "Module",
                # never run, never hashed
                "application/json", "application/ld+json", 'application/ld+json;profile="http://www.w3.org/ns/anno.jsonld"',
                "text/javascript; charset=utf-8", " ", "text/plain", "javascript", "text/javascript1.6"]


def _probe(label: str) -> str:
    return f"(window.ran = window.ran || []).push({json.dumps(label, ensure_ascii=False)})"


def test_the_browser_runs_exactly_the_scripts_that_get_a_hash(watched, tmp_path):
    scripts = [(f'type="{t}"' if t else "", _probe("type " + t)) for t in SCRIPT_TYPES]
    scripts += [('language="javascript"', _probe("language javascript")), ('language="vbscript"', _probe("vbscript")),
                ("", "\r\n" + _probe("CR LF and CR") + "\r"), ("", _probe("a raw NUL") + "/* \0 */"),
                ("", _probe("escaped") + ";<!--<script></script>-->"), ("", _probe("text & é \u2028 <b>")),
                ("", "\n  " + _probe("white space") + "\n  ")]
    body = "".join(f"<script {attrs}>{text}</script>\n" for attrs, text in scripts)
    body += "<!-- <script>" + _probe("in a comment") + "</script> --><textarea><script>" + _probe("textarea") + "</script></textarea>"
    (tmp_path / "index.html").write_bytes(("<!doctype html><html><head><meta charset=\"utf-8\"><title>t</title>"
                                           "<link rel=\"icon\" href=\"data:,\"></head><body>" + body + "</body></html>").encode())
    csp.apply(tmp_path)
    page = csp.scan((tmp_path / "index.html").read_text())
    allowed = [s for s in page.scripts if s.governed]
    with serve(tmp_path) as url:
        w = watched()
        w.page.goto(url)
        w.page.wait_for_function("() => (window.ran || []).length >= %d" % len(allowed))
        w.page.wait_for_timeout(200)
        ran = w.page.evaluate("window.ran")
        w.assert_clean("probe page")
    assert len(ran) == len(allowed)  # every script that got a hash ran, and nothing else did
    assert sorted(ran) == sorted(json.loads(re.search(r"push\((.*?)\)", s.text).group(1)) for s in allowed)
    assert "type application/ld+json" not in ran and "type text/javascript; charset=utf-8" not in ran


# ------------------------------------------------------------------------ it bites --

INJECTED = ("<script>window.__injected = 'inline script';</script>"
            "<img alt=\"\" src=\"data:,\" onerror=\"window.__injected = 'event handler'\">")


def _inject(route) -> None:
    response = route.fetch()
    body = response.text().replace("</article>", INJECTED + "</article>", 1)
    route.fulfill(response=response, body=body)


def test_an_inline_script_not_in_the_hashes_is_refused(watched, browser_site):
    with serve(browser_site) as site:
        w = watched()
        w.page.route("**/code/gpt-2/src/long.py/", _inject)
        w.page.goto(f"{site}code/gpt-2/src/long.py/")
        w.page.wait_for_function("() => window.__csp.length >= 2")
        assert w.page.evaluate("window.__injected") is None
        assert {v["directive"] for v in w.violations()} == {"script-src-elem", "script-src-attr"}
        assert any("violates the following Content Security Policy directive" in m for m in w.console), w.console
        # a script added at run time, as an injection into the DOM would
        w.page.evaluate("""() => { const s = document.createElement('script');
            s.textContent = "window.__injected = 'added later'"; document.body.append(s); }""")
        w.page.wait_for_function("() => window.__csp.length >= 3")
        assert w.page.evaluate("window.__injected") is None
        # and no string becomes code: eval and new Function are refused (tried from a timer, in the
        # page's own turn: code evaluated over the DevTools protocol is exempt)
        assert w.page.evaluate("""() => new Promise(done => setTimeout(() => done(
            [() => eval('1'), () => new Function('return 1')()].map(f => {
                try { f(); return 'ran'; } catch (e) { return e.name; } })), 0))""") == ["EvalError", "EvalError"]
        # the page's own scripts still ran
        assert w.page.evaluate("document.documentElement.classList.contains('mg-js')")
        assert w.page.get_attribute(".mg-chip--model", "aria-pressed") == "true"


def test_instant_navigation_keeps_refusing_what_is_not_in_the_hashes(watched, browser_site):
    with serve(browser_site) as site:
        w = watched()
        w.page.route("**/glossary/", _inject)
        w.page.goto(site)
        _instant_navigation(w, ["glossary/"])
        w.page.wait_for_function("() => window.__csp.length >= 1")
        assert w.page.evaluate("window.__injected") is None
        assert "script-src-elem" in {v["directive"] for v in w.violations()}


# ------------------------------------------- every page type, every feature, no violation --

def _search(w: Watched, query: str) -> int:
    """Type a query into the theme's search and return how many results it lists."""
    page = w.page
    if page.locator("[data-md-component=search-query]").count():  # Material for MkDocs
        page.click("[data-md-component=search-query]")
        page.keyboard.type(query)
        page.wait_for_selector(".md-search-result__item")
        count = page.locator(".md-search-result__item").count()
    else:  # Zensical: its search is a dialog in a shadow root (Playwright's selectors pierce it)
        page.click(".md-search__button")
        page.wait_for_selector("dialog[aria-label=Search] input")
        page.keyboard.type(query)
        page.wait_for_selector("[role=listbox] [role=option]")
        count = page.locator("[role=listbox] [role=option]").count()
    page.keyboard.press("Escape")
    return count


def _palette(w: Watched) -> None:
    """Toggle the palette twice (automatic → light → dark); a fresh load keeps dark, which only
    the inline palette script in the body can do."""
    page = w.page
    for media in ("(prefers-color-scheme: light)", "(prefers-color-scheme: dark)"):
        page.locator("form[data-md-component=palette] label:visible").first.click()
        page.wait_for_function(f"() => document.body.dataset.mdColorMedia === {json.dumps(media)}")
    page.reload()
    assert page.evaluate("document.body.dataset.mdColorScheme") == "slate"


def _code_page_features(w: Watched, site: str) -> None:
    page = w.page
    page.goto(f"{site}code/gpt-2/src/long.py/")
    assert page.evaluate("document.documentElement.classList.contains('mg-wide')")  # the inline head script ran
    page.click(".mg-chip--model")
    assert page.get_attribute(".mg-chip--model", "aria-pressed") == "false" and "show=" in page.url
    page.click(".mg-chip--model")
    page.click("#L15", position={"x": 8, "y": 5})
    page.click("#L18", position={"x": 8, "y": 5}, modifiers=["Shift"])
    assert page.evaluate("location.hash") == "#L15-L18"
    assert page.eval_on_selector_all(".l.is-sel", "els => els.length") == 4
    page.goto(f"{site}code/gpt-2/src/long.py/#note-n-h")
    page.click("#note-n-h .mg-note__copy")
    page.wait_for_function("() => document.querySelector('#note-n-h .mg-note__copy').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()").endswith("long.py/#note-n-h")
    page.goto(f"{site}code/gpt-2/src/caller.py/")
    page.locator("#L5 a[data-x]", has_text="f10").hover()  # the preview fetches xref.json
    page.wait_for_selector("#mg-pop:not([hidden])")
    assert "def f10(x)" in page.inner_text("#mg-pop")
    w.assert_clean("code pages")


FIXTURE_PAGES = ["", "code/", "code/gpt-2/", "code/gpt-2/src/long.py/", "map/", "lineage/", "lineage/demo-copy/",
                 "reading-two-scripts/", "what-runs/", "glossary/", "bibliography/", "concordance/", "reference/",
                 "404.html"]


def test_no_violation_on_any_page_of_the_fixture_site_while_every_feature_works(watched, browser_site):
    with serve(browser_site) as site:
        w = watched(permissions=["clipboard-read", "clipboard-write"])
        for path in FIXTURE_PAGES:
            w.page.goto(site + path)
            w.page.wait_for_load_state("load")
            assert w.page.evaluate("document.documentElement.classList.contains('mg-js')"), path
            w.assert_clean(path or "home")
        _code_page_features(w, site)
        w.page.goto(site)
        assert _search(w, "note") > 0
        _palette(w)
        _instant_navigation(w, ["glossary/", "code/gpt-2/src/long.py/", "lineage/demo-copy/", "about/"])
        w.assert_clean("search, palette, instant navigation")


def _instant_navigation(w: Watched, paths: list[str]) -> None:
    """From the current page, follow links to ``paths`` without loading a new document: the
    first page's policy (and any that the theme appends) must allow each page's scripts.
    The map and the lineage overview included: their diagrams' links are ``xlink:href``
    (svglinks.py), which the themes' page swap leaves alone."""
    page = w.page
    page.wait_for_load_state("networkidle")  # the theme intercepts links once it has read sitemap.xml
    page.evaluate("window.__sameDocument = true")
    for path in paths:
        page.evaluate("""path => { const a = document.createElement('a'); a.id = 'mg-test-jump';
            a.href = new URL(path, location.origin + '/').href;  // the site is served at the root
            a.textContent = 'jump'; document.querySelector('.md-content article').prepend(a); }""", path)  # at the top: nothing scrolls under the pointer
        page.click("#mg-test-jump")
        page.wait_for_url(f"**/{path}")
        page.wait_for_function("() => !document.getElementById('mg-test-jump')")  # the content was swapped in
        assert page.evaluate("window.__sameDocument") is True, f"{path}: a full load, not instant navigation"


# ------------------------------------------------------------------------ the real site --

def test_no_violation_on_every_page_type_of_the_real_site(watched, real_site):
    skip_unless_extracted(real_site.parent, "gpt-2")  # it opens previews and the What-ran data of model.py
    lineage = sorted(p.parent.name for p in (real_site / "lineage").glob("*/index.html"))
    notes = sorted(p.parent.name for p in (real_site / "notes").glob("*/index.html"))
    pages = ["", "code/gpt-2/src/model.py/", "map/", "reading-two-scripts/", "what-runs/", "glossary/",
             f"lineage/{lineage[0]}/", *([f"notes/{notes[0]}/"] if notes else []), "404.html"]
    with serve(real_site) as site:
        w = watched()
        for path in pages:
            w.page.goto(site + path)
            w.page.wait_for_load_state("load")
            w.assert_clean(path or "home")
        w.page.goto(f"{site}code/gpt-2/src/model.py/")
        w.page.click(".mg-ran__toggle")  # What ran: fetches the page's trace data
        w.page.wait_for_selector(".mg-ran-on")
        w.page.locator(".mg-code .l").nth(20).hover()
        w.page.wait_for_function("() => document.querySelector('.mg-ran__status').textContent.startsWith('Line')")
        w.page.locator("a[data-x]").first.hover()
        w.page.wait_for_selector("#mg-pop:not([hidden])")
        assert _search(w, "softmax") > 0
        _instant_navigation(w, ["glossary/", f"lineage/{lineage[0]}/", "reading-two-scripts/", "map/", "lineage/",
                                "code/gpt-2/src/sample.py/"] + ([f"notes/{notes[0]}/"] if notes else []))
        w.assert_clean("real site")


def test_every_page_carries_one_policy_that_allows_each_of_its_inline_scripts(browser_site, real_site):
    # A plain reading of the built pages (they are well formed), independent of the scanner.
    script = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S)
    for site in (browser_site, real_site):
        for path in site.rglob("*.html"):
            text = path.read_text(encoding="utf-8")
            policies = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', text)
            assert len(policies) == 1, path
            head = text[:text.index("</head>")]
            assert head.index("Content-Security-Policy") < min(
                (head.index(t) for t in ("<script", "<link", "<style") if t in head), default=len(head)), path
            allowed = policies[0].split("script-src ")[1].split(";")[0].split()
            assert "'unsafe-inline'" not in allowed and "'unsafe-eval'" not in allowed
            for attrs, body in script.findall(text):
                if "application/json" in attrs or "ld+json" in attrs:
                    continue
                assert csp.script_hash(body) in allowed, (path, body[:80])


def test_a_repository_link_in_the_header_may_fetch_its_facts(watched, browser_site, tmp_path):
    # With repo_url set, the theme shows the repository in the header and fetches its stars and
    # forks from GitHub's API: the policy allows that origin (computed from the page), nothing else.
    import shutil

    site_dir = tmp_path / "site"
    shutil.copytree(browser_site, site_dir)
    widget = ('<div class="md-header__source"><a href="https://github.com/example/repo" title="Go to repository" '
              'class="md-source" data-md-component="source"><div class="md-source__repository">example/repo</div></a></div>')
    index = site_dir / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace("</header>", widget + "</header>", 1), encoding="utf-8")
    csp.apply(site_dir)
    assert "connect-src 'self' https://api.github.com;" in index.read_text(encoding="utf-8")
    with serve(site_dir) as site:
        w = watched(also_allowed=("https://api.github.com/",))  # answered by the route below, offline
        w.page.route("https://api.github.com/**", lambda route: route.fulfill(
            json={"tag_name": "v1.0", "stargazers_count": 42, "forks_count": 7}))
        w.page.goto(site)
        w.page.wait_for_selector(".md-source__fact")
        assert "42" in w.page.inner_text(".md-source__facts")
        w.assert_clean("home with a repository link")
