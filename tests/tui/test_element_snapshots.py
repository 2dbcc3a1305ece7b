"""Snapshots of the element drill-down and of a 14-leaf graph, at 80×24 and 200×50 (look at the SVGs before
accepting them: --snapshot-update)."""
from __future__ import annotations

import pytest

from gradstep.tui.app import GradstepApp

from test_graph_edges import mlp
from tuitest import TWO_LAYER

SIZES = {"small": (80, 24), "large": (200, 50)}


def drill_down(pilot_app_keys=("f", "f")):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press(*pilot_app_keys)
        app = pilot.app
        app.selected = app.stepper.program.node("W1").id
        await pilot.press("t", *["right"] * 7, *["down"] * 3)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", list(SIZES))
def test_element_drill_down(snap_compare, size):
    """W1[3, 7] after the backward pass: its value, ∂E/∂W1[3, 7] = δ[3]·x[7], and −η·g."""
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SIZES[size], run_before=drill_down())


@pytest.mark.parametrize("size", list(SIZES))
def test_graph_of_fourteen_leaves(snap_compare, size, tmp_path_factory):
    """A 6-layer MLP (x, y and 12 params): W5 and b5 are drawn as inputs of their layer."""
    path = tmp_path_factory.mktemp("mlp") / "mlp6.toml"
    path.write_text(mlp(6))

    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
    assert snap_compare(GradstepApp(path, watch_file=False), terminal_size=SIZES[size], run_before=run_before)
