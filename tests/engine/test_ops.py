"""Every op in the registry: forward against an independent reference (plain NumPy, Python loops,
math.fsum), each VJP and each local Jacobian against central differences (float64, eps 1e-6), on
random inputs kept away from kinks, ties and domain edges; then the new ops' stated behaviours."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gradstep import engine
from gradstep.engine.accumulate import unbroadcast
from gradstep.engine.ops import REGISTRY, local_jacobian

EPS = 1e-6
# Central differences with eps 1e-6 are good to about 1e-9 on these magnitudes; a wrong VJP is off
# by O(1). Rule: |analytic - numeric| <= ATOL + RTOL * |numeric|, elementwise.
ATOL, RTOL = 1e-7, 1e-6


def _any(rng, shape):
    return rng.normal(size=shape)


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _away_from_zero(rng, shape):
    """Values with |x| in [0.2, 2]: away from the kinks of relu and abs, and from poles."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2.0, size=shape)


def _reduce_rows(a, axis, keepdims, fn):
    """fn(list of the reduced elements) -> float, in Python, for every position of the kept axes."""
    nd = a.ndim
    axes = tuple(range(nd)) if axis is None else tuple(sorted(x % nd for x in np.atleast_1d(axis)))
    kept = [i for i in range(nd) if i not in axes]
    moved = np.moveaxis(a, axes, range(nd - len(axes), nd)).reshape([a.shape[i] for i in kept] + [-1])
    flat = moved.reshape(-1, moved.shape[-1])
    out = np.array([fn([float(v) for v in row]) for row in flat])
    out = out.reshape([a.shape[i] for i in kept])
    if keepdims:
        out = out.reshape([1 if i in axes else a.shape[i] for i in range(nd)])
    return out


def _fsum_reduce(a, axis, keepdims, mean=False):
    """sum/mean by math.fsum over the reduced axes: an independent route to np.sum."""
    return _reduce_rows(a, axis, keepdims, lambda row: math.fsum(row) / (len(row) if mean else 1))


def _ref_softmax(a, axis=-1):
    e = np.exp(a)                       # inputs are small, so no max shift is needed here
    return e / e.sum(axis=axis, keepdims=True)


def _ref_cross_entropy(logits, targets):
    """Row by row: -Σ p·log softmax, or -log softmax[t] for a class index t, averaged over rows."""
    rows = logits.reshape(-1, logits.shape[-1])
    if targets.shape == logits.shape:
        probs = targets.reshape(rows.shape)
    else:
        probs = np.zeros(rows.shape)
        for r, t in enumerate(np.ravel(targets)):
            probs[r, int(t)] = 1.0
    losses = [-sum(p * (z[k] - math.log(sum(math.exp(v) for v in z))) for k, p in enumerate(pr))
              for z, pr in zip(rows, probs)]
    return math.fsum(losses) / len(rows)


def _ref_matmul(a, b):
    """Row-times-column with math.fsum, promoting vectors the way @ does."""
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    out = np.array([[math.fsum(A[i, k] * B[k, j] for k in range(A.shape[1])) for j in range(B.shape[1])]
                    for i in range(A.shape[0])])
    if a.ndim == 1:
        out = out[0]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def _ref_mse(a, b):
    x, y = np.broadcast_arrays(a, b)
    return math.fsum(((x - y) ** 2).ravel()) / x.size


# (op, input makers, attrs, reference forward, positions whose gradient is checked)
CASES: list[tuple[str, tuple, dict, object, tuple[int, ...]]] = []


BUGS: dict[int, str] = {}   # case index -> a known engine bug its gradient tests show (xfail, strict)


def case(op, makers, attrs, ref, positions=None, bug=None):
    if bug is not None:
        BUGS[len(CASES)] = bug
    CASES.append((op, makers, attrs, ref, positions if positions is not None else tuple(range(len(makers)))))


UNARY = {
    "exp": (_any, np.exp), "log": (_positive, np.log), "sin": (_any, np.sin), "cos": (_any, np.cos),
    "tanh": (_any, np.tanh), "sigmoid": (_any, lambda x: 1.0 / (1.0 + np.exp(-x))),
    "relu": (_away_from_zero, lambda x: np.where(x > 0, x, 0.0)), "sqrt": (_positive, np.sqrt),
    "abs": (_away_from_zero, lambda x: np.where(x < 0, -x, x)), "neg": (_any, lambda x: 0.0 - x),
    "identity": (_any, lambda x: x + 0.0),
    "softplus": (_any, lambda x: np.log1p(np.exp(x))),
}
for name, (maker, ref) in UNARY.items():
    for shape in [(), (5,), (2, 3)]:
        case(name, ((maker, shape),), {}, ref)

for p, maker in [(2.0, _any), (3.0, _any), (0.5, _positive), (-1.0, _away_from_zero), (-1.5, _positive),
                 (0.0, _any), (1.0, _any)]:
    case("pow", ((maker, (2, 3)),), {"p": p}, lambda x, p: x ** p)

BROADCAST_PAIRS = [((4,), (4,)), ((3, 1), (4,)), ((), (2, 3)), ((2, 3), ()), ((2, 1), (1, 3)),
                   ((4,), (2, 4)), ((2, 3), (2, 3))]
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}
for name, ref in BINARY.items():
    for sa, sb in BROADCAST_PAIRS:
        case(name, ((_any, sa), (_away_from_zero if name == "div" else _any, sb)), {}, ref)
for sa, sb in BROADCAST_PAIRS:
    case("mse", ((_any, sa), (_any, sb)), {}, _ref_mse)

for sa, sb in [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((1, 3), (3, 1))]:
    case("matmul", ((_any, sa), (_any, sb)), {}, _ref_matmul)

