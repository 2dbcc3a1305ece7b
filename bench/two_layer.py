"""Benchmark 1: one training iteration of the bundled two-layer net, engine ÷ hand-written NumPy.

The engine runs `gradstep run`'s path (Stepper.run_iterations → History.advance → FastPath.run).
HIPS autograd, and PyTorch eager and JAX when they can be imported, are measured alongside for scale.
The matrices are too small for BLAS to wake its worker threads, so one process at the default
thread count measures it.
"""
from __future__ import annotations

import numpy as np

from gradstep.engine import Stepper, load_scenario

from gradstep.scenarios import bundled_dir

from .frameworks import HINTS, LABELS, SHORT_HINTS, TWO_LAYER, framework_version
from .report import Figure, line, section, us
from .threads import ThreadsIdle
from .timing import interleaved, paired_ratio, replaying

LONG_RUN = 100_000
AGREE = 1e-9                 # largest relative difference that still counts as the same math


class HandWritten:
    """h = relu(W1 x), f = relu(W2 h), E = Σ(f - ŷ)², w ← w - η ∂E/∂w, written as a careful person would."""

    def __init__(self, x, y_hat, W1, W2, lr):
        self.x, self.y_hat, self.lr = x, y_hat, lr
        self.W1, self.W2 = W1.copy(), W2.copy()
        self.losses: list[float] = []

    def train(self, n: int) -> None:
        x, y_hat, W1, W2, lr = self.x, self.y_hat, self.W1, self.W2, self.lr
        losses = self.losses
        for _ in range(n):
            z1 = W1 @ x
            h = np.maximum(z1, 0.0)
            z2 = W2 @ h
            f = np.maximum(z2, 0.0)
            d = f - y_hat
            losses.append(d @ d)
            gz2 = (2.0 * d) * (z2 > 0.0)
            gz1 = (W2.T @ gz2) * (z1 > 0.0)        # before W2 changes
            W2 -= lr * np.outer(gz2, h)
            W1 -= lr * np.outer(gz1, x)


def autograd_trainer(x, y_hat, W1, W2, lr):
    """The same training step with HIPS autograd."""
    import autograd.numpy as anp
    from autograd import value_and_grad

    def loss(params):
        A, B = params
        f = anp.maximum(anp.dot(B, anp.maximum(anp.dot(A, x), 0.0)), 0.0)
        d = f - y_hat
        return anp.sum(d * d)

    step = value_and_grad(loss)
    state = [W1.copy(), W2.copy()]
    losses = []

    def train(n: int) -> None:
        A, B = state
        for _ in range(n):
            E, (gA, gB) = step((A, B))
            losses.append(E)
            A = A - lr * gA
            B = B - lr * gB
        state[:] = [A, B]
    return train


def leaves(scenario):
    p = scenario.program
    get = lambda name: scenario.initial[p.by_name[name]]
    return get("x"), get("y_hat"), get("W1"), get("W2"), scenario.learning_rate


