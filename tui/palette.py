"""Every colour of the TUI: Rich styles for the panes, and the variables the .tcss file uses.

Names say what a colour means, not what it looks like, so a pane asks for PENDING or CHANGED and a
change of scheme happens here alone.
"""
from __future__ import annotations

import numpy as np

from gradstep.engine import Phase

# ---------------------------------------------------------------- text on the panes
FAINT = "#6c6c6c"            # separators, axes, and the headings of lists
MUTED = "#9e9e9e"            # secondary text: labels, legends, hints
LABEL = "#afafaf"            # "name =" in the lists of values and gradients
PENDING = "#808080"          # what has not happened yet in this iteration
PENDING_TAIL = "#5f5f5f"     # kind and shape of a node not run yet
SHAPE = "#6c8cac"            # kind and shape of a node
SOFT = "#bcbcbc"             # instructions on the error screen; the phase "done"
HIGHLIGHT = "#ffd75f"        # the cursor, partial gradients, keys, warnings, the play state
CHANGED = f"bold {HIGHLIGHT}"  # what the last step wrote
GOOD = "#87d787"             # complete, updated, agreeing
BAD = "#ff5f5f"              # a failed check, a loss that is not finite
ACCENT = "#87afff"           # η, local-derivative formulas, folded layers, reverse twins
ERROR_TEXT = "#ff8787"       # an error message in full
SELECTED_ROW = "on #2d3f5f"  # background of the selected line of the graph
ANOMALY_MARK = "bold white on red"   # the "!" before the node that produced NaN or ±inf
ANOMALY_LABEL = "bold red"
CURSOR_CELL = "bold #ffffff"         # the element cursor on a heatmap cell (╳, over the cell's colour)
CURSOR_NUMBER = "bold reverse"       # the element cursor on a number in a table
WARNING_MARK = f"bold {HIGHLIGHT}"  # the "!" before a node the scenario warned about at load (a surprising broadcast)
BREAKPOINT = BAD             # ● a breakpoint pinned to a node's step
BREAKPOINT_OFF = FAINT       # ○ one that is disabled
BADGE = MUTED                # a health badge on a graph line (dead 2/10)
BADGE_WARN = HIGHLIGHT       # the same when half the units or more are dead or saturated
HIT = HIGHLIGHT              # the status line's "breakpoint N hit"
ETA_MARK = ACCENT            # the loss curve's marks where η changes

PHASES = {Phase.FORWARD: GOOD, Phase.BACKWARD: "#ff875f", Phase.UPDATE: ACCENT, Phase.DONE: SOFT}

# The graph's lanes, one colour per column of the gutter (cycled).
LANES = ("#5fafff", "#d7875f", "#87d787", "#d75fd7", "#d7d75f", "#5fd7d7")

LOSS_BAR = "#5fafff"
NOT_FINITE_CELL = "#ff00ff"


HEAT_LEVELS = 24            # colour steps each side of 0: cells of nearly equal values share a colour


def _heat_colour(k: float, positive: bool) -> str:
    k = k ** 0.7
    if positive:
        r, g, b = 40 + int(215 * k), 40 + int(40 * k), 40 + int(30 * k)
    else:
        r, g, b = 40 + int(30 * k), 40 + int(90 * k), 40 + int(215 * k)
    return f"#{r:02x}{g:02x}{b:02x}"


# Index HEAT_LEVELS + j (j in -HEAT_LEVELS..HEAT_LEVELS): the colour of level j; the last, a non-finite cell.
_HEAT = ([_heat_colour(-j / HEAT_LEVELS, False) for j in range(-HEAT_LEVELS, 0)]
         + [_heat_colour(j / HEAT_LEVELS, True) for j in range(0, HEAT_LEVELS + 1)] + [NOT_FINITE_CELL])


def heat(v: float, scale: float) -> str:
    """A heatmap cell: red for positive, blue for negative, brighter for larger |v| (up to scale)."""
    return heat_styles(np.array([v], dtype=np.float64), scale)[0]


def heat_styles(values: np.ndarray, scale: float) -> list[str]:
    """heat() of every value at once (one colour per level, computed with NumPy, not per cell)."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        k = np.clip(v / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(v)
        level = np.rint(k * HEAT_LEVELS).astype(np.int64) + HEAT_LEVELS
    level[~np.isfinite(v)] = len(_HEAT) - 1
    return [_HEAT[i] for i in level.tolist()]


# ---------------------------------------------------------------- variables for gradstep.tcss
CSS = {
    "gs-border": "#3a4a6a",               # a pane's frame
    "gs-border-strong": "#6a8acf",        # a focused pane's frame, and dialog boxes
    "gs-pane-title": "#afc7ef",
    "gs-banner-error": "#5f0000",
    "gs-banner-warning": "#5f5f00",
    "gs-banner-text": "#ffffff",
    "gs-error-border": "#af5f5f",
    "gs-error-text": ERROR_TEXT,
}
