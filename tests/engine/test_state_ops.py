"""Ops with state across iterations: batch_norm's running statistics (carried like params, restored
when stepping back, no gradient) and dropout's noise (drawn per iteration from the seed, the same on
every route)."""
from __future__ import annotations

import numpy as np
import pytest

from gradstep import engine
from gradstep.engine import interpret

BN = """
[scenario]
title = "bn"
seed = 1
[values]
x = { init = "normal", shape = [4, 3, 2, 2] }
rm = [0.5, 0.0, -0.5]
rv = [1.0, 2.0, 1.0]
[params]
w = [1.0, 2.0, 0.5]
b = [0.0, 0.1, 0.2]
[graph]
y = "batch_norm(x * w2, w, b, rm, rv, momentum=0.2)"
E = "mean(y * y * x)"
[train]
loss = "E"
learning_rate = 0.1
steps = 5
"""
# x * w2 makes the statistics change from one iteration to the next (w2 is trained).
BN = BN.replace('[params]\n', '[params]\nw2 = [[[[1.5]], [[0.5]], [[1.0]]]]\n')


def _ids(sc, *names):
    return [sc.program.by_name[n] for n in names]


def test_running_statistics_follow_pytorchs_rule():
    """running = (1 - m)·running + m·batch statistic, with the unbiased variance, iteration by iteration."""
    sc = engine.load_scenario_text(BN)
    x, w2, rm, rv = _ids(sc, "x", "w2", "rm", "rv")
    st = engine.Stepper(sc)
    mean, var = sc.initial[rm].copy(), sc.initial[rv].copy()
    for _ in range(3):
        inp = st.value(x) * st.param(w2)          # this iteration's input, before the update changes w2
        st.run_iteration()
        n = inp.size // inp.shape[1]
        m = inp.mean(axis=(0, 2, 3))
        v = ((inp - m[None, :, None, None]) ** 2).sum(axis=(0, 2, 3)) / (n - 1)
        mean, var = 0.8 * mean + 0.2 * m, 0.8 * var + 0.2 * v
        np.testing.assert_allclose(st.param(rm), mean, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(st.param(rv), var, rtol=1e-14)
    assert not np.allclose(st.param(rm), sc.initial[rm])


def test_running_statistics_get_no_gradient_and_no_update_step():
    sc = engine.load_scenario_text(BN)
    p = sc.program
    rm, rv = _ids(sc, "rm", "rv")
    assert p.buffers == [rm, rv]
    assert not p.needs_grad[rm] and not p.needs_grad[rv]
    assert rm not in p.params and rv not in p.params
    st = engine.Stepper(sc)
    assert {u.param for u in st.updates()} == set(p.params)


def test_stepping_back_restores_the_running_statistics_bit_for_bit():
    sc = engine.load_scenario_text(BN)
    rm, rv = _ids(sc, "rm", "rv")
    y = sc.program.by_name["y"]
    st = engine.Stepper(sc)
    st.run_iteration()
    before = st.param(rm).copy(), st.param(rv).copy()
    while st.value(y) is None:
        st.step()                                   # the batch_norm step updates them
    after = st.param(rm).copy()
    assert not np.array_equal(after, before[0])
    st.back()                                       # undo the batch_norm step
    assert st.param(rm).tobytes() == before[0].tobytes() and st.param(rv).tobytes() == before[1].tobytes()
    st.step()
    assert st.param(rm).tobytes() == after.tobytes()
    st.run_iteration()                              # to iteration 3's start
    st.back_iteration()                             # back to iteration 2's start: replayed, not stepped
    assert st.iteration == 2 and st.param(rm).tobytes() == before[0].tobytes()


def test_fast_path_stepper_and_interpreter_agree_on_the_running_statistics():
    sc = engine.load_scenario_text(BN)
    rm, rv = _ids(sc, "rm", "rv")
    fast = engine.Stepper(sc)
    fast.seek(fast.total_ticks)                     # a replay by the fast path
    slow = engine.Stepper(sc)
    while not slow.at_end:
        slow.step()
    for i in (rm, rv):
        assert fast.param(i).tobytes() == slow.param(i).tobytes()
    assert fast.losses.tobytes() == slow.losses.tobytes()
    # The interpreter: forward, backward, SGD and the carried statistics by hand.
    p = sc.program
    state = {i: sc.initial[i] for i in p.params + p.buffers}
    for it in range(1, sc.steps + 1):
        leaves = {**sc.leaves_for(it), **state}
        vals = interpret.forward(p, leaves)
        grads = interpret.backward(p, vals)
        state.update(interpret.carried(p, vals))
        for i in p.params:
            state[i] = state[i] - sc.learning_rate * grads[i]
    for i in (rm, rv):
        assert state[i].tobytes() == slow.param(i).tobytes()


@pytest.mark.parametrize("graph, words", [
    ('y = "batch_norm(x, w, b, w, rv)"', ["running statistics must be names from [values]"]),
    ('y = "batch_norm(x, w, b, rm)"', ["both running statistics"]),
    ('y = "batch_norm(x, w, b, rm, rv) + sum(rm)"', ["'rm' is the running statistic", "no other node"]),
    ('y = "batch_norm(x, w, b, rm, rv) + batch_norm(x, w, b, rm, rv)"', ["already the running statistic"]),
    ('y = "batch_norm(x[0:1, :, 0:1, 0:1], w, b)"', ["more than one value per channel"]),
    ('y = "batch_norm(x, w, b, rm, rv, momentum=1.5)"', ["momentum"]),
])
def test_misused_running_statistics_are_refused(graph, words):
    text = BN.replace('y = "batch_norm(x * w2, w, b, rm, rv, momentum=0.2)"', graph)
    with pytest.raises(engine.ScenarioError) as info:
        engine.load_scenario_text(text, file="bn.toml")
    msg = str(info.value)
    assert "[graph] y" in msg and all(w in msg for w in words), msg


def test_a_running_statistic_cannot_be_edited():
    sc = engine.load_scenario_text(BN)
    st = engine.Stepper(sc)
    with pytest.raises(ValueError, match="running statistic"):
        st.set_value("rm", [0.0, 0.0, 0.0])


DROPOUT = """
[scenario]
title = "dropout"
seed = 7
[values]
x = { init = "normal", shape = [50, 40] }
[params]
W = { init = "normal", shape = [40, 3], scale = 0.1 }
[graph]
h = "dropout(x, 0.25)"
E = "mean((h @ W) ** 2)"
[train]
loss = "E"
learning_rate = 0.1
steps = 4
"""


def _mask(st, sc):
    x, h = _ids(sc, "x", "h")
    return st.value(h) != 0.0, st.value(h), st.value(x)


def test_dropout_keeps_about_1_minus_p_and_scales_the_kept():
    sc = engine.load_scenario_text(DROPOUT)
    st = engine.Stepper(sc)
    st.run_phase()
    kept, h, x = _mask(st, sc)
    assert abs(kept.mean() - 0.75) < 0.03          # 2,000 draws: 0.75 ± 0.01 (one sigma)
    np.testing.assert_array_equal(h[kept], x[kept] * (1.0 / 0.75))     # PyTorch: mask / (1 - p), then times x


def test_dropout_masks_are_the_same_on_every_route_and_new_each_iteration():
    sc = engine.load_scenario_text(DROPOUT)
    a, b = engine.Stepper(sc), engine.Stepper(engine.load_scenario_text(DROPOUT))
    a.run_phase()
    b.run_phase()
    m1 = _mask(a, sc)[0]
    assert np.array_equal(m1, _mask(b, sc)[0])
    a.run_phase()
    a.run_phase()
    a.run_phase()                                    # iteration 2's forward
    m2 = _mask(a, sc)[0]
    assert not np.array_equal(m1, m2)
    h2 = a.value(sc.program.by_name["h"]).copy()
    a.back_iteration()
    a.run_phase()
    assert a.value(sc.program.by_name["h"]).tobytes() == h2.tobytes()
    # The fast path's replay draws the same masks: the same losses to the bit.
    fast = engine.Stepper(sc)
    fast.seek(fast.total_ticks)
    slow = engine.Stepper(sc)
    while not slow.at_end:
        slow.step()
    assert fast.losses.tobytes() == slow.losses.tobytes()
    # Another seed, another mask.
    other = engine.load_scenario_text(DROPOUT.replace("seed = 7", "seed = 8"))
    c = engine.Stepper(other)
    c.run_phase()
    assert not np.array_equal(m1, _mask(c, other)[0])


def test_dropout_gradient_passes_only_through_kept_elements():
    sc = engine.load_scenario_text(DROPOUT.replace("[values]\nx", "[params]\nx").replace("[params]\nW", "W"))
    st = engine.Stepper(sc)
    st.run_phase()
    st.run_phase()
    kept = _mask(st, sc)[0]
    g = st.grad(sc.program.by_name["x"])
    assert np.all(g[~kept] == 0.0) and np.any(g[kept] != 0.0)
    # Central differences with the iteration's noise held fixed agree with the backward pass.
    assert engine.gradcheck(sc.program, sc.leaves_for(1), work=sc.work).passed
