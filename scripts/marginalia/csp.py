"""After every build: a Content-Security-Policy in every page of the built site.

Notes come from strangers' pull requests. Their HTML is already cut down by an allow-list
(:mod:`marginalia.markup`), and the policy is the second wall: should a script ever slip into
a page, the browser refuses to run it. GitHub Pages lets a site set no response headers, so
the policy travels in the page, as ``<meta http-equiv="Content-Security-Policy" content="…">``.
A policy in a ``<meta>`` governs only what the parser meets after it, so it goes at the very
start of ``<head>`` — after ``<meta charset>`` when that comes first, which executes nothing and
must stay within the first 1,024 bytes — and before any script, style sheet or link.

This is plain Python over the built HTML (no generator plugin), so it works the same after
MkDocs and after Zensical; ``marginalia build`` runs it right after the generator, before the
link check. It is idempotent: a CSP ``<meta>`` already in a page (ours, from an earlier run) is
taken out and the policy computed afresh, never doubled.

The policy, directive by directive (each one measured in Chromium on both builds):

- ``default-src 'self'``: anything not named below (frames, media, manifests) only from the
  site itself.
- ``script-src 'self' 'sha256-…' …``: script files only from the site (the theme's bundle,
  ``marginalia.js``), inline scripts only by the SHA-256 of their exact text; no
  ``'unsafe-inline'``, no ``'unsafe-eval'``. Neither theme's bundle needs eval (the browser tests
  record no violation; the one ``Function("return this")`` in Zensical's bundle, lodash's search
  for the global object, is never reached in a browser). The hashes are computed per page from
  the page itself, because the themes' inline scripts differ between pages (the relative base
  path, the full-width class). To them each page adds the hashes of every inline script in the
  *body* of any page of the site, for instant navigation: it swaps the next page's content into
  the same document and re-creates the scripts inside it, and it appends the next page's
  ``<head>`` children that differ — this ``<meta>`` among them, so the policies of every page of
  a visit are enforced together. Head scripts are never re-run; body scripts are allowed by
  every page.
- ``style-src 'self' 'unsafe-inline'``: style sheets from the site, and inline styles, which the
  pages need: ``style`` attributes (each code block's first line number and size estimate, table
  cell alignment) and, under Zensical, ``<style>`` elements its bundle adds. Without it both
  builds report violations on every code page. Styles cannot run script; what an injected style
  could still do is restyle a page (note bodies keep no ``style`` attribute: the allow-list of
  :mod:`marginalia.markup` drops it).
- ``img-src 'self' data:``: images from the site, and ``data:`` for the icons the themes' style
  sheets embed as ``data:`` SVG (without it, some twenty violations a page).
- ``font-src 'self'``: no web fonts are loaded (``font: false``: the site works offline); only
  the site's own, should any come.
- ``connect-src 'self'``: ``fetch`` only from the site: instant navigation (pages,
  ``sitemap.xml``), the search index, the code pages' ``xref.json`` previews and "What ran"
  data. One addition, computed from the page: when it links its repository through the theme's
  source widget (``<a data-md-component="source">``, made from ``repo_url``), both themes fetch
  the repository's stars, forks and latest release from its host's API, and the policy allows
  that origin alone — ``https://api.github.com`` for a GitHub link, the link's own host for a
  GitLab one, by the themes' own rule; for other hosts they fetch nothing.
- ``worker-src 'self'``: the search runs in a web worker loaded from a file of the site (a
  worker loaded from a URL has the policy of its own response, which is none).
- ``object-src 'none'``: no plugins (``<object>``, ``<embed>``), which could run code outside
  these rules.
- ``base-uri 'self'``: an injected ``<base>`` cannot send the page's relative script URLs to
  another host.
- ``form-action 'self'``: the themes' forms (search, palette) stay on the site; an injected form
  cannot post elsewhere.

What a ``<meta>`` policy cannot carry: ``frame-ancestors`` (so the site can be framed by
another, clickjacking), ``report-uri``/``report-to`` (violations are not reported anywhere) and
``sandbox``; browsers ignore them there. ``mkdocs serve`` (``make serve``) is not given the
policy: it is a preview whose live reload is an inline script.

What the ``<meta>`` costs, and how it is paid back. Chromium's preload scanner, which fetches
the files a page names while the parser is still busy, stops at a CSP ``<meta>``: measured on a
code page served locally, the theme's bundle and ``marginalia.js`` (named at the end of the body)
were requested at 466 and 706 ms instead of 142 ms, and under Zensical a link to a deep line then
mostly lost a race with the theme's scroll restoration and stayed at the top of the page. So
right after the policy each page also gets a ``<link rel="preload" as="script">`` (for a module,
``rel="modulepreload"``) for each of its script files, which the parser itself acts on as soon as
it reads the head: the files are requested as early as before (135 ms), and the deep link lands.
They are governed by the policy like the scripts themselves, and replaced, not doubled, on a
second run.

Which scripts count. A ``<script>`` element with a ``src`` attribute is a file, allowed by
``'self'``. One without is inline and governed by ``script-src`` if the browser would run it:
type absent or empty, a JavaScript MIME type (``text/javascript``), ``module``, or the inline
JSON that browsers also check against ``script-src`` (``importmap``, ``speculationrules``).
Data blocks (``application/json``, ``application/ld+json`` and any other type) are never run
and CSP does not govern them: they get no hash. The text hashed is exactly what the browser
hashes: the element's raw text as the HTML tokenizer ends it (a scanner here follows the
tokenizer's rules for comments, tags, raw-text elements and the escaped states of script data),
with the input stream's normalisation applied (CR LF and CR become LF, NUL becomes U+FFFD), as
UTF-8 (pages are UTF-8: both generators write them so). A script left open at the end of the
file is never run and gets no hash. Scripts inside inline SVG or MathML follow the same rules
here, which for the script elements of foreign content (entities, CDATA) is not what a browser
does; the site has none.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

POLICY_NAME = "Content-Security-Policy"

DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),  # the hashes follow
    ("style-src", "'self' 'unsafe-inline'"),
    ("img-src", "'self' data:"),
    ("font-src", "'self'"),
    ("connect-src", "'self'"),
    ("worker-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'self'"),
    ("form-action", "'self'"),
)
"""The policy without its hashes; the module docstring gives the reason for each."""

# The JavaScript MIME type essences (HTML, "JavaScript MIME type"): a type attribute must
# equal one of them, ignoring ASCII case; with parameters it no longer matches.
JAVASCRIPT_TYPES = frozenset({
    "application/ecmascript", "application/javascript", "application/x-ecmascript", "application/x-javascript",
    "text/ecmascript", "text/javascript", "text/javascript1.0", "text/javascript1.1", "text/javascript1.2",
    "text/javascript1.3", "text/javascript1.4", "text/javascript1.5", "text/jscript", "text/livescript",
    "text/x-ecmascript", "text/x-javascript",
})
# Inline script types that are not JavaScript but are checked against script-src all the same.
CHECKED_JSON_TYPES = frozenset({"importmap", "speculationrules"})

_ASCII_WS = re.compile(r"^[\t\n\f\r ]+|[\t\n\f\r ]+$")
# One whole tag, start or end, as the tokenizer reads it: name, then attributes (a name, then
# optionally = and a quoted or unquoted value), slashes and white space in between, up to the
# '>' that ends the tag. Each attribute is atomic and the loop possessive, so an unfinished tag
# (end of file) fails in linear time.
_ATTRIBUTE = (r"(?>[\t\n\f\r /]*([^\t\n\f\r />][^\t\n\f\r />=]*)"
              r"(?:[\t\n\f\r ]*=[\t\n\f\r ]*(\"[^\"]*\"|'[^']*'|[^\t\n\f\r >]*))?)")
_TAG = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*)((?:" + _ATTRIBUTE + r")*+)[\t\n\f\r /]*>")
_ATTRIBUTES = re.compile(_ATTRIBUTE)
_RAWTEXT = frozenset({"style", "xmp", "iframe", "noembed", "noframes", "noscript", "title", "textarea"})
# Script data (HTML tokenizer): where the element may end, and the "<!--" / "<script" states
# that keep a "</script>" from ending it.
_SCRIPT_DATA = re.compile(r"<!--|</script[\t\n\f\r />]", re.I | re.A)
_SCRIPT_ESCAPED = re.compile(r"-->|</script[\t\n\f\r />]|<script[\t\n\f\r />]", re.I | re.A)
_SCRIPT_DOUBLE_ESCAPED = re.compile(r"-->|</script[\t\n\f\r />]", re.I | re.A)


@dataclass(frozen=True)
class Script:
    """An inline script element as the browser reads it."""

    text: str
    """The raw text between its start and end tags (before the input stream's normalisation)."""
    governed: bool
    """Whether CSP's script-src decides if it runs (it is not a data block)."""
    in_head: bool
    """Before the body starts (``</head>`` or ``<body>``); such scripts are never re-run by
    instant navigation."""

    @property
    def hash(self) -> str:
        return script_hash(self.text)


@dataclass(frozen=True)
class Tag:
    """A start or end tag: its name (lower case), where it is in the page, its attributes."""

    name: str
    start: int
    end: int
    attrs: dict[str, str]
    closing: bool


@dataclass
class Scan:
    """What the policy needs from one page: its inline scripts, the CSP ``<meta>`` elements
    already in it, where the new one goes, and the origins the theme fetches from."""

    scripts: list[Script] = field(default_factory=list)
    policies: list[tuple[int, int]] = field(default_factory=list)
    insert_at: int = 0
    connect: set[str] = field(default_factory=set)
    files: list[tuple[str, str]] = field(default_factory=list)
    """The script files the page loads, ``(preload tag, src)``, in order (see :func:`preload`)."""
    preloads: list[tuple[int, int]] = field(default_factory=list)
    """Preload links for those files already in the page (from an earlier run): replaced."""


@dataclass
class Report:
    """What :func:`apply` did, for the build log."""

    pages: int = 0
    rewritten: int = 0
    inline_scripts: int = 0
    hashes: set[str] = field(default_factory=set)
    shared: set[str] = field(default_factory=set)


def script_hash(text: str) -> str:
    """The CSP hash source of an inline script's raw text: ``'sha256-…'``, after the input
    stream's normalisation, over UTF-8 (bytes that were not UTF-8 become U+FFFD as in a browser)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    data = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode("utf-8")
    return "'sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode("ascii") + "'"


_GITHUB = re.compile(r"^.+github\.com/([^/]+)/?([^/]+)?", re.I)
_GITLAB = re.compile(r"^.+?([^/]*gitlab[^/]+)/(.+?)/?$", re.I)


def source_api(href: str) -> str | None:
    """The origin the theme's source widget fetches a repository's facts from, by the rule of
    Material's and Zensical's bundles (a GitHub link: GitHub's API; a GitLab host: itself)."""
    if _GITHUB.match(href):
        return "https://api.github.com"
    match = _GITLAB.match(href)
    if match and re.fullmatch(r"[A-Za-z0-9.-]+(?::\d+)?", match.group(1)):
        return "https://" + match.group(1).lower()
    return None


def _strip(value: str) -> str:
    return _ASCII_WS.sub("", value)


def script_kind(attrs: dict[str, str]) -> str | None:
    """What the browser makes of a ``<script>`` with these attributes, by HTML's rules for the
    script block's type string: ``"classic"``, ``"module"``, ``"importmap"``,
    ``"speculationrules"``, or None for a data block, which is never run."""
    if "type" in attrs and attrs["type"] != "":
        kind = _strip(attrs["type"])
    elif "type" not in attrs and attrs.get("language"):
        kind = "text/" + attrs["language"]
    else:
        return "classic"  # no type (or an empty one): JavaScript
    kind = kind.lower()
    if kind in JAVASCRIPT_TYPES:
        return "classic"
    return kind if kind == "module" or kind in CHECKED_JSON_TYPES else None


def governed_by_csp(attrs: dict[str, str]) -> bool:
    """Whether an inline ``<script>`` with these attributes is one the browser would run (or
    check against script-src): not a file, not a data block."""
    return "src" not in attrs and script_kind(attrs) is not None


def _attributes(source: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTRIBUTES.finditer(source):
        name, value = match.group(1).lower(), match.group(2)
        if value is None:
            value = ""
        elif value[:1] in ("'", '"'):
            value = value[1:-1]
        attrs.setdefault(name, html.unescape(value))  # a repeated attribute: the first one counts
    return attrs


def _script_end(text: str, pos: int) -> int | None:
    """Where the script data starting at ``pos`` ends (the ``<`` of its end tag), or None when
    the file ends first."""
    state = _SCRIPT_DATA
    while True:
        match = state.search(text, pos)
        if match is None:
            return None
        token = match.group().lower()
        if state is _SCRIPT_DATA:
            if token.startswith("</"):
                return match.start()
            state, pos = _SCRIPT_ESCAPED, match.start() + 2  # after "<!": its dashes may end it at once ("<!-->")
        elif state is _SCRIPT_ESCAPED:
            if token.startswith("</"):
                return match.start()
            state, pos = (_SCRIPT_DATA if token == "-->" else _SCRIPT_DOUBLE_ESCAPED), match.end()
        else:  # double escaped: "</script>" only leads back to the escaped state
            state, pos = (_SCRIPT_DATA if token == "-->" else _SCRIPT_ESCAPED), match.end()


def _tags(text: str, pos: int = 0):
    """Yield ``(tag, script text)`` for the start and end tags of a page in order (the text only
    for a script element), skipping comments, doctypes and the contents of raw-text elements:
    HTML's tokenizer, less what only changes parse errors."""
    n = len(text)
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            return
        after = text[lt + 1:lt + 2]
        if text.startswith("<!--", lt):
            if text.startswith(">", lt + 4):  # "<!-->"
                pos = lt + 5
            elif text.startswith("->", lt + 4):  # "<!--->"
                pos = lt + 6
            else:
                ends = [(i, len(t)) for t in ("-->", "--!>") if (i := text.find(t, lt + 4)) >= 0]
                if not ends:
                    return  # the comment runs to the end of the file
                end, length = min(ends)
                pos = end + length
            continue
        closing = after == "/"
        first = text[lt + 2:lt + 3] if closing else after
        if after in ("!", "?") or (closing and first not in ("", ">") and not _alpha(first)):
            end = text.find(">", lt + 2)  # a doctype or a bogus comment
            if end < 0:
                return
            pos = end + 1
            continue
        if closing and first == ">":  # "</>" is dropped
            pos = lt + 3
            continue
        if not _alpha(first):
            pos = lt + 1  # a "<" in text
            continue
        match = _TAG.match(text, lt)
        if match is None:
            return  # a tag left open at the end of the file is dropped
        name = match.group(2).lower()
        tag = Tag(name, lt, match.end(), {} if closing else _attributes(match.group(3)), closing)
        pos = match.end()
        if closing:
            yield tag, None
        elif name == "script":
            end = _script_end(text, pos)
            yield tag, (text[pos:end] if end is not None else None)
            if end is None:
                return  # the file ends inside it: never run
            pos = end
        else:
            yield tag, None
            if name == "plaintext":
                return
            if name in _RAWTEXT:
                close = re.compile(r"</" + name + r"[\t\n\f\r />]", re.I | re.A).search(text, pos)
                if close is None:
                    return
                pos = close.start()
        if pos >= n:
            return


def _alpha(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_policy(tag: Tag) -> bool:
    return tag.name == "meta" and not tag.closing and \
        _strip(tag.attrs.get("http-equiv", "")).lower() == POLICY_NAME.lower()


def _declares_encoding(tag: Tag) -> bool:
    return tag.name == "meta" and not tag.closing and \
        ("charset" in tag.attrs or _strip(tag.attrs.get("http-equiv", "")).lower() == "content-type")


def scan(text: str) -> Scan:
    """Read one page: its inline scripts, its CSP ``<meta>`` elements, and where the policy goes:
    right after the ``<head>`` start tag, or after an encoding declaration that is the head's
    first element; without a ``<head>`` tag (the head is implied), before the first element that
    is not ``<html>``, or else after ``<html>`` or the doctype."""
    result = Scan()
    head = None  # the <head> start tag, if it comes before any other element
    first = None  # the first element other than <html> and <head>
    after_head = None  # the first element after <head>
    html_tag = None
    in_head = True
    preloads: list[tuple[int, int, str]] = []
    for tag, script in _tags(text):
        if _is_policy(tag):
            result.policies.append((tag.start, tag.end))
            continue
        if (tag.name == "head" and tag.closing) or (tag.name == "body" and not tag.closing):
            in_head = False
        if not tag.closing:
            if tag.name == "html":
                html_tag = html_tag or tag
            elif tag.name == "head":
                head = head or (tag if first is None else None)
            else:
                first = first or tag
                if head is not None and after_head is None:
                    after_head = tag
        if tag.name == "script" and not tag.closing and script is not None:
            result.scripts.append(Script(script, governed_by_csp(tag.attrs), in_head))
        if tag.name == "script" and not tag.closing and _strip(tag.attrs.get("src", "")):
            link = preload(tag.attrs)
            if link and link not in (f[0] for f in result.files):
                result.files.append((link, tag.attrs["src"]))
        if tag.name == "link" and not tag.closing and _is_script_preload(tag.attrs):
            preloads.append((tag.start, tag.end, tag.attrs.get("href", "")))
        if tag.name == "a" and tag.attrs.get("data-md-component") == "source" and "href" in tag.attrs:
            api = source_api(_strip(tag.attrs["href"]))
            if api:
                result.connect.add(api)
    sources = {src for _, src in result.files}
    result.preloads = [(start, end) for start, end, href in preloads if href in sources]
    if head is not None:
        result.insert_at = after_head.end if after_head is not None and _declares_encoding(after_head) else head.end
    elif first is not None:
        result.insert_at = first.start
    elif html_tag is not None:
        result.insert_at = html_tag.end
    else:
        doctype = re.match(r"\ufeff?[\t\n\f\r ]*<!doctype[^>]*>", text, re.I)
        result.insert_at = doctype.end() if doctype else (1 if text.startswith("\ufeff") else 0)
    return result


def _is_script_preload(attrs: dict[str, str]) -> bool:
    rel = _strip(attrs.get("rel", "")).lower().split()
    return "modulepreload" in rel or ("preload" in rel and _strip(attrs.get("as", "")).lower() == "script")


def preload(attrs: dict[str, str]) -> str | None:
    """The ``<link>`` that starts fetching a script file (``<script src>`` with these attributes)
    from the head: ``rel="preload" as="script"``, or ``rel="modulepreload"`` for a module, with
    its ``crossorigin`` and ``integrity`` so that the fetch is the one the script will use; None
    for a script that is never fetched (a data block, ``nomodule``)."""
    kind = script_kind(attrs)
    if kind not in ("classic", "module") or (kind == "classic" and "nomodule" in attrs):
        return None
    parts = ['rel="modulepreload"' if kind == "module" else 'rel="preload" as="script"',
             f'href="{html.escape(attrs["src"])}"']
    for name in ("crossorigin", "integrity"):
        if name in attrs:
            parts.append(f'{name}="{html.escape(attrs[name])}"' if attrs[name] else name)
    return "<link " + " ".join(parts) + ">"


def policy(hashes: list[str], connect: set[str] = frozenset()) -> str:
    """The policy's text, with ``hashes`` (``'sha256-…'``) added to script-src in that order,
    and the origins in ``connect`` to connect-src."""
    extra = {"script-src": list(hashes), "connect-src": sorted(connect)}
    return "; ".join(" ".join([name, value, *extra.get(name, [])]) for name, value in DIRECTIVES)


def meta(hashes: list[str], connect: set[str] = frozenset()) -> str:
    content = policy(hashes, connect).replace("&", "&amp;").replace('"', "&quot;")
    return f'<meta http-equiv="{POLICY_NAME}" content="{content}">'


def page_hashes(page: Scan, shared: set[str] = frozenset()) -> list[str]:
    """The page's own inline scripts in order, then the scripts other pages bring along."""
    own = list(dict.fromkeys(s.hash for s in page.scripts if s.governed))
    return own + sorted(set(shared) - set(own))


def rewrite(text: str, shared: set[str] = frozenset(), page: Scan | None = None) -> str:
    """``text`` with its CSP ``<meta>`` elements replaced by one carrying the computed policy,
    followed by a preload link for each script file of the page. ``shared``: the hashes every
    page allows (see :func:`apply`)."""
    page = page or scan(text)
    head = meta(page_hashes(page, shared), page.connect) + "".join(link for link, _ in page.files)
    edits = sorted([(start, end, "") for start, end in page.policies + page.preloads] +
                   [(page.insert_at, page.insert_at, head)])
    out, pos = [], 0
    for start, end, replacement in edits:
        out += [text[pos:start], replacement]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogateescape")


def apply(site: Path) -> Report:
    """Give every HTML page under ``site`` its policy (in place; pages whose text does not
    change are not written)."""
    report = Report()
    pages = sorted(site.rglob("*.html"))
    scans: dict[Path, Scan] = {}
    for path in pages:
        scans[path] = page = scan(_read(path))
        for script in page.scripts:
            if script.governed:
                report.inline_scripts += 1
                report.hashes.add(script.hash)
                if not script.in_head:
                    report.shared.add(script.hash)
    for path in pages:
        text = _read(path)
        new = rewrite(text, report.shared, scans[path])
        report.pages += 1
        if new != text:
            path.write_bytes(new.encode("utf-8", "surrogateescape"))
            report.rewritten += 1
    return report
