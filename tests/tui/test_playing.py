"""Pilot tests of playing, speed, background runs, go-to and the learning-rate keys."""
from __future__ import annotations

import re

import numpy as np

from gradstep.engine import Stepper, load_scenario
from gradstep.tui.app import GradstepApp
from gradstep.tui.playback import SPEEDS, PlayState
from gradstep.tui.screens.ask import AskNumber
from gradstep.tui.screens.prompt import Prompt
from gradstep.tui.widgets.losscurve import LossCurve

from tuitest import LONG_RUN, TWO_LAYER, picture, wait_for


async def test_play_pause_and_rewind():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        start = picture(st)
        app.playback.speed = SPEEDS.index(100)
        await pilot.press("space")
        assert await wait_for(pilot, lambda: st.tick >= 10)
        await pilot.press("space")
        assert app.playback.state is PlayState.IDLE
        paused = st.tick
        await pilot.pause(0.1)
        assert st.tick == paused                      # pausing stops the clock
        app.playback.speed = SPEEDS.index(1)                   # one step a second: rewinding is visibly under way
        await pilot.press("b")
        assert app.playback.state is PlayState.BACKWARD
        await pilot.press("b")
        assert app.playback.state is PlayState.IDLE and 0 < st.tick <= paused
        app.playback.speed = SPEEDS.index(100)
        await pilot.press("b")
        assert await wait_for(pilot, lambda: st.at_start)
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)   # rewinding stops by itself at tick 0
        assert picture(st) == start


async def test_speed_keys():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        s = app.playback.speed
        await pilot.press("plus")
        assert app.playback.speed == s + 1
        await pilot.press("minus", "minus")
        assert app.playback.speed == s - 1
        for _ in range(len(SPEEDS) + 2):
            await pilot.press("plus")
        assert SPEEDS[app.playback.speed] == 0                 # 'max' is the last speed
        for _ in range(len(SPEEDS) + 2):
            await pilot.press("minus")
        assert app.playback.speed == 0


async def test_play_at_max_speed_runs_whole_iterations_in_the_background():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        app.playback.speed = len(SPEEDS) - 1
        await pilot.press("space")
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)
        assert st.at_end
        headless = Stepper(load_scenario(TWO_LAYER))
        headless.run_iterations(headless.steps)
        for i in st.program.params:
            assert st.param(i).tobytes() == headless.param(i).tobytes()
        curve = app.main.query_one(LossCurve)
        assert curve.losses.tolist() == headless.losses.tolist()


async def test_escape_stops_a_long_run_and_the_app_answers():
    app = GradstepApp(LONG_RUN, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        await pilot.press("end")
        assert app.playback.state is PlayState.RUN
        assert app.check_action("step", ()) is None   # the Stepper belongs to the run
        assert await wait_for(pilot, lambda: len(app.main.query_one(LossCurve).losses) > 0)
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)
        assert 1 < st.iteration < st.steps
        assert st.cursor.index == 0                   # a run stops at the start of an iteration
        tick = st.tick
        await pilot.press("n")
        assert st.tick == tick + 1


async def test_go_to_iteration_back_and_forth():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        await pilot.press("g")
        assert isinstance(app.screen, Prompt)
        await pilot.press("ctrl+a", *"abc", "enter")           # not a number: the prompt stays
        assert isinstance(app.screen, Prompt)
        app.screen.query_one("Input").value = "7"
        await pilot.press("enter")
        assert st.cursor.iteration == 7 and st.cursor.index == 0
        at7 = picture(st)
        app.debugger.goto(90)                                            # far ahead: a background run
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)
        assert st.cursor.iteration == 90 and st.cursor.index == 0
        app.debugger.goto(7)
        await pilot.pause()
        assert picture(st) == at7
        await pilot.press("g", "escape")
        assert st.cursor.iteration == 7


async def test_learning_rate_keys():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        eta = st.eta
        await pilot.press("c")
        after_one = picture(st)
        await pilot.press("left_square_bracket")
        assert st.eta == eta / 2 and st.eta_at(1) == eta     # from the current iteration on
        await pilot.press("right_square_bracket")
        assert st.eta == eta
        assert picture(st) == after_one
        await pilot.press("e")
        assert isinstance(app.screen, AskNumber)
        app.screen.query_one("Input").value = "0.5"
        await pilot.press("enter")
        assert st.eta == 0.5
        w = {i: st.param(i).copy() for i in st.program.params}
        await pilot.press("c")
        for i in st.program.params:                            # the update used the new η
            u = [x for x in _updates_at_end(st) if x[0] == i][0]
            np.testing.assert_array_equal(st.param(i), w[i] - 0.5 * u[1])


def _updates_at_end(st):
    """The gradients of the iteration just finished: step back one node into it and read them."""
    st.back()
    out = [(u.param, u.grad.copy()) for u in st.updates()]
    st.step()
    return out


async def test_a_run_owns_the_stepper_no_pane_reads_it_meanwhile(tmp_path):
    """While a background run trains, a relayout (a resize, the banner hidden) redraws the panes' rows from
    what they showed when it started, never from the Stepper its thread is changing (a row made then could
    meet a value the run had just cleared: float(None) in the Values pane)."""
    from gradstep.tui.widgets.gradients import GradientsPane
    from gradstep.tui.widgets.values import ValuesPane
    path = tmp_path / "longer.toml"                   # long enough to outlast three resizes on any machine
    path.write_text(re.sub(r"(?m)^steps\s*=\s*\d+", "steps = 1000000", TWO_LAYER.read_text()))
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        st.run_phase()                                # values on every line of the Values pane
        app.after_motion()
        await pilot.pause()
        read_while_running = []
        started = False
        for pane in (app.main.query_one(ValuesPane), app.main.query_one(GradientsPane)):
            make = pane._line

            def spy(*args, _make=make, _pane=type(pane).__name__):
                if started and app.playback.running:
                    read_while_running.append(_pane)
                return _make(*args)
            pane._line = spy
        await pilot.press("end")                      # the panes take what they show, then the thread starts
        started = True
        assert app.playback.state is PlayState.RUN
        for size in ((140, 44), (80, 24), (120, 40)):      # each relayout redraws every row on screen
            await pilot.resize_terminal(*size)
            await pilot.pause(0.05)
        assert app.playback.state is PlayState.RUN, "the run ended before the resizes: make LONG_RUN longer"
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)
        assert read_while_running == []
        await pilot.pause()
        values = app.main.query_one(ValuesPane).lines     # after the run: made from the Stepper again
        assert any(" = " in t.plain for t in values)
