"""Softmax, log-softmax and the losses: mean squared error, cross-entropy (softmax and log-loss fused,
stable), binary cross-entropy on logits and negative log-likelihood.

Tangent rules: the losses give a scalar, so a rule is the inner product of the tangent with the
same weights the VJP hands g (Σ 2·(a - b)·ȧ/n for mse); class-index inputs carry none.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from ..shapes import ShapeMismatch, broadcast, normalize_axis
from .base import Rule, defop


def _softmax(a, axis=-1):
    z = a - np.max(a, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(a, axis=-1):
    z = a - np.max(a, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _softmax_shape(a, axis=-1):
    normalize_axis(axis, len(a))
    return a


defop("softmax", 1, _softmax,
      [lambda g, out, a, axis=-1: out * (g - np.sum(g * out, axis=axis, keepdims=True))],
      ["s·(δ - s), s = softmax({0})"], _softmax_shape, attrs=("axis",),
      jvps=[lambda t, out, a, axis=-1: out * (t - np.sum(t * out, axis=axis, keepdims=True))],
      tangent_formulas=["s·({t} - Σ s·{t}), s = softmax({0})"])


def _mse(a, b):
    d = a - b
    return np.mean(d * d)


def _mse_vjp(sign):
    def vjp(g, out, a, b):
        d = a - b
        n = d.size
        return (sign * 2.0 / n) * (g * d)
    return vjp


def _mse_jvp(sign):
    def jvp(t, out, a, b):
        d = a - b
        return np.asarray(np.sum((sign * 2.0 / d.size) * (d * t)))
    return jvp


def _mse_temporary(a, b) -> int:
    return math.prod(broadcast(a, b))          # a - b, broadcast: the scalar output hides it


defop("mse", 2, _mse, [_mse_vjp(1.0), _mse_vjp(-1.0)], ["2·({0} - {1})/n", "-2·({0} - {1})/n"],
      lambda a, b: (broadcast(a, b), ())[1], temporary=_mse_temporary, jvps=[_mse_jvp(1.0), _mse_jvp(-1.0)],
      tangent_formulas=["Σ 2·({0} - {1})·{t}/n", "-Σ 2·({0} - {1})·{t}/n"],
      cost=lambda out, a, b: 3 * _mse_temporary(a, b) + math.prod(a) + math.prod(b))


# cross_entropy(logits, targets): softmax and log-loss fused, stable by subtracting the max, and
# averaged over the batch. Targets are either class indices (logits' shape without its last axis)
# or probabilities (the same shape as the logits).
def _batch(logits) -> int:
    return logits.size // logits.shape[-1] if logits.ndim > 1 else 1


def _ce_parts(logits, targets):
    logp = _log_softmax(logits, -1)
    if targets.shape == logits.shape:
        probs = targets
    else:
        idx = targets.astype(np.int64)
        probs = np.zeros_like(logits)
        np.put_along_axis(probs, idx[..., None], 1.0, axis=-1)
    return logp, probs, _batch(logits)


def _ce_forward(logits, targets):
    logp, probs, batch = _ce_parts(logits, targets)
    return np.asarray(-np.sum(probs * logp) / batch)


def _ce_vjp_logits(g, out, logits, targets):
    logp, probs, batch = _ce_parts(logits, targets)
    p = np.exp(logp)
    return g * (p * np.sum(probs, axis=-1, keepdims=True) - probs) / batch


def _ce_vjp_targets(g, out, logits, targets):
    if targets.shape != logits.shape:
        return np.zeros_like(targets)          # class indices carry no gradient
    return g * (-_log_softmax(logits, -1)) / _batch(logits)


def _ce_jvp_logits(t, out, logits, targets):
    logp, probs, batch = _ce_parts(logits, targets)
    p = np.exp(logp)
    return np.asarray(np.sum((p * np.sum(probs, axis=-1, keepdims=True) - probs) * t) / batch)


def _ce_jvp_targets(t, out, logits, targets):
    if targets.shape != logits.shape:
        return None                            # class indices carry no tangent
    return np.asarray(np.sum(-_log_softmax(logits, -1) * t) / _batch(logits))


def _ce_shape(logits, targets):
    if len(logits) == 0:
        raise ShapeMismatch(f"cross_entropy needs logits with a class axis, got shape {logits}")
    if targets != logits and targets != logits[:-1]:
        raise ShapeMismatch(
            f"cross_entropy targets must be class indices of shape {logits[:-1]} "
            f"or probabilities of shape {logits}, got {targets}")
    return ()


def _ce_into(out, ins, attrs, scratch):
    """The forward with class indices, step by step into buffers, keeping softmax for the backward pass.

    The same ufunc calls as _ce_forward and _log_softmax in the same order, so the same bits; the
    one-hot targets are rewritten in place (the entries of the last batch cleared, the new set).
    """
    logits, targets = ins
    if targets.shape == logits.shape:
        return None                            # probabilities: the generic form
    k = logits.shape[-1]
    rows = logits.size // k
    batch = _batch(logits)
    keep = logits.shape[:-1] + (1,)
    m, s, log_s = np.empty(keep), np.empty(keep), np.empty(keep)
    z, e, logp, p, prod = (np.empty(logits.shape) for _ in range(5))
    onehot = np.zeros(logits.shape)
    flat = onehot.reshape(-1)
    base = np.arange(rows, dtype=np.intp) * k
    idx = base.copy()                          # flat positions of the ones (none set yet: cleared below)
    flat_targets = targets.reshape(-1)
    scratch.update(p=p, onehot=onehot, batch=batch)

    def forward() -> None:
        np.maximum.reduce(logits, -1, None, m, True)         # np.max(a, axis=-1, keepdims=True)
        np.subtract(logits, m, z)
        np.exp(z, e)
        np.add.reduce(e, -1, None, s, True)                  # np.sum(e, axis=-1, keepdims=True)
        np.log(s, log_s)
        np.subtract(z, log_s, logp)
        np.exp(logp, p)                                      # softmax as the VJP computes it
        flat[idx] = 0.0
        np.copyto(idx, flat_targets, casting="unsafe")       # astype(int64): truncation
        np.add(idx, base, idx)
        flat[idx] = 1.0
        np.multiply(onehot, logp, prod)
        out[...] = -np.add.reduce(prod, None) / batch
    return forward


def _ce_vjp_logits_into(dest, g, ones, out, ins, attrs, scratch):
    """(softmax - onehot) · g / batch from the softmax the forward kept; sum(onehot) == 1, so p·1 == p."""
    if "p" not in scratch:
        return None
    p, onehot, batch = scratch["p"], scratch["onehot"], scratch["batch"]
    calls = [partial(np.subtract, p, onehot, dest)]
    if not ones:
        calls.append(partial(np.multiply, g, dest, dest))
    calls.append(partial(np.divide, dest, batch, dest))
    return calls


defop("cross_entropy", 2, _ce_forward, [_ce_vjp_logits, _ce_vjp_targets],
      ["(softmax({0}) - {1})/batch", "-log softmax({0})/batch"], _ce_shape,
      indices=lambda logits, targets: {1: logits[-1]} if targets != logits else {},
      into=_ce_into, vjps_into=(_ce_vjp_logits_into, None), jvps=[_ce_jvp_logits, _ce_jvp_targets],
      tangent_formulas=["Σ (softmax({0}) - {1})·{t}/batch", "-Σ log softmax({0})·{t}/batch"])


def _log_softmax_vjp(g, out, a, axis=-1):
    # g - softmax · Σg along the axis; softmax = exp(out).
    return g - np.exp(out) * np.sum(g, axis=axis, keepdims=True)


defop("log_softmax", 1, _log_softmax, [_log_softmax_vjp], ["δ - softmax({0})"], _softmax_shape, attrs=("axis",),
      kinds=("int",), jvps=[lambda t, out, a, axis=-1: t - np.sum(np.exp(out) * t, axis=axis, keepdims=True)],
      tangent_formulas=["{t} - Σ softmax({0})·{t}"])


# The losses below follow PyTorch's reduction: "mean" (the default) or "sum".
REDUCTIONS = "choice:mean,sum"


def _reduce(losses, reduction):
    return np.asarray(np.mean(losses) if reduction == "mean" else np.sum(losses))


def _per_element(g, losses_size, reduction):
    return g / losses_size if reduction == "mean" else g * 1.0


# bce_with_logits(x, y) as F.binary_cross_entropy_with_logits: max(x, 0) - x·y + log(1 + e^-|x|), stable
# for any x (the naive -y·log σ(x) - (1-y)·log(1-σ(x)) hits log 0 = -inf for |x| ≳ 37).
def _bce(x, y, reduction="mean"):
    return _reduce(np.maximum(x, 0.0) - x * y + np.log1p(np.exp(-np.abs(x))), reduction)


def _bce_vjp(pos):
    def vjp(g, out, x, y, reduction="mean"):
        n = np.broadcast_shapes(x.shape, y.shape)
        scale = _per_element(g, math.prod(n), reduction)
        if pos == 0:
            return scale * (np.exp(-np.logaddexp(0.0, -x)) - y)      # σ(x) - y
        return np.broadcast_to(scale * (-x), n) * 1.0               # over the broadcast shape, summed back later
    return vjp


def _bce_jvp(pos):
    def jvp(t, out, x, y, reduction="mean"):
        n = math.prod(np.broadcast_shapes(x.shape, y.shape))
        weight = np.exp(-np.logaddexp(0.0, -x)) - y if pos == 0 else -x     # σ(x) - y, or -x
        total = np.sum(weight * t)
        return np.asarray(total / n if reduction == "mean" else total)
    return jvp


defop("bce_with_logits", 2, _bce, [_bce_vjp(0), _bce_vjp(1)], ["(σ({0}) - {1})/n", "-{0}/n"],
      lambda x, y, reduction="mean": (broadcast(x, y), ())[1], attrs=("reduction",), kinds=(REDUCTIONS,),
      temporary=lambda x, y, reduction="mean": math.prod(broadcast(x, y)),
      jvps=[_bce_jvp(0), _bce_jvp(1)], tangent_formulas=["Σ (σ({0}) - {1})·{t}/n", "-Σ {0}·{t}/n"])


# nll(logp, target) as F.nll_loss: -logp[target] per row, averaged over the rows ("mean") or summed.
# The class axis is the last one, as for cross_entropy (PyTorch's is axis 1 when there are more than
# two axes: move it last first).
def _picked(logp, target):
    idx = np.asarray(target, dtype=np.int64)[..., None]
    return np.take_along_axis(logp, idx, axis=-1)[..., 0]


def _nll(logp, target, reduction="mean"):
    return _reduce(-_picked(logp, target), reduction)


def _nll_vjp_logp(g, out, logp, target, reduction="mean"):
    d = np.zeros(logp.shape)
    rows = max(target.size, 1)
    np.put_along_axis(d, np.asarray(target, dtype=np.int64)[..., None],
                      -(g / rows if reduction == "mean" else g * 1.0), axis=-1)
    return d


def _nll_shape(logp, target, reduction="mean"):
    if len(logp) == 0 or target != logp[:-1]:
        raise ShapeMismatch(f"nll takes log-probabilities with the classes on the last axis and class indices "
                            f"of their shape without it: got {logp} and {target}")
    return ()


defop("nll", 2, _nll, [_nll_vjp_logp, lambda g, out, logp, target, reduction="mean": np.zeros(target.shape)],
      ["-1/rows at the target class, 0 elsewhere", "0 (class indices)"], _nll_shape, attrs=("reduction",),
      jvps=[lambda t, out, logp, target, reduction="mean": _nll(t, target, reduction), Rule.NONE],
      tangent_formulas=["-{t} at the target class, averaged (or summed) over the rows"],
      kinds=(REDUCTIONS,), indices=lambda logp, target: {1: logp[-1]})
