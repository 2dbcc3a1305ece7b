"""Gradient health over the iterations, for the health view and the graph's badges.

The fast path records the measures as it runs (engine.HealthRecorder, set as the Stepper's
after_iteration): every `every`-th iteration, so a replay of any length keeps about SAMPLES of them,
and nothing is measured on the UI thread per iteration. Iterations stepped node by node are not
run by the fast path; the health view fills the holes before it opens (measure_job). Nothing here
imports textual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from gradstep.engine import HealthRecorder, HealthSample, Stepper

SAMPLES = 200             # about this many iterations sampled over a whole replay (a sparkline's width or more)


@dataclass(frozen=True)
class Measure:
    """One row of the health view: a field of HealthSample, for one param or node (None: the flow)."""

    field: str               # grad_norm, update_ratio, dead, saturated or flow
    key: str | None
    log: bool                # plotted on a log scale (norms and ratios span decades)

    @property
    def label(self) -> str:
        return {"grad_norm": f"‖∂E/∂{self.key}‖", "update_ratio": f"‖Δ{self.key}‖/‖{self.key}‖",
                "dead": f"dead {self.key}", "saturated": f"saturated {self.key}",
                "flow": "gradient flow"}[self.field]

    def read(self, sample: HealthSample) -> float | None:
        if self.field == "flow":
            return sample.flow
        return getattr(sample, self.field).get(self.key)


FIELDS = (("grad_norm", True), ("update_ratio", True), ("dead", False), ("saturated", False))


class HealthHistory:
    """The samples of one Stepper's replay, iteration -> HealthSample."""

    def __init__(self, st: Stepper):
        self.every = max(1, st.steps // SAMPLES)
        self.last = st.steps
        self.recorder = HealthRecorder(st.program, self.every, st.steps)
        st.after_iteration = self.recorder          # the fast path calls it from the run's thread

    @property
    def samples(self) -> dict[int, HealthSample]:
        """Read only while no background run owns the Stepper (the run's thread adds to it)."""
        return self.recorder.samples

    def grid(self, upto: int) -> list[int]:
        """The iterations before `upto` the history keeps: every `every`-th one, and the last."""
        out = list(range(self.every, upto, self.every))
        if self.last < upto and (not out or out[-1] != self.last):
            out.append(self.last)
        return out

    def missing(self, upto: int) -> int | None:
        """The first iteration before `upto` that the history should hold and does not (None: none)."""
        return next((k for k in self.grid(upto) if k not in self.samples), None)

    def forget(self, first: int) -> None:
        """Drop iterations from `first` on (η was changed there: they will run differently)."""
        for k in [k for k in self.samples if k >= first]:
            del self.samples[k]

    def measures(self, now: HealthSample) -> list[Measure]:
        """Every measure any sample (or the iteration shown) has, in a stable order."""
        seen: dict[str, set[str]] = {f: set() for f, _ in FIELDS}
        for s in [*self.samples.values(), now]:
            for f, _ in FIELDS:
                seen[f].update(getattr(s, f))
        out = [Measure(f, k, log) for f, log in FIELDS for k in sorted(seen[f])]
        if any(s.flow is not None for s in [*self.samples.values(), now]):
            out.append(Measure("flow", None, True))
        return out

    def series(self, m: Measure, before: int) -> list[tuple[int, float]]:
        """(iteration, value) of a measure over the samples before iteration `before`, in order."""
        out = []
        for k in sorted(self.samples):
            if k < before:
                v = m.read(self.samples[k])
                if v is not None:
                    out.append((k, v))
        return out


def badge(sample: HealthSample, name: str, shape: tuple[int, ...]) -> str:
    """A graph line's badge: 'dead 6/10' for a relu node, 'saturated 3/8' for tanh or sigmoid, else ''."""
    if name in sample.dead:
        units = math.prod(shape[1:]) if len(shape) >= 2 else max(1, math.prod(shape))
        return f"dead {round(sample.dead[name] * units)}/{units}"
    if name in sample.saturated:
        size = max(1, math.prod(shape))
        return f"saturated {round(sample.saturated[name] * size)}/{size}"
    return ""
