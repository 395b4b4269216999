"""What ran, on the code pages: the counts of ``traces/`` (see :mod:`traces`), rendered.

A code page that some run touched carries a "What ran" switch (off by default) and, beside
the page, a small ``trace.json`` with, for every run, each line's count: how many times
control entered its statement and, for TensorFlow runs, how many graph operations the ops
it created executed. The script fetches the file when the switch is turned on, marks the
gutter (a quiet heat mark; lines that never ran are struck through) and says the numbers
in words for the line under the pointer or the focused name. Nothing of it is in the page
until then, so a page without the layer turned on weighs what it did.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from .layers import CodeView, Layer, PageAdditions
from .pages import Page
from .symbols import SymbolCache
from .traces import Run, runs_of_file, statement_lines

TRACE_FILE = "trace.json"


def trace_table(runs: Mapping[str, Run], codebase: str, path: str, source: str,
                symbol_cache: SymbolCache | None = None) -> dict | None:
    """The per-line counts of every run that touched this file, or None if none did."""
    touched = runs_of_file(runs, codebase, path)
    if not touched:
        return None
    owners = {line: first for line, first in (symbol_cache or SymbolCache()).remember(
        path, source, "statement_lines/1", lambda: sorted(statement_lines(source).items()))}
    table = {"runs": [], "lines": {}}
    for run, counts in touched:
        lines = {}
        for line, statement in owners.items():
            if statement not in counts.statements:
                continue
            entries = counts.statements[statement]
            ops = counts.ops.get(statement, 0)
            lines[str(line)] = [entries, ops] if ops else [entries]
        table["runs"].append([run.id, run.title, run.engine, run.tokens])
        table["lines"][run.id] = lines
    return table


def trace_json(table: dict) -> str:
    return json.dumps(table, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"


def switch_html(table: dict | None) -> str:
    """The switch, the run selector and the status line."""
    if table is None:
        return ""
    runs = len(table["runs"])
    options = "".join(f'<option value="{html.escape(run_id)}">{html.escape(title)}</option>'
                      for run_id, title, _, _ in table["runs"])
    return (f'<div class="mg-ran" data-trace="{TRACE_FILE}">'
            '<button type="button" class="mg-chip mg-ran__toggle" aria-pressed="false" aria-controls="mg-ran-panel">'
            f'What ran <span class="mg-chip__count">{runs} run{"s" if runs != 1 else ""}</span></button>'
            '<span class="mg-ran__panel" id="mg-ran-panel" hidden><label class="mg-ran__label">Run '
            f'<select class="mg-ran__run">{options}</select></label> '
            '<span class="mg-ran__status" role="status" aria-live="polite"></span></span></div>')


class TraceLayer(Layer):
    """What ran as a relation layer: the switch beside the chips, the counts beside the page."""

    def __init__(self, runs: Mapping[str, Run], symbol_cache: SymbolCache | None = None):
        self.runs = runs
        self.symbol_cache = symbol_cache or SymbolCache()

    def code_page(self, view: CodeView) -> PageAdditions | None:
        table = (trace_table(self.runs, view.codebase, view.path, view.text, self.symbol_cache)
                 if view.text is not None else None)
        if table is None:
            return None
        return PageAdditions(controls=switch_html(table),
                             companions=[Page(view.page_dir + TRACE_FILE, trace_json(table))])
