"""Benchmark: Adam on the fast path against hand-written NumPy Adam, and Adam's time-travel history.

- Two-layer net (100 → 10 → 2) trained with Adam: engine ÷ NumPy, target ≤ 1.0×.
- Wide net (784 → 256 → 10, batch 64) trained with Adam: engine ÷ NumPy, target ≤ 1.05×, at one BLAS
  thread and at the default, each setting in a process of its own (`python -m bench.optim --wide`).
- 100,000 iterations of the two-layer net with Adam: history size ÷ SGD's (≤ 3×, it keeps m and v in
  its checkpoints), and seeks back to random iterations (≤ 50 ms each, bit-identical to a straight run).

The NumPy contender follows torch.optim.Adam's rule as a careful person would write it, in place:
m ← m + (1 − β1)(g − m), v ← β2·v + (1 − β2)·g², w ← w − (η/(1 − β1ᵗ))·m/(√v/√(1 − β2ᵗ) + ε).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gradstep.engine import Stepper, load_scenario, load_scenario_text
from gradstep.scenarios import bundled_dir

from .report import Figure, line, section, us
from .threads import ThreadsIdle, blas_threads, thread_env
from .timing import interleaved, paired_ratio, replaying
from .two_layer import leaves
from .wide_net import HandWritten as WideSGD
from .wide_net import PARAMS, SCENARIO, params_of, write_data

ROOT = Path(__file__).resolve().parents[1]
LR, B1, B2, EPS = 0.001, 0.9, 0.999, 1e-8
ADAM = '\noptimizer = "adam"\n'


def with_adam(text: str, lr: float = LR) -> str:
    """A scenario's text with [train] switched to Adam at learning rate lr."""
    import re
    text = re.sub(r"(?m)^learning_rate = .*$", f"learning_rate = {lr}", text)
    return text.replace("[train]\n", "[train]" + ADAM, 1)


class Adam:
    """torch.optim.Adam's step, in place, for a list of params."""

    def __init__(self, params: list[np.ndarray], lr: float):
        self.lr = lr
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.t += 1
        step_size = self.lr / (1 - B1 ** self.t)
        bc2 = math.sqrt(1 - B2 ** self.t)
        for w, g, m, v in zip(params, grads, self.m, self.v):
            m += (1 - B1) * (g - m)
            v *= B2
            v += (1 - B2) * (g * g)
            w -= step_size * (m / (np.sqrt(v) / bc2 + EPS))


class TwoLayerAdam:
    """The two-layer net's forward and backward pass by hand, then Adam."""

    def __init__(self, x, y_hat, W1, W2, lr):
        self.x, self.y_hat = x, y_hat
        self.W1, self.W2 = W1.copy(), W2.copy()
        self.adam = Adam([self.W1, self.W2], lr)

    def train(self, n: int) -> None:
        x, y_hat, W1, W2 = self.x, self.y_hat, self.W1, self.W2
        for _ in range(n):
            z1 = W1 @ x
            h = np.maximum(z1, 0.0)
            z2 = W2 @ h
            f = np.maximum(z2, 0.0)
            d = f - y_hat
            gz2 = (2.0 * d) * (z2 > 0.0)
            gz1 = (W2.T @ gz2) * (z1 > 0.0)
            self.adam.step([W1, W2], [np.outer(gz1, x), np.outer(gz2, h)])


class WideAdam(WideSGD):
    """The wide net by hand (bench/wide_net.py's forward and backward), then Adam."""

    def __init__(self, X, labels, params, lr, batch):
        super().__init__(X, labels, params, lr, batch)
        self.adam = Adam([self.W1, self.b1, self.W2, self.b2], lr)

    def train(self, n: int) -> None:
        W1, b1, W2, b2, B, rows = self.W1, self.b1, self.W2, self.b2, self.batch, self.rows
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
            g = e / e.sum(axis=1, keepdims=True)
            g[rows, yb] -= 1.0
            g /= B
            gz1 = (g @ W2.T) * (z1 > 0.0)
            self.adam.step([W1, b1, W2, b2], [xb.T @ gz1, gz1.sum(axis=0), h.T @ g, g.sum(axis=0)])


def agree(engine_params: list[np.ndarray], hand: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(engine_params, hand))


def two_layer(quick: bool) -> tuple[list[Figure], bool]:
    text = with_adam((bundled_dir() / "two_layer.toml").read_text())
    scenario = load_scenario_text(text)
    x, y_hat, W1, W2, _ = leaves(scenario)
    rounds, inner = (7, 50) if quick else (101, 200)
    st = Stepper(scenario, steps=(rounds + 2) * inner + 1)
    hand = TwoLayerAdam(x, y_hat, W1, W2, LR)
    idle = ThreadsIdle()
    s = interleaved({"numpy": hand.train, "engine": st.run_iterations}, rounds=rounds, inner=inner, idle=idle)
    ratio = paired_ratio(s["engine"], s["numpy"])
    check = Stepper(scenario, steps=51)
    check.run_iterations(50)
    ref = TwoLayerAdam(x, y_hat, W1, W2, LR)
    ref.train(50)
    p = scenario.program
    diff = agree([check.param(p.by_name["W1"]), check.param(p.by_name["W2"])], [ref.W1, ref.W2])
    line(f"two-layer net with Adam, {rounds} rounds of {inner}: NumPy {us(s['numpy'].median)}, "
         f"engine {us(s['engine'].median)}: {ratio:.2f}× (agree after 50 iterations: {diff:.1e})")
    return [Figure("Two-layer iteration with Adam, engine ÷ NumPy Adam", f"{ratio:.2f}× ({us(s['engine'].median)} "
                   f"vs {us(s['numpy'].median)})", "≤ 1.0×", ratio <= 1.0)], diff < 1e-9


