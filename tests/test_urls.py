"""Site URLs: ``urls.relative`` keeps its own relative-path walk (posixpath.relpath looked up
the working directory ten thousand times a build); it must agree with posixpath everywhere."""

import itertools
import posixpath

from marginalia import urls

PAGES = ["", "code/", "code/gpt-2/src/model.py/", "code/gpt-2/src/encoder.py/", "notes/gpt2-attn/", "map/",
         "lineage/aidungeon-sample/", "a/b/c/index.html", "glossary/"]
TARGETS = ["", "#L3", "code/gpt-2/src/model.py/#L3-L9", "code/gpt-2/src/model.py/", "code/gpt-2/", "glossary/#logits",
           "map/", "notes/gpt2-attn/", "notes/gpt2-attn/gpt2-attn.bib", "lineage/", "code/aidungeon/play.py/#L1"]


def reference(from_page: str, target: str) -> str:
    """The definition the site was built with before, on posixpath.relpath."""
    path, _, fragment = target.partition("#")
    if not path:
        return f"#{fragment}" if fragment else "./"
    base = from_page if from_page.endswith("/") else posixpath.dirname(from_page) + "/"
    rel = posixpath.relpath(path, base.rstrip("/") or ".")
    if path.endswith("/") and not rel.endswith("/"):
        rel += "/"
    return rel + (f"#{fragment}" if fragment else "")


def test_relative_agrees_with_posixpath_for_every_pair():
    for page, target in itertools.product(PAGES, TARGETS):
        assert urls.relative(page, target) == reference(page, target), (page, target)


def test_relative_links_resolve_back_to_their_target():
    for page, target in itertools.product(PAGES, TARGETS):
        path = target.partition("#")[0]
        if not path:
            continue
        base = page if page.endswith("/") else posixpath.dirname(page) + "/"
        joined = posixpath.normpath(posixpath.join(base, urls.relative(page, target).partition("#")[0]))
        assert joined.strip("/") == posixpath.normpath(path).strip("/").removeprefix("."), (page, target)
