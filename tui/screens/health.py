"""The health view: each gradient-health measure's history over the iterations, as a sparkline, with
its value in the iteration shown and its range."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gradstep.engine import HealthSample, fmt_num

from ..health import HealthHistory, Measure
from ..palette import ACCENT, BAD, FAINT, GOOD, HIGHLIGHT, MUTED
from ..widgets.sparkline import sparkline

FIXED = 18 + 10 + 22 + 8          # the label, now and range columns, and the table's padding
RATIO_LOW, RATIO_HIGH = 1e-5, 1e-1   # an update ratio this far from about 1e-3 is worth a look


def warn(m: Measure, v: float | None) -> bool:
    """Whether a value deserves the eye: half the units dead or saturated, an update ratio far from
    the usual 1e-3, a flow that vanishes or explodes."""
    if v is None:
        return False
    if m.field in ("dead", "saturated"):
        return v >= 0.5
    if m.field == "update_ratio":
        return not RATIO_LOW <= v <= RATIO_HIGH
    if m.field == "flow":
        return not 1e-3 <= v <= 1e3
    return v != v


def health_table(history: HealthHistory, now: HealthSample, iteration: int, width: int) -> Table:
    """One row per measure: label, sparkline over iterations 1..iteration, the latest value (this
    iteration's once measured, else the last sample's), min and max."""
    spark_w = max(8, width - FIXED)
    t = Table(box=None, pad_edge=False, expand=False, show_edge=False)
    t.add_column("measure", style="bold", no_wrap=True)
    t.add_column(f"iterations 1 to {iteration:,}", no_wrap=True, style=ACCENT)
    t.add_column("latest", justify="right", no_wrap=True)
    t.add_column("range", no_wrap=True, style=MUTED)
    for m in history.measures(now):
        points = history.series(m, iteration)
        v = m.read(now)
        if v is not None:
            points.append((iteration, v))
        elif points:
            v = points[-1][1]
        bounds = (0.0, 1.0) if m.field in ("dead", "saturated") else None
        line = sparkline(points, 1, iteration, spark_w, m.log, bounds)
        shown = Text(fmt_num(v, 3) if v is not None else "—", style=f"bold {HIGHLIGHT}" if warn(m, v) else "")
        values = [x for _, x in points if x == x]
        span = f"{fmt_num(min(values), 3)} to {fmt_num(max(values), 3)}" if values else ""
        t.add_row(Text(m.label), Text(line), shown, Text(span))
    return t


def heading(history: HealthHistory, now: HealthSample, iteration: int) -> Text:
    n = len([k for k in history.samples if k < iteration])
    flows = [history.samples[k] for k in sorted(history.samples) if k < iteration] + [now]
    latest = next((s for s in reversed(flows) if s.flow is not None), None)
    t = Text(no_wrap=False)
    t.append(f"Iteration {iteration:,}. ", style="bold")
    t.append(f"History: {n:,} iteration{'s' * (n != 1)} sampled"
             + (f" (every {history.every:,}th)" if history.every > 1 else "") + ", then the iteration shown. ",
             style=MUTED)
    if latest is not None:
        t.append(f"Gradient flow (iteration {latest.iteration:,}): ", style=MUTED)
        t.append(latest.verdict, style=f"bold {GOOD}" if latest.verdict == "ok" else f"bold {BAD}")
    return t


LEGEND = ("‖∂E/∂W‖: the gradient's size. ‖ΔW‖/‖W‖: how far an update moves W (about 1e-3 is the rule of thumb; "
          "far below, learning stalls; far above, it is unstable). dead: the fraction of a relu's units that are 0 for "
          "every row. saturated: a tanh or sigmoid in its flat tails. gradient flow: rms ∂E/∂w at the param "
          "nearest the inputs ÷ the one nearest the loss (below 1e-3 vanishing, above 1e3 exploding). Norms and "
          "ratios are drawn on a log scale, fractions from 0 to 1.")


class HealthScreen(ModalScreen[None]):
    """The health view; escape, H or q closes it."""

    BINDINGS = [Binding("escape,H,q", "close", "close", priority=True)]

    def __init__(self, history: HealthHistory, now: HealthSample, iteration: int):
        super().__init__()
        self.history, self.now, self.iteration = history, now, iteration

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="health-box"):
            yield Static(heading(self.history, self.now, self.iteration))
            yield Static("", id="health-table")
            yield Static(Text(LEGEND, style=FAINT))
            yield Static(Text("escape closes", style=MUTED))

    def on_mount(self) -> None:
        box = self.query_one("#health-box")
        box.border_title = "Gradient health"
        box.focus()
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.query_one("#health-box").content_region.width or self.app.size.width - 8
        self.query_one("#health-table", Static).update(
            health_table(self.history, self.now, self.iteration, width))

    def action_close(self) -> None:
        self.dismiss(None)
