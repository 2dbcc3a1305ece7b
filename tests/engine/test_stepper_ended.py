"""Stepper.ended(k): a Stepper standing at the end of iteration k holds exactly what the Stepper held just
before and just after iteration k's last update (values, gradients, every param's update), η changes and
edited values included, starting from the history's nearest start rather than from iteration 1."""
from __future__ import annotations

import numpy as np

from gradstep.engine import Phase, Stepper, load_scenario
from gradstep.scenarios import bundled_dir


def _same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def test_ended_holds_the_last_iteration_whole_and_bit_for_bit():
    st = Stepper(load_scenario(bundled_dir() / "two_layer.toml"))
    st.seek_iteration(40)
    st.set_eta(0.05)
    st.seek_iteration(60)
    st.set_value("x", np.linspace(-1, 1, st.program.node("x").shape[0]))
    k = 70
    st.seek(k * st.per_iteration - 1)                  # before iteration k's last update
    nodes = range(len(st.program.nodes))
    values, grads = [st.value(i) for i in nodes], [st.grad(i) for i in nodes]
    before = st.updates()
    st.step()                                          # the last update: st now stands in iteration k + 1
    assert st.iteration == k + 1 and all(st.value(i) is None for i in st.program.ops)
    twin = st.ended(k)
    assert twin.cursor.phase is Phase.DONE and twin.iteration == k and twin.eta == st.eta_at(k)
    assert all(_same(a, twin.value(i)) for i, a in zip(nodes, values))
    assert all(_same(a, twin.grad(i)) for i, a in zip(nodes, grads))
    for b, u in zip(before, twin.updates()):
        assert np.array_equal(b.w, u.w) and np.array_equal(b.grad, u.grad) and u.new is not None
        assert np.array_equal(u.new, st.param(u.param))
    assert twin.total_ticks == k * st.per_iteration


def test_ended_keeps_forward_modes_tangents():
    st = Stepper(load_scenario(bundled_dir() / "two_layer.toml"))
    st.set_mode("forward", direction="random")
    st.seek(3 * st.per_iteration - 1)
    tangent = st.tangent(st.program.loss)
    st.step()
    twin = st.ended(3)
    assert twin.mode is st.mode and np.array_equal(twin.tangent(st.program.loss), tangent)