for shape in [(2, 3), (4,), ()]:
    case("transpose", ((_any, shape),), {}, lambda a: np.array(a.T))

for name in ("sum", "mean"):
    for axis, keepdims in [(None, False), (None, True), (0, False), (-1, False), (1, True), ((0, 2), False),
                           ((-1, 0), True), ((0, 1, 2), False)]:
        case(name, ((_any, (2, 3, 4)),), {"axis": axis, "keepdims": keepdims},
             lambda a, axis, keepdims, m=(name == "mean"): _fsum_reduce(a, axis, keepdims, mean=m))
    case(name, ((_any, (5,)),), {}, lambda a, m=(name == "mean"): _fsum_reduce(a, None, False, mean=m))
    case(name, ((_any, ()),), {}, lambda a: a + 0.0)

for shape, axis in [((5,), None), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), (0, 2))]:
    attrs = {} if axis is None else {"axis": axis}
    case("softmax", ((_any, shape),), attrs, lambda a, axis=-1: _ref_softmax(a, axis))


def _index(k, shape):
    return lambda rng, _shape: rng.integers(0, k, size=shape).astype(np.float64)


def _probs(rng, shape):
    p = rng.uniform(0.1, 1.0, size=shape)
    return p / p.sum(axis=-1, keepdims=True)


# Class indices carry no gradient, so only the logits are checked there.
case("cross_entropy", ((_any, (5,)), (_index(5, ()), ())), {}, _ref_cross_entropy, (0,))
case("cross_entropy", ((_any, (4, 3)), (_index(3, (4,)), (4,))), {}, _ref_cross_entropy, (0,))
case("cross_entropy", ((_any, (2, 3, 4)), (_index(4, (2, 3)), (2, 3))), {}, _ref_cross_entropy, (0,))
case("cross_entropy", ((_any, (5,)), (_probs, (5,))), {}, _ref_cross_entropy)
case("cross_entropy", ((_any, (4, 3)), (_probs, (4, 3))), {}, _ref_cross_entropy)
# Soft targets need not sum to 1 (e.g. a weighted loss): the VJP handles Σp ≠ 1.
case("cross_entropy", ((_any, (4, 3)), (_positive, (4, 3))), {}, _ref_cross_entropy)


# ---------------------------------------------------------------- ops for real models
# Each reference walks the indices in Python and sums with math.fsum: an independent route, never the
# engine's own function nor the same NumPy expression.
def _distinct(rng, shape):
    """Shuffled values at least 0.2 apart: no ties for max, min and max_pool2d, even after ±eps."""
    n = math.prod(shape)
    return ((rng.permutation(n) - n / 2) * 0.25 + rng.uniform(0.0, 0.05, n)).reshape(shape)


def _moderate(rng, shape):
    return rng.uniform(-2.0, 2.0, size=shape)


def _unit(rng, shape):
    return rng.uniform(0.0, 1.0, size=shape)


def _fixed(values):
    """(maker, shape) for an input that is the same every time: masks, ids, targets, dropout's noise."""
    values = np.array(values, dtype=np.float64)
    return (lambda rng, shape: values.copy()), values.shape


def _elementwise(f):
    """f applied in Python to each element, after broadcasting the inputs."""
    def ref(*arrays, **attrs):
        arrays = np.broadcast_arrays(*arrays)
        out = np.empty(arrays[0].shape)
        for i in np.ndindex(out.shape):
            out[i] = f(*[float(x[i]) for x in arrays], **attrs)
        return out
    return ref


