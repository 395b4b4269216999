"""Counting statements as Python runs them, in the presented files only (``sys.settrace``).

Python 3.11 has no ``sys.monitoring``; ``sys.settrace`` calls a global function for every
function call in the process. For frames of a presented file it returns a local function that
sees that frame's line events; every other frame is left alone, so only the presented files
pay for line tracing. A statement is counted when control enters it from outside its own
lines (see ``statements.py``). Calls are counted per function, lambda or class body (by the
first line of its code), which is how ``tf.cond``'s two lambdas show up. Comprehensions and
generator expressions run in frames of their own but are part of their statement: their line
events are not entries.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

from statements import MODULE, StatementMap, statement_map


@dataclass
class FileTrace:
    map: StatementMap
    entries: Counter = field(default_factory=Counter)  # statement first line -> entries
    calls: Counter = field(default_factory=Counter)    # code first line -> calls


class StatementCounter:
    def __init__(self, sources: dict[str, str]):
        """``sources``: absolute file name (as Python reports it) -> source text."""
        self.files = {name: FileTrace(statement_map(text)) for name, text in sources.items()}

    def start(self) -> None:
        sys.settrace(self._on_call)

    def stop(self) -> None:
        sys.settrace(None)

    def _on_call(self, frame, event, arg):
        code = frame.f_code
        trace = self.files.get(code.co_filename)
        if trace is None:
            return None
        name = code.co_name
        module = name == "<module>"
        fresh = frame.f_lineno == code.co_firstlineno  # not a generator resuming at a yield
        if name in ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"):
            return None
        if fresh and not module:
            trace.calls[code.co_firstlineno] += 1
        if name == "<lambda>":
            return None  # an expression inside a statement: counted as a call only
        lines = trace.map.chains.get(MODULE if module else code.co_firstlineno, {})
        entries = trace.entries
        # Where control comes from: nowhere for a fresh call, the yield line for a generator
        # that resumes (so a loop around the yield is not entered again).
        previous = None if fresh or module else frame.f_lineno

        def on_line(frame, event, arg):
            nonlocal previous
            if event == "line":
                line = frame.f_lineno
                chain = lines.get(line)
                if chain:
                    counted = set()
                    for statement in reversed(chain):  # innermost first, out to the one we came from
                        if statement.holds(previous):
                            break
                        if statement.first not in counted:
                            counted.add(statement.first)
                            entries[statement.first] += 1
                previous = line
            return on_line

        return on_line
