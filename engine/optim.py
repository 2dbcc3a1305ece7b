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


# An optimizer's step is a short program: (ufunc, input names, output name) per call. Names are "w",
# "g", the state slots (m, v, b), temporaries, and scalars (η and the constants of this step). The
# Stepper runs it allocating (every output a fresh array, so the old state stays for going back);
# the fast path compiles it once to C-level calls on its buffers, with the scalars in 0-d arrays.
Call = tuple[Callable, tuple[str, ...], str]


@dataclass(frozen=True)
class Optimizer:
    """One optimizer: its options, the state it keeps, its step as a program, and its printed lines."""

    name: str
    options: dict[str, object]                        # option -> default (PyTorch's)
    slots: Callable[[dict], tuple[str, ...]]          # state arrays kept per param, given the options
    program: Callable[[dict, bool], tuple[Call, ...]]  # (options, first step?) -> the calls of one step
    scalars: Callable[[int, float, dict], dict]       # (steps before, η, options) -> the scalars' values
    lines: Callable[[dict], list[tuple[str, str]]]    # (quantity, formula) shown per param, given the options
    check: Callable[[dict], str | None] = lambda opts: None
    sign: float = 1.0                                 # Δw = sign·step (SGD keeps η·d and subtracts it: −1)
    per_step: bool = False                            # its scalars change every step (Adam's bias corrections)

    def first_differs(self, opts: dict) -> bool:
        """Whether the very first step runs other calls than the rest (SGD's momentum buffer starts as d)."""
        return self.program(opts, True) != self.program(opts, False)

    def step(self, w, g, state: dict, t: int, lr: float, opts: dict):
        """One step, allocating: (w_new, state_new, step, sign); the arrays given are not written."""
        env = {"w": w, "g": g, **state, **self.scalars(t, lr, opts)}
        for f, ins, out in self.program(opts, t == 0):
            env[out] = f(*[env[n] for n in ins])
        return env["w"], {slot: env[slot] for slot in self.slots(opts)}, env["step"], self.sign

    def temporaries(self, opts: dict) -> set[str]:
        """The names a step writes that are neither w, a state slot nor the step itself."""
        slots = set(self.slots(opts))
        return {out for first in (True, False) for _, _, out in self.program(opts, first)} - slots - {"w"}


REGISTRY: dict[str, Optimizer] = {}


def defoptim(opt: Optimizer) -> Optimizer:
    REGISTRY[opt.name] = opt
    return opt


def _decay(o: dict) -> tuple[tuple[Call, ...], str]:
    """d = g + λ·w (L2 weight decay folded into the gradient): its calls, and the name d has."""
    if not o["weight_decay"]:
        return (), "g"
    return ((np.multiply, ("w", "wd"), "wdw"), (np.add, ("g", "wdw"), "d")), "d"


# ------------------------------------------------------------------------------------------- SGD
def _sgd_program(o: dict, first: bool) -> tuple[Call, ...]:
    calls, d = _decay(o)
    if o["momentum"]:
        if first:                                  # the first step: the buffer is d itself, no dampening
            calls += ((np.positive, (d,), "b"),)
        else:
            calls += ((np.multiply, ("b", "mu"), "b"), (np.multiply, (d, "damp"), "step"), (np.add, ("b", "step"), "b"))
        if o["nesterov"]:                          # "step" is the one scratch array until it holds the step
            calls += ((np.multiply, ("b", "mu"), "step"), (np.add, (d, "step"), "step"))
            d = "step"
        else:
            d = "b"
    # w − η·d, as η·d then a subtraction: the update plain SGD always had (the same bits as before).
    return calls + ((np.multiply, ("lr", d), "step"), (np.subtract, ("w", "step"), "w"))


def _sgd_check(o: dict) -> str | None:
    if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
        return "nesterov = true needs momentum > 0 and dampening = 0 (PyTorch refuses it too)"
    return None


