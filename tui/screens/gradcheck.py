"""The gradient-check result: per param (and value), backprop against central differences."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gradstep.engine import DirectionalCheck, GradCheck, Stepper, directional_check, gradcheck

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
        verdict = Text("all gradients agree" if self.report.passed else "some gradients DISAGREE",
                       style=f"bold {GOOD}" if self.report.passed else f"bold {BAD}")
        with VerticalScroll(id="check-box"):
            yield Static(Text(f"Iteration {self.iteration}: backprop vs central differences. ") + verdict)
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


def check_in_background(app, st: Stepper) -> None:
    """Check the gradients of the current iteration in a thread; the result screen opens when done."""
    leaves = dict(st.leaves_for(st.iteration))
    leaves.update({u.param: u.w for u in st.updates()})
    program, iteration, seed = st.program, st.iteration, st.scenario.seed

    def work() -> None:              # touches no widget: the UI thread opens the screen
        try:
            report = gradcheck(program, leaves, iteration=iteration)
            directional = directional_check(program, leaves, iteration, seed)
        except Exception as e:
            app.call_from_thread(app.notify, f"{type(e).__name__}: {e}", title="gradient check failed",
                                 severity="error")
            return
        app.call_from_thread(lambda: app.push_screen(GradCheckScreen(report, iteration, directional)))
    app.run_worker(work, thread=True, group="check", exit_on_error=False)
