"""The Graph pane: the program as a listing, one primitive node per line, with a gutter of lanes.

Each line reads `mark gutter status name = text  ← inputs  badge  kind shape`. The mark is the cursor
(▶) or a breakpoint pinned to the node (●, ○ when disabled; a cursor on a breakpoint is a red ▶); the
badge is a health measure (dead 6/10). The gutter's box-drawing lanes start at a line (╭) and end
(╰) or branch (├) at the lines that consume it. Layers ([graph] keys that made several nodes) fold
into their final line.

Every edge is readable at any width: the gutter holds as many lanes as the pane has room for, and an
input that gets no lane (a named one: a leaf or a [graph] key, the longest-lived first) is written on
its consumer's line as a labelled connector, `← W5, b5`. A `!` marks a node the scenario warned about
(a surprising broadcast: the sentence shows when it is selected); a red `!` the node that produced NaN.

Lines are made on demand, for the rows on screen only: a step on a 20,000-node graph restyles the
visible lines whose state changed, never the whole listing.
"""
from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events

from gradstep.engine import HealthSample, Phase, Program, Stepper, fmt_shape, visible
from gradstep.engine.health import dead_fraction, saturated_fraction

from ..health import badge
from ..messages import NodeSelected
from ..palette import (ACCENT, ANOMALY_LABEL, ANOMALY_MARK, BADGE, BADGE_WARN, BREAKPOINT, BREAKPOINT_OFF, CHANGED,
                       FAINT, GOOD, LANES, PENDING, PENDING_TAIL, SELECTED_ROW, SHAPE, WARNING_MARK)
from . import tensorview
from .lines import LinePane

MIN_LANES = 8              # the gutter always has room for this many lanes
MAX_LANES = 40             # and never more, however wide the pane
ROOM = 20                  # columns kept for the rest of a line when a wide pane makes room for lanes
KIND = {"value": "input", "data": "data", "param": "param", "op": "op", "const": "const", "noise": "noise"}
RUNNING_STAT = "running stat"     # a [values] leaf an op updates each iteration (batch_norm's running mean)

# What a lane cell becomes when a connector from a lane further left runs through it. A lane that
# only passes by stays "│" (the connector hops over it), so ├ ┼ ╰ ┴ always mean "feeds this line".
_CROSS = {"│": "│", " ": "─", "├": "┼", "╰": "┴", "╭": "┬"}


@dataclass(frozen=True)
class Listing:
    """One layout of the graph: the nodes listed (a folded layer by its last node), what feeds each line."""

    program: Program
    shown: list[int]
    feeds: list[list[int]]
    gutter: Gutter


@dataclass(eq=False)
class Row:
    """One listed line: a node, or a folded layer shown by its final node."""

    node: int
    members: tuple[int, ...]     # every node this line stands for (one unless folded)
    folded: bool
    index: int                   # the line's position in the listing
    listing: Listing             # what the line's text is worked out from, when the line is drawn

    @property
    def lanes(self) -> str:
        """The gutter's characters."""
        return self.listing.gutter.line(self.index)

    @functools.cached_property
    def label(self) -> str:
        """The node's name, `name = expression` for a named op, or the expression of an inner one."""
        node = self.listing.program.nodes[self.node]
        if node.is_leaf:
            label = node.name
        elif node.key is not None:
            label = f"{node.name} = {node.text}"
        else:
            label = node.text          # an inner node reads as its expression
        return visible(label, newlines=False)

    @functools.cached_property
    def tail(self) -> str:
        """Kind and shape."""
        p = self.listing.program
        node = p.nodes[self.node]
        kind = RUNNING_STAT if self.node in p.carried else KIND.get(node.kind, node.kind)
        return f"{kind} {fmt_shape(node.shape)}"

    @functools.cached_property
    def inputs(self) -> tuple[str, ...]:
        """Inputs with no lane, written as a labelled connector ← a, b."""
        ls = self.listing
        return tuple(ls.program.nodes[ls.shown[s]].name for s in ls.feeds[self.index] if s in ls.gutter.unlaned)

    @property
    def gutter(self) -> Text:
        """The gutter coloured: each lane in its column's colour, connectors faint."""
        t = Text(end="")
        for c, ch in enumerate(self.lanes):
            t.append(ch, style=LANES[c % len(LANES)] if ch not in " ─" else FAINT)
        return t


