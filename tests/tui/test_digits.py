"""Every digit: the selected node's value, gradient, contributions and update show float64 in full (as repr
prints it) while the lists keep 4 significant digits; d toggles the detail to 4 digits and back. The
numbers are computed here with math, independently of the engine: f = e^(sin(x²)) at x = 1.5."""
from __future__ import annotations

import math

import numpy as np

from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.gradients import GradientsPane
from gradstep.tui.widgets.updates import UpdatesPane
from gradstep.tui.widgets.values import ValuesPane

from tuitest import BUNDLED, CHAIN

MOMENTUM = BUNDLED / "momentum_valley.toml"

X = 1.5
F = math.exp(math.sin(X ** 2))
DFDX = F * math.cos(X ** 2) * 2 * X


def lines(app, pane) -> list[str]:
    return [line.plain for line in app.main.query_one(pane).lines]


async def test_the_selected_value_and_gradient_show_every_digit_and_the_lists_four():
    app = GradstepApp(CHAIN, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f")                                   # f computed and selected
        values = lines(app, ValuesPane)
        assert repr(F) == "2.177273044783055" and f"  {F!r}" in values
        assert "f = 2.177" in values                             # the list: short
        await pilot.press("f")                                   # the backward pass
        app.selected = app.stepper.program.node("x").id
        await pilot.pause()
        grads = lines(app, GradientsPane)
        assert f"  {DFDX!r}" in grads and any(g.startswith("∂f/∂x = ") and len(g) < 20 for g in grads)
        await pilot.press("d")                                   # 4 digits everywhere
        assert f"  {DFDX:.4g}" in lines(app, GradientsPane) and f"  {DFDX!r}" not in lines(app, GradientsPane)
        await pilot.press("d")
        assert f"  {DFDX!r}" in lines(app, GradientsPane)


async def test_the_update_of_the_param_just_updated_shows_every_digit():
    app = GradstepApp(MOMENTUM, watch_file=False)               # E = ½·Σ curvature·w², μ = 0.9, η = 0.05
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f", "f", "n")                         # w's update, the only param: iteration 1 ends
        g = np.array([0.1, 5.0]) * np.array([-4.0, 1.0])
        dw = -0.05 * g                                           # the first step: b = g
        text = "\n".join(lines(app, UpdatesPane))
        assert f"[{float(dw[0])!r}, {float(dw[1])!r}]" in text, text
        await pilot.press("d")
        text = "\n".join(lines(app, UpdatesPane))
        assert f"[{dw[0]:.4g}, {dw[1]:.4g}]" in text and f"{float(dw[0])!r}" not in text
