"""Moving around the panes: ↑ and ↓ select a node in the graph, or scroll the pane that has the focus;
enter and z fold layers. Nothing here steps the Stepper."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .widgets.lines import LinePane

if TYPE_CHECKING:
    from .app import GradstepApp


def select(app: GradstepApp, delta: int) -> None:
    """↑ (-1) / ↓ (+1): the node above or below in the graph; with another pane focused, scroll that pane."""
    graph = app.main.graph
    pane = app.focused
    if isinstance(pane, LinePane) and pane is not graph:
        pane.scroll_to(y=max(0, round(pane.scroll_offset.y) + delta), animate=False, immediate=True)
        return
    app.selected = graph.neighbour(app.selected, delta, follow=True)


def toggle_layer(app: GradstepApp) -> None:
    """enter: fold or unfold the selected node's layer."""
    graph = app.main.graph
    if graph.toggle(app.selected):
        app.selected = graph.rows[graph.row_of[app.selected]].node
        app.schedule_redraw()


def toggle_all(app: GradstepApp) -> None:
    """z: fold every layer, or unfold them all."""
    graph = app.main.graph
    graph.toggle_all()
    if app.stepper is not None:
        app.selected = graph.rows[graph.row_of[app.selected]].node if graph.rows else 0
    app.schedule_redraw()
