"""An SVG drawing of calls between functions, laid out left to right by call depth.

Plain SVG, drawn at build time: no script and no external library at run time. Colours are
CSS classes that the site's stylesheet maps to the class colours of the current scheme.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from html import escape

from .callgraph import Call, Function

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 250, 46, 70, 14, 10


def _layers(nodes: list[Function], calls: list[Call]) -> dict[Function, int]:
    """Longest-path layering; a call back to an earlier layer does not move its target."""
    incoming: dict[Function, set[Function]] = defaultdict(set)
    for call in calls:
        if call.caller != call.callee:
            incoming[call.callee].add(call.caller)
    layer: dict[Function, int] = {}

    def depth(node: Function, visiting: frozenset[Function]) -> int:
        if node in layer:
            return layer[node]
        preds = [p for p in incoming[node] if p not in visiting]
        value = 0 if not preds else 1 + max(depth(p, visiting | {node}) for p in preds)
        layer[node] = value
        return value

    for node in nodes:
        depth(node, frozenset())
    return layer


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_diagram(calls: list[Call], href: Callable[[Function, int | None], str], title: str, diagram_id: str) -> str:
    """SVG for ``calls``; ``href(function, line)`` gives the link for a node or a call site.
    ``diagram_id`` must be unique on the page: the arrow marker's id is made from it."""
    nodes = sorted({c.caller for c in calls} | {c.callee for c in calls},
                   key=lambda f: (f.codebase, f.path, f.start))
    layer = _layers(nodes, calls)
    columns: dict[int, list[Function]] = defaultdict(list)
    for node in nodes:
        columns[layer[node]].append(node)
    position: dict[Function, tuple[int, int]] = {}
    for col, members in sorted(columns.items()):
        for row, node in enumerate(members):
            position[node] = (PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(columns) + 1) * NODE_W + max(columns) * GAP_X if columns else 0
    height = PAD * 2 + max((len(m) for m in columns.values()), default=0) * (NODE_H + GAP_Y) - GAP_Y

    merged: dict[tuple[Function, Function], list[int]] = defaultdict(list)
    for call in calls:
        merged[(call.caller, call.callee)].append(call.line)
    # Inline SVG for an HTML page (no xmlns): the Markdown extension attaches it as elements,
    # so that the generators rewrite and check its links like any other link of the page.
    parts = [f'<svg class="mg-callmap" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-label="{escape(title)}">',
             f'<defs><marker id="{escape(diagram_id)}-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" class="mg-callmap__head"/></marker></defs>']
    for (caller, callee), lines in sorted(merged.items(), key=lambda kv: (position[kv[0][0]], position[kv[0][1]])):
        x1, y1 = position[caller]
        x2, y2 = position[callee]
        sx, sy = x1 + NODE_W, y1 + NODE_H / 2
        ex, ey = x2, y2 + NODE_H / 2
        if ex <= sx:  # same or earlier column: leave from the bottom, arrive at the top
            sx, sy, ex, ey = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2
        bend = max(30, abs(ex - sx) / 2)
        path = f"M{sx:.0f},{sy:.0f} C{sx + bend:.0f},{sy:.0f} {ex - bend:.0f},{ey:.0f} {ex:.0f},{ey:.0f}"
        where = ", ".join(str(n) for n in sorted(set(lines)))
        label = f"{caller.label} calls {callee.label} (line {where})"
        parts.append(f'<a href="{escape(href(caller, min(lines)))}" class="mg-callmap__edge">'
                     f'<title>{escape(label)}</title><path d="{path}" marker-end="url(#{escape(diagram_id)}-arrow)"/></a>')
    for node in nodes:
        x, y = position[node]
        file_label = _fit(f"{node.codebase}/{node.path}" if node.codebase else node.path, 40)
        parts.append(
            f'<a href="{escape(href(node, None))}" class="mg-callmap__node mg-callmap__node--{node.code_class.value}">'
            f'<title>{escape(node.codebase + "/" + node.path)}: {escape(node.qualname)}, lines {node.start}–{node.end} '
            f'({escape(node.code_class.label)})</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
            f'<text x="{x + 8}" y="{y + 17}" class="mg-callmap__file">{escape(file_label)}</text>'
            f'<text x="{x + 8}" y="{y + 35}" class="mg-callmap__name">{escape(_fit(node.qualname, 30))}</text></a>')
    parts.append("</svg>")
    return "".join(parts)
