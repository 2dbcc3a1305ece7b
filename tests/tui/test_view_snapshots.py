"""Snapshots of the views issue 12 asked for: the finished update phase at 80×24 and 200×50 (Δw, its
heatmap and ‖Δw‖/‖w‖ for every param), and chain-rule paths revealed as the backward pass crosses them
(look at the SVGs before accepting them: --snapshot-update)."""
from __future__ import annotations

from gradstep.tui.app import GradstepApp

from tuitest import PATHS, TWO_LAYER


def press(*keys):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press(*keys)
        pilot.app.clear_notifications()
        await pilot.pause()
    return run_before


def test_finished_update_phase_small(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=(80, 24),
                        run_before=press("f", "f", "n", "n"))


def test_finished_update_phase_large(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=(200, 50),
                        run_before=press("f", "f", "n", "n"))


def test_chain_rule_paths_half_way(snap_compare):
    """e = (a + b)(b + 1): after e's and c's backward steps, ∂e/∂b has one of its two paths."""
    async def run_before(pilot) -> None:
        await pilot.press("f", "n", "n")
        pilot.app.selected = pilot.app.stepper.program.node("b").id
        pilot.app.clear_notifications()
        await pilot.pause()
    assert snap_compare(GradstepApp(PATHS, watch_file=False), terminal_size=(100, 30), run_before=run_before)
