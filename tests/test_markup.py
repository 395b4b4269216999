"""Note bodies: Markdown rendering and the allow-list sanitiser, against XSS payloads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marginalia.markup import BodyRenderer, sanitize

ROOT = Path(__file__).parent.parent

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    '<form action="https://evil.example"><input name=x><button>go</button></form>',
    "<style>body{display:none}</style>",
    '<p style="position:fixed;top:0;left:0;width:100%;height:100%">cover</p>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<a href="vbscript:msgbox(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](<javascript:alert(1)>)",
    "![x](javascript:alert(1))",
    '<div onmouseover="alert(1)">hover</div>',
    '<details open ontoggle="alert(1)"><summary>x</summary></details>',
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    '<input autofocus onfocus="alert(1)">',
    '<video><source onerror="alert(1)"></video>',
    '<body onload="alert(1)">',
    "Text {: onclick=\"alert(1)\" style=\"color:red\" }",
    '<span class="md-header md-dialog">spoof</span>',
    '<a href="https://example.org" target="_blank" onclick="alert(1)">ok</a>',
]

FORBIDDEN = [
    re.compile(r"<\s*(script|iframe|form|input|button|style|object|embed|meta|base|link|svg|math|img|video|source|body|noscript)\b", re.I),
    re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    re.compile(r"<[^>]*(javascript|vbscript|data):", re.I),
    re.compile(r"<[^>]*\sstyle\s*=", re.I),
    re.compile(r"<[^>]*\starget\s*=", re.I),
    re.compile(r"<[^>]*md-header|<[^>]*md-dialog"),
]


@pytest.fixture(scope="module")
def renderer() -> BodyRenderer:
    return BodyRenderer.for_site(ROOT / "mkdocs.yml")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_neutralised(renderer, payload):
    html = renderer.render(f"Before.\n\n{payload}\n\nAfter.", lambda href: href)
    for pattern in FORBIDDEN:
        assert not pattern.search(html), f"{pattern.pattern} survived in {html!r}"
    assert "Before." in html  # what precedes a payload is never lost


def test_safe_markdown_survives(renderer):
    html = renderer.render(
        "Some *emphasis*, `code`, a [link](https://example.org/x) and a list:\n\n- one\n- two\n\n"
        "```python\ndef f(x):\n    return x < 1\n```\n", lambda href: href)
    assert "<em>emphasis</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org/x" rel="noopener noreferrer">link</a>' in html
    assert "<li>one</li>" in html
    assert '<span class="k">def</span>' in html  # Pygments classes are allowed
    assert "&lt;" in html


def test_project_links_are_resolved_and_unknown_ones_dropped(renderer):
    def resolve(href: str):
        return {"note:abc": "../x/#note-abc"}.get(href)

    html = renderer.render("[a](note:abc) and [b](note:missing)", resolve)
    assert '<a href="../x/#note-abc"' in html
    assert "note:missing" not in html and ">b<" in html


def test_sanitize_is_idempotent_on_its_output():
    html = sanitize('<p class="admonition-title">T</p><div class="admonition note"><p>x</p></div>')
    assert sanitize(html) == html
    assert 'class="admonition note"' in html