def _ref_reshape(a, shape):
    """Element k of a in row-major order goes to position k of the new shape."""
    known = math.prod(n for n in shape if n != -1)
    shape = tuple(a.size // known if n == -1 else n for n in shape)
    flat = [a[i] for i in np.ndindex(a.shape)]
    out = np.empty(shape)
    for k, i in enumerate(np.ndindex(shape)):
        out[i] = flat[k]
    return out


def _ref_flatten(a, start_axis=1):
    s = start_axis % a.ndim
    return _ref_reshape(a, a.shape[:s] + (math.prod(a.shape[s:]),))


def _ref_transpose(a, axes):
    """out[i] = a[j] where j[axes[k]] = i[k]."""
    axes = [ax % a.ndim for ax in axes]
    out = np.empty(tuple(a.shape[ax] for ax in axes))
    for i in np.ndindex(out.shape):
        j = [0] * a.ndim
        for k, ax in enumerate(axes):
            j[ax] = i[k]
        out[i] = a[tuple(j)]
    return out


def _ref_subscript(a, key):
    """a[key] by walking the key by hand: an int picks, a slice ranges, None adds an axis, ... fills."""
    key = list(key)
    used = sum(k is not None and k is not Ellipsis for k in key)
    if any(k is Ellipsis for k in key):
        e = next(n for n, k in enumerate(key) if k is Ellipsis)
        key[e:e + 1] = [slice(None)] * (a.ndim - used)
    key += [slice(None)] * (a.ndim - sum(k is not None for k in key))
    plan, picks, axis = [], {}, 0      # plan: per output axis (source axis, indices), None for a new axis
    for k in key:
        if k is None:
            plan.append(None)
            continue
        n = a.shape[axis]
        if isinstance(k, slice):
            plan.append((axis, list(range(*k.indices(n)))))
        else:
            assert -n <= k < n
            picks[axis] = k + n if k < 0 else k
        axis += 1
    out = np.empty(tuple(1 if p is None else len(p[1]) for p in plan))
    for i in np.ndindex(out.shape):
        source = dict(picks)
        for p, at in zip(plan, i):
            if p is not None:
                source[p[0]] = p[1][at]
        out[i] = a[tuple(source[ax] for ax in range(a.ndim))]
    return out


def _ref_concat(*ins, axis=0):
    """Each input's elements written at their offset along the axis."""
    ax = axis % ins[0].ndim
    shape = list(ins[0].shape)
    shape[ax] = sum(x.shape[ax] for x in ins)
    out = np.full(shape, np.nan)
    start = 0
    for x in ins:
        for i in np.ndindex(x.shape):
            j = list(i)
            j[ax] += start
            out[tuple(j)] = x[i]
        start += x.shape[ax]
    return out


def _ref_batched_matmul(a, b):
    """Each matrix pair of the broadcast batch by _ref_matmul; a vector is promoted, its axis dropped after."""
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    ba, bb = A.shape[:-2], B.shape[:-2]
    batch = np.broadcast_shapes(ba, bb)
    out = np.empty(batch + (A.shape[-2], B.shape[-1]))
    for i in np.ndindex(batch):
        ia = tuple(0 if n == 1 else x for x, n in zip(i[len(i) - len(ba):], ba))
        ib = tuple(0 if n == 1 else x for x, n in zip(i[len(i) - len(bb):], bb))
        out[i] = _ref_matmul(A[ia], B[ib])
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def _ref_logsumexp(row):
    m = max(row)
    return m + math.log(math.fsum(math.exp(v - m) for v in row))


def _ref_var(a, axis=None, keepdims=False, correction=1):
    def var(row):
        m = math.fsum(row) / len(row)
        return math.fsum((v - m) ** 2 for v in row) / (len(row) - correction)
    return _reduce_rows(a, axis, keepdims, var)


def _erf_series(x: float) -> float:
    """erf by its Maclaurin series 2/√π Σ (-1)ⁿ x²ⁿ⁺¹/(n!(2n+1)), summed with math.fsum (|x| ≤ 2 here)."""
    terms, term, n = [], x, 0
    while True:
        terms.append(term / (2 * n + 1))
        if abs(terms[-1]) < 1e-30:
            return 2.0 / math.sqrt(math.pi) * math.fsum(terms)
        n += 1
        term *= -x * x / n


def _ref_log_softmax(a, axis=-1):
    moved = np.moveaxis(a, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]).tolist()
    out = [[v - _ref_logsumexp(r) for v in r] for r in rows]
    return np.moveaxis(np.array(out).reshape(moved.shape), -1, axis)


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))          # the cases' logits are small


def _ref_bce(x, y, reduction="mean"):
    """The log-loss of σ(x) per element, y·softplus(-x) + (1 - y)·softplus(x), then fsum."""
    losses = _elementwise(lambda a, t: t * _softplus(-a) + (1.0 - t) * _softplus(a))(x, y)
    total = math.fsum(losses.ravel())
    return total / losses.size if reduction == "mean" else total


def _ref_nll(logp, target, reduction="mean"):
    rows = logp.reshape(-1, logp.shape[-1])
    picked = [-float(r[int(t)]) for r, t in zip(rows, np.ravel(target))]
    total = math.fsum(picked)
    return total / len(picked) if reduction == "mean" else total


def _two(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """The direct 7-loop convolution: every output element is an fsum over channels and kernel offsets,
    skipping the positions that fall in the zero padding."""
    (sh, sw), (ph, pw), (dh, dw) = _two(stride), _two(padding), _two(dilation)
    n_, c_, h_, w_ = x.shape
    o_, _, kh, kw = w.shape
    ho, wo = _out_size(h_, kh, sh, ph, dh), _out_size(w_, kw, sw, pw, dw)
    out = np.empty((n_, o_, ho, wo))
    for n in range(n_):
        for o in range(o_):
            for r in range(ho):
                for c in range(wo):
                    terms = [] if b is None else [float(b[o])]
                    for ch in range(c_):
                        for i in range(kh):
                            for j in range(kw):
                                y, z = r * sh - ph + i * dh, c * sw - pw + j * dw
                                if 0 <= y < h_ and 0 <= z < w_:
                                    terms.append(x[n, ch, y, z] * w[o, ch, i, j])
                    out[n, o, r, c] = math.fsum(terms)
    return out


def _ref_pool(x, kernel_size, stride, padding, reduce):
    """reduce(the window's elements inside the image, the window's size) for every window."""
    (kh, kw), (ph, pw) = _two(kernel_size), _two(padding)
    sh, sw = _two(stride if stride is not None else kernel_size)
    n_, c_, h_, w_ = x.shape
    ho, wo = _out_size(h_, kh, sh, ph, 1), _out_size(w_, kw, sw, pw, 1)
    out = np.empty((n_, c_, ho, wo))
    for n, ch, r, c in np.ndindex(out.shape):
        inside = [float(x[n, ch, r * sh - ph + i, c * sw - pw + j]) for i in range(kh) for j in range(kw)
                  if 0 <= r * sh - ph + i < h_ and 0 <= c * sw - pw + j < w_]
        out[n, ch, r, c] = reduce(inside, kh * kw)
    return out


def _ref_max_pool2d(x, kernel_size, stride=None, padding=0):
    return _ref_pool(x, kernel_size, stride, padding, lambda v, size: max(v))


def _ref_avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    return _ref_pool(x, kernel_size, stride, padding,
                     lambda v, size: math.fsum(v) / (size if count_include_pad else len(v)))


def _normalize_rows(rows, eps):
    out = []
    for r in rows:
        m = math.fsum(r) / len(r)
        s = math.sqrt(math.fsum((v - m) ** 2 for v in r) / len(r) + eps)
        out.append([(v - m) / s for v in r])
    return out


def _ref_layer_norm(x, w=None, b=None, axis=-1, eps=1e-5):
    n = math.prod(x.shape[axis % x.ndim:])
    ws = [1.0] * n if w is None else w.ravel().tolist()
    bs = [0.0] * n if b is None else b.ravel().tolist()
    rows = _normalize_rows(x.reshape(-1, n).tolist(), eps)
    return np.array([[v * ws[k] + bs[k] for k, v in enumerate(r)] for r in rows]).reshape(x.shape)


def _ref_batch_norm(x, w=None, b=None, eps=1e-5):
    moved = np.moveaxis(x, 1, 0)                     # (C, N, ...): one row per channel
    rows = _normalize_rows(moved.reshape(x.shape[1], -1).tolist(), eps)
    out = [[v * (1.0 if w is None else float(w[c])) + (0.0 if b is None else float(b[c])) for v in r]
           for c, r in enumerate(rows)]
    return np.moveaxis(np.array(out).reshape(moved.shape), 0, 1)


def _ref_embedding(ids, table):
    out = np.empty(ids.shape + (table.shape[1],))
    for i in np.ndindex(ids.shape):
        for c in range(table.shape[1]):
            out[i + (c,)] = table[int(ids[i]), c]
    return out


for shape, new in [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1, 3)), ((6,), (2, 3)), ((), (1, 1)),
                   ((3, 4), (2, -1, 2))]:
    case("reshape", ((_any, shape),), {"shape": new}, _ref_reshape)
