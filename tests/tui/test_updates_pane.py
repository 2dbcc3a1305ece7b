"""The Updates pane shows the optimizer's whole step with the numbers of its rule: Adam's g, m, v, m̂, v̂, Δw, w_new and ‖Δw‖/‖w‖ computed here with NumPy over three iterations, momentum's b, and the η of a schedule in the pane and the status line."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gradstep.engine import FULL, fmt_num
from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.status import StatusLine
from gradstep.tui.widgets.updates import UpdatesPane

from tuitest import BUNDLED

ADAM = BUNDLED / "adam_first_step.toml"        # E = 1000·a² + 0.001·b², a = b = 1, η = 0.1, Adam's defaults
MOMENTUM = BUNDLED / "momentum_valley.toml"     # E = ½·Σ curvature·w², μ = 0.9, η = 0.05
COSINE = Path(__file__).parents[1] / "engine" / "optim_reference" / "case_sched_cosine.toml"


def pane_text(app) -> list[str]:
    return [str(line) for line in app.main.query_one(UpdatesPane).lines]


def line_of(lines: list[str], start: int, quantity: str) -> str:
    """The first line at or after `start` that shows this quantity (with its value's own line, when the
    formula left no room for it)."""
    k = next(k for k in range(start, len(lines)) if lines[k].split()[:1] == [quantity])
    more = lines[k + 1] if k + 1 < len(lines) and lines[k + 1].lstrip().startswith("= ") else ""
    return lines[k] + more


def adam_reference(steps: int) -> list[dict]:
    """Adam on a (gradient 2000·a) by hand, PyTorch's rule, one dict of quantities per step."""
    b1, b2, eta, eps = 0.9, 0.999, 0.1, 1e-8
    a, m, v = 1.0, 0.0, 0.0
    out = []
    for t in range(1, steps + 1):
        g = 2000.0 * a
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        dw = -eta * m_hat / (math.sqrt(v_hat) + eps)
        new = a + dw
        out.append({"w": a, "g": g, "m": m, "v": v, "m̂": m_hat, "v̂": v_hat, "Δw": dw, "w_new": new,
                    "‖Δw‖/‖w‖": abs(dw) / abs(new)})
        a = new
    return out


def close(shown: str, x: float) -> bool:
    """The pane prints 4 significant digits (3 for the ratio): the number read back agrees to that."""
    return math.isclose(float(shown), x, rel_tol=5e-3, abs_tol=1e-12)


async def test_adam_lines_carry_the_numbers_of_adams_rule():
    app = GradstepApp(ADAM, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        reference = adam_reference(3)
        for t, want in enumerate(reference, 1):
            await pilot.press("f", "f", "n")                      # to the update of a (the first param)
            lines = pane_text(app)
            assert lines[0].startswith("adam") and f"t = {t}" in lines[0]
            start = next(k for k, ln in enumerate(lines) if ln.split()[:1] == ["a"] and "updated" in ln)
            for quantity, value in want.items():
                text = line_of(lines, start, quantity if quantity != "‖Δw‖/‖w‖" else "‖Δw‖/‖w‖")
                number = text.rsplit(" ", 1)[1]
                assert close(number, value), (t, quantity, text, value)
            formula = line_of(lines, start, "Δw")
            assert "−η·m̂/(√v̂ + ε)" in formula and "← β1·m + (1 − β1)·g" in line_of(lines, start, "m")
            nxt = next(k for k, ln in enumerate(lines) if ln.split()[:2] == ["▶", "b"])
            assert line_of(lines, nxt, "m").endswith("= —")        # b's step has not run yet
            await pilot.press("n")                                # b's update: on to the next iteration


async def test_the_update_that_ends_an_iteration_stays_on_screen_and_moves_both_params_by_eta():
    """The last param's update begins the next iteration: the pane shows the iteration just finished."""
    app = GradstepApp(ADAM, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f", "f", "n", "n")
        st = app.stepper
        assert st.cursor.iteration == 2 and st.cursor.index == 0
        lines = pane_text(app)
        assert "iteration 1, just finished" in lines[1] and "t = 1" in lines[0]
        steps = [float(ln.rsplit("= ", 1)[1]) for ln in lines if ln.split()[:1] == ["Δw"]]
        news = [float(ln.rsplit("= ", 1)[1]) for ln in lines if ln.split()[:1] == ["w_new"]]
        assert len(steps) == 2 and all(math.isclose(d, -0.1, rel_tol=1e-5) for d in steps)
        assert len(news) == 2 and all(math.isclose(w, 0.9, rel_tol=1e-5) for w in news)
        finished = app.shown.updates()
        assert finished[-1].step is not None and f"= {fmt_num(finished[-1].step, FULL)}" in "\n".join(lines)
        for u in finished:                                         # the same bits as the Stepper's own params
            assert u.new.tobytes() == st.param(u.param).tobytes()
        await pilot.press("n")                                     # a step into iteration 2: its own updates
        assert "just finished" not in pane_text(app)[1]


async def test_momentum_shows_its_velocity_and_the_step():
    app = GradstepApp(MOMENTUM, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c", "f", "f", "n")                     # iteration 2's update (it ends the iteration)
        await pilot.press("d")                                    # short numbers: the rule's, to 4 digits
        curvature, w0 = np.array([0.1, 5.0]), np.array([-4.0, 1.0])
        g1 = curvature * w0
        w1 = w0 - 0.05 * g1
        g2 = curvature * w1
        b2 = 0.9 * g1 + g2
        lines = pane_text(app)
        assert lines[0].startswith("sgd") and "μ 0.9" in lines[0]
        b_line = line_of(lines, 0, "b")
        assert f"[{fmt_num(b2[0])}, {fmt_num(b2[1])}]" in b_line
        dw = -0.05 * b2
        assert f"[{fmt_num(dw[0])}, {fmt_num(dw[1])}]" in line_of(lines, 0, "Δw")
        ratio = np.linalg.norm(dw) / np.linalg.norm(w1 + dw)
        assert close(line_of(lines, 0, "‖Δw‖/‖w‖").split()[-1], ratio)


async def test_a_schedule_shows_the_effective_eta_of_the_iteration():
    app = GradstepApp(COSINE, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        st = app.stepper

        def status() -> str:
            return str(app.main.query_one(StatusLine).render())
        for k in (1, 2, 3):
            await pilot.press("n")                                # into iteration k: the pane shows its η
            assert st.eta == st.eta_at(k) and f"η {fmt_num(st.eta_at(k))}" in status()
            assert f"η = {fmt_num(st.eta_at(k))}" in pane_text(app)[0]
            await pilot.press("c")                                # to its end: shown finished, with its own η
            assert f"iteration {k}/" in status() and "finished" in status() and f"η {fmt_num(st.eta_at(k))}" in status()
        assert st.eta_at(1) != st.eta_at(2) != st.eta_at(3)
