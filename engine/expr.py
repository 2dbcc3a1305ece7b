"""The one place that parses expressions: Python's ``ast`` against a whitelist, never ``eval``.

An expression such as ``relu(W1 @ x)`` becomes one program node per primitive. The final node
takes the scenario key's name; inner nodes are named by their own expression text.
"""
from __future__ import annotations

import ast
import math
import warnings
from typing import Collection, Protocol

from . import limits
from .errors import ScenarioError
from .ops import REGISTRY, Notation, callable_ops, written
from .tomltext import clip, did_you_mean

# Python's operators as the symbols the op rows are written with; the rows say which op each is.
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@", ast.Pow: "**"}

_FORBIDDEN = {
    ast.Attribute: "attribute access (only .T, the transpose, is allowed)",
    ast.Lambda: "lambda functions",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings",
    ast.NamedExpr: "the walrus operator :=",
    ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "if/else expressions",
    ast.List: "list literals", ast.Tuple: "tuples", ast.Dict: "dict literals", ast.Set: "set literals",
    ast.Starred: "starred arguments", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Slice: "slices outside an index",
}
MAX_LIST = 64               # inputs of one concat


class Builder(Protocol):
    """What the parser needs from the program under construction."""

    def lookup(self, name: str) -> int | None: ...
    def shape_of(self, node: int) -> tuple[int, ...]: ...
    def noise(self, shape: tuple[int, ...], text: str) -> int: ...
    def constant(self, value: float, text: str) -> int: ...
    def op(self, op_name: str, inputs: list[int], attrs: dict, text: str) -> int: ...


def parse(text: str, builder: Builder, *, key: str, later: Collection[str] = ()) -> int:
    """Parse one [graph] expression into program nodes; return the id of its final node.

    ``later`` holds every [graph] key: one the builder does not know yet is defined further down,
    which explains a name used too early (a set, so the check costs nothing per name).
    """
    tree = read(text, table="graph", key=key, max_chars=limits.MAX_EXPRESSION_CHARS,
                chars_limit="MAX_EXPRESSION_CHARS", max_depth=limits.MAX_EXPRESSION_DEPTH,
                depth_limit="MAX_EXPRESSION_DEPTH", advice="split it into several [graph] keys")
    return _Walker(text.strip(), builder, key, later).node(tree, 0)


def read(text, *, table: str, key: str, max_chars: int, chars_limit: str, max_depth: int, depth_limit: str,
         advice: str, what: str = "expression") -> ast.expr:
    """Check untrusted expression text (type, length, nesting, NUL) and parse it with ``ast``: never run it.

    Graph expressions and breakpoint conditions both come through here; the caller walks the tree
    against its own whitelist. Sizes are checked before Python's parser sees the text.
    """
    if not isinstance(text, str):
        raise ScenarioError(f"an {what} must be a string in quotes, got {type(text).__name__}",
                            table=table, key=key)
    if len(text) > max_chars:
        raise ScenarioError(f"the {what} is {len(text):,} characters long; the limit ({chars_limit}) "
                            f"is {max_chars:,}: {advice}", table=table, key=key)
    if not text.strip():
        raise ScenarioError(f"the {what} is empty", table=table, key=key)
    depth, kind = _nesting(text)
    if depth > max_depth:
        raise ScenarioError(f"the {what} nests {depth:,} {kind} deep; the limit ({depth_limit}) "
                            f"is {max_depth}", table=table, key=key)
    if "\x00" in text:
        raise ScenarioError(f"the {what} contains a NUL character", table=table, key=key)
    if "#" in text:
        # Python would read it as a comment, kept in the node names the text gives: it could fake what a
        # node appears to compute, or carry terminal escapes. A TOML comment goes after the closing quote.
        raise ScenarioError(f"the {what} contains '#': comments are not allowed inside an expression "
                            f"(write them after the closing quote)", table=table, key=key)
    try:
        with warnings.catch_warnings():
            # Python warns about odd literals like '1e' or '\d' on stderr; the error says enough.
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ScenarioError(f"cannot read the {what} {clip(text)!r}: {e.msg}"
                            + (f" at column {e.offset}" if e.offset else ""), table=table, key=key) from None
    except (RecursionError, MemoryError):
        raise ScenarioError(f"the {what} is too complex to read; {advice}", table=table, key=key) from None
    except ValueError as e:
        raise ScenarioError(f"cannot read the {what}: {e}", table=table, key=key) from None
    return tree.body


