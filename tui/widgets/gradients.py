"""The Gradients pane: ∂E/∂node for the selected node with each incoming contribution, its local
derivative formula and value, the running sum, the chain-rule paths on scalar graphs, and then
every gradient reached so far."""
from __future__ import annotations

import numpy as np
from rich.text import Text

from gradstep.engine import FULL, Phase, Stepper, chain_paths, fmt_num

from ..palette import ACCENT, CHANGED, FAINT, GOOD, HIGHLIGHT, LABEL, MUTED, PENDING
from . import tensorview
from .lines import LinePane, wrap
from .values import node_label

MAX_PATHS_SHOWN = 8


def _factor(x: float) -> str:
    s = fmt_num(x)
    return f"({s})" if s.startswith("-") else s


class GradientsPane(LinePane):
    """Accumulated gradients, and how the selected node's gradient was assembled."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._cache: dict[int, tuple] = {}
        self._scalar_graph = False
        self._ids: tuple = (None, [])             # ((Stepper, tick), the nodes with a gradient then)

    def reset(self, st: Stepper) -> None:
        self._cache.clear()
        self._scalar_graph = all(n.shape == () for n in st.program.nodes)

    def show(self, st: Stepper, selected: int, changed: frozenset[int], digits: int | None = FULL) -> None:
        """changed: the nodes whose gradient the last step wrote (highlighted); digits: the selected node's
        numbers, FULL (every digit) or this many significant digits."""
        p = st.program
        width = max(10, self.scrollable_content_region.width)
        loss = p.nodes[p.loss].name
        node = p.nodes[selected]
        name = node_label(node)
        out: list[Text] = []
        got, want = st.grad_status(selected)
        head = Text(no_wrap=True, end="")
        head.append(f"∂{loss}/∂{name}", style="bold")
        if not p.needs_grad[selected]:
            head.append("  no gradient flows here", style=PENDING)
            out.append(head)
        else:
            state = ("complete" if got >= want else f"partial, {got} of {want}") if got else "not reached yet"
            head.append(f"  {state}", style=GOOD if got >= want else HIGHLIGHT if got else PENDING)
            out.append(head)
            g = st.grad(selected)
            if g is not None:
                out.extend(tensorview.lines(g, width, CHANGED if selected in changed else "", digits))
            fold = self.content_region.width - 1        # formulas whole, not cut at the edge (nor by a scrollbar)
            for t in self._paths(st, selected, name, loss, digits):
                out.extend(wrap(t, fold))
            out.extend(self._contributions(st, selected, name, width, digits, fold))
        out.append(Text("gradients so far:", style=FAINT, end=""))
        # The list's lines are made when on screen (lines.py): a step on a 20,000-node graph makes a screenful.
        self.set_listing(out, self._reached(st), lambda i: self._line(st, i, changed, width, loss))

    def _reached(self, st: Stepper) -> list[int]:
        """The nodes with a gradient at this tick, in program order (worked out once per tick)."""
        if self._ids[0] != (st, st.tick):
            self._ids = ((st, st.tick), [n.id for n in st.program.nodes if st.grad(n.id) is not None])
        return self._ids[1]

    def _line(self, st: Stepper, i: int, changed: frozenset[int], width: int, loss: str) -> Text:
        n = st.program.nodes[i]
        g = st.grad(i)
        hot = i in changed
        mark = st.grad_status(i)
        hit = self._cache.get(i)
        if hit is None or hit[0] is not g or hit[1] != hot or hit[2] != mark or hit[4] != width:
            t = Text(no_wrap=True, end="")
            t.append(f"∂{loss}/∂{node_label(n)} = ", style=CHANGED if hot else LABEL)
            if g is None:       # listed at the last redraw, gone since (a step back drawn before the next redraw)
                t.append("—", style=FAINT)
            else:
                t.append(tensorview.short(g, width - t.cell_len - 10), style=CHANGED if hot else "")
            if mark[0] < mark[1]:
                t.append(f"  ({mark[0]} of {mark[1]})", style=HIGHLIGHT)
            hit = (g, hot, mark, t, width)
            self._cache[i] = hit
        return hit[3]

    def _contributions(self, st: Stepper, node: int, name: str, width: int, digits: int | None,
                       fold: int) -> list[Text]:
        p = st.program
        contribs = st.contributions(node)
        out = []
        total = None
        for k, c in enumerate(contribs, 1):
            consumer = p.nodes[c.consumer]
            cname = node_label(consumer)
            t = Text(no_wrap=True, end="")
            t.append(f" {k}. from {cname}:", style=MUTED)
            d = f"∂{cname}/∂{name}"
            f = Text(no_wrap=True, end="")
            f.append(f"    {d if len(d) <= 12 else 'local ∂'} = {st.formula(c.consumer, c.position)}",
                     style=ACCENT)
            local = st.local_derivative(c.consumer, c.position)
            formula = st.formula(c.consumer, c.position)
            if local is not None and np.size(local) <= tensorview.INLINE and tensorview.short(local) != formula:
                f.append(f" = {tensorview.short(local, digits=digits)}", style=ACCENT)
            if t.cell_len + f.cell_len - 3 <= fold:
                t.append_text(f[3:])
                out.append(t)
            else:
                out.append(t)
                out.extend(wrap(f, fold, indent=6))
            part = Text(no_wrap=True, end="")
            part.append("    contribution ", style=MUTED)
            part.append(tensorview.short(c.value, width - 17, digits))
            out.append(part)
            total = c.value if total is None else total + c.value
            if len(contribs) > 1:
                s = Text(no_wrap=True, end="")
                s.append(f"    running sum after {k}: ", style=MUTED)
                s.append(tensorview.short(total, width - 25, digits), style="bold")
                out.append(s)
        return out

    def _paths(self, st: Stepper, node: int, name: str, loss: str, digits: int | None) -> list[Text]:
        """For scalar graphs: each path's product of local derivatives once the backward pass has crossed
        every edge on it (a factor not reached yet reads ?), and the sum over the paths complete so far."""
        p = st.program
        if not self._scalar_graph or st.cursor.phase is Phase.FORWARD or node == p.loss:
            return []
        vals = [st.value(i) for i in range(len(p.nodes))]
        if any(vals[i] is None for i in p.ops):
            return []
        paths = chain_paths(p, node, vals)
        if not paths.scalar or paths.truncated or not paths.paths:
            return []
        received: dict[int, set[tuple[int, int]]] = {}

        def crossed(e) -> bool:
            """The backward pass has passed gradient along this edge (its consumer's step has run)."""
            if e.input not in received:
                received[e.input] = {(c.consumer, c.position) for c in st.contributions(e.input)}
            return (e.consumer, e.position) in received[e.input]
        complete = [all(crossed(e) for e in path.edges) for path in paths.paths]
        done = [path.product for path, ok in zip(paths.paths, complete) if ok]
        terms, lines = [], []
        for path, ok in zip(paths.paths[:MAX_PATHS_SHOWN], complete):
            route = "→".join([node_label(p.nodes[e.consumer]) for e in path.edges] + [name])
            factors = "·".join(_factor(e.local) if crossed(e) else "?" for e in path.edges)
            t = Text(no_wrap=True, end="")
            t.append(f"  {route}: ", style=MUTED)
            if ok:
                terms.append(factors)
                t.append(f"{factors} = {fmt_num(path.product, digits)}")
            else:
                t.append(factors, style=PENDING)
                t.append("  not reached yet", style=PENDING)
            lines.append(t)
        n = len(paths.paths)
        every = len(done) == n
        total = Text(no_wrap=True, end="")
        head = f"{n} path{'s' * (n > 1)}" if every else f"{len(done)} of {n} path{'s' * (n > 1)} complete"
        total.append(f"chain rule, {head}: ", style=MUTED)
        total.append(f"∂{loss}/∂{name} = ", style="bold")
        if not done:
            total.append("? (no path complete yet)", style=PENDING)
            return [total] + lines
        if n <= MAX_PATHS_SHOWN:
            total.append(" + ".join(terms) + (" + …" if not every else "") + " = ")
        total.append(fmt_num(paths.total if every else float(sum(done)), digits),
                     style=f"bold {GOOD}" if every else f"bold {HIGHLIGHT}")
        if not every:
            total.append(" so far", style=HIGHLIGHT)
        return [total] + lines
