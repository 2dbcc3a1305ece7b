"""Breakpoint and watch conditions: one small language over the Stepper's state at a tick.

A condition is read by the same checked reading as graph expressions (``expr.read``: Python's ``ast``
against a whitelist, never ``eval``) and compiled into a tree of small evaluators. It reads:

- a node, param, value or data name: its forward value as it stands at that tick;
- ``grad(name)``: the gradient accumulated so far into name in this iteration;
- ``update(name)``: the step −η·∂E/∂w applied to a param in this iteration, once applied;
- ``loss``, ``iteration`` (from 1), ``eta``;
- reducers and tests: norm, max, min, mean, sum, abs, sign, any, all, isfinite, count (non-zero
  elements); comparisons, and/or/not, + - * / **, constant indexing (``W1[3, 7]``);
- health measures: ``dead(h)``, ``saturated(t)``, ``ratio(W)`` (engine/health.py);
- ``changed(expr)``: true when expr's value differs from its value at the previous evaluation.

A quantity that is not available at the tick (a node not computed yet in this iteration, a gradient
not reached yet, a param not updated yet) makes the whole condition false. Evaluating never mutates
the state it reads.
"""
from __future__ import annotations

import ast
import enum
import math
import operator
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from . import expr, health, limits
from .errors import ScenarioError
from .program import Program
from .shapes import ShapeMismatch, broadcast, fmt
from .tomltext import clip, did_you_mean


class Quantity(enum.Enum):
    """What a condition reads; a step that writes one of them is when the condition is checked."""

    VALUE = "value"
    GRAD = "grad"
    UPDATE = "update"
    ITERATION = "iteration"      # with eta: set when an iteration begins (its first step)
    ETA = "eta"


@dataclass(frozen=True)
class Read:
    """One quantity a condition reads: (VALUE, node), (GRAD, node), (UPDATE, param), (ITERATION, None)..."""

    quantity: Quantity
    node: int | None = None


class View(Protocol):
    """The state at one tick, as a condition sees it. None means not available at this tick."""

    iteration: int
    eta: float

    def value(self, node: int) -> np.ndarray | None: ...
    def grad(self, node: int) -> np.ndarray | None: ...
    def update(self, param: int) -> np.ndarray | None: ...


class Unavailable(Exception):
    """A quantity the condition reads is not available at this tick: the condition is false."""


class NumericProblem(Exception):
    """The condition produced nan or a numeric error: it counts as false and is reported once."""


# ---------------------------------------------------------------------------------- the evaluators
class _E:
    """One evaluator: its static shape, what it reads, and eval(view, memory)."""

    __slots__ = ("shape", "boolean", "reads")

    def eval(self, view: View, memory: list):
        raise NotImplementedError


class _Const(_E):
    __slots__ = ("v",)

    def __init__(self, v):
        self.v, self.shape, self.boolean, self.reads = v, (), isinstance(v, bool), frozenset()

    def eval(self, view, memory):
        return self.v


class _Source(_E):
    """A value, gradient or update of one node, read from the view."""

    __slots__ = ("read", "get")

    def __init__(self, read: Read, shape: tuple[int, ...]):
        self.read, self.shape, self.boolean, self.reads = read, shape, False, frozenset([read])
        self.get = {Quantity.VALUE: "value", Quantity.GRAD: "grad", Quantity.UPDATE: "update"}[read.quantity]

    def eval(self, view, memory):
        v = getattr(view, self.get)(self.read.node)
        if v is None:
            raise Unavailable
        return v


class _Scalar(_E):
    """iteration or eta."""

    __slots__ = ("attr",)

    def __init__(self, quantity: Quantity):
        self.attr, self.shape, self.boolean = quantity.value, (), False
        self.reads = frozenset([Read(quantity)])

    def eval(self, view, memory):
        return getattr(view, self.attr)


