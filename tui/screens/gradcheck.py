"""The gradient-check result: per param (and value), backprop against central differences."""
from __future__ import annotations

import threading

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gradstep.engine import CheckCancelled, DirectionalCheck, GradCheck, directional_check, gradcheck

from ..background import in_background, tell
from ..forward import directional_text
from ..palette import BAD, GOOD, HIGHLIGHT, MUTED


def result_table(report: GradCheck) -> Table:
    t = Table(box=None, expand=True)
    t.add_column("name", style="bold", no_wrap=True)
    t.add_column("kind")
    t.add_column("checked", justify="right")
    t.add_column("max abs err", justify="right")
    t.add_column("max rel err", justify="right")
    t.add_column("result")
    for c in report.leaves:
        t.add_row(Text(c.name), Text(c.kind), f"{c.checked}/{c.size}", f"{c.max_abs_error:.2e}",
                  f"{c.max_rel_error:.2e}",
                  Text("ok", style=f"bold {GOOD}") if c.passed else Text("FAIL", style=f"bold {BAD}"))
    return t


class GradCheckScreen(ModalScreen[None]):
    """Shows a GradCheck; escape, x or q closes it."""

    BINDINGS = [Binding("escape,x,q,enter", "close", "close", priority=True)]

    def __init__(self, report: GradCheck, iteration: int, directional: DirectionalCheck | None = None):
        super().__init__()
        self.report = report
        self.iteration = iteration
        self.directional = directional      # forward mode against reverse mode along a random direction

    def compose(self) -> ComposeResult:
        if self.report.not_finite is not None:
            verdict = Text(f"no gradient to check: the forward pass is already NaN or ±inf here (first at node "
                           f"{self.report.not_finite}, and so is the loss)", style=f"bold {BAD}")
        else:
            verdict = Text("all gradients agree" if self.report.passed else "some gradients DISAGREE",
                           style=f"bold {GOOD}" if self.report.passed else f"bold {BAD}")
        with VerticalScroll(id="check-box"):
            yield Static(Text(f"Iteration {self.iteration}: backprop vs central differences. ") + verdict)
            if self.report.leaves:
                yield Static(result_table(self.report))
            if self.directional is not None:
                yield Static(directional_text(self.directional))
            for w in self.report.warnings:
                yield Static(Text(f"warning: {w}", style=HIGHLIGHT))
            yield Static(Text("escape closes", style=MUTED))

    def on_mount(self) -> None:
        self.query_one("#check-box").border_title = "Gradient check"

    def action_close(self) -> None:
        self.dismiss(None)


class Checker:
    """The gradient check of the iteration shown, in a thread (x); esc and q cancel it between elements
    (gradcheck's should_stop), so a huge check never holds the app or its exit."""

    def __init__(self, app):
        self.app = app
        self.stop: threading.Event | None = None     # set to cancel the check running, if one is

    def start(self) -> None:
        app = self.app
        st = app.shown                   # right after an iteration's last step: that iteration, as shown
        if self.stop is not None:
            app.notify("a gradient check is already running (esc cancels it)", timeout=3)
            return
        leaves = dict(st.leaves_for(st.iteration))
        leaves.update({u.param: u.w for u in st.updates()})
        program, iteration, seed, work = st.program, st.iteration, st.scenario.seed, st.scenario.work
        stop = self.stop = threading.Event()

        def run() -> None:               # touches no widget: the UI thread opens the screen
            try:
                report = gradcheck(program, leaves, iteration=iteration, work=work, should_stop=stop.is_set)
                directional = None if report.not_finite else directional_check(program, leaves, iteration, seed)
            except CheckCancelled:
                report, said = None, "gradient check cancelled"
            except Exception as e:
                report, said = None, f"gradient check failed: {type(e).__name__}: {e}"
            else:
                said = ""
            tell(app, self._done, stop, report and GradCheckScreen(report, iteration, directional), said)
        app.notify("checking gradients… (esc cancels)", timeout=2)
        in_background(run, "gradient check")

    def _done(self, stop: threading.Event, screen: GradCheckScreen | None, said: str) -> None:
        if stop is self.stop:
            self.stop = None
        if said:
            self.app.notify(said, severity="warning" if "cancelled" in said else "error", timeout=4)
        elif screen is not None and not stop.is_set():
            self.app.push_screen(screen)

    def cancel(self) -> bool:
        """Ask the running check to stop; True if one was running."""
        if self.stop is None:
            return False
        self.stop.set()
        return True
