"""Run a batch of independent jobs on two cores: part of them in a forked child process.

The page stage is plain Python string work on data already in memory (sources, notes, the
relation layers' data), so threads would not help and a process pool would have to pickle
all of it. A fork shares it for free: the child renders its share of the jobs and sends
back only the results (pickled, through a temporary file). Results come back in job order,
as if run one after the other.

Nothing here is needed for correctness: where fork does not exist (Windows), where the
caller asks for one process (a preview server, which runs threads), or when the child fails
in any way, the jobs simply run here, so any error is raised in this process with its
usual traceback.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def split_by_weight(weights: Sequence[int]) -> tuple[list[int], list[int]]:
    """Job indexes for here and for the child: heaviest first, each to the lighter side."""
    here: list[int] = []
    there: list[int] = []
    load = [0, 0]
    for index in sorted(range(len(weights)), key=lambda i: -weights[i]):
        side = 0 if load[0] <= load[1] else 1
        (here, there)[side].append(index)
        load[side] += weights[index]
    return sorted(here), sorted(there)


def run_jobs(jobs: Sequence[Callable[[], T]], weights: Sequence[int], *, processes: int = 2) -> list[T]:
    """Every job's result, in job order; about half the weight runs in a forked child."""
    if processes < 2 or len(jobs) < 2 or not hasattr(os, "fork"):
        return [job() for job in jobs]
    here, there = split_by_weight(weights)
    results: dict[int, T] = {}
    with tempfile.TemporaryFile() as channel:
        pid = os.fork()
        if pid == 0:  # the child: its share, then leave without running the parent's exit handlers
            status = 1
            try:
                pickle.dump({index: jobs[index]() for index in there}, channel, protocol=pickle.HIGHEST_PROTOCOL)
                channel.flush()
                status = 0
            finally:
                os._exit(status)
        try:
            for index in here:
                results[index] = jobs[index]()
        finally:  # even when a job here raised: no child is left behind
            _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            channel.seek(0)
            results.update(pickle.load(channel))
    for index in there:  # the child failed: do its share here, where errors show
        if index not in results:
            results[index] = jobs[index]()
    return [results[index] for index in range(len(jobs))]
