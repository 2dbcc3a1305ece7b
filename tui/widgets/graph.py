"""The Graph pane: the program as a listing, one primitive node per line, with a gutter of lanes.

Each line reads `mark gutter status name = text  badge  kind shape`. The mark is the cursor (▶) or a
breakpoint pinned to the node (●, ○ when disabled; a cursor on a breakpoint is a red ▶); the badge
is a health measure (dead 6/10). The gutter's box-drawing lanes start at a line (╭) and end (╰) or
branch (├) at the lines that consume it. Layers ([graph] keys that made
several nodes) fold into their final line. Only the lines whose state changed are rebuilt per step.
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events

from gradstep.engine import HealthSample, Phase, Program, Stepper, fmt_shape

from ..health import badge
from ..messages import NodeSelected
from ..palette import (ACCENT, ANOMALY_LABEL, ANOMALY_MARK, BADGE, BADGE_WARN, BREAKPOINT, BREAKPOINT_OFF, CHANGED,
                       FAINT, GOOD, LANES, PENDING, PENDING_TAIL, SELECTED_ROW, SHAPE)
from .lines import LinePane

MAX_LANES = 12
KIND = {"value": "input", "data": "data", "param": "param", "op": "op", "const": "const"}

# What a lane cell becomes when a connector from a lane further left runs through it. A lane that
# only passes by stays "│" (the connector hops over it), so ├ ┼ ╰ ┴ always mean "feeds this line".
_CROSS = {"│": "│", " ": "─", "├": "┼", "╰": "┴", "╭": "┬"}


@dataclass
class Row:
    """One listed line: a node, or a folded layer shown by its final node."""

    node: int
    members: tuple[int, ...]     # every node this line stands for (one unless folded)
    folded: bool
    gutter: Text
    label: str
    tail: str                    # kind and shape


def lanes(feeds: list[list[int]], used: list[bool]) -> list[Text]:
    """Box-drawing gutters: feeds[r] lists the earlier rows that feed row r; used[r] if r feeds later rows."""
    n = len(feeds)
    consumers: dict[int, set[int]] = {}
    last: dict[int, int] = {}
    for r, srcs in enumerate(feeds):
        for s in srcs:
            consumers.setdefault(s, set()).add(r)
            last[s] = max(last.get(s, -1), r)
    active: dict[int, int] = {}          # column -> source row
    cells_by_row: list[list[tuple[str, int]]] = []
    width = 0
    for r in range(n):
        cells: dict[int, str] = {}
        connect: list[int] = []
        ending = []
        for col, src in active.items():
            if r in consumers.get(src, ()):
                cells[col] = "╰" if last[src] == r else "├"
                connect.append(col)
                if last[src] == r:
                    ending.append(col)
            else:
                cells[col] = "│"
        if used[r] and r in last:
            free = next((c for c in range(MAX_LANES) if c not in active), None)
            if free is not None:
                cells[free] = "╭"
                connect.append(free)
                active[free] = r
        for col in ending:
            del active[col]
        top = max(cells, default=-1)
        row = [cells.get(c, " ") for c in range(top + 1)]
        if connect:
            for c in range(min(connect) + 1, len(row)):
                row[c] = _CROSS.get(row[c], row[c])
        width = max(width, len(row))
        cells_by_row.append([(ch, c) for c, ch in enumerate(row)])
        # a lane whose column is freed this row may be reused from the next row on
    out = []
    for row in cells_by_row:
        t = Text()
        for ch, c in row:
            t.append(ch, style=LANES[c % len(LANES)] if ch not in " ─" else FAINT)
        has_link = any(ch in "╰├╭┬┴┼" for ch, _ in row)
        t.append(("─" if has_link else " ") * (width - len(row)), style=FAINT)
        t.append("─ " if has_link else "  ", style=FAINT)
        out.append(t)
    return out


class GraphPane(LinePane):
    """The program listing with lanes, the cursor, done/to-do styling and gradient status."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.program: Program | None = None
        self.rows: list[Row] = []
        self.row_of: dict[int, int] = {}
        self.folded: set[str] = set()
        self._sigs: list[tuple] = []
        self._status_width = 2
        self._health: HealthSample | None = None
        self._pins: dict[int, bool] = {}

    # ------------------------------------------------------------------ layout of the listing
    def load(self, program: Program, folded: set[str] | None = None) -> None:
        """Lay out a (new) program's listing."""
        self.program = program
        self.folded = set(folded or ()) & set(program.groups())
        self._layout()

    def _layout(self) -> None:
        p = self.program
        groups = p.groups()
        rep: dict[int, int] = {}
        members: dict[int, list[int]] = {}
        for key, ids in groups.items():
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
        used = [False] * len(shown)
        for r, i in enumerate(shown):
            srcs = set()
            for m in members.get(i, [i]):
                for j in p.nodes[m].inputs:
                    if p.nodes[j].kind != "const" and self.row_of[j] != r:
                        srcs.add(self.row_of[j])
            feeds.append(sorted(srcs))
            for s in srcs:
                used[s] = True
        gutters = lanes(feeds, used)
        most = max(p.expected, default=1)
        self._status_width = 2 if most <= 1 else len(f"{most}/{most}") + 1
        self.rows = []
        for r, i in enumerate(shown):
            node = p.nodes[i]
            if node.is_leaf:
                label = node.name
            elif node.key is not None:
                label = f"{node.name} = {node.text}"
            else:
                label = node.text          # an inner node reads as its expression
            folded = i in members
            self.rows.append(Row(i, tuple(members.get(i, [i])), folded, gutters[r], label,
                                 f"{KIND[node.kind]} {fmt_shape(node.shape)}"))
        self._sigs = [None] * len(self.rows)
        self.set_lines([Text() for _ in self.rows])

    def toggle(self, node: int) -> bool:
        """Fold or unfold the layer that made `node`; False if it is not in a multi-node layer."""
        p = self.program
        if p is None:
            return False
        key = p.nodes[node].group
        if key is None or len(p.groups().get(key, ())) < 2:
            return False
        self.folded ^= {key}
        self._layout()
        return True

    def toggle_all(self) -> None:
        """Fold every multi-node layer, or unfold all if any is folded."""
        if self.program is None:
            return
        multi = {k for k, ids in self.program.groups().items() if len(ids) > 1}
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

    # ------------------------------------------------------------------ per-step state
    def show(self, st: Stepper, selected: int, follow: bool = True, health: HealthSample | None = None) -> None:
        """Restyle the lines whose state changed since the last call."""
        p = self.program
        if p is None or not self.rows:
            return
        self._health = health
        self._pins: dict[int, bool] = {}          # node -> some breakpoint pinned to it is enabled
        for bp in st.breakpoints:
            if bp.at is not None:
                self._pins[bp.at] = self._pins.get(bp.at, False) or bp.enabled
        c = st.cursor
        nxt = next_node(st)
        anomaly = st.anomaly.node if st.anomaly is not None else None
        done_back: set[int] = set()
        if c.phase is Phase.BACKWARD:
            done_back = set(p.backward[:max(0, c.index - 1)])
            if c.index > 0:
                done_back.add(p.loss)
        elif c.phase in (Phase.UPDATE, Phase.DONE):
            done_back = set(p.backward) | {p.loss}
        updated = set()
        if c.phase is Phase.UPDATE:
            updated = set(p.params[:c.index])
        for r, row in enumerate(self.rows):
            sig = self._signature(st, row, c.phase, nxt, selected, anomaly, done_back, updated)
            if sig != self._sigs[r]:
                self._sigs[r] = sig
                self.set_row(r, self._render_row(row, sig))
        if follow:
            target = nxt if nxt is not None else selected
            self.follow(self.row_of.get(target, 0), margin=2)

    def _signature(self, st, row, phase, nxt, selected, anomaly, done_back, updated) -> tuple:
        p = self.program
        i = row.node
        node = p.nodes[i]
        if phase is Phase.FORWARD:
            done = node.is_leaf or all(st.value(m) is not None for m in row.members)
            status = ""
        else:
            if phase is Phase.BACKWARD:
                done = (node.is_leaf and st.grad_status(i)[0] == st.grad_status(i)[1]) or \
                    all(m in done_back or not p.needs_grad[m] for m in row.members)
            elif phase is Phase.UPDATE:
                done = node.kind != "param" or i in updated
            else:
                done = True
            status = grad_mark(st, i) if p.needs_grad[i] else ""
        pins = [self._pins[m] for m in row.members if m in self._pins]
        pin = None if not pins else any(pins)
        mark = badge(self._health, node.name, node.shape) if self._health is not None else ""
        return (selected in row.members, nxt in row.members, done, status,
                anomaly in row.members, row.folded, pin, mark)

    def _render_row(self, row: Row, sig: tuple) -> Text:
        selected, is_next, done, status, bad, folded, pin, mark = sig
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
        if folded:
            t.append("▸ ", style=f"bold {ACCENT}")
        style = "bold" if done else PENDING
        if bad:
            style = ANOMALY_LABEL
        t.append(row.label, style=style)
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
