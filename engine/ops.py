"""The op registry: each primitive's forward, its vector-Jacobian products and its printed
local derivative, side by side, so a reader can check the calculus at a glance.

A VJP has the signature ``vjp(g, out, *inputs, **attrs)`` and returns the contribution to the
input's gradient. Elementwise binary ops may return it in the broadcast (output) shape: the
one place that sums it back to the input's shape is ``engine.accumulate``.

Formulas are templates: ``{0}``, ``{1}`` stand for the input names, ``{out}`` for the node.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .shapes import ShapeMismatch, broadcast, matmul_shape, reduce_shape, normalize_axis


@dataclass(frozen=True)
class Op:
    """One primitive: forward, one VJP and one local-derivative formula per input."""

    name: str
    arity: int
    forward: Callable[..., np.ndarray]
    vjps: tuple[Callable[..., np.ndarray], ...]
    formulas: tuple[str, ...]
    shape: Callable[..., tuple[int, ...]]
    symbol: str | None = None          # infix symbol ("+", "@"), None for call syntax
    attrs: tuple[str, ...] = ()        # allowed keyword arguments
    elementwise: bool = False          # the local Jacobian is diagonal (after broadcasting)
    differentiable: tuple[bool, ...] = field(default=())

    def text(self, names: list[str], attrs: dict) -> str:
        """The equation's right-hand side as a reader would write it."""
        if self.name == "pow":
            return f"{names[0]} ** {_num(attrs['p'])}"
        if self.name == "identity":
            return names[0]
        if self.name == "neg":
            return f"-{names[0]}"
        if self.name == "transpose":
            return f"{names[0]}.T"
        if self.symbol is not None:
            return f"{names[0]} {self.symbol} {names[1]}"
        args = list(names) + [f"{k}={_attr(v)}" for k, v in attrs.items() if v is not None and v is not False]
        return f"{self.name}({', '.join(args)})"

    def formula(self, i: int, names: list[str], out: str, attrs: dict) -> str:
        """The local derivative ∂out/∂input_i, written out with the real names."""
        template = self.formulas[i]
        p = attrs.get("p")
        if p is not None and float(p) - 1.0 == 1.0:
            template = template.replace("^{pm1}", "")          # 2·x, not 2·x^1
        # Inner nodes are named by their expression text ("a + b"): parenthesise it unless the
        # template already encloses it, so "1/{1}" reads 1/(b + 1), not 1/b + 1.
        return re.sub(r"(\()?\{(\d+)\}(\))?", lambda m: _place(names[int(m.group(2))], m), template).format(
            out=out, p=_num(p) if p is not None else "", pm1=_num(p - 1) if p is not None else "")


def _place(name: str, m: re.Match) -> str:
    """One input name in a formula, with the template's own brackets kept; braces escaped for format."""
    enclosed = m.group(1) is not None and m.group(3) is not None
    text = name if enclosed or _atomic(name) else f"({name})"
    text = text.replace("{", "{{").replace("}", "}}")
    return (m.group(1) or "") + text + (m.group(3) or "")


def _atomic(name: str) -> bool:
    """A name that reads as one operand: x, 2.5, W.T, relu(z), (a + b)."""
    if re.fullmatch(r"[\w.]+", name):
        return True
    if re.fullmatch(r"\w*\(.*\)", name):
        depth = 0
        for k, ch in enumerate(name):
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and ch == ")" and k != len(name) - 1:
                return False              # (a) + (b): the first bracket closes early
        return True
    return False


