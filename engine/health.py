"""Gradient health: measures a person looks at to see whether training is working.

- per param: ‖∂E/∂w‖ and the update ratio ‖Δw‖/‖w‖ (about 1e-3 is the usual rule of thumb; far below,
  learning stalls; far above, it is unstable);
- per node whose op dies (relu): the fraction of dead units, 0 for every row of the batch;
- per node whose op saturates (tanh, sigmoid): the fraction of outputs in the flat tails;
- gradient flow: the gradient's size (root mean square) at the param nearest the inputs over the one
  nearest the loss; orders of magnitude below 1 is vanishing, above is exploding.

The functions read arrays and never change them; conditions (dead, saturated, ratio) call the
same ones, so a condition and the health view agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .program import Program

VANISHING = 1e-3          # gradient flow below this ratio is reported as vanishing
EXPLODING = 1e3           # and above this one as exploding


def dead_fraction(h: np.ndarray) -> float:
    """Fraction of units that are 0 for every row: the leading axis is the batch when there are two or more."""
    h = np.asarray(h)
    if h.ndim <= 1:
        return float(np.mean(h == 0.0)) if h.size else 0.0
    return float(np.mean(np.all(h == 0.0, axis=0)))


def saturated_fraction(t: np.ndarray, lo: float, hi: float) -> float:
    """Fraction of outputs outside (lo, hi): tanh beyond ±0.99, sigmoid below 0.01 or above 0.99."""
    t = np.asarray(t)
    return float(np.mean((t < lo) | (t > hi))) if t.size else 0.0


def update_ratio(step: np.ndarray, w: np.ndarray) -> float:
    """‖Δw‖/‖w‖, with w as it stands after the update (inf for a zero param that moved)."""
    s = float(np.linalg.norm(np.ravel(step)))
    n = float(np.linalg.norm(np.ravel(w)))
    if n == 0.0:
        return 0.0 if s == 0.0 else math.inf
    return s / n


def rms(a: np.ndarray) -> float:
    a = np.asarray(a)
    return float(np.sqrt(np.mean(np.square(a)))) if a.size else 0.0


@dataclass
class HealthSample:
    """The health measures of one iteration."""

    iteration: int
    grad_norm: dict[str, float] = field(default_factory=dict)      # param -> ‖∂E/∂w‖
    update_ratio: dict[str, float] = field(default_factory=dict)   # param -> ‖Δw‖/‖w‖
    dead: dict[str, float] = field(default_factory=dict)           # relu node -> fraction of dead units
    saturated: dict[str, float] = field(default_factory=dict)      # tanh/sigmoid node -> fraction
    flow: float | None = None          # rms gradient nearest the inputs ÷ nearest the loss
    verdict: str = "ok"                # "ok", "vanishing" or "exploding"

    def as_dict(self) -> dict:
        return {"iteration": self.iteration, "grad_norm": self.grad_norm, "update_ratio": self.update_ratio,
                "dead": self.dead, "saturated": self.saturated, "flow": self.flow, "verdict": self.verdict}


class HealthMonitor:
    """Which nodes and params a program has health measures for, and how to measure an iteration."""

    def __init__(self, program: Program):
        p = program
        self.program = p
        self.dying = [i for i in p.ops if p.nodes[i].op.dies]
        self.saturating = [i for i in p.ops if p.nodes[i].op.saturates is not None]
        # Params from the loss towards the inputs: in the order the backward pass completes them.
        done = []
        for i in p.backward:
            for _, j in p.passes_to[i]:
                if p.nodes[j].kind == "param" and j not in done:
                    done.append(j)
        self.params_by_depth = done

    def measure(self, iteration: int, value, grad, step) -> HealthSample:
        """One iteration's measures from accessors value(node), grad(node) and step(param) (None: unknown)."""
        p = self.program
        out = HealthSample(iteration)
        with np.errstate(all="ignore"):
            for i in p.params:
                name = p.nodes[i].name
                g = grad(i)
                if g is not None:
                    out.grad_norm[name] = float(np.linalg.norm(np.ravel(g)))
                s = step(i)
                if s is not None:
                    out.update_ratio[name] = update_ratio(s, value(i))
            for i in self.dying:
                v = value(i)
                if v is not None:
                    out.dead[p.nodes[i].name] = dead_fraction(v)
            for i in self.saturating:
                v = value(i)
                if v is not None:
                    lo, hi = p.nodes[i].op.saturates
                    out.saturated[p.nodes[i].name] = saturated_fraction(v, lo, hi)
            if len(self.params_by_depth) >= 2:
                near_loss, near_input = grad(self.params_by_depth[0]), grad(self.params_by_depth[-1])
                if near_loss is not None and near_input is not None:
                    top = rms(near_loss)
                    out.flow = rms(near_input) / top if top > 0 else (math.inf if rms(near_input) else None)
                    if out.flow is not None and out.flow < VANISHING:
                        out.verdict = "vanishing"
                    elif out.flow is not None and out.flow > EXPLODING:
                        out.verdict = "exploding"
        return out


class HealthRecorder:
    """Health measures of fast-path iterations, every `every`-th one (and the last), read from a plan's buffers."""

    def __init__(self, program: Program, every: int, last: int):
        self.monitor = HealthMonitor(program)
        self.every, self.last = max(1, every), last
        self.samples: dict[int, HealthSample] = {}

    def __call__(self, iteration: int, plan) -> None:
        if iteration % self.every and iteration != self.last:
            return
        grads = {u.param: u.g for u in plan.updates}
        steps = {u.param: u for u in plan.updates}
        self.samples[iteration] = self.monitor.measure(
            iteration, lambda i: plan.vals[i], grads.get, lambda i: steps[i].delta if i in steps else None)
