"""Gradients on random graphs against an independent autodiff (HIPS autograd).

A seeded generator builds random expression DAGs over every op in the registry (broadcasting, every
matmul rank and stacks of matrices, axes, softmax, mse, cross-entropy with indices and with
probabilities, shape ops, reductions, losses, convolutions, pools, norms, embedding, dropout), writes
them as scenario text, and the same function written independently with autograd.numpy. Agreement
rule, elementwise: |engine - autograd| <= 1e-9 · max(|engine|, |autograd|, 1).
"""
from __future__ import annotations

import json
import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from gradstep import engine
from gradstep.engine.ops import REGISTRY
from gradstep.engine.scenario import noise

RTOL = 1e-9
GRAPHS = 150
NEW_OPS = 0.25          # the share of nodes drawn from the ops for real models (NEW below)


def _shift(x, axis):
    """The max along axis as a constant: shifting by it changes no value or derivative, only overflow."""
    return np.max(getval(x), axis=axis, keepdims=True)


def _softmax(x, axis=-1):
    e = anp.exp(x - _shift(x, axis))
    return e / anp.sum(e, axis=axis, keepdims=True)


def _cross_entropy(logits, probs):
    z = logits - _shift(logits, -1)
    logp = z - anp.log(anp.sum(anp.exp(z), axis=-1, keepdims=True))
    batch = logits.size // logits.shape[-1] if logits.ndim > 1 else 1
    return -anp.sum(probs * logp) / batch


def _log_softmax(x, axis=-1):
    z = x - _shift(x, axis)
    return z - anp.log(anp.sum(anp.exp(z), axis=axis, keepdims=True))


