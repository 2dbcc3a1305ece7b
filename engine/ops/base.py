"""What an op is: one row holding everything about a primitive, and the registry of rows.

A row carries the forward, one vector–Jacobian product (VJP) and one printed local derivative per
input, the shape rule, how the op is written (call, infix, prefix, power, postfix, bare), its cost
estimate, its kink points, which inputs are class indices, and the ``out=`` forms the fast path
runs. Nothing outside ``engine/ops/`` needs to know an op by its name.

A VJP has the signature ``vjp(g, out, *inputs, **attrs)`` and returns the contribution to the
input's gradient. Elementwise binary ops may return it in the broadcast (output) shape: the one
place that sums it back to the input's shape is ``engine.accumulate``.

Formulas are templates: ``{0}``, ``{1}`` stand for the input names, ``{out}`` for the node, and
``{name}`` for an attribute (``{p}`` for pow's exponent).

Forward mode reads the same rows. A tangent rule (JVP) has the signature ``jvp(t, out, *inputs,
**attrs)``: t is input i's tangent (its shape), and the rule returns that input's contribution to
the output's tangent (the output's shape, or one that broadcasts to it), or None for an input whose
tangent cannot reach the output (class indices, a mask, dropout's noise, running statistics). An
elementwise op's rule is derived from its VJP: the Jacobian is diagonal, so the JVP is the VJP with
g = t. Tangent formulas are templates like the formulas, with ``{t}`` for the input's tangent.
"""
from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from ..accumulate import unbroadcast


class Notation(enum.Enum):
    """How an op is written in an expression and printed in a listing."""

    CALL = "call"          # relu(x), sum(x, axis=0)
    INFIX = "infix"        # a + b, W @ x
    PREFIX = "prefix"      # -a
    POWER = "power"        # a ** 2 (the exponent is the op's first attribute)
    POSTFIX = "postfix"    # W.T
    BARE = "bare"          # the identity: 'y = x' reads as x
    SUBSCRIPT = "subscript"  # x[:, 0:3], x[..., -1]: the key is the op's attribute "key"


class Rule(enum.Enum):
    """Stand-ins in a row's jvps list, resolved by defop."""

    DIAGONAL = "diagonal"        # an elementwise input: the JVP is this position's VJP with g = t
    NONE = "none"                # no tangent reaches the output through this input


def diagonal(vjp):
    """The tangent rule of an elementwise input: the VJP with g = t broadcast to the output's shape."""
    def jvp(t, out, *ins, **attrs):
        return vjp(t if t.shape == out.shape else np.broadcast_to(t, out.shape), out, *ins, **attrs)
    return jvp


def no_tangent(t, out, *ins, **attrs):
    """Class indices, masks, noise and running statistics: piecewise constant or unread, so no tangent."""
    return None


