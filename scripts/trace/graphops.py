"""The graph side of a TensorFlow 1 run: which ops each ``Session.run`` executed, and which
line of a presented file created each of them.

``Session.run`` is wrapped (in this process only; no file changes) so that every call asks
TensorFlow for a full trace (``RunOptions(trace_level=FULL_TRACE)``). The returned
``RunMetadata`` lists one entry per op *execution*: an op inside ``tf.while_loop`` appears once
per iteration. Each executed op name is looked up in the graph, and ``op.traceback`` (the
Python stack when the op was created) gives the innermost frame inside a presented file: the
line that built it.

TensorFlow's graph optimiser (grappler) runs before execution and renames or replaces a few
ops (``ConstantFolding/…``, ``…/ArithmeticOptimizer/ReorderCastLike…_Reshape_3``); such a
name is traced back to the op it was made from. Executor bookkeeping (``_SOURCE``,
``_retval_…``, ``_arg_…``) and ops built outside presented code are counted as unattributed
(``TRACE_DEBUG=1`` prints their names to stderr).
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tensorflow.python.client import session as tf_session
from tensorflow.core.protobuf import config_pb2

DEBUG = os.environ.get("TRACE_DEBUG")
OPTIMISER_PART = re.compile(r"/(?:[A-Za-z]+Optimizer|ConstantFolding|LayoutOptimizer|Remapper)/")


@dataclass
class SessionRun:
    caller: tuple[str, int] | None   # (presented file, line) that called run, innermost
    ops: int                         # op executions in this run
    multinomial: int                 # executions of the sampling op (one per generated step)


@dataclass
class GraphTrace:
    files: dict[str, str]                                  # absolute file name -> key
    statement_of: Callable[[str, int], int]                # (key, line) -> its statement's first line
    runs: list[SessionRun] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)          # (key, line) -> executions, creating line
    ops_within: Counter = field(default_factory=Counter)   # (key, line) -> executions, any presented frame
    unattributed: int = 0
    _origins: dict = field(default_factory=dict)           # (graph id, node name) -> origin

    def install(self) -> None:
        original = tf_session.BaseSession.run
        probe = self

        def run(session, fetches, feed_dict=None, options=None, run_metadata=None):
            options = options or config_pb2.RunOptions()
            options.trace_level = config_pb2.RunOptions.FULL_TRACE
            metadata = run_metadata if run_metadata is not None else config_pb2.RunMetadata()
            result = original(session, fetches, feed_dict, options, metadata)
            probe.record(session.graph, metadata, sys._getframe(1))
            return result

        tf_session.BaseSession.run = run

    def _caller(self, frame) -> tuple[str, int] | None:
        while frame is not None:
            key = self.files.get(frame.f_code.co_filename)
            if key is not None:
                return key, frame.f_lineno
            frame = frame.f_back
        return None

    def _origin(self, graph, name: str):
        """For an executed node name: (the creating (key, line), every presented (key, line) on
        its creation stack, whether it is the sampling op), or None; looked up once per name."""
        cache_key = (id(graph), name)
        if cache_key not in self._origins:
            op = _find_op(graph, name)
            origin = None
            if op is not None:
                frames = [(key, self.statement_of(key, f.lineno)) for f in op.traceback
                          if (key := self.files.get(f.filename)) is not None]
                if frames:
                    origin = (frames[-1], tuple(dict.fromkeys(frames)), op.type == "Multinomial")
            self._origins[cache_key] = origin
        return self._origins[cache_key]

    def record(self, graph, metadata, frame) -> None:
        executed = [node.node_name for device in metadata.step_stats.dev_stats for node in device.node_stats]
        sampled = 0
        for name in executed:
            origin = self._origin(graph, name)
            if origin is None:
                self.unattributed += 1
                if DEBUG:
                    print("unattributed:", name, file=sys.stderr)
                continue
            creating, stack, sampling = origin
            self.ops[creating] += 1
            for place in stack:
                self.ops_within[place] += 1
            sampled += sampling
        self.runs.append(SessionRun(self._caller(frame), len(executed), sampled))


def _candidates(name: str):
    """The node's own name, then the names of ops it may have been made from."""
    yield name
    base = name.removeprefix("ConstantFolding/").split("-", 1)[0]
    yield base
    match = OPTIMISER_PART.search(base)
    if match:  # "scope/ArithmeticOptimizer/ConvertPow__inner_Pow" -> "scope/Pow"
        scope, rule = base[:match.start()], base[match.end():]
        parts = rule.split("_")
        tails = ("_".join(parts[i:]) for i in range(len(parts) - 1, 0, -1))
    else:      # "scope/truediv_recip" -> "scope/truediv"
        scope, _, last = base.rpartition("/")
        parts = last.split("_")
        tails = ("_".join(parts[:i]) for i in range(len(parts) - 1, 0, -1))
    yield from (f"{scope}/{tail}" if scope else tail for tail in tails)


def _find_op(graph, name: str):
    for candidate in _candidates(name):
        try:
            return graph.get_operation_by_name(candidate)
        except (KeyError, ValueError):
            continue
    return None
