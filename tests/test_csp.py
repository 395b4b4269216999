"""The Content-Security-Policy step (marginalia.csp) on HTML made by hand: the hashes are those
of the script text byte for byte, data blocks get none, a second run changes nothing, and
malformed pages are read as a browser reads them. The browser's own verdict on the same
questions is in test_csp_browser.py."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from marginalia import csp

META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')


def sha(data: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode() + "'"


def script_src(html: str) -> list[str]:
    (policy,) = META.findall(html)
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    return directives["script-src"].split()[1:]  # after 'self'


def page(head: str = "", body: str = "") -> str:
    return f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>t</title>{head}</head>\n<body>{body}</body>\n</html>\n'


# ------------------------------------------------------------------------ the hashes --

def test_the_hashes_are_those_of_the_script_text_byte_for_byte():
    scripts = ['var a = "é – \u2028 \U0001f600";', "\n  if (a < b && c > d) { x(); }\n", "",
               "document.write('<\\/script>')"]
    html = page(head="".join(f"<script>{s}</script>" for s in scripts[:2]),
                body="".join(f"<script>{s}</script>" for s in scripts[2:]))
    out = csp.rewrite(html)
    assert script_src(out) == [sha(s.encode("utf-8")) for s in scripts]
    # and the text hashed is the text of the file, cut where the file's own bytes say
    raw = out.encode("utf-8")
    for match in re.finditer(rb"<script>(.*?)</script>", raw, re.S):
        assert sha(match.group(1)) in script_src(out)


def test_the_text_is_cut_where_the_tokenizer_cuts_it():
    cases = {
        "<script >a</script >": b"a",
        "<SCRIPT>b</Script\t>": b"b",
        '<script type="text/javascript">c</script foo="x>y">': b"c",
        # "<!--" then "<script>" keeps the next "</script>" from ending the element
        "<script><!--<script></script>d--></script>": b"<!--<script></script>d-->",
        "<script><!--</script>": b"<!--",
        "<script><!-->e</script>": b"<!-->e",
        "<script>f</scripts></script>": b"f</scripts>",
    }
    for html, text in cases.items():
        assert script_src(csp.rewrite(html)) == [sha(text)], html


def test_the_input_streams_normalisation_is_applied():
    # CR LF and lone CR become LF, NUL becomes U+FFFD: what the browser hashes
    out = csp.rewrite("<script>a\r\nb\rc\0</script>")
    assert script_src(out) == [sha("a\nb\nc\ufffd".encode())]


def test_repeated_scripts_are_hashed_once_in_document_order():
    out = csp.rewrite(page(head="<script>one</script><script>two</script>", body="<script>one</script>"))
    assert script_src(out) == [sha(b"one"), sha(b"two")]


# ------------------------------------------------------------------- which scripts --

@pytest.mark.parametrize("attrs", [
    "", 'type=""', 'type="text/javascript"', 'type=" TEXT/JavaScript "', 'type="application/javascript"',
    'type="module"', 'type="MODULE"', 'language="javascript"', 'type="" language="vbscript"', 'type="importmap"',
    'type="speculationrules"', 'type="text/javascript1.5"', "type=text/ecmascript",
])
def test_scripts_the_browser_runs_get_a_hash(attrs):
    assert script_src(csp.rewrite(f"<script {attrs}>x</script>")) == [sha(b"x")]


@pytest.mark.parametrize("attrs", [
    'type="application/json"', 'type="application/ld+json"',
    """type='application/ld+json;profile="http://www.w3.org/ns/anno.jsonld"'""",
    'type="text/javascript; charset=utf-8"',  # with parameters it is no JavaScript MIME type
    'type="text/plain"', 'type=" "', 'type="javascript"', 'language="vbscript"', 'type="text/javascript1.6"',
    'src="a.js"', 'src=""', 'src="a.js" type="module"',
])
def test_data_blocks_and_script_files_get_none(attrs):
    out = csp.rewrite(f'<script {attrs}>{{"@context": "x"}}</script>')
    assert script_src(out) == []
    assert "'unsafe-inline'" not in META.findall(out)[0].split("script-src")[1].split(";")[0]


@pytest.mark.parametrize("html", [
    "<!-- <script>no</script> -->", "<!--><script>yes</script>", "<!---><script>yes</script>",
    "<!-- a --!><script>yes</script>", "<textarea><script>no</script></textarea>", "<title><script>no</script></title>",
    "<style>a::after { content: '<script>no</script>' }</style>", "<noscript><script>no</script></noscript>",
    "<xmp><script>no</script></xmp>", "<iframe><script>no</script></iframe>", "<plaintext><script>no</script>",
    "<div title='<script>no</script>'>x</div>", "<!doctype html><?php <script>no ?>",
    "<p>1 < 2 <script>yes</script>", "</ ><script>yes</script>", "</><script>yes</script>",
    "<template><script>yes</script></template>",
])
def test_only_real_script_elements_count(html):
    hashes = script_src(csp.rewrite(html))
    assert sha(b"no") not in hashes
    assert hashes == ([sha(b"yes")] if "yes" in html else [])


# --------------------------------------------------------------- where the policy goes --

def test_the_policy_comes_first_in_head_after_the_encoding_and_before_any_script():
    html = page(head='<link rel="stylesheet" href="a.css"><script>x</script>')
    out = csp.rewrite(html)
    assert out.index('<meta charset="utf-8">') < out.index("Content-Security-Policy") < out.index("<title>")
    assert out.replace(META.search(out).group(), "", 1) == html  # nothing else changed
    assert out.encode().index(b"charset") < 1024


def test_without_an_encoding_declaration_the_policy_is_heads_first_child():
    out = csp.rewrite("<html><head><title>t</title><script>x</script></head></html>")
    assert out.startswith('<html><head><meta http-equiv="Content-Security-Policy"')


@pytest.mark.parametrize("html, before", [
    ("<!doctype html><title>t</title><script>x</script>", "<title>"),  # no <html>, no <head>
    ("<html><script>x</script><head></head>", "<script>"),  # a script before <head>: ahead of it
    ("<html>\n<body><p>x", "<body>"),
    ("<html>", None), ("<!doctype html>", None), ("", None), ("\ufeff", None),
])
def test_without_a_head_tag_the_policy_goes_before_the_first_element(html, before):
    out = csp.rewrite(html)
    assert len(META.findall(out)) == 1
    if before:
        assert out.index("Content-Security-Policy") < out.index(before)
    assert out.replace(META.search(out).group(), "", 1) == html


def test_a_policy_already_there_is_replaced_not_doubled():
    html = page(head="<script>x</script>")
    once = csp.rewrite(html)
    assert csp.rewrite(once) == once
    stale = html.replace("<title>", '<title>', 1).replace(
        "</head>", '<META HTTP-EQUIV="content-security-policy " CONTENT="script-src *"></head>')
    fixed = csp.rewrite(stale)
    assert fixed == once  # the stale policy is gone, the right one is where it belongs
    assert len(re.findall("content-security-policy", fixed, re.I)) == 1


def test_apply_is_idempotent_and_writes_only_what_changes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(page(head="<script>h1</script>", body="<script>shared</script>"))
    (tmp_path / "a" / "index.html").write_text(page(head="<script>h2</script>"))
    (tmp_path / "other.txt").write_text("<script>x</script>")
    first = csp.apply(tmp_path)
    assert (first.pages, first.rewritten, first.inline_scripts) == (2, 2, 3)
    built = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    second = csp.apply(tmp_path)
    assert (second.pages, second.rewritten) == (2, 0)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == built
    assert (tmp_path / "other.txt").read_text() == "<script>x</script>"


def test_a_script_in_any_pages_body_is_allowed_on_every_page(tmp_path):
    # Instant navigation swaps another page's content into this document and re-creates the
    # scripts in it; a head script is per page only.
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(page(head="<script>head-1</script>", body="<script>body-1</script>"))
    (tmp_path / "a" / "index.html").write_text(page(head="<script>head-2</script>"))
    csp.apply(tmp_path)
    assert script_src((tmp_path / "index.html").read_text()) == [sha(b"head-1"), sha(b"body-1")]
    assert script_src((tmp_path / "a" / "index.html").read_text()) == [sha(b"head-2"), sha(b"body-1")]


# ------------------------------------------------------------------ malformed pages --

@pytest.mark.parametrize("html", [
    "<script>never closed", "<script>x</script><div class='a", "<!-- never closed <script>x</script>",
    "<div <script>x</script>", "<a href=x>y</a", "<<<>>>", "<script><!--<script>", "</script>", "<!",
    "<head><meta charset=utf-8><meta http-equiv=Content-Security-Policy content=x>",
    "<html><head><script>x</script></head><body><script>y</script>" * 50,
])
def test_malformed_pages_are_handled(html):
    out = csp.rewrite(html)
    assert len(META.findall(out)) == 1
    assert csp.rewrite(out) == out


def test_an_unclosed_script_runs_never_and_gets_no_hash():
    assert script_src(csp.rewrite("<script>a</script><script>never closed")) == [sha(b"a")]


def test_bytes_that_are_not_utf8_survive_untouched(tmp_path):
    raw = b"<html><head><title>\xff\xfe</title></head><body><script>ok</script>\xc3</body></html>"
    (tmp_path / "index.html").write_bytes(raw)
    csp.apply(tmp_path)
    out = (tmp_path / "index.html").read_bytes()
    assert re.sub(rb"<meta http-equiv[^>]*>", b"", out) == raw
    assert sha(b"ok") in script_src(out.decode("utf-8", "replace"))


def test_a_long_unfinished_tag_is_read_in_linear_time():
    import time

    html = "<html><head><script>x</script><div " + 'a="1"b ' * 50_000  # the file ends inside the tag
    start = time.perf_counter()
    csp.rewrite(html)
    assert time.perf_counter() - start < 2


# ------------------------------------------------------------------------ the policy --

def test_the_policy_allows_no_inline_script_and_no_eval():
    policy = csp.policy([sha(b"x")])
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self' " + sha(b"x")
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'" and directives["form-action"] == "'self'"
    for forbidden in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:"):
        assert forbidden not in directives["script-src"].split()
    # what a <meta> policy cannot carry is not pretended
    for ignored in ("frame-ancestors", "report-uri", "report-to", "sandbox"):
        assert ignored not in directives


@pytest.mark.parametrize("href, origin", [
    ("https://github.com/gpt2-marginalia/gpt2-marginalia", "https://api.github.com"),
    ("https://github.com/gpt2-marginalia", "https://api.github.com"),
    ("https://gitlab.com/group/project", "https://gitlab.com"),
    ("https://gitlab.example.org/a/b/", "https://gitlab.example.org"),
    ("https://codeberg.org/a/b", None), ("https://example.org/github.com", None), ("#", None),
])
def test_the_theme_source_widget_may_fetch_from_its_hosts_api(href, origin):
    # Material and Zensical fetch a repository's stars and forks from its host's API when the
    # page links it in the header (repo_url); the policy allows that origin and no other
    widget = f'<header><a href="{href}" title="Go to repository" class="md-source" data-md-component="source">r</a></header>'
    out = csp.rewrite(page(body=widget))
    connect = dict(p.strip().split(" ", 1) for p in META.findall(out)[0].split(";"))["connect-src"]
    assert connect == "'self'" + (f" {origin}" if origin else "")
    assert csp.rewrite(page(body=f'<a href="{href}">the repository</a>')).count("api.github.com") == 0


# ------------------------------------------------------- preloads, for the preload scanner --

def test_each_script_file_is_preloaded_right_after_the_policy():
    # Chromium's preload scanner stops at a CSP <meta>: the head asks for the files instead
    html = page(body='<script src="../assets/bundle.js"></script><script src="m.js" type="module" crossorigin></script>'
                     '<script src="x.js" integrity="sha384-abc" crossorigin="anonymous"></script>'
                     '<script src="../assets/bundle.js"></script><script src="old.js" nomodule></script>'
                     '<script src="t.html" type="text/template"></script><script>inline()</script>')
    out = csp.rewrite(html)
    after_policy = out[META.search(out).end():out.index("<title>")]
    assert after_policy == ('<link rel="preload" as="script" href="../assets/bundle.js">'
                            '<link rel="modulepreload" href="m.js" crossorigin>'
                            '<link rel="preload" as="script" href="x.js" crossorigin="anonymous" integrity="sha384-abc">'
                            '\n')
    assert csp.rewrite(out) == out  # replaced, not doubled
    # a preload written by hand for a file of the page is taken up, not kept twice
    by_hand = html.replace("<title>", '<link rel="preload" as="script" href="x.js"><title>')
    assert csp.rewrite(by_hand).count('"x.js"') == 2  # one link and the script


def test_a_page_without_script_files_gets_no_preload():
    out = csp.rewrite(page(head="<script>x</script>", body='<link rel="preload" as="style" href="a.css">'))
    assert out.count("<link") == 1
