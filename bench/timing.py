"""Side-by-side timing: contenders run in interleaved rounds, so drift on a shared machine hits all alike.

Two things would still favour one contender over another, and `interleaved` removes both:
- a fixed order (even a rotating one keeps the same neighbours), so each round is shuffled afresh;
- BLAS worker threads still spinning from the previous contender's burst (OpenBLAS keeps a core
  busy for about 100 ms after its last call), which hands the next contender awake workers and one
  core fewer for anything else. `ThreadsIdle` waits for them to fall asleep between contenders.
"""
from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable

from .threads import ThreadsIdle


@dataclass
class Samples:
    """Seconds per unit of work (e.g. per training iteration), one sample per round."""

    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def us(self) -> float:
        return self.median * 1e6


def interleaved(contenders: dict[str, Callable[[int], None]], *, rounds: int, inner: dict[str, int] | int,
                warmup: int = 1, idle: Callable[[], object] | None = None, seed: int = 0) -> dict[str, Samples]:
    """Time each contender `rounds` times, one after the other within a round, in a fresh random order each round.

    A contender is called as fn(n) and must do n units of work; a sample is its time divided by n.
    The first `warmup` rounds are discarded (caches, lazy imports, BLAS thread start-up). `idle` is
    called before every contender (a fresh `ThreadsIdle()` when None), outside the timed part.
    """
    names = list(contenders)
    per = inner if isinstance(inner, dict) else {n: inner for n in names}
    out = {n: Samples(n, []) for n in names}
    wait = ThreadsIdle() if idle is None else idle
    order = list(names)
    shuffle = random.Random(seed).shuffle
    clock = time.perf_counter
    for r in range(warmup + rounds):
        shuffle(order)
        for name in order:
            n = per[name]
            wait()
            t0 = clock()
            contenders[name](n)
            dt = clock() - t0
            if r >= warmup:
                out[name].seconds.append(dt / n)
    return out


def paired_ratio(a: Samples, b: Samples) -> float:
    """Median over rounds of a/b, each round's pair measured moments apart."""
    return statistics.median(x / y for x, y in zip(a.seconds, b.seconds))


def ratio_spread(a: Samples, b: Samples) -> tuple[float, float]:
    """The middle half (25th to 75th percentile) of the rounds' a/b: how far one run's median can be trusted."""
    ratios = [x / y for x, y in zip(a.seconds, b.seconds)]
    if len(ratios) < 2:
        return ratios[0], ratios[0]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return q1, q3


def each_call_us(fn: Callable[[], object], count: int) -> list[float]:
    """Microseconds of each of `count` calls, timed one by one."""
    clock = time.perf_counter_ns
    out = []
    for _ in range(count):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1e3)
    return out


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` calls (for one-off costs such as loading a scenario)."""
    clock = time.perf_counter
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def replaying(stepper) -> Callable[[int], None]:
    """A contender that trains n iterations through Stepper.run_iterations (`gradstep run`'s path),
    starting the replay over when it would run past the scenario's steps."""
    def train(n: int) -> None:
        if stepper.iteration + n > stepper.steps:
            stepper.seek(0)
        stepper.run_iterations(n)
    return train
