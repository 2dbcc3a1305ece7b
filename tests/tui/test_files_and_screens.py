"""Pilot tests of reload (by key and on file change), open, the palette, grad check, help, quit,
the error screen, layers and the anomaly stop."""
from __future__ import annotations

import math
import os

from gradstep.scenarios import bundled_dir
from gradstep.tui.app import GradstepApp
from gradstep.tui.bindings import ACTIONS
from gradstep.tui.screens.error import ErrorScreen
from gradstep.tui.screens.gradcheck import GradCheckScreen
from gradstep.tui.screens.help import HelpScreen, key_table
from gradstep.tui.screens.picker import OpenScenario
from gradstep.tui.widgets.graph import GraphPane
from gradstep.tui.widgets.status import Banner

from tuitest import CHAIN, LOG_NEGATIVE, PATHS, TWO_LAYER, picture, wait_for


def bump(path):
    """Make sure the poll sees a change even within the file system's time resolution."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def banner_text(app) -> str:
    return str(app.main.query_one(Banner).render())


async def test_reload_key_and_automatic_reload(scenario_copy):
    path = scenario_copy(CHAIN)
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        path.write_text(path.read_text().replace("x = 1.5", "x = 2.0"))
        await pilot.press("r")
        st = app.stepper
        assert st.tick == 1                                  # the position is kept
        assert st.value(st.program.node("u").id) == 4.0
        path.write_text(path.read_text().replace("x = 2.0", "x = 3.0"))
        bump(path)
        app.source.poll()
        await pilot.pause()
        assert app.stepper.value(app.stepper.program.node("u").id) == 9.0


async def test_broken_edit_keeps_the_last_good_graph_and_fixing_recovers(scenario_copy):
    path = scenario_copy(CHAIN)
    good = path.read_text()
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n")
        st = app.stepper
        before = picture(st)
        path.write_text(good.replace('v = "sin(u)"', 'v = "sin(u"'))
        bump(path)
        app.source.poll()
        await pilot.pause()
        assert app.stepper is st and picture(st) == before
        assert "reload failed" in banner_text(app) and "chain_rule.toml" in banner_text(app)
        await pilot.press("n")                               # still usable
        assert st.tick == 3
        path.write_text(good.replace("x = 1.5", "x = 0.5"))
        bump(path)
        app.source.poll()
        await pilot.pause()
        assert app.stepper is not st and app.source.error is None
        assert app.stepper.value(app.stepper.program.node("u").id) == 0.25
        assert "reload failed" not in banner_text(app)


async def test_deleted_file_is_reported_and_coming_back_recovers(scenario_copy):
    path = scenario_copy(CHAIN)
    text = path.read_text()
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        path.unlink()
        app.source.poll()
        await pilot.pause()
        assert "missing" in banner_text(app)
        await pilot.press("n")
        assert st.tick == 1
        await pilot.press("r")                                # a reload of a missing file fails softly
        assert app.stepper is st
        path.write_text(text)
        app.source.poll()
        await pilot.pause()
        assert app.stepper is not st and "missing" not in banner_text(app)


async def test_a_bad_file_shows_the_error_screen_and_the_app_stays_usable(scenario_copy, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[graph]\ny = "x +"\n')
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, ErrorScreen)
        assert "bad.toml" in app.screen.message
        await pilot.press("o")
        assert isinstance(app.screen, OpenScenario)
        await pilot.press("escape")
        assert isinstance(app.screen, ErrorScreen)
        path.write_text(CHAIN.read_text())
        await pilot.press("r")
        assert not isinstance(app.screen, ErrorScreen)
        await pilot.press("n")
        assert app.stepper.tick == 1


async def test_open_with_the_file_picker():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        picker = app.screen
        assert isinstance(picker, OpenScenario) and picker.start == bundled_dir()
        picker.query_one("#picker-path").value = str(PATHS)
        picker.query_one("#picker-path").focus()
        await pilot.press("enter")
        assert app.path == PATHS and app.stepper.scenario.title.startswith("Sum over paths")


async def test_open_from_the_command_palette():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"chain_rule")
        assert await wait_for(pilot, lambda: app.screen.query_one("CommandList").option_count == 1, polls=300)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: app.path == CHAIN, polls=300)


async def test_gradient_check_shows_one_line_per_param():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, GradCheckScreen))
        report = app.screen.report
        names = {c.name for c in report.leaves}
        assert {"W1", "W2"} <= names and report.passed
        await pilot.press("escape")
        assert not isinstance(app.screen, GradCheckScreen)


async def test_help_lists_every_key_and_quit_exits():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        from rich.console import Console
        console = Console(width=120, record=True, file=open(os.devnull, "w"))
        console.print(key_table())
        text = " ".join(console.export_text().split())
        for a in ACTIONS:
            assert " ".join(a.display.split()) in text and " ".join(a.help.split()[:3]) in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_enter_folds_and_unfolds_a_layer():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.main.query_one(GraphPane)
        n = len(graph.rows)
        h = app.stepper.program.node("h").id
        app.selected = h
        await pilot.press("enter")
        assert len(graph.rows) == n - 1 and graph.rows[graph.row_of[h]].folded
        await pilot.press("enter")
        assert len(graph.rows) == n
        await pilot.press("z")
        assert len(graph.rows) == n - 1 - 1 - 2               # h, f and E fold: 1 + 1 + 2 lines hidden
        await pilot.press("z")
        assert len(graph.rows) == n


async def test_anomaly_stops_on_the_node_and_back_still_works():
    app = GradstepApp(LOG_NEGATIVE, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        start = picture(st)
        await pilot.press("c")                                  # would run the whole iteration
        v = st.program.node("v").id
        assert st.anomaly is not None and st.anomaly.node == v
        assert math.isnan(float(st.value(v)))
        assert st.tick == 2                                     # stopped right after the node
        assert app.selected == v
        assert "numeric anomaly" in banner_text(app) and "log" in banner_text(app)
        assert "-2" in banner_text(app)                         # the input value that caused it
        await pilot.press("p")
        assert st.anomaly is None and "numeric anomaly" not in banner_text(app)
        await pilot.press("p")
        assert picture(st) == start
