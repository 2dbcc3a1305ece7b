"""Peak memory stays under the bound scenarios/README.md states, for the largest adversarial files the
limits accept: one big tensor read by as many nodes as allowed, broadcasts, and many leaves with Adam.

The limits are scaled down by 20 (their ratios kept) so the files are small enough for a test; the
bound is the README's formula with the scaled limits: 8 bytes × (MAX_KEPT_ELEMENTS + 2 ×
MAX_GRAPH_ELEMENTS + 8 × MAX_TOTAL_ELEMENTS) plus the 16 MB history budget. Memory is measured
with tracemalloc (NumPy reports its buffers to it) over loading, fast runs, and stepping a whole
iteration node by node.
"""
from __future__ import annotations

import tracemalloc

import pytest

from gradstep.engine import ScenarioError, Stepper, limits, load_scenario_text

SCALE = 20
HISTORY = 16 * 2**20
SLACK = 8 * 2**20          # Python objects: nodes, partials, dicts


@pytest.fixture
def small_limits(monkeypatch):
    for name in ("MAX_ELEMENTS", "MAX_TOTAL_ELEMENTS", "MAX_GRAPH_ELEMENTS", "MAX_KEPT_ELEMENTS"):
        monkeypatch.setattr(limits, name, getattr(limits, name) // SCALE)
    return limits


def bound(lim) -> int:
    return 8 * (lim.MAX_KEPT_ELEMENTS + 2 * lim.MAX_GRAPH_ELEMENTS + 8 * lim.MAX_TOTAL_ELEMENTS) + HISTORY + SLACK


def many_readers(k: int, n: int) -> str:
    graph = ['s0 = "sum(x)"', 'E0 = "s0"'] + [f's{i} = "sum(x)"\nE{i} = "E{i - 1} + s{i}"' for i in range(1, k)]
    return (f'[scenario]\ntitle = "readers"\n[params]\nx = {{ init = "normal", shape = [{n}] }}\n[graph]\n'
            + "\n".join(graph) + f'\n[train]\nloss = "E{k - 1}"\nlearning_rate = 0.01\nsteps = 3\n'
            'optimizer = "adam"\n')


def broadcasts(n: int, layers: int) -> str:
    graph = [f'z{i} = "{"a" if i == 0 else f"t{i - 1}"} * b"\nt{i} = "sum(z{i}, axis=1, keepdims=True)"'
             for i in range(layers)]
    return (f'[scenario]\ntitle = "broadcasts"\n[params]\na = {{ init = "normal", shape = [{n}, 1] }}\n'
            f'b = {{ init = "normal", shape = [1, {n}], scale = 0.01 }}\n[graph]\n' + "\n".join(graph)
            + f'\nE = "mean(t{layers - 1} ** 2)"\n[train]\nloss = "E"\nlearning_rate = 0.01\nsteps = 3\n'
            'optimizer = "adam"\n')


def many_leaves(count: int, size: int) -> str:
    params = "\n".join(f'w{i} = {{ init = "normal", shape = [{size}] }}' for i in range(count))
    terms = " + ".join(f"sum(w{i} ** 2)" for i in range(min(count, 40)))
    rest = [f'r{i} = "sum(w{i} * w{i})"' for i in range(40, count)]
    total = " + ".join(["head"] + [f"r{i}" for i in range(40, count)][:40])
    return (f'[scenario]\ntitle = "leaves"\n[params]\n{params}\n[graph]\nhead = "{terms}"\n' + "\n".join(rest)
            + f'\nE = "{total}"\n[train]\nloss = "E"\nlearning_rate = 0.01\nsteps = 3\noptimizer = "adam"\n')


def largest_accepted(make, sizes) -> str:
    """The last text in sizes the loader accepts (they grow), checking that the next one is refused."""
    last = None
    for args in sizes:
        try:
            load_scenario_text(make(*args))
        except ScenarioError:
            assert last is not None, "even the smallest file was refused"
            return last
        last = make(*args)
    raise AssertionError("no size was refused: the sizes do not reach the limits")


def peak_bytes(text: str) -> int:
    tracemalloc.start()
    try:
        sc = load_scenario_text(text)
        st = Stepper(sc, steps=3)
        st.run_iterations(2)                # the fast path, with the optimizer's state
        while not st.at_end:                # a whole iteration node by node: everything kept for going back
            st.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("case", ["readers", "broadcasts", "leaves"])
def test_the_largest_accepted_adversarial_files_stay_under_the_memory_bound(case, small_limits):
    n = small_limits.MAX_ELEMENTS
    if case == "readers":
        text = largest_accepted(many_readers, [(k, n) for k in range(2, 64)])
    elif case == "broadcasts":
        side = int(n ** 0.5)
        text = largest_accepted(broadcasts, [(side, layers) for layers in range(1, 64)])
    else:
        size = n // 4
        text = largest_accepted(many_leaves, [(c, size) for c in range(2, 200, 2)])
    peak = peak_bytes(text)
    assert peak <= bound(small_limits), f"{case}: peak {peak / 2**20:.0f} MB over {bound(small_limits) / 2**20:.0f} MB"
    # And the file is big: it uses a fair part of what the limits allow.
    assert peak >= 8 * small_limits.MAX_ELEMENTS
