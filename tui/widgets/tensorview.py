"""How a tensor reads inside a pane: numbers whenever they fit, otherwise a heatmap with row and column
coordinates, and for three or more axes a grid of small 2-D heatmaps (a conv layer's filters, the
channels of one batch item).

The text of every number comes from the engine's display module (format_tensor, summary, fmt_num);
this module lays it out in lines that fit a pane, colours the cells and, for the Element pane, marks
one element (the cursor) and says which element a cell stands for.

Statistics and heatmap blocks are computed once per tensor: the Stepper never changes an array it has
handed out (a step stores a new one), so they are remembered by the array's identity for as long as
the array lives. Block means come from whole-array reductions, never a Python loop over elements.
"""
from __future__ import annotations

import math
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from rich.text import Span, Text

from gradstep.engine import FULL, fmt_num, fmt_shape, format_tensor, stats, summary

from ..palette import CURSOR_CELL, CURSOR_NUMBER, FAINT, MUTED, heat, heat_styles

SMALL = 64           # up to this many elements a tensor is shown as [a, b; c, d] when that fits
INLINE = 6           # up to this many elements a tensor fits on one line of a list
HEAT_ROWS = 12       # rows of heatmap cells in a list pane (the Element pane passes its own height)
TABLE_ROWS = 32      # a table of numbers up to this many lines, when its columns fit the width
MAX_TILES = 128      # the most 2-D tiles a grid draws (beyond: the tiles of the cursor's batch item)
TILE_ROWS = 8        # a tile's cells at most this tall and
TILE_COLS = 16       # this wide (block means beyond)

# Work done, for the regression guard (tests/tui/test_work_per_key.py).
WORK: Counter = Counter()

Index = tuple[int, ...]


# ---------------------------------------------------------------- once per tensor
_MEMO: dict[int, tuple[weakref.ref, dict]] = {}


def remember(a: np.ndarray, key, make: Callable):
    """make(), computed once for this array (the Stepper never changes an array it has handed out)."""
    return _memo(a, key, make)


def _memo(a: np.ndarray, key, make: Callable):
    """make(), remembered for this array object (forgotten when the array is)."""
    k = id(a)
    entry = _MEMO.get(k)
    if entry is None or entry[0]() is not a:
        try:
            ref = weakref.ref(a, lambda r, k=k, memo=_MEMO: memo.pop(k, None) if memo.get(k, (None,))[0] is r else None)
        except TypeError:
            return make()
        entry = (ref, {})
        _MEMO[k] = entry
    found = entry[1]
    if key not in found:
        found[key] = make()
    return found[key]


def summary_of(a: np.ndarray) -> str:
    """The engine's summary line of a tensor, computed once per tensor."""
    def make() -> str:
        WORK["statistics computed"] += 1
        return summary(a)
    return _memo(a, "summary", make)


def scale_of(a: np.ndarray) -> float:
    """The largest finite |value|: the heatmap's full colour."""
    def make() -> float:
        WORK["statistics computed"] += 1
        with np.errstate(all="ignore"):
            m = np.abs(a).max(initial=0.0)
            if not math.isfinite(m):
                fin = a[np.isfinite(a)]
                m = float(np.abs(fin).max()) if fin.size else 0.0
        return float(m)
    return _memo(a, "scale", make)


# ---------------------------------------------------------------- one line
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
    head = fit(summary_of(a), width)[0]
    if len(head) <= width:
        return head
    s = stats(a)
    return f"min {fmt_num(s['min'], 3)} max {fmt_num(s['max'], 3)}"


def fit(text: str, width: int) -> list[str]:
    """Split a summary line at its ' mean ' when it is wider than the pane."""
    if len(text) <= width or " mean " not in text:
        return [text]
    head, tail = text.split(" mean ", 1)
    return [head, "mean " + tail]


# ---------------------------------------------------------------- a tensor in lines
@dataclass
class Picture:
    """A tensor laid out in lines, and which element the cell at (line, column) stands for."""

    lines: list[Text]
    kind: str                                       # "numbers", "heatmap" or "tiles"
    cells: dict[int, list[tuple[int, int, Index]]] = field(default_factory=dict)   # line -> (x0, x1, index)

    def element_at(self, y: int, x: int) -> Index | None:
        """The element drawn at line y, column x (the first of a block of means), or None."""
        for x0, x1, index in self.cells.get(y, ()):
            if x0 <= x < x1:
                return index
        return None


