"""The graph as Graphviz DOT: `gradstep dot`, and with --values each node's value and gradient at one tick
and each edge's local derivative, the way micrograd's draw_dot labels data and grad.

Every piece of scenario text passes through quoted() (display.visible, then DOT's escapes), so a name
holding quotes, backslashes or line breaks stays inside its one quoted string.
"""
from __future__ import annotations

import numpy as np

from .display import fmt_num, summary, visible
from .program import Program
from .shapes import fmt

STYLE = {"param": 'shape=box, style=filled, fillcolor="#ffe9a8"', "value": "shape=box",
         "data": 'shape=box, style=dashed', "const": "shape=plaintext", "op": "shape=ellipse",
         "noise": "shape=box, style=dotted"}
KIND = {"value": "input"}       # a [values] leaf reads as an input, as in the TUI's graph pane
TENSOR_DIGITS = 3


def quoted(s: str) -> str:
    """Text safe inside a DOT quoted string: control characters made visible, then backslashes, quotes and
    line breaks escaped (so the SVG Graphviz makes from it is well-formed XML too)."""
    s = visible(s)
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")


def _head(program: Program) -> list[str]:
    return ["digraph gradstep {", "  rankdir=BT;", '  node [fontname="monospace"];']


def _node_line(program: Program, n, label: str) -> str:
    extra = ", penwidth=2" if n.id == program.loss else ""
    return f'  n{n.id} [label="{label}", {STYLE.get(n.kind, "shape=box")}{extra}];'


def plain(program: Program) -> str:
    """Each node with its expression (or kind) and shape; edges from input to consumer."""
    lines = _head(program)
    for n in program.nodes:
        label = quoted(n.name) + "\\n" + quoted(f"{n.text if n.op else n.kind} {fmt(n.shape)}")
        lines.append(_node_line(program, n, label))
    for n in program.nodes:
        for j in n.inputs:
            lines.append(f"  n{j} -> n{n.id};")
    lines.append("}")
    return "\n".join(lines)


def number(a: np.ndarray | None) -> str:
    """One number as it reads in a label, a tensor as its shape and summary, or 'not computed yet'."""
    if a is None:
        return "not computed yet"
    a = np.asarray(a)
    if a.size == 1:
        return fmt_num(a.reshape(-1)[0])
    return summary(a, TENSOR_DIGITS)


def with_values(st, where: str) -> str:
    """The graph at the Stepper's tick: each node labelled with its value and grad ∂loss/∂node, each edge with its
    local derivative (formula, and its number where it is one number or a summary of its elements)."""
    p = st.program
    lines = _head(p)
    lines.insert(2, f'  label="{quoted(where)}"; labelloc=t;')
    for n in p.nodes:
        parts = [n.name, f"{n.text if n.op else KIND.get(n.kind, n.kind)} {fmt(n.shape)}",
                 f"value {number(st.value(n.id))}"]
        if p.needs_grad[n.id]:
            got, want = st.grad_status(n.id)
            g = number(st.grad(n.id)) if st.grad(n.id) is not None else "not reached yet"
            partial = f" ({got} of {want} contributions)" if 0 < got < want else ""
            parts.append(f"grad {g}{partial}")
        lines.append(_node_line(p, n, "\\n".join(quoted(x) for x in parts)))
    for n in p.nodes:
        for pos, j in enumerate(n.inputs):
            formula = st.formula(n.id, pos)
            local = st.local_derivative(n.id, pos) if st.value(n.id) is not None else None
            text = formula
            if local is not None:
                shown = number(local)
                if shown != formula:
                    text += ("\n= " if np.size(local) > 1 else " = ") + shown
            lines.append(f'  n{j} -> n{n.id} [label="{quoted(text)}"];')
    lines.append("}")
    return "\n".join(lines)