class Rows(Sequence):
    """The listed lines, each made when first asked for (drawn, selected or searched): 20,000 at once cost
    60 ms before the first screen."""

    def __init__(self, listing: Listing, folded: dict[int, tuple[int, ...]]):
        self._listing = listing
        self._folded = folded          # a folded layer's last node -> every node it stands for
        self._made: dict[int, Row] = {}

    def __len__(self) -> int:
        return len(self._listing.shown)

    def __getitem__(self, r):
        if isinstance(r, slice):
            return [self[k] for k in range(*r.indices(len(self)))]
        n = len(self)
        if r < 0:
            r += n
        if not 0 <= r < n:
            raise IndexError(r)
        row = self._made.get(r)
        if row is None:
            i = self._listing.shown[r]
            members = self._folded.get(i)
            row = self._made[r] = Row(i, members or (i,), members is not None, r, self._listing)
        return row


def lane_cap(width: int) -> int:
    """How many lanes a pane `width` columns wide draws (more inputs get labelled connectors)."""
    return max(MIN_LANES, min(MAX_LANES, (width - ROOM) // 2))


def assign_lanes(feeds: list[list[int]], named: list[bool], cap: int) -> tuple[dict[int, int], set[int]]:
    """A gutter column for each row that feeds later rows, and the rows left without one.

    First fit in listing order when every lane fits under `cap` (the compact, familiar picture).
    Otherwise the short-lived lanes go first, and a named source that finds no column under the cap
    gets none (its consumers label it); an unnamed one takes a column past the cap rather than be lost.
    """
    last: dict[int, int] = {}
    for r, srcs in enumerate(feeds):
        for s in srcs:
            last[s] = max(last.get(s, -1), r)
    order = sorted(last)
    columns: list[list[tuple[int, int]]] = []       # per column: (start, end) intervals, sorted
    out: dict[int, int] = {}

    def free(col: list[tuple[int, int]], s: int, e: int) -> bool:
        k = bisect.bisect_left(col, (s, -1))
        if k < len(col) and col[k][0] <= e:
            return False
        return not (k > 0 and col[k - 1][1] >= s)

    def place(s: int, limit: int | None) -> bool:
        e = last[s]
        for c, col in enumerate(columns):
            if limit is not None and c >= limit:
                return False
            if free(col, s, e):
                bisect.insort(col, (s, e))
                out[s] = c
                return True
        if limit is not None and len(columns) >= limit:
            return False
        columns.append([(s, e)])
        out[s] = len(columns) - 1
        return True

    if all(place(s, cap) for s in order):
        return out, set()
    columns.clear()
    out.clear()
    unlaned = set()
    for s in sorted(order, key=lambda s: (named[s], last[s] - s, s)):
        if not place(s, cap if named[s] else None):
            unlaned.add(s)
    return out, unlaned


class Gutter:
    """Box-drawing gutters: feeds[r] lists the earlier rows that feed row r.

    Each source row with a lane owns a column from its own row down to its last consumer's. A row's
    characters are worked out when the row is drawn (`line(r)`, from the columns' intervals by bisection),
    so a 20,000-line graph lays out without drawing 20,000 gutters. `unlaned` holds the source rows that
    got no lane (their consumers name them instead); `width` is the widest gutter, in lanes."""

    def __init__(self, feeds: list[list[int]], named: list[bool] | None = None, cap: int = MIN_LANES):
        n = len(feeds)
        named = named if named is not None else [False] * n
        column, self.unlaned = assign_lanes(feeds, named, cap)
        self.consumers: dict[int, set[int]] = {}
        last: dict[int, int] = {}
        for r, srcs in enumerate(feeds):
            for s in srcs:
                self.consumers.setdefault(s, set()).add(r)
                last[s] = max(last.get(s, -1), r)
        self.width = max(column.values(), default=-1) + 1
        self._starts: list[list[int]] = [[] for _ in range(self.width)]     # per column, sorted
        self._ends: list[list[int]] = [[] for _ in range(self.width)]
        for src in sorted(column):
            self._starts[column[src]].append(src)
            self._ends[column[src]].append(last[src])

    def __len__(self) -> int:
        return self.width

    def line(self, r: int) -> str:
        """Row r's gutter characters, padded to the widest and followed by its connector."""
        cells: list[str] = []
        connect = -1                      # the leftmost column that connects to this row
        for c in range(self.width):
            k = bisect.bisect_right(self._starts[c], r) - 1
            if k < 0 or self._ends[c][k] < r:
                cells.append(" ")
                continue
            src = self._starts[c][k]
            if src == r:
                cells.append("╭")
            elif r in self.consumers[src]:
                cells.append("╰" if self._ends[c][k] == r else "├")
            else:
                cells.append("│")
                continue
            if connect < 0:
                connect = c
        top = len(cells)
        while top and cells[top - 1] == " ":
            top -= 1
        if connect < 0:
            return "".join(cells[:top]) + " " * (self.width - top) + "  "
        row = cells[:connect + 1] + [_CROSS.get(ch, ch) for ch in cells[connect + 1:top]]
        return "".join(row) + "─" * (self.width - top) + "─ "


class _Fractions(Mapping):
    """A health measure of each node (dead units of a relu, saturated ones of a tanh), computed when a visible
    line asks for it and kept per value: the badges cost what is on screen, not one measure per node per key."""

    def __init__(self, st: Stepper, ids: dict[str, int], measure):
        self.st, self.ids, self.measure = st, ids, measure

    def __contains__(self, name) -> bool:
        i = self.ids.get(name)
        return i is not None and self.st.value(i) is not None

    def __getitem__(self, name: str) -> float:
        i = self.ids[name]
        v = self.st.value(i)
        if v is None:
            raise KeyError(name)
        return tensorview.remember(v, ("health", self.measure), lambda: self.measure(self.st.program.nodes[i], v))

    def __iter__(self):
        return (name for name in self.ids if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _dead(node, v) -> float:
    return dead_fraction(v)


def _saturated(node, v) -> float:
    lo, hi = node.op.saturates
    return saturated_fraction(v, lo, hi)


@dataclass
class _Badges:
    """What the graph's badge() reads of a HealthSample, measured lazily."""

    dead: Mapping
    saturated: Mapping


@dataclass
class _State:
    """What the lines show at the tick drawn: read once per redraw, used by every visible line."""

    st: Stepper
    phase: Phase
    index: int
    nxt: int | None
    selected: int
    anomaly: int | None
    pins: dict[int, bool]
    health: _Badges | None


class GraphPane(LinePane):
    """The program listing with lanes, the cursor, done/to-do styling and gradient status."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.program: Program | None = None
        self.rows: Sequence[Row] = ()
        self.row_of: dict[int, int] = {}
        self.folded: set[str] = set()
        self.warnings: dict[int, str] = {}
        self._sigs: dict[int, tuple] = {}
        self._status_width = 2
        self._state: _State | None = None
        self._back_pos: dict[int, int] = {}
        self._groups: dict[str, list[int]] = {}
        self._cap = MIN_LANES
        self._used: int | None = 0               # lanes the listing draws (None: some inputs got none)
        self._badge_source: Stepper | None = None
        self._badge_ids: tuple[dict[str, int], dict[str, int]] = ({}, {})

    # ------------------------------------------------------------------ layout of the listing
    def load(self, program: Program, folded: set[str] | None = None, warnings: dict[int, str] | None = None) -> None:
        """Lay out a (new) program's listing; warnings: node id -> a sentence said at load (shown as !)."""
        self.program = program
        self.warnings = dict(warnings or {})
        self._groups = program.groups()
        self._back_pos = {i: k for k, i in enumerate(program.backward)}
        self.folded = set(folded or ()) & set(self._groups)
        self._state = None
        self._layout()

    def group_size(self, node: int) -> int:
        """How many nodes the layer that made `node` has (0 when none)."""
        p = self.program
        if p is None or not 0 <= node < len(p.nodes):
            return 0
        key = p.nodes[node].group
        return len(self._groups.get(key, ())) if key is not None else 0

    def _layout(self) -> None:
        p = self.program
        rep: dict[int, int] = {}
        members: dict[int, list[int]] = {}
        for key, ids in self._groups.items():
            if key in self.folded and len(ids) > 1:
                for i in ids:
                    rep[i] = ids[-1]
                members[ids[-1]] = list(ids)
        shown = [n.id for n in p.nodes if n.kind != "const" and rep.get(n.id, n.id) == n.id]
        self.row_of = {}
        for r, i in enumerate(shown):
            self.row_of[i] = r
        for i, j in rep.items():
            self.row_of[i] = self.row_of[j]
        feeds: list[list[int]] = []
        for r, i in enumerate(shown):
            srcs = set()
            for m in members.get(i, [i]):
                for j in p.nodes[m].inputs:
                    if p.nodes[j].kind != "const" and self.row_of[j] != r:
                        srcs.add(self.row_of[j])
            feeds.append(sorted(srcs))
        named = [p.nodes[i].key is not None and p.nodes[i].name.isidentifier() for i in shown]
        gutter = Gutter(feeds, named, self._cap)
        self._used = gutter.width if not gutter.unlaned else None
        most = max(p.expected, default=1)
        self._status_width = 2 if most <= 1 else len(f"{most}/{most}") + 1
        listing = Listing(p, shown, feeds, gutter)
        self.rows = Rows(listing, {i: tuple(m) for i, m in members.items()})
        self._sigs = {}
        self.set_count(len(self.rows))

    def toggle(self, node: int) -> bool:
        """Fold or unfold the layer that made `node`; False if it is not in a multi-node layer."""
        p = self.program
        if p is None or self.group_size(node) < 2:
            return False
        self.folded ^= {p.nodes[node].group}
        self._layout()
        return True

    def toggle_all(self) -> None:
        """Fold every multi-node layer, or unfold all if any is folded."""
        if self.program is None:
            return
        multi = {k for k, ids in self._groups.items() if len(ids) > 1}
        self.folded = set() if self.folded else multi
        self._layout()

    def neighbour(self, node: int, delta: int, follow: bool = False) -> int:
        """The node shown `delta` lines away from `node` (clamped); follow: scroll to its line."""
        if not self.rows:
            return node
        r = max(0, min(self.row_of.get(node, 0) + delta, len(self.rows) - 1))
        if follow:
            self.follow(r)
        return self.rows[r].node

    def warning(self, node: int) -> str | None:
        """The scenario's warning about a node, or about the folded layer it stands for."""
        if not self.rows or node not in self.row_of:
            return self.warnings.get(node)
        row = self.rows[self.row_of[node]]
        return next((self.warnings[m] for m in row.members if m in self.warnings), None)

    def on_resize(self, event: events.Resize) -> None:
        cap = lane_cap(self.content_region.width - 1)    # a scrollbar's column kept: it comes and goes
        if cap != self._cap:
            self._cap = cap
            # Lanes that all fit under both caps are drawn the same: no new layout (a 20,000-line one is long).
            if self.program is not None and (self._used is None or self._used > cap):
                self._layout()
        super().on_resize(event)

    # ------------------------------------------------------------------ per-step state
    def show(self, st: Stepper, selected: int, follow: bool = True, health: HealthSample | None = None) -> None:
        """Restyle the visible lines whose state changed since they were drawn (the badges are measured here,
        for the visible lines: `health` is accepted and not needed)."""
        p = self.program
        if p is None or not self.rows:
            return
        pins: dict[int, bool] = {}          # node -> some breakpoint pinned to it is enabled
        for bp in st.breakpoints:
            if bp.at is not None:
                pins[bp.at] = pins.get(bp.at, False) or bp.enabled
        c = st.cursor
        nxt = next_node(st)
        self._state = _State(st, c.phase, c.index, nxt, selected,
                             st.anomaly.node if st.anomaly is not None else None, pins, self._badges(st))
        if follow:
            target = nxt if nxt is not None else selected
            self.follow(self.row_of.get(target, 0), margin=2)
        shown = self.visible_rows()
        self.keep_strips(shown)            # a line scrolled into view later is made afresh
        self.forget_rows([r for r in shown if self._signature(self.rows[r]) != self._sigs.get(r)])

    def _badges(self, st: Stepper) -> _Badges:
        if self._badge_source is not st:                 # the nodes with a measure, once per Stepper
            monitor, p = st.health, st.program
            self._badge_source = st
            self._badge_ids = ({p.nodes[i].name: i for i in monitor.dying},
                               {p.nodes[i].name: i for i in monitor.saturating})
        dying, saturating = self._badge_ids
        return _Badges(_Fractions(st, dying, _dead), _Fractions(st, saturating, _saturated))

    def row(self, r: int) -> Text:
        """Line r, made for the state last shown."""
        row = self.rows[r]
        if self._state is None:
            return Text(end="")
        sig = self._signature(row)
        self._sigs[r] = sig
        return self._render_row(row, sig)

    def _signature(self, row: Row) -> tuple:
        s = self._state
        st, p = s.st, self.program
        i = row.node
        node = p.nodes[i]
        phase = s.phase
        if phase is Phase.FORWARD:
            done = node.is_leaf or all(st.value(m) is not None for m in row.members)
            status = ""
        else:
            if phase is Phase.BACKWARD:
                done = (node.is_leaf and st.grad_status(i)[0] == st.grad_status(i)[1]) or \
                    all(self._back_done(m) or not p.needs_grad[m] for m in row.members)
            elif phase is Phase.UPDATE:
                done = node.kind != "param" or p.params.index(i) < s.index
            else:
                done = True
            status = grad_mark(st, i) if p.needs_grad[i] else ""
        pins = [s.pins[m] for m in row.members if m in s.pins]
        pin = None if not pins else any(pins)
        mark = badge(s.health, node.name, node.shape) if s.health is not None else ""
        warned = any(m in self.warnings for m in row.members)
        return (s.selected in row.members, s.nxt in row.members, done, status,
                s.anomaly in row.members, row.folded, pin, mark, warned)

    def _back_done(self, m: int) -> bool:
        """Whether node m's backward step has run in the current backward phase."""
        s = self._state
        if m == self.program.loss:
            return s.index > 0
        k = self._back_pos.get(m)
        return k is not None and k < s.index - 1

    def _render_row(self, row: Row, sig: tuple) -> Text:
        selected, is_next, done, status, bad, folded, pin, mark, warned = sig
        t = Text(no_wrap=True, end="")
        if is_next:
            t.append("▶", style=CHANGED if pin is None else f"bold {BREAKPOINT}")
        elif pin is not None:
            t.append("●" if pin else "○", style=BREAKPOINT if pin else BREAKPOINT_OFF)
        else:
            t.append(" ")
        t.append_text(row.gutter)
        w = self._status_width
        if status:
            colour = {"✓": GOOD, "·": FAINT}.get(status, CHANGED)
            t.append(f"{status:<{w}}", style=colour)
        else:
            t.append(" " * w)
        if bad:
            t.append("!", style=ANOMALY_MARK)
            t.append(" ")
        elif warned:
            t.append("!", style=WARNING_MARK)
            t.append(" ")
        if folded:
            t.append("▸ ", style=f"bold {ACCENT}")
        style = "bold" if done else PENDING
        if bad:
            style = ANOMALY_LABEL
        t.append(row.label, style=style)
        if row.inputs:
            t.append(f"  ← {', '.join(row.inputs)}", style=ACCENT)
        if mark:                     # before kind and shape: a narrow pane cuts those first
            t.append(f"  {mark}", style=BADGE_WARN if _half_or_more(mark) else BADGE)
        t.append(f"  {row.tail}", style=SHAPE if done else PENDING_TAIL)
        if folded:
            t.append(f" +{len(row.members) - 1}", style=ACCENT)
        if selected:
            t.stylize(SELECTED_ROW)
        return t

    # ------------------------------------------------------------------ mouse
    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        r = round(self.scroll_offset.y) + offset.y
        if 0 <= r < len(self.rows):
            self.post_message(NodeSelected(self.rows[r].node))


def _half_or_more(mark: str) -> bool:
    """'dead 6/10' -> True: half the units or more."""
    k, n = mark.rsplit(" ", 1)[1].split("/")
    return 2 * int(k) >= int(n)


def next_node(st: Stepper) -> int | None:
    """The node the next step will run (or the param it will update)."""
    p = st.program
    c = st.cursor
    if c.phase is Phase.FORWARD:
        return p.ops[c.index]
    if c.phase is Phase.BACKWARD:
        return p.loss if c.index == 0 else p.backward[c.index - 1]
    if c.phase is Phase.UPDATE:
        return p.params[c.index]
    return None


def grad_mark(st: Stepper, node: int) -> str:
    """'✓' complete, 'k/n' partial, '·' not reached."""
    got, want = st.grad_status(node)
    if got == 0:
        return "·"
    if got >= want:
        return "✓"
    return f"{got}/{want}"