def wide_measure(quick: bool) -> dict:
    """In this process: the wide net with Adam, engine and NumPy side by side."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="gradstep-bench-") as tmp:
        folder = Path(tmp)
        (folder / SCENARIO.name).write_text(with_adam(SCENARIO.read_text(), lr=0.001))
        X, labels = write_data(folder)
        scenario = load_scenario(folder / SCENARIO.name)
    params = params_of(scenario)
    rounds, inner = (3, 2) if quick else (21, 32)
    st = Stepper(scenario)
    hand = WideAdam(X, labels, params, 0.001, scenario.data.batch_size)
    s = interleaved({"numpy": hand.train, "engine": replaying(st)}, rounds=rounds, inner=inner, idle=ThreadsIdle())
    check = Stepper(scenario, steps=21)
    check.run_iterations(20)
    ref = WideAdam(X, labels, params, 0.001, scenario.data.batch_size)
    ref.train(20)
    p = scenario.program
    diff = agree([check.param(p.by_name[k]) for k in PARAMS], [getattr(ref, k) for k in PARAMS])
    return {"threads": blas_threads(), "ratio": paired_ratio(s["engine"], s["numpy"]), "engine": s["engine"].us,
            "numpy": s["numpy"].us, "differs": diff}


def wide(quick: bool) -> tuple[list[Figure], bool]:
    figures, ok = [], True
    for threads in (1, None):
        cmd = [sys.executable, "-m", "bench.optim", "--wide"] + (["--quick"] if quick else [])
        done = subprocess.run(cmd, cwd=ROOT, env=thread_env(threads), capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        m = json.loads(done.stdout.strip().splitlines()[-1])
        label = "1 BLAS thread" if threads == 1 else f"default ({m['threads']} BLAS threads)"
        line(f"wide net with Adam, {label}: NumPy {m['numpy']:,.0f} µs, engine {m['engine']:,.0f} µs: "
             f"{m['ratio']:.2f}× (agree after 20 iterations: {m['differs']:.1e})")
        figures.append(Figure(f"Wide-net iteration with Adam, engine ÷ NumPy Adam, {label}",
                              f"{m['ratio']:.2f}× ({m['engine']:,.0f} µs vs {m['numpy']:,.0f} µs)", "≤ 1.05×",
                              m["ratio"] <= 1.05))
        ok &= m["differs"] < 1e-9
    return figures, ok


def history(quick: bool) -> tuple[list[Figure], bool]:
    steps = 10_000 if quick else 100_000
    base = (bundled_dir() / "two_layer.toml").read_text()
    sgd = Stepper(load_scenario_text(base), steps=steps)
    adam = Stepper(load_scenario_text(with_adam(base)), steps=steps)
    sgd.run_iterations(steps)
    adam.run_iterations(steps)
    ratio = adam.history.nbytes() / sgd.history.nbytes()
    rng = np.random.default_rng(5)
    targets = sorted(int(t) for t in rng.integers(2, steps, 8 if quick else 20))
    straight = Stepper(load_scenario_text(with_adam(base)), steps=steps)
    at = {}
    for t in targets:
        straight.run_iterations(t - straight.iteration)
        at[t] = {k: v.copy() for k, v in straight.params().items()}
    times, same = [], True
    for t in rng.permutation(targets):
        t0 = time.perf_counter()
        adam.seek_iteration(int(t))
        times.append(time.perf_counter() - t0)
        same &= all(adam.param(k).tobytes() == v.tobytes() for k, v in at[int(t)].items())
    med, worst = statistics.median(times) * 1e3, max(times) * 1e3
    line(f"{steps:,} iterations with Adam: history {adam.history.nbytes() / 2**20:.1f} MB vs SGD's "
         f"{sgd.history.nbytes() / 2**20:.1f} MB ({ratio:.2f}×); seek median {med:.2f} ms, max {worst:.2f} ms, "
         f"bit-identical {'yes' if same else 'NO'}")
    return [Figure(f"Adam history for {steps:,} iterations ÷ SGD's", f"{ratio:.2f}×", "≤ 3×", ratio <= 3),
            Figure("Adam: seek to a random earlier iteration", f"median {med:.2f} ms, max {worst:.2f} ms, "
                   f"bit-identical {'yes' if same else 'no'}", "≤ 50 ms", worst <= 50 and same)], same


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("Optimizers: Adam on the fast path ÷ hand-written NumPy Adam, and Adam's history")
    figures, ok = [], True
    for part in (two_layer, wide, history):
        f, good = part(quick)
        figures += f
        ok &= good
    return figures, ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.optim")
    parser.add_argument("--wide", action="store_true")
    parser.add_argument("--quick", action="store_true")
    a = parser.parse_args()
    print(json.dumps(wide_measure(a.quick)))
