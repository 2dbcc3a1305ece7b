"""Every op in the registry: forward against plain NumPy, each VJP and each local Jacobian against
central differences (float64, eps 1e-6), on random inputs kept away from kinks and domain edges."""
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


def _fsum_reduce(a, axis, keepdims, mean=False):
    """sum/mean by math.fsum over the reduced axes: an independent route to np.sum."""
    nd = a.ndim
    axes = tuple(range(nd)) if axis is None else tuple(sorted(x % nd for x in np.atleast_1d(axis)))
    kept = [i for i in range(nd) if i not in axes]
    moved = np.moveaxis(a, axes, range(nd - len(axes), nd)).reshape([a.shape[i] for i in kept] + [-1])
    flat = moved.reshape(-1, moved.shape[-1])
    out = np.array([math.fsum(row) / (row.size if mean else 1) for row in flat])
    out = out.reshape([a.shape[i] for i in kept])
    if keepdims:
        out = out.reshape([1 if i in axes else a.shape[i] for i in range(nd)])
    return out


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


def case(op, makers, attrs, ref, positions=None):
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


def _ids():
    return [f"{op}-{'x'.join(str(s) for _, s in makers) or 'scalar'}-{attrs}-{i}"
            for i, (op, makers, attrs, _, _) in enumerate(CASES)]


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


@pytest.mark.parametrize("index", range(len(CASES)), ids=_ids())
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


@pytest.mark.parametrize("index", range(len(CASES)), ids=_ids())
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
