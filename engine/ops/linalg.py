"""Linear algebra: matrix products (stacks of them broadcast as np.matmul does) and transposes.

Both are linear in each input, so a tangent rule is the forward applied to the tangent with the
other input held: d(a @ b) = ȧ @ b + a @ ḃ, d(aᵀ) = ȧᵀ.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from ..shapes import ShapeMismatch, matmul_shape
from .base import Notation, defop


# Operands have at most 2 axes, where np.dot and np.matmul agree; np.dot has less call overhead.
def _batched(a, b) -> bool:
    return a.ndim > 2 or b.ndim > 2


def _batched_vjp(g, a, b, pos):
    """∂(a @ b) for stacks: g @ bᵀ or aᵀ @ g over the last two axes, vectors promoted as np.matmul does;
    the batch axes are summed back to the input's shape where gradients are accumulated."""
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    G = g
    if a.ndim == 1:
        G = np.expand_dims(G, -2)
    if b.ndim == 1:
        G = np.expand_dims(G, -1)
    if pos == 0:
        d = np.matmul(G, np.swapaxes(B, -1, -2))
        return d[..., 0, :] if a.ndim == 1 else d
    d = np.matmul(np.swapaxes(A, -1, -2), G)
    return d[..., :, 0] if b.ndim == 1 else d


def _matmul(a, b):
    return np.matmul(a, b) if _batched(a, b) else np.dot(a, b)


def _matmul_vjp_a(g, out, a, b):
    if _batched(a, b):
        return _batched_vjp(g, a, b, 0)
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if a.ndim == 1:                       # (k,) @ (k, n) -> (n,)
        return np.dot(b, g)
    if b.ndim == 1:                       # (m, k) @ (k,) -> (m,)
        return np.multiply(g[:, None], b[None, :])      # the outer product g ⊗ b
    return np.dot(g, b.T)


def _matmul_vjp_b(g, out, a, b):
    if _batched(a, b):
        return _batched_vjp(g, a, b, 1)
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        return np.multiply(a[:, None], g[None, :])      # a ⊗ g
    return np.dot(a.T, g)


def _matmul_vjp_a_into(dest, g, ones, out, ins, attrs, scratch):
    a, b = ins
    if _batched(a, b):
        return None
    if a.ndim == 2 and b.ndim == 1:
        return [partial(np.multiply, g[:, None], b[None, :], dest)]      # g ⊗ b
    if a.ndim == 2 and b.ndim == 2:
        return [partial(np.dot, g, b.T, dest)]
    return None


def _matmul_vjp_b_into(dest, g, ones, out, ins, attrs, scratch):
    a, b = ins
    if _batched(a, b):
        return None
    if a.ndim == 2:
        return [partial(np.dot, a.T, g, dest)]
    return None


def _matmul_cost(out, a, b, **_) -> int:
    """Every output element is a dot product over the inner size."""
    return max(math.prod(out), 1) * a[-1]


def _matmul_into(out, ins, attrs, scratch):
    a, b = ins
    return partial(np.matmul if _batched(a, b) else np.dot, a, b, out)


defop("matmul", 2, _matmul, [_matmul_vjp_a, _matmul_vjp_b], ["g ⊗ {1}  (g @ {1}ᵀ)", "{0}ᵀ @ g"],
      lambda a, b: matmul_shape(a, b), notation=Notation.INFIX, symbol="@", cost=_matmul_cost,
      into=_matmul_into, vjps_into=(_matmul_vjp_a_into, _matmul_vjp_b_into),
      jvps=[lambda t, out, a, b: _matmul(t, b), lambda t, out, a, b: _matmul(a, t)],
      tangent_formulas=["{t} @ {1}", "{0} @ {t}"])


# x.T reverses the axes; transpose(x, axes) permutes them as np.transpose does. A copy in C order,
# not NumPy's strided view: a later reduction sums in memory order, so a view would round
# differently from the fast path, which keeps every value in a C-ordered buffer.
def _inverse(axes, ndim):
    """The permutation that undoes axes (negative axes counted from the end first)."""
    return None if axes is None else tuple(int(k) for k in np.argsort([ax % ndim for ax in axes]))


def _permuted(a, axes=None):
    if axes is None:
        return tuple(reversed(a))
    if sorted(ax % max(len(a), 1) for ax in axes) != list(range(len(a))) or len(axes) != len(a):
        raise ShapeMismatch(f"transpose: axes {axes} are not a permutation of the {len(a)} axes of {a}")
    return tuple(a[ax] for ax in axes)


defop("transpose", 1, lambda a, axes=None: np.transpose(a, axes).copy(order="C"),
      [lambda g, out, a, axes=None: np.transpose(g, _inverse(axes, a.ndim)).copy(order="C")],
      ["transpose: g permuted back"], _permuted,
      notation=Notation.POSTFIX, symbol=".T", callable=True, attrs=("axes",), kinds=("ints",), grad_only=True,
      jvps=[lambda t, out, a, axes=None: np.transpose(t, axes).copy(order="C")],
      tangent_formulas=["{t} permuted alike"])