def difference(mine: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    """Largest elementwise relative difference between two sets of params."""
    return max(float(np.max(np.abs(mine[k] - reference[k]) / np.maximum(np.abs(reference[k]), 1e-300)))
               for k in reference)


def agreements(scenario, frameworks, n: int = 50) -> dict[str, float]:
    """Largest relative difference from the hand-written params (and, for the engine, losses) after n iterations."""
    hw = HandWritten(*leaves(scenario))
    hw.train(n)
    reference = {"W1": hw.W1, "W2": hw.W2}
    st = Stepper(scenario, steps=n + 1)
    st.run_iterations(n)
    p = scenario.program
    engine = difference({k: st.param(p.by_name[k]) for k in reference}, reference)
    losses = float(np.max(np.abs(st.losses[:n] - np.array(hw.losses)) / np.array(hw.losses)))
    out = {"engine": max(engine, losses)}
    for name in frameworks:
        trainer = TWO_LAYER[name](*leaves(scenario))
        trainer.train(n)
        out[name] = difference(trainer.params(), reference)
    return out


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("1. Two-layer net (100 → 10 → 2, ReLU, squared error): one training iteration")
    scenario = load_scenario(bundled_dir() / "two_layer.toml")
    rounds, inner, slow_inner = (7, 50, 5) if quick else (101, 200, 20)
    total = (rounds + 1) * inner
    x, y_hat, W1, W2, lr = leaves(scenario)

    # `gradstep run scenarios/two_layer.toml` runs the scenario's own 100 steps; a long run (as in
    # the time-travel benchmark) keeps sparser checkpoints, so both are measured.
    bundled = Stepper(scenario)
    long_run = Stepper(scenario, steps=max(LONG_RUN, total + 2))
    contenders = {"numpy": HandWritten(x, y_hat, W1, W2, lr).train,
                  "engine": replaying(bundled),
                  "engine long": long_run.run_iterations,
                  "autograd": autograd_trainer(x, y_hat, W1, W2, lr)}
    frameworks = {}
    for name, make in TWO_LAYER.items():
        trainer = make(x, y_hat, W1, W2, lr)
        if trainer is not None:
            contenders[name] = trainer.train
            frameworks[name] = framework_version(name)
    per = {name: inner if name.startswith(("numpy", "engine")) else slow_inner for name in contenders}
    per["engine"] = bundled.steps - 1
    idle = ThreadsIdle()
    s = interleaved(contenders, rounds=rounds, inner=per, idle=idle)

    base = s["numpy"]
    ratio = paired_ratio(s["engine"], base)
    long_ratio = paired_ratio(s["engine long"], base)
    line(f"{rounds} rounds, contenders in a fresh random order each round; per iteration, median, "
         "and ÷ NumPy (median of the rounds' ratios):")

    def row(label: str, key: str) -> None:
        if key == "numpy":
            line(f"{label:<46}{us(base.median):>10}")
        elif key in s:
            line(f"{label:<46}{us(s[key].median):>10}   {paired_ratio(s[key], base):5.2f}× NumPy")
        else:
            line(f"{label:<46}{HINTS[key]}")

    row("hand-written NumPy", "numpy")
    row(f"engine, steps = {bundled.steps} (checkpoint every {bundled.history.every})", "engine")
    row(f"engine, steps = {long_run.steps:,} (checkpoint every {long_run.history.every})", "engine long")
    row("HIPS autograd", "autograd")
    for name in TWO_LAYER:
        row(f"{LABELS[name]} {frameworks.get(name, '')}".rstrip(), name)
    line(idle.summary())
    differs = agreements(scenario, frameworks)
    same = all(d < AGREE for d in differs.values())
    line("agree with hand-written NumPy after 50 iterations (max relative difference): "
         + ", ".join(f"{'engine' if k == 'engine' else LABELS[k]} {d:.1e}" + ("" if d < AGREE else " ← MISMATCH")
                     for k, d in differs.items())
         + ("" if same else "  (MISMATCH: they do not compute the same math)"))
    figures = [
        Figure(f"Two-layer iteration, engine ÷ NumPy (steps = {bundled.steps})",
               f"{ratio:.2f}× ({us(s['engine'].median)} vs {us(base.median)})", "≤ 1.0×", ratio <= 1.0),
        Figure(f"Two-layer iteration, engine ÷ NumPy (steps = {long_run.steps:,})",
               f"{long_ratio:.2f}× ({us(s['engine long'].median)} vs {us(base.median)})", "≤ 1.0×",
               long_ratio <= 1.0),
        Figure("Two-layer iteration, HIPS autograd ÷ NumPy",
               f"{paired_ratio(s['autograd'], base):.1f}× ({us(s['autograd'].median)})", "for scale", None),
    ]
    for name in TWO_LAYER:
        figures.append(Figure(f"Two-layer iteration, {LABELS[name]} ÷ NumPy",
                              f"{paired_ratio(s[name], base):.1f}× ({us(s[name].median)})" if name in s
                              else SHORT_HINTS[name], "for scale", None))
    return figures, same
