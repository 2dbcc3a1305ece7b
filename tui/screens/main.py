"""The main screen: status line, the four panes and the loss curve, and the Footer."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ..bindings import bindings
from ..widgets.gradients import GradientsPane
from ..widgets.graph import GraphPane
from ..widgets.losscurve import LossCurve
from ..widgets.status import Banner, StatusLine
from ..widgets.updates import UpdatesPane
from ..widgets.values import ValuesPane


class MainScreen(Screen):
    """Everything at once, pudb style. Bindings live here (not on the App) so that they do not
    reach into modal screens, where a typed 'e' or 'n' belongs to an input field."""

    BINDINGS = bindings()

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield Banner(id="banner")
        with Horizontal(id="panes"):
            with Vertical(id="left"):
                yield GraphPane(id="graph")
                yield ValuesPane(id="values")
            with Vertical(id="right"):
                yield GradientsPane(id="gradients")
                yield UpdatesPane(id="updates")
                yield LossCurve(id="loss")
        yield Footer()

    def on_mount(self) -> None:
        titles = {"graph": "Graph", "values": "Forward values", "gradients": "Gradients ∂E/∂·",
                  "updates": "Updates", "loss": "Loss"}
        for wid, title in titles.items():
            self.query_one(f"#{wid}").border_title = title