def _logsumexp(x, axis=None, keepdims=False):
    m = _shift(x, axis)
    out = m + anp.log(anp.sum(anp.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else anp.reshape(out, np.sum(getval(x), axis=axis).shape)


# scipy is not a dependency, so erf is an autograd primitive of our own: math.erf forward, and its
# derivative 2/√π·e^{-x²} as the VJP.
@primitive
def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


defvjp(_erf, lambda ans, x: lambda g: g * (2.0 / math.sqrt(math.pi)) * np.exp(-x * x))


def _gelu(x):
    return x * 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


def _where(mask, a, b):
    # autograd's where does not sum a broadcast gradient back; adding zeros of the result's shape does.
    zeros = np.zeros(np.broadcast_shapes(np.shape(mask), np.shape(a), np.shape(b)))
    return anp.where(mask != 0, a + zeros, b + zeros)


def _pad(x, ph, pw, fill):
    """x with ph rows and pw columns of fill on both sides of its last two axes, as concatenated blocks."""
    if ph:
        block = np.full(x.shape[:2] + (ph, x.shape[3]), fill)
        x = anp.concatenate([block, x, block], axis=2)
    if pw:
        block = np.full(x.shape[:3] + (pw,), fill)
        x = anp.concatenate([block, x, block], axis=3)
    return x


def _windows(xp, kernel, stride, dilation=(1, 1)):
    """For each kernel offset (i, j), the (N, C, Ho, Wo) slice of the padded input it reads."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    return [((i, j), xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw])
            for i in range(kh) for j in range(kw)]


def _conv2d(x, w, b, stride, padding, dilation):
    """Σ over kernel offsets of (the input's slice at that offset) · w[:, :, i, j], plus the bias."""
    out = 0.0
    for (i, j), part in _windows(_pad(x, *padding, 0.0), w.shape[2:], stride, dilation):
        out = out + anp.einsum("nchw,oc->nohw", part, w[:, :, i, j])
    return out if b is None else out + anp.reshape(b, (-1, 1, 1))


def _max_pool2d(x, kernel, stride, padding):
    parts = [part for _, part in _windows(_pad(x, *padding, -np.inf), kernel, stride)]
    return anp.max(anp.stack(parts), axis=0)


def _avg_pool2d(x, kernel, stride, padding, count_include_pad):
    parts = [part for _, part in _windows(_pad(x, *padding, 0.0), kernel, stride)]
    if count_include_pad:
        return anp.mean(anp.stack(parts), axis=0)
    inside = [part for _, part in _windows(_pad(np.ones(x.shape), *padding, 0.0), kernel, stride)]
    return anp.sum(anp.stack(parts), axis=0) / np.sum(inside, axis=0)


def _normalize(x, axes, eps):
    d = x - anp.mean(x, axis=axes, keepdims=True)
    return d / anp.sqrt(anp.mean(d * d, axis=axes, keepdims=True) + eps)


def _one_hot(indices, k):
    out = np.zeros(indices.shape + (k,))
    np.put_along_axis(out, indices.astype(int)[..., None], 1.0, axis=-1)
    return out


# Unary templates: scenario text and the same function in autograd.numpy. Inputs of log, sqrt and
# fractional powers are kept positive; relu's convention relu'(0) = 0 is written out with where().
UNARY = [
    ("exp({0})", anp.exp), ("log({0} * {0} + 0.5)", lambda x: anp.log(x * x + 0.5)),
    ("sin({0})", anp.sin), ("cos({0})", anp.cos), ("tanh({0})", anp.tanh),
    ("sigmoid({0})", lambda x: 1.0 / (1.0 + anp.exp(-x))),
    ("relu({0})", lambda x: anp.where(x > 0, x, 0.0)), ("sqrt({0} * {0} + 0.25)", lambda x: anp.sqrt(x * x + 0.25)),
    ("abs({0})", anp.abs), ("-{0}", lambda x: -x), ("{0}", lambda x: x),
    ("{0} ** 2", lambda x: x ** 2), ("{0} ** 3", lambda x: x ** 3),
    ("({0} * {0} + 0.5) ** 0.5", lambda x: (x * x + 0.5) ** 0.5),
    ("({0} * {0} + 0.5) ** -1", lambda x: (x * x + 0.5) ** -1.0),
    ("{0}.T", anp.transpose),
    ("softplus({0})", lambda x: anp.log1p(anp.exp(x))),
]
BINARY = [
    ("{0} + {1}", lambda a, b: a + b), ("{0} - {1}", lambda a, b: a - b), ("{0} * {1}", lambda a, b: a * b),
    ("{0} / ({1} * {1} + 0.5)", lambda a, b: a / (b * b + 0.5)),
    ("mse({0}, {1})", lambda a, b: anp.mean((a - b) ** 2)),
]


class RandomGraph:
    """One random DAG: leaves (name, table, value), then nodes (name, text, function, input names)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.leaves: list[tuple[str, str, np.ndarray]] = []
        self.constants: dict[str, np.ndarray] = {}       # class-index leaves: no gradient
        self.nodes: list[tuple[str, str, object, list[str]]] = []
        self.env: dict[str, np.ndarray] = {}
        self.dropouts: dict[str, float] = {}              # dropout node -> p
        self.masks: dict[str, np.ndarray] = {}            # dropout node -> its mask (see bind_noise)
        self.untied: list[str] = []                       # max_pool2d inputs: values must be distinct
        self.adding = ""                                  # the name of the node being added
        for _ in range(2):
            self.leaf(self.shape())
        for k in range(int(self.rng.integers(4, 15))):
            self.add(f"n{k}")

    # ------------------------------------------------------------ building blocks
    def shape(self) -> tuple[int, ...]:
        return [(), (3,), (4,), (2, 3), (3, 4), (4, 3), (3, 1), (1, 4)][self.rng.integers(8)]

    def leaf(self, shape, value=None, table=None, constant=False) -> str:
        name = f"l{len(self.leaves)}"
        value = self.rng.normal(size=shape) if value is None else value
        table = table or ("values", "params")[self.rng.integers(2)]
        self.leaves.append((name, table, np.asarray(value, dtype=np.float64)))
        self.env[name] = np.asarray(value, dtype=np.float64)
        if constant:
            self.constants[name] = self.env[name]
        return name

    def pick(self, ok=lambda s: True) -> str | None:
        names = [n for n in self.env if n not in self.constants and ok(self.env[n].shape)]
        if not names:
            return None
        # Favour recent nodes so graphs grow deep as well as wide.
        weights = np.arange(1, len(names) + 1, dtype=float) ** 2
        return names[self.rng.choice(len(names), p=weights / weights.sum())]

    def partner(self, shape) -> tuple[int, ...]:
        """A shape that broadcasts with `shape`: equal, scalar, trailing axes, or with 1s."""
        kind = self.rng.integers(4)
        if kind == 0 or not shape:
            return shape
        if kind == 1:
            return ()
        if kind == 2:
            return shape[-1:]
        return tuple(1 if self.rng.random() < 0.5 else n for n in shape)

    def axis_attrs(self, nd: int) -> tuple[str, dict]:
        if nd == 0 or self.rng.random() < 0.3:
            axis = None
        elif nd >= 2 and self.rng.random() < 0.3:
            axis = (0, -1) if self.rng.random() < 0.5 else (-1, 0)
        else:
            axis = int(self.rng.integers(-nd, nd))
        keepdims = bool(self.rng.random() < 0.4)
        text = ""
        if axis is not None:
            text += f", axis={axis}" if not isinstance(axis, tuple) else f", axis=({axis[0]}, {axis[1]})"
        if keepdims:
            text += ", keepdims=True"
        return text, {"axis": axis, "keepdims": keepdims}

    # ------------------------------------------------------------ one node
    def add(self, name: str) -> None:
        r = self.rng.random()
        if r < NEW_OPS:
            self.adding = name
            text, fn, inputs = getattr(self, NEW[self.rng.integers(len(NEW))])()
            self.finish(name, text, fn, inputs)
            return
        r = (r - NEW_OPS) / (1.0 - NEW_OPS)        # the older ops keep their shares among themselves
        if r < 0.35:
            text, fn = UNARY[self.rng.integers(len(UNARY))]
            inputs = [self.pick()]
        elif r < 0.65:
            text, fn = BINARY[self.rng.integers(len(BINARY))]
            a = self.pick()
            sa = self.env[a].shape
            b = None
            if self.rng.random() < 0.6:
                b = self.pick(lambda s: _broadcasts(s, sa))
            if b is None:
                b = self.leaf(self.partner(sa))
            inputs = [a, b] if self.rng.random() < 0.5 else [b, a]
        elif r < 0.75:
            text, fn, inputs = self.matmul()
        elif r < 0.85:
            a = self.pick()
            extra, attrs = self.axis_attrs(self.env[a].ndim)
            op = ("sum", "mean")[self.rng.integers(2)]
            text = f"{op}({{0}}{extra})"
            fn = (lambda x, op=op, attrs=attrs: getattr(anp, op)(x, axis=attrs["axis"], keepdims=attrs["keepdims"]))
            inputs = [a]
        elif r < 0.92:
            a = self.pick(lambda s: len(s) >= 1) or self.leaf((3,))
            nd = self.env[a].ndim
            axis = int(self.rng.integers(-nd, nd))
            text, fn, inputs = f"softmax({{0}}, axis={axis})", (lambda x, axis=axis: _softmax(x, axis)), [a]
        else:
            text, fn, inputs = self.cross_entropy()
        self.finish(name, text, fn, inputs)

    def finish(self, name, text, fn, inputs) -> None:
        value = fn(*[self.env[i] for i in inputs])
        self.env[name] = np.asarray(value, dtype=np.float64)
        self.nodes.append((name, text.format(*inputs), fn, inputs))

    def matmul(self):
        a = self.pick(lambda s: len(s) in (1, 2)) or self.leaf((2, 3))
        k = self.env[a].shape[-1]
        b = self.pick(lambda s: len(s) in (1, 2) and s[0] == k)
        if b is None:
            b = self.leaf((k,) if self.rng.random() < 0.5 else (k, int(self.rng.integers(1, 4))))
        return "{0} @ {1}", anp.dot, [a, b]

    def cross_entropy(self):
        logits = self.pick(lambda s: len(s) >= 1) or self.leaf((4, 3))
        shape = self.env[logits].shape
        k = shape[-1]
        if self.rng.random() < 0.5:
            targets = self.leaf(shape[:-1], value=self.rng.integers(0, k, size=shape[:-1]).astype(float),
                                table="values", constant=True)
            return ("cross_entropy({0}, {1})", lambda z, t, k=k: _cross_entropy(z, _one_hot(t, k)),
                    [logits, targets])
        p = self.rng.uniform(0.1, 1.0, size=shape)
        targets = self.leaf(shape, value=p / p.sum(axis=-1, keepdims=True))
        return "cross_entropy({0}, {1})", _cross_entropy, [logits, targets]

    # ------------------------------------------------------------ the ops for real models (NEW)
    def constant_leaf(self, value) -> str:
        """Class indices, mask values or ids: a [values] leaf that gets no gradient."""
        return self.leaf(np.shape(value), value=np.asarray(value, dtype=np.float64), table="values", constant=True)

    def reshape(self):
        a = self.pick(lambda s: math.prod(s) > 1) or self.leaf((3, 4))
        n = self.env[a].size
        splits = [d for d in range(2, n) if n % d == 0]
        options = [(n,), (-1,), (1, n)] + [(d, -1) for d in splits] + [(-1, d) for d in splits] + \
            [(2, -1, d) for d in splits if n % (2 * d) == 0]
        new = options[self.rng.integers(len(options))]
        return f"reshape({{0}}, {_ints(new)})", (lambda x, new=new: anp.reshape(x, new)), [a]

    def flatten(self):
        a = self.pick(lambda s: len(s) >= 1) or self.leaf((2, 3, 2))
        shape = self.env[a].shape
        nd = len(shape)
        start = int(self.rng.integers(-nd, nd))
        s0 = start % nd
        new = shape[:s0] + (math.prod(shape[s0:]),)
        if start == 1 and self.rng.random() < 0.5:
            text = "flatten({0})"
        else:
            text = f"flatten({{0}}, {start})" if self.rng.random() < 0.5 else f"flatten({{0}}, start_axis={start})"
        return text, (lambda x, new=new: anp.reshape(x, new)), [a]

    def subscript(self):
        a = self.pick(lambda s: len(s) >= 1) or self.leaf((3, 4))
        shape = self.env[a].shape
        key = []
        for n in shape:
            kind = self.rng.integers(4)
            if kind == 0:
                key.append(int(self.rng.integers(-n, n)))
            elif kind == 1:
                key.append(slice(None))
            else:
                start = int(self.rng.integers(0, n))
                stop = int(self.rng.integers(start + 1, n + 1))
                step = int(self.rng.integers(1, 3))
                key.append(slice(start - n if self.rng.random() < 0.3 else start or None,
                                 None if stop == n else stop, None if step == 1 else step))
        if self.rng.random() < 0.3:                  # ... for a run of whole axes at one end
            k = int(self.rng.integers(0, len(key) + 1))
            key = [Ellipsis] + key[k:] if self.rng.random() < 0.5 else key[:k] + [Ellipsis]
        if self.rng.random() < 0.3:
            key.insert(int(self.rng.integers(0, len(key) + 1)), None)
        key = tuple(key)
        return f"{{0}}[{_key_text(key)}]", (lambda x, key=key: x[key]), [a]

    def split(self):
        a = self.pick(lambda s: len(s) >= 1 and max(s) >= 2) or self.leaf((3, 4))
        shape = self.env[a].shape
        axis = int(self.rng.choice([k for k, n in enumerate(shape) if n >= 2]))
        n = shape[axis]
        size = int(self.rng.integers(1, n))
        k = int(self.rng.integers(0, -(-n // size)))
        part = (slice(None),) * axis + (slice(k * size, min(k * size + size, n)),)
        written = axis - len(shape) if self.rng.random() < 0.5 else axis
        return f"split({{0}}, {size}, {written})[{k}]", (lambda x, part=part: x[part]), [a]

    def concat(self):
        a = self.pick(lambda s: len(s) >= 1) or self.leaf((2, 3))
        shape = self.env[a].shape
        axis = int(self.rng.integers(-len(shape), len(shape)))
        ax = axis % len(shape)
        fits = lambda s: len(s) == len(shape) and all(x == y for k, (x, y) in enumerate(zip(s, shape)) if k != ax)
        inputs = [a]
        for _ in range(1 + (self.rng.random() < 0.3)):
            b = self.pick(fits) if self.rng.random() < 0.5 else None
            if b is None:
                b = self.leaf(shape[:ax] + (int(self.rng.integers(1, 4)),) + shape[ax + 1:])
            inputs.append(b)
        self.rng.shuffle(inputs)
        listed = ", ".join(f"{{{k}}}" for k in range(len(inputs)))
        text = f"concat([{listed}], axis={axis})" if self.rng.random() < 0.5 else f"concat([{listed}], {axis})"
        return text, (lambda *xs, axis=axis: anp.concatenate(xs, axis=axis)), inputs

    def transpose(self):
        a = self.pick(lambda s: len(s) >= 2) or self.leaf((2, 3, 4))
        nd = self.env[a].ndim
        perm = tuple(int(k) for k in self.rng.permutation(nd))
        written = tuple(k - nd if self.rng.random() < 0.3 else k for k in perm)     # some counted from the end
        # autograd gets the permutation as non-negative axes: its transpose VJP argsorts them as given.
        return f"transpose({{0}}, {_ints(written)})", (lambda x, perm=perm: anp.transpose(x, perm)), [a]

    def stack(self) -> str:
        """A stack of matrices, 3-D or 4-D: a node, or a new leaf."""
        a = self.pick(lambda s: len(s) in (3, 4))
        if a is None:
            k = int(self.rng.integers(2, 5))
            a = self.leaf((2, 3, k) if self.rng.random() < 0.5 else (2, 1, 3, k))
        return a

    def stacks_matmul(self):
        """Stack @ stack: 3-D @ 3-D or 4-D @ 4-D, the batch axes broadcast (some of the right's are 1)."""
        a = self.stack()
        sa = self.env[a].shape
        sb = tuple(1 if self.rng.random() < 0.3 else n for n in sa[:-2]) + (sa[-1], int(self.rng.integers(1, 4)))
        b = self.pick(lambda s: s == sb) or self.leaf(sb)
        return "{0} @ {1}", anp.matmul, [a, b]

    def stack_matrix_matmul(self):
        """Stack @ matrix or vector: 3-D @ 2-D, 4-D @ 1-D."""
        a = self.stack()
        k = self.env[a].shape[-1]
        right = (k, int(self.rng.integers(1, 4))) if self.rng.random() < 0.6 else (k,)
        b = self.pick(lambda s: s == right) or self.leaf(right)
        return "{0} @ {1}", anp.matmul, [a, b]

    def matrix_stack_matmul(self):
        """Vector or matrix @ stack: 1-D @ 3-D, 2-D @ 4-D."""
        a = self.stack()
        m = self.env[a].shape[-2]
        left = (m,) if self.rng.random() < 0.5 else (int(self.rng.integers(1, 4)), m)
        c = self.pick(lambda s: s == left) or self.leaf(left)
        return "{0} @ {1}", anp.matmul, [c, a]

    def extreme(self, name):
        a = self.pick()
        extra, attrs = self.axis_attrs(self.env[a].ndim)
        f = getattr(anp, name)
        return f"{name}({{0}}{extra})", (lambda x, attrs=attrs: f(x, **attrs)), [a]

    def max(self):
        return self.extreme("max")

    def min(self):
        return self.extreme("min")

    def logsumexp(self):
        a = self.pick()
        extra, attrs = self.axis_attrs(self.env[a].ndim)
        return f"logsumexp({{0}}{extra})", (lambda x, attrs=attrs: _logsumexp(x, **attrs)), [a]

    def var(self):
        a = self.pick(lambda s: math.prod(s) > 1) or self.leaf((3, 4))
        shape = self.env[a].shape
        extra, attrs = self.axis_attrs(len(shape))
        axes = range(len(shape)) if attrs["axis"] is None else np.atleast_1d(attrs["axis"])
        n = math.prod(shape[k] for k in axes)
        c = int(self.rng.integers(2)) if n > 1 else 0
        if c == 0 or self.rng.random() < 0.5:
            extra += f", correction={c}"
        return f"var({{0}}{extra})", (lambda x, attrs=attrs, c=c: anp.var(x, ddof=c, **attrs)), [a]

    def erf(self):
        return "erf({0})", _erf, [self.pick()]

    def gelu(self):
        return "gelu({0})", _gelu, [self.pick()]

    def leaky_relu(self):
        # The slope at 0 is the negative side's, as PyTorch's: where(x > 0, ...) says the same.
        text, slope = [("leaky_relu({0})", 0.01), ("leaky_relu({0}, 0.2)", 0.2), ("leaky_relu({0}, 1.5)", 1.5),
                       ("leaky_relu({0}, negative_slope=0.1)", 0.1)][self.rng.integers(4)]
        return text, (lambda x, s=slope: anp.where(x > 0, x, s * x)), [self.pick()]

    def elu(self):
        # The inner where keeps exp's argument at x itself for x <= 0 (a minimum would halve the slope at 0).
        text, alpha = [("elu({0})", 1.0), ("elu({0}, 0.5)", 0.5), ("elu({0}, alpha=2.0)", 2.0)][self.rng.integers(3)]
        return text, (lambda x, a=alpha: anp.where(x > 0, x, a * anp.expm1(anp.where(x > 0, 0.0, x)))), [self.pick()]

    def where(self):
        a = self.pick()
        sa = self.env[a].shape
        mask = self.constant_leaf(self.rng.integers(0, 2, size=self.partner(sa)))
        if self.rng.random() < 0.3:
            return "where({0}, {1}, -2.5)", (lambda m, x: _where(m, x, -2.5)), [mask, a]
        b = self.pick(lambda s: _broadcasts(s, sa) and _broadcasts(s, self.env[mask].shape)) \
            if self.rng.random() < 0.5 else None
        b = b or self.leaf(self.partner(sa))
        inputs = [mask, a, b] if self.rng.random() < 0.5 else [mask, b, a]
        return "where({0}, {1}, {2})", _where, inputs

    def log_softmax(self):
        a = self.pick(lambda s: len(s) >= 1) or self.leaf((3, 4))
        nd = self.env[a].ndim
        axis = int(self.rng.integers(-nd, nd))
        text = "log_softmax({0})" if axis == -1 else f"log_softmax({{0}}, axis={axis})"
        return text, (lambda x, axis=axis: _log_softmax(x, axis)), [a]

    def bce_with_logits(self):
        x = self.pick()
        sx = self.env[x].shape
        y = self.pick(lambda s: _broadcasts(s, sx)) if self.rng.random() < 0.3 else None
        y = y or self.leaf(self.partner(sx), value=self.rng.uniform(0.0, 1.0, size=self.partner(sx)))
        reduction = ["mean", "sum", None][self.rng.integers(3)]
        said = "" if reduction is None else f", '{reduction}'" if self.rng.random() < 0.5 else \
            f", reduction='{reduction}'"

        def fn(z, t, total=(reduction == "sum")):
            losses = anp.logaddexp(0.0, z) - z * t
            return anp.sum(losses) if total else anp.mean(losses)
        return f"bce_with_logits({{0}}, {{1}}{said})", fn, [x, y]

    def nll(self):
        logp = self.pick(lambda s: len(s) >= 1) or self.leaf((4, 3))
        shape = self.env[logp].shape
        k = shape[-1]
        targets = self.constant_leaf(self.rng.integers(0, k, size=shape[:-1]))
        total = bool(self.rng.random() < 0.5)
        said = ", reduction='sum'" if total else ["", ", 'mean'"][self.rng.integers(2)]

        def fn(z, t, k=k, total=total):
            picked = anp.sum(z * _one_hot(t, k), axis=-1)
            return -anp.sum(picked) if total else -anp.mean(picked)
        return f"nll({{0}}, {{1}}{said})", fn, [logp, targets]

    def image(self) -> str:
        """A 4-D node (N, C, H, W) to convolve or pool, or a new leaf."""
        x = self.pick(lambda s: len(s) == 4 and s[2] >= 2 and s[3] >= 2)
        if x is None:
            x = self.leaf((int(self.rng.integers(1, 3)), int(self.rng.integers(1, 3)),
                           int(self.rng.integers(4, 8)), int(self.rng.integers(4, 8))))
        return x

    def geometry(self, shape, most: int, dilate: bool):
        """A kernel, stride, padding (at most half the kernel) and dilation whose windows fit the image."""
        while True:
            k = (int(self.rng.integers(1, most + 1)), int(self.rng.integers(1, most + 1)))
            s = (int(self.rng.integers(1, 3)), int(self.rng.integers(1, 3)))
            p = (int(self.rng.integers(0, k[0] // 2 + 1)), int(self.rng.integers(0, k[1] // 2 + 1)))
            d = (int(self.rng.integers(1, 3)), int(self.rng.integers(1, 3))) if dilate else (1, 1)
            if all(shape[2 + a] + 2 * p[a] - d[a] * (k[a] - 1) - 1 >= 0 for a in (0, 1)) and max(k) > 1:
                return k, s, p, d

    def conv2d(self):
        x = self.image()
        shape = self.env[x].shape
        k, stride, padding, dilation = self.geometry(shape, 3, dilate=True)
        w = self.leaf((int(self.rng.integers(1, 4)), shape[1]) + k, table="params")
        inputs = [x, w]
        if self.rng.random() < 0.6:
            inputs.append(self.leaf((self.env[w].shape[0],), table="params"))
        attrs = [f"{name}={_ints(v)}" for name, v, default in (("stride", stride, (1, 1)), ("padding", padding, (0, 0)),
                                                              ("dilation", dilation, (1, 1))) if v != default]
        if stride[0] == stride[1] and padding == (0, 0) and dilation == (1, 1) and self.rng.random() < 0.5:
            attrs = [str(stride[0])]                 # conv2d(x, w, 2): a number after the tensors is the stride
        text = "conv2d(" + ", ".join([f"{{{i}}}" for i in range(len(inputs))] + attrs) + ")"
        return text, (lambda x, w, b=None: _conv2d(x, w, b, stride, padding, dilation)), inputs

    def pool(self, name):
        x = self.image()
        if name == "max_pool2d" and np.unique(self.env[x]).size < self.env[x].size:
            # max_pool2d's gradient goes to the first maximum, autograd's max splits ties: no ties, then.
            x = self.leaf(self.env[x].shape)
        shape = self.env[x].shape
        k, s, p, _ = self.geometry(shape, 3, dilate=False)
        given = self.rng.random() < 0.7
        stride = s if given else k
        include = name == "max_pool2d" or self.rng.random() < 0.6
        attrs = [_ints(k)] + ([f"stride={_ints(s)}"] if given else []) + \
            ([f"padding={_ints(p)}"] if p != (0, 0) else []) + ([] if include else ["count_include_pad=False"])
        text = f"{name}({{0}}, " + ", ".join(attrs) + ")"
        if name == "max_pool2d":
            self.untied.append(x)
            return text, (lambda x: _max_pool2d(x, k, stride, p)), [x]
        return text, (lambda x: _avg_pool2d(x, k, stride, p, include)), [x]

    def max_pool2d(self):
        return self.pool("max_pool2d")

    def conv_block(self):
        """A small CNN layer in one expression: conv2d (3×3, padding 1), an activation, a 2×2 pool."""
        x = self.image()
        if np.unique(self.env[x]).size < self.env[x].size:
            x = self.leaf(self.env[x].shape)         # equal pixels could tie in a max_pool2d window
        c = self.env[x].shape[1]
        w = self.leaf((int(self.rng.integers(1, 4)), c, 3, 3), table="params")
        b = self.leaf((self.env[w].shape[0],), table="params")
        # Strictly increasing activations only: relu's zeros would tie in max_pool2d's windows.
        act, f = [("tanh", anp.tanh), ("gelu", _gelu), ("elu", lambda z: anp.where(z > 0, z, anp.expm1(
            anp.where(z > 0, 0.0, z))))][self.rng.integers(3)]
        if self.rng.random() < 0.5:
            def fn(x, w, b):
                return _max_pool2d(f(_conv2d(x, w, b, (1, 1), (1, 1), (1, 1))), (2, 2), (2, 2), (0, 0))
            return f"max_pool2d({act}(conv2d({{0}}, {{1}}, {{2}}, padding=1)), 2)", fn, [x, w, b]

        def fn(x, w, b):
            return _avg_pool2d(f(_conv2d(x, w, b, (1, 1), (1, 1), (1, 1))), (2, 2), (1, 1), (0, 0), True)
        return f"avg_pool2d({act}(conv2d({{0}}, {{1}}, {{2}}, padding=1)), 2, 1)", fn, [x, w, b]

    def avg_pool2d(self):
        return self.pool("avg_pool2d")

    def layer_norm(self):
        a = self.pick(lambda s: len(s) >= 1) or self.leaf((3, 4))
        shape = self.env[a].shape
        axis = int(self.rng.integers(-len(shape), len(shape)))
        axes = tuple(range(axis % len(shape), len(shape)))
        inputs = [a] + [self.leaf(shape[axes[0]:], table="params") for _ in range(int(self.rng.integers(3)))]
        eps = [1e-5, 1e-3][self.rng.integers(2)]
        said = ("" if axis == -1 else f", axis={axis}") + ("" if eps == 1e-5 else f", eps={eps}")
        listed = ", ".join(f"{{{i}}}" for i in range(len(inputs)))

        def fn(x, w=None, b=None):
            out = _normalize(x, axes, eps)
            out = out if w is None else out * w
            return out if b is None else out + b
        return f"layer_norm({listed}{said})", fn, inputs

    def batch_norm(self):
        a = self.pick(lambda s: len(s) >= 2 and math.prod(s) > s[1]) or self.leaf((4, 3))
        shape = self.env[a].shape
        axes = (0,) + tuple(range(2, len(shape)))
        channels = (shape[1],) + (1,) * (len(shape) - 2)
        inputs = [a] + [self.leaf((shape[1],), table="params") for _ in range(int(self.rng.integers(3)))]
        said = ", eps=0.001" if self.rng.random() < 0.3 else ""
        eps = 1e-3 if said else 1e-5
        listed = ", ".join(f"{{{i}}}" for i in range(len(inputs)))

        def fn(x, w=None, b=None):
            out = _normalize(x, axes, eps)
            out = out if w is None else out * anp.reshape(w, channels)
            return out if b is None else out + anp.reshape(b, channels)
        return f"batch_norm({listed}{said})", fn, inputs

    def embedding(self):
        table = self.pick(lambda s: len(s) == 2) if self.rng.random() < 0.5 else None
        table = table or self.leaf((int(self.rng.integers(2, 5)), int(self.rng.integers(1, 4))), table="params")
        rows = self.env[table].shape[0]
        shape = [(3,), (2, 3), (4,)][self.rng.integers(3)]
        ids = self.rng.integers(0, rows, size=shape)
        ids.flat[-1] = ids.flat[0]                   # a repeated id: its rows' gradients add up
        return "embedding({0}, {1})", (lambda i, t: t[i.astype(int)]), [self.constant_leaf(ids), table]

    def dropout(self):
        a = self.pick()
        p = [0.5, 0.2, 0.3][self.rng.integers(3)]
        text = "dropout({0})" if p == 0.5 else f"dropout({{0}}, {p})" if p == 0.2 else f"dropout({{0}}, p={p})"
        name = self.adding
        self.dropouts[name] = p
        # Until bind_noise reads the noise node's id from the loaded program, a stand-in mask.
        self.masks[name] = (self.rng.random(self.env[a].shape) >= p) / (1.0 - p)
        return text, (lambda x: x * self.masks[name]), [a]

    def bind_noise(self, sc) -> None:
        """Each dropout's mask from the noise the engine draws for iteration 1, then every value again.

        The mask is an input, like class indices: reading it through the engine's noise() tests nothing
        of the computation, and the op itself (x · mask) is still written here independently.
        """
        p = sc.program
        for name, prob in self.dropouts.items():
            i = p.nodes[p.by_name[name]].inputs[-1]
            assert p.nodes[i].kind == "noise"
            self.masks[name] = (noise(sc.seed, i, 1, p.nodes[i].shape) >= prob) / (1.0 - prob)
        for name, _, fn, ins in self.nodes:
            self.env[name] = np.asarray(fn(*[self.env[i] for i in ins]), dtype=np.float64)

    # ------------------------------------------------------------ both sides
    def sinks(self) -> list[str]:
        used = {i for _, _, _, ins in self.nodes for i in ins}
        return [n for n, _, _, _ in self.nodes if n not in used]

    def scenario_text(self) -> str:
        lines = ['[scenario]', f'title = "random graph {self.seed}"']
        for table in ("values", "params"):
            rows = [f"{n} = {json.dumps(v.tolist())}" for n, t, v in self.leaves if t == table]
            if rows:
                lines += [f"[{table}]"] + rows
        lines.append("[graph]")
        lines += [f'{name} = "{text}"' for name, text, _, _ in self.nodes]
        terms = [f"sum({s})" if k % 2 == 0 else f"sum({s} * {s})" for k, s in enumerate(self.sinks())]
        lines.append(f'E = "{" + ".join(terms)}"')
        lines += ["[train]", 'loss = "E"', "learning_rate = 0.1"]
        return "\n".join(lines) + "\n"

    def loss(self, free: tuple):
        """The same function in autograd.numpy, of the non-constant leaves."""
        env = dict(self.constants)
        env.update(zip(self.free_names(), free))
        for name, _, fn, ins in self.nodes:
            env[name] = fn(*[env[i] for i in ins])
        total = 0.0
        for k, s in enumerate(self.sinks()):
            total = total + (anp.sum(env[s]) if k % 2 == 0 else anp.sum(env[s] * env[s]))
        return total

    def free_names(self) -> list[str]:
        return [n for n, _, _ in self.leaves if n not in self.constants]

    def tame(self) -> bool:
        """Values of moderate size, so 1e-9 relative is a fair bar for two summation orders; max_pool2d's
        inputs without ties."""
        return all(np.all(np.isfinite(v)) and np.all(np.abs(v) < 1e3) for v in self.env.values()) and \
            all(np.unique(self.env[x]).size == self.env[x].size for x in self.untied)


NEW = ("reshape", "flatten", "subscript", "split", "concat", "transpose",
       "stacks_matmul", "stack_matrix_matmul", "matrix_stack_matmul",
       "max", "min", "logsumexp", "var",
       "erf", "gelu", "leaky_relu", "elu", "where",
       "log_softmax", "bce_with_logits", "nll",
       "conv2d", "max_pool2d", "avg_pool2d", "conv_block", "layer_norm", "batch_norm", "embedding", "dropout")


def _ints(v: tuple) -> str:
    return "(" + ", ".join(map(str, v)) + ("," if len(v) == 1 else "") + ")"


def _key_text(key: tuple) -> str:
    """An index key as Python writes it: 1, -2, :, 1:3, ::2, ..., None."""
    def one(k):
        if k is Ellipsis:
            return "..."
        if k is None:
            return "None"
        if isinstance(k, slice):
            text = ("" if k.start is None else str(k.start)) + ":" + ("" if k.stop is None else str(k.stop))
            return text + ("" if k.step is None else f":{k.step}")
        return str(k)
    return ", ".join(one(k) for k in key)


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _graph(seed: int) -> RandomGraph:
    """The first tame graph from this seed's stream."""
    for attempt in range(50):
        g = RandomGraph(seed * 1000 + attempt)
        if g.dropouts:
            g.bind_noise(engine.load_scenario_text(g.scenario_text()))
        if g.tame():
            return g
    raise AssertionError(f"no tame graph for seed {seed}")


def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= RTOL * np.maximum(np.maximum(np.abs(a), np.abs(b)), 1.0)))


@pytest.mark.parametrize("seed", range(GRAPHS))
def test_gradients_agree_with_autograd(seed):
    g = _graph(seed)
    text = g.scenario_text()
    sc = engine.load_scenario_text(text)
    p = sc.program
    # The engine read the leaves we wrote (TOML round-trips repr'd floats exactly).
    for name, _, value in g.leaves:
        assert sc.initial[p.by_name[name]].tobytes() == value.tobytes(), name
    st = engine.Stepper(sc)
    st.run_phase()
    st.run_phase()
    assert st.anomaly is None, text
    free = tuple(g.env[n] for n in g.free_names())
    loss = g.loss(free)
    grads = autograd.grad(g.loss)(free)
    assert _close(st.value(p.loss), loss), text
    for name, expected in zip(g.free_names(), grads):
        i = p.by_name[name]
        got = st.grad(i) if st.grad(i) is not None else np.zeros(p.nodes[i].shape)
        assert _close(got, np.asarray(expected).reshape(p.nodes[i].shape)), f"∂E/∂{name}\n{text}"
    for name in g.constants:                      # class indices receive a zero gradient
        got = st.grad(p.by_name[name])
        assert got is None or not np.any(got)


def test_the_random_graphs_cover_every_op():
    covered = set()
    for seed in range(GRAPHS):
        sc = engine.load_scenario_text(_graph(seed).scenario_text())
        covered |= {n.op.name for n in sc.program.nodes if n.op is not None}
    assert covered == set(REGISTRY)


def _bits(a):
    return None if a is None else (np.asarray(a).shape, np.ascontiguousarray(a).tobytes())


@pytest.mark.parametrize("seed", range(GRAPHS))
def test_fast_path_is_bit_identical_to_stepping_on_random_graphs(seed):
    # The fast path rewrites many VJPs (aliases, out= buffers, constant gradients); any slip shows here.
    sc = engine.load_scenario_text(_graph(seed).scenario_text())
    p = sc.program
    steps = 4
    fast = engine.Stepper(sc, steps=steps)
    anomaly = fast.run_iterations(steps)
    slow = engine.Stepper(sc, steps=steps)
    while not slow.at_end and slow.anomaly is None:
        slow.run_iteration()
    assert fast.anomaly == slow.anomaly == anomaly
    assert fast.tick == slow.tick
    # The fast path computes a faulty iteration's whole forward pass, so its loss may be recorded
    # though the stepper stands before the loss node: compare the iterations before the fault.
    done = anomaly.iteration - 1 if anomaly is not None else steps
    assert fast.losses[:done].tobytes() == slow.losses[:done].tobytes()
    for i in range(len(p.nodes)):
        assert _bits(fast.value(i)) == _bits(slow.value(i)), p.nodes[i].name
        assert _bits(fast.grad(i)) == _bits(slow.grad(i)), p.nodes[i].name
    for i in p.params:
        assert _bits(fast.param(i)) == _bits(slow.param(i)), p.nodes[i].name