for shape, start in [((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), 2), ((2, 3, 4), -2), ((3, 4), 1), ((5,), 0)]:
    case("flatten", ((_any, shape),), {"start_axis": start}, _ref_flatten)
case("flatten", ((_any, (2, 3, 2)),), {}, _ref_flatten)                 # start_axis=1 by default
for shape, axes in [((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (0, 2, 1)), ((2, 3, 4), (0, 1, 2)),
                    ((3, 4), (1, 0)), ((2, 1, 3, 2), (0, 2, 3, 1))]:
    case("transpose", ((_any, shape),), {"axes": axes}, _ref_transpose)
for axes in [(-1, 0, 1), (0, -1, -2)]:                     # negative axes count from the end
    case("transpose", ((_any, (2, 3, 4)),), {"axes": axes}, _ref_transpose)

E = Ellipsis
for shape, key in [((3, 4, 5), (1,)), ((3, 4, 5), (-1,)), ((3, 4, 5), (slice(None), slice(0, 4, 2))),
                   ((3, 4, 5), (E, -2)), ((3, 4, 5), (None, 0, slice(1, 3))),
                   ((3, 4, 5), (slice(None, None, 2), None, E, slice(1, None, 3))), ((3, 4, 5), (1, -1, 2)),
                   ((3, 4, 5), (slice(-2, None), E, None)), ((5,), (slice(1, 5, 2),)), ((5,), (E,)),
                   ((2, 3), (slice(1, None), None, slice(0, 3, 2)))]:
    case("subscript", ((_any, shape),), {"key": key}, _ref_subscript)

for shapes, axis in [([(2, 3), (2, 2)], 1), ([(2, 3), (1, 3)], 0), ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], 1),
                     ([(2, 3, 2), (2, 3, 1), (2, 3, 3)], -1), ([(3,), (2,)], 0), ([(2, 3), (4, 3), (1, 3)], -2)]:
    case("concat", tuple((_any, s) for s in shapes), {"axis": axis}, _ref_concat)

for sa, sb in [((2, 3, 4), (2, 4, 2)), ((2, 2, 3, 4), (2, 2, 4, 3)), ((2, 1, 3, 4), (1, 3, 4, 2)),
               ((2, 3, 4), (4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((3, 4), (2, 4, 2)), ((1, 3, 4), (2, 4, 2))]:
    case("matmul", ((_any, sa), (_any, sb)), {}, _ref_batched_matmul)

for name, pick in (("max", max), ("min", min)):
    for shape, axis, keepdims in [((2, 3, 4), None, False), ((2, 3, 4), 1, True), ((2, 3, 4), (0, 2), False),
                                  ((2, 3, 4), -1, False), ((2, 3, 4), None, True), ((5,), 0, False), ((), None, False)]:
        case(name, ((_distinct, shape),), {"axis": axis, "keepdims": keepdims},
             lambda a, axis, keepdims, pick=pick: _reduce_rows(a, axis, keepdims, pick))
for shape, axis, keepdims in [((2, 3, 4), None, False), ((2, 3, 4), 1, False), ((2, 3, 4), (0, 2), True),
                              ((2, 3, 4), -1, True), ((5,), None, False)]:
    case("logsumexp", ((_any, shape),), {"axis": axis, "keepdims": keepdims},
         lambda a, axis, keepdims: _reduce_rows(a, axis, keepdims, _ref_logsumexp))
for shape, attrs in [((2, 3, 4), {}), ((2, 3, 4), {"correction": 0}), ((2, 3, 4), {"axis": 0, "keepdims": True}),
                     ((2, 3, 4), {"axis": (1, 2), "correction": 0}), ((2, 3, 4), {"axis": -1, "correction": 1}),
                     ((5,), {"correction": 1}), ((5,), {"correction": 0})]:
    case("var", ((_any, shape),), attrs, _ref_var)

for shape in [(), (5,), (2, 3)]:
    case("erf", ((_moderate, shape),), {}, _elementwise(_erf_series))
    case("gelu", ((_moderate, shape),), {}, _elementwise(lambda v: v * 0.5 * (1.0 + _erf_series(v / math.sqrt(2.0)))))
for attrs in [{}, {"negative_slope": 0.2}, {"negative_slope": -0.5}]:
    case("leaky_relu", ((_away_from_zero, (2, 3)),), attrs,
         _elementwise(lambda v, negative_slope=0.01: v if v > 0 else negative_slope * v))
for attrs in [{}, {"alpha": 0.5}, {"alpha": 2.0}]:
    case("elu", ((_away_from_zero, (2, 3)),), attrs,
         _elementwise(lambda v, alpha=1.0: v if v > 0 else alpha * math.expm1(v)))

_where = _elementwise(lambda m, a, b: a if m != 0 else b)
case("where", (_fixed([[1], [0], [1]]), (_any, (3, 4)), (_any, (4,))), {}, _where, (1, 2))
case("where", (_fixed([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0]]), (_any, (3, 4)), (_any, ())), {}, _where, (1, 2))
case("where", (_fixed([0, 1, 1, 0]), (_any, (3, 4)), (_any, (3, 4))), {}, _where, (1, 2))
case("where", (_fixed([1, 0, 1]), (_any, (3,)), (_any, (2, 1))), {}, _where, (1, 2))

for shape, axis in [((5,), None), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1)]:
    case("log_softmax", ((_any, shape),), {} if axis is None else {"axis": axis}, _ref_log_softmax)