def _num(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _attr(v) -> str:
    return repr(v) if not isinstance(v, tuple) else "(" + ", ".join(map(str, v)) + ")"


REGISTRY: dict[str, Op] = {}


def defop(name, arity, forward, vjps, formulas, shape, **kw) -> Op:
    """Register an op; the table below reads like a page of calculus rules."""
    op = Op(name, arity, forward, tuple(vjps), tuple(formulas), shape,
            differentiable=kw.pop("differentiable", (True,) * arity), **kw)
    REGISTRY[name] = op
    return op


def same_shape(a, **_):
    return a


# ---------------------------------------------------------------- elementwise, one input
def _sigmoid(a):
    return np.exp(-np.logaddexp(0.0, -a))


defop("exp", 1, np.exp, [lambda g, out, a: g * out], ["exp({0})"], same_shape, elementwise=True)
defop("log", 1, np.log, [lambda g, out, a: g / a], ["1/{0}"], same_shape, elementwise=True)
defop("sin", 1, np.sin, [lambda g, out, a: g * np.cos(a)], ["cos({0})"], same_shape, elementwise=True)
defop("cos", 1, np.cos, [lambda g, out, a: -(g * np.sin(a))], ["-sin({0})"], same_shape, elementwise=True)
defop("tanh", 1, np.tanh, [lambda g, out, a: g * (1.0 - out * out)], ["1 - tanh({0})²"], same_shape,
      elementwise=True)
defop("sigmoid", 1, _sigmoid, [lambda g, out, a: g * (out * (1.0 - out))], ["σ({0})·(1 - σ({0}))"],
      same_shape, elementwise=True)
# relu'(0) = 0: the subgradient PyTorch and JAX also choose, so gradients at the kink agree.
defop("relu", 1, lambda a: np.maximum(a, 0.0), [lambda g, out, a: g * (a > 0.0)], ["[{0} > 0]"],
      same_shape, elementwise=True)
defop("sqrt", 1, np.sqrt, [lambda g, out, a: g / (2.0 * out)], ["1/(2·√{0})"], same_shape, elementwise=True)
defop("abs", 1, np.abs, [lambda g, out, a: g * np.sign(a)], ["sign({0})"], same_shape, elementwise=True)
defop("neg", 1, np.negative, [lambda g, out, a: -g], ["-1"], same_shape, symbol="-", elementwise=True)
defop("identity", 1, lambda a: a, [lambda g, out, a: g], ["1"], same_shape, elementwise=True)
def _pow_vjp(g, out, a, p):
    if p == 0:
        return g * 0.0            # d(x**0)/dx = 0 everywhere, even at x = 0 where 0 * x**-1 is nan
    return g * (p * np.power(a, p - 1.0))


defop("pow", 1, lambda a, p: np.power(a, p), [_pow_vjp], ["{p}·{0}^{pm1}"], same_shape, attrs=("p",),
      elementwise=True)


# ---------------------------------------------------------------- elementwise, two inputs
def _bshape(a, b, **_):
    return broadcast(a, b)


defop("add", 2, np.add, [lambda g, out, a, b: g, lambda g, out, a, b: g], ["1", "1"], _bshape,
      symbol="+", elementwise=True)
defop("sub", 2, np.subtract, [lambda g, out, a, b: g, lambda g, out, a, b: -g], ["1", "-1"], _bshape,
      symbol="-", elementwise=True)
defop("mul", 2, np.multiply, [lambda g, out, a, b: g * b, lambda g, out, a, b: g * a], ["{1}", "{0}"],
      _bshape, symbol="*", elementwise=True)
defop("div", 2, np.divide, [lambda g, out, a, b: g / b, lambda g, out, a, b: -(g * a) / (b * b)],
      ["1/{1}", "-{0}/{1}²"], _bshape, symbol="/", elementwise=True)


# ---------------------------------------------------------------- linear algebra
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


defop("matmul", 2, np.dot, [_matmul_vjp_a, _matmul_vjp_b], ["g ⊗ {1}  (g @ {1}ᵀ)", "{0}ᵀ @ g"],
      lambda a, b: matmul_shape(a, b), symbol="@")
# A copy in C order, not NumPy's strided view: a later reduction sums in memory order, so a view
# would round differently from the fast path, which keeps every value in a C-ordered buffer.
defop("transpose", 1, lambda a: np.transpose(a).copy(order="C"),
      [lambda g, out, a: np.transpose(g).copy(order="C")], ["transpose: g.T"], lambda a: tuple(reversed(a)))


# ---------------------------------------------------------------- reductions
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


defop("sum", 1, _sum, [lambda g, out, a, axis=None, keepdims=False: _expand(g, a, axis, keepdims) * 1.0],
      ["1"], lambda a, axis=None, keepdims=False: reduce_shape(a, axis, keepdims), attrs=("axis", "keepdims"))
defop("mean", 1, _mean,
      [lambda g, out, a, axis=None, keepdims=False: _expand(g, a, axis, keepdims) / _count(a, axis)],
      ["1/n"], lambda a, axis=None, keepdims=False: reduce_shape(a, axis, keepdims), attrs=("axis", "keepdims"))


# ---------------------------------------------------------------- softmax and losses
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
      ["s·(δ - s), s = softmax({0})"], _softmax_shape, attrs=("axis",))


