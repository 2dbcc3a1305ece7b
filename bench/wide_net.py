"""Benchmark 2: a wide net (784 → 256 → 10, softmax cross-entropy, batch 64), engine ÷ hand-written NumPy.

BLAS does the work here, so the engine must add nothing of note. The data is random, written as a
CSV beside a copy of bench/scenarios/wide_net.toml in a temporary folder, and read through [data].
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from gradstep.engine import Stepper, load_scenario

from .report import Figure, line, section, us
from .timing import interleaved, paired_ratio, replaying

SCENARIO = Path(__file__).parent / "scenarios" / "wide_net.toml"
ROWS, FEATURES, CLASSES = 256, 784, 10


class HandWritten:
    """The same training step by hand: affine, ReLU, affine, stable softmax cross-entropy, SGD in place."""

    def __init__(self, X, labels, params, lr, batch):
        self.X, self.labels, self.lr, self.batch = X, labels.astype(np.intp), lr, batch
        self.W1, self.b1, self.W2, self.b2 = (params[k].copy() for k in ("W1", "b1", "W2", "b2"))
        self.rows = np.arange(batch)
        self.k = 0
        self.losses: list[float] = []

    def train(self, n: int) -> None:
        W1, b1, W2, b2, lr, B, rows = self.W1, self.b1, self.W2, self.b2, self.lr, self.batch, self.rows
        nb = len(self.X) // B
        for _ in range(n):
            sl = slice(self.k * B, (self.k + 1) * B)
            self.k = (self.k + 1) % nb
            xb, yb = self.X[sl], self.labels[sl]
            z1 = xb @ W1 + b1
            h = np.maximum(z1, 0.0)
            logits = h @ W2 + b2
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            s = e.sum(axis=1, keepdims=True)
            self.losses.append(np.mean(np.log(s[:, 0]) - logits[rows, yb]))
            g = e / s                           # softmax; its gradient is (p - onehot) / B
            g[rows, yb] -= 1.0
            g /= B
            gz1 = (g @ W2.T) * (z1 > 0.0)       # before W2 changes
            W2 -= lr * (h.T @ g)
            b2 -= lr * g.sum(axis=0)
            W1 -= lr * (xb.T @ gz1)
            b1 -= lr * gz1.sum(axis=0)


def write_data(folder: Path, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and labels as wide_net.csv in folder; returns (X, labels) exactly as written."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((ROWS, FEATURES))
    labels = rng.integers(0, CLASSES, ROWS).astype(np.float64)
    header = ",".join([f"p{i}" for i in range(FEATURES)] + ["label"])
    # %.17g round-trips float64 exactly, so the engine reads the very numbers NumPy uses.
    np.savetxt(folder / "wide_net.csv", np.column_stack([X, labels]), fmt="%.17g", delimiter=",",
               header=header, comments="")
    return X, labels


def params_of(scenario) -> dict[str, np.ndarray]:
    p = scenario.program
    return {p.nodes[i].name: scenario.initial[i] for i in p.params}


def agreement(scenario, X, labels, n: int = 20) -> float:
    """Largest relative difference between engine and hand-written params after n iterations."""
    st = Stepper(scenario, steps=n + 1)
    st.run_iterations(n)
    hw = HandWritten(X, labels, params_of(scenario), scenario.learning_rate, scenario.data.batch_size)
    hw.train(n)
    p = scenario.program
    worst = 0.0
    for name in ("W1", "b1", "W2", "b2"):
        a, b = st.param(p.by_name[name]), getattr(hw, name)
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    return worst


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("2. Wide net (784 → 256 → 10, softmax cross-entropy, batch 64): one training iteration")
    rounds, inner = (3, 2) if quick else (31, 8)
    with tempfile.TemporaryDirectory(prefix="gradstep-bench-") as tmp:
        folder = Path(tmp)
        shutil.copy(SCENARIO, folder / SCENARIO.name)
        X, labels = write_data(folder)
        scenario = load_scenario(folder / SCENARIO.name)
    st = Stepper(scenario)                 # the scenario's own steps, as `gradstep run` would
    hw = HandWritten(X, labels, params_of(scenario), scenario.learning_rate, scenario.data.batch_size)
    s = interleaved({"numpy": hw.train, "engine": replaying(st)}, rounds=rounds, inner=inner)
    ratio = paired_ratio(s["engine"], s["numpy"])
    line(f"{rounds} interleaved rounds of {inner} iterations; per iteration, median:")
    line(f"hand-written NumPy                      {us(s['numpy'].median):>10}")
    line(f"engine, steps = {st.steps} (checkpoint every {st.history.every}){us(s['engine'].median):>10}   "
         f"{ratio:5.3f}× NumPy")
    diff = agreement(scenario, X, labels)
    same = diff < 1e-9
    line(f"engine and hand-written NumPy agree after 20 iterations: max relative difference {diff:.1e}"
         + ("" if same else "  ← MISMATCH: the two do not compute the same math"))
    return [Figure("Wide-net iteration, engine ÷ NumPy",
                   f"{ratio:.3f}× ({us(s['engine'].median)} vs {us(s['numpy'].median)})", "≤ 1.05×",
                   ratio <= 1.05)], same