for sx, sy, reduction in [((4,), (4,), "mean"), ((3, 4), (3, 4), "sum"), ((3, 4), (4,), "mean"), ((), (), "sum"),
                          ((2, 3), (2, 3), None)]:
    case("bce_with_logits", ((_any, sx), (_unit, sy)), {} if reduction is None else {"reduction": reduction},
         _ref_bce)
# Targets bigger than the logits after broadcasting: their gradient -x/n spans the broadcast shape
# (a bug these cases found: it came back in x's shape and could not be summed back).
case("bce_with_logits", ((_any, (4,)), (_unit, (3, 4))), {}, _ref_bce)
case("bce_with_logits", ((_any, (3, 1)), (_unit, (3, 4))), {"reduction": "sum"}, _ref_bce)
for logp, target, reduction in [((4, 3), [2, 0, 0, 1], "mean"), ((4, 3), [2, 0, 0, 1], "sum"), ((5,), 3, "mean"),
                                ((2, 3, 4), [[0, 3, 3], [1, 2, 0]], "sum"), ((2, 3), [1, 2], None)]:
    case("nll", ((_any, logp), _fixed(target)), {} if reduction is None else {"reduction": reduction}, _ref_nll, (0,))

X, W3, B3 = (_any, (2, 2, 5, 5)), (_any, (3, 2, 3, 3)), (_any, (3,))
for makers, attrs in [((X, W3, B3), {}),
                      ((X, W3, B3), {"stride": (2, 1), "padding": (1, 2)}),
                      ((X, W3, B3), {"dilation": (2, 1), "padding": (1, 1)}),
                      ((X, W3), {"stride": (2, 2), "padding": (0, 1)}),
                      ((X, (_any, (3, 2, 2, 3)), B3), {"stride": (1, 2), "padding": (2, 0), "dilation": (1, 2)}),
                      ((X, W3), {"stride": (2, 2), "padding": (1, 2), "dilation": (2, 2)}),
                      (((_any, (1, 1, 4, 6)), (_any, (2, 1, 1, 1)), (_any, (2,))), {"stride": (3, 2)})]:
    case("conv2d", makers, attrs, _ref_conv2d)

IMG = (_distinct, (2, 2, 5, 5))
for attrs in [{"kernel_size": (2, 2)}, {"kernel_size": (2, 2), "stride": (1, 1)},
              {"kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1)},
              {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1)},
              {"kernel_size": (3, 2), "stride": (2, 3), "padding": (0, 1)}]:
    case("max_pool2d", (IMG,), attrs, _ref_max_pool2d)
    case("avg_pool2d", ((_any, (2, 2, 5, 5)),), attrs, _ref_avg_pool2d)
    if "padding" in attrs:
        case("avg_pool2d", ((_any, (2, 2, 5, 5)),), {**attrs, "count_include_pad": False}, _ref_avg_pool2d)

for x, extra, attrs in [((3, 4), (), {}), ((3, 4), ((4,), (4,)), {}), ((2, 3, 4), ((3, 4), (3, 4)), {"axis": 1}),
                        ((2, 3, 4), ((3, 4),), {"axis": -2, "eps": 1e-3}), ((2, 3, 4), ((4,),), {"axis": 2}),
                        ((2, 3, 4), (), {"axis": 0})]:
    case("layer_norm", ((_any, x),) + tuple((_any, s) for s in extra), attrs, _ref_layer_norm)
for x, extra, attrs in [((4, 3), (), {}), ((4, 3), ((3,), (3,)), {}), ((2, 3, 2, 2), ((3,), (3,)), {}),
                        ((3, 2, 2, 3), ((2,),), {"eps": 1e-3}), ((3, 2, 4), (), {})]:
    case("batch_norm", ((_any, x),) + tuple((_any, s) for s in extra), attrs, _ref_batch_norm)

for ids, rows in [([[1, 3, 1], [0, 1, 3]], 4), ([2, 2, 0, 2, 1], 3), (1, 2)]:
    case("embedding", (_fixed(ids), (_any, (rows, 3))), {}, _ref_embedding, (1,))

NOISE = _fixed([[0.9, 0.1, 0.5, 0.3], [0.25, 0.75, 0.05, 0.6], [0.45, 0.55, 0.35, 0.95]])
_dropout = _elementwise(lambda x, noise, p=0.5: x / (1.0 - p) if noise >= p else 0.0)
for attrs in [{}, {"p": 0.3}, {"p": 0.0}, {"p": 0.9}]:
    case("dropout", ((_any, (3, 4)), NOISE), attrs, _dropout, (0,))


