"""Regression guard for the engine's speed that would catch a 10× slowdown without timing anything absolute.

- Python-level calls per training iteration (sys.setprofile) are bounded by the program's work:
  one forward per op, one VJP per gradient edge, one update per param. Today the fast path makes
  2–3 calls per unit of work; the bound allows 12, so a legitimate rewrite passes and a path that
  does 10× the interpretive work per node does not.
- Stepper.step() makes a constant number of calls, whatever the iteration or the program size.
- Transient memory of an iteration is bounded by the program's own tensors (a materialised
  Jacobian, or a copy per node of something big, would blow it).
- One ratio against hand-written NumPy measured side by side in this process, with a 10× margin.
- `python -m bench --quick` runs and prints its summary table, with the wide net at one BLAS thread
  and at the default, and a hint for PyTorch or JAX when they are not installed.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gradstep.engine import Stepper, load_scenario, load_scenario_text

from gradstep.scenarios import bundled_dir

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:          # bench/ is a top-level folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench.chain import chain_toml                                   # noqa: E402
from bench.timing import interleaved, paired_ratio, replaying        # noqa: E402
from bench.two_layer import HandWritten, leaves                      # noqa: E402

CALLS_PER_UNIT = 12         # Python-level calls allowed per forward, VJP or update
CALLS_PER_ITERATION = 100   # plus this much bookkeeping per iteration
CALLS_PER_STEP = 100        # Stepper.step() runs one node: constant work (about 26 calls today)
GRAPH500 = ROOT / "bench" / "scenarios" / "graph500.toml"


def profile_calls(fn) -> int:
    """Python function calls plus calls of builtins made while fn() runs."""
    count = 0

    def hook(frame, event, arg):
        nonlocal count
        if event == "call" or event == "c_call":
            count += 1
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def work_units(program) -> int:
    """Forwards, gradient edges and updates of one training iteration."""
    return len(program.ops) + sum(len(c) for c in program.consumers) + len(program.params)


def fast_calls_per_iteration(scenario, iterations: int = 40) -> float:
    st = Stepper(scenario, steps=iterations + 4)
    st.run_iterations(2)
    return profile_calls(lambda: st.run_iterations(iterations)) / iterations


SCENARIOS = {
    "two_layer": lambda: load_scenario(bundled_dir() / "two_layer.toml"),
    "graph500": lambda: load_scenario(GRAPH500),
    "chain10": lambda: load_scenario_text(chain_toml(10)),
    "chain100": lambda: load_scenario_text(chain_toml(100)),
    "chain1000": lambda: load_scenario_text(chain_toml(1000)),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fast_path_calls_per_iteration_are_bounded_by_the_programs_work(name):
    scenario = SCENARIOS[name]()
    units = work_units(scenario.program)
    per_iteration = fast_calls_per_iteration(scenario)
    bound = CALLS_PER_UNIT * units + CALLS_PER_ITERATION
    assert per_iteration <= bound, (
        f"{name}: the fast path makes {per_iteration:.0f} Python-level calls per iteration for "
        f"{units} units of work (bound {bound}): it does far more interpretive work per node than it should")


def test_fast_path_calls_grow_linearly_with_the_chain():
    small = fast_calls_per_iteration(SCENARIOS["chain100"]())
    large = fast_calls_per_iteration(SCENARIOS["chain1000"]())
    # 10× the nodes may cost at most 12× the calls: anything quadratic shows up as ~100×.
    assert large <= 12 * small, f"100 nodes: {small:.0f} calls per iteration, 1000 nodes: {large:.0f}"


def step_calls(st: Stepper, steps: int) -> float:
    return profile_calls(lambda: [st.step() for _ in range(steps)]) / steps


def test_a_step_costs_the_same_at_any_iteration_and_any_program_size():
    per_step = {}
    for name in ("chain10", "chain1000"):
        scenario = SCENARIOS[name]()
        early = Stepper(scenario, steps=1002)
        late = Stepper(scenario, steps=1002)
        late.run_iterations(999)
        assert late.iteration == 1000
        S = early.per_iteration
        n = 2 * S if S > 100 else 20 * S            # whole iterations, so both see the same mix of steps
        at_1, at_1000 = step_calls(early, n), step_calls(late, n)
        assert at_1000 <= 1.1 * at_1 + 1, f"{name}: {at_1:.1f} calls per step at iteration 1, {at_1000:.1f} at 1000"
        assert at_1 <= CALLS_PER_STEP, f"{name}: {at_1:.1f} Python-level calls per step"
        per_step[name] = at_1
    assert per_step["chain1000"] <= 1.5 * per_step["chain10"], per_step


def test_an_iteration_allocates_no_more_than_a_few_copies_of_the_programs_tensors():
    rng_y = np.random.default_rng(0).integers(0, 10, 64).tolist()
    scenario = load_scenario_text(f"""
