"""MkDocs hook: regenerate docs/code/ before every build (so `mkdocs serve` reloads notes).

Thin glue over `marginalia.site.generate`; all logic lives in scripts/marginalia. Other
generators that read mkdocs.yml but not its hooks (Zensical) need `python -m marginalia
pages` run first, and nothing else.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mkdocs.exceptions import PluginError  # noqa: E402

from marginalia.problems import InputError  # noqa: E402
from marginalia.site import Options, Project, Session, generate, missing_lines  # noqa: E402

log = logging.getLogger("mkdocs.hooks.marginalia")
_serving = False
_session = Session()  # kept across the rebuilds of one `mkdocs serve`


def on_startup(command: str, dirty: bool) -> None:
    global _serving
    _serving = command == "serve"
    # A build allocates millions of short-lived objects while a few hundred thousand (the
    # pages, the notes, the cross-references) live to the end; with the default threshold
    # every full collection walks them all again (0.5 s a build, measured: docs/benchmark.md).
    gc.set_threshold(10_000, 10, 10)


def on_pre_build(config) -> None:
    project = Project(Path(config.config_file_path).resolve().parent)
    truthy = {"1", "true", "yes", "on"}
    options = Options(
        preview=_serving or os.environ.get("MARGINALIA_PREVIEW", "").lower() in truthy,
        allow_missing=os.environ.get("MARGINALIA_ALLOW_MISSING", "").lower() in truthy,
        cross_references=os.environ.get("MARGINALIA_XREF", "1").lower() in truthy,  # 0: the benchmark's "before"
        processes=1 if _serving else 2,
    )
    try:
        result = generate(project, options, _session)
    except InputError as exc:
        raise PluginError("marginalia: the notes or sources have problems:\n" + str(exc)) from None
    for line in missing_lines(result.inputs.manifest, result.inputs.sources):
        log.info("marginalia: %s (their pages say 'not extracted')", line)
    if result.inputs.notes.unverified:
        log.info("marginalia: %d notes unverified (their files are not extracted)", len(result.inputs.notes.unverified))
    for line in result.log:
        log.info("marginalia: %s", line)
    for problem in result.inputs.notes.problems:
        log.warning("marginalia: %s", problem)  # preview only: strict builds stop in generate()
    log.info("marginalia: %d pages (%d rewritten)", result.pages, len(result.written))
    if not _serving:
        gc.freeze()  # what the page stage made lives until the build ends: no collection need look at it
