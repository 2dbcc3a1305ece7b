"""Chain-rule paths: every route from the loss down to a node; on scalar graphs the sum over paths
of the products of local derivatives equals ∂E/∂node."""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from gradstep import engine
from gradstep.scenarios import bundled_dir
from gradstep.engine.paths import MAX_PATHS


def run_backward(sc: engine.Scenario) -> tuple[engine.Stepper, list]:
    st = engine.Stepper(sc)
    st.run_phase()
    st.run_phase()
    return st, [st.value(i) for i in range(len(sc.program.nodes))]


def load(text: str) -> engine.Scenario:
    return engine.load_scenario_text(textwrap.dedent(text))


SPLIT = """
[scenario]
title = "sum over paths"
[values]
a = 2.0
b = 1.0
[graph]
c = "a + b"
d = "b + 1"
e = "c * d"
[train]
loss = "e"
"""

ONE_LINE = """
[scenario]
title = "sum over paths, one expression"
[values]
a = 2.0
b = 1.0
[graph]
e = "(a + b) * (b + 1)"
[train]
loss = "e"
"""


@pytest.mark.parametrize("text", [SPLIT, ONE_LINE], ids=["split", "one-line"])
def test_e_equals_a_plus_b_times_b_plus_1(text):
    sc = load(text)
    p = sc.program
    st, vals = run_backward(sc)
    a, b = p.by_name["a"], p.by_name["b"]
    pb = engine.chain_paths(p, b, vals)
    assert pb.scalar and not pb.truncated
    # ∂e/∂b = 1·(b+1) + 1·(a+b) = 2 + 3 along the two paths, in either order.
    assert sorted(path.product for path in pb.paths) == [2.0, 3.0]
    assert pb.total == 5.0 == float(st.grad(b))
    for path in pb.paths:
        assert path.edges[0].consumer == p.loss and path.edges[-1].input == b
        # Consecutive edges join up: each edge's input is the next edge's consumer.
        assert all(e1.input == e2.consumer for e1, e2 in zip(path.edges, path.edges[1:]))
    pa = engine.chain_paths(p, a, vals)
    assert len(pa.paths) == 1 and pa.paths[0].product == 2.0 == pa.total == float(st.grad(a))


def test_edges_carry_formulas_with_the_real_names():
    sc = load(SPLIT)
    p = sc.program
    _, vals = run_backward(sc)
    paths = engine.chain_paths(p, p.by_name["b"], vals).paths
    formulas = sorted(tuple(e.formula for e in path.edges) for path in paths)
    assert formulas == [("c", "1"), ("d", "1")]        # ∂e/∂d = c, ∂d/∂b = 1; ∂e/∂c = d, ∂c/∂b = 1


def test_without_values_paths_are_listed_but_not_multiplied():
    sc = load(SPLIT)
    pb = engine.chain_paths(sc.program, sc.program.by_name["b"], None)
    assert len(pb.paths) == 2 and not pb.scalar and pb.total is None
    assert all(path.product is None for path in pb.paths)


def test_the_loss_has_one_empty_path_and_an_unused_value_none():
    sc = load("""
        [scenario]
        title = "t"
        [values]
        x = 0.3
        unused = 4.0
        [graph]
        E = "sin(x)"
        [train]
        loss = "E"
    """)
    p = sc.program
    _, vals = run_backward(sc)
    own = engine.chain_paths(p, p.loss, vals)
    assert len(own.paths) == 1 and own.paths[0].edges == () and own.total == 1.0
    none = engine.chain_paths(p, p.by_name["unused"], vals)
    assert none.paths == () and none.total == 0.0


def test_chain_rule_scenario_path_is_the_closed_form():
    sc = engine.load_scenario(bundled_dir() / "chain_rule.toml")
    p = sc.program
    _, vals = run_backward(sc)
    x = float(sc.initial[p.by_name["x"]])
    u = x * x
    paths = engine.chain_paths(p, p.by_name["x"], vals)
    assert len(paths.paths) == 1 and len(paths.paths[0].edges) == 3
    assert paths.total == pytest.approx(math.exp(math.sin(u)) * math.cos(u) * 2 * x, rel=1e-14)


def test_tensor_graphs_list_paths_without_products():
    sc = engine.load_scenario(bundled_dir() / "two_layer.toml")
    p = sc.program
    _, vals = run_backward(sc)
    paths = engine.chain_paths(p, p.by_name["W1"], vals)
    assert len(paths.paths) == 1 and not paths.scalar and paths.total is None
    assert paths.paths[0].edges[-1].input == p.by_name["W1"]


