"""The breakpoint list: every breakpoint (the file's and the ones set here) with its hits, and the
watches; keys enable, disable, edit and delete them."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from gradstep.engine.limits import MAX_BREAKPOINTS, MAX_WATCHES

from ..actions import guarded
from ..palette import BAD, FAINT, GOOD, HIGHLIGHT, MUTED

if TYPE_CHECKING:
    from ..debugger import Debugger

COLUMNS = ("#", "name", "condition / place", "hits", "on", "note")


class BreakpointList(ModalScreen[None]):
    """A table of breakpoints, then watches. The keys are priority bindings: the focused table would
    otherwise take enter and space for itself."""

    BINDINGS = [
        Binding("space,enter", "toggle", "enable/disable", priority=True),
        Binding("e", "edit", "edit", priority=True),
        Binding("d,delete", "delete", "delete", priority=True),
        Binding("i", "add", "break if…", priority=True),
        Binding("w", "watch", "watch…", priority=True),
        Binding("escape,L,q", "close", "close", priority=True),
    ]

    def __init__(self, debugger: Debugger):
        super().__init__()
        self.debugger = debugger
        self.rows: list[tuple[str, int]] = []         # ("break", id) or ("watch", index), one per table row

    def compose(self) -> ComposeResult:
        with Vertical(id="breaks-box"):
            yield Static("", id="breaks-head")
            yield DataTable(id="breaks-table", cursor_type="row", zebra_stripes=False)
            yield Static(Text("space enable/disable · e edit · d delete · i add a breakpoint · w add a watch · "
                              "escape closes", style=MUTED), id="breaks-keys")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#breaks-box").border_title = "Breakpoints and watches"
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.fill()
        table.focus()

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def fill(self) -> None:
        """(Re)build the rows from the Stepper, keeping the cursor's row."""
        st = self.debugger.st
        table = self.table
        row = table.cursor_row
        table.clear()
        self.rows = []
        for bp in st.breakpoints:
            mine = bp.id in self.debugger.breaks.mine
            on = Text("✓", style=f"bold {GOOD}") if bp.enabled else Text("·", style=FAINT)
            note = Text(bp.problem, style=BAD) if bp.problem else Text("" if mine else "from the file", style=FAINT)
            ignore = f" (ignore {bp.ignore})" if bp.ignore else ""
            table.add_row(Text(str(bp.id)), Text(bp.name or ""), Text(bp.describe(st.program) + ignore),
                          Text(f"{bp.hits:,}", style=HIGHLIGHT if bp.hits else ""), on, note)
            self.rows.append(("break", bp.id))
        for k, w in enumerate(self.debugger.breaks.watches):
            table.add_row(Text(f"w{k + 1}"), Text("watch", style=MUTED), Text(w.text), Text(""), Text(""), Text(""))
            self.rows.append(("watch", k))
        n, m = len(st.breakpoints), len(self.debugger.breaks.watches)
        head = Text(f"{n} breakpoint{'s' * (n != 1)} (at most {MAX_BREAKPOINTS}), {m} watch{'es' * (m != 1)} "
                    f"(at most {MAX_WATCHES}). Hits count as they are met going forward.", style=MUTED)
        if not self.rows:
            head.append("  None yet: i adds a breakpoint, w a watch, B on the main screen pins one to a node.")
        self.query_one("#breaks-head", Static).update(head)
        if self.rows:
            table.move_cursor(row=max(0, min(row, len(self.rows) - 1)))

    def unexpected(self, e: Exception) -> None:
        self.app.unexpected(e)

    def _current(self) -> tuple[str, int] | None:
        """The row under the cursor, if it still stands for something (a reload replaces the Stepper)."""
        self.fill()
        r = self.table.cursor_row
        return self.rows[r] if 0 <= r < len(self.rows) else None

    def _changed(self) -> None:
        self.fill()
        self.app.schedule_redraw()

    @guarded
    def action_toggle(self) -> None:
        row = self._current()
        if row is not None and row[0] == "break":
            self.debugger.breaks.toggle(self.debugger.st, row[1])
            self._changed()

    @guarded
    def action_edit(self) -> None:
        row = self._current()
        if row is None:
            return
        if row[0] == "break":
            self.debugger.ask_condition(row[1], then=self.fill)
        else:
            self.debugger.ask_watch(row[1], then=self.fill)

    @guarded
    def action_delete(self) -> None:
        row = self._current()
        if row is None:
            return
        if row[0] == "break":
            self.debugger.breaks.delete(self.debugger.st, row[1])
        else:
            self.debugger.breaks.delete_watch(row[1])
        self._changed()

    def action_add(self) -> None:
        self.debugger.ask_condition(then=self.fill)

    def action_watch(self) -> None:
        self.debugger.ask_watch(then=self.fill)

    def action_close(self) -> None:
        self.dismiss(None)
