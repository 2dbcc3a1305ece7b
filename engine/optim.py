"""Optimizers and learning-rate schedules: one row each.

A row holds the options it takes (PyTorch's names and defaults), the state it keeps per param, one
step, and the printed lines that show each quantity of that step. The step is written once, as
NumPy calls whose results go where ``out`` says: fresh arrays for the Stepper (so stepping back
restores the old ones), or the fast path's own buffers for whole iterations. The same calls in the
same order give the same bits either way.

The rules are PyTorch's (torch.optim.SGD, Adam, AdamW, RMSprop with foreach=False):

- SGD: d = g + λ·w; with momentum μ: b = d on the first step, else b = μ·b + (1 − τ)·d; Nesterov
  uses d + μ·b, else b; w ← w − η·d.
- Adam: d = g + λ·w; m ← m + (1 − β1)·(d − m) (= β1·m + (1 − β1)·d); v ← β2·v + (1 − β2)·d²;
  Δw = −(η/(1 − β1ᵗ))·m/(√v/√(1 − β2ᵗ) + ε); w ← w + Δw. ε is added after the square root of v̂.
- AdamW: w ← w·(1 − η·λ) first (decoupled decay), then the Adam step without λ.
- RMSprop: d = g + λ·w; v ← α·v + (1 − α)·d² (v starts at 0); with momentum μ: b ← μ·b + d/(√v + ε),
  Δw = −η·b; else Δw = −η·d/(√v + ε).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np


class Out:
    """Where a step's results go: None (NumPy allocates) for the Stepper, named buffers for the fast path."""

    __slots__ = ("buffers",)

    def __init__(self, buffers: dict[str, np.ndarray] | None = None):
        self.buffers = buffers

    def __call__(self, name: str):
        return None if self.buffers is None else self.buffers[name]


@dataclass(frozen=True)
class Optimizer:
    """One optimizer: its options, the state it keeps, one step, and how each quantity is printed."""

    name: str
    options: dict[str, object]                        # option -> default (PyTorch's)
    slots: Callable[[dict], tuple[str, ...]]          # state arrays kept per param, given the options
    temporaries: tuple[str, ...]                      # scratch buffers the fast path gives the step
    step: Callable                                    # (out, w, g, state, t, lr, opts) -> (w_new, state_new, step, sign)
    lines: Callable[[dict], list[tuple[str, str]]]    # (quantity, formula) shown per param, given the options
    check: Callable[[dict], str | None] = lambda opts: None
    sign: float = 1.0                                 # Δw = sign·step (SGD keeps η·d and subtracts it: −1)


REGISTRY: dict[str, Optimizer] = {}


def defoptim(opt: Optimizer) -> Optimizer:
    REGISTRY[opt.name] = opt
    return opt


def _decayed(out: Out, g, w, wd: float):
    """d = g + λ·w (L2 weight decay folded into the gradient), or g itself when λ = 0."""
    if not wd:
        return g
    return np.add(g, np.multiply(w, wd, out=out("wd")), out=out("d"))


# ------------------------------------------------------------------------------------------- SGD
def _sgd_step(out: Out, w, g, st: dict, t: int, lr, o: dict):
    d = _decayed(out, g, w, o["weight_decay"])
    new = {}
    mu = o["momentum"]
    if mu:
        if t == 0:                          # the first step: the buffer is d itself, no dampening
            if out.buffers is None:
                b = np.array(d, copy=True)
            else:
                b = out("b")
                np.copyto(b, d)
        else:
            b = np.add(np.multiply(st["b"], mu, out=out("mb")), np.multiply(d, 1.0 - o["dampening"], out=out("db")),
                       out=out("b"))
        new["b"] = b
        d = np.add(d, np.multiply(b, mu, out=out("nb")), out=out("d2")) if o["nesterov"] else b
    # w − η·d, as η·d then a subtraction (the update SGD always had: the same bits as before).
    step = np.multiply(lr, d, out=out("step"))
    return np.subtract(w, step, out=out("w")), new, step, -1.0


def _sgd_check(o: dict) -> str | None:
    if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
        return "nesterov = true needs momentum > 0 and dampening = 0 (PyTorch refuses it too)"
    return None


