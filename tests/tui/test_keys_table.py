"""The bindings table drives the app: every row has its action, its 'when' column dims the right keys, the palette runs its rows, and app.py stays small."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import gradstep.tui.app
from gradstep.tui.app import GradstepApp
from gradstep.tui.bindings import ACTIONS, KeyState, When, can

from tuitest import TWO_LAYER, wait_for


def state(**kw) -> KeyState:
    base = dict(loaded=True, running=False, playing=False, at_start=False, at_end=False, foldable=True)
    return KeyState(**(base | kw))


def enabled(s: KeyState) -> set[str]:
    return {a.action for a in ACTIONS if can(a.when, s)}


ALWAYS = {"stop", "faster", "slower", "toggle_all", "open", "help", "quit"}


def test_every_row_of_the_table_is_an_action_of_the_app():
    for a in ACTIONS:
        assert callable(getattr(GradstepApp, f"action_{a.action}", None)), a.action


def test_with_no_scenario_only_the_file_keys_and_the_always_keys_act():
    none = KeyState(loaded=False, running=False, playing=False, at_start=True, at_end=True, foldable=False)
    assert enabled(none) == ALWAYS | {"reload"}


def test_during_a_background_run_only_play_acts_besides_the_always_keys():
    assert enabled(state(running=True)) == ALWAYS | {"play"}


def test_at_the_start_the_backward_keys_are_dimmed_and_at_the_end_the_forward_keys():
    start, end = enabled(state(at_start=True)), enabled(state(at_end=True))
    backward = {"back", "unfinish", "back_iteration", "start", "rewind"}
    forward = {"step", "finish", "iteration", "end", "play"}
    assert not backward & start and forward <= start
    assert not forward & end and backward <= end


def test_while_playing_the_play_keys_pause_even_at_either_end():
    s = enabled(state(playing=True, at_start=True, at_end=True))
    assert {"play", "rewind"} <= s


def test_fold_needs_a_node_of_a_layer():
    assert "toggle_layer" in enabled(state()) and "toggle_layer" not in enabled(state(foldable=False))


@pytest.mark.parametrize("when", list(When))
def test_every_kind_of_when_is_used(when):
    assert any(a.when is when for a in ACTIONS)


async def test_check_action_reads_the_table_in_the_running_app():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.check_action("back", ()) is None and app.check_action("step", ()) is True
        await pilot.press("n")
        assert app.check_action("back", ()) is True
        assert app.check_action("command_palette", ()) is True     # Textual's own: acts with a scenario


async def test_a_palette_entry_runs_its_action():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        rows = len(app.main.graph.rows)
        await pilot.press("ctrl+p", *"fold all")
        assert await wait_for(pilot, lambda: app.screen.query_one("CommandList").option_count >= 1, polls=300)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: len(app.main.graph.rows) < rows, polls=300)


def test_app_py_stays_well_under_350_lines():
    lines = len(Path(inspect.getfile(gradstep.tui.app)).read_text(encoding="utf-8").splitlines())
    assert lines < 350, lines
