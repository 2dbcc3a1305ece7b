"""Pilot tests of the breakpoint keys: B pins one by the phase shown, i types a condition checked as it is typed, L lists them (toggle, edit, delete), > and < stand exactly where the engine does, esc stops a long continue, g takes a step, and a reload keeps them."""
from __future__ import annotations

from gradstep.engine import Place, Stepper, load_scenario
from gradstep.engine.limits import MAX_BREAKPOINTS
from gradstep.tui.app import GradstepApp
from gradstep.tui.breakpoints import UserBreakpoints
from gradstep.tui.playback import PlayState
from gradstep.tui.screens.breakpoints import BreakpointList
from gradstep.tui.screens.prompt import Prompt
from gradstep.tui.widgets.status import Banner

from tuitest import BUNDLED, LONG_RUN, TWO_LAYER, picture, wait_for

MOMENTUM = BUNDLED / "momentum_valley.toml"


def places(st) -> list[tuple]:
    """The breakpoints as (condition text, node name, phase, enabled)."""
    p = st.program
    return [(bp.condition.text if bp.condition else None, p.nodes[bp.at].name if bp.at is not None else None,
             bp.phase, bp.enabled) for bp in st.breakpoints]


def inner(st, name: str) -> int:
    """An inner node's id (program.node knows only the scenario's names)."""
    return next(n.id for n in st.program.nodes if n.name == name)


def banner(app) -> str:
    return str(app.main.query_one(Banner).render())


async def idle(pilot, app) -> bool:
    return await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)


async def type_in(pilot, app, text: str) -> None:
    """Replace the prompt's text by typing it (each key is checked as it comes)."""
    app.screen.query_one("Input").value = ""
    await pilot.press(*text)


async def test_B_pins_a_breakpoint_to_the_step_of_the_phase_shown_and_clears_it():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        p = st.program
        app.selected = p.node("h").id
        await pilot.press("B")
        assert places(st) == [(None, "h", Place.FORWARD, True)]
        assert "●" in str(app.main.graph.lines[app.main.graph.row_of[p.node("h").id]])
        st.run_phase()                                            # past the forward phase without stopping
        st.run_phase()
        app.after_motion()
        app.selected = p.node("h").id
        await pilot.press("B")                                    # the backward phase is shown now
        assert places(st)[1] == (None, "h", Place.BACKWARD, True)
        app.selected = p.node("W1").id
        await pilot.press("B")                                    # a param: its update
        assert places(st)[2] == (None, "W1", Place.UPDATE, True)
        app.selected = p.node("h").id
        await pilot.press("B")                                    # again: cleared
        assert places(st) == [(None, "h", Place.FORWARD, True), (None, "W1", Place.UPDATE, True)]
        app.selected = p.node("x").id                             # an input passes no gradient on
        await pilot.press("B")
        app.selected = inner(st, "W1 @ x")                        # an inner node has no name of its own
        await pilot.press("B")
        assert len(st.breakpoints) == 2


async def test_stepping_onto_a_pinned_step_stops_there_and_says_so():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        app.selected = st.program.node("f").id
        await pilot.press("B")
        await pilot.press("c")                                    # a whole iteration: stops at f instead
        f = st.program.node("f").id
        assert st.stop is not None and st.stop.node == f and st.cursor.iteration == 1
        assert st.value(f) is not None and st.tick == st.program.ops.index(f) + 1
        assert "breakpoint 1 hit" in banner(app)
        await pilot.press("n")
        assert "breakpoint 1 hit" not in banner(app)


async def test_a_condition_is_checked_as_it_is_typed_and_a_bad_one_adds_nothing():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        await pilot.press("i")
        assert isinstance(app.screen, Prompt)
        await type_in(pilot, app, "los < 0.01")
        assert "unknown name 'los'" in app.screen.problem and "did you mean 'loss'" in app.screen.problem
        shown = str(app.screen.query_one("#prompt-problem").render())
        assert "did you mean 'loss'" in shown
        await pilot.press("enter")                                # refused: the prompt stays, nothing added
        assert isinstance(app.screen, Prompt) and st.breakpoints == []
        await type_in(pilot, app, "h > 0")                        # ten tests, not one
        assert "any(...)" in app.screen.problem
        await type_in(pilot, app, "loss < 0.01")
        assert app.screen.problem is None
        await pilot.press("enter")
        assert not isinstance(app.screen, Prompt)
        assert places(st) == [("loss < 0.01", None, None, True)]
        await pilot.press("i", "escape")                          # cancelled: still one
        assert len(st.breakpoints) == 1


