"""The Watches pane shows each expression's value as the engine evaluates it at the tick shown, 'not available' before it is, a changed value highlighted, and stays hidden with no watch."""
from __future__ import annotations

import numpy as np

from gradstep.engine import Unavailable, compile_condition
from gradstep.tui.app import GradstepApp
from gradstep.tui.screens.prompt import Prompt
from gradstep.tui.widgets import tensorview
from gradstep.tui.widgets.watches import WatchesPane

from tuitest import TWO_LAYER

WATCHES = ("norm(grad(W1))", "h", "loss < 0.3", "W2[1, 3]", "dead(h)", "update(W2)")


def expected(st, text: str) -> str:
    """The value as the engine computes it, formatted as the panes format tensors."""
    cond = compile_condition(text, st.program, test=False)
    try:
        with np.errstate(all="ignore"):
            value = cond.evaluate(st.view(), cond.new_memory())
    except Unavailable:
        return "not available at this tick"
    return tensorview.short(value, 1000)


def shown(app) -> dict[str, str]:
    pane = app.main.query_one(WatchesPane)
    return dict(str(line).split(" = ", 1) for line in pane.lines)


async def test_watch_values_follow_the_engine_tick_by_tick():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(200, 60)) as pilot:
        st = app.stepper
        pane = app.main.query_one(WatchesPane)
        assert not pane.has_class("-shown")                       # no watch: no pane
        await pilot.press("w")
        assert isinstance(app.screen, Prompt)
        await pilot.press(*"norm(grad(W1))", "enter")
        for text in WATCHES[1:]:
            app.debugger.breaks.add_watch(st, text)
        await pilot.press("n")
        assert pane.has_class("-shown")
        seen: set[str] = set()
        for _ in range(st.per_iteration + 3):                     # through a whole iteration and into the next
            values = shown(app)
            assert list(values) == list(WATCHES)
            for text in WATCHES:
                assert values[text] == expected(app.shown, text), (st.tick, text)   # a finished iteration: its own
            seen.update(values.values())
            await pilot.press("n")
        assert "not available at this tick" in seen and {"true", "false"} & seen


async def test_a_changed_value_is_highlighted_and_a_bad_watch_is_refused():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(200, 60)) as pilot:
        st = app.stepper
        app.debugger.breaks.add_watch(st, "W2[0, 3]")
        app.debugger.breaks.add_watch(st, "x[0]")
        await pilot.press("f", "f", "n")                          # W1 updated: W2 not yet
        await pilot.press("n")                                    # W2 updated: its value changed
        pane = app.main.query_one(WatchesPane)
        styles = [{str(span.style) for span in line.spans} for line in pane.lines]
        from gradstep.tui.palette import CHANGED
        assert CHANGED in styles[0] and CHANGED not in styles[1]
        await pilot.press("w", *"norm(W3)", "enter")              # refused: the prompt stays and names it
        assert isinstance(app.screen, Prompt) and "unknown name 'W3'" in app.screen.problem
        await pilot.press("escape")
        assert [w.text for w in app.debugger.breaks.watches] == ["W2[0, 3]", "x[0]"]
