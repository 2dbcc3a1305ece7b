"""The loss curve over the iterations replayed up to the one shown, with numeric axis labels, a linear
or log scale that the axis names (l), a range of iterations to zoom into (Z), the current loss in the
pane's title, and a mark (┆) where η changes by a step: set from the debugger, or a step schedule's jumps.

Going back in time takes the later iterations off the curve, as a time-travelling debugger shows the
past of the cursor only: what is on screen is a function of the tick, so a reverse twin restores it.

Why hand-drawn rather than the textual-plot widget (0.10.1): it has no log axis, its own bindings (+, -,
arrows) collide with stepping and speed, it needs numpy >= 2.2.1 and textual-hires-canvas, and it would
redraw from whole arrays, while this pane keeps a growing buffer for background runs of a million
iterations and marks η changes, non-finite losses (!) and the current iteration itself.
"""
from __future__ import annotations

import itertools
import math
import time

import numpy as np
from rich.text import Text
from textual.widget import Widget

from gradstep.engine import FULL, fmt_num

from ..palette import BAD, ETA_MARK, FAINT, HIGHLIGHT, LOSS_BAR, MUTED

BARS = " ▁▂▃▄▅▆▇█"
RUN_REDRAW = 0.25         # seconds between redraws during a background run (the status line says more, more often)
MAX_MARKS = 40            # a step schedule that jumps more often than this over the replay is not marked
MARK = "┆"


def eta_marks(st) -> tuple[int, ...]:
    """The iterations where η changes by a step: set from the debugger (Stepper.eta_schedule), or where a
    step schedule jumps. Schedules that move η every iteration (cosine, exponential, warm-up) are not
    marked: the status line shows the effective η."""
    sched = st.eta_schedule
    marks = {k for (k, eta), (_, before) in zip(sched[1:], sched) if eta != before}   # [ then ] marks nothing
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
        self.log_scale = False    # log scale (l); the axis says which
        self.zoom: tuple[int, int] | None = None   # the iterations shown (Z), 1-based and inclusive; None: all

    @property
    def losses(self) -> np.ndarray:
        """The loss per iteration shown (1-based: losses[0] is iteration 1); a view of the curve's own copy."""
        return self._buf[:self._count]

    def show(self, st) -> None:
        """Follow the Stepper: its losses up to the iteration it stands in (that one's once its forward pass
        has reached the loss), copied when they changed."""
        marks = eta_marks(st)
        if marks != self.marks:
            self.marks = marks
            self.refresh()
        known = st.iteration - 1 + (st.value(st.program.loss) is not None)
        if not self.exact or known != self._count or self.current != st.iteration or \
                (known and st.loss_at(known) != self._buf[known - 1]):
            self.set_losses(st.losses[:known], st.iteration)

    def set_losses(self, losses, current: int) -> None:
        """Copy the losses (the curve never holds the engine's arrays)."""
        self._buf = np.array(losses, dtype=np.float64)
        self._count = len(self._buf)
        self.current = current
        self.exact = True
        self._title()
        self.refresh()

    def set_scale(self, log: bool) -> None:
        """Log scale (True) or linear."""
        self.log_scale = log
        self.refresh()

    def set_zoom(self, iterations: tuple[int, int] | None) -> None:
        """Show iterations a to b (inclusive, 1-based), or all (None)."""
        self.zoom = iterations
        self.refresh()

    def _title(self) -> None:
        """The current loss (the last iteration's on the curve), with every digit."""
        n = self._count
        title = f"Loss {fmt_num(self._buf[n - 1], FULL)} (iteration {n:,})" if n else "Loss"
        if title != self.border_title:
            self.border_title = title

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
            self._title()
            self.refresh()

    def render(self) -> Text:
        w, h = self.size.width, self.size.height
        first, last = 1, self._count                     # the iterations shown, 1-based and inclusive
        if self.zoom is not None:
            first, last = self.zoom[0], min(self.zoom[1], self._count)
        if self._count == 0:
            return Text("loss: no iteration has reached the loss yet", style=FAINT)
        if first > last:
            return Text(f"loss: iterations {first:,}-{self.zoom[1]:,} not reached yet (Z: all)", style=FAINT)
        losses = self._buf[first - 1:last]
        finite = np.isfinite(losses)
        mask = None if finite.all() else finite          # None: all finite, the common and cheap case
        points = losses if mask is None else losses[mask]
        if not len(points):
            return Text("loss: no iteration has reached the loss yet", style=FAINT)
        lo, hi = float(points.min()), float(points.max())
        log = self.log_scale and lo > 0
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
        cur = self.current - first
        cur_col = min(cols - 1, cur * cols // n) if 0 <= cur < n else None
        marked = {(k - first) * cols // n for k in self.marks if first <= k <= last}
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
        left, right = f"it {first:,}", f"it {last:,}"
        line = f"{' ' * (label_w + 1)}{left}"
        pad = max(1, label_w + 1 + cols - len(line) - len(right))
        if cols >= len(left) + len(right) + 2:
            out.append(line + " " * pad + right, style=MUTED)
        else:                                         # too few columns for the labels: after the axis
            out.append(" " * label_w + "└" + "─" * cols, style=FAINT)
            out.append(f"  {left}" if first == last else f"  {left}–{last:,}", style=MUTED)
        if log:
            out.append("  loss, log scale", style=HIGHLIGHT)
        elif self.log_scale:
            out.append("  loss, linear (log needs losses > 0)", style=HIGHLIGHT)
        else:
            out.append("  loss, linear", style=MUTED)
        if self.zoom is not None:
            out.append("  zoomed (Z)", style=HIGHLIGHT)
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