defoptim(Optimizer(
    "sgd", {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
    lambda o: ("b",) if o["momentum"] else (),
    ("wd", "d", "mb", "db", "nb", "d2"),
    _sgd_step,
    lambda o: ([("d", "g + λ·w")] if o["weight_decay"] else [])
    + ([("b", "μ·b + (1 − τ)·d  (b = d on the first step)")] if o["momentum"] else [])
    + ([("d", "d + μ·b  (Nesterov)")] if o["nesterov"] else [("d", "b")] if o["momentum"] else [])
    + [("Δw", "−η·d"), ("w_new", "w + Δw")],
    _sgd_check, -1.0))


# ------------------------------------------------------------------------------------------- Adam, AdamW
def _adam_core(out: Out, w, d, st: dict, t: int, lr, o: dict):
    b1, b2 = o["betas"]
    m = np.add(st["m"], np.multiply(np.subtract(d, st["m"], out=out("dm")), 1.0 - b1, out=out("dm")),
               out=out("m"))                                            # m + (1 − β1)(d − m): torch's lerp
    v = np.add(np.multiply(st["v"], b2, out=out("vb")),
               np.multiply(np.multiply(d, d, out=out("dd")), 1.0 - b2, out=out("dd")), out=out("v"))
    k = t + 1
    bc1 = 1.0 - b1 ** k
    bc2_sqrt = math.sqrt(1.0 - b2 ** k)
    denom = np.add(np.divide(np.sqrt(v, out=out("den")), bc2_sqrt, out=out("den")), o["eps"], out=out("den"))
    step = np.multiply(np.divide(m, denom, out=out("step")), -(lr / bc1), out=out("step"))
    return np.add(w, step, out=out("w")), {"m": m, "v": v}, step, 1.0


def _adam_step(out: Out, w, g, st: dict, t: int, lr, o: dict):
    return _adam_core(out, w, _decayed(out, g, w, o["weight_decay"]), st, t, lr, o)


def _adamw_step(out: Out, w, g, st: dict, t: int, lr, o: dict):
    if o["weight_decay"]:
        w = np.multiply(w, 1.0 - lr * o["weight_decay"], out=out("w"))    # decoupled decay first
    return _adam_core(out, w, g, st, t, lr, o)


def _adam_check(o: dict) -> str | None:
    b1, b2 = o["betas"]
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        return f"betas must each lie in [0, 1), got [{b1:g}, {b2:g}]"
    return None


def _adam_lines(o: dict, decoupled: bool) -> list[tuple[str, str]]:
    out = []
    if decoupled and o["weight_decay"]:
        out.append(("w", "w·(1 − η·λ)  (decoupled decay)"))
    if not decoupled and o["weight_decay"]:
        out.append(("d", "g + λ·w"))
    d = "d" if (o["weight_decay"] and not decoupled) else "g"
    return out + [("m", f"β1·m + (1 − β1)·{d}"), ("v", f"β2·v + (1 − β2)·{d}²"), ("m̂", "m/(1 − β1ᵗ)"),
                  ("v̂", "v/(1 − β2ᵗ)"), ("Δw", "−η·m̂/(√v̂ + ε)"), ("w_new", "w + Δw")]


ADAM_TEMPS = ("wd", "d", "dm", "vb", "dd", "den")
defoptim(Optimizer("adam", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}, lambda o: ("m", "v"),
                   ADAM_TEMPS, _adam_step, lambda o: _adam_lines(o, False), _adam_check))
defoptim(Optimizer("adamw", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}, lambda o: ("m", "v"),
                   ADAM_TEMPS, _adamw_step, lambda o: _adam_lines(o, True), _adam_check))


# ------------------------------------------------------------------------------------------- RMSprop
def _rmsprop_step(out: Out, w, g, st: dict, t: int, lr, o: dict):
    d = _decayed(out, g, w, o["weight_decay"])
    a = o["alpha"]
    v = np.add(np.multiply(st["v"], a, out=out("va")),
               np.multiply(np.multiply(d, d, out=out("dd")), 1.0 - a, out=out("dd")), out=out("v"))
    avg = np.add(np.sqrt(v, out=out("avg")), o["eps"], out=out("avg"))
    new = {"v": v}
    if o["momentum"]:
        b = np.add(np.multiply(st["b"], o["momentum"], out=out("mb")), np.divide(d, avg, out=out("q")),
                   out=out("b"))
        new["b"] = b
        step = np.multiply(b, -lr, out=out("step"))
    else:
        step = np.multiply(np.divide(d, avg, out=out("step")), -lr, out=out("step"))
    return np.add(w, step, out=out("w")), new, step, 1.0


def _rmsprop_check(o: dict) -> str | None:
    if not 0.0 <= o["alpha"] <= 1.0:
        return f"alpha must lie in [0, 1], got {o['alpha']:g}"
    return None


defoptim(Optimizer(
    "rmsprop", {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0},
    lambda o: ("v", "b") if o["momentum"] else ("v",),
    ("wd", "d", "va", "dd", "avg", "mb", "q"),
    _rmsprop_step,
    lambda o: ([("d", "g + λ·w")] if o["weight_decay"] else [])
    + [("v", "α·v + (1 − α)·d²")]
    + ([("b", "μ·b + d/(√v + ε)"), ("Δw", "−η·b")] if o["momentum"] else [("Δw", "−η·d/(√v + ε)")])
    + [("w_new", "w + Δw")],
    _rmsprop_check))


