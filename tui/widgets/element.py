"""The Element pane: the selected node's tensor with an element cursor, and that element drilled down —
its value, ∂E/∂ of it, its update −η·g, and its scalar chain rule term by term (element.py computes).

The tensor is drawn as numbers when they fit, else as a heatmap with coordinates (a grid of 2-D tiles
for three or more axes). With the pane focused (tab, t, or a click on a cell) the arrows move the cursor
(shift+arrows a whole block of cells at a time) and v switches between the value and its gradient;
each node remembers where its cursor was.
"""
from __future__ import annotations

import numpy as np
from rich.text import Text
from textual import events
from textual.binding import Binding

from gradstep.engine import FULL, Phase, Stepper, fmt_num, fmt_shape, visible

from ..element import MAX_TERMS, Drill, Route, clamp, drill
from ..palette import ACCENT, FAINT, GOOD, HIGHLIGHT, LABEL, MUTED, PENDING, SHAPE, WARNING_MARK
from . import tensorview
from .graph import KIND, RUNNING_STAT
from .lines import LinePane, wrap

PICTURE_ROWS = 12          # heatmap rows of cells when the pane's height follows its content
MIN_PICTURE_ROWS = 4       # and at least this many when the pane has a fixed height (the compact layout)


def ref(name: str, index: tuple[int, ...]) -> str:
    """'W1[3, 7]', '(W1 @ x)[3]', or the name alone for a scalar."""
    name = visible(name, newlines=False)
    if not index:
        return name
    base = name if name.isidentifier() else f"({name})"
    return f"{base}[{', '.join(map(str, index))}]"


def _num(x: float, digits: int | None) -> str:
    s = fmt_num(x, digits)
    return f"({s})" if s.startswith("-") else s