class _Apply(_E):
    """fn(*args) for an elementwise function, a reducer or an operator."""

    __slots__ = ("fn", "args", "elementwise")

    def __init__(self, fn: Callable, args: list[_E], shape, boolean: bool, elementwise: bool = True):
        self.fn, self.args, self.shape, self.boolean, self.elementwise = fn, args, shape, boolean, elementwise
        self.reads = frozenset().union(*(a.reads for a in args))

    def eval(self, view, memory):
        return self.fn(*[a.eval(view, memory) for a in self.args])


class _Compare(_E):
    """a < b < c: elementwise, and nan on either side is a numeric problem, not a quiet False."""

    __slots__ = ("ops", "scalar_ops", "terms")

    def __init__(self, ops: list[Callable], terms: list[_E], shape):
        self.ops, self.terms, self.shape, self.boolean = ops, terms, shape, True
        self.scalar_ops = [_SCALAR_COMPARE[op] for op in ops]
        self.reads = frozenset().union(*(t.reads for t in terms))

    def eval(self, view, memory):
        vals = [t.eval(view, memory) for t in self.terms]
        if self.shape == () and not getattr(view, "vector", False):
            # One number each side: plain Python floats compare faster than NumPy scalars.
            if len(vals) == 2:
                a, b = float(vals[0]), float(vals[1])
                if a != a or b != b:
                    raise NumericProblem("a comparison met nan")
                return self.scalar_ops[0](a, b)
            xs = [float(v) for v in vals]
            for x in xs:
                if x != x:
                    raise NumericProblem("a comparison met nan")
            return all(op(a, b) for op, a, b in zip(self.scalar_ops, xs, xs[1:]))
        for v in vals:
            if np.any(np.isnan(v)):
                if not getattr(view, "vector", False):
                    raise NumericProblem("a comparison met nan")
                view.saw_nan = True         # over many iterations: those are false, and it is reported
        out = None
        for op, a, b in zip(self.ops, vals, vals[1:]):
            r = op(a, b)
            out = r if out is None else np.logical_and(out, r)
        return out


class _Logic(_E):
    """and / or over scalar tests, short-circuiting as Python does."""

    __slots__ = ("is_and", "terms")

    def __init__(self, is_and: bool, terms: list[_E]):
        self.is_and, self.terms, self.shape, self.boolean = is_and, terms, (), True
        self.reads = frozenset().union(*(t.reads for t in terms))

    def eval(self, view, memory):
        if getattr(view, "vector", False):          # one test per iteration: no short-circuit
            vals = [t.eval(view, memory) for t in self.terms]
            return (np.logical_and if self.is_and else np.logical_or).reduce(np.broadcast_arrays(*vals))
        for t in self.terms:
            v = bool(t.eval(view, memory))
            if v != self.is_and:
                return v
        return self.is_and


class _Changed(_E):
    """changed(expr): its value differs from the one at the previous evaluation (memory[slot])."""

    __slots__ = ("arg", "slot")

    def __init__(self, arg: _E, slot: int):
        self.arg, self.slot, self.shape, self.boolean, self.reads = arg, slot, (), True, arg.reads

    def eval(self, view, memory):
        v = np.array(self.arg.eval(view, memory), copy=True)
        before = memory[self.slot]
        memory[self.slot] = v
        return before is not None and not np.array_equal(before, v, equal_nan=True)


# ---------------------------------------------------------------------------------- the functions
def _norm(a) -> float:
    """The L2 norm over every element, as np.linalg.norm computes it: sqrt(x·x)."""
    if not np.ndim(a):
        return abs(float(a))
    r = a.ravel()
    return math.sqrt(float(np.dot(r, r)))


def _mean(a) -> float:
    a = np.asarray(a)
    return float(np.add.reduce(a, None)) / a.size if a.size else math.nan     # as np.mean divides


