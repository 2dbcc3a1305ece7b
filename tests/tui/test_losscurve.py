"""The loss curve's data: column means skip non-finite losses, the all-finite shortcut agrees with the masked path, a run's points fill flat, and η is marked where it changes by a step (set from the debugger, a step schedule) and nowhere for smooth schedules."""
from __future__ import annotations

import math

import numpy as np

from pathlib import Path

from gradstep.engine import Stepper, load_scenario
from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.losscurve import MARK, LossCurve, column_means, eta_marks

from tuitest import TWO_LAYER

REFERENCE = Path(__file__).parents[1] / "engine" / "optim_reference"


def masked(losses: np.ndarray, cols: int) -> list[float]:
    return column_means(losses, np.isfinite(losses), cols)


def test_a_column_is_the_mean_of_its_finite_losses_and_nan_without_any():
    x = np.array([1.0, np.nan, 3.0, np.inf, np.nan, -np.inf, 5.0, 7.0])
    means = masked(x, 4)                         # columns: [1, nan] [3, inf] [nan, -inf] [5, 7]
    assert means[0] == 1.0 and means[1] == 3.0 and math.isnan(means[2]) and means[3] == 6.0


def test_the_all_finite_shortcut_agrees_with_the_masked_path():
    rng = np.random.default_rng(8)
    for n, cols in ((7, 7), (1000, 70), (100_003, 151)):
        x = rng.lognormal(size=n)
        assert column_means(x, None, cols) == masked(x, cols)


def test_uneven_columns_cover_every_iteration_once():
    x = np.arange(10.0)
    assert column_means(x, None, 4) == [0.5, 3.0, 5.5, 8.0]    # [0,1] [2,3,4] [5,6] [7,8,9]


def test_a_runs_points_fill_the_iterations_between_them_flat():
    curve = LossCurve()
    curve.set_losses([4.0, 3.0], 2)
    curve.add_point(5, 1.0)
    curve.add_point(4000, 0.5)                   # the buffer grows
    assert curve.losses[:5].tolist() == [4.0, 3.0, 3.0, 3.0, 1.0]
    assert len(curve.losses) == 4000 and set(curve.losses[5:3999].tolist()) == {1.0} and curve.losses[-1] == 0.5
    assert not curve.exact and curve.current == 4000
    curve.add_point(4001, None)                  # no loss known: nothing is made up
    assert len(curve.losses) == 4000 and curve.current == 4001


def test_eta_is_marked_where_it_changes_by_a_step():
    st = Stepper(load_scenario(TWO_LAYER))
    assert eta_marks(st) == ()
    st.seek_iteration(5)
    st.set_eta(0.01)
    st.seek_iteration(30)
    st.set_eta(0.02)
    assert eta_marks(st) == (5, 30)
    step = Stepper(load_scenario(REFERENCE / "case_sched_step.toml"))          # every 3 of 10 iterations
    assert eta_marks(step) == (4, 7, 10)
    assert all(step.eta_at(k) != step.eta_at(k - 1) for k in eta_marks(step))
    cosine = Stepper(load_scenario(REFERENCE / "case_sched_cosine.toml"))      # changes every iteration
    assert eta_marks(cosine) == ()


async def test_the_curve_draws_the_marks_of_an_eta_set_in_the_app():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*("c",) * 10)
        curve = app.main.query_one(LossCurve)
        assert MARK not in curve.render().plain
        await pilot.press("left_square_bracket", *("c",) * 10)    # η halves from iteration 11 on
        assert curve.marks == (11,)
        assert MARK in curve.render().plain and "η changes" in curve.render().plain