def _random_scalar_scenario(seed: int) -> str:
    """A random DAG of scalar ops over three inputs; every node may feed several later ones."""
    rng = np.random.default_rng(seed)
    unary = ["sin({})", "cos({})", "tanh({})", "sigmoid({})", "-{}", "{} ** 2", "exp(tanh({}))"]
    binary = ["{} + {}", "{} - {}", "{} * {}", "{} / (1 + {} ** 2)"]
    names = ["a", "b", "c"]
    lines = []
    for k in range(int(rng.integers(4, 9))):
        if rng.random() < 0.5:
            text = unary[rng.integers(len(unary))].format(names[rng.integers(len(names))])
        else:
            i, j = rng.choice(len(names), size=2)
            text = binary[rng.integers(len(binary))].format(names[i], names[j])
        lines.append(f'n{k} = "{text}"')
        names.append(f"n{k}")
    tail = names[-3:]
    lines.append(f'E = "{tail[0]} * {tail[1]} + {tail[2]}"')
    values = "\n".join(f"{n} = {rng.uniform(-1.5, 1.5)!r}" for n in "abc")
    return (f'[scenario]\ntitle = "random {seed}"\n[values]\n{values}\n[graph]\n' + "\n".join(lines)
            + '\n[train]\nloss = "E"\n')


@pytest.mark.parametrize("seed", range(40))
def test_sum_over_paths_equals_the_backward_gradient_on_random_scalar_graphs(seed):
    sc = engine.load_scenario_text(_random_scalar_scenario(seed))
    p = sc.program
    st, vals = run_backward(sc)
    # Paths counted by dynamic programming over the edges: an independent count.
    count = [0] * len(p.nodes)
    count[p.loss] = 1
    for i in reversed(range(len(p.nodes))):
        if i != p.loss:
            count[i] = sum(count[c] for c, _ in p.consumers[i])
    for i, node in enumerate(p.nodes):
        if node.kind == "const":
            continue
        paths = engine.chain_paths(p, i, vals)
        assert paths.scalar and not paths.truncated
        grad = st.grad(i)
        if grad is None:
            assert paths.paths == () and p.expected[i] == 0
            continue
        # The same factors summed in another order: agreement to rounding.
        assert abs(paths.total - float(grad)) <= 1e-12 * max(1.0, abs(float(grad))), node.name
        assert len(paths.paths) == count[i]


def test_a_5000_node_chain_does_not_overflow_recursion():
    n = 5000
    graph = "\n".join(f'n{k} = "sin(n{k - 1})"' for k in range(1, n + 1))
    sc = engine.load_scenario_text(f'[scenario]\ntitle = "deep"\n[values]\nn0 = 1.0\n[graph]\n{graph}\n'
                                   f'[train]\nloss = "n{n}"\n')
    p = sc.program
    st, vals = run_backward(sc)
    paths = engine.chain_paths(p, p.by_name["n0"], vals)
    assert len(paths.paths) == 1 and len(paths.paths[0].edges) == n
    # d sin^n(x)/dx = Π cos(x_k) over the chain's inputs, the same factors in the same order.
    expected = 1.0
    for k in range(n):
        expected *= math.cos(float(vals[p.by_name[f"n{k}"]]))
    assert paths.total == pytest.approx(expected, rel=1e-12)
    assert paths.total == pytest.approx(float(st.grad(p.by_name["n0"])), rel=1e-12)


def test_too_many_paths_are_truncated():
    # x -> x*x -> ... : each squaring doubles the number of paths (both inputs are the same node).
    levels = 11
    graph = "\n".join(f'n{k} = "n{k - 1} * n{k - 1}"' for k in range(1, levels + 1))
    sc = engine.load_scenario_text(f'[scenario]\ntitle = "wide"\n[values]\nn0 = 1.0\n[graph]\n{graph}\n'
                                   f'[train]\nloss = "n{levels}"\n')
    _, vals = run_backward(sc)
    paths = engine.chain_paths(sc.program, sc.program.by_name["n0"], vals)
    assert 2 ** levels > MAX_PATHS
    assert paths.truncated and len(paths.paths) == MAX_PATHS and paths.total is None
    small = engine.chain_paths(sc.program, sc.program.by_name["n2"], vals)
    assert not small.truncated and len(small.paths) == 2 ** (levels - 2)
    assert small.total == 2.0 ** (levels - 2)        # d(y^(2^9))/dy at y = 1


def test_before_the_forward_pass_ends_products_and_total_are_unknown():
    sc = load(SPLIT)
    p = sc.program
    st = engine.Stepper(sc)
    st.step()                                       # only c = a + b has a value
    vals = [st.value(i) for i in range(len(p.nodes))]
    paths = engine.chain_paths(p, p.by_name["b"], vals)
    assert len(paths.paths) == 2
    assert all(path.product is None for path in paths.paths) and paths.total is None
