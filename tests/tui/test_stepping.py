"""Pilot tests of the stepping keys: each key does what it says, and its reverse twin undoes it bit for bit."""
from __future__ import annotations

import math

import numpy as np

from gradstep.engine import Phase, Stepper, load_scenario
from gradstep.tui.app import GradstepApp
from gradstep.tui.playback import PlayState
from gradstep.tui.widgets.graph import GraphPane
from gradstep.tui.widgets.status import StatusLine

from tuitest import CHAIN, TWO_LAYER, picture

X = 1.5      # chain_rule.toml's x


def status_text(app) -> str:
    return str(app.main.query_one(StatusLine).render())


async def test_step_computes_one_node_and_back_undoes_it():
    app = GradstepApp(CHAIN, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        before = picture(st)
        assert app.check_action("back", ()) is None            # dimmed at the very start
        await pilot.press("p")
        assert picture(st) == before
        await pilot.press("n")
        u = st.program.node("u").id
        assert st.tick == 1 and st.value(u) == X ** 2
        assert "forward 1/3" in status_text(app)
        assert app.selected == u
        await pilot.press("right")
        assert st.value(st.program.node("v").id) == math.sin(X ** 2)
        await pilot.press("left", "p")
        assert picture(st) == before
        assert app.check_action("back", ()) is None


async def test_finish_phase_and_reverse_finish():
    app = GradstepApp(CHAIN, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        start = picture(st)
        await pilot.press("f")
        f = st.program.node("f").id
        assert st.cursor.phase is Phase.BACKWARD and st.cursor.index == 0
        assert st.value(f) == math.exp(math.sin(X ** 2))
        await pilot.press("n")                                 # the seed
        mid = picture(st)
        await pilot.press("f")
        x = st.program.node("x").id
        expected = math.exp(math.sin(X ** 2)) * math.cos(X ** 2) * 2 * X
        assert math.isclose(float(st.grad(x)), expected, rel_tol=1e-12)
        await pilot.press("F")                                 # f's reverse twin: back where f began
        assert picture(st) == mid
        await pilot.press("F")                                 # on its own: to the start of the backward phase
        assert st.cursor.phase is Phase.BACKWARD and st.cursor.index == 0
        await pilot.press("n")
        assert picture(st) == mid
        await pilot.press("F", "F")                            # then to the start of the forward phase
        assert picture(st) == start


def hand_written_update(scenario, eta):
    """One gradient-descent step of the two-layer net, derived by hand with NumPy."""
    p = scenario.program
    x = scenario.initial[p.node("x").id]
    y = scenario.initial[p.node("y_hat").id]
    W1 = scenario.initial[p.node("W1").id]
    W2 = scenario.initial[p.node("W2").id]
    a1 = W1 @ x
    h = np.maximum(a1, 0)
    a2 = W2 @ h
    f = np.maximum(a2, 0)
    g2 = 2 * (f - y) * (a2 > 0)
    dW2 = np.outer(g2, h)
    g1 = (W2.T @ g2) * (a1 > 0)
    dW1 = np.outer(g1, x)
    return W1 - eta * dW1, W2 - eta * dW2


async def test_iteration_and_back_iteration():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        start = picture(st)
        await pilot.press("c")
        assert st.tick == st.per_iteration and st.cursor.iteration == 2
        W1, W2 = hand_written_update(st.scenario, st.eta_at(1))
        np.testing.assert_allclose(st.param(st.program.node("W1").id), W1, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(st.param(st.program.node("W2").id), W2, rtol=1e-12, atol=1e-15)
        await pilot.press("C")
        assert picture(st) == start


async def test_home_and_end():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        start = picture(st)
        await pilot.press("end")
        assert await _wait_idle(pilot, app)
        assert st.at_end and st.cursor.phase is Phase.DONE
        assert app.check_action("step", ()) is None            # dimmed at the end
        headless = Stepper(load_scenario(TWO_LAYER))
        headless.run_iterations(headless.steps)
        assert st.losses.tobytes() == headless.losses.tobytes()
        await pilot.press("home")
        assert picture(st) == start


async def _wait_idle(pilot, app) -> bool:
    from tuitest import wait_for
    return await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)


async def test_select_with_keys_and_mouse():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.main.query_one(GraphPane)
        rows = [r.node for r in graph.rows]
        app.selected = rows[3]
        await pilot.pause()
        await pilot.press("j")
        assert app.selected == rows[4]
        await pilot.press("down")
        assert app.selected == rows[5]
        await pilot.press("k", "up")
        assert app.selected == rows[3]
        # Click the graph's third line (the pane's top line is its border in the compact layout).
        await pilot.click(GraphPane, offset=(10, graph.styles.gutter.top + 2))
        assert app.selected == rows[2 + round(graph.scroll_offset.y)]


async def test_steps_follow_the_cursor_and_stepping_selects_the_written_node():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        await pilot.press("f", "n", "n")
        # the second backward step passes ∂E/∂E·1 down to the sum's input: that node is selected
        assert app.selected == st.program.backward[1]
        assert st.grad(app.selected) is not None
