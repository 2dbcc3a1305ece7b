"""The finished update phase stays on screen: after the step that updates the last param, the status line
reads `update 2/2 finished`, every param shows as updated with its Δw and ‖Δw‖/‖w‖, the graph has no
next step, and n goes on into the next iteration while p goes back to `update 1/2` (issue 12, item 5)."""
from __future__ import annotations

import numpy as np

from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.graph import GraphPane
from gradstep.tui.widgets.status import StatusLine
from gradstep.tui.widgets.updates import UpdatesPane

from tuitest import TWO_LAYER


def status(app) -> str:
    return str(app.main.query_one(StatusLine).render())


def updates(app) -> str:
    return "\n".join(line.plain for line in app.main.query_one(UpdatesPane).lines)


async def test_the_last_update_stays_on_screen_until_the_next_motion():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("f", "f", "n")
        assert "update 1/2" in status(app)
        await pilot.press("n")                                  # W2's update ends iteration 1
        st = app.stepper
        assert st.iteration == 2 and "iteration 1/100" in status(app) and "update 2/2 finished" in status(app)
        text = updates(app)
        assert "iteration 1, just finished" in text and text.count("updated") == 2 and "next" not in text
        assert text.count("‖Δw‖/‖w‖ —") == 0 and text.count("‖Δw‖/‖w‖ ") == 2
        graph = app.main.query_one(GraphPane)
        assert not any(line.plain.startswith("▶") for line in graph.lines)    # no next step shown
        shown = app.shown
        for u in shown.updates():                               # Δw is exactly the change the Stepper made
            assert np.array_equal(u.w + u.step, st.param(u.param))
        await pilot.press("p")                                  # back: update 1/2, as the screen suggests
        assert "update 1/2" in status(app) and "finished" not in status(app)
        await pilot.press("n", "n")                             # past it: iteration 2 runs
        assert "iteration 2/100" in status(app) and "forward 1/7" in status(app)


async def test_a_whole_iteration_ends_on_its_finished_update_phase():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c", "c")
        assert "iteration 2/100" in status(app) and "update 2/2 finished" in status(app)
        heads = [x for x in updates(app).splitlines() if x.split()[:1] in (["W1"], ["W2"])]
        assert len(heads) == 2 and all("updated  ‖Δw‖/‖w‖ " in x for x in heads)   # a short pane: on the line
        await pilot.press("C")                                  # c's twin: back where the second c began
        assert "iteration 1/100" in status(app) and "update 2/2 finished" in status(app)
        await pilot.press("home", "g")                          # a jump to an iteration's start: not 'finished'
        await pilot.press(*"3", "enter")
        assert "iteration 3/100" in status(app) and "forward 0/7" in status(app)