# Reducers give Python numbers (bool for any/all), so what follows compares in plain Python; the
# ufuncs' reduce is what np.max, np.sum... call, without their wrappers' cost.
REDUCERS: dict[str, tuple[Callable, bool]] = {      # name -> (function, gives a test)
    "norm": (_norm, False), "max": (lambda a: float(np.maximum.reduce(a, None)), False),
    "min": (lambda a: float(np.minimum.reduce(a, None)), False), "mean": (_mean, False),
    "sum": (lambda a: float(np.add.reduce(a, None)), False),
    "count": (lambda a: int(np.count_nonzero(a)), False), "any": (lambda a: bool(np.any(a)), True),
    "all": (lambda a: bool(np.all(a)), True),
}
ELEMENTWISE: dict[str, tuple[Callable, bool]] = {
    "abs": (np.abs, False), "sign": (np.sign, False), "isfinite": (np.isfinite, True),
}
HEALTH = ("dead", "saturated", "ratio")
SOURCES = ("grad", "update")
BUILTINS = ("loss", "iteration", "eta")
FUNCTIONS = sorted(list(REDUCERS) + list(ELEMENTWISE) + list(HEALTH) + list(SOURCES) + ["changed"])

_COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
            ast.Eq: np.equal, ast.NotEq: np.not_equal}
_SCALAR_COMPARE = {np.less: operator.lt, np.less_equal: operator.le, np.greater: operator.gt,
                   np.greater_equal: operator.ge, np.equal: operator.eq, np.not_equal: operator.ne}
_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}


# ---------------------------------------------------------------------------------- compiling
def _elementwise(e: _E) -> bool:
    if isinstance(e, _Changed) or (isinstance(e, _Apply) and not e.elementwise):
        return False
    kids = getattr(e, "args", None) or getattr(e, "terms", None) or []
    return all(_elementwise(k) for k in kids)


@dataclass(frozen=True)
class Condition:
    """A compiled condition (a test) or watch (any value): evaluate it on a view with evaluate()."""

    text: str
    root: _E
    changed_slots: int           # how many changed(...) it holds: the size of its memory
    test: bool

    @property
    def reads(self) -> frozenset[Read]:
        return self.root.reads

    @property
    def shape(self) -> tuple[int, ...]:
        return self.root.shape

    @property
    def elementwise(self) -> bool:
        """Only elementwise work (no reducer, index, health measure or changed): it can run over arrays
        of many iterations at once."""
        return _elementwise(self.root)

    def guard(self) -> Condition | None:
        """The leading terms of a top-level `and` that read only the iteration and eta, elementwise, as a
        condition of their own: where it is false the whole condition is false and nothing after it is
        evaluated, whatever the values, so a search can skip those iterations without running them.
        None when there is no such term, or when the condition holds a changed(...) (skipping an
        evaluation would change its memory)."""
        if self.changed_slots:
            return None
        terms = self.root.terms if isinstance(self.root, _Logic) and self.root.is_and else [self.root]
        keep = []
        for t in terms:          # the leading ones: `and` short-circuits, so when they fail nothing after runs
            if not (t.reads and all(r.quantity in (Quantity.ITERATION, Quantity.ETA) for r in t.reads)
                    and _elementwise(t)):
                break
            keep.append(t)
        if not keep or keep == [self.root]:
            return None
        return Condition(self.text, keep[0] if len(keep) == 1 else _Logic(True, keep), 0, True)

    def evaluate_many(self, view: View) -> np.ndarray:
        """One test per element of a view whose quantities are arrays over iterations (loss, iteration,
        eta): the conditions that loss_only() accepts. nan counts as false."""
        with np.errstate(all="ignore"):
            try:
                v = self.root.eval(view, [])
            except (FloatingPointError, OverflowError, ZeroDivisionError, ValueError):
                return np.zeros(np.shape(view.iteration), dtype=bool)
        return np.broadcast_to(np.asarray(v, dtype=bool), np.shape(view.iteration))

    def new_memory(self) -> list:
        """Fresh memory for changed(...): no previous evaluation yet."""
        return [None] * self.changed_slots

    def evaluate(self, view: View, memory: list):
        """The value at this view (a bool for a test). Raises Unavailable or NumericProblem.

        memory is updated in place by changed(...); pass a copy to look without remembering.
        Callers run it under np.errstate(all="ignore") (the Stepper and the fast path do), so a
        division by zero gives inf or nan, not a warning.
        """
        try:
            v = self.root.eval(view, memory)
        except (FloatingPointError, OverflowError, ZeroDivisionError, ValueError) as e:
            raise NumericProblem(str(e)) from None
        return bool(v) if self.test else np.asarray(v)


