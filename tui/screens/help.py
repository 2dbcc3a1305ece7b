"""The help screen: every key, what it does and its reverse twin, generated from the bindings table; then
what the graph's glyphs mean (the README's legend is the same table: a test holds them together)."""
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


# The graph pane's glyphs, in the order a line reads: mark, lanes, gradient status, name.
GLYPHS: tuple[tuple[str, str], ...] = (
    ("▶", "the node the next step runs (forward, backward, or a param's update)"),
    ("● ○", "a breakpoint on this node's step, enabled or disabled (B)"),
    ("╭ ├ ╰ │", "lanes: a value starts at ╭ and feeds the lines at ├ and ╰"),
    ("← W5", "an input with no lane of its own, named on its consumer's line"),
    ("·", "no gradient has reached this node yet"),
    ("1/2", "gradient partial: 1 of its 2 contributions received"),
    ("✓", "gradient complete: every contribution received"),
    ("!", "red: this node produced NaN or ±inf; yellow: the scenario warned about it (select it to read why)"),
    ("▸ … +N", "a folded layer: its last node stands for N more (enter unfolds, z all)"),
    ("bold / grey", "computed in this iteration / not yet"),
    ("dead 6/10", "a health badge: 6 of 10 units dead (or saturated)"),
)


def glyph_table() -> Table:
    """What each glyph of the graph pane means."""
    t = Table(box=None, pad_edge=False, expand=True, show_edge=False)
    t.add_column("glyph", style=f"bold {HIGHLIGHT}", no_wrap=True)
    t.add_column("meaning", ratio=1)
    for glyph, meaning in GLYPHS:
        t.add_row(Text(glyph), Text(meaning))
    return t


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
            yield Static(Text("\nThe graph's glyphs", style="bold"))
            yield Static(glyph_table())
            yield Static(Text("escape, ? or q closes this help.", style=MUTED))

    def on_mount(self) -> None:
        box = self.query_one("#help-box")
        box.border_title = "Help: every key (↑ ↓ scroll)"
        box.focus()

    def action_dismiss(self) -> None:
        self.dismiss(None)
