"""Reductions over axes: sum and mean (their VJPs read only the gradient and the shapes), max and
min, logsumexp and var.

A tangent rule sums the tangent over the reduced axes with the same weights the VJP spreads g with:
1 (sum), 1/n (mean), 1/ties at the extremes (max, min), softmax (logsumexp), 2·(a - mean)/(n - c) (var).
"""
from __future__ import annotations

from functools import partial

import numpy as np

from ..shapes import ShapeMismatch, normalize_axis, reduce_shape
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
      ["1"], _reduced, attrs=("axis", "keepdims"), kinds=("axis", "bool"), grad_only=True, into=_sum_into,
      jvps=[lambda t, out, a, axis=None, keepdims=False: _sum(t, axis, keepdims)], tangent_formulas=["sum({t})"])
defop("mean", 1, _mean,
      [lambda g, out, a, axis=None, keepdims=False: _expand(g, a, axis, keepdims) / _count(a, axis)],
      ["1/n"], _reduced, attrs=("axis", "keepdims"), kinds=("axis", "bool"), grad_only=True,
      jvps=[lambda t, out, a, axis=None, keepdims=False: _mean(t, axis, keepdims)], tangent_formulas=["mean({t})"])


# max and min as torch.amax / torch.amin: where several elements tie for the extreme, the gradient is
# split evenly among them (torch.max(x, dim) instead gives it all to one index).
def _extreme_vjp(g, out, a, axis=None, keepdims=False):
    hit = a == _expand(out, a, axis, keepdims)
    ties = np.sum(hit, axis=axis, keepdims=True)
    share = _expand(g, a, axis, keepdims) / np.broadcast_to(ties, a.shape)
    return np.where(hit, share, 0.0)


def _extreme_jvp(t, out, a, axis=None, keepdims=False):
    # The mean of the tangent over the tied extremes: the adjoint of splitting g evenly among them.
    hit = a == _expand(out, a, axis, keepdims)
    ties = np.sum(hit, axis=axis, keepdims=True)
    return np.sum(np.where(hit, t / np.broadcast_to(ties, a.shape), 0.0), axis=axis, keepdims=keepdims)


defop("max", 1, lambda a, axis=None, keepdims=False: np.max(a, axis=axis, keepdims=keepdims), [_extreme_vjp],
      ["[{0} = max] / ties"], _reduced, attrs=("axis", "keepdims"), kinds=("axis", "bool"),
      jvps=[_extreme_jvp], tangent_formulas=["{t} at the maximum (the mean over ties)"])
defop("min", 1, lambda a, axis=None, keepdims=False: np.min(a, axis=axis, keepdims=keepdims), [_extreme_vjp],
      ["[{0} = min] / ties"], _reduced, attrs=("axis", "keepdims"), kinds=("axis", "bool"),
      jvps=[_extreme_jvp], tangent_formulas=["{t} at the minimum (the mean over ties)"])


def _logsumexp(a, axis=None, keepdims=False):
    """m + log Σ exp(a - m), m the max: no overflow; all -inf gives -inf, a +inf gives +inf."""
    m = np.max(a, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.reshape(out, reduce_shape(a.shape, axis, False))


def _logsumexp_vjp(g, out, a, axis=None, keepdims=False):
    # softmax(a) along the axes, from a - max (exp(a - out) would lose out's last bits for huge a).
    m = np.max(a, axis=axis, keepdims=True)
    e = np.exp(a - np.where(np.isfinite(m), m, 0.0))
    return _expand(g, a, axis, keepdims) * (e / np.sum(e, axis=axis, keepdims=True))


def _logsumexp_jvp(t, out, a, axis=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    e = np.exp(a - np.where(np.isfinite(m), m, 0.0))
    return np.sum((e / np.sum(e, axis=axis, keepdims=True)) * t, axis=axis, keepdims=keepdims)


defop("logsumexp", 1, _logsumexp, [_logsumexp_vjp], ["softmax({0})"], _reduced, attrs=("axis", "keepdims"),
      kinds=("axis", "bool"), jvps=[_logsumexp_jvp], tangent_formulas=["Σ softmax({0})·{t}"])


# var as torch.var: correction=1 divides by n - 1 (the unbiased estimate), correction=0 by n.
def _var(a, axis=None, keepdims=False, correction=1):
    d = a - np.mean(a, axis=axis, keepdims=True)
    return np.sum(d * d, axis=axis, keepdims=keepdims) / (_count(a, axis) - correction)


def _var_vjp(g, out, a, axis=None, keepdims=False, correction=1):
    d = a - np.mean(a, axis=axis, keepdims=True)
    return _expand(g, a, axis, keepdims) * (2.0 / (_count(a, axis) - correction)) * d


def _var_shape(a, axis=None, keepdims=False, correction=1):
    n = int(np.prod([a[i] for i in normalize_axis(axis, len(a))] if axis is not None else a))
    if correction < 0 or n - correction <= 0:
        raise ShapeMismatch(f"var over {n} element{'s' if n != 1 else ''} with correction={correction} "
                            f"divides by {n - correction}; it needs more elements than the correction")
    return reduce_shape(a, axis, keepdims)


def _var_jvp(t, out, a, axis=None, keepdims=False, correction=1):
    d = a - np.mean(a, axis=axis, keepdims=True)
    return np.sum((2.0 / (_count(a, axis) - correction)) * d * t, axis=axis, keepdims=keepdims)


defop("var", 1, _var, [_var_vjp], ["2·({0} - mean)/(n - correction)"], _var_shape,
      attrs=("axis", "keepdims", "correction"), kinds=("axis", "bool", "int"), jvps=[_var_jvp],
      tangent_formulas=["Σ 2·({0} - mean)·{t}/(n - correction)"])
