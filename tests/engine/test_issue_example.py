"""The scenario example printed in the engine issue, verbatim.

As printed, it declares W1 ∈ R^(10x100), so h has 10 elements, but W2 = [[0.40, 0.45],
[0.50, 0.55]] is 2x2: W2 @ h cannot be computed. Every other line is valid, so the loader must
get through all of it and stop on exactly that shape clash, naming both shapes and the key.
With W1 given 2 rows (the only change), it loads and trains.
"""
import numpy as np
import pytest

from gradstep import engine

ISSUE_EXAMPLE = '''\
[scenario]
title = "Two-layer ReLU network"
description = """Shown in the TUI: what this scenario teaches."""
seed = 0                    # every random draw (init, data order) comes from this

[values]                    # inputs and constants: never trained
x     = { init = "normal", shape = [100] }        # random from the seed
y_hat = [0.5, -0.25]        # literal: scalar, list, nested lists
b     = 0.35

[params]                    # trainable: updated by w <- w - eta * dE/dw
W1 = { init = "normal", shape = [10, 100], scale = 0.1 }
W2 = [[0.40, 0.45], [0.50, 0.55]]

[graph]                     # evaluated top to bottom; one named node per key
h = "relu(W1 @ x)"
f = "relu(W2 @ h)"
E = "sum((f - y_hat)**2)"

[train]
loss = "E"                  # must name a scalar node
learning_rate = 0.01        # eta
steps = 100                 # training iterations to replay
'''


def test_verbatim_example_stops_only_on_its_shape_clash():
    with pytest.raises(engine.ScenarioError) as info:
        engine.load_scenario_text(ISSUE_EXAMPLE, file="issue.toml")
    e = info.value
    assert (e.file, e.table, e.key, e.line) == ("issue.toml", "graph", "f", 17)
    assert "(2, 2)" in e.problem and "(10,)" in e.problem


def test_example_with_consistent_shapes_trains():
    fixed = ISSUE_EXAMPLE.replace("shape = [10, 100], scale", "shape = [2, 100], scale")
    sc = engine.load_scenario_text(fixed, file="issue.toml")
    p = sc.program
    assert p.node("b").kind == "value" and p.node("W2").kind == "param"
    assert sc.steps == 100 and sc.learning_rate == 0.01 and sc.seed == 0
    st = engine.Stepper(sc)
    assert st.run_iterations(100) is None
    losses = st.losses
    assert len(losses) == 100 and np.all(np.isfinite(losses))
    # Independent route: the same 100 steps written by hand in NumPy from the loaded initial values.
    x, y = sc.initial[p.by_name["x"]], sc.initial[p.by_name["y_hat"]]
    W1, W2 = sc.initial[p.by_name["W1"]].copy(), sc.initial[p.by_name["W2"]].copy()
    for _ in range(100):
        z1 = W1 @ x; h = np.maximum(z1, 0); z2 = W2 @ h; f = np.maximum(z2, 0)
        gz2 = 2 * (f - y) * (z2 > 0); gz1 = (W2.T @ gz2) * (z1 > 0)
        W2 = W2 - 0.01 * np.outer(gz2, h); W1 = W1 - 0.01 * np.outer(gz1, x)
    np.testing.assert_allclose(st.param(p.by_name["W1"]), W1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(st.param(p.by_name["W2"]), W2, rtol=1e-12, atol=1e-15)
