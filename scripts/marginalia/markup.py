"""Note bodies: Markdown with the site's own extensions, links resolved, then sanitised.

The order matters: render first, sanitise last, so that nothing a contributor writes (raw
HTML, attribute lists, odd link schemes) reaches the page unless the allow-list permits
it. The allow-list has no script, style, iframe, form, image or event-handler attribute,
and URLs may only be relative or http(s)/mailto.
"""

from __future__ import annotations

import hashlib
import json
import os

import xml.etree.ElementTree as etree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from pygments.token import STANDARD_TYPES
import yaml

# Extensions of the site that make no sense inside a note (they create page-level ids).
_SKIPPED_IN_NOTES = {"toc", "footnotes", "markdown.extensions.toc", "markdown.extensions.footnotes", "marginalia.mdext"}

PYGMENTS_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c)
ADMONITION_TYPES = frozenset({"admonition", "note", "abstract", "info", "tip", "success", "question",
                              "warning", "failure", "danger", "bug", "example", "quote"})
LANGUAGES = frozenset(f"language-{lang}" for lang in ("python", "py", "text", "bash", "sh", "console", "json",
                                                       "yaml", "toml", "markdown", "md", "diff", "pycon"))

ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "em", "strong", "b", "i", "code", "pre", "kbd", "samp", "sub", "sup", "del", "ins",
    "mark", "small", "blockquote", "q", "cite", "abbr", "ul", "ol", "li", "dl", "dt", "dd", "a", "span",
    "div", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "h3", "h4", "h5", "h6",
    "details", "summary",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "details": {"open"},
}
ALLOWED_CLASSES = {
    "span": PYGMENTS_CLASSES | {"filename"},
    "div": {"highlight"} | ADMONITION_TYPES | LANGUAGES,
    "details": ADMONITION_TYPES,
    "p": {"admonition-title"},
    "code": LANGUAGES,
}
URL_SCHEMES = {"http", "https", "mailto"}

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
    allowed_classes={k: set(v) for k, v in ALLOWED_CLASSES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def sanitize(html: str) -> str:
    """Keep only allow-listed tags, attributes, classes and URL schemes."""
    return _CLEANER.clean(html)


class _ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when built with it
    """Reads mkdocs.yml safely: ``!ENV`` is resolved as MkDocs resolves it (the first set
    variable, else the last item as the default); other tags (``!!python/name``) become None."""


def _env(loader, node: yaml.Node):
    items = [node.value] if isinstance(node, yaml.ScalarNode) else [loader.construct_object(n) for n in node.value]
    names, default = (items[:-1], items[-1]) if len(items) > 1 else (items, None)
    return next((os.environ[name] for name in names if name in os.environ), default)


_ConfigLoader.add_constructor("!ENV", _env)
_ConfigLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
_ConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def read_mkdocs_config(mkdocs_yml: Path) -> dict[str, Any]:
    """mkdocs.yml as plain data, read safely (MkDocs' own tags become None)."""
    return yaml.load(mkdocs_yml.read_text(encoding="utf-8"), Loader=_ConfigLoader) or {}


def _fingerprint(extensions: list[str], configs: dict[str, dict[str, Any]]) -> str:
    from importlib.metadata import version

    parts = [json.dumps([extensions, configs], sort_keys=True, default=repr),
             *(f"{name} {version(name)}" for name in ("markdown", "pymdown-extensions", "nh3", "pygments")),
             hashlib.sha256(Path(__file__).read_bytes()).hexdigest()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def site_markdown_extensions(mkdocs_yml: Path) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The ``markdown_extensions`` of mkdocs.yml, as Python-Markdown arguments."""
    config = read_mkdocs_config(mkdocs_yml)
    names: list[str] = []
    configs: dict[str, dict[str, Any]] = {}
    for item in config.get("markdown_extensions", []) or []:
        if isinstance(item, str):
            name, options = item, {}
        else:
            ((name, options),) = dict(item).items()
        if name in _SKIPPED_IN_NOTES:
            continue
        names.append(name)
        if options:
            configs[name] = {str(k): v for k, v in dict(options).items()}
    return names, configs


LinkResolver = Callable[[str], "str | None"]


class _LinkRewriter(Treeprocessor):
    def __init__(self, md: markdown.Markdown):
        super().__init__(md)
        self.resolve: LinkResolver = lambda href: href

    def run(self, root: etree.Element) -> None:
        for parent in root.iter():
            for child in list(parent):
                if child.tag != "a":
                    continue
                href = child.get("href", "")
                resolved = self.resolve(href)
                if resolved is None:
                    child.tag = "span"
                    child.attrib.clear()
                else:
                    child.set("href", resolved)


class _LinkExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        self.rewriter = _LinkRewriter(md)
        md.treeprocessors.register(self.rewriter, "marginalia-links", 1)


class BodyRenderer:
    """Renders note bodies; one instance is reused for every note of a build."""

    def __init__(self, extensions: list[str], configs: dict[str, dict[str, Any]]):
        self._links = _LinkExtension()
        self._md = markdown.Markdown(extensions=[*extensions, self._links], extension_configs=configs)
        self.fingerprint = _fingerprint(extensions, configs)
        """What the HTML depends on besides the text and the links: the extensions, their
        settings, the libraries' versions and this module's code (a key for cached output)."""

    @classmethod
    def for_site(cls, mkdocs_yml: Path) -> "BodyRenderer":
        return cls(*site_markdown_extensions(mkdocs_yml))

    def render(self, text: str, resolve: LinkResolver) -> str:
        self._md.reset()
        self._links.rewriter.resolve = resolve
        return sanitize(self._md.convert(text))