async def test_the_list_toggles_edits_and_deletes_and_a_bad_edit_keeps_the_breakpoints():
    app = GradstepApp(MOMENTUM, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        assert places(st) == [("changed(w[1] > 0)", None, None, False)]      # the file's, disabled
        app.debugger.breaks.add(st, "loss < 0.5")
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, BreakpointList) and [r[0] for r in screen.rows] == ["break", "break"]
        await pilot.press("space")                                # enable the file's
        assert st.breakpoints[0].enabled
        await pilot.press("down", "e")                            # edit the second
        assert isinstance(app.screen, Prompt) and app.screen.query_one("Input").value == "loss < 0.5"
        before = places(st)
        await type_in(pilot, app, "loss < w2")
        assert "did you mean 'w'" in app.screen.problem
        await pilot.press("enter", "escape")                      # refused, then cancelled
        assert places(st) == before
        app.debugger._set_condition("loss < (", st.breakpoints[1].id, None)     # as if it got past the prompt
        assert places(st) == before                               # the engine refused it: nothing changed
        await pilot.press("e")
        await type_in(pilot, app, "loss < 0.25")
        await pilot.press("enter")
        assert isinstance(app.screen, BreakpointList)
        assert places(st) == [("changed(w[1] > 0)", None, None, True), ("loss < 0.25", None, None, True)]
        text = " ".join(str(app.screen.table.get_row_at(r)) for r in range(app.screen.table.row_count))
        assert "loss < 0.25" in text
        await pilot.press("d")
        assert places(st) == [("changed(w[1] > 0)", None, None, True)]
        await pilot.press("escape")
        assert not isinstance(app.screen, BreakpointList)


async def test_continue_stands_where_the_engine_does_and_reverse_continue_comes_back_bit_for_bit():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        app.debugger.breaks.add(st, "loss < 0.01")
        headless = Stepper(load_scenario(TWO_LAYER))
        headless.add_breakpoint("loss < 0.01")
        stop = headless.continue_()
        await pilot.press("greater_than_sign")
        assert await idle(pilot, app)
        assert st.tick == headless.tick == stop.tick and st.stop == stop
        assert picture(st) == picture(headless)
        assert "breakpoint 1 hit: loss < 0.01" in banner(app)
        assert app.selected == stop.node
        first = picture(st)
        await pilot.press("greater_than_sign")                    # the next hit: the next iteration's loss
        assert await idle(pilot, app)
        assert st.stop.iteration == stop.iteration + 1
        await pilot.press("less_than_sign")
        assert await idle(pilot, app)
        assert picture(st) == first and st.stop.tick == stop.tick
        assert "breakpoint 1 hit" in banner(app)


