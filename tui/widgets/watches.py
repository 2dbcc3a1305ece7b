"""The Watches pane: each watch expression and its value at the current tick, like pudb's variables
pane; a value that changed since the last tick shown is highlighted. Hidden while there is none."""
from __future__ import annotations

from rich.text import Text

from gradstep.engine import NumericProblem, Stepper, Unavailable, visible

from ..breakpoints import Watch
from ..palette import BAD, CHANGED, LABEL, PENDING
from . import tensorview
from .lines import LinePane


class WatchesPane(LinePane):
    """One line per watch: `text = value`, `not available at this tick`, or the numeric problem."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._last: dict[str, str] = {}          # watch text -> the value shown at the tick before this one
        self._now: tuple = (None, {})            # (the tick shown, its values): a redraw compares with _last again

    def show(self, st: Stepper, watches: list[Watch]) -> None:
        self.set_class(bool(watches), "-shown")
        if not watches:
            self._last, self._now = {}, (None, {})
            self.set_lines([])
            return
        width = max(10, self.scrollable_content_region.width)
        out = []
        seen = {}
        here = (id(st), st.tick)
        if self._now[0] != here:
            self._last = self._now[1]
        for w in watches:
            t = Text(no_wrap=True, end="")
            try:
                shown, style = tensorview.short(w.value(st), width - len(w.text) - 3), ""
            except Unavailable:
                shown, style = "not available at this tick", PENDING
            except NumericProblem as e:
                shown, style = f"numeric problem: {e}", BAD
            hot = style == "" and w.text in self._last and self._last[w.text] != shown
            seen[w.text] = shown
            t.append(f"{visible(w.text, newlines=False)} = ", style=CHANGED if hot else LABEL)
            t.append(shown, style=CHANGED if hot else style)
            out.append(t)
        self._now = (here, seen)
        self.set_lines(out)
