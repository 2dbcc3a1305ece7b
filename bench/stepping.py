"""Benchmark 3: stepping one node through the Stepper (history on), at iteration 1 and at iteration 1000.

Two steppers on the same scenario, one at iteration 1 and one at iteration 1000, take their steps
alternately, so each pair runs the same node moments apart and any growth with the iteration
number shows as a ratio.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from gradstep.engine import Stepper, load_scenario

from gradstep.scenarios import bundled_dir

from .report import Figure, line, section

TARGET_US = 20.0
LATE = 1000
GROWTH_FLAG = 1.5        # a step at iteration 1000 costing more than this × iteration 1 is flagged


def paired_steps(early: Stepper, late: Stepper, count: int) -> tuple[list[float], list[float]]:
    """Microseconds of each step() on both steppers, alternating."""
    clock = time.perf_counter_ns
    a, b = [], []
    for _ in range(count):
        t0 = clock()
        early.step()
        t1 = clock()
        late.step()
        t2 = clock()
        a.append((t1 - t0) / 1e3)
        b.append((t2 - t1) / 1e3)
    return a, b


def back_steps(st: Stepper, count: int) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for _ in range(count):
        t0 = clock()
        st.back()
        out.append((clock() - t0) / 1e3)
    return out


def measure(path: Path, iterations: int) -> dict:
    scenario = load_scenario(path)
    early = Stepper(scenario, steps=LATE + iterations + 1)
    late = Stepper(scenario, steps=LATE + iterations + 1)
    late.run_iterations(LATE - 1)          # records the history of 999 iterations on the way
    assert late.iteration == LATE and late.cursor.index == 0
    count = iterations * early.per_iteration + early.per_iteration // 2   # end mid-iteration, to time back()
    paired_steps(early, late, early.per_iteration)       # warm-up: one whole iteration
    a, b = paired_steps(early, late, count)
    # Back over the steps just taken, within the current iteration (exact undo by restoring).
    within = late.tick % late.per_iteration
    backs = back_steps(late, within) if within else []
    return {"nodes": len(scenario.program.nodes), "per_iteration": early.per_iteration, "early": a, "late": b,
            "back": backs, "ratio": statistics.median(y / x for x, y in zip(a, b))}


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("3. Stepping one node: Stepper.step() with history on, median µs per step")
    cases = [("two-layer", bundled_dir() / "two_layer.toml", 20 if quick else 200),
             ("500-node graph", Path(__file__).parent / "scenarios" / "graph500.toml", 2 if quick else 12)]
    figures = []
    for label, path, iterations in cases:
        m = measure(path, iterations)
        e, l = np.array(m["early"]), np.array(m["late"])
        line(f"{label} ({m['nodes']} nodes, {m['per_iteration']} steps per iteration), {len(e):,} steps each:")
        for name, x in (("at iteration 1   ", e), (f"at iteration {LATE}", l)):
            line(f"  {name}  median {np.median(x):6.1f} µs   p90 {np.percentile(x, 90):6.1f}   "
                 f"p99 {np.percentile(x, 99):7.1f}   max {x.max():8.1f}")
        if m["back"]:
            line(f"  back()              median {np.median(m['back']):6.1f} µs over {len(m['back'])} steps")
        line(f"  iteration {LATE} ÷ iteration 1, paired median: {m['ratio']:.2f}×")
        worst = max(float(np.median(e)), float(np.median(l)))
        figures.append(Figure(f"Step one node, {label} (median)",
                              f"{np.median(e):.1f} µs at it. 1, {np.median(l):.1f} µs at it. {LATE}",
                              f"≤ {TARGET_US:g} µs", worst <= TARGET_US))
        figures.append(Figure(f"Step one node, {label}: it. {LATE} ÷ it. 1", f"{m['ratio']:.2f}×",
                              f"≈ 1× (flag > {GROWTH_FLAG}×)", m["ratio"] <= GROWTH_FLAG))
    return figures, True