def count_cost(out: tuple[int, ...], *ins: tuple[int, ...], **_) -> int:
    """The default cost: one operation per element read or written."""
    return max(math.prod(out), 1) + sum(math.prod(s) for s in ins)


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive: forward, one VJP and one local-derivative formula per input, and how to run it fast."""

    name: str
    arity: int
    forward: Callable[..., np.ndarray]
    vjps: tuple[Callable[..., np.ndarray], ...]
    formulas: tuple[str, ...]
    shape: Callable[..., tuple[int, ...]]
    notation: Notation = Notation.CALL
    symbol: str | None = None              # "+", "@", "-", "**", ".T": how INFIX/PREFIX/POWER/POSTFIX ops read
    attrs: tuple[str, ...] = ()            # keyword arguments (POWER: the exponent), also given by position
    kinds: tuple[str, ...] = ()            # how each attribute is written: axis, bool, int, ints, pair, number,
                                           # or choice:a,b (a word from a list); axis when not said
    callable: bool = False                 # a POSTFIX op that can also be called by name: transpose(x, axes)
    optional: int = 0                      # trailing inputs that may be left out: conv2d(x, w) or conv2d(x, w, b)
    noise: bool = False                    # its last input is not written: uniform noise in [0, 1), drawn
                                           # afresh each iteration from the scenario's seed (dropout)
    # Inputs the forward pass also updates for the next iteration, as (position, rule): the new value is
    # rule(old, *inputs, **attrs). batch_norm's running statistics: [values] leaves carried from one
    # iteration to the next like params, restored when stepping back, and given no gradient.
    carries: tuple[tuple[int, Callable], ...] = ()
    elementwise: bool = False              # the local Jacobian is diagonal (after broadcasting)
    # Fast-path facts, each true to the bit of what forward and vjps compute:
    linear: tuple[float | None, ...] = ()  # per input: c when the VJP is exactly c·g (add: 1, 1; sub: 1, -1)
    grad_only: bool = False                # the VJPs read only g and the shapes, never a value (sum, .T)
    cost: Callable[..., int] = count_cost  # estimated multiply-adds: cost(out_shape, *input_shapes, **attrs)
    kinks: tuple[float, ...] = ()          # input values where the derivative jumps (relu, abs: 0)
    indices: Callable[..., dict[int, int]] | None = None   # input shapes -> {position: classes} read as class indices
    index_word: str = "class indices"      # what those inputs are called in messages (where: "mask values")
    into: Callable | None = None           # into(out, ins, attrs, scratch) -> a call writing the forward into out
    vjps_into: tuple[Callable | None, ...] = ()   # per input: (dest, g, ones, out, ins, attrs, scratch) -> calls
    template: Callable[[dict], dict] | None = None   # extra values for the formula templates, from the attrs
    # Health (engine/health.py): an output of exactly 0 passes no gradient (relu: dead units), or
    # outputs outside (lo, hi) pass almost none (tanh, sigmoid: saturated units).
    dies: bool = False
    saturates: tuple[float, float] | None = None
    # Elements of the largest array the op makes inside (mse's broadcast difference): counted against
    # MAX_ELEMENTS and the work estimate like the node's own output.
    temporary: Callable[..., int] | None = None
    # Forward mode: per input, jvp(t, out, *inputs, **attrs) -> that input's contribution to the
    # output's tangent (see the module's docstring), and how that contribution is printed with {t}
    # for the input's tangent ("{t}·{1}" for a * b); without one, the formula times the tangent.
    jvps: tuple[Callable, ...] = ()
    tangent_formulas: tuple[str, ...] = ()

    # ------------------------------------------------------------------ how it reads
    def text(self, names: list[str], attrs: dict) -> str:
        """The equation's right-hand side as a reader would write it."""
        n = self.notation
        if n is Notation.POSTFIX and self.callable and attrs:
            n = Notation.CALL                     # transpose(x, (1, 0, 2)) rather than x.T
        if n is Notation.SUBSCRIPT:
            return f"{names[0]}[{format_key(attrs['key'])}]"
        if n is Notation.INFIX:
            return f"{names[0]} {self.symbol} {names[1]}"
        if n is Notation.PREFIX:
            return f"{self.symbol}{names[0]}"
        if n is Notation.POWER:
            return f"{names[0]} {self.symbol} {_num(attrs[self.attrs[0]])}"
        if n is Notation.POSTFIX:
            return f"{names[0]}{self.symbol}"
        if n is Notation.BARE:
            return names[0]
        given = [f"{k}={_attr(v)}" for k, v in attrs.items() if v is not None and v is not False]
        if self.arity < 0:                        # a list of inputs: concat([a, b], axis=1)
            return f"{self.name}([{', '.join(names)}]{''.join(', ' + a for a in given)})"
        return f"{self.name}({', '.join(list(names) + given)})"

    def kind(self, attr: str) -> str:
        """How an attribute is written (see kinds)."""
        return self.kinds[self.attrs.index(attr)] if attr in self.attrs and self.kinds else "axis"

    @property
    def called(self) -> bool:
        """Whether a scenario writes it as name(...)."""
        return self.notation is Notation.CALL or self.callable

    @property
    def reads_as_operand(self) -> bool:
        """A call (relu(x)) or a bare name reads as one operand; a + b or -a needs brackets inside another."""
        return self.notation in (Notation.CALL, Notation.BARE)

    def _template_values(self, attrs: dict) -> dict:
        values = {k: _num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                  for k, v in attrs.items()}
        if self.template is not None:
            values.update(self.template(attrs))
        return values

    def formula(self, i: int, names: list[str], out: str, attrs: dict) -> str:
        """The local derivative ∂out/∂input_i, written out with the real names."""
        values = self._template_values(attrs)
        # Inner nodes are named by their expression text ("a + b"): parenthesise it unless the
        # template already encloses it, so "1/{1}" reads 1/(b + 1), not 1/b + 1.
        return re.sub(r"(\()?\{(\d+)\}(\))?", lambda m: _place(names[int(m.group(2))], m),
                      self.formulas[i]).format(out=out, **values)

    def carries_tangent(self, i: int) -> bool:
        """Whether a tangent can reach the output through input i (not class indices, a mask, noise)."""
        return self.jvps[i] is not no_tangent

    def tangent_formula(self, i: int, names: list[str], out: str, attrs: dict, tangent: str) -> str:
        """Input i's contribution to the output's tangent, written out: 'ċ·d' for c * d, 'cos(u)·u̇' for sin.

        The row's tangent formula when it has one; otherwise the local derivative times the tangent.
        """
        if not self.carries_tangent(i):
            return "0"
        given = self.tangent_formulas[i] if isinstance(self.tangent_formulas, PerInput) or \
            i < len(self.tangent_formulas) else None
        if not given:
            local = self.formula(i, names, out, attrs)
            bare = _atomic(local) or re.fullmatch(r"\[[^\]]*\]", local)
            return f"{local}·{tangent}" if bare else f"({local})·{tangent}"
        text = re.sub(r"(\()?\{(\d+)\}(\))?", lambda m: _place(names[int(m.group(2))], m), given)
        return text.format(out=out, t=tangent, **self._template_values(attrs))

    # ------------------------------------------------------------------ how the fast path runs it
    def compile_forward(self, out: np.ndarray, ins: list[np.ndarray], attrs: dict, scratch: dict):
        """A call that writes the forward into out with the same bits as forward(), or None."""
        if self.into is not None:
            return self.into(out, ins, attrs, scratch)
        if isinstance(self.forward, np.ufunc) and not attrs:
            # A ufunc writing into out= broadcasts its inputs exactly as it would without it.
            return partial(self.forward, *ins, out)
        return None

    def compile_vjp(self, pos: int, dest: np.ndarray, g: np.ndarray, ones: bool, out: np.ndarray,
                    ins: list[np.ndarray], attrs: dict, scratch: dict):
        """Calls that write the un-broadcast contribution to input pos into dest, or None.

        ones says g is known to hold exact ones. The calls give the bits of
        unbroadcast(vjps[pos](g, out, *ins)).
        """
        form = self.vjps_into[pos] if pos < len(self.vjps_into) else None
        return form(dest, g, ones, out, ins, attrs, scratch) if form is not None else None


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
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, float):
        return _num(v)
    return repr(v) if not isinstance(v, tuple) else "(" + ", ".join(map(str, v)) + ")"