def _ids():
    return [f"{op}-{'x'.join(str(s) for _, s in makers) or 'scalar'}-{attrs}-{i}"
            for i, (op, makers, attrs, _, _) in enumerate(CASES)]


def _gradient_cases():
    """Case indices for the gradient tests; a case showing a known engine bug is a strict xfail."""
    return [pytest.param(i, id=name, marks=pytest.mark.xfail(strict=True, reason=BUGS[i])) if i in BUGS
            else pytest.param(i, id=name) for i, name in enumerate(_ids())]


def _inputs(index: int):
    op, makers, attrs, ref, positions = CASES[index]
    rng = np.random.default_rng(1000 + index)
    return REGISTRY[op], [np.asarray(m(rng, s), dtype=np.float64) for m, s in makers], attrs, ref, positions


def test_every_registered_op_has_cases():
    assert {op for op, *_ in CASES} == set(REGISTRY)


@pytest.mark.parametrize("index", range(len(CASES)), ids=_ids())
def test_forward_matches_numpy_and_shape_rule(index):
    op, ins, attrs, ref, _ = _inputs(index)
    out = np.asarray(op.forward(*ins, **attrs))
    expected = np.asarray(ref(*ins, **attrs), dtype=np.float64)
    assert out.dtype == np.float64
    assert out.shape == expected.shape
    assert tuple(op.shape(*[x.shape for x in ins], **attrs)) == out.shape
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


def _loss(op, ins, attrs, g):
    """<g, op(ins)>: its gradient with respect to an input is exactly the VJP with cotangent g."""
    return float(np.sum(g * op.forward(*ins, **attrs)))


@pytest.mark.parametrize("index", _gradient_cases())
def test_vjp_matches_central_differences(index):
    op, ins, attrs, _, positions = _inputs(index)
    out = np.asarray(op.forward(*ins, **attrs))
    g = np.random.default_rng(index).normal(size=out.shape)
    for pos in positions:
        analytic = unbroadcast(np.asarray(op.vjps[pos](g, out, *ins, **attrs), dtype=np.float64), ins[pos].shape)
        assert analytic.shape == ins[pos].shape
        numeric = np.zeros(ins[pos].shape)
        for k in range(ins[pos].size):
            vals = []
            for sign in (1.0, -1.0):
                trial = [x.copy() for x in ins]
                trial[pos].flat[k] += sign * EPS
                vals.append(_loss(op, trial, attrs, g))
            numeric.flat[k] = (vals[0] - vals[1]) / (2 * EPS)
        err = np.abs(analytic - numeric)
        assert np.all(err <= ATOL + RTOL * np.abs(numeric)), (pos, analytic, numeric)


@pytest.mark.parametrize("index", _gradient_cases())
def test_local_jacobian_matches_central_differences(index):
    op, ins, attrs, _, positions = _inputs(index)
    out = np.asarray(op.forward(*ins, **attrs))
    for pos in positions:
        jac = local_jacobian(op, pos, out, ins, attrs)
        assert jac.shape == (max(out.size, 1), ins[pos].size)
        numeric = np.zeros(jac.shape)
        for k in range(ins[pos].size):
            cols = []
            for sign in (1.0, -1.0):
                trial = [x.copy() for x in ins]
                trial[pos].flat[k] += sign * EPS
                cols.append(np.ravel(op.forward(*trial, **attrs)))
            numeric[:, k] = (cols[0] - cols[1]) / (2 * EPS)
        assert np.all(np.abs(jac - numeric) <= ATOL + RTOL * np.abs(numeric)), (pos, jac, numeric)


def test_class_index_targets_get_a_zero_gradient_of_their_shape():
    op = REGISTRY["cross_entropy"]
    logits = np.random.default_rng(0).normal(size=(4, 3))
    targets = np.array([0.0, 2.0, 1.0, 2.0])
    out = op.forward(logits, targets)
    g = op.vjps[1](np.ones(()), out, logits, targets)
    assert g.shape == (4,) and not np.any(g)


def test_cross_entropy_is_stable_for_huge_logits():
    op = REGISTRY["cross_entropy"]
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]])
    targets = np.array([0.0, 0.0])
    # Row 1: the right class wins by 1000 -> loss 0; row 2: loses by 1000 -> loss 1000. Mean 500.
    assert float(op.forward(logits, targets)) == pytest.approx(500.0, rel=1e-15)
    grad = op.vjps[0](np.ones(()), op.forward(logits, targets), logits, targets)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-300)


def test_pow_zero_has_a_zero_derivative_even_at_zero():
    op = REGISTRY["pow"]
    a = np.array([0.0, 2.0, -3.0])
    assert op.vjps[0](np.ones(3), op.forward(a, p=0.0), a, p=0.0).tolist() == [0.0, 0.0, 0.0]
    # p = 2 at 0 is an ordinary 0, and p = 1 gives 1 everywhere (0**0 = 1).
    assert op.vjps[0](np.ones(3), op.forward(a, p=2.0), a, p=2.0).tolist() == [0.0, 4.0, -6.0]
    assert op.vjps[0](np.ones(3), op.forward(a, p=1.0), a, p=1.0).tolist() == [1.0, 1.0, 1.0]


def test_relu_derivative_at_zero_is_zero():
    op = REGISTRY["relu"]
    a = np.array([-1.0, 0.0, -0.0, 2.0])
    got = op.vjps[0](np.ones(4), op.forward(a), a)
    assert got.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert local_jacobian(op, 0, op.forward(a), [a], {}).diagonal().tolist() == [0.0, 0.0, 0.0, 1.0]