class ElementPane(LinePane):
    """One tensor and one of its elements, in full."""

    BINDINGS = [Binding("shift+up", "block(-1, 0)", show=False), Binding("shift+down", "block(1, 0)", show=False),
                Binding("shift+left", "block(0, -1)", show=False), Binding("shift+right", "block(0, 1)", show=False),
                Binding("v", "switch", "value/∂E", show=False)]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.cursors: dict[int, tuple[int, ...]] = {}     # node -> its cursor
        self.gradient = False                             # draw ∂E/∂node instead of the value
        self.warnings: dict[int, str] = {}
        self._st: Stepper | None = None
        self._node = 0
        self._digits: int | None = FULL
        self._key: tuple | None = None
        self._picture: tensorview.Picture | None = None
        self._fold = 80                                   # the width equations are wrapped to
        self._top = 0                                     # the picture's first line in the pane
        self._floor = 0                                   # the most lines shown: the pane only grows (up to
                                                          # its cap), so a step does not relayout the screen

    def reset(self, warnings: dict[int, str] | None = None) -> None:
        """A new scenario: cursors start over."""
        self.cursors.clear()
        self.warnings = dict(warnings or {})
        self._key = None
        self._floor = 0

    @property
    def cursor(self) -> tuple[int, ...]:
        """The element shown for the selected node."""
        st = self._st
        if st is None:
            return ()
        shape = st.program.nodes[self._node].shape
        return clamp(self.cursors.get(self._node, (0,) * len(shape)), shape)

    def show(self, st: Stepper, selected: int, digits: int | None = FULL) -> None:
        """Draw the selected node (cheap when nothing it shows has changed)."""
        self._st, self._node, self._digits = st, selected, digits
        self._draw()

    # ------------------------------------------------------------------ keys and mouse
    def move(self, rows: int, cols: int, block: bool = False) -> None:
        """Move the cursor (block: by one cell of the picture, which may hold many elements)."""
        st = self._st
        if st is None:
            return
        shape = st.program.nodes[self._node].shape
        if not shape:
            return
        index = list(self.cursor)
        step_r = step_c = 1
        if block and self._picture is not None and self._picture.kind != "numbers":
            step_r, step_c = self._block_size(shape)
        if len(shape) == 1:
            index[0] += cols * step_c + rows * self._vector_row()
        else:
            index[-1] += cols * step_c
            index[-2] += rows * step_r
            index = self._carry(index, shape)
        self.cursors[self._node] = clamp(tuple(index), shape)
        self._draw()

    def action_block(self, rows: int, cols: int) -> None:
        """shift+arrows: a whole cell of the heatmap at a time."""
        self.move(rows, cols, block=True)

    def action_switch(self) -> None:
        """v: draw the gradient instead of the value, or back."""
        self.gradient = not self.gradient
        self._draw()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self._picture is None:
            return
        y = round(self.scroll_offset.y) + offset.y - self._top
        index = self._picture.element_at(y, offset.x)
        if index is not None:
            self.cursors[self._node] = index
            self.focus()
            self._draw()

    def _vector_row(self) -> int:
        """How many elements one line of a vector's picture holds (up and down move by that)."""
        pic = self._picture
        if pic is None or not pic.cells:
            return 1
        rows = sorted(pic.cells)
        if len(rows) < 2:
            return len(pic.cells[rows[0]])
        return max(1, pic.cells[rows[1]][0][2][0] - pic.cells[rows[0]][0][2][0])

    def _block_size(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """Elements per picture cell, down and across."""
        pic = self._picture
        rows = sorted(pic.cells)
        first = pic.cells[rows[0]]
        dc = first[1][2][-1] - first[0][2][-1] if len(first) > 1 else 1
        dr = pic.cells[rows[1]][0][2][-2] - first[0][2][-2] if len(shape) >= 2 and len(rows) > 1 else 1
        return max(1, dr), max(1, dc)

    @staticmethod
    def _carry(index: list[int], shape: tuple[int, ...]) -> list[int]:
        """Past a tile's edge, on to the neighbouring tile: across along the axis the tiles run across
        (channels of a 4-D tensor, axis 0 of a 3-D one), down along axis 0 of a 4-D one."""
        n = len(shape)
        if n < 3:
            return index
        h, w = shape[-2:]
        across = n - 3
        if index[-1] >= w and index[across] < shape[across] - 1:
            index[-1] -= w
            index[across] += 1
        elif index[-1] < 0 and index[across] > 0:
            index[-1] += w
            index[across] -= 1
        if n >= 4:
            if index[-2] >= h and index[0] < shape[0] - 1:
                index[-2] -= h
                index[0] += 1
            elif index[-2] < 0 and index[0] > 0:
                index[-2] += h
                index[0] -= 1
        return index

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        st = self._st
        if st is None:
            return
        p = st.program
        node = p.nodes[self._node]
        shape = node.shape
        index = self.cursor
        width = max(20, self.scrollable_content_region.width)
        a = st.grad(self._node) if self.gradient else st.value(self._node)
        got = st.grad_status(self._node)
        key = (self._node, index, self.gradient, width, self.scrollable_content_region.height, self._digits,
               st.tick, id(st), id(st.value(self._node)), id(st.grad(self._node)), got)
        if key == self._key:
            return
        self._key = key
        out: list[Text] = []
        head = Text(no_wrap=True, end="")
        head.append(ref(node.name, index), style="bold")
        kind = RUNNING_STAT if self._node in p.carried else KIND.get(node.kind, node.kind)
        head.append(f"  of {kind} {fmt_shape(shape)}", style=SHAPE)
        head.append("   " + ("∂E/∂ shown" if self.gradient else "value shown"), style=MUTED)
        head.append("  (v switches; arrows move when focused)" if shape else "", style=FAINT)
        out.append(head)
        warning = self.warnings.get(self._node)
        if warning:
            out.append(Text(f"! {visible(warning, newlines=False)}", style=WARNING_MARK, end=""))
        self._fold = self.content_region.width - 1      # equations wrap here (a scrollbar column spared)
        out.extend(self._details(st, drill(st, self._node, index)))
        self._top = len(out)
        if a is None:
            self._picture = None
            what = "gradient not reached yet" if self.gradient else "not computed yet in this iteration"
            out.append(Text(f"  {what}", style=PENDING, end=""))
        elif shape:
            self._picture = tensorview.picture(np.asarray(a), width, self._rows(len(out)), cursor=index)
            out.extend(self._picture.lines)
        else:
            self._picture = None
        if len(out) < self._floor:
            out.extend(Text(end="") for _ in range(self._floor - len(out)))
        self._floor = len(out)
        self.set_lines(out)
        if self._picture is not None:
            self._follow_cursor()

    def _rows(self, above: int) -> int:
        """Heatmap rows: PICTURE_ROWS in a pane as tall as its content, else what is left under the details
        (the element's numbers and the picture both on screen at 80×24)."""
        height = self.styles.height
        if height is None or height.is_auto:
            return PICTURE_ROWS
        return max(MIN_PICTURE_ROWS, self.scrollable_content_region.height - above - 3)

    def _follow_cursor(self) -> None:
        pic = self._picture
        index = self.cursor
        for y, spans in pic.cells.items():
            if any(ix == index for _, _, ix in spans):
                self.follow(self._top + y)
                return

    def _details(self, st: Stepper, d: Drill) -> list[Text]:
        p = st.program
        node = p.nodes[d.node]
        loss = p.nodes[p.loss].name
        name = ref(node.name, d.index)
        digits = self._digits
        out = []

        def line(label: str, text: str, style: str = "", note: str = "", note_style: str = MUTED) -> None:
            t = Text(no_wrap=True, end="")
            t.append(f"{label:<13}", style=LABEL)
            t.append(text, style=style)
            if note:
                t.append(f"  {note}", style=note_style)
            out.append(t)

        line("value", fmt_num(d.value, digits) if d.value is not None else "not computed yet",
             "bold" if d.value is not None else PENDING)
        if not p.needs_grad[d.node]:
            line(f"∂{loss}/∂·", "no gradient flows here", PENDING)
            return out
        got, want = d.received
        if d.grad is None:
            line(f"∂{loss}/∂·", "not reached yet", PENDING)
        else:
            state = "complete" if got >= want else f"partial, {got} of {want}"
            line(f"∂{loss}/∂·", fmt_num(d.grad, digits), "bold", state, GOOD if got >= want else HIGHLIGHT)
        if d.eta is not None:
            if d.step is not None:
                line("−η·g", fmt_num(d.step, digits), "", f"η = {fmt_num(d.eta)}")
            else:
                line("−η·g", "once the gradient is complete", PENDING, f"η = {fmt_num(d.eta)}")
            if d.new is not None:
                line("updated to", fmt_num(d.new, digits), "bold", "w_new (the optimizer's step)")
        for r in d.routes:
            out.extend(self._route(st, r, name, loss))
        return out

    def _route(self, st: Stepper, r: Route, name: str, loss: str) -> list[Text]:
        p = st.program
        consumer = p.nodes[r.consumer]
        cname = consumer.name
        out = []
        t = Text(no_wrap=True, end="")
        paren = cname if cname.isidentifier() else f"({cname})"
        t.append(f"chain rule through {visible(paren, newlines=False)}", style=MUTED)
        t.append(f"   δ = ∂{loss}/∂{visible(paren, newlines=False)}", style=FAINT)
        out.append(t)
        if not r.terms:
            out.append(Text(f"  contribution {fmt_num(r.total, self._digits)}", end=""))
            return out
        sym = Text(no_wrap=True, end="")
        sym.append(f"  ∂{loss}/∂{name} = ", style="bold")
        sym.append(" + ".join(f"δ{_ix(t.out)}·{t.name or '∂' + ref(cname, t.out) + '/∂' + name}"
                              for t in r.terms[:3]) + (" + …" if r.count > 3 else ""), style=ACCENT)
        out.extend(wrap(sym, self._fold, indent=6))
        rows = {b: (k, s) for b, k, s in r.rows}
        if r.rows and any(k > 1 for k, _ in rows.values()):
            for b, k, s in r.rows[:MAX_TERMS]:
                out.append(Text(f"    batch row {b}: {k} terms, sum {fmt_num(s)}", end=""))
        else:
            for term in r.terms:
                t = Text(no_wrap=True, end="")
                if r.rows:
                    t.append(f"    row {term.out[0]}: ", style=MUTED)
                else:
                    t.append("    ")
                factor = term.name or f"∂{ref(cname, term.out)}/∂{name}"
                if r.count > 1 or r.rows:                   # one term: the line above names it already
                    t.append(f"δ{_ix(term.out)}·{factor}", style=ACCENT)
                t.append(f" = {_num(term.delta, 4)}·{_num(term.local, 4)} = {fmt_num(term.delta * term.local)}")
                out.extend(wrap(t, self._fold, indent=6))
        shown = len(r.rows) if r.rows and any(k > 1 for k, _ in rows.values()) else len(r.terms)
        listed = min(shown, MAX_TERMS)
        total = len(r.rows) if r.rows and any(k > 1 for k, _ in rows.values()) else r.count
        if total > listed:
            out.append(Text(f"    … {total - listed:,} more {'rows' if r.rows else 'terms'}", style=FAINT, end=""))
        s = Text(no_wrap=True, end="")
        s.append("    sum ", style=MUTED)
        s.append(fmt_num(r.total, self._digits), style="bold")
        s.append(f"  ({r.count:,} term{'s' * (r.count != 1)}"
                 + (f" over {len(r.rows)} batch rows" if r.rows else "") + ")", style=FAINT)
        out.append(s)
        return out


def _ix(index: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, index))}]" if index else ""
