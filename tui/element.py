"""One element of a node's tensor, drilled down: its value, its gradient, its update −η·g, and its scalar
chain rule — ∂E/∂W1[3, 7] = Σᵢ δ[i]·∂(W1 @ x)[i]/∂W1[3, 7] = δ[3]·x[7] — term by term, with each batch
row's part when the consumer has a batch.

A term's local derivative is a column of the consumer's Jacobian, read from the op row's tangent rule
(its JVP) with a tangent of 1 at this element and 0 elsewhere: no op is named here. A factor is named
after an element of the consumer's other inputs (x[7]) when exactly one element of that input holds
the same value (never 0 or ±1, which many hold), so a matrix product reads as the textbook writes it;
otherwise the number stands alone. Nothing here imports textual.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from gradstep.engine import Phase, Stepper

Index = tuple[int, ...]
MAX_TERMS = 8          # terms (or batch rows) listed one by one; the rest are counted


@dataclass(frozen=True)
class Term:
    """δ[out]·local: one output element's part of the chain rule."""

    out: Index                 # the consumer's element
    delta: float               # ∂E/∂consumer[out]
    local: float               # ∂consumer[out]/∂node[index]
    name: str | None           # the input element the local derivative equals (x[7]), if one does


@dataclass(frozen=True)
class Route:
    """The chain rule through one consumer: its terms, grouped by batch row when there are several rows."""

    consumer: int
    position: int
    terms: tuple[Term, ...]    # the first MAX_TERMS nonzero terms, in order
    count: int                 # nonzero terms in all
    rows: tuple[tuple[int, int, float], ...]    # (batch row, terms in it, their sum), when rows > 1
    total: float               # the contribution the engine passed (its element), not a recomputation


@dataclass(frozen=True)
class Drill:
    """Everything the Element pane says about node[index]."""

    node: int
    index: Index
    value: float | None
    grad: float | None
    received: tuple[int, int]             # contributions received, expected
    eta: float | None                     # the param's learning rate this iteration (params only)
    step: float | None                    # −η·g (params only, once the gradient is complete)
    new: float | None                     # the param after its update (once it has run)
    routes: tuple[Route, ...] = field(default=())


def clamp(index: Index, shape: tuple[int, ...]) -> Index:
    """The nearest valid index of a tensor of this shape."""
    if len(index) != len(shape):
        index = (0,) * len(shape)
    return tuple(max(0, min(i, n - 1)) for i, n in zip(index, shape))


def drill(st: Stepper, node: int, index: Index) -> Drill:
    """What the Stepper knows of node[index] at this tick."""
    p = st.program
    n = p.nodes[node]
    index = clamp(index, n.shape)
    v = st.value(node)
    g = st.grad(node)
    value = float(np.asarray(v)[index]) if v is not None else None
    grad = float(np.asarray(g)[index]) if g is not None else None
    received = st.grad_status(node)
    eta = step = new = None
    if n.kind == "param":
        c = st.cursor
        eta = st.lr_for(node, c.iteration)
        if grad is not None and received[0] >= received[1]:
            step = -eta * grad
        updated = c.phase is Phase.DONE or (c.phase is Phase.UPDATE and p.params.index(node) < c.index)
        if updated:
            new = float(np.asarray(st.param(node))[index])
    routes = tuple(r for c in st.contributions(node) if (r := _route(st, node, index, c)) is not None)
    return Drill(node, index, value, grad, received, eta, step, new, routes)


def _route(st: Stepper, node: int, index: Index, contribution) -> Route | None:
    p = st.program
    consumer = p.nodes[contribution.consumer]
    pos = contribution.position
    out = st.value(consumer.id)
    delta = st.grad(consumer.id)
    total = float(np.asarray(contribution.value)[index])
    if out is None or delta is None or not consumer.op.carries_tangent(pos):
        return Route(consumer.id, pos, (), 0, (), total)
    ins = [st.value(j) for j in consumer.inputs]
    tangent = np.zeros(p.nodes[node].shape)
    tangent[index] = 1.0
    with np.errstate(all="ignore"):
        column = consumer.op.jvps[pos](tangent, out, *ins, **consumer.attrs)
    if column is None:
        return Route(consumer.id, pos, (), 0, (), total)
    column = np.broadcast_to(np.asarray(column, dtype=np.float64), np.shape(out))
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), np.shape(out))
    where = np.argwhere(column != 0)
    count = len(where)
    others = [(p.nodes[j].name, ins[k]) for k, j in enumerate(consumer.inputs) if k != pos and np.ndim(ins[k]) > 0]
    terms = []
    for ix in where[:MAX_TERMS]:
        ix = tuple(int(i) for i in ix)
        local = float(column[ix])
        terms.append(Term(ix, float(delta[ix]), local, _name_of(local, others)))
    rows: tuple = ()
    if np.ndim(out) >= 2 and count > 1:
        lead = where[:, 0]
        if lead.min() != lead.max():
            parts = (delta * column)[tuple(where.T)]
            ids, counts = np.unique(lead, return_counts=True)
            sums = np.bincount(lead, weights=parts, minlength=int(ids.max()) + 1)[ids]
            rows = tuple((int(b), int(k), float(s)) for b, k, s in zip(ids, counts, sums))
    return Route(consumer.id, pos, tuple(terms), count, rows, total)


# ---------------------------------------------------------------- naming a factor
_SORTED: dict[int, tuple[weakref.ref, np.ndarray, np.ndarray]] = {}


def _sorted(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An input's values sorted, with where each came from (once per array: the Stepper never changes one)."""
    k = id(a)
    hit = _SORTED.get(k)
    if hit is not None and hit[0]() is a:
        return hit[1], hit[2]
    flat = np.asarray(a, dtype=np.float64).ravel()
    order = np.argsort(flat, kind="stable")
    try:
        ref = weakref.ref(a, lambda r, k=k, memo=_SORTED: memo.pop(k, None) if memo.get(k, (None,))[0] is r else None)
        _SORTED[k] = (ref, flat[order], order)
    except TypeError:
        pass
    return flat[order], order


def _name_of(local: float, others: list[tuple[str, np.ndarray]]) -> str | None:
    """'x[7]' when exactly one element of exactly one other input equals the local derivative."""
    if local in (0.0, 1.0, -1.0) or local != local:
        return None
    found = []
    for name, a in others:
        values, order = _sorted(a)
        lo = np.searchsorted(values, local, side="left")
        hi = np.searchsorted(values, local, side="right")
        if hi - lo == 1:
            found.append((name, np.unravel_index(int(order[lo]), np.shape(a))))
        elif hi - lo > 1:
            return None
    if len(found) != 1:
        return None
    name, ix = found[0]
    return f"{name}[{', '.join(str(int(i)) for i in ix)}]"
