"""Reductions over axes: sum and mean (their VJPs read only the gradient and the shapes)."""
from __future__ import annotations

from functools import partial

import numpy as np

from ..shapes import normalize_axis, reduce_shape
from .base import defop


def _expand(g, a, axis, keepdims):
    """Broadcast a reduced gradient back over the reduced axes."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, normalize_axis(axis, a.ndim))
    return np.broadcast_to(g, a.shape)


def _count(a, axis):
    if axis is None:
        return a.size
    return int(np.prod([a.shape[i] for i in normalize_axis(axis, a.ndim)]))


def _sum(a, axis=None, keepdims=False):
    return np.sum(a, axis=axis, keepdims=keepdims)


def _mean(a, axis=None, keepdims=False):
    return np.mean(a, axis=axis, keepdims=keepdims)


def _sum_into(out, ins, attrs, scratch):
    if attrs.get("axis") is None and not attrs.get("keepdims"):
        return partial(np.add.reduce, ins[0], None, None, out)      # what np.sum calls
    return None


def _reduced(a, axis=None, keepdims=False):
    return reduce_shape(a, axis, keepdims)


defop("sum", 1, _sum, [lambda g, out, a, axis=None, keepdims=False: _expand(g, a, axis, keepdims) * 1.0],
      ["1"], _reduced, attrs=("axis", "keepdims"), grad_only=True, into=_sum_into)
defop("mean", 1, _mean,
      [lambda g, out, a, axis=None, keepdims=False: _expand(g, a, axis, keepdims) / _count(a, axis)],
      ["1/n"], _reduced, attrs=("axis", "keepdims"), grad_only=True)
