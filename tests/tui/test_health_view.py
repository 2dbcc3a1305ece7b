"""Gradient health in the TUI agrees with stepping: the graph's badges count dead and saturated units, the history the fast path records equals health_now() of each iteration stepped node by node, H fills the holes first, a change of η forgets the future, and the sparklines scale as they say."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from rich.console import Console

from gradstep.engine import Phase, Stepper, fmt_num, load_scenario
from gradstep.tui.app import GradstepApp
from gradstep.tui.health import HealthHistory
from gradstep.tui.playback import PlayState
from gradstep.tui.screens.health import HealthScreen, health_table
from gradstep.tui.widgets.graph import GraphPane
from gradstep.tui.widgets.sparkline import BARS, sparkline

from tuitest import TWO_LAYER, wait_for

TANH = Path(__file__).parents[1] / "engine" / "optim_reference" / "case_sched_cosine.toml"


def line_of(app, name: str) -> str:
    graph = app.main.query_one(GraphPane)
    return str(graph.lines[graph.row_of[app.stepper.program.node(name).id]])


def at_end_of_backward(scenario, iteration: int) -> Stepper:
    """A Stepper stepped node by node to the end of an iteration's backward phase, then through its updates
    but the last (the one that would begin the next iteration)."""
    st = Stepper(scenario)
    st.seek_iteration(iteration)
    while st.cursor.phase is not Phase.UPDATE or st.cursor.index < st.cursor.length - 1:
        st.step()
    return st


async def test_badges_count_dead_and_saturated_units():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(160, 50)) as pilot:
        assert "dead" not in line_of(app, "h")                    # not computed yet
        await pilot.press("f")
        st = app.stepper
        h = st.value(st.program.node("h").id)
        f = st.value(st.program.node("f").id)
        assert f"dead {int(np.sum(h == 0))}/10" in line_of(app, "h")
        assert f"dead {int(np.sum(f == 0))}/2" in line_of(app, "f")
    app = GradstepApp(TANH, watch_file=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("f")
        st = app.stepper
        h = st.value(st.program.node("h").id)
        assert f"saturated {int(np.sum(np.abs(h) > 0.99))}/{h.size}" in line_of(app, "h")


async def test_H_fills_the_history_then_shows_it_and_it_equals_stepping():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        st = app.stepper
        await pilot.press(*("c",) * 6)                            # stepped node by node: no samples yet
        history: HealthHistory = app.debugger.health
        assert history.missing(st.iteration) == 1
        tick = st.tick
        await pilot.press("H")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
        assert st.tick == tick                                    # the replay came back where it was
        assert sorted(history.samples) == [1, 2, 3, 4, 5, 6]
        for k in (1, 6):
            stepped = at_end_of_backward(st.scenario, k).health_now()
            sample = history.samples[k]
            assert sample.grad_norm == stepped.grad_norm and sample.dead == stepped.dead
            assert sample.flow == stepped.flow
            last = st.program.nodes[st.program.params[-1]].name
            for name, ratio in stepped.update_ratio.items():       # all but the last param's, so far
                assert sample.update_ratio[name] == ratio
            assert last in sample.update_ratio
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#health-table").content)
        text = console.export_text()
        for label in ("‖∂E/∂W1‖", "‖ΔW2‖/‖W2‖", "dead h", "gradient flow"):
            assert label in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HealthScreen)


async def test_a_run_records_samples_and_a_change_of_eta_forgets_the_future():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        st = app.stepper
        await pilot.press("end")
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE)
        history = app.debugger.health
        assert history.missing(st.steps) is None and len(history.samples) == st.steps
        app.debugger.goto(40)
        await pilot.press("left_square_bracket")                  # η halves from iteration 40 on
        assert max(history.samples) == 39


def test_sparklines_scale_linearly_logarithmically_and_between_bounds():
    pts = [(k, float(k)) for k in range(1, 9)]
    assert sparkline(pts, 1, 8, 8, log=False) == "▁▂▃▄▅▆▇█"
    assert sparkline([(1, 1.0), (2, 10.0), (3, 100.0)], 1, 3, 3, log=True) == "▁▅█"
    assert sparkline([(1, 0.0), (2, 0.5), (3, 1.0)], 1, 3, 3, log=False, bounds=(0.0, 1.0)) == "▁▅█"
    assert sparkline([(1, 1.0), (3, float("nan"))], 1, 4, 4, log=False) == BARS[len(BARS) // 2] + " ! "
    assert len(sparkline([(k, 1.0 / k) for k in range(1, 1001)], 1, 1000, 40, log=True)) == 40


def test_the_table_reads_the_latest_value_of_each_measure():
    st = Stepper(load_scenario(TWO_LAYER))
    history = HealthHistory(st)
    st.run_iterations(10)
    now = st.health_now()                                         # the start of iteration 11: nothing yet
    table = health_table(history, now, st.iteration, 100)
    labels = [str(c) for c in table.columns[0]._cells]
    latest = [str(c) for c in table.columns[2]._cells]
    measures = history.measures(now)
    assert labels == [m.label for m in measures] and "‖∂E/∂W1‖" in labels
    for m, shown in zip(measures, latest):
        value = m.read(history.samples[10])
        assert shown == ("—" if value is None else fmt_num(value, 3))
