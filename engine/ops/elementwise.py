"""Elementwise ops, one and two inputs: each row's forward, VJP and local derivative side by side.

The fast path's forms (into=, vjps_into=) sit on the same rows and give the same bits: a ufunc
written with out= runs the same loop, x * 1.0 == x, and power(a, 1.0) == a exactly.

Tangent rules (forward mode) come from the VJPs: every row here is elementwise, so its Jacobian is
diagonal and the JVP is the VJP with g = t (base.diagonal). Only the printed forms are given where
"local derivative · tangent" would read clumsily (ȧ + ḃ rather than 1·ȧ + 1·ḃ).
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from ..shapes import broadcast
from .base import Notation, Rule, defop, same_shape


def _sigmoid(a):
    return np.exp(-np.logaddexp(0.0, -a))


# ---------------------------------------------------------------- one input
defop("exp", 1, np.exp, [lambda g, out, a: g * out], ["exp({0})"], same_shape, elementwise=True)
defop("log", 1, np.log, [lambda g, out, a: g / a], ["1/{0}"], same_shape, elementwise=True)
defop("sin", 1, np.sin, [lambda g, out, a: g * np.cos(a)], ["cos({0})"], same_shape, elementwise=True)
defop("cos", 1, np.cos, [lambda g, out, a: -(g * np.sin(a))], ["-sin({0})"], same_shape, elementwise=True)
defop("tanh", 1, np.tanh, [lambda g, out, a: g * (1.0 - out * out)], ["1 - tanh({0})²"], same_shape,
      elementwise=True, saturates=(-0.99, 0.99))
defop("sigmoid", 1, _sigmoid, [lambda g, out, a: g * (out * (1.0 - out))], ["σ({0})·(1 - σ({0}))"],
      same_shape, elementwise=True, saturates=(0.01, 0.99))
defop("softplus", 1, lambda a: np.logaddexp(0.0, a), [lambda g, out, a: g * _sigmoid(a)], ["σ({0})"], same_shape,
      elementwise=True)
defop("sqrt", 1, np.sqrt, [lambda g, out, a: g / (2.0 * out)], ["1/(2·√{0})"], same_shape, elementwise=True)
defop("abs", 1, np.abs, [lambda g, out, a: g * np.sign(a)], ["sign({0})"], same_shape, elementwise=True,
      kinks=(0.0,))
defop("neg", 1, np.negative, [lambda g, out, a: -g], ["-1"], same_shape, notation=Notation.PREFIX, symbol="-",
      elementwise=True, linear=(-1.0,), tangent_formulas=["-{t}"])
defop("identity", 1, lambda a: a, [lambda g, out, a: g], ["1"], same_shape, notation=Notation.BARE,
      elementwise=True, linear=(1.0,), tangent_formulas=["{t}"])


# erf, element by element with the C library's erf (NumPy has none); gelu in its exact erf form as
# torch.nn.GELU() (approximate="none"): x·Φ(x), Φ the standard normal CDF, φ its density.
_erf = np.frompyfunc(math.erf, 1, 1)


def erf(a):
    return np.asarray(_erf(a), dtype=np.float64).reshape(np.shape(a))


_SQRT2, _SQRT_2PI = math.sqrt(2.0), math.sqrt(2.0 * math.pi)


def _gelu(a):
    return a * (0.5 * (1.0 + erf(a / _SQRT2)))


def _gelu_vjp(g, out, a):
    return g * (0.5 * (1.0 + erf(a / _SQRT2)) + a * (np.exp(-0.5 * a * a) / _SQRT_2PI))


defop("erf", 1, erf, [lambda g, out, a: g * ((2.0 / math.sqrt(math.pi)) * np.exp(-a * a))], ["2/√π·exp(-{0}²)"],
      same_shape, elementwise=True)
def _gelu_into(out, ins, attrs, scratch):
    """x·Φ(x) into out, keeping Φ(x) for the backward (erf runs per element in Python: once, not twice)."""
    a = ins[0]
    kept = scratch.setdefault("gelu", {})

    def forward() -> None:
        cdf = 0.5 * (1.0 + erf(a / _SQRT2))
        kept["cdf"] = cdf
        np.multiply(a, cdf, out=out)
    return forward


def _gelu_vjp_into(dest, g, ones, out, ins, attrs, scratch):
    kept = scratch.get("gelu")
    if kept is None or dest.shape != out.shape or g.shape != out.shape:
        return None
    a = ins[0]
    return [lambda: np.multiply(g, kept["cdf"] + a * (np.exp(-0.5 * a * a) / _SQRT_2PI), out=dest)]


defop("gelu", 1, _gelu, [_gelu_vjp], ["Φ({0}) + {0}·φ({0})"], same_shape, elementwise=True,
      into=_gelu_into, vjps_into=(_gelu_vjp_into,))


# leaky_relu and elu as PyTorch: the slope at 0 is the negative side's (negative_slope; alpha·e⁰).
defop("leaky_relu", 1, lambda a, negative_slope=0.01: np.where(a > 0.0, a, a * negative_slope),
      [lambda g, out, a, negative_slope=0.01: g * np.where(a > 0.0, 1.0, negative_slope)],
      ["1 if {0} > 0 else {negative_slope}"], same_shape, attrs=("negative_slope",), kinds=("number",),
      elementwise=True, kinks=(0.0,))
defop("elu", 1, lambda a, alpha=1.0: np.where(a > 0.0, a, alpha * np.expm1(np.minimum(a, 0.0))),
      [lambda g, out, a, alpha=1.0: g * np.where(a > 0.0, 1.0, alpha * np.exp(np.minimum(a, 0.0)))],
      ["1 if {0} > 0 else {alpha}·exp({0})"], same_shape, attrs=("alpha",), kinds=("number",), elementwise=True)


# relu'(0) = 0: the subgradient PyTorch and JAX also choose, so gradients at the kink agree.
SMALL_ZERO = 4096     # up to this size, a buffer of zeros beats converting the scalar 0.0 per call


def _zero(shape):
    """0.0 as a small array's partner (no conversion per call), or the scalar for a big one (no memory read)."""
    return np.zeros(shape) if int(np.prod(shape)) <= SMALL_ZERO else 0.0