def test_relu_at_zero_through_the_stepper(scenario):
    sc = scenario("""
        [scenario]
        title = "kink"
        [values]
        z = [0.0, 1.0]
        [graph]
        E = "sum(relu(z))"
        [train]
        loss = "E"
    """)
    st = engine.Stepper(sc)
    st.run_phase()
    st.run_phase()
    assert st.grad(sc.program.by_name["z"]).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("op, names, attrs, expected", [
    ("sin", ["u"], {}, "cos(u)"),
    ("relu", ["z"], {}, "[z > 0]"),
    ("exp", ["v"], {}, "exp(v)"),
    ("log", ["x"], {}, "1/x"),
    ("tanh", ["a"], {}, "1 - tanh(a)²"),
    ("pow", ["x"], {"p": 3.0}, "3·x^2"),
    ("pow", ["x"], {"p": 2.0}, "2·x"),
    ("pow", ["x"], {"p": 0.5}, "0.5·x^-0.5"),
])
def test_printed_formula(op, names, attrs, expected):
    assert REGISTRY[op].formula(0, names, "out", attrs) == expected


def test_binary_formulas_name_the_other_input():
    mul, div, matmul = REGISTRY["mul"], REGISTRY["div"], REGISTRY["matmul"]
    assert [mul.formula(i, ["a", "b"], "c", {}) for i in (0, 1)] == ["b", "a"]
    assert [div.formula(i, ["a", "b"], "c", {}) for i in (0, 1)] == ["1/b", "-a/b²"]
    assert matmul.formula(0, ["W", "x"], "W @ x", {}).startswith("g ⊗ x")


def test_stepper_formula_uses_the_scenario_names(scenario):
    sc = scenario("""
        [scenario]
        title = "names"
        [values]
        x = 1.5
        [graph]
        u = "x ** 2"
        v = "sin(u)"
        h = "relu(v)"
        [train]
        loss = "h"
    """)
    st = engine.Stepper(sc)
    p = sc.program
    assert st.formula(p.by_name["v"], 0) == "cos(u)"
    assert st.formula(p.by_name["h"], 0) == "[v > 0]"
    assert st.formula(p.by_name["u"], 0) == "2·x"


def test_compound_names_are_parenthesised_in_formulas():
    # Inner nodes are named by their expression text; the formula must still read correctly.
    assert REGISTRY["div"].formula(1, ["a", "b + 1"], "c", {}) == "-a/(b + 1)²"
    assert REGISTRY["pow"].formula(0, ["a + b"], "c", {"p": 2.0}) == "2·(a + b)"
    assert REGISTRY["sin"].formula(0, ["a + b"], "c", {}) == "cos(a + b)"
    assert REGISTRY["mul"].formula(0, ["a", "relu(x)"], "c", {}) == "relu(x)"


def test_softplus_is_stable_where_the_naive_formula_overflows():
    """log(1 + e^x) overflows to inf for x = 1000; softplus is x there, and its derivative σ(x) is 1."""
    op = REGISTRY["softplus"]
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    out = op.forward(x)
    assert np.all(np.isfinite(out))
    assert out[-1] == 1000.0 and out[0] == 0.0 and out[2] == math.log(2.0)
    g = op.vjps[0](np.ones(5), out, x)
    assert g.tolist() == pytest.approx([0.0, 1.0 / (1.0 + math.exp(30.0)), 0.5, 1.0 / (1.0 + math.exp(-30.0)), 1.0],
                                       rel=1e-13, abs=0.0)
    assert op.formula(0, ["z"], "s", {}) == "σ(z)"


# ---------------------------------------------------------------- the new ops' stated behaviours
def test_max_and_min_split_ties_evenly():
    for name, x in (("max", [1.0, 3.0, 3.0]), ("min", [5.0, -2.0, -2.0])):
        op, a = REGISTRY[name], np.array(x)
        out = op.forward(a)
        assert op.vjps[0](np.ones(()), out, a).tolist() == [0.0, 0.5, 0.5]
        assert local_jacobian(op, 0, out, [a], {}).tolist() == [[0.0, 0.5, 0.5]]
    # Along an axis, each row shares its own gradient among its own ties.
    op, a = REGISTRY["max"], np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    out = op.forward(a, axis=1, keepdims=True)
    got = op.vjps[0](np.array([[1.0], [3.0]]), out, a, axis=1, keepdims=True)
    assert got.tolist() == [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]]


def test_max_pool2d_sends_a_tied_window_to_its_first_maximum():
    op = REGISTRY["max_pool2d"]
    # Two 2×2 windows, [[5, 5], [5, 0]] and [[1, 7], [7, 7]]: all of g goes to the first maximum row-major.
    x = np.array([[[[5.0, 5.0, 1.0, 7.0], [5.0, 0.0, 7.0, 7.0]]]])
    out = op.forward(x, kernel_size=(2, 2))
    assert out.tolist() == [[[[5.0, 7.0]]]]
    got = op.vjps[0](np.array([[[[1.0, 2.0]]]]), out, x, kernel_size=(2, 2))
    assert got.tolist() == [[[[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]]]]
    # Overlapping windows (stride 1) whose first maximum is the same element add up there.
    x = np.array([[[[4.0, 4.0, 4.0]]]])
    out = op.forward(x, kernel_size=(1, 2), stride=(1, 1))
    got = op.vjps[0](np.array([[[[1.0, 10.0]]]]), out, x, kernel_size=(1, 2), stride=(1, 1))
    assert got.tolist() == [[[[1.0, 10.0, 0.0]]]]


