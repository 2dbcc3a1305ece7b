"""PyTorch eager and JAX versions of the two benchmark nets, measured for scale when they are installed.

Each trainer does the hand-written NumPy trainer's math (two_layer.HandWritten, wide_net.HandWritten)
in float64 on the CPU, from the same initial params and data, so its params after a few iterations
can be checked against NumPy's. A framework that cannot be imported gives None, and `HINTS` says
in one line how to add it. Nothing here is needed by the tests or by the other benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

TORCH_PIN = "torch==2.13.0"
JAX_PIN = "jax==0.10.2"         # the version these trainers were checked with
HINTS = {
    "torch": f"skipped: torch not installed (pip install {TORCH_PIN} into .venv to include it)",
    "jax": f"skipped: jax not installed (pip install {JAX_PIN} into .venv to include it)",
}
SHORT_HINTS = {"torch": f"skipped: torch not installed (`pip install {TORCH_PIN}`)",
               "jax": f"skipped: jax not installed (`pip install {JAX_PIN}`)"}
LABELS = {"torch": "PyTorch eager", "jax": "JAX jit"}


@dataclass
class Trainer:
    """A contender: train(n) runs n iterations; params() returns the current params as NumPy arrays."""

    train: Callable[[int], None]
    params: Callable[[], dict[str, np.ndarray]]


def _torch():
    try:
        import torch
    except (ImportError, OSError):       # not installed, or a broken install's shared library
        return None
    return torch


def _jax():
    try:
        import jax
    except (ImportError, OSError):
        return None
    jax.config.update("jax_enable_x64", True)     # float64, as NumPy and the engine compute
    return jax


# Two-layer net: h = relu(W1 x), f = relu(W2 h), E = Σ(f - ŷ)², w ← w - η ∂E/∂w.

def torch_two_layer(x, y_hat, W1, W2, lr) -> Trainer | None:
    """The two-layer net in PyTorch eager, or None if torch cannot be imported."""
    torch = _torch()
    if torch is None:
        return None
    tx, ty = torch.from_numpy(x), torch.from_numpy(y_hat)
    A = torch.tensor(W1, requires_grad=True)          # copies
    B = torch.tensor(W2, requires_grad=True)
    losses = []

    def train(n: int) -> None:
        for _ in range(n):
            f = torch.relu(B @ torch.relu(A @ tx))
            d = f - ty
            E = d @ d
            E.backward()
            losses.append(E.detach())
            with torch.no_grad():
                A.sub_(lr * A.grad)       # in place: `A -= ...` would make A local to train()
                B.sub_(lr * B.grad)
            A.grad = None
            B.grad = None
    return Trainer(train, lambda: {"W1": A.detach().numpy().copy(), "W2": B.detach().numpy().copy()})


def jax_two_layer(x, y_hat, W1, W2, lr) -> Trainer | None:
    """The two-layer net in JAX, one jitted step per iteration, or None if jax cannot be imported."""
    jax = _jax()
    if jax is None:
        return None
    jnp = jax.numpy
    jx, jy = jnp.asarray(x), jnp.asarray(y_hat)

    def loss(A, B):
        d = jax.nn.relu(B @ jax.nn.relu(A @ jx)) - jy        # jax.nn.relu: gradient 0 at 0, as (z > 0)
        return d @ d

    @jax.jit
    def step(A, B):
        E, (gA, gB) = jax.value_and_grad(loss, argnums=(0, 1))(A, B)
        return A - lr * gA, B - lr * gB, E

    state = [jnp.asarray(W1), jnp.asarray(W2)]
    losses = []

    def train(n: int) -> None:
        A, B = state
        for _ in range(n):
            A, B, E = step(A, B)
            losses.append(E)
        A.block_until_ready()          # JAX dispatches asynchronously: the work must be done when timed
        state[:] = [A, B]
    return Trainer(train, lambda: {"W1": np.asarray(state[0]), "W2": np.asarray(state[1])})


# Wide net: h = relu(x W1 + b1), logits = h W2 + b2, E = mean cross-entropy of softmax(logits);
# the batches are the rows in order, `batch` at a time, as the scenario's unshuffled [data] gives them.

def torch_wide(X, labels, params, lr, batch) -> Trainer | None:
    """The wide net in PyTorch eager, or None if torch cannot be imported."""
    torch = _torch()
    if torch is None:
        return None
    F = torch.nn.functional
    tX, ty = torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64))
    W1, b1, W2, b2 = (torch.tensor(params[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2"))
    ps = (W1, b1, W2, b2)
    nb = len(X) // batch
    k = [0]
    losses = []

    def train(n: int) -> None:
        for _ in range(n):
            i = k[0]
            k[0] = (i + 1) % nb
            xb, yb = tX[i * batch:(i + 1) * batch], ty[i * batch:(i + 1) * batch]
            E = F.cross_entropy(torch.relu(xb @ W1 + b1) @ W2 + b2, yb)
            E.backward()
            losses.append(E.detach())
            with torch.no_grad():
                for p in ps:
                    p.sub_(lr * p.grad)
                    p.grad = None
    return Trainer(train, lambda: {name: p.detach().numpy().copy() for name, p in zip(("W1", "b1", "W2", "b2"), ps)})


def jax_wide(X, labels, params, lr, batch) -> Trainer | None:
    """The wide net in JAX, one jitted step per iteration, or None if jax cannot be imported."""
    jax = _jax()
    if jax is None:
        return None
    jnp = jax.numpy
    nb = len(X) // batch
    batches = [(jnp.asarray(X[i * batch:(i + 1) * batch]), jnp.asarray(labels[i * batch:(i + 1) * batch].astype(np.int32)))
               for i in range(nb)]

    def loss(p, xb, yb):
        logits = jax.nn.relu(xb @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        picked = jnp.take_along_axis(logits, yb[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    @jax.jit
    def step(p, xb, yb):
        E, g = jax.value_and_grad(loss)(p, xb, yb)
        return {name: p[name] - lr * g[name] for name in p}, E

    state = {"p": {name: jnp.asarray(params[name]) for name in ("W1", "b1", "W2", "b2")}, "k": 0}
    losses = []

    def train(n: int) -> None:
        p, k = state["p"], state["k"]
        for _ in range(n):
            p, E = step(p, *batches[k])
            k = (k + 1) % nb
            losses.append(E)
        jax.block_until_ready(p)
        state["p"], state["k"] = p, k
    return Trainer(train, lambda: {name: np.asarray(v) for name, v in state["p"].items()})


TWO_LAYER = {"torch": torch_two_layer, "jax": jax_two_layer}
WIDE = {"torch": torch_wide, "jax": jax_wide}


def framework_version(name: str) -> str | None:
    """The installed version of torch or jax (imported already by its trainer), or None."""
    module = _torch() if name == "torch" else _jax()
    return None if module is None else module.__version__
