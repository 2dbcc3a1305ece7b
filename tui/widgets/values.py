"""The Forward values pane: the selected node's value in full, then every value computed so far."""
from __future__ import annotations

from rich.text import Text

from gradstep.engine import FULL, Stepper, fmt_shape, visible

from ..palette import CHANGED, FAINT, LABEL, MUTED, PENDING, SHAPE
from . import tensorview
from .lines import LinePane
from .tangents import tangent_beside, value_width


def node_label(node) -> str:
    """How a node is named in the value and gradient lists (names come from the file: shown, never sent raw)."""
    return visible(node.name if node.key is not None or node.is_leaf else f"({node.name})", newlines=False)


class ValuesPane(LinePane):
    """Forward values of the current iteration; what the last step wrote is highlighted."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._cache: dict[int, tuple] = {}
        self._detail: tuple | None = None
        self._ids: tuple = (None, [])             # ((Stepper, tick), the nodes with a value then)

    def reset(self) -> None:
        self._cache.clear()
        self._detail = None

    def show(self, st: Stepper, selected: int, changed: frozenset[int], digits: int | None = FULL) -> None:
        """digits: the selected node's numbers, FULL (every digit) or this many significant digits."""
        p = st.program
        width = max(10, self.scrollable_content_region.width)
        node = p.nodes[selected]
        v = st.value(selected)
        key = (selected, id(v), v is not None, selected in changed, width, digits)
        if self._detail is None or self._detail[0] != key:
            head = Text(no_wrap=True, end="")
            head.append(node_label(node), style="bold")
            head.append(f"  {node.kind} {fmt_shape(node.shape)}", style=SHAPE)
            if node.op is not None and node.text != node.name:
                head.append(f"  = {visible(node.text, newlines=False)}", style=MUTED)
            detail = [head]
            if v is None:
                detail.append(Text("  not computed yet in this iteration", style=PENDING, end=""))
            else:
                detail.extend(tensorview.lines(v, width, CHANGED if selected in changed else "", digits))
            detail.append(Text("computed this iteration:", style=FAINT, end=""))
            self._detail = (key, v, detail)
        # The list's lines are made when on screen (lines.py): a step on a 20,000-node graph makes a screenful.
        self.set_listing(list(self._detail[2]), self._computed(st), lambda i: self._line(st, i, changed, width))

    def _computed(self, st: Stepper) -> list[int]:
        """The nodes with a value at this tick, in program order (worked out once per tick)."""
        if self._ids[0] != (st, st.tick):
            self._ids = ((st, st.tick),
                         [n.id for n in st.program.nodes if n.kind != "const" and st.value(n.id) is not None])
        return self._ids[1]

    def _line(self, st: Stepper, i: int, changed: frozenset[int], width: int) -> Text:
        n = st.program.nodes[i]
        a = st.value(i)
        hot = i in changed
        hit = self._cache.get(i)
        if hit is None or hit[0] is not a or hit[1] != hot or hit[3] != width or hit[4] is not st.seed:
            t = Text(no_wrap=True, end="")
            t.append(f"{node_label(n)} = ", style=CHANGED if hot else LABEL)
            if a is None:       # listed at the last redraw, gone since (a step back drawn before the next redraw)
                t.append("—", style=FAINT)
            else:
                t.append(tensorview.short(a, value_width(st, width - t.cell_len)), style=CHANGED if hot else "")
            tangent_beside(t, st, i, width)              # forward mode: '  ċ = 1'
            hit = (a, hot, t, width, st.seed)
            self._cache[i] = hit
        return hit[2]