def test_logsumexp_is_stable_for_huge_and_hugely_negative_inputs():
    op = REGISTRY["logsumexp"]
    with np.errstate(all="ignore"):
        assert np.log(np.sum(np.exp([1000.0, 1000.0]))) == np.inf          # what the naive formula gives
        assert np.log(np.sum(np.exp([-1e308, -1e308]))) == -np.inf
    for a, expected in (([1000.0, 1000.0], 1000.0 + math.log(2.0)), ([-1e308, -1e308], -1e308),
                        ([-1e308, -1.0e307], -1.0e307), ([[-1000.0, -1000.0]], -1000.0 + math.log(2.0))):
        out = op.forward(np.array(a))
        assert np.isfinite(out) and float(out) == pytest.approx(expected, rel=1e-15)
    a = np.array([1000.0, 1000.0])
    g = op.vjps[0](np.ones(()), op.forward(a), a)
    np.testing.assert_allclose(g, [0.5, 0.5], rtol=1e-12)


def test_logsumexp_gradient_is_softmax_even_for_huge_inputs():
    # exp(a - out) would lose out's last bits: [1e15, 1e15] gave 0.472 each, [1e17, 1e17] gave [1, 1].
    op = REGISTRY["logsumexp"]
    for a in ([-1e308, -1e308], [1e17, 1e17], [1e15, 1e15]):
        a = np.array(a)
        g = op.vjps[0](np.ones(()), op.forward(a), a)
        np.testing.assert_allclose(g, [0.5, 0.5], rtol=1e-12)


def test_log_softmax_is_stable_for_huge_inputs():
    op = REGISTRY["log_softmax"]
    a = np.array([[1000.0, 0.0, -1000.0], [1e300, 1e300, 0.0]])
    out = op.forward(a)
    assert np.all(np.isfinite(out))
    assert out[0].tolist() == [0.0, -1000.0, -2000.0]
    assert out[1, :2].tolist() == [-math.log(2.0)] * 2 and out[1, 2] == -1e300
    g = op.vjps[0](np.ones(a.shape), out, a)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[-2.0, 1.0, 1.0], [-0.5, -0.5, 1.0]], rtol=1e-15)


def test_bce_with_logits_is_exact_for_huge_logits_and_matches_the_naive_formula_elsewhere():
    op = REGISTRY["bce_with_logits"]
    x, y = np.array([1000.0, -1000.0, 1000.0, -1000.0]), np.array([1.0, 0.0, 0.0, 1.0])
    # Closed form: a confident right answer costs 0, a confident wrong one |x| = 1000.
    assert float(op.forward(x, y, reduction="sum")) == 2000.0
    out = op.forward(x, y)
    assert float(out) == 500.0
    assert op.vjps[0](np.ones(()), out, x, y).tolist() == [0.0, 0.0, 0.25, -0.25]
    assert op.vjps[1](np.ones(()), out, x, y).tolist() == [-250.0, 250.0, -250.0, 250.0]

    def naive(x, y):
        s = 1.0 / (1.0 + np.exp(-x))
        return -(y * np.log(s) + (1.0 - y) * np.log(1.0 - s))

    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(naive(x, y)))           # the naive formula breaks down here
    xs, ys = np.meshgrid(np.linspace(-10.0, 10.0, 21), [0.0, 0.3, 1.0])
    for a, t in zip(xs.ravel(), ys.ravel()):
        got = float(op.forward(np.array(a), np.array(t)))
        assert got == pytest.approx(float(naive(a, t)), rel=1e-9), (a, t)


def test_where_with_a_large_negative_fill_gives_softmax_exact_zeros():
    where, softmax = REGISTRY["where"], REGISTRY["softmax"]
    mask = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    s = np.random.default_rng(3).normal(size=(3, 4)) * 10.0
    fill = np.array(-1e9)
    masked = where.forward(mask, s, fill)
    p = softmax.forward(masked)
    assert not np.any(np.isnan(p))
    assert p[:2][mask[:2] == 0].tolist() == [0.0] * 5
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-15)
    assert p[2].tolist() == [0.25] * 4          # a row masked throughout is uniform, not nan
    gp = softmax.vjps[0](np.ones((3, 4)) + s, p, masked)
    gs = where.vjps[1](gp, masked, mask, s, fill)
    assert np.all(np.isfinite(gs)) and gs[mask == 0].tolist() == [0.0] * 9
    assert where.vjps[0](gp, masked, mask, s, fill).tolist() == np.zeros((3, 4)).tolist()


def test_conv2d_equals_the_direct_loop_and_costs_n_o_ho_wo_c_kh_kw():
    rng = np.random.default_rng(7)
    x, w, b = rng.normal(size=(2, 3, 9, 8)), rng.normal(size=(4, 3, 3, 2)), rng.normal(size=(4,))
    attrs = {"stride": (2, 2), "padding": (1, 2), "dilation": (2, 2)}
    op = REGISTRY["conv2d"]
    out = op.forward(x, w, b, **attrs)
    expected = _ref_conv2d(x, w, b, **attrs)
    # Ho = (9 + 2 - 2·2 - 1)//2 + 1 = 4, Wo = (8 + 4 - 2·1 - 1)//2 + 1 = 5
    assert out.shape == expected.shape == (2, 4, 4, 5) == op.shape(x.shape, w.shape, b.shape, **attrs)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    assert op.cost(out.shape, x.shape, w.shape, b.shape, **attrs) == 2 * 4 * 4 * 5 * 3 * 3 * 2
    assert op.cost((1, 8, 6, 6), (1, 5, 8, 8), (8, 5, 3, 3)) == 8 * 36 * 5 * 9
