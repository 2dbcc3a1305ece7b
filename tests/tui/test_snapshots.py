"""Snapshots of every screen a user sees (look at the SVGs before accepting them: --snapshot-update)."""
from __future__ import annotations

from gradstep.tui.app import GradstepApp

from tuitest import HERE, LOG_NEGATIVE, PATHS, TWO_LAYER

SMALL = (80, 24)


def press(*keys):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
    return run_before


def test_forward_phase(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL, run_before=press("n", "n", "n"))


def test_backward_midway(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL,
                        run_before=press("f", "n", "n", "n", "n"))


def test_backward_sum_over_paths(snap_compare):
    """b's two contributions, the running sum, and ∂e/∂b = 1·2 + 1·3 = 5."""
    async def run_before(pilot) -> None:
        await pilot.press("f", "f")
        pilot.app.selected = pilot.app.stepper.program.node("b").id
        await pilot.pause()
    assert snap_compare(GradstepApp(PATHS, watch_file=False), terminal_size=SMALL, run_before=run_before)


def test_update_phase(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL,
                        run_before=press("f", "f", "n"))


def test_help_screen(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL, run_before=press("question_mark"))


def test_error_screen(snap_compare, monkeypatch):
    monkeypatch.chdir(HERE)          # the screen shows the path as given: keep it the same everywhere
    assert snap_compare(GradstepApp("broken.toml", watch_file=False), terminal_size=SMALL)


def test_anomaly_stop(snap_compare):
    assert snap_compare(GradstepApp(LOG_NEGATIVE, watch_file=False), terminal_size=SMALL, run_before=press("c"))


def test_backward_midway_large(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=(200, 50),
                        run_before=press("f", "n", "n", "n", "n", "n", "n"))
