"""Time travel on a budget: sparse checkpoints of the params plus exact recomputation.

Storing every weight at every iteration would cost steps × params × 8 bytes. Instead the params at
the start of every K-th iteration are kept (K chosen so the checkpoints fit the budget), with the
latest start and the loss of every iteration computed so far. Any other start is recomputed
from the checkpoint before it by the fast path, which uses the stepper's kernels: same bits.
"""
from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .stepper import Stepper

BUDGET_BYTES = 16 * 2**20


class History:
    """Checkpoints of param values at iteration starts, and the loss curve."""

    def __init__(self, stepper: "Stepper", initial: dict[int, np.ndarray], budget: int = BUDGET_BYTES):
        self.stepper = stepper
        per = sum(int(v.nbytes) for v in initial.values()) or 8
        # At least 32 iterations apart: copying params every iteration would cost more than it saves.
        self.every = max(32, math.ceil(stepper.steps * per / budget))
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
    def record_start(self, iteration: int, params: dict[int, np.ndarray]) -> None:
        """Note the params at the start of an iteration (kept if it falls on a checkpoint)."""
        if (iteration - 1) % self.every == 0:
            self.checkpoints[iteration] = dict(params)
        # The most recent start computed, wherever it lies: the next step or run usually begins there.
        self.latest = (iteration, dict(params))

    def params_at(self, iteration: int) -> dict[int, np.ndarray]:
        """The params at the start of an iteration, recomputed from the nearest checkpoint."""
        if iteration == self.latest[0]:
            return dict(self.latest[1])
        if iteration in self.checkpoints:
            return dict(self.checkpoints[iteration])
        base = max(i for i in self.checkpoints if i <= iteration)
        start = self.checkpoints[base]
        if self.latest[0] <= iteration and self.latest[0] > base:
            base, start = self.latest
        params, _ = self._run(base, start, iteration - base)
        return params

    def advance(self, iteration: int, count: int) -> int | None:
        """Run count iterations from the start of `iteration`; the first iteration with a fault, or None."""
        params, bad = self._run(iteration, self.params_at(iteration), count, stop_on_fault=True)
        return bad

    def _run(self, iteration: int, params: dict[int, np.ndarray], count: int, stop_on_fault: bool = False):
        """One fast run that records losses and the checkpoints it passes.

        Recomputing a start (params_at) goes on through faults, so a diverged run is reproduced
        exactly; advancing stops at the first fault so the stepper can show it.
        """
        st = self.stepper
        params, bad = st.fast.run(params, iteration, count, st.eta_schedule, st.leaves_for, self.record_losses,
                                  leaves_vary=bool(st.edits), checkpoint=self.record_start, every=self.every,
                                  stop_on_fault=stop_on_fault)
        if bad is None:
            self.record_start(iteration + count, params)
        return params, bad

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
