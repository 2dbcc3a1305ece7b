"""The iteration just finished, for the whole screen.

The step that updates the last param ends an iteration, and the Stepper at once begins the next, whose
values, gradients and updates start empty: the last update (with one param, the only one) would never
be on screen with its numbers, and `update 2/2` never in the status line. After that step the panes
show Stepper.ended(k) instead, a Stepper standing at the end of iteration k with everything kept, bit
for bit, until the next motion. Nothing here imports textual.
"""
from __future__ import annotations

from gradstep.engine import Stepper


def finished_iteration(st: Stepper) -> int | None:
    """The iteration that ends exactly where the Stepper stands (at the start of the next), else None."""
    S = st.per_iteration
    if st.tick == 0 or st.tick % S or st.at_end:
        return None
    return st.tick // S


class FinishedIteration:
    """Remembers the last one worked out: a redraw asks again without a step in between."""

    def __init__(self):
        self._key: tuple | None = None
        self._value: Stepper | None = None

    def of(self, st: Stepper, k: int) -> Stepper:
        """Iteration k of st, ended (k ≤ the iteration st stands in); its breakpoint pins are st's."""
        key = (id(st), k, tuple(e for e in st.eta_schedule if e[0] <= k),
               tuple((s, n, id(v)) for s, n, v in st.edits if s <= k), st.mode, id(st.seed))
        if key != self._key:
            self._key, self._value = key, st.ended(k)
        self._value.breakpoints = st.breakpoints       # the graph shows the pins the user set
        return self._value
