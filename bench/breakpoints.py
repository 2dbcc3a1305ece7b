"""Benchmark: breakpoints on the two-layer net, side by side with the same replay without them.

- A 100,000-iteration continue whose condition never holds, ÷ the plain 100,000-iteration replay
  (`gradstep run`'s path), for a condition on the loss (vectorised over the loss curve), on a
  node's value and on a param's gradient (probes between the fast path's calls). Target ≤ 1.3×.
  (`loss < 1e-9` does hold on this net once it has converged, at iteration 373, so the never-hit
  condition on the loss is `loss < 0`: the same work.)
- Reverse-continue to a hit 100,000 iterations back: target ≤ 1 s.
- Where each stop lands is checked against a second, independent route (a plain replay read back).
"""
from __future__ import annotations

import random
import statistics
import time


from gradstep.engine import Stepper, load_scenario
from gradstep.scenarios import bundled_dir

from .report import Figure, line, section

STEPS = 100_000
CONDITIONS = {"loss": "loss < 0", "value": "max(h) > 1e9", "gradient": "norm(grad(W1)) < 0"}


def run(quick: bool) -> tuple[list[Figure], bool]:
    steps = 10_000 if quick else STEPS
    rounds = 1 if quick else 3
    section(f"Breakpoints: a {steps:,}-iteration continue that never stops, ÷ the same replay without one")
    scenario = load_scenario(bundled_dir() / "two_layer.toml")

    def plain() -> float:
        st = Stepper(scenario, steps=steps)
        t = time.perf_counter()
        st.run_iterations(steps)
        return time.perf_counter() - t

    def until(condition: str):
        def go() -> float:
            st = Stepper(scenario, steps=steps)
            st.add_breakpoint(condition)
            t = time.perf_counter()
            stop = st.continue_()
            dt = time.perf_counter() - t
            assert stop is None and st.at_end, f"{condition} stopped at {stop}"
            return dt
        return go

    contenders = {"plain": plain, **{k: until(c) for k, c in CONDITIONS.items()}}
    times = {k: [] for k in contenders}
    rng = random.Random(0)
    for _ in range(rounds):
        order = list(contenders)
        rng.shuffle(order)
        for k in order:
            times[k].append(contenders[k]())
    base = statistics.median(times["plain"])
    figures = []
    line(f"{rounds} rounds, contenders in a fresh random order each round; whole replay, median:")
    line(f"{'plain replay (run_iterations)':<52}{base:7.2f} s")
    for k, cond in CONDITIONS.items():
        ratio = statistics.median(a / b for a, b in zip(times[k], times["plain"]))
        line(f"{'continue --until ' + repr(cond):<52}{statistics.median(times[k]):7.2f} s   {ratio:5.2f}×")
        figures.append(Figure(f"Continue {steps:,} iterations, never hit ({k}: `{cond}`) ÷ plain replay",
                              f"{ratio:.2f}×", "≤ 1.3×", ratio <= 1.3))

    # Reverse-continue to a hit far back, exactly.
    ok = True
    for k, cond in (("loss", "iteration == 5 and loss > 0"), ("value", "iteration == 5 and max(h) > 0")):
        st, stop, dt = reverse_from(scenario, steps, cond)
        ref = Stepper(scenario, steps=steps + 10)
        ref.seek(stop.tick)
        same = all(ref.param(i).tobytes() == st.param(i).tobytes() for i in scenario.program.params)
        ok &= same and stop.iteration == 5
        line(f"reverse-continue {steps - 5:,} iterations back ({k}: {cond!r}): {dt:.3f} s, "
             f"lands on iteration {stop.iteration}, {stop.phase} {scenario.program.nodes[stop.node].name}"
             + ("" if same else "  ← NOT THE SAME BITS"))
        figures.append(Figure(f"Reverse-continue {steps - 5:,} iterations back ({k})", f"{dt:.2f} s", "≤ 1 s",
                              dt <= 1.0))
    # Both conditions above begin with a test of the iteration alone: going back, only the iterations where
    # it can hold are run (Condition.guard). Without one, a reverse-continue that finds nothing runs every
    # iteration once with the probes: the cost of a continue over the same span.
    cond = "max(h) > 1e9"
    _, stop, dt = reverse_from(scenario, steps, cond)
    ok &= stop is None
    line(f"reverse-continue {steps:,} iterations back, no iteration test and no hit ({cond!r}): {dt:.3f} s")
    figures.append(Figure(f"Reverse-continue over {steps:,} iterations, a value condition with no iteration test, "
                          "no hit", f"{dt:.2f} s", "for scale", None))
    return figures, ok


def reverse_from(scenario, steps: int, cond: str):
    """A Stepper at iteration `steps` with one breakpoint, after a timed reverse-continue: (it, stop, seconds)."""
    st = Stepper(scenario, steps=steps + 10)
    st.add_breakpoint(cond)
    st.seek_iteration(steps)
    t = time.perf_counter()
    stop = st.reverse_continue()
    return st, stop, time.perf_counter() - t