def compile_condition(text, program: Program, *, test: bool = True, table: str = "break",
                      key: str = "when") -> Condition:
    """Read and check a condition against a program: every name known, shapes that fit, a test when asked.

    Raises ScenarioError naming the problem (with a did-you-mean for an unknown name).
    """
    what = "condition" if test else "watch expression"
    tree = expr.read(text, table=table, key=key, max_chars=limits.MAX_CONDITION_CHARS,
                     chars_limit="MAX_CONDITION_CHARS", max_depth=limits.MAX_CONDITION_DEPTH,
                     depth_limit="MAX_CONDITION_DEPTH", advice="write a shorter condition", what=what)
    c = _Compiler(text.strip(), program, table, key)
    root = c.node(tree, 0)
    if not root.reads:
        raise c.fail(f"the {what} {clip(text.strip())!r} reads nothing that changes; name a node, "
                     f"grad(...), update(...), loss, iteration or eta")
    if test:
        if root.shape != ():
            raise c.fail(f"the condition {clip(text.strip())!r} gives a {fmt(root.shape)} array of tests, not "
                         f"one: wrap it in any(...) or all(...)")
        if not root.boolean:
            raise c.fail(f"the condition {clip(text.strip())!r} is a number, not a test: compare it, "
                         f"like {clip(text.strip(), 30)} < 0.01")
    return Condition(text.strip(), root, c.slots, test)