async def test_escape_stops_a_long_continue_and_the_app_answers():
    app = GradstepApp(LONG_RUN, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        app.debugger.breaks.add(st, "loss < 0")                   # never holds
        await pilot.press("greater_than_sign")
        assert app.playback.state is PlayState.RUN
        assert await wait_for(pilot, lambda: "continue: iteration" in str(app.main.status.render()))
        await pilot.press("escape")
        assert await idle(pilot, app)
        assert 1 < st.iteration < st.steps and st.stop is None
        tick = st.tick
        await pilot.press("n")
        assert st.tick == tick + 1


async def test_play_stops_at_a_hit():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        app.selected = st.program.node("E").id
        await pilot.press("B")
        app.playback.speed = 6                                    # 100 steps a second
        await pilot.press("space")
        assert await idle(pilot, app)
        assert st.stop is not None and st.stop.node == st.program.node("E").id and st.cursor.iteration == 1


async def test_reverse_continue_with_nothing_enabled_says_so_and_stays():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c", "less_than_sign")
        assert app.playback.state is PlayState.IDLE and app.stepper.tick == app.stepper.per_iteration


async def test_go_to_a_step_of_an_iteration():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        await pilot.press("g")
        await type_in(pilot, app, "5 backward hh")
        assert "did you mean 'h'" in app.screen.problem
        await type_in(pilot, app, "5 backward h")
        await pilot.press("enter")
        assert st.tick == st.place_tick("5 backward h") and st.cursor.iteration == 5
        h = st.program.node("h").id
        assert st.grad_status(inner(st, "W1 @ x"))[0] == 1 and st.grad(h) is not None
        app.debugger.goto("90 update W1")                         # far ahead: in the background, then the step
        assert await idle(pilot, app)
        assert st.tick == st.place_tick("90 update W1")
        headless = Stepper(load_scenario(TWO_LAYER))
        headless.seek(st.tick)
        assert picture(st) == picture(headless)


async def test_no_more_than_the_limit():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        for k in range(MAX_BREAKPOINTS):
            app.debugger.breaks.add(st, f"loss < {k}")
        await pilot.press("i")
        assert not isinstance(app.screen, Prompt) and len(st.breakpoints) == MAX_BREAKPOINTS


async def test_a_condition_that_meets_nan_counts_as_false_and_is_reported_once():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        app.debugger.breaks.add(st, "mean(h * 0) / 0 > 1")
        said: list[str] = []
        notify = app.notify
        app.notify = lambda message, **kw: (said.append(message), notify(message, **kw))[1]
        await pilot.press("c", "c", "c")
        assert st.stop is None and st.cursor.iteration == 4
        assert len([m for m in said if "met nan" in m]) == 1


async def test_a_reload_keeps_the_breakpoints_and_watches_and_drops_what_no_longer_compiles(scenario_copy):
    path = scenario_copy(MOMENTUM)
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        breaks: UserBreakpoints = app.debugger.breaks
        breaks.toggle(st, st.breakpoints[0].id)                   # the file's, enabled by hand
        breaks.add(st, "loss < 0.5")
        breaks.add(st, "curvature[0] > 1")
        breaks.add_watch(st, "norm(w)")
        breaks.add_watch(st, "curvature")
        await pilot.press("r")
        new = app.stepper
        assert new is not st
        assert places(new) == [("changed(w[1] > 0)", None, None, True), ("loss < 0.5", None, None, True),
                               ("curvature[0] > 1", None, None, True)]
        assert [w.text for w in app.debugger.breaks.watches] == ["norm(w)", "curvature"]
        said: list[str] = []
        notify = app.notify
        app.notify = lambda message, **kw: (said.append(message), notify(message, **kw))[1]
        path.write_text(path.read_text().replace("curvature", "stiffness"))
        await pilot.press("r")
        assert places(app.stepper) == [("changed(w[1] > 0)", None, None, True), ("loss < 0.5", None, None, True)]
        assert [w.text for w in app.debugger.breaks.watches] == ["norm(w)"]
        assert any("curvature[0] > 1" in m and "watch curvature" in m for m in said)


def test_continue_and_reverse_continue_are_each_others_twin_in_the_help():
    import io

    from rich.console import Console

    from gradstep.tui.bindings import by_action
    from gradstep.tui.screens.help import key_table
    assert (by_action("continue").twin, by_action("reverse_continue").twin) == ("<", ">")
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(key_table())
    rows = [ln.split() for ln in console.export_text().splitlines()]
    assert any(r[:2] == [">", "Continue:"] and r[-1] == "<" for r in rows)
    assert any(r[:2] == ["<", "Reverse-continue:"] and r[-1] == ">" for r in rows)


async def test_no_more_watches_than_the_limit():
    from gradstep.engine.limits import MAX_WATCHES
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        for k in range(MAX_WATCHES):
            app.debugger.breaks.add_watch(st, f"W1[0, {k}]")
        await pilot.press("w", *"norm(W2)", "enter")              # the prompt accepts it; the limit refuses it
        assert len(app.debugger.breaks.watches) == MAX_WATCHES and not isinstance(app.screen, Prompt)