def _relu_into(out, ins, attrs, scratch):
    # maximum(a, 0.0): the same elementwise loop whether 0.0 comes as a scalar or an array of zeros
    # (maximum takes out= only by keyword).
    return partial(np.maximum, ins[0], _zero(out.shape), out=out)


def _relu_vjp_into(dest, g, ones, out, ins, attrs, scratch):
    a = ins[0]
    if out.shape != dest.shape:
        return None
    # g * [a > 0], the mask compared against zeros (the same values as 0.0).
    mask = np.zeros(dest.shape, dtype=bool)
    return [partial(np.greater, a, _zero(dest.shape), mask), partial(np.multiply, g, mask, dest)]


defop("relu", 1, lambda a: np.maximum(a, 0.0), [lambda g, out, a: g * (a > 0.0)], ["[{0} > 0]"],
      same_shape, elementwise=True, kinks=(0.0,), dies=True, into=_relu_into, vjps_into=(_relu_vjp_into,))


def _pow_vjp(g, out, a, p):
    if p == 0:
        return g * 0.0            # d(x**0)/dx = 0 everywhere, even at x = 0 where 0 * x**-1 is nan
    return g * (p * np.power(a, p - 1.0))


def _pow_vjp_into(dest, g, ones, out, ins, attrs, scratch):
    if out.shape == dest.shape and attrs["p"] == 2.0 and ones:
        # g * (2 * a**1) with g exactly ones: power(a, 1.0) == a and x * 1.0 == x exactly.
        return [partial(np.multiply, 2.0, ins[0], dest)]
    return None


def _pow_template(attrs) -> dict:
    # 2·x rather than 2·x^1 when the exponent is 2.
    p = float(attrs["p"])
    return {"pm1": "" if p - 1.0 == 1.0 else "^" + _num_text(p - 1.0)}


def _num_text(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


defop("pow", 1, lambda a, p: np.power(a, p), [_pow_vjp], ["{p}·{0}{pm1}"], same_shape,
      notation=Notation.POWER, symbol="**", attrs=("p",), kinds=("number",), elementwise=True, template=_pow_template,
      into=lambda out, ins, attrs, scratch: partial(np.power, ins[0], attrs["p"], out),
      vjps_into=(_pow_vjp_into,))


# ---------------------------------------------------------------- two inputs
def _bshape(a, b, **_):
    return broadcast(a, b)


def _mul_vjp_into(pos):
    def form(dest, g, ones, out, ins, attrs, scratch):
        other = ins[1 - pos]
        if out.shape == dest.shape and g.shape == dest.shape and other.shape == dest.shape:
            return [partial(np.multiply, g, other, dest)]
        return None
    return form


defop("add", 2, np.add, [lambda g, out, a, b: g, lambda g, out, a, b: g], ["1", "1"], _bshape,
      notation=Notation.INFIX, symbol="+", elementwise=True, linear=(1.0, 1.0), tangent_formulas=["{t}", "{t}"])
defop("sub", 2, np.subtract, [lambda g, out, a, b: g, lambda g, out, a, b: -g], ["1", "-1"], _bshape,
      notation=Notation.INFIX, symbol="-", elementwise=True, linear=(1.0, -1.0), tangent_formulas=["{t}", "-{t}"])
defop("mul", 2, np.multiply, [lambda g, out, a, b: g * b, lambda g, out, a, b: g * a], ["{1}", "{0}"],
      _bshape, notation=Notation.INFIX, symbol="*", elementwise=True,
      vjps_into=(_mul_vjp_into(0), _mul_vjp_into(1)), tangent_formulas=["{t}·{1}", "{0}·{t}"])
defop("div", 2, np.divide, [lambda g, out, a, b: g / b, lambda g, out, a, b: -(g * a) / (b * b)],
      ["1/{1}", "-{0}/{1}²"], _bshape, notation=Notation.INFIX, symbol="/", elementwise=True)


# ---------------------------------------------------------------- three inputs
# where(mask, a, b): a where the mask is 1, b where it is 0. The mask is read like class indices
# (0 or 1, checked when the scenario loads) and gets no gradient. A causal mask writes a large
# finite negative for b (-1e9): softmax then gives exactly 0 there, while -inf would make nan of
# a row that is masked throughout.
def _where_vjp(pos):
    def vjp(g, out, mask, a, b):
        if pos == 0:
            return np.zeros(np.shape(mask))
        keep = (mask != 0.0) if pos == 1 else (mask == 0.0)
        return np.where(keep, g, 0.0)
    return vjp


defop("where", 3, lambda mask, a, b: np.where(mask != 0.0, a, b), [_where_vjp(0), _where_vjp(1), _where_vjp(2)],
      ["0 (a mask)", "[mask]", "[not mask]"], lambda m, a, b: broadcast(broadcast(m, a), b), elementwise=True,
      indices=lambda m, a, b: {0: 2}, index_word="mask values", jvps=[Rule.NONE, Rule.DIAGONAL, Rule.DIAGONAL],
      tangent_formulas=["", "{t} where the mask is 1", "{t} where the mask is 0"])
