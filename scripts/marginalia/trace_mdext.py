"""Figures of the measured runs for the findings page: ``/// what-ran | classes`` and
``/// what-ran | growth`` (a Markdown directive, computed from ``traces/`` at build time).

* **classes**: for each run, the statements entered in model, boundary and application
  files, as one stacked bar (the article's map, measured);
* **growth**: what grows when the text is six times longer — in TensorFlow 1 the graph's
  operations but not the Python, in PyTorch the Python itself.

Plain inline SVG, coloured by the site's class variables (dark mode follows), with a title
and a description for screen readers; the page's tables give the same numbers.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as etree

from .mdext import _DataBlock, _attach, _error
from .site import measured_runs

BAR_H, GAP, LABEL_W, WIDTH = 22, 10, 230, 720


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def classes_figure(runs) -> str:
    rows = [run for run in runs.values() if run.tokens]
    biggest = max(sum(run.entries_by_class().values()) for run in rows)
    scale = (WIDTH - LABEL_W - 80) / biggest
    height = len(rows) * (BAR_H + GAP) + 40
    parts = [f'<svg class="mg-ranfig" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
             'aria-labelledby="mg-ranfig-classes-t mg-ranfig-classes-d">',
             '<title id="mg-ranfig-classes-t">Statements entered, by class of code, in each run</title>',
             '<desc id="mg-ranfig-classes-d">' + _e("; ".join(
                 f"{run.id}: " + ", ".join(f"{name} {count:,}" for name, count in run.entries_by_class().items())
                 for run in rows)) + '</desc>']
    for index, run in enumerate(rows):
        y = 10 + index * (BAR_H + GAP)
        parts.append(f'<text x="0" y="{y + 15}" class="mg-ranfig__label">{_e(run.id)}</text>')
        x = LABEL_W
        for name, count in run.entries_by_class().items():
            width = count * scale
            if width:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_H}" class="mg-ranfig__{name}"/>')
            x += width
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" class="mg-ranfig__value">{sum(run.entries_by_class().values()):,}</text>')
    legend_y = height - 12
    for offset, name in enumerate(("model", "boundary", "application")):
        lx = LABEL_W + offset * 140
        parts.append(f'<rect x="{lx}" y="{legend_y - 10}" width="12" height="12" class="mg-ranfig__{name}"/>'
                     f'<text x="{lx + 18}" y="{legend_y}" class="mg-ranfig__label">{name} code</text>')
    parts.append("</svg>")
    return "".join(parts)


def growth_figure(runs) -> str:
    """Each measure at 2 × 10 and 2 × 60 tokens, scaled to its own longer run."""
    def series(short_id, long_id, label, value):
        short, long_ = runs.get(short_id), runs.get(long_id)
        if short is None or long_ is None:
            return None
        return label, value(short), value(long_)

    def file_entries(run, codebase, path):
        counts = run.file(codebase, path)
        return counts.entries if counts else 0

    measures = [m for m in (
        series("gpt2-unconditional-10", "gpt2-unconditional-60", "TensorFlow 1: statements Python entered in model.py",
               lambda r: file_entries(r, "gpt-2", "src/model.py")),
        series("gpt2-unconditional-10", "gpt2-unconditional-60", "TensorFlow 1: graph operations executed",
               lambda r: r.op_executions),
        series("transformers-generate-10", "transformers-generate-60",
               "PyTorch: statements Python entered in modeling_gpt2.py",
               lambda r: file_entries(r, "transformers", "v5.24.0/models/gpt2/modeling_gpt2.py")),
    ) if m is not None]
    height = len(measures) * (2 * BAR_H + 3 * GAP + 16) + 10
    parts = [f'<svg class="mg-ranfig" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
             'aria-labelledby="mg-ranfig-growth-t mg-ranfig-growth-d">',
             '<title id="mg-ranfig-growth-t">What grows when the text is six times longer</title>',
             '<desc id="mg-ranfig-growth-d">' + _e("; ".join(f"{label}: {a:,} for 2 × 10 tokens, {b:,} for 2 × 60"
                                                               for label, a, b in measures)) + '</desc>']
    y = 6
    usable = WIDTH - 200
    for label, short, long_ in measures:
        parts.append(f'<text x="0" y="{y + 12}" class="mg-ranfig__label">{_e(label)}</text>')
        y += 18
        top = max(short, long_) or 1
        for tokens, value in (("2 × 10 tokens", short), ("2 × 60 tokens", long_)):
            width = usable * value / top
            parts.append(f'<text x="0" y="{y + 15}" class="mg-ranfig__value">{tokens}</text>'
                         f'<rect x="110" y="{y}" width="{max(width, 1):.1f}" height="{BAR_H}" class="mg-ranfig__bar"/>'
                         f'<text x="{116 + width:.1f}" y="{y + 15}" class="mg-ranfig__value">{value:,}</text>')
            y += BAR_H + GAP
        y += GAP
    parts.append("</svg>")
    return "".join(parts)


class WhatRanBlock(_DataBlock):
    """``/// what-ran | classes`` or ``/// what-ran | growth``."""

    NAME = "what-ran"
    ARGUMENT = True
    WRAPPER = ("figure", "mg-ranfig-figure")

    def on_end(self, block: etree.Element) -> None:
        data = self.data()
        runs = measured_runs(data.project, data.inputs)
        kind = self.argument.strip()
        if not runs:
            _attach(block, '<p class="mg-muted">No measured runs in this build (traces/ is empty).</p>')
            return
        figures = {"classes": classes_figure, "growth": growth_figure}
        if kind not in figures:
            return _error(block, f"what-ran: unknown figure {kind!r} (classes, growth)")
        scroll = etree.SubElement(block, "div", {"class": "mg-ranfig-scroll"})
        _attach(scroll, figures[kind](runs))