# ------------------------------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class Schedule:
    """One schedule kind: its keys (all needed) and the factor it gives iteration k (from 1)."""

    kind: str
    keys: tuple[str, ...]
    factor: Callable[[int, dict, float], float]       # (k, params, base learning rate) -> factor
    formula: str


def _cosine(k: int, s: dict, base: float) -> float:
    if base == 0.0:
        return 1.0
    e = min(k - 1, s["steps"])
    lr = s["min_lr"] + (base - s["min_lr"]) * (1.0 + math.cos(math.pi * e / s["steps"])) / 2.0
    return lr / base


SCHEDULES: dict[str, Schedule] = {s.kind: s for s in (
    Schedule("step", ("every", "gamma"), lambda k, s, b: s["gamma"] ** ((k - 1) // s["every"]),
             "γ^⌊(k − 1)/every⌋"),
    Schedule("exponential", ("gamma",), lambda k, s, b: s["gamma"] ** (k - 1), "γ^(k − 1)"),
    Schedule("cosine", ("steps", "min_lr"), _cosine,
             "(min_lr + (η − min_lr)·(1 + cos(π·(k − 1)/T))/2)/η, min_lr after T"),
    Schedule("warmup", ("steps",), lambda k, s, b: min(1.0, k / s["steps"]), "min(1, k/W)"),
)}


def schedule_factor(schedules: tuple[tuple[str, dict], ...], k: int, base: float) -> float:
    """The product of the schedules' factors at iteration k (1 with no schedule)."""
    f = 1.0
    for kind, params in schedules:
        f *= SCHEDULES[kind].factor(k, params, base)
    return f


@dataclass(frozen=True)
class Training:
    """The optimizer a scenario trains with: its row, options, schedules and per-param overrides."""

    optimizer: Optimizer
    options: dict
    schedules: tuple[tuple[str, dict], ...] = ()
    learning_rates: dict[int, float] | None = None     # param id -> its own base learning rate
    decays: dict[int, float] | None = None             # param id -> its own weight decay

    def options_for(self, param: int) -> dict:
        if self.decays and param in self.decays:
            return {**self.options, "weight_decay": self.decays[param]}
        return self.options

    def slots(self, param: int) -> tuple[str, ...]:
        return self.optimizer.slots(self.options_for(param))

    @property
    def plain(self) -> bool:
        """Plain SGD (no momentum, no decay anywhere): w ← w − η·g, kept as two calls in the fast path."""
        o = self.options
        return self.optimizer.name == "sgd" and not o["momentum"] and not o["weight_decay"] and not self.decays

    def lr(self, param: int | None, k: int, eta: float, lr0: float) -> float:
        """The learning rate of a param (None: the scenario's own) in iteration k, when η is set to eta and
        the scenario's learning_rate is lr0. The schedule shapes the scenario's rate (a param's own, if
        it has one); setting η from the debugger scales that by eta/lr0."""
        own = lr0 if lr0 > 0 else eta
        if param is not None and self.learning_rates and param in self.learning_rates:
            own = self.learning_rates[param]
        elif not self.schedules:
            return eta                                       # plain: η exactly as set
        scheduled = own * schedule_factor(self.schedules, k, own) if self.schedules else own
        return (eta / lr0) * scheduled if lr0 > 0 else scheduled

    def describe(self) -> dict:
        """The optimizer's name and options, for `gradstep run --json`."""
        opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.items()}
        return {"name": self.optimizer.name, **opts,
                "schedule": [{"kind": k, **p} for k, p in self.schedules]}


SGD = Training(REGISTRY["sgd"], dict(REGISTRY["sgd"].options))


def explain(t: Training, param: int, w, g, state: dict, iteration: int, lr: float, step, new) -> tuple:
    """The optimizer's lines for one param: (quantity, formula, value or None until known)."""
    o = t.options_for(param)
    values = {"g": g, "w": w, "Δw": step, "w_new": new, **state}
    if state and t.optimizer.name in ("adam", "adamw"):
        b1, b2 = o["betas"]
        values["m̂"] = np.asarray(state["m"]) / (1.0 - b1 ** iteration)
        values["v̂"] = np.asarray(state["v"]) / (1.0 - b2 ** iteration)
    rows = [("g", "∂E/∂w", g)]
    for quantity, formula in t.optimizer.lines(o):
        rows.append((quantity, formula, values.get(quantity) if new is not None else None))
    return tuple(rows)


def delta(step: np.ndarray, sign: float) -> np.ndarray:
    """The change a step made, Δw = sign·step (SGD keeps η·d and subtracts it: sign −1)."""
    return np.negative(step) if sign < 0 else step


def fast_plain_sgd(w: np.ndarray, g: np.ndarray, step: np.ndarray, lr: np.ndarray) -> list:
    """Plain SGD's two C-level calls on the fast path's buffers: step = η·g, w = w − step."""
    return [partial(np.multiply, lr, g, step), partial(np.subtract, w, step, w)]