def lines(a: np.ndarray, width: int, style: str = "", digits: int | None = 4) -> list[Text]:
    """A tensor laid out for a pane `width` cells wide: numbers when they fit, else a summary and a
    heatmap with coordinates; digits=FULL: every digit of each number. The same Texts for the same
    tensor and layout (a pane that shows them again re-renders nothing)."""
    a = np.asarray(a)
    return list(_memo(a, ("lines", width, style, digits), lambda: _lines(a, width, style, digits)))


def _lines(a: np.ndarray, width: int, style: str, digits: int | None) -> list[Text]:
    if a.size <= SMALL and a.ndim <= 2:
        text = format_tensor(a, digits)
        out = [Text("  " + ln, style=style, no_wrap=True, end="") for ln in text.split("\n")]
        if all(t.cell_len <= width for t in out):
            return out
    pic = picture(a, width - 2, HEAT_ROWS, digits=digits, style=style)
    if pic.kind != "numbers" and digits is FULL and a.size <= SMALL:     # every digit, one number a line
        return [Text(f"  [{', '.join(map(str, i))}] {fmt_num(v, FULL)}", style=style, no_wrap=True, end="")
                for i, v in np.ndenumerate(a)]
    head = [] if pic.kind == "numbers" and a.ndim == 0 else \
        [Text("  " + part, style=style, no_wrap=True, end="") for part in fit(summary_of(a), width - 2)]
    if a.ndim == 0:
        return pic.lines
    return head + [_indent(t) for t in pic.lines]


def _indent(t: Text) -> Text:
    out = Text("  ", no_wrap=True, end="")
    out.append_text(t)
    return out


def picture(a: np.ndarray, width: int, height: int = HEAT_ROWS, *, digits: int | None = 4,
            cursor: Index | None = None, style: str = "") -> Picture:
    """The tensor in at most `width` columns: a table of numbers with coordinates when it fits (up to
    TABLE_ROWS lines, or `height` if more), else a heatmap `height` cells tall with coordinates, or for
    three or more axes a grid of 2-D heatmaps. cursor: the element to mark."""
    a = np.asarray(a)
    return _memo(a, ("picture", width, height, digits, cursor, style),
                  lambda: _picture(a, width, height, digits, cursor, style))


def _picture(a: np.ndarray, width: int, height: int, digits: int | None, cursor: Index | None,
             style: str) -> Picture:
    if a.dtype == bool:
        a = a.astype(np.float64)
    if a.ndim == 0:
        t = Text(fmt_num(a, digits), style=style, no_wrap=True, end="")
        if cursor is not None:
            t.stylize(CURSOR_NUMBER)
        return Picture([t], "numbers", {0: [(0, t.cell_len, ())]})
    if a.size == 0:
        return Picture([Text(f"{fmt_shape(a.shape)} empty", style=MUTED, end="")], "numbers")
    if a.ndim <= 2:
        table = _table(a, width, max(TABLE_ROWS, height), digits, cursor, style)
        if table is not None:
            return table
        return _heatmap(a, width, height, cursor)
    return _tiles(a, width, height, cursor)