defoptim(Optimizer(
    "sgd", {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
    lambda o: ("b",) if o["momentum"] else (),
    _sgd_program,
    lambda t, lr, o: {"lr": lr, "wd": o["weight_decay"], "mu": o["momentum"], "damp": 1.0 - o["dampening"]},
    lambda o: ([("d", "g + λ·w")] if o["weight_decay"] else [])
    + ([("b", "μ·b + (1 − τ)·d  (b = d on the first step)")] if o["momentum"] else [])
    + ([("d2", "d + μ·b  (Nesterov)")] if o["nesterov"] else [])
    + [("Δw", "−η·" + ("(d + μ·b)" if o["nesterov"] else "b" if o["momentum"] else "d" if o["weight_decay"] else "g")),
       ("w_new", "w + Δw")],
    _sgd_check, -1.0))


# ------------------------------------------------------------------------------------------- Adam, AdamW
def _adam_core(d: str) -> tuple[Call, ...]:
    # One scratch array, "step", for every intermediate (it ends as the step): on the fast path five
    # param-sized temporaries cost the wide net's Adam about 5 % in cache traffic. Same calls, same bits.
    return ((np.subtract, (d, "m"), "step"), (np.multiply, ("step", "c1"), "step"), (np.add, ("m", "step"), "m"),
            (np.multiply, ("v", "b2"), "v"), (np.multiply, (d, d), "step"), (np.multiply, ("step", "c2"), "step"),
            (np.add, ("v", "step"), "v"),                                                        # lerp of m, v
            (np.sqrt, ("v",), "step"), (np.divide, ("step", "bc2"), "step"), (np.add, ("step", "eps"), "step"),
            (np.divide, ("m", "step"), "step"), (np.multiply, ("step", "neg"), "step"), (np.add, ("w", "step"), "w"))


def _adam_program(o: dict, first: bool) -> tuple[Call, ...]:
    calls, d = _decay(o)
    return calls + _adam_core(d)


def _adamw_program(o: dict, first: bool) -> tuple[Call, ...]:
    decay = ((np.multiply, ("w", "keep"), "w"),) if o["weight_decay"] else ()     # decoupled decay first
    return decay + _adam_core("g")


def _adam_scalars(t: int, lr: float, o: dict) -> dict:
    b1, b2 = o["betas"]
    k = t + 1
    return {"lr": lr, "wd": o["weight_decay"], "c1": 1.0 - b1, "b2": b2, "c2": 1.0 - b2, "eps": o["eps"],
            "bc2": math.sqrt(1.0 - b2 ** k), "neg": -(lr / (1.0 - b1 ** k)), "keep": 1.0 - lr * o["weight_decay"]}


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


defoptim(Optimizer("adam", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}, lambda o: ("m", "v"),
                   _adam_program, _adam_scalars, lambda o: _adam_lines(o, False), _adam_check, per_step=True))
defoptim(Optimizer("adamw", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}, lambda o: ("m", "v"),
                   _adamw_program, _adam_scalars, lambda o: _adam_lines(o, True), _adam_check, per_step=True))


# ------------------------------------------------------------------------------------------- RMSprop
def _rmsprop_program(o: dict, first: bool) -> tuple[Call, ...]:
    calls, d = _decay(o)
    # One scratch array, "step", for every intermediate, as Adam's (same calls, same bits).
    calls += ((np.multiply, ("v", "alpha"), "v"), (np.multiply, (d, d), "step"), (np.multiply, ("step", "c"), "step"),
              (np.add, ("v", "step"), "v"), (np.sqrt, ("v",), "step"), (np.add, ("step", "eps"), "step"),
              (np.divide, (d, "step"), "step"))
    if o["momentum"]:
        calls += ((np.multiply, ("b", "mu"), "b"), (np.add, ("b", "step"), "b"), (np.multiply, ("b", "neg"), "step"))
    else:
        calls += ((np.multiply, ("step", "neg"), "step"),)
    return calls + ((np.add, ("w", "step"), "w"),)


def _rmsprop_check(o: dict) -> str | None:
    if not 0.0 <= o["alpha"] <= 1.0:
        return f"alpha must lie in [0, 1], got {o['alpha']:g}"
    return None


defoptim(Optimizer(
    "rmsprop", {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0},
    lambda o: ("v", "b") if o["momentum"] else ("v",),
    _rmsprop_program,
    lambda t, lr, o: {"lr": lr, "wd": o["weight_decay"], "alpha": o["alpha"], "c": 1.0 - o["alpha"],
                      "eps": o["eps"], "mu": o["momentum"], "neg": -lr},
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
        """Plain SGD (no momentum, no decay anywhere): w ← w − η·g, and no state."""
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


def compile_step(opt: Optimizer, opts: dict, first: bool, buffers: dict[str, np.ndarray],
                 scalars: dict[str, np.ndarray]) -> list:
    """An optimizer's step as C-level calls writing into buffers (w, g, state, temporaries, step), with
    the scalars read from 0-d arrays the caller refreshes each iteration: the Stepper's calls exactly."""
    env = {**buffers, **scalars}
    return [partial(f, *[env[n] for n in ins], env[out]) for f, ins, out in opt.program(opts, first)]
