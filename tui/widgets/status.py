"""The status line: scenario title, iteration i/N, phase, node k/n, the optimizer and the effective η
of this iteration (schedules and edits included), and the replay state."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from gradstep.engine import Cursor, Phase, Stepper, clip_title, fmt_num, visible

from ..palette import ACCENT, CHANGED, FAINT, GOOD, PHASES


def ended_cursor(st: Stepper, ended: Stepper) -> Cursor:
    """Where a finished iteration stands: its last phase with a step (update, or backward without params), whole."""
    n = st.update_len or st.backward_len
    return Cursor(ended.iteration, Phase.UPDATE if st.update_len else Phase.BACKWARD, n, n)


class StatusLine(Static):
    """One line that tells where the replay stands."""

    def show(self, st: Stepper, title: str, play: str = "", ended: Stepper | None = None) -> None:
        """ended: the iteration just finished, shown whole (its last update is the step just taken)."""
        c = st.cursor if ended is None else ended_cursor(st, ended)
        t = Text(no_wrap=True, overflow="ellipsis", end="")
        t.append(f" {clip_title(title)} ", style="bold")
        t.append("│ ", style=FAINT)
        t.append(f"iteration {c.iteration}/{st.steps} ", style="bold")
        t.append("│ ", style=FAINT)
        t.append(c.phase.value, style=f"bold {PHASES[c.phase]}")
        if c.phase is not Phase.DONE:
            t.append(f" {c.index}/{c.length}")
        if ended is not None:
            t.append(" finished", style=GOOD)
        t.append(" │ ", style=FAINT)
        if not st.training.plain:
            t.append(f"{st.training.optimizer.name} ", style=ACCENT)
        t.append(f"η {fmt_num(st.eta_at(c.iteration))}", style=ACCENT)
        if play:
            t.append(" │ ", style=FAINT)
            t.append(play, style=CHANGED)
        self._set(t)

    def show_text(self, text: str) -> None:
        self._set(Text(f" {visible(text, newlines=False)}", style="bold", no_wrap=True, end=""))

    def _set(self, text: Text) -> None:
        # One line, always: no relayout of the screen per step.
        if text != getattr(self, "_shown", None):
            self._shown = text
            self.update(text, layout=False)


class Banner(Static):
    """A one-line message under the status line: an anomaly, a breakpoint hit, or a scenario file that
    stopped loading."""

    def say(self, text: str | None, kind: str = "error") -> None:
        if (text, kind) == getattr(self, "_said", None):
            return                       # unchanged: spare the screen a relayout
        self._said = (text, kind)
        self.set_class(bool(text), "-shown")
        self.set_class(kind == "warning", "-warning")
        self.update(Text(f" {visible(text)}" if text else "", no_wrap=False, end=""))
