"""Linear algebra: matrix products and the transpose."""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from ..shapes import matmul_shape
from .base import Notation, defop


# Operands have at most 2 axes, where np.dot and np.matmul agree; np.dot has less call overhead.
def _matmul_vjp_a(g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if a.ndim == 1:                       # (k,) @ (k, n) -> (n,)
        return np.dot(b, g)
    if b.ndim == 1:                       # (m, k) @ (k,) -> (m,)
        return np.multiply(g[:, None], b[None, :])      # the outer product g ⊗ b
    return np.dot(g, b.T)


def _matmul_vjp_b(g, out, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        return np.multiply(a[:, None], g[None, :])      # a ⊗ g
    return np.dot(a.T, g)


def _matmul_vjp_a_into(dest, g, ones, out, ins, attrs, scratch):
    a, b = ins
    if a.ndim == 2 and b.ndim == 1:
        return [partial(np.multiply, g[:, None], b[None, :], dest)]      # g ⊗ b
    if a.ndim == 2 and b.ndim == 2:
        return [partial(np.dot, g, b.T, dest)]
    return None


def _matmul_vjp_b_into(dest, g, ones, out, ins, attrs, scratch):
    a, b = ins
    if a.ndim == 2:
        return [partial(np.dot, a.T, g, dest)]
    return None


def _matmul_cost(out, a, b, **_) -> int:
    """Every output element is a dot product over the inner size."""
    return max(math.prod(out), 1) * a[-1]


defop("matmul", 2, np.dot, [_matmul_vjp_a, _matmul_vjp_b], ["g ⊗ {1}  (g @ {1}ᵀ)", "{0}ᵀ @ g"],
      lambda a, b: matmul_shape(a, b), notation=Notation.INFIX, symbol="@", cost=_matmul_cost,
      into=lambda out, ins, attrs, scratch: partial(np.dot, ins[0], ins[1], out),
      vjps_into=(_matmul_vjp_a_into, _matmul_vjp_b_into))
# A copy in C order, not NumPy's strided view: a later reduction sums in memory order, so a view
# would round differently from the fast path, which keeps every value in a C-ordered buffer.
defop("transpose", 1, lambda a: np.transpose(a).copy(order="C"),
      [lambda g, out, a: np.transpose(g).copy(order="C")], ["transpose: g.T"], lambda a: tuple(reversed(a)),
      notation=Notation.POSTFIX, symbol=".T")