def format_key(key: tuple) -> str:
    """An index key as it is written: 0, :, 1:3, ::2, ..., None."""
    out = []
    for k in key:
        if k is Ellipsis:
            out.append("...")
        elif k is None:
            out.append("None")
        elif isinstance(k, slice):
            a = "" if k.start is None else str(k.start)
            b = "" if k.stop is None else str(k.stop)
            out.append(f"{a}:{b}" + (f":{k.step}" if k.step not in (None, 1) else ""))
        else:
            out.append(str(k))
    return ", ".join(out)


class PerInput:
    """The same rule for every input of an op that takes a list of them (concat): rule(position)."""

    def __init__(self, rule):
        self.rule = rule

    def __getitem__(self, pos: int):
        return self.rule(pos)

    def __len__(self) -> int:
        return 0


REGISTRY: dict[str, Op] = {}


def defop(name: str, arity: int, forward, vjps, formulas, shape, **kw) -> Op:
    """Register an op; the tables in this package read like pages of calculus rules."""
    vjps = vjps if isinstance(vjps, PerInput) else tuple(vjps)
    formulas = formulas if isinstance(formulas, PerInput) else tuple(formulas)
    jvps = kw.pop("jvps", None)
    if jvps is None and kw.get("elementwise"):
        jvps = [Rule.DIAGONAL] * len(vjps)
    if jvps is not None and not isinstance(jvps, PerInput):
        jvps = tuple(diagonal(vjps[k]) if r is Rule.DIAGONAL else no_tangent if r is Rule.NONE else r
                     for k, r in enumerate(jvps))
    tangent_formulas = kw.pop("tangent_formulas", ())
    if not isinstance(tangent_formulas, PerInput):
        tangent_formulas = tuple(tangent_formulas)
    op = Op(name, arity, forward, vjps, formulas, shape, jvps=jvps if jvps is not None else (),
            tangent_formulas=tangent_formulas, **kw)
    REGISTRY[name] = op
    return op


def written(notation: Notation, symbol: str | None = None) -> Op | None:
    """The op written with this notation and symbol ('+' infix is add), or None."""
    for op in REGISTRY.values():
        if op.notation is notation and op.symbol == symbol:
            return op
    return None


def callable_ops() -> list[str]:
    """The names a scenario can call like relu(...)."""
    return sorted(k for k, o in REGISTRY.items() if o.called)


def same_shape(a, **_):
    return a


def check_indices(op: Op, values: np.ndarray, classes: int) -> str | None:
    """Why these values are not valid class indices for an op with this many classes, or None."""
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        return f"{op.name} {op.index_word} must be whole numbers"
    if values.size and (values.min() < 0 or values.max() >= classes):
        return (f"{op.name} {op.index_word} must lie in 0..{classes - 1}, "
                f"got {values.min():g}..{values.max():g}")
    return None


def local_jacobian(op: Op, i: int, out: np.ndarray, inputs: list[np.ndarray], attrs: dict) -> np.ndarray:
    """The numeric Jacobian ∂out/∂input_i, shape (out.size, input.size), built row by row from VJPs."""
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
