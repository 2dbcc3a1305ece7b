"""The loss curve over the iterations replayed so far, with numeric axis labels, and a mark (┆) where
η changes by a step: set from the debugger, or a step schedule's jumps."""
from __future__ import annotations

import itertools
import math
import time

import numpy as np
from rich.text import Text
from textual.widget import Widget

from gradstep.engine import fmt_num

from ..palette import BAD, ETA_MARK, FAINT, HIGHLIGHT, LOSS_BAR, MUTED

BARS = " ▁▂▃▄▅▆▇█"
RUN_REDRAW = 0.25         # seconds between redraws during a background run (the status line says more, more often)
MAX_MARKS = 40            # a step schedule that jumps more often than this over the replay is not marked
MARK = "┆"


def eta_marks(st) -> tuple[int, ...]:
    """The iterations where η changes by a step: set from the debugger (Stepper.eta_schedule), or where a
    step schedule jumps. Schedules that move η every iteration (cosine, exponential, warm-up) are not
    marked: the status line shows the effective η."""
    marks = {k for k, _ in st.eta_schedule if k > 1}
    for s in st.training.describe()["schedule"]:
        if s["kind"] == "step" and st.steps // s["every"] <= MAX_MARKS:
            marks.update(range(1 + s["every"], st.steps + 1, s["every"]))
    return tuple(sorted(marks))


class LossCurve(Widget):
    """Column bars of the loss per iteration (block means when there are more iterations than columns).

    It keeps its own copy of the losses in a growing NumPy buffer: during a background run points
    arrive a dozen times a second, each extending the curve by thousands of iterations, and a frame
    costs the same at iteration 100 and at 1,000,000. A frame of the curve costs a few milliseconds
    the run could train in, so during a run it is redrawn only every RUN_REDRAW seconds."""

    DEFAULT_CSS = "LossCurve { height: 6; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self._buf = np.zeros(0)
        self._count = 0
        self.current = 0          # the iteration the stepper stands in
        self.exact = True         # False while it shows a background run's sampled points
        self._drawn = 0.0         # when add_point last redrew
        self.marks: tuple[int, ...] = ()    # iterations where η changes by a step

    @property
    def losses(self) -> np.ndarray:
        """The loss per iteration shown (1-based: losses[0] is iteration 1); a view of the curve's own copy."""
        return self._buf[:self._count]

    def show(self, st) -> None:
        """Follow the Stepper: copy its losses when they (or the iteration it stands in) changed."""
        losses = st.losses
        marks = eta_marks(st)
        if marks != self.marks:
            self.marks = marks
            self.refresh()
        if not self.exact or len(losses) != self._count or self.current != st.iteration:
            self.set_losses(losses, st.iteration)

    def set_losses(self, losses, current: int) -> None:
        """Copy the losses (the curve never holds the engine's arrays)."""
        self._buf = np.array(losses, dtype=np.float64)
        self._count = len(self._buf)
        self.current = current
        self.exact = True
        self.refresh()

    def clear(self) -> None:
        self.set_losses((), 0)

    def add_point(self, iteration: int, loss: float | None) -> None:
        """During a background run: extend the curve to `iteration` (missing points are filled flat)."""
        n = self._count
        if loss is not None and iteration > n:
            if iteration > len(self._buf):
                grown = np.empty(max(iteration, 2 * len(self._buf), 1024))
                grown[:n] = self._buf[:n]
                self._buf = grown
            self._buf[n:iteration - 1] = self._buf[n - 1] if n else loss
            self._buf[iteration - 1] = loss
            self._count = iteration
            self.exact = False
        self.current = iteration
        now = time.monotonic()
        if now - self._drawn >= RUN_REDRAW:
            self._drawn = now
            self.refresh()

    def render(self) -> Text:
        w, h = self.size.width, self.size.height
        losses = self.losses
        finite = np.isfinite(losses)
        mask = None if finite.all() else finite          # None: all finite, the common and cheap case
        points = losses if mask is None else losses[mask]
        if not len(points):
            return Text("loss: no iteration has reached the loss yet", style=FAINT)
        lo, hi = float(points.min()), float(points.max())
        log = lo > 0 and hi / lo > 100
        f = (lambda v: math.log10(v)) if log else (lambda v: v)
        top, bottom = fmt_num(hi, 3), fmt_num(lo, 3)
        label_w = max(len(top), len(bottom)) + 1
        plot_w = max(1, w - label_w - 1)
        plot_h = max(1, h - 1)
        n = len(losses)
        cols = min(plot_w, n)
        values = column_means(losses, mask, cols)
        flo, fhi = f(lo), f(hi)
        span = (fhi - flo) or 1.0
        heights = [0 if not math.isfinite(v) else 1 + round((f(v) - flo) / span * (plot_h * 8 - 1)) for v in values]
        cur_col = min(cols - 1, (self.current - 1) * cols // n) if self.current <= n else None
        marked = {(k - 1) * cols // n for k in self.marks if k <= n}
        out = Text(no_wrap=True, end="")
        for r in range(plot_h):
            label = top if r == 0 else bottom if r == plot_h - 1 and hi != lo else ""
            out.append(f"{label:>{label_w}}┤" if label else " " * label_w + "│", style=MUTED)
            base = (plot_h - 1 - r) * 8
            cells = [(BARS[max(0, min(8, hgt - base))], HIGHLIGHT if c == cur_col else LOSS_BAR)
                     if math.isfinite(values[c]) else ("!" if r == plot_h - 1 else " ", BAD)
                     for c, hgt in enumerate(heights)]
            for c in marked:                          # η changes here: a dotted line where there is no bar
                if cells[c][0] == " ":
                    cells[c] = (MARK, ETA_MARK)
            for style, run in itertools.groupby(cells, key=lambda cell: cell[1]):   # one span per run
                out.append("".join(ch for ch, _ in run), style=style)
            out.append("\n")
        axis = " " * label_w + "└" + "─" * cols
        right = f"it {n}"
        left = "it 1"
        scale = " log" if log else ""
        line = f"{' ' * (label_w + 1)}{left}"
        pad = max(1, label_w + 1 + cols - len(line) - len(right))
        if cols >= len(left) + len(right) + 2:
            out.append(line + " " * pad + right, style=MUTED)
        else:
            out.append(axis, style=FAINT)
        out.append(f"  loss{scale}", style=FAINT)
        if marked:
            out.append(f"  {MARK} η changes", style=ETA_MARK)
        return out


def column_means(losses: np.ndarray, finite: np.ndarray | None, cols: int) -> list[float]:
    """Column c: the mean of the finite losses of iterations [c·n/cols, (c+1)·n/cols), NaN if none is.

    finite is the mask of finite losses, or None when all are (no masked copies then)."""
    n = len(losses)
    starts = np.arange(cols) * n // cols
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if finite is None:
            return (np.add.reduceat(losses, starts) / np.diff(starts, append=n)).tolist()
        sums = np.add.reduceat(np.where(finite, losses, 0.0), starts)
        counts = np.add.reduceat(finite, starts, dtype=np.int64)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).tolist()