class _Compiler:
    def __init__(self, text: str, program: Program, table: str, key: str):
        self.text, self.p, self.table, self.key = text, program, table, key
        self.slots = 0

    def fail(self, problem: str) -> ScenarioError:
        return ScenarioError(problem, table=self.table, key=self.key)

    def source(self, n: ast.AST) -> str:
        seg = ast.get_source_segment(self.text, n)
        return clip(seg if seg is not None else "?")

    # -------------------------------------------------------------- names
    def known(self) -> list[str]:
        return list(self.p.by_name) + list(BUILTINS)

    def lookup(self, ident: str) -> int:
        if ident.startswith("__"):
            raise self.fail(f"names starting with '__' (like {ident!r}) are not allowed")
        node = self.p.by_name.get(ident)
        if node is None:
            hint = did_you_mean(ident, self.known() + FUNCTIONS)
            raise self.fail(f"unknown name {ident!r}{hint}: a condition reads the scenario's names, "
                            f"grad(...), update(...), loss, iteration and eta")
        return node

    def name(self, ident: str) -> _E:
        if ident in self.p.by_name:
            node = self.p.by_name[ident]
            return _Source(Read(Quantity.VALUE, node), self.p.nodes[node].shape)
        if ident == "loss":
            return _Source(Read(Quantity.VALUE, self.p.loss), ())
        if ident == "iteration":
            return _Scalar(Quantity.ITERATION)
        if ident == "eta":
            return _Scalar(Quantity.ETA)
        if ident in FUNCTIONS:
            raise self.fail(f"{ident!r} is a function; call it like {ident}(...)")
        self.lookup(ident)
        raise AssertionError("unreachable")

    # -------------------------------------------------------------- the tree
    def node(self, n: ast.AST, depth: int) -> _E:
        if depth > limits.MAX_CONDITION_DEPTH:
            raise self.fail(f"the condition nests more than {limits.MAX_CONDITION_DEPTH} operations deep "
                            f"(the limit MAX_CONDITION_DEPTH)")
        d = depth + 1
        if isinstance(n, ast.Name):
            return self.name(n.id)
        if isinstance(n, ast.Constant):
            v = n.value
            if isinstance(v, bool):
                return _Const(v)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                try:
                    f = float(v)
                except OverflowError:
                    f = math.inf
                if not math.isfinite(f):
                    raise self.fail(f"the number {self.source(n)} is too large for float64")
                return _Const(f)
            raise self.fail(f"{self.source(n)!r}: only numbers, True and False can be written in a condition")
        if isinstance(n, ast.UnaryOp):
            a = self.node(n.operand, d)
            if isinstance(n.op, ast.Not):
                self.scalar_test(a, n.operand, "not")
                return _Apply(np.logical_not, [a], (), True)
            if isinstance(n.op, ast.USub):
                return _Apply(np.negative, [a], a.shape, False)
            if isinstance(n.op, ast.UAdd):
                return a
            raise self.fail(f"the operator in {self.source(n)!r} is not allowed")
        if isinstance(n, ast.BinOp):
            fn = _ARITH.get(type(n.op))
            if fn is None:
                raise self.fail(f"the operator in {self.source(n)!r} is not allowed; use + - * / **")
            a, b = self.node(n.left, d), self.node(n.right, d)
            return _Apply(fn, [a, b], self.broadcast(a, b, n), False)
        if isinstance(n, ast.Compare):
            terms = [self.node(n.left, d)] + [self.node(c, d) for c in n.comparators]
            ops = []
            for op in n.ops:
                fn = _COMPARE.get(type(op))
                if fn is None:
                    raise self.fail(f"{self.source(n)!r}: only < <= > >= == != compare numbers")
                ops.append(fn)
            shape = terms[0].shape
            for t in terms[1:]:
                shape = self.broadcast_shapes(shape, t.shape, n)
            return _Compare(ops, terms, shape)
        if isinstance(n, ast.BoolOp):
            terms = [self.node(v, d) for v in n.values]
            for t, v in zip(terms, n.values):
                self.scalar_test(t, v, "and" if isinstance(n.op, ast.And) else "or")
            return _Logic(isinstance(n.op, ast.And), terms)
        if isinstance(n, ast.Call):
            return self.call(n, d)
        if isinstance(n, ast.Subscript):
            return self.index(n, d)
        what = expr._FORBIDDEN.get(type(n), f"{type(n).__name__} syntax")
        if isinstance(n, ast.Attribute):
            what = "attribute access"
        raise self.fail(f"{self.source(n)!r} uses {what}, which conditions do not allow")

    def scalar_test(self, t: _E, n: ast.AST, word: str) -> None:
        if t.shape != ():
            raise self.fail(f"{word} needs single tests, but {self.source(n)!r} has shape {fmt(t.shape)}: "
                            f"wrap it in any(...) or all(...)")

    def broadcast_shapes(self, a, b, n) -> tuple[int, ...]:
        try:
            return broadcast(a, b)
        except ShapeMismatch as e:
            raise self.fail(f"{self.source(n)!r}: {e}") from None

    def broadcast(self, a: _E, b: _E, n) -> tuple[int, ...]:
        return self.broadcast_shapes(a.shape, b.shape, n)

    def call(self, n: ast.Call, d: int) -> _E:
        f = n.func
        if not isinstance(f, ast.Name):
            raise self.fail(f"{self.source(n)!r}: only the condition functions can be called, by name")
        name = f.id
        if name.startswith("__"):
            raise self.fail(f"names starting with '__' (like {name!r}) are not allowed")
        if n.keywords:
            raise self.fail(f"{self.source(n)!r}: condition functions take no keyword arguments")
        if len(n.args) != 1:
            raise self.fail(f"{name}(...) takes one argument, got {len(n.args)} in {self.source(n)!r}")
        arg = n.args[0]
        if name in SOURCES or name in HEALTH:
            if not isinstance(arg, ast.Name):
                raise self.fail(f"{name}(...) takes a name of the scenario, like {name}(W1); "
                                f"got {self.source(arg)!r}")
            node = self.lookup(arg.id)
            return self.named(name, node, arg.id)
        if name == "changed":
            inner = self.node(arg, d)
            slot = self.slots
            self.slots += 1
            return _Changed(inner, slot)
        a = self.node(arg, d)
        if name in REDUCERS:
            fn, test = REDUCERS[name]
            return _Apply(fn, [a], (), test, elementwise=False)
        if name in ELEMENTWISE:
            fn, test = ELEMENTWISE[name]
            return _Apply(fn, [a], a.shape, test)
        hint = did_you_mean(name, FUNCTIONS)
        raise self.fail(f"unknown function {name!r}{hint}; the functions are: {', '.join(FUNCTIONS)}")

    def named(self, fn: str, node: int, ident: str) -> _E:
        """grad(x), update(W), dead(h), saturated(t), ratio(W): checked against what the node is."""
        n = self.p.nodes[node]
        if fn == "grad":
            if not self.p.needs_grad[node]:
                raise self.fail(f"grad({ident}): no gradient flows into {ident!r} (it does not feed the loss "
                                f"through anything that varies)")
            return _Source(Read(Quantity.GRAD, node), n.shape)
        if fn in ("update", "ratio") and n.kind != "param":
            raise self.fail(f"{fn}({ident}): {ident!r} is a {n.kind}, and only params are updated")
        if fn == "update":
            return _Source(Read(Quantity.UPDATE, node), n.shape)
        if fn == "ratio":
            step = _Source(Read(Quantity.UPDATE, node), n.shape)
            w = _Source(Read(Quantity.VALUE, node), n.shape)
            return _Apply(health.update_ratio, [step, w], (), False, elementwise=False)
        if fn == "dead":
            if n.op is None or not n.op.dies:
                raise self.fail(f"dead({ident}): {ident!r} is not a relu node; dead units are relu outputs "
                                f"that are 0 for every row of the batch")
            return _Apply(health.dead_fraction, [_Source(Read(Quantity.VALUE, node), n.shape)], (), False,
                          elementwise=False)
        if n.op is None or n.op.saturates is None:
            raise self.fail(f"saturated({ident}): {ident!r} is not a tanh or sigmoid node")
        lo, hi = n.op.saturates
        return _Apply(lambda v, lo=lo, hi=hi: health.saturated_fraction(v, lo, hi),
                      [_Source(Read(Quantity.VALUE, node), n.shape)], (), False, elementwise=False)

    def index(self, n: ast.Subscript, d: int) -> _E:
        a = self.node(n.value, d)
        idx = n.slice
        items = idx.elts if isinstance(idx, ast.Tuple) else [idx]
        ints = []
        for it in items:
            sign = 1
            if isinstance(it, ast.UnaryOp) and isinstance(it.op, ast.USub):
                sign, it = -1, it.operand
            if not (isinstance(it, ast.Constant) and isinstance(it.value, int) and not isinstance(it.value, bool)):
                raise self.fail(f"{self.source(n)!r}: an index is a whole number (or several, like W[3, 7])")
            ints.append(sign * it.value)
        if len(ints) > len(a.shape):
            raise self.fail(f"{self.source(n)!r}: {len(ints)} indices for a tensor of shape {fmt(a.shape)}")
        for k, (i, size) in enumerate(zip(ints, a.shape)):
            if not -size <= i < size:
                raise self.fail(f"{self.source(n)!r}: index {i} is out of range for axis {k} of size {size}")
        key = tuple(ints)
        return _Apply(lambda v, key=key: v[key], [a], a.shape[len(ints):], a.boolean, elementwise=False)
