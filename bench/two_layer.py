"""Benchmark 1: one training iteration of the bundled two-layer net, engine ÷ hand-written NumPy.

The engine runs `gradstep run`'s path (Stepper.run_iterations → History.advance → FastPath.run).
PyTorch eager and HIPS autograd are measured alongside for scale when they can be imported.
"""
from __future__ import annotations

import numpy as np

from gradstep.engine import Stepper, load_scenario

from gradstep.scenarios import bundled_dir

from .report import Figure, line, section, us
from .timing import interleaved, paired_ratio, replaying

LONG_RUN = 100_000
TORCH_HINT = "skipped: torch not installed (pip install torch==2.13.0 into .venv to include it)"


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


def torch_trainer(x, y_hat, W1, W2, lr):
    """The same training step in PyTorch eager on the CPU, or None if torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    tx, ty = torch.tensor(x), torch.tensor(y_hat)
    A = torch.tensor(W1, requires_grad=True)
    B = torch.tensor(W2, requires_grad=True)
    losses = []

    def train(n: int) -> None:
        for _ in range(n):
            f = torch.relu(B @ torch.relu(A @ tx))
            E = ((f - ty) ** 2).sum()
            E.backward()
            losses.append(E.item())
            with torch.no_grad():
                A.sub_(lr * A.grad)       # in place: `A -= ...` would make A local to train()
                B.sub_(lr * B.grad)
            A.grad = None
            B.grad = None
    return train


def leaves(scenario):
    p = scenario.program
    get = lambda name: scenario.initial[p.by_name[name]]
    return get("x"), get("y_hat"), get("W1"), get("W2"), scenario.learning_rate


def agreement(scenario, n: int = 50) -> float:
    """Largest relative difference between the engine's and the hand-written params after n iterations."""
    st = Stepper(scenario, steps=n + 1)
    st.run_iterations(n)
    hw = HandWritten(*leaves(scenario))
    hw.train(n)
    p = scenario.program
    worst = 0.0
    for name, mine in (("W1", hw.W1), ("W2", hw.W2)):
        theirs = st.param(p.by_name[name])
        worst = max(worst, float(np.max(np.abs(theirs - mine) / np.maximum(np.abs(mine), 1e-300))))
    worst = max(worst, float(np.max(np.abs(st.losses[:n] - np.array(hw.losses)) / np.array(hw.losses))))
    return worst


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
    torch_train = torch_trainer(x, y_hat, W1, W2, lr)
    if torch_train is not None:
        contenders["torch"] = torch_train
    per = {name: slow_inner if name in ("autograd", "torch") else inner for name in contenders}
    per["engine"] = bundled.steps - 1
    s = interleaved(contenders, rounds=rounds, inner=per)

    base = s["numpy"]
    ratio = paired_ratio(s["engine"], base)
    long_ratio = paired_ratio(s["engine long"], base)
    line(f"{rounds} interleaved rounds; per iteration, median:")

    def row(label: str, key: str | None) -> None:
        if key is None:
            line(f"{label:<46}{TORCH_HINT}")
        elif key == "numpy":
            line(f"{label:<46}{us(base.median):>10}")
        else:
            line(f"{label:<46}{us(s[key].median):>10}   {paired_ratio(s[key], base):5.2f}× NumPy")

    row("hand-written NumPy", "numpy")
    row(f"engine, steps = {bundled.steps} (checkpoint every {bundled.history.every})", "engine")
    row(f"engine, steps = {long_run.steps:,} (checkpoint every {long_run.history.every})", "engine long")
    row("HIPS autograd", "autograd")
    row("PyTorch eager (CPU)", "torch" if torch_train is not None else None)
    diff = agreement(scenario)
    same = diff < 1e-9
    line(f"engine and hand-written NumPy agree after 50 iterations: max relative difference {diff:.1e}"
         + ("" if same else "  ← MISMATCH: the two do not compute the same math"))

    figures = [
        Figure(f"Two-layer iteration, engine ÷ NumPy (steps = {bundled.steps})",
               f"{ratio:.2f}× ({us(s['engine'].median)} vs {us(base.median)})", "≤ 1.0×", ratio <= 1.0),
        Figure(f"Two-layer iteration, engine ÷ NumPy (steps = {long_run.steps:,})",
               f"{long_ratio:.2f}× ({us(s['engine long'].median)} vs {us(base.median)})", "≤ 1.0×",
               long_ratio <= 1.0),
        Figure("Two-layer iteration, HIPS autograd ÷ NumPy",
               f"{paired_ratio(s['autograd'], base):.1f}× ({us(s['autograd'].median)})", "for scale", None),
        Figure("Two-layer iteration, PyTorch eager ÷ NumPy",
               "skipped (torch not installed)" if torch_train is None else
               f"{paired_ratio(s['torch'], base):.1f}× ({us(s['torch'].median)})", "for scale", None),
    ]
    return figures, same
