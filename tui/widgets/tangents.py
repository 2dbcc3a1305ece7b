"""The Forward mode pane: the seed, the selected node's tangent equation (ė = ċ·d + c·ḋ) with each input's
term and the edge's local derivative (the formula reverse mode shows on that edge), every tangent so far,
and the pass counter: forward-mode passes the full gradient takes against one reverse pass, with their
measured costs. Hidden until the mode has been switched once; from then on it stays, in both modes.

tangent_beside() is the one way a tangent is written beside a value (the Forward values pane uses it).
"""
from __future__ import annotations

import numpy as np
from rich.text import Text

from gradstep.engine import Mode, PassCosts, Stepper, tangent_name, visible

from ..palette import ACCENT, CHANGED, FAINT, GOOD, LABEL, MUTED, PENDING
from . import tensorview
from .lines import LinePane


def tangent_beside(line: Text, st: Stepper, node: int, width: int) -> None:
    """Append '  ċ = 1' to a value's line in forward mode (nothing in reverse mode or when it does not fit)."""
    t = st.tangent(node) if st.mode is Mode.FORWARD else None
    if t is None:
        return
    name = tangent_name(st.program.nodes[node].name)
    room = width - line.cell_len - len(name) - 5
    if room < 3:
        return
    line.append(f"  {visible(name, newlines=False)} = ", style=MUTED)
    line.append(tensorview.short(t, room), style=GOOD)


def value_width(st: Stepper, room: int) -> int:
    """How wide a value may be written in a list line: in forward mode half the room, leaving the tangent the rest."""
    return room // 2 if st.mode is Mode.FORWARD else room


def duration(seconds: float) -> str:
    """1.2 µs, 28 µs, 3.4 ms, 1.2 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            v = seconds / scale
            return f"{v:.2g} {unit}" if v < 10 else f"{v:,.0f} {unit}"
    return f"{seconds * 1e9:.2g} ns"


def pass_lines(st: Stepper, costs: PassCosts | None) -> list[Text]:
    """The pass counter, in either mode: passes for the full gradient, and what each costs once measured."""
    p = st.program
    forward = st.passes_needed(Mode.FORWARD)
    per = "param" if p.params else "input"
    head = Text(no_wrap=True, end="")
    head.append("full gradient: ", style=MUTED)
    head.append(f"forward mode {forward:,} passes", style="bold")
    head.append(f" (one per scalar {per}) vs ", style=MUTED)
    head.append("reverse mode 1 pass", style=f"bold {GOOD}")
    out = [head]
    t = Text(no_wrap=True, end="")
    if costs is None:
        t.append("  measuring the cost of each pass…", style=PENDING)
    else:
        t.append("  measured: ", style=MUTED)
        t.append(f"{forward:,} × {duration(costs.tangent)} = {duration(costs.forward_mode_total)}")
        t.append(" vs ", style=MUTED)
        t.append(duration(costs.reverse), style=GOOD)
        t.append(f"  ({costs.ratio:,.0f}× longer)" if costs.ratio >= 2 else f"  ({costs.ratio:.2g}×)", style=MUTED)
    out.append(t)
    return out


class TangentsPane(LinePane):
    """Forward mode's tangents for the selected node and the pass counter."""

    DEFAULT_CSS = """
    TangentsPane { display: none; height: auto; max-height: 40%; min-height: 3; }
    TangentsPane.-shown { display: block; }
    """

    def show(self, st: Stepper, selected: int, changed: frozenset[int], costs: PassCosts | None,
             shown: bool) -> None:
        """shown: the user has switched modes at least once (until then the pane stays out of the way)."""
        self.set_class(shown, "-shown")
        if not shown:
            return
        width = max(10, self.scrollable_content_region.width)
        out: list[Text] = []
        if st.mode is Mode.FORWARD:
            self.border_title = "Forward mode: tangents"
            seed = Text(no_wrap=True, end="")
            seed.append("seed: ", style=MUTED)
            seed.append(visible(st.seed.describe(st.program), newlines=False), style="bold")
            out.append(seed)
            out.extend(self._selected(st, selected, changed, width))
            out.extend(self._so_far(st, changed, width))
        else:
            self.border_title = "Passes"
            t = Text(no_wrap=True, end="")
            t.append("reverse mode: one backward pass gives ∂E/∂ every input (m: forward mode)", style=MUTED)
            out.append(t)
        out.extend(pass_lines(st, costs))
        self.set_lines(out)

    def _selected(self, st: Stepper, node: int, changed: frozenset[int], width: int) -> list[Text]:
        p = st.program
        n = p.nodes[node]
        eq = Text(no_wrap=True, end="")
        eq.append(visible(st.tangent_equation(node), newlines=False), style="bold")
        t = st.tangent(node)
        if t is None:
            eq.append("   not computed yet", style=PENDING)
            return [eq]
        eq.append(" = ", style=MUTED)
        eq.append(tensorview.short(t, max(8, width - eq.cell_len)), style=CHANGED if node in changed else GOOD)
        out = [eq]
        for term in st.tangent_terms(node):
            src = p.nodes[term.input]
            line = Text(no_wrap=True, end="")
            line.append(f"  from {visible(src.name, newlines=False)}: ", style=MUTED)
            line.append(f"∂{visible(n.name, newlines=False)}/∂{visible(src.name, newlines=False)} = "
                        f"{visible(term.formula, newlines=False)}", style=ACCENT)
            local = st.local_derivative(node, term.position)
            if local is not None and np.size(local) <= tensorview.INLINE:
                shown = tensorview.short(local)
                if shown != term.formula:
                    line.append(f" = {shown}", style=ACCENT)
            out.append(line)
            part = Text(no_wrap=True, end="")
            part.append(f"    {visible(tangent_name(src.name), newlines=False)} = ", style=MUTED)
            src_t = st.tangent(term.input)
            part.append(tensorview.short(src_t, 24) if src_t is not None else "0")
            part.append(f"   {visible(term.text, newlines=False)} = ", style=MUTED)
            if term.value is not None:
                part.append(tensorview.short(term.value, max(8, width - part.cell_len)))
            out.append(part)
        return out

    def _so_far(self, st: Stepper, changed: frozenset[int], width: int) -> list[Text]:
        p = st.program
        out = [Text("tangents so far:", style=FAINT, end="")]
        row = Text(no_wrap=True, end="")
        for n in p.nodes:
            if n.kind == "const" or (n.key is None and n.op is None):
                continue
            t = st.tangent(n.id)
            if t is None:
                continue
            item = Text(no_wrap=True, end="")
            hot = n.id in changed
            item.append(f"{visible(tangent_name(n.name), newlines=False)} = ", style=CHANGED if hot else LABEL)
            item.append(tensorview.short(t, max(8, width // 2)), style=CHANGED if hot else "")
            if row.cell_len and row.cell_len + 3 + item.cell_len > width:
                out.append(row)
                row = Text(no_wrap=True, end="")
            if row.cell_len:
                row.append("   ")
            row.append_text(item)
        if row.cell_len:
            out.append(row)
        return out
