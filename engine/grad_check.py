"""GradCheck: analytic gradients against central differences, PyTorch gradcheck's tolerances."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import interpret
from .program import Program

EPS = 1e-6
ATOL = 1e-5
RTOL = 1e-3
MAX_CHECKED = 2000      # elements per tensor checked; larger tensors are sampled (seeded)
WORK_BUDGET = 2e10      # multiply-adds spent on finite differences per tensor: big graphs check fewer


@dataclass
class LeafCheck:
    """The result for one param or value."""

    node: int
    name: str
    kind: str
    checked: int            # elements compared
    size: int
    max_abs_error: float
    max_rel_error: float    # max |a-n| / max(|a|, |n|, 1e-8)
    passed: bool


@dataclass
class GradCheck:
    """A whole check: one LeafCheck per param and value, plus kink warnings."""

    iteration: int
    leaves: list[LeafCheck]
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True if every param passes (values are reported but do not fail the check)."""
        return all(c.passed for c in self.leaves if c.kind == "param")


def gradcheck(program: Program, leaves: dict[int, np.ndarray], iteration: int = 1, seed: int = 0,
              work: int = 0) -> GradCheck:
    """Check ∂loss/∂leaf for every param and value at these leaf values.

    work is the forward pass's estimated multiply-adds (Scenario.work): each checked element
    costs two forward passes, so a costly graph samples fewer elements (at least 8).
    """
    most = MAX_CHECKED if work <= 0 else int(max(8, min(MAX_CHECKED, WORK_BUDGET / (2 * work))))
    with np.errstate(all="ignore"):
        vals = interpret.forward(program, leaves)
        grads = interpret.backward(program, vals)
        report = GradCheck(iteration, [], _kink_warnings(program, vals))
        rng = np.random.default_rng(seed)
        indices = {x.source for x in program.index_inputs}
        for i in program.params + program.values:
            node = program.nodes[i]
            if i in indices:
                # Class labels are read as whole numbers: a nudge of eps changes the class, not the loss
                # smoothly, so there is no derivative to check.
                report.leaves.append(LeafCheck(i, node.name, node.kind, 0, node.size, 0.0, 0.0, True))
                continue
            analytic = grads[i] if grads[i] is not None else np.zeros(node.shape)
            base = np.array(leaves[i], dtype=np.float64)
            idx = np.arange(base.size)
            if base.size > most:
                idx = np.sort(rng.choice(base.size, most, replace=False))
            numeric = np.empty(len(idx))
            for k, flat in enumerate(idx):
                numeric[k] = _central(program, leaves, i, base, int(flat))
            a = np.ravel(analytic)[idx]
            err = np.abs(a - numeric)
            rel = err / np.maximum(np.maximum(np.abs(a), np.abs(numeric)), 1e-8)
            ok = bool(np.all(err <= ATOL + RTOL * np.abs(numeric)))
            report.leaves.append(LeafCheck(i, node.name, node.kind, len(idx), base.size,
                                           float(err.max()) if err.size else 0.0,
                                           float(rel.max()) if rel.size else 0.0, ok))
    return report


def _central(program: Program, leaves: dict, i: int, base: np.ndarray, flat: int) -> float:
    out = []
    for sign in (1.0, -1.0):
        x = base.copy()
        x.flat[flat] += sign * EPS
        trial = dict(leaves)
        trial[i] = x
        out.append(float(interpret.forward(program, trial)[program.loss]))
    return (out[0] - out[1]) / (2 * EPS)


def _kink_warnings(program: Program, vals: list) -> list[str]:
    """Inputs within EPS of an op's kink (relu, abs at 0), where finite differences straddle it."""
    warnings = []
    for i in program.ops:
        node = program.nodes[i]
        for kink in node.op.kinks:
            z = vals[node.inputs[0]]
            near = int(np.count_nonzero(np.abs(z - kink) <= EPS))
            if near:
                warnings.append(f"{node.name}: {near} input(s) of {node.op.name} lie within {EPS:g} of the "
                                f"kink at {kink:g}; finite differences there are unreliable")
    return warnings