[scenario]
title = "wide"
[values]
x = {{ init = "normal", shape = [64, 784] }}
y = {rng_y}
[params]
W1 = {{ init = "normal", shape = [784, 256], scale = 0.05 }}
b1 = {{ init = "zeros", shape = [256] }}
W2 = {{ init = "normal", shape = [256, 10], scale = 0.06 }}
b2 = {{ init = "zeros", shape = [10] }}
[graph]
h = "relu(x @ W1 + b1)"
E = "cross_entropy(h @ W2 + b2, y)"
[train]
loss = "E"
learning_rate = 0.05
steps = 20
""")
    tensors = sum(8 * node.size for node in scenario.program.nodes)   # every value once, in bytes
    st = Stepper(scenario)
    st.run_iterations(2)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        st.run_iterations(5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Values, gradients, the params' updates and a checkpoint: a handful of copies at most.
    assert peak - before <= 6 * tensors, f"an iteration peaked at {(peak - before) / 1e6:.1f} MB over " \
                                         f"{tensors / 1e6:.1f} MB of tensors"


def test_two_layer_iteration_is_within_10x_of_hand_written_numpy():
    # A ratio measured side by side (interleaved rounds, median), not a time: the engine runs
    # at about 1–2× NumPy, so only a real slowdown of several times can reach 10×.
    scenario = load_scenario(bundled_dir() / "two_layer.toml")
    st = Stepper(scenario)
    hw = HandWritten(*leaves(scenario))
    s = interleaved({"numpy": hw.train, "engine": replaying(st)}, rounds=21, inner=st.steps - 1)
    ratio = paired_ratio(s["engine"], s["numpy"])
    assert ratio <= 10.0, f"engine {s['engine'].us:.1f} µs vs NumPy {s['numpy'].us:.1f} µs per iteration"


def test_bench_quick_runs_and_prints_the_summary():
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "## Summary" in out
    summary = out[out.index("## Summary"):]
    header = next(r for r in summary.splitlines() if r.startswith("| Figure"))
    assert "Measured" in header and "Target" in header and "Met?" in header
    for figure in ("Two-layer iteration, engine ÷ NumPy", "Wide-net iteration, engine ÷ NumPy, 1 BLAS thread",
                   "Wide-net iteration, engine ÷ NumPy, default (", "Wide-net iteration, PyTorch eager ÷ NumPy",
                   "Wide-net iteration, JAX jit ÷ NumPy", "Two-layer iteration, JAX jit ÷ NumPy",
                   "Step one node, two-layer", "Step one node, 500-node graph", "History memory",
                   "Seek from the end", "bit-identical", "Scaling", "TUI step latency, two-layer",
                   "TUI step latency, 200-node graph", "Playback at max speed", "`gradstep --help`",
                   "`gradstep run` imports textual", "TUI ready for the first key"):
        assert figure in summary, f"no {figure!r} row in the summary"
    rows = [r for r in summary.splitlines() if r.startswith("| ")]
    assert all(r.count("|") == 5 for r in rows), "every summary row has four cells"
    assert "MISMATCH" not in out
    for framework in ("torch", "jax"):
        if importlib.util.find_spec(framework) is None:
            assert f"skipped: {framework} not installed (pip install " in out
