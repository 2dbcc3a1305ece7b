"""A listed row drawn after the Stepper moved but before the next redraw (a resize or a scroll between a key
and its redraw) says the value or gradient is gone ('—') instead of raising inside the compositor (the
monkey test met float(None) in the Gradients pane on iris_softmax)."""
from __future__ import annotations

from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.gradients import GradientsPane
from gradstep.tui.widgets.values import ValuesPane

from tuitest import TWO_LAYER


async def test_rows_listed_before_a_step_back_draw_without_the_stepper_having_them():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f", "f")                       # every value and gradient of the iteration
        await pilot.pause()
        panes = [app.main.query_one(ValuesPane), app.main.query_one(GradientsPane)]
        listed = [len(p.lines) for p in panes]
        app.stepper.seek(0)                               # the engine moves; no redraw has run yet
        for pane, n in zip(panes, listed):
            pane._strips.clear()
            rows = [pane.row(i).plain for i in range(n)]  # what a relayout would draw now
            assert any("= —" in r for r in rows), [r for r in rows if "=" in r]
        app.after_motion()                                # what a key does next: the redraw
        await pilot.pause()
        assert not any("= —" in t.plain for p in panes for t in p.lines)