def _nesting(text: str) -> tuple[int, str]:
    """The deepest bracket nesting and the longest run of signs (- - - x), checked before parsing.

    Python's own parser gives up on deep input with RecursionError or MemoryError; this keeps such
    input from reaching it at all.
    """
    depth = brackets = signs = run = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            brackets = max(brackets, depth)
        elif ch in ")]}":
            depth -= 1
        if ch in "+-~":
            run += 1
            signs = max(signs, run)
        elif not ch.isspace():
            run = 0
    return (brackets, "brackets") if brackets >= signs else (signs, "signs")



class _Walker:
    def __init__(self, text: str, builder: Builder, key: str, later: Collection[str] = ()):
        self.text = text
        self._lines: list[bytes] | None = None
        self.b = builder
        self.key = key
        self.later = later

    def fail(self, problem: str) -> ScenarioError:
        return ScenarioError(problem, table="graph", key=self.key)

    def source(self, node: ast.AST) -> str:
        """The node's text, as ast.get_source_segment gives it (which splits the whole text on every call:
        quadratic over a long expression's nodes); the lines are split once, as UTF-8 (offsets are bytes)."""
        try:
            first, last = node.lineno - 1, node.end_lineno - 1
            start, end = node.col_offset, node.end_col_offset
        except AttributeError:
            return "?"
        if last is None or end is None:
            return "?"
        if self._lines is None:
            self._lines = self.text.encode("utf-8").splitlines(keepends=True)   # \n, \r, \r\n: as ast splits
        lines = self._lines
        if first == last:
            seg = lines[first][start:end]
        else:
            seg = lines[first][start:] + b"".join(lines[first + 1:last]) + lines[last][:end]
        return clip(seg.decode("utf-8", errors="replace"))

    def node(self, n: ast.AST, depth: int) -> int:
        if depth > limits.MAX_EXPRESSION_DEPTH:
            raise self.fail(f"the expression nests more than {limits.MAX_EXPRESSION_DEPTH} operations deep "
                            f"(the limit MAX_EXPRESSION_DEPTH); split it into several [graph] keys")
        d = depth + 1
        if isinstance(n, ast.Name):
            return self.name(n.id)
        if isinstance(n, ast.Constant):
            return self.b.constant(self.number(n), self.source(n))
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.UAdd):
                return self.node(n.operand, d)
            op = written(Notation.PREFIX, "-") if isinstance(n.op, ast.USub) else None
            if op is not None:
                if isinstance(n.operand, ast.Constant):
                    return self.b.constant(-self.number(n.operand), self.source(n))
                return self.b.op(op.name, [self.node(n.operand, d)], {}, self.source(n))
            raise self.fail(f"the operator in {self.source(n)!r} is not allowed; use + - * / ** @")
        if isinstance(n, ast.BinOp):
            symbol = _SYMBOLS.get(type(n.op))
            power = written(Notation.POWER, symbol)
            if power is not None:
                p = self.exponent(n.right)
                return self.b.op(power.name, [self.node(n.left, d)], {power.attrs[0]: p}, self.source(n))
            op = written(Notation.INFIX, symbol)
            if op is None:
                raise self.fail(f"the operator in {self.source(n)!r} is not allowed; use + - * / ** @")
            return self.b.op(op.name, [self.node(n.left, d), self.node(n.right, d)], {}, self.source(n))
        if isinstance(n, ast.Attribute):
            op = written(Notation.POSTFIX, "." + n.attr)
            if op is not None and isinstance(n.ctx, ast.Load):
                return self.b.op(op.name, [self.node(n.value, d)], {}, self.source(n))
            raise self.fail(f"{self.source(n)!r} uses attribute access; only .T (transpose) is allowed")
        if isinstance(n, ast.Call):
            return self.call(n, d)
        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load):
            return self.subscript(n, d)
        raise self.forbidden(n)

    def forbidden(self, n: ast.AST) -> ScenarioError:
        what = _FORBIDDEN.get(type(n), f"{type(n).__name__} syntax")
        return self.fail(f"{self.source(n)!r} uses {what}, which scenarios do not allow")

    def name(self, ident: str) -> int:
        if ident.startswith("__"):
            raise self.fail(f"names starting with '__' (like {ident!r}) are not allowed")
        found = self.b.lookup(ident)
        if found is None:
            if ident in REGISTRY:
                raise self.fail(f"{ident!r} is an op; call it like {ident}(...)")
            if ident == self.key:
                raise self.fail(f"{ident!r} is used in its own definition; a node cannot depend on itself")
            if ident in self.later:
                raise self.fail(f"{ident!r} is used before it is defined: [graph] runs top to bottom, "
                                f"so move {ident} above {self.key}")
            known = getattr(self.b, "names", {})
            hint = did_you_mean(ident, known, cutoff=0.5)
            raise self.fail(f"unknown name {ident!r}{hint}: define it in [values], [params], [data] "
                            f"or earlier in [graph]")
        return found

    def number(self, n: ast.Constant) -> float:
        v = n.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            kind = "strings" if isinstance(v, str) else f"{type(v).__name__} constants"
            raise self.fail(f"{self.source(n)!r}: {kind} are not allowed in expressions; only numbers")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise self.fail(f"the number {self.source(n)} is too large for float64")
        return f

    def exponent(self, n: ast.AST) -> float:
        sign = 1.0
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            sign = -1.0 if isinstance(n.op, ast.USub) else 1.0
            n = n.operand
        if not isinstance(n, ast.Constant):
            raise self.fail(f"the exponent in ** must be a number, got {self.source(n)!r} "
                            f"(for a variable exponent write exp(log(a) * b))")
        return sign * self.number(n)

    def call(self, n: ast.Call, d: int) -> int:
        f = n.func
        if isinstance(f, ast.Attribute):
            raise self.fail(f"{self.source(f)!r} uses attribute access; only .T (transpose) is allowed, "
                            f"and only registered ops can be called")
        if not isinstance(f, ast.Name):
            if type(f) in _FORBIDDEN:
                raise self.forbidden(f)
            raise self.fail(f"{self.source(n)!r}: only registered ops can be called, by name")
        if f.id.startswith("__"):
            raise self.fail(f"names starting with '__' (like {f.id!r}) are not allowed")
        op = REGISTRY.get(f.id)
        if op is None or not op.called:
            ops = callable_ops()
            hint = did_you_mean(f.id, ops)
            also = " (a transpose of the last two axes is written x.T)" if f.id in ("T", "t", "permute") else ""
            raise self.fail(f"unknown op {f.id!r}{hint}{also}; the ops are: {', '.join(ops)}")
        args = list(n.args)
        if any(isinstance(a, ast.Starred) for a in args):
            raise self.fail(f"{self.source(n)!r}: starred arguments are not allowed")
        if op.arity < 0:
            # A list of inputs first: concat([a, b, c], axis=1).
            if not args or not isinstance(args[0], ast.List) or not args[0].elts:
                raise self.fail(f"{op.name} takes a list of inputs first, like {op.name}([a, b], axis=0)")
            if len(args[0].elts) > MAX_LIST:
                raise self.fail(f"{op.name} takes at most {MAX_LIST} inputs, got {len(args[0].elts)}")
            tensor_args, extra = list(args[0].elts), args[1:]
        else:
            # Inputs first; optional trailing inputs (conv2d's bias) only when written as tensors, so
            # conv2d(x, w, 2) reads 2 as the stride.
            most = op.arity - op.noise
            least = most - op.optional
            count = 0
            while count < min(most, len(args)) and (count < least or not _constant(args[count])):
                count += 1
            tensor_args, extra = args[:count], args[count:]
            if count < least:
                says = f"{least} to {most}" if op.optional else f"{least}"
                raise self.fail(f"{op.name} takes {says} input{'s' if most > 1 else ''}, "
                                f"got {count} in {self.source(n)!r}")
        if len(extra) > len(op.attrs):
            more = f" and then {', '.join(op.attrs)}" if op.attrs else ""
            raise self.fail(f"{op.name} takes {op.arity - op.noise if op.arity >= 0 else 'a list of'} input"
                            f"{'s' if op.arity != 1 else ''}{more}; got {len(args)} arguments in {self.source(n)!r}")
        attrs = {}
        for name, v in zip(op.attrs, extra):             # attributes given by position, in order
            attrs[name] = self.attr(v, name, op.kind(name))
        for kw in n.keywords:
            if kw.arg is None:
                raise self.fail(f"{self.source(n)!r}: ** arguments are not allowed; write axis=... by name")
            if kw.arg not in op.attrs:
                allowed = ", ".join(op.attrs) or "none"
                raise self.fail(f"{op.name} has no keyword {kw.arg!r} (allowed: {allowed})")
            if kw.arg in attrs:
                raise self.fail(f"{op.name}: {kw.arg} is given twice")
            attrs[kw.arg] = self.attr(kw.value, kw.arg, op.kind(kw.arg))
        inputs = [self.node(a, d) for a in tensor_args]
        if op.noise:
            inputs.append(self.b.noise(self.b.shape_of(inputs[0]), self.source(n)))
        return self.b.op(op.name, inputs, attrs, self.source(n))

    def subscript(self, n: ast.Subscript, d: int) -> int:
        """x[:, 0:3], x[..., -1], W[3], and split(x, size, axis)[k]: one index op with a constant key."""
        index = written(Notation.SUBSCRIPT)
        v = n.value
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "split":
            return self.split(n, v, d, index)
        key = self.index_key(n.slice)
        return self.b.op(index.name, [self.node(v, d)], {"key": key}, self.source(n))

    def split(self, n: ast.Subscript, call: ast.Call, d: int, index) -> int:
        """split(x, size, axis)[k] (torch.split's chunk k): the slice of x that chunk is."""
        args = list(call.args) + [kw.value for kw in call.keywords if kw.arg == "axis"]
        if len(args) not in (2, 3) or any(kw.arg != "axis" for kw in call.keywords):
            raise self.fail(f"{self.source(call)!r}: write split(x, size, axis)[k], chunk k of size `size`")
        size = self.attr(args[1], "size", "int")
        axis = self.attr(args[2], "axis", "int") if len(args) == 3 else 0
        k = self.attr(n.slice, "chunk", "int")
        if size < 1 or k < 0:
            raise self.fail(f"{self.source(n)!r}: the size is at least 1 and the chunk index at least 0")
        x = self.node(args[0], d)
        shape = self.b.shape_of(x)
        if not -len(shape) <= axis < len(shape):
            raise self.fail(f"{self.source(n)!r}: axis {axis} is out of range for shape {shape}")
        ax = axis % len(shape)
        if k * size >= shape[ax]:
            raise self.fail(f"{self.source(n)!r}: chunk {k} of size {size} starts past the axis of size {shape[ax]}")
        key = (slice(None),) * ax + (slice(k * size, min((k + 1) * size, shape[ax]), None),)
        return self.b.op(index.name, [x], {"key": key}, self.source(n))

    def index_key(self, v: ast.AST) -> tuple:
        items = v.elts if isinstance(v, ast.Tuple) else [v]
        out = []
        for it in items:
            if isinstance(it, ast.Slice):
                parts = [None if x is None else self.attr(x, "index", "int") for x in (it.lower, it.upper, it.step)]
                if parts[2] is not None and parts[2] <= 0:
                    raise self.fail(f"{self.source(v)!r}: a slice step is a whole number ≥ 1")
                out.append(slice(*parts))
            elif isinstance(it, ast.Constant) and it.value is Ellipsis:
                out.append(Ellipsis)
            elif isinstance(it, ast.Constant) and it.value is None:
                out.append(None)
            else:
                out.append(self.attr(it, "index", "int"))
        if sum(k is Ellipsis for k in out) > 1:
            raise self.fail(f"{self.source(v)!r}: at most one ... in an index")
        return tuple(out)

    def attr(self, v: ast.AST, name: str, kind: str = "axis"):
        """One attribute's constant value, checked against how that attribute is written."""
        if kind == "bool":
            if isinstance(v, ast.Constant) and isinstance(v.value, bool):
                return v.value
            raise self.fail(f"{name} must be True or False")
        if kind.startswith("choice:"):
            choices = kind[len("choice:"):].split(",")
            if isinstance(v, ast.Constant) and isinstance(v.value, str) and v.value in choices:
                return v.value
            raise self.fail(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {self.source(v)!r}")
        if kind == "number":
            sign = 1.0
            if isinstance(v, ast.UnaryOp) and isinstance(v.op, (ast.USub, ast.UAdd)):
                sign, v = (-1.0 if isinstance(v.op, ast.USub) else 1.0), v.operand
            if isinstance(v, ast.Constant) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool):
                return sign * self.number(v)
            raise self.fail(f"{name} must be a number, got {self.source(v)!r}")
        if kind == "int":
            return self.whole(v, name)
        if kind in ("ints", "pair"):
            if isinstance(v, (ast.Tuple, ast.List)):
                if len(v.elts) > limits.MAX_AXES or (kind == "pair" and len(v.elts) != 2):
                    raise self.fail(f"{name} must be {'two whole numbers' if kind == 'pair' else 'whole numbers'}, "
                                    f"got {self.source(v)!r}")
                return tuple(self.whole(e, name) for e in v.elts)
            w = self.whole(v, name)
            return (w, w) if kind == "pair" else (w,)
        # axis: a whole number, a tuple of them, or None
        if isinstance(v, ast.Constant) and v.value is None:
            return None
        if isinstance(v, ast.Tuple):
            return tuple(self.whole(e) for e in v.elts)
        return self.whole(v)

    def whole(self, v: ast.AST, name: str = "axis") -> int:
        sign = 1
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            sign, v = -1, v.operand
        if isinstance(v, ast.Constant) and isinstance(v.value, int) and not isinstance(v.value, bool):
            bound = 64 if name == "axis" else limits.MAX_ELEMENTS
            if abs(v.value) > bound:
                raise self.fail(f"{name} {sign * v.value} is out of range")
            return sign * v.value
        if name == "axis":
            raise self.fail(f"axis must be a whole number or a tuple of them, got {self.source(v)!r}")
        if name == "index":
            raise self.fail(f"an index is a whole number written out, like x[0] or x[:, 1:3]; got "
                            f"{self.source(v)!r} (to pick rows by a tensor of ids, use embedding(ids, table))")
        raise self.fail(f"{name} must be a whole number, got {self.source(v)!r}")


def _constant(v: ast.AST) -> bool:
    """An argument written as a constant (2, -1e-5, (1, 2), 'sum', True): an attribute, not an input."""
    if isinstance(v, ast.UnaryOp) and isinstance(v.op, (ast.USub, ast.UAdd)):
        v = v.operand
    return isinstance(v, (ast.Constant, ast.Tuple, ast.List))
