"""The page stage's two-process runner: same results as one process, whatever happens to the child."""

import os

import pytest

from marginalia.forked import run_jobs, split_by_weight

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform: the jobs run serially")


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_results_come_back_in_job_order_and_half_of_them_from_the_child():
    parent = os.getpid()
    jobs = [lambda i=i: (i, os.getpid()) for i in range(10)]
    results = run_jobs(jobs, [1] * 10)
    assert [i for i, _ in results] == list(range(10))
    pids = {pid for _, pid in results}
    assert parent in pids and len(pids) == 2, "some jobs ran in a forked child"
    assert _no_children_left()


def test_one_process_runs_everything_here():
    parent = os.getpid()
    results = run_jobs([lambda i=i: (i, os.getpid()) for i in range(6)], [1] * 6, processes=1)
    assert results == [(i, parent) for i in range(6)]


def test_a_failing_child_is_replaced_by_running_its_jobs_here():
    parent = os.getpid()

    def fragile(i: int):
        if os.getpid() != parent:
            raise RuntimeError("only in the child")
        return i * i

    results = run_jobs([lambda i=i: fragile(i) for i in range(8)], [1] * 8)
    assert results == [i * i for i in range(8)]
    assert _no_children_left()


def test_an_error_here_is_raised_and_the_child_is_waited_for():
    parent = os.getpid()

    def job(i: int):
        if os.getpid() == parent and i in (0, 1, 2, 3):
            raise ValueError(f"job {i}")
        return i

    with pytest.raises(ValueError):
        run_jobs([lambda i=i: job(i) for i in range(8)], [1] * 8)
    assert _no_children_left()


def test_unpicklable_results_fall_back_to_this_process():
    results = run_jobs([lambda i=i: (lambda: i) for i in range(4)], [1] * 4)
    assert [f() for f in results] == [0, 1, 2, 3]


def test_weights_are_balanced_heaviest_first():
    here, there = split_by_weight([100, 1, 1, 60, 40, 1])
    assert sorted(here + there) == list(range(6))
    load = lambda side: sum([100, 1, 1, 60, 40, 1][i] for i in side)
    assert abs(load(here) - load(there)) <= 3