def _mse(a, b):
    d = a - b
    return np.mean(d * d)


def _mse_vjp(sign):
    def vjp(g, out, a, b):
        d = a - b
        n = d.size
        return (sign * 2.0 / n) * (g * d)
    return vjp


defop("mse", 2, _mse, [_mse_vjp(1.0), _mse_vjp(-1.0)], ["2·({0} - {1})/n", "-2·({0} - {1})/n"],
      lambda a, b: (broadcast(a, b), ())[1])


# cross_entropy(logits, targets): softmax and log-loss fused, stable by subtracting the max, and
# averaged over the batch. Targets are either class indices (logits' shape without its last axis)
# or probabilities (the same shape as the logits).
def _ce_parts(logits, targets):
    logp = _log_softmax(logits, -1)
    batch = logits.size // logits.shape[-1] if logits.ndim > 1 else 1
    if targets.shape == logits.shape:
        probs = targets
    else:
        idx = targets.astype(np.int64)
        probs = np.zeros_like(logits)
        np.put_along_axis(probs, idx[..., None], 1.0, axis=-1)
    return logp, probs, batch


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
    return g * (-_log_softmax(logits, -1)) / (logits.size // logits.shape[-1] if logits.ndim > 1 else 1)


def _ce_shape(logits, targets):
    if len(logits) == 0:
        raise ShapeMismatch(f"cross_entropy needs logits with a class axis, got shape {logits}")
    if targets != logits and targets != logits[:-1]:
        raise ShapeMismatch(
            f"cross_entropy targets must be class indices of shape {logits[:-1]} "
            f"or probabilities of shape {logits}, got {targets}")
    return ()


defop("cross_entropy", 2, _ce_forward, [_ce_vjp_logits, _ce_vjp_targets],
      ["(softmax({0}) - {1})/batch", "-log softmax({0})/batch"], _ce_shape)


def check_class_indices(logits: np.ndarray, targets: np.ndarray) -> str | None:
    """Why these targets are not valid class indices for these logits, or None if they are."""
    if targets.shape == logits.shape:
        return None
    k = logits.shape[-1]
    if not np.all(np.isfinite(targets)) or np.any(targets != np.round(targets)):
        return "cross_entropy class indices must be whole numbers"
    if targets.size and (targets.min() < 0 or targets.max() >= k):
        return f"cross_entropy class indices must lie in 0..{k - 1}, got {targets.min():g}..{targets.max():g}"
    return None


def local_jacobian(op: Op, i: int, out: np.ndarray, inputs: list[np.ndarray], attrs: dict) -> np.ndarray:
    """The numeric Jacobian ∂out/∂input_i, shape (out.size, input.size), built row by row from VJPs."""
    from .accumulate import unbroadcast
    target = inputs[i]
    if op.elementwise:
        # Diagonal after broadcasting: one VJP with g = 1 gives every ∂out_r/∂input, and output r
        # depends only on the input element it was broadcast from. One call instead of out.size.
        with np.errstate(all="ignore"):
            d = np.broadcast_to(np.asarray(op.vjps[i](np.ones(out.shape), out, *inputs, **attrs),
                                           dtype=np.float64), out.shape)
        source = np.broadcast_to(np.arange(target.size).reshape(target.shape), out.shape)
        rows = np.zeros((max(out.size, 1), target.size))
        rows[np.arange(out.size), source.ravel()] = d.ravel()
        return rows
    rows = np.zeros((max(out.size, 1), target.size))
    for r in range(out.size):
        g = np.zeros(out.shape)
        g.flat[r] = 1.0
        rows[r] = unbroadcast(np.asarray(op.vjps[i](g, out, *inputs, **attrs)), target.shape).ravel()
    return rows
