"""The error screen: a scenario that does not load, shown whole, with a way to go on."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from gradstep.engine import visible

from ..palette import ERROR_TEXT, SOFT


class ErrorScreen(Screen[None]):
    """Shown when a scenario cannot be loaded and there is no good graph to fall back on."""

    BINDINGS = [
        Binding("o", "app.open", "open another", priority=True),
        Binding("r", "app.reload", "retry", priority=True),
        Binding("question_mark", "app.help", "help", priority=True),
        Binding("q", "app.quit", "quit", priority=True),
    ]

    def __init__(self, path: str, message: str):
        super().__init__()
        self.path = path
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(Text(f"The scenario {visible(self.path, newlines=False)} could not be loaded:", style="bold"))
            yield Static(Text(visible(self.message), style=ERROR_TEXT), id="error-message")
            yield Static(Text("Fix the file and save it (it is reloaded automatically), press r to retry, "
                              "o to open another scenario, or q to quit.", style=SOFT))
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#error-box").border_title = "Scenario error"

    def set_message(self, message: str) -> None:
        self.message = message
        self.query_one("#error-message", Static).update(Text(visible(message), style=ERROR_TEXT))
