"""The benchmark harness shuffles contenders afresh each round, waits for idle threads before each one, and that wait really waits for a spinning thread."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:          # bench/ is a top-level folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench.threads import ThreadsIdle, other_threads, thread_env     # noqa: E402
from bench.timing import interleaved                                 # noqa: E402


def recorded_run(rounds: int, names=("a", "b", "c")) -> list[str]:
    """The sequence of calls interleaved makes, with "idle" for each call of its idle-wait."""
    log: list[str] = []
    contenders = {name: (lambda n, name=name: log.append(name)) for name in names}
    samples = interleaved(contenders, rounds=rounds, inner=1, warmup=1, idle=lambda: log.append("idle"))
    assert all(len(s.seconds) == rounds for s in samples.values())
    return log


def test_each_round_runs_every_contender_once_in_more_than_one_order():
    log = [e for e in recorded_run(20) if e != "idle"]
    rounds = [tuple(log[k:k + 3]) for k in range(0, len(log), 3)]
    assert len(rounds) == 21 and all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len(set(rounds)) >= 3, f"only {set(rounds)} over 21 rounds"
    # A rotation keeps each contender's neighbour fixed; a shuffle does not.
    followers = {(r[i], r[i + 1]) for r in rounds for i in range(2)}
    assert len(followers) == 6, f"pairs seen one after the other: {sorted(followers)}"


def test_the_order_is_reproducible_from_the_seed():
    assert recorded_run(10) == recorded_run(10)


def test_the_idle_wait_runs_before_every_contender_outside_its_timing():
    log = recorded_run(5)
    assert len(log) == 2 * 6 * 3
    assert log[0::2] == ["idle"] * (6 * 3), "the idle-wait must come right before each contender"
    slow = {"sleepy": lambda n: None}
    samples = interleaved(slow, rounds=3, inner=1, idle=lambda: time.sleep(0.05))
    assert max(samples["sleepy"].seconds) < 0.04, "the idle-wait was timed as the contender's work"


linux_only = pytest.mark.skipif(other_threads() is None, reason="needs /proc/self/task to watch threads")


def spinner(seconds: float) -> tuple[threading.Thread, float]:
    """A started thread that keeps a core busy until the returned time, as a BLAS worker after a burst."""
    stop = time.perf_counter() + seconds

    def spin() -> None:
        while time.perf_counter() < stop:
            pass
    thread = threading.Thread(target=spin)
    thread.start()
    return thread, stop


@linux_only
def test_the_idle_wait_lasts_until_a_spinning_thread_stops():
    idle = ThreadsIdle(quiet=0.02, timeout=2.0)
    thread, stop = spinner(0.15)
    try:
        idle()
        early = stop - time.perf_counter()
    finally:
        thread.join()
    assert early <= 0, f"returned {early * 1e3:.0f} ms before the spinning thread stopped"
    assert idle.timeouts == 0
    # Nothing ran since: the next call returns at once.
    t0 = time.perf_counter()
    idle()
    assert time.perf_counter() - t0 < 0.01
    assert "waited" in idle.summary()


@linux_only
def test_the_idle_wait_gives_up_on_a_thread_that_never_sleeps():
    idle = ThreadsIdle(timeout=0.05)
    thread, _ = spinner(0.3)
    try:
        t0 = time.perf_counter()
        idle()
        waited = time.perf_counter() - t0
    finally:
        thread.join()
    assert waited < 0.2 and idle.timeouts == 1
    assert "timed out" in idle.summary()


def test_thread_env_sets_or_removes_every_thread_variable(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    assert thread_env(1)["OPENBLAS_NUM_THREADS"] == "1" and thread_env(1)["OMP_NUM_THREADS"] == "1"
    default = thread_env(None)
    assert "OPENBLAS_NUM_THREADS" not in default and "OMP_NUM_THREADS" not in default
