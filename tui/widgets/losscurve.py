"""The loss curve over the iterations replayed so far, with numeric axis labels."""
from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from gradstep.engine import fmt_num

BARS = " ▁▂▃▄▅▆▇█"


class LossCurve(Widget):
    """Column bars of the loss per iteration (block means when there are more iterations than columns)."""

    DEFAULT_CSS = "LossCurve { height: 6; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.losses: list[float] = []
        self.current = 0          # the iteration the stepper stands in

    def set_losses(self, losses, current: int) -> None:
        """Plain floats only: the curve never holds the engine's arrays."""
        self.losses = [float(x) for x in losses]
        self.current = current
        self.refresh()

    def add_point(self, iteration: int, loss: float | None) -> None:
        """During a background run: extend the curve to `iteration` (missing points are interpolated flat)."""
        if loss is not None and iteration > len(self.losses):
            fill = self.losses[-1] if self.losses else loss
            self.losses.extend([fill] * (iteration - 1 - len(self.losses)))
            self.losses.append(float(loss))
        self.current = iteration
        self.refresh()

    def render(self) -> Text:
        w, h = self.size.width, self.size.height
        pts = [x for x in self.losses if math.isfinite(x)]
        if not self.losses or not pts:
            return Text("loss: no iteration has reached the loss yet", style="#6c6c6c")
        lo, hi = min(pts), max(pts)
        log = lo > 0 and hi / lo > 100
        f = (lambda v: math.log10(v)) if log else (lambda v: v)
        top, bottom = fmt_num(hi, 3), fmt_num(lo, 3)
        label_w = max(len(top), len(bottom)) + 1
        plot_w = max(1, w - label_w - 1)
        plot_h = max(1, h - 1)
        n = len(self.losses)
        cols = min(plot_w, n)
        values = []
        for c in range(cols):
            a, b = c * n // cols, max(c * n // cols + 1, (c + 1) * n // cols)
            chunk = [x for x in self.losses[a:b] if math.isfinite(x)]
            values.append(sum(chunk) / len(chunk) if chunk else float("nan"))
        flo, fhi = f(lo), f(hi)
        span = (fhi - flo) or 1.0
        heights = [0 if not math.isfinite(v) else 1 + round((f(v) - flo) / span * (plot_h * 8 - 1)) for v in values]
        cur_col = min(cols - 1, (self.current - 1) * cols // n) if self.current <= n else None
        out = Text(no_wrap=True, end="")
        for r in range(plot_h):
            label = top if r == 0 else bottom if r == plot_h - 1 and hi != lo else ""
            out.append(f"{label:>{label_w}}┤" if label else " " * label_w + "│", style="#9e9e9e")
            base = (plot_h - 1 - r) * 8
            for c, hgt in enumerate(heights):
                k = max(0, min(8, hgt - base))
                style = "#ff5f5f" if not math.isfinite(values[c]) else \
                    "#ffd75f" if c == cur_col else "#5fafff"
                out.append(BARS[k] if math.isfinite(values[c]) else ("!" if r == plot_h - 1 else " "), style=style)
            out.append("\n")
        axis = " " * label_w + "└" + "─" * cols
        right = f"it {n}"
        left = "it 1"
        scale = " log" if log else ""
        line = f"{' ' * (label_w + 1)}{left}"
        pad = max(1, label_w + 1 + cols - len(line) - len(right))
        if cols >= len(left) + len(right) + 2:
            out.append(line + " " * pad + right, style="#9e9e9e")
        else:
            out.append(axis, style="#6c6c6c")
        out.append(f"  loss{scale}", style="#6c6c6c")
        return out
