"""Gradients on random graphs against an independent autodiff (HIPS autograd).

A seeded generator builds random expression DAGs over the registry's ops (broadcasting, every
matmul rank, axes, softmax, mse, cross-entropy with indices and with probabilities), writes them as
scenario text, and the same function with autograd.numpy. Agreement rule, elementwise:
|engine - autograd| <= 1e-9 · max(|engine|, |autograd|, 1).
"""
from __future__ import annotations

import json

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.tracer import getval

from gradstep import engine
from gradstep.engine.ops import REGISTRY

RTOL = 1e-9
GRAPHS = 150


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
        """Values of moderate size, so 1e-9 relative is a fair bar for two summation orders."""
        return all(np.all(np.isfinite(v)) and np.all(np.abs(v) < 1e3) for v in self.env.values())


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
