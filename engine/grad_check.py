"""GradCheck: analytic gradients against central differences, PyTorch gradcheck's tolerances; and the
directional check: reverse mode's ⟨∇E, v⟩ against forward mode's tangent of the loss along v."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import interpret, tangents
from .program import Program

EPS = 1e-6
ATOL = 1e-5
RTOL = 1e-3
MAX_CHECKED = 2000      # elements per tensor checked; larger tensors are sampled (seeded)
WORK_BUDGET = 2e10      # multiply-adds spent on finite differences per tensor: big graphs check fewer
TOTAL_BUDGET = 2e10     # multiply-adds over the whole check: many tensors share it (a tensor gets ≥ 1 element)
DIRECTIONAL_RTOL = 1e-12    # the two modes compute the same sums in different orders: rounding only


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
    not_finite: str | None = None    # the first node whose forward value is NaN or ±inf: nothing was checked

    @property
    def passed(self) -> bool:
        """True if every param passes (values are reported but do not fail the check); False when the
        forward pass itself is not finite, since there is no gradient to check."""
        return self.not_finite is None and all(c.passed for c in self.leaves if c.kind == "param")


class CheckCancelled(Exception):
    """The caller asked the gradient check to stop (the TUI's esc or q)."""


def gradcheck(program: Program, leaves: dict[int, np.ndarray], iteration: int = 1, seed: int = 0,
              work: int = 0, should_stop=None) -> GradCheck:
    """Check ∂loss/∂leaf for every param and value at these leaf values.

    work is the forward pass's estimated multiply-adds (Scenario.work): each checked element
    costs two forward passes, so a costly graph samples fewer elements (at least 8). should_stop()
    is asked between elements; when it says yes the check raises CheckCancelled.
    """
    indices = {x.source for x in program.index_inputs}
    tensors = [i for i in program.params + program.values if i not in indices]
    per_pass = max(work, 1)
    # The whole check stays within TOTAL_BUDGET: each tensor gets its share (at least one element, up
    # to MAX_CHECKED and its own budget); if even one element each is too much, a seeded subset of the
    # tensors is checked and the report says how many.
    share = TOTAL_BUDGET / (2 * per_pass * max(len(tensors), 1))
    most = int(max(1, min(MAX_CHECKED, WORK_BUDGET / (2 * per_pass), share)))
    if work > 0 and most < 8 and share >= 8:
        most = 8
    rng = np.random.default_rng(seed)
    afford = int(TOTAL_BUDGET // (2 * per_pass))
    skipped = set()
    if work > 0 and len(tensors) > afford:
        keep = set(rng.choice(tensors, max(afford, 1), replace=False).tolist())
        skipped = set(tensors) - keep
    with np.errstate(all="ignore"):
        vals = interpret.forward(program, leaves)
        if not np.all(np.isfinite(vals[program.loss])):
            # Finite differences of nan are nan: say where the forward pass broke instead of failing every row.
            ops = set(program.ops)
            order = [i for i in range(len(vals)) if i not in ops] + list(program.ops)
            bad = next(i for i in order if vals[i] is not None and not np.all(np.isfinite(vals[i])))
            return GradCheck(iteration, [], not_finite=program.nodes[bad].name)
        grads = interpret.backward(program, vals)
        report = GradCheck(iteration, [], _kink_warnings(program, vals))
        if skipped:
            report.warnings.append(f"checked {len(tensors) - len(skipped):,} of {len(tensors):,} tensors (a seeded "
                                   f"sample): checking them all would take more than {TOTAL_BUDGET:.0e} "
                                   f"multiply-adds")
        for i in program.params + program.values:
            node = program.nodes[i]
            if i in skipped:
                continue
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
                if should_stop is not None and should_stop():
                    raise CheckCancelled
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


@dataclass(frozen=True)
class DirectionalCheck:
    """Reverse mode against forward mode along one random direction v over the inputs."""

    iteration: int
    reverse: float          # ⟨∇E, v⟩: reverse mode's gradient dotted with v
    forward: float          # Ė: forward mode's tangent of the loss, seeded with v
    rel_error: float        # |reverse - forward| / max(|reverse|, |forward|, 1)
    inputs: tuple[str, ...]     # the inputs v spans (values, params and data; not class indices)
    seed: int               # the seed v was drawn from
    rtol: float = DIRECTIONAL_RTOL

    @property
    def passed(self) -> bool:
        return self.rel_error <= self.rtol


def directional_check(program: Program, leaves: dict[int, np.ndarray], iteration: int = 1,
                      seed: int = 0) -> DirectionalCheck:
    """⟨∇E, v⟩ from one reverse pass against the loss's tangent from one forward-mode pass, for a random
    direction v drawn from seed: a cheap second opinion beside finite differences (one pass of each)."""
    direction = tangents.random_direction(program, seed)
    with np.errstate(all="ignore"):
        vals = interpret.forward(program, leaves)
        grads = interpret.backward(program, vals)
        # math.fsum: the reverse side's dot product adds no rounding of its own.
        reverse = math.fsum(float(x) for i, v in direction.direction.items() if grads[i] is not None
                            for x in np.ravel(grads[i] * v))
        _, tans = tangents.forward(program, leaves, direction)
    t = tans[program.loss]
    fwd = float(t) if t is not None else 0.0
    # Relative to the larger of the two, or absolute when both are below 1 (as the autograd comparisons
    # do): a directional derivative that is 0 in exact arithmetic (sum(softmax(x)) is constant) comes out
    # as rounding noise of order 1e-16 in both modes, which no relative measure could call equal.
    scale = max(abs(reverse), abs(fwd), 1.0)
    rel = abs(reverse - fwd) / scale if math.isfinite(reverse) and math.isfinite(fwd) else math.inf
    return DirectionalCheck(iteration, reverse, fwd, rel, tuple(program.nodes[i].name for i in direction.direction),
                            seed)
