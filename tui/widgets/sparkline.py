"""A measure's history as one line of block characters, one column per span of iterations."""
from __future__ import annotations

import math

BARS = "▁▂▃▄▅▆▇█"
NOT_FINITE = "!"


def sparkline(points: list[tuple[int, float]], first: int, last: int, width: int, log: bool,
              bounds: tuple[float, float] | None = None) -> str:
    """Column c covers iterations [first + c·n/width, first + (c+1)·n/width) and shows the mean of the
    points in it (on a log scale: of their logarithms; zeros sit at the bottom), between bounds if
    given (fractions: 0 to 1), else between the lowest and highest mean. A column with no point is
    blank; one whose points are all non-finite shows '!'."""
    n = last - first + 1
    if n <= 0 or width <= 0 or not points:
        return " " * max(0, width)
    cols = min(width, n)
    sums = [0.0] * cols
    counts = [0] * cols
    bad = [False] * cols
    for k, v in points:
        if not first <= k <= last:
            continue
        c = (k - first) * cols // n
        if not math.isfinite(v):
            bad[c] = True
            continue
        sums[c] += _scale(v, log)
        counts[c] += 1
    means = [s / k if k else None for s, k in zip(sums, counts)]
    finite = [m for m in means if m is not None and m != -math.inf]
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    span = hi - lo
    out = []
    for m, b in zip(means, bad):
        if m is None:
            out.append(NOT_FINITE if b else " ")
        elif m == -math.inf or m <= lo and span > 0:
            out.append(BARS[0])
        elif span == 0:
            out.append(BARS[len(BARS) // 2])          # a constant: level, mid-height
        else:
            out.append(BARS[min(len(BARS) - 1, int((m - lo) / span * len(BARS)))])
    return "".join(out)


def _scale(v: float, log: bool) -> float:
    if not log:
        return v
    return math.log10(v) if v > 0 else -math.inf