# ---------------------------------------------------------------- numbers
def _table(a: np.ndarray, width: int, max_lines: int, digits: int | None, cursor: Index | None,
           style: str) -> Picture | None:
    """Numbers with their row and column indices, or None when they do not fit."""
    if a.size > max_lines * 40:                   # far too many to fit: do not format them to find out
        return None
    m = a.reshape(1, -1) if a.ndim == 1 else a
    rows, cols = m.shape
    if a.ndim == 1:                               # a vector wraps: each line starts with its first index
        texts = [fmt_num(v, digits) for v in a]
        cw = max(len(s) for s in texts)
        label = len(str(a.size - 1)) + 1
        per = max(1, (width - label - 1) // (cw + 2))
        if -(-a.size // per) > max_lines:
            return None
        per = min(per, a.size)
        out, cells = [], {}
        for y, start in enumerate(range(0, a.size, per)):
            t = Text(f"{start:>{label}}│", style=FAINT, no_wrap=True, end="")
            spans = []
            for j in range(start, min(start + per, a.size)):
                x0 = t.cell_len + 2
                t.append(f"  {texts[j]:>{cw}}", style=CURSOR_NUMBER if cursor == (j,) else style)
                spans.append((x0, t.cell_len, (j,)))
            out.append(t)
            cells[y] = spans
        return Picture(out, "numbers", cells)
    texts = [[fmt_num(v, digits) for v in row] for row in m] if rows <= max_lines else None
    if texts is None:
        return None
    cw = max(max(len(s) for s in row) for row in texts)
    cw = max(cw, len(str(cols - 1)))
    label = len(str(rows - 1)) + 1
    if label + 1 + cols * (cw + 2) > width:
        return None
    head = Text(" " * (label + 1), style=FAINT, no_wrap=True, end="")
    for c in range(cols):
        head.append(f"  {c:>{cw}}", style=FAINT)
    out, cells = [head], {}
    for r in range(rows):
        t = Text(f"{r:>{label}}│", style=FAINT, no_wrap=True, end="")
        spans = []
        for c in range(cols):
            x0 = t.cell_len + 2
            t.append(f"  {texts[r][c]:>{cw}}", style=CURSOR_NUMBER if cursor == (r, c) else style)
            spans.append((x0, t.cell_len, (r, c)))
        out.append(t)
        cells[r + 1] = spans
    return Picture(out, "numbers", cells)


# ---------------------------------------------------------------- heatmaps
def _edges(n: int, cells: int) -> np.ndarray:
    """Where each block starts, and the end: n elements cut into blocks of a whole number of elements
    each (the last may be shorter), as few as fit in `cells`."""
    k = max(1, -(-n // max(1, cells)))
    return np.append(np.arange(0, n, k), n)


def block_means(m: np.ndarray, r_edges: np.ndarray, c_edges: np.ndarray) -> np.ndarray:
    """Average the last two axes of m into blocks (non-finite blocks stay non-finite)."""
    WORK["heatmaps computed"] += 1
    with np.errstate(all="ignore"):
        rows = np.add.reduceat(m, r_edges[:-1], axis=-2) if len(r_edges) - 1 < m.shape[-2] else m
        both = np.add.reduceat(rows, c_edges[:-1], axis=-1) if len(c_edges) - 1 < m.shape[-1] else rows
        counts = np.outer(np.diff(r_edges), np.diff(c_edges))
        return both / counts if counts.max() > 1 else both.astype(np.float64, copy=False)


def _runs(styles: list[str], start: int, cw: int, mark: int | None, spans: list[Span]) -> None:
    """Spans for cells of these styles from column `start`, each `cw` wide: one span per run of equal colours
    (a line of 60 cells often has a dozen, and every span is a segment the compositor handles each frame)."""
    k, n = 0, len(styles)
    while k < n:
        if k == mark:
            spans.append(Span(start + k * cw, start + (k + 1) * cw, f"{CURSOR_CELL} on {styles[k]}"))
            k += 1
            continue
        j = k + 1
        while j < n and styles[j] == styles[k] and j != mark:
            j += 1
        spans.append(Span(start + k * cw, start + j * cw, styles[k]))
        k = j


def _cell_row(values: np.ndarray, scale: float, mark: int | None = None, cw: int = 1) -> Text:
    """One line of heatmap cells, each `cw` columns wide; mark: the cell of the cursor."""
    styles = heat_styles(values, scale)
    n = len(styles)
    spans: list[Span] = []
    _runs(styles, 0, cw, mark, spans)
    text = "█" * (n * cw)
    if mark is not None and 0 <= mark < n:
        x = mark * cw
        text = text[:x] + "╳" + "█" * (cw - 1) + text[x + cw:]
    return Text(text, spans=spans, no_wrap=True, end="")


def _cell_width(cells: int, room: int) -> int:
    """Cells 1 column wide, or up to 3 when few of them leave room (a 2×10 weight reads better wide)."""
    return max(1, min(3, room // max(1, cells)))


def _ruler(edges: np.ndarray, offset: int, cw: int = 1, every: int = 8) -> Text:
    """Column indices above a heatmap: the first element of a block of cells every few columns."""
    t = Text(" " * offset, style=FAINT, no_wrap=True, end="")
    line: list[str] = []
    for x in range(len(edges) - 1):
        label = str(int(edges[x]))
        at = x * cw
        if at >= len(line) + (1 if line else 0) and (at % every < cw or x == 0):
            line.extend(" " * (at - len(line)))
            line.extend(label)
    t.append("".join(line))
    return t


def _locate(edges: np.ndarray, i: int) -> int:
    """The block that holds element i."""
    return int(np.searchsorted(edges, i, side="right")) - 1


def _heatmap(a: np.ndarray, width: int, height: int, cursor: Index | None) -> Picture:
    """A 1-D or 2-D tensor as coloured cells with coordinates: rows and columns of elements or of block means."""
    scale = scale_of(a)
    if a.ndim == 1:
        label = len(str(a.size - 1)) + 1
        per = max(1, min(width - label - 1, 64))
        cw = _cell_width(a.size, width - label - 1) if a.size <= per else 1
        if a.size <= height * per:
            starts = range(0, a.size, per)
            grid = None
            edges = None
        else:                                     # more than fits: blocks of consecutive elements
            edges = _edges(a.size, height * per)
            grid = _memo(a, ("vector", height, per), lambda: _vector_blocks(a, edges))
            starts = range(0, len(edges) - 1, per)
        out, cells = [], {}
        at = cursor[0] if cursor is not None else None
        for y, s in enumerate(starts):
            if grid is None:
                vals = a[s:s + per]
                first = s
                mark = at - s if at is not None and s <= at < s + per else None
                index = [(j,) for j in range(s, s + len(vals))]
            else:
                vals = grid[s:s + per]
                first = int(edges[s])
                block = _locate(edges, at) if at is not None else None
                mark = block - s if block is not None and s <= block < s + per else None
                index = [(int(edges[b]),) for b in range(s, s + len(vals))]
            t = Text(f"{first:>{label}}│", style=FAINT, no_wrap=True, end="")
            x0 = t.cell_len
            t.append_text(_cell_row(np.asarray(vals, dtype=np.float64), scale, mark, cw))
            out.append(t)
            cells[y] = [(x0 + k * cw, x0 + (k + 1) * cw, ix) for k, ix in enumerate(index)]
        out.extend(_legend(scale, len(edges) - 1 if edges is not None else a.size, a.size, width=width))
        return Picture(out, "heatmap", cells)
    rows, cols = a.shape
    label = len(str(rows - 1)) + 1
    r_edges = _edges(rows, max(1, height))
    c_edges = _edges(cols, max(1, width - label - 1))
    grid = _memo(a, ("blocks", len(r_edges), len(c_edges)), lambda: block_means(a, r_edges, c_edges))
    cw = _cell_width(grid.shape[1], width - label - 1)
    out = [_ruler(c_edges, label + 1, cw)]
    cells = {}
    cr = _locate(r_edges, cursor[0]) if cursor is not None else None
    cc = _locate(c_edges, cursor[1]) if cursor is not None else None
    for y in range(grid.shape[0]):
        t = Text(f"{int(r_edges[y]):>{label}}│", style=FAINT, no_wrap=True, end="")
        x0 = t.cell_len
        t.append_text(_cell_row(grid[y], scale, cc if y == cr else None, cw))
        out.append(t)
        cells[y + 1] = [(x0 + k * cw, x0 + (k + 1) * cw, (int(r_edges[y]), int(c_edges[k])))
                        for k in range(grid.shape[1])]
    out.extend(_legend(scale, grid.size, a.size, grid.shape, width))
    return Picture(out, "heatmap", cells)


def _vector_blocks(a: np.ndarray, edges: np.ndarray) -> np.ndarray:
    WORK["heatmaps computed"] += 1
    with np.errstate(all="ignore"):
        return np.add.reduceat(a.astype(np.float64, copy=False), edges[:-1]) / np.diff(edges)


def _legend(scale: float, cells: int, size: int, shape: tuple[int, int] | None = None,
            width: int = 1000) -> list[Text]:
    """The colour scale, and what a cell is (a line of its own when the pane is narrow)."""
    legend = Text(no_wrap=True, end="")
    legend.append("█", style=heat(-scale, scale))
    legend.append(f" {fmt_num(-scale, 3)}  ", style=MUTED)
    legend.append("█", style=heat(0.0, scale))
    legend.append(" 0  ", style=MUTED)
    legend.append("█", style=heat(scale, scale))
    legend.append(f" {fmt_num(scale, 3)}", style=MUTED)
    if cells >= size:
        return [legend]
    what = f"({shape[0]}×{shape[1]} " if shape is not None else f"({cells} "
    note = Text(f"{what}block means)", style=FAINT, no_wrap=True, end="")
    if legend.cell_len + 2 + note.cell_len <= width:
        legend.append("  ")
        legend.append_text(note)
        return [legend]
    return [legend, note]


# ---------------------------------------------------------------- grids of tiles (3 or more axes)
def _tiles(a: np.ndarray, width: int, height: int, cursor: Index | None) -> Picture:
    """A tile per 2-D slice over the last two axes: a conv weight (out, in, kh, kw) as a row of its
    in-channels per filter; an activation (batch, channels, h, w) as the channels of the cursor's batch
    item when all of them would be too many; a 3-D tensor as a row of its slices."""
    scale = scale_of(a)
    h, w = a.shape[-2:]
    lead = a.shape[:-2]
    at = cursor if cursor is not None else (0,) * a.ndim
    every = math.prod(lead)
    th, tw = min(h, TILE_ROWS), min(w, TILE_COLS)
    label = len(str(lead[0] - 1)) + 1
    per = max(1, (width - label - 1) // (tw + 1))
    if a.ndim == 4 and (every > MAX_TILES or lead[0] * -(-lead[1] // per) * th > 3 * height):
        # all of them would be too many lines: one batch item's channels
        item = at[0]
        grid_rows = [((item,), [(item, c) for c in range(lead[1])])]
        head = f"item {item} of {lead[0]} (axis 0; the cursor moves between items), axis 1 across"
    elif a.ndim == 4:
        grid_rows = [((i,), [(i, c) for c in range(lead[1])]) for i in range(lead[0])]
        head = "axis 0 down, axis 1 across"
    else:
        flat = list(np.ndindex(*lead))
        if len(flat) > MAX_TILES:                              # the tiles around the cursor's
            k = flat.index(tuple(at[:-2]))
            start = max(0, min(k - MAX_TILES // 2, len(flat) - MAX_TILES))
            flat = flat[start:start + MAX_TILES]
        grid_rows = [((), flat)]
        head = f"{'axis 0' if a.ndim == 3 else 'axes ' + ', '.join(map(str, range(a.ndim - 2)))} across"
    r_edges, c_edges = _edges(h, th), _edges(w, tw)
    out = [Text(f"{fmt_shape(lead)} tiles of {h}×{w}{' (block means)' if (th, tw) != (h, w) else ''}: {head}",
                style=FAINT, no_wrap=True, end="")]
    cells: dict[int, list[tuple[int, int, Index]]] = {}
    last_ruler = None
    for prefix, tiles in grid_rows:
        for start in range(0, len(tiles), per):
            chunk = tiles[start:start + per]
            stack = np.stack([a[t] for t in chunk]).astype(np.float64, copy=False)
            blocks = block_means(stack, r_edges, c_edges) if (th, tw) != (h, w) else stack
            ruler = Text(" " * (label + 1), style=FAINT, no_wrap=True, end="")
            for t in chunk:
                ruler.append(f"{_tile_name(t, prefix):<{tw}} "[:tw + 1])
            if ruler.plain != last_ruler:            # the same tile names as the row above: said once
                out.append(ruler)
                last_ruler = ruler.plain
            styles = heat_styles(blocks.ravel(), scale)          # every cell of the chunk at once
            bh, bw = blocks.shape[1], blocks.shape[2]
            for y in range(bh):
                name = str(prefix[0]) if prefix and y == 0 and start == 0 else ""
                head_text = f"{name:>{label}}│"
                text = [head_text]
                spans = [Span(0, len(head_text), FAINT)]
                where = []
                x = len(head_text)
                for k, t in enumerate(chunk):
                    mark = None
                    if cursor is not None and tuple(cursor[:-2]) == tuple(t) and _locate(r_edges, cursor[-2]) == y:
                        mark = _locate(c_edges, cursor[-1])
                    base = (k * bh + y) * bw
                    _runs(styles[base:base + bw], x, 1, mark, spans)
                    for j in range(bw):
                        text.append("╳" if j == mark else "█")
                        where.append((x + j, x + j + 1, (*t, int(r_edges[y]), int(c_edges[j]))))
                    text.append(" ")
                    x += bw + 1
                cells[len(out)] = where
                out.append(Text("".join(text), spans=spans, no_wrap=True, end=""))
        if len(out) > 4 * max(height, TABLE_ROWS):
            out.append(Text("  … (more tiles: move the cursor there)", style=FAINT, end=""))
            break
    out.extend(_legend(scale, a.size, a.size, width=width))
    return Picture(out, "tiles", cells)


def _tile_name(t: tuple[int, ...], prefix: tuple[int, ...]) -> str:
    """A tile's label in the ruler: its index past the row's prefix."""
    rest = t[len(prefix):]
    return ",".join(map(str, rest))
