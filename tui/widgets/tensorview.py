"""How a tensor reads inside a pane: numbers when small, a summary and a heatmap of cells when large.

The text itself always comes from the engine's display module (format_tensor, summary, fmt_num);
this module only lays it out in lines that fit a pane and colours the cells.
"""
from __future__ import annotations

import numpy as np
from rich.text import Text

from gradstep.engine import FULL, fmt_num, fmt_shape, format_tensor, stats, summary

from ..palette import FAINT, MUTED, heat

SMALL = 64           # up to this many elements a tensor is shown as numbers
INLINE = 6           # up to this many elements a tensor fits on one line of a list
HEAT_ROWS = 12


def short(a: np.ndarray, width: int = 1000, digits: int | None = 4) -> str:
    """One line: the number, a few numbers, or pudb's summary (cut to shape, min, max if too wide);
    digits=FULL prints the few numbers with every digit (summaries stay short)."""
    a = np.asarray(a)
    if a.dtype == bool:                           # a watch's test: true/false, or how many hold
        if a.ndim == 0:
            return "true" if a else "false"
        return f"{fmt_shape(a.shape)} {int(a.sum()):,} of {a.size:,} true"
    if a.size <= INLINE:
        return format_tensor(a, digits).replace("\n", "")
    head = fit(summary(a), width)[0]
    if len(head) <= width:
        return head
    s = stats(a)
    return f"min {fmt_num(s['min'], 3)} max {fmt_num(s['max'], 3)}"


def lines(a: np.ndarray, width: int, style: str = "", digits: int | None = 4) -> list[Text]:
    """A tensor laid out for a pane `width` cells wide; digits=FULL: every digit of each number (one
    number a line, with its index, when the rows do not fit)."""
    a = np.asarray(a)
    if a.size <= SMALL and a.ndim <= 2:
        text = format_tensor(a, digits)
        out = [Text("  " + ln, style=style, no_wrap=True, end="") for ln in text.split("\n")]
        if all(t.cell_len <= width for t in out):
            return out
        if digits is FULL:
            return [Text(f"  [{', '.join(map(str, i))}] {fmt_num(v, FULL)}", style=style, no_wrap=True, end="")
                    for i, v in np.ndenumerate(a)]
    out = [Text("  " + part, style=style, no_wrap=True, end="") for part in fit(summary(a), width - 2)]
    out.extend(heatmap(a, max(8, width - 2)))
    return out


def fit(text: str, width: int) -> list[str]:
    """Split a summary line at its ' mean ' when it is wider than the pane."""
    if len(text) <= width or " mean " not in text:
        return [text]
    head, tail = text.split(" mean ", 1)
    return [head, "mean " + tail]


def _blocks(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Average a matrix down to at most rows × cols cells (non-finite cells stay non-finite)."""
    r_edges = np.linspace(0, a.shape[0], min(rows, a.shape[0]) + 1).astype(int)
    c_edges = np.linspace(0, a.shape[1], min(cols, a.shape[1]) + 1).astype(int)
    with np.errstate(all="ignore"):
        out = np.add.reduceat(np.add.reduceat(a, r_edges[:-1], axis=0), c_edges[:-1], axis=1)
        counts = np.outer(np.diff(r_edges), np.diff(c_edges))
        return out / counts


def heatmap(a: np.ndarray, width: int) -> list[Text]:
    """Coloured cells: red positive, blue negative, brighter for larger |value|; a legend below."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0 or a.size == 0:
        return []
    blank = 0                                     # unused cells at the end of a vector's last row
    if a.ndim == 1:
        cols = max(1, min(width, 50))
        if a.size <= HEAT_ROWS * cols:
            rows = -(-a.size // cols)
            blank = rows * cols - a.size
            grid = np.concatenate([a, np.zeros(blank)]).reshape(rows, cols)
        else:
            edges = np.linspace(0, a.size, HEAT_ROWS * cols + 1).astype(int)
            with np.errstate(all="ignore"):
                grid = (np.add.reduceat(a, edges[:-1]) / np.diff(edges)).reshape(HEAT_ROWS, cols)
    else:
        grid = _blocks(a.reshape(a.shape[0], -1), HEAT_ROWS, width)
    fin = a[np.isfinite(a)]
    scale = float(np.abs(fin).max()) if fin.size else 0.0
    out = []
    n_rows, n_cols = grid.shape
    for r in range(n_rows):
        t = Text("  ", no_wrap=True, end="")
        stop = n_cols - blank if r == n_rows - 1 else n_cols
        for c in range(stop):
            t.append("█", style=heat(grid[r, c], scale))
        out.append(t)
    legend = Text("  ", no_wrap=True, end="")
    legend.append("█", style=heat(-scale, scale))
    legend.append(f" {fmt_num(-scale, 3)}  ", style=MUTED)
    legend.append("█", style=heat(0.0, scale))
    legend.append(" 0  ", style=MUTED)
    legend.append("█", style=heat(scale, scale))
    legend.append(f" {fmt_num(scale, 3)}", style=MUTED)
    if n_rows * n_cols < a.size:
        legend.append(f"  ({n_rows}×{n_cols} block means)", style=FAINT)
    out.append(legend)
    return out
