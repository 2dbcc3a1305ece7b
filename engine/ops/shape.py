"""Shape ops: reshape, flatten, indexing and slicing (x[:, 0:3], x[..., -1]), concat.

None of them computes: their VJPs move the gradient back to where each element came from, reading
only g and the shapes. They are linear, so their tangent rules are the forward applied to the tangent.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from ..shapes import ShapeMismatch, fmt, normalize_axis
from .base import Notation, PerInput, defop


# ---------------------------------------------------------------- reshape and flatten
def _reshape_shape(a, shape):
    shape = tuple(shape)
    if sum(n == -1 for n in shape) > 1 or any(n < -1 or n == 0 for n in shape):
        raise ShapeMismatch(f"reshape: the new shape {shape} may hold one -1 and sizes of at least 1")
    size = math.prod(a)
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ShapeMismatch(f"reshape: {fmt(a)} ({size} elements) cannot be {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(shape) != size:
        raise ShapeMismatch(f"reshape: {fmt(a)} has {size} elements and {fmt(shape)} {math.prod(shape)}")
    return shape


def _reshape_into(out, ins, attrs, scratch):
    return partial(np.copyto, out, ins[0].reshape(out.shape))


def _back_into(dest, g, ones, out, ins, attrs, scratch):
    return [partial(np.copyto, dest, g.reshape(dest.shape))]


defop("reshape", 1, lambda a, shape: np.reshape(a, _reshape_shape(a.shape, shape)),
      [lambda g, out, a, shape: np.reshape(g, a.shape)], ["reshape: g reshaped back to {0}'s shape"],
      _reshape_shape, attrs=("shape",), kinds=("ints",), grad_only=True, into=_reshape_into,
      vjps_into=(_back_into,), jvps=[lambda t, out, a, shape: np.reshape(t, out.shape)],
      tangent_formulas=["{t} reshaped alike"])


def _flatten_shape(a, start_axis=1):
    if len(a) == 0:
        raise ShapeMismatch("flatten needs at least one axis")
    s = normalize_axis(start_axis, len(a))[0]
    return tuple(a[:s]) + (math.prod(a[s:]),)


defop("flatten", 1, lambda a, start_axis=1: np.reshape(a, _flatten_shape(a.shape, start_axis)),
      [lambda g, out, a, start_axis=1: np.reshape(g, a.shape)], ["flatten: g reshaped back to {0}'s shape"],
      _flatten_shape, attrs=("start_axis",), kinds=("int",), grad_only=True, into=_reshape_into,
      vjps_into=(_back_into,), jvps=[lambda t, out, a, start_axis=1: np.reshape(t, out.shape)],
      tangent_formulas=["{t} flattened alike"])


# ---------------------------------------------------------------- indexing: x[key]
def _index_shape(a, key):
    try:
        return np.broadcast_to(np.zeros(()), a)[key].shape       # no memory: a view with zero strides
    except IndexError as e:
        raise ShapeMismatch(f"the index [{_key_text(key)}] does not fit shape {fmt(a)}: {e}") from None


def _key_text(key) -> str:
    from .base import format_key
    return format_key(key)


def _index(a, key):
    return np.array(a[key], dtype=np.float64, order="C")        # a copy in C order, as the fast path keeps


def _index_vjp(g, out, a, key):
    d = np.zeros(a.shape)
    d[key] = g               # basic indexing: every element is picked once, so assignment is the sum
    return d


defop("subscript", 1, _index, [_index_vjp], ["1 at the picked elements, 0 elsewhere"], _index_shape,
      notation=Notation.SUBSCRIPT, attrs=("key",), kinds=("key",), grad_only=True,
      jvps=[lambda t, out, a, key: _index(t, key)], tangent_formulas=["the same elements of {t}"],
      into=lambda out, ins, attrs, scratch: partial(np.copyto, out, _view(ins[0], attrs["key"])))


def _view(x, key):
    """x[key] as a view of x that later iterations see change: with a trailing ..., even an all-integer key
    gives a 0-d view instead of a copied scalar."""
    return x[key] if any(k is Ellipsis for k in key) else x[key + (Ellipsis,)]


# ---------------------------------------------------------------- concat([a, b, ...], axis)
def _concat_shape(*shapes, axis=0):
    first = shapes[0]
    if len(first) == 0:
        raise ShapeMismatch("concat needs tensors with at least one axis")
    ax = normalize_axis(axis, len(first))[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(x != y for k, (x, y) in enumerate(zip(s, first)) if k != ax):
            raise ShapeMismatch(f"concat along axis {axis}: shapes {fmt(first)} and {fmt(s)} differ elsewhere")
    return tuple(sum(s[ax] for s in shapes) if k == ax else n for k, n in enumerate(first))


def _part(pos: int, ins, ndim: int, axis) -> tuple:
    """The index of input pos's part of concat's result."""
    ax = normalize_axis(axis, ndim)[0]
    start = sum(x.shape[ax] for x in ins[:pos])
    index = [slice(None)] * ndim
    index[ax] = slice(start, start + ins[pos].shape[ax])
    return tuple(index)


def _concat_vjp(pos):
    def vjp(g, out, *ins, axis=0):
        return np.array(g[_part(pos, ins, g.ndim, axis)], order="C")
    return vjp


def _concat_jvp(pos):
    def jvp(t, out, *ins, axis=0):
        d = np.zeros(out.shape)
        d[_part(pos, ins, out.ndim, axis)] = t    # its own part of the result; the others' tangents fill theirs
        return d
    return jvp


defop("concat", -1, lambda *ins, axis=0: np.concatenate(ins, axis=axis), PerInput(_concat_vjp),
      PerInput(lambda pos: "1 on its part of the result"), _concat_shape, attrs=("axis",), kinds=("int",),
      grad_only=True, jvps=PerInput(_concat_jvp), tangent_formulas=PerInput(lambda pos: "{t} on its part"))
