"""The updates of the iteration just finished, for the Updates pane.

The step that updates the last param ends an iteration, and the Stepper at once begins the next:
its updates() then describe the new iteration, so the last param's step (with one param, the only
step there is) would never be on screen with its numbers. A second Stepper that ends after that
iteration (steps=k) stands at its end with everything kept: its updates() are iteration k's, bit
for bit (seeking replays exactly), through the engine's public API. Nothing here imports textual.
"""
from __future__ import annotations

from dataclasses import dataclass

from gradstep.engine import Stepper, UpdateInfo

LIMIT = 20_000        # iterations replayed for one picture at most (about 0.2 s on the two-layer net)


@dataclass(frozen=True)
class Finished:
    """Iteration k's updates as they ended, and each param's ‖Δw‖/‖w‖ by name."""

    iteration: int
    updates: list[UpdateInfo]
    ratios: dict[str, float]


class FinishedIteration:
    """Remembers the last one worked out (a redraw asks again without a step in between)."""

    def __init__(self):
        self._key: tuple | None = None
        self._value: Finished | None = None

    def of(self, st: Stepper) -> Finished | None:
        """Iteration k's updates when the Stepper stands at the start of iteration k + 1, else None."""
        S = st.per_iteration
        if st.tick == 0 or st.tick % S or st.at_end or not st.program.params:
            return None
        k = st.tick // S
        if k > LIMIT:
            return None
        key = (id(st), k, tuple(st.eta_schedule))
        if key != self._key:
            self._key, self._value = key, self._replay(st, k)
        return self._value

    @staticmethod
    def _replay(st: Stepper, k: int) -> Finished:
        schedule = st.eta_schedule
        shadow = Stepper(st.scenario, steps=k, learning_rate=schedule[0][1])
        for first, eta in schedule[1:]:
            if first <= k:
                shadow.seek_iteration(first)
                shadow.set_eta(eta)
        shadow.seek(shadow.total_ticks)
        return Finished(k, shadow.updates(), dict(shadow.health_now().update_ratio))
