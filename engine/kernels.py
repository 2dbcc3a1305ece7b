"""The arithmetic of one step, shared by the Stepper and the fast path so both give the same bits.

forward:  vals[i] = op.forward(*inputs)
backward: grads[j] = accumulate(grads[j], contribution(node i -> input j))   for each input j of node i
update:   w_new = w - eta * grad
"""
from __future__ import annotations

import numpy as np

from .accumulate import unbroadcast
from .errors import Anomaly
from .program import Node, Program
from .shapes import fmt


def forward(node: Node, vals: list) -> np.ndarray:
    """The value of an op node from its inputs' values."""
    out = node.op.forward(*[vals[j] for j in node.inputs], **node.attrs)
    if not isinstance(out, np.ndarray) or out.dtype != np.float64:
        out = np.asarray(out, dtype=np.float64)
    return out


def carried(node: Node) -> list[int]:
    """The inputs an op's forward pass updates for the next iteration (batch_norm's running statistics)."""
    return [node.inputs[pos] for pos, _ in node.op.carries if pos < len(node.inputs)]


def carry(node: Node, vals: list) -> dict[int, np.ndarray]:
    """Those inputs' new values, from this iteration's input values."""
    ins = [vals[j] for j in node.inputs]
    return {node.inputs[pos]: np.asarray(rule(ins[pos], *ins, **node.attrs), dtype=np.float64)
            for pos, rule in node.op.carries if pos < len(node.inputs)}


def vjp(node: Node, pos: int, g: np.ndarray, vals: list) -> np.ndarray:
    """The contribution node sends to its input at pos (before un-broadcasting)."""
    return node.op.vjps[pos](g, vals[node.id], *[vals[j] for j in node.inputs], **node.attrs)


def contribution(node: Node, pos: int, g: np.ndarray, vals: list, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient node passes to its input at pos, summed back to that input's shape."""
    return unbroadcast(np.asarray(vjp(node, pos, g, vals), dtype=np.float64), shape)


def update(w: np.ndarray, grad: np.ndarray, eta: float) -> np.ndarray:
    """One gradient-descent step, out of place."""
    return np.asarray(w - eta * grad)      # an array even for 0-d params, as stepping gives


def descent_step(grad: np.ndarray, eta: float) -> np.ndarray:
    """The step gradient descent applies, −η·∂E/∂w: the same bits as w − (w − η·g) never gives."""
    return np.negative(eta * grad)


def eta_at(schedule: list[tuple[int, float]], iteration: int) -> float:
    """The learning rate of an iteration from (first iteration, eta) pairs in order."""
    eta = schedule[0][1]
    for start, value in schedule:
        if start <= iteration:
            eta = value
    return eta


def finite(a: np.ndarray) -> bool:
    """True if every element is finite (cheap for scalars)."""
    if a.ndim == 0:
        v = float(a)
        return v - v == 0.0
    return bool(np.isfinite(a).all())


def describe_range(a: np.ndarray) -> str:
    """'[min, max]' of the finite part, and how many entries are not finite."""
    a = np.asarray(a)
    if a.size == 0:
        return "[]"
    fin = a[np.isfinite(a)]
    bad = a.size - fin.size
    rng = f"[{fin.min():.4g}, {fin.max():.4g}]" if fin.size else "[no finite entries]"
    return rng + (f" with {bad} non-finite" if bad else "")


def anomaly_kind(a: np.ndarray) -> str:
    return "nan" if np.isnan(a).any() else "inf"


def forward_anomaly(program: Program, node: Node, vals: list, out: np.ndarray, iteration: int) -> Anomaly:
    ins = ", ".join(f"{program.nodes[j].name} {fmt(program.nodes[j].shape)} ∈ {describe_range(vals[j])}"
                    for j in node.inputs)
    kind = anomaly_kind(out)
    return Anomaly(iteration, "forward", node.id, node.name, node.op.name, kind,
                   f"iteration {iteration}: node {node.name!r} ({node.op.name}) produced {kind} "
                   f"from inputs {ins}")


def backward_anomaly(program: Program, node: Node, pos: int, g: np.ndarray, vals: list,
                     contribution: np.ndarray, iteration: int) -> Anomaly:
    target = program.nodes[node.inputs[pos]]
    kind = anomaly_kind(contribution)
    ins = ", ".join(f"{program.nodes[j].name} ∈ {describe_range(vals[j])}" for j in node.inputs)
    return Anomaly(iteration, "backward", node.id, node.name, node.op.name, kind,
                   f"iteration {iteration}: the gradient that {node.name!r} ({node.op.name}) passes to "
                   f"{target.name!r} is {kind}; upstream gradient ∈ {describe_range(g)}, inputs {ins}")


def update_anomaly(node: Node, w: np.ndarray, grad: np.ndarray, eta: float, new: np.ndarray,
                   iteration: int, optimizer: str = "sgd", quantity: str | None = None) -> Anomaly:
    kind = anomaly_kind(new)
    via = "" if optimizer == "sgd" else f" ({optimizer}" + (f": its {quantity} went bad" if quantity else "") + ")"
    return Anomaly(iteration, "update", node.id, node.name, "update", kind,
                   f"iteration {iteration}: updating param {node.name!r}{via} gave {kind}: "
                   f"w ∈ {describe_range(w)}, ∂E/∂w ∈ {describe_range(grad)}, η = {eta:g}")


def grad_norm_anomaly(node: Node, grad: np.ndarray, limit: float, iteration: int) -> Anomaly:
    norm = float(np.linalg.norm(grad))
    return Anomaly(iteration, "backward", node.id, node.name, "grad_norm", "grad_norm",
                   f"iteration {iteration}: |∂E/∂{node.name}| = {norm:.4g} exceeds grad_norm_limit = {limit:g}")
