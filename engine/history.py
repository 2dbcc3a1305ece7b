"""Time travel on a budget: a store of sparse checkpoints of the params and the loss curve.

Storing every weight at every iteration would cost steps × params × 8 bytes. Instead the params at
the start of every K-th iteration are kept (K chosen so the checkpoints fit the budget), with the
latest start computed and the loss of every iteration computed so far. The store decides nothing
about replaying: the Stepper asks it for the nearest start and recomputes from there with the
fast path, which shares the Stepper's kernels, so a recomputed start has the same bits.
"""
from __future__ import annotations

import math
from array import array

import numpy as np

BUDGET_BYTES = 16 * 2**20


class History:
    """Checkpoints of param values at iteration starts, and the loss curve."""

    def __init__(self, initial: dict[int, np.ndarray], steps: int, budget: int = BUDGET_BYTES):
        per = sum(int(v.nbytes) for v in initial.values()) or 8
        # At least 32 iterations apart: copying params every iteration would cost more than it saves.
        self.every = max(32, math.ceil(steps * per / budget))
        self.checkpoints: dict[int, dict[int, np.ndarray]] = {1: dict(initial)}
        self.latest: tuple[int, dict[int, np.ndarray]] = (1, dict(initial))
        self._losses = array("d")

    # -------------------------------------------------------------- losses
    def record_loss(self, iteration: int, loss: float) -> None:
        n = len(self._losses)
        if iteration == n + 1:
            self._losses.append(loss)
        elif iteration <= n:
            self._losses[iteration - 1] = loss

    def record_losses(self, first: int, losses: list[float]) -> None:
        """The losses of iterations first, first + 1, ... from a fast run."""
        for k, loss in enumerate(losses):
            self.record_loss(first + k, loss)

    def losses_array(self) -> np.ndarray:
        return np.frombuffer(self._losses, dtype=np.float64).copy() if self._losses else np.zeros(0)

    def loss(self, iteration: int) -> float | None:
        return self._losses[iteration - 1] if iteration <= len(self._losses) else None

    # -------------------------------------------------------------- checkpoints
    def is_checkpoint(self, iteration: int) -> bool:
        """Whether the start of this iteration is kept as a checkpoint."""
        return (iteration - 1) % self.every == 0

    def record_start(self, iteration: int, params: dict[int, np.ndarray], *, lent: bool = False) -> None:
        """Note the params at the start of an iteration (kept if it falls on a checkpoint).

        lent: the arrays belong to the fast path, which will overwrite them; a checkpoint keeps
        copies, and the latest start holds them only until forget_latest() is called.
        """
        if self.is_checkpoint(iteration) and not (lent and iteration in self.checkpoints):
            self.checkpoints[iteration] = {i: v.copy() for i, v in params.items()} if lent else dict(params)
        # The most recent start computed, wherever it lies: the next step or run usually begins there.
        self.latest = (iteration, dict(params))

    def forget_latest(self) -> None:
        """The latest start's arrays are about to be overwritten: fall back to the last checkpoint before it."""
        base = max(i for i in self.checkpoints if i <= self.latest[0])
        self.latest = (base, self.checkpoints[base])

    def nearest(self, iteration: int) -> tuple[int, dict[int, np.ndarray]]:
        """The known start closest at or before an iteration: (its iteration, its params, not to be written)."""
        if iteration == self.latest[0]:
            return self.latest
        if iteration in self.checkpoints:
            return iteration, self.checkpoints[iteration]
        base = max(i for i in self.checkpoints if i <= iteration)
        if base < self.latest[0] <= iteration:
            return self.latest
        return base, self.checkpoints[base]

    def invalidate(self, *, checkpoints_after: int, losses_from: int) -> None:
        """Forget what a change made at an iteration has made stale."""
        for i in [i for i in self.checkpoints if i > checkpoints_after]:
            del self.checkpoints[i]
        if self.latest[0] > checkpoints_after:
            base = max(self.checkpoints)
            self.latest = (base, dict(self.checkpoints[base]))
        del self._losses[max(0, losses_from - 1):]

    def nbytes(self) -> int:
        """Memory held by checkpoints and the loss curve."""
        seen = set()
        total = self._losses.itemsize * len(self._losses)
        for params in list(self.checkpoints.values()) + [self.latest[1]]:
            for v in params.values():
                if id(v) not in seen:
                    seen.add(id(v))
                    total += v.nbytes
        return total
