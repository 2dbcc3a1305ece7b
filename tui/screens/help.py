"""The help screen: every key, what it does and its reverse twin, generated from the bindings table."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..bindings import ACTIONS
from ..palette import ACCENT, HIGHLIGHT, MUTED


def key_table() -> Table:
    """Key, action, reverse twin: the same rows as the README's table."""
    t = Table(box=None, pad_edge=False, expand=True, show_edge=False)
    t.add_column("key", style=f"bold {HIGHLIGHT}", no_wrap=True)
    t.add_column("action", ratio=1)
    t.add_column("undo", style=ACCENT, no_wrap=True)
    for a in ACTIONS:
        t.add_row(Text(a.display), Text(a.help), Text(a.twin))
    t.add_row(Text("ctrl+p"), Text("Command palette: every action, and the bundled scenarios to open."), Text(""))
    t.add_row(Text("mouse"), Text("Click a line of the graph to select that node."), Text(""))
    return t


class HelpScreen(ModalScreen[None]):
    """Every key. Any of escape, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close", priority=True)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text.from_markup(
                "[b]gradstep[/b]: step through forward, backward and update, one node at a time.\n"
                "Time only moves when you press a key; every forward motion has a way back (undo column)."))
            yield Static(key_table())
            yield Static(Text("escape, ? or q closes this help.", style=MUTED))

    def on_mount(self) -> None:
        box = self.query_one("#help-box")
        box.border_title = "Help: every key (↑ ↓ scroll)"
        box.focus()

    def action_dismiss(self) -> None:
        self.dismiss(None)
