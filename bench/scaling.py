"""Benchmark 5: cost per node of deep chains of 10 to 10,000 nodes, stage by stage.

Each stage should cost the same per node at every size; a per-node cost that grows more than 3×
from 1,000 to 10,000 nodes points at a quadratic step (parsing, ordering, compiling, history).
Sizes are interleaved round by round and each figure is a median.
"""
from __future__ import annotations

import statistics
import time
import tomllib

from gradstep.engine import Stepper, load_scenario_text

from .chain import chain_toml
from .report import Figure, line, section

GROWTH_FLAG = 3.0
STAGES = ("parse TOML", "load", "build stepper", "fast iteration", "stepped iteration", "seek mid-iteration")


def measure_once(text: str, nodes: int) -> dict[str, float]:
    """Seconds per unit of each stage for one scenario text."""
    clock = time.perf_counter
    out = {}
    reps = max(1, 300 // nodes)
    t0 = clock()
    for _ in range(reps):
        tomllib.loads(text)
    out["parse TOML"] = (clock() - t0) / reps
    t0 = clock()
    for _ in range(reps):
        scenario = load_scenario_text(text)          # TOML, expressions, shapes, program and its orders
    out["load"] = (clock() - t0) / reps
    fast_its = max(2, 20_000 // nodes)
    stepped_its = max(1, 1_000 // nodes)
    steps = 2 + fast_its + stepped_its
    t0 = clock()
    for _ in range(reps):
        st = Stepper(scenario, steps=steps)
    out["build stepper"] = (clock() - t0) / reps
    st.run_iterations(1)                               # warm-up
    t0 = clock()
    st.run_iterations(fast_its)
    out["fast iteration"] = (clock() - t0) / fast_its
    S = st.per_iteration
    t0 = clock()
    for _ in range(stepped_its * S):
        st.step()
    out["stepped iteration"] = (clock() - t0) / stepped_its
    # Into the middle of an iteration already passed: restore its start, step forward half of it.
    target = (st.iteration - 2) * S + S // 2
    seeks = max(1, 100 // nodes)
    t0 = clock()
    for _ in range(seeks):
        st.seek(target)
    out["seek mid-iteration"] = (clock() - t0) / seeks
    return out


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("5. Scaling: deep chains (alternating sin, tanh on a vector of 8), cost per node")
    sizes = (10, 100, 1_000, 10_000)
    rounds = 1 if quick else 5
    texts = {n: chain_toml(n) for n in sizes}
    samples = {n: {s: [] for s in STAGES} for n in sizes}
    for _ in range(rounds):
        for n in sizes:
            for stage, v in measure_once(texts[n], n).items():
                samples[n][stage].append(v)
    med = {n: {s: statistics.median(samples[n][s]) for s in STAGES} for n in sizes}
    line(f"median of {rounds} interleaved round{'s' if rounds > 1 else ''}; total time (µs per node)")
    line(f"{'stage':<20}" + "".join(f"{n:>22,}" for n in sizes) + f"{'1k→10k per node':>18}")
    flagged = []
    growths = {}
    for stage in STAGES:
        cells = [f"{fmt_time(med[n][stage])} ({med[n][stage] / n * 1e6:.2f})" for n in sizes]
        growth = growths[stage] = (med[10_000][stage] / 10_000) / (med[1_000][stage] / 1_000)
        mark = "  ← grows" if growth > GROWTH_FLAG else ""
        if growth > GROWTH_FLAG:
            flagged.append(stage)
        line(f"{stage:<20}" + "".join(f"{c:>22}" for c in cells) + f"{growth:>17.2f}×{mark}")
    if flagged:
        line(f"FLAGGED (per-node cost grows > {GROWTH_FLAG:g}× from 1,000 to 10,000 nodes): {', '.join(flagged)}")
    fast = " → ".join(f"{med[n]['fast iteration'] / n * 1e6:.2f}" for n in sizes)
    worst = max(growths, key=growths.get)
    return [
        Figure("Scaling, fast iteration: µs per node at 10 → 10k nodes", fast, "flat", None),
        Figure("Scaling, worst per-node growth 1k → 10k nodes", f"{growths[worst]:.2f}× ({worst})",
               f"linear (flag > {GROWTH_FLAG:g}×)", not flagged),
    ], True
