"""Reference numbers from PyTorch for gradstep's optimizers and learning-rate schedules.

Writes, next to this file:
- case_<name>.toml: one gradstep scenario per case (the same small tanh MLP, its values and
  params written as float literals with full precision, and a [train] table naming the optimizer);
- reference.json: for every case, per iteration: the effective learning rate, the loss (before
  that iteration's update), the raw gradients (param.grad, weight decay not folded in) and the
  params after the update, all computed by PyTorch's own optimizers in float64; plus a
  "schedules" section: the learning rates PyTorch's own LR schedulers produce, to check
  gradstep's closed forms against.

Run it with the throwaway venv that has torch (never install torch into .venv):

    /tmp/torchvenv/bin/python tests/engine/optim_reference/make_reference.py

Its outputs are committed, so `make test` needs no torch. It is deterministic: running it twice
gives byte-identical files. Imports torch and numpy only.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
PARAM_NAMES = ("W1", "b1", "W2", "b2")
SEED = 7

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------- the model's numbers

def initial_numbers() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return {
        "x": rng.normal(0.0, 1.0, (6, 3)),
        "y": rng.normal(0.0, 0.5, (6, 2)),
        "W1": rng.normal(0.0, 0.5, (3, 4)),
        "b1": rng.normal(0.0, 0.5, (4,)),
        "W2": rng.normal(0.0, 0.5, (4, 2)),
        "b2": rng.normal(0.0, 0.5, (2,)),
    }


# adam_first_step: the first output's target is scaled up by 1e3 and the second's down by 1e-3,
# so the gradients of W2[:, 0] and b2[0] are about a thousand times those of W2[:, 1] and b2[1]
# (and W1's follow column 0); Adam's first step still moves every element by about lr.
FIRST_STEP_Y_SCALE = (1e3, 1e-3)


# ---------------------------------------------------------------- schedules (gradstep's closed forms)

def schedule_factor(spec: dict, k: int, base: float) -> float:
    """gradstep's factor for iteration k = 1, 2, ... (lr_k = learning_rate * factor)."""
    kind = spec["kind"]
    if kind == "step":
        return spec["gamma"] ** ((k - 1) // spec["every"])
    if kind == "exponential":
        return spec["gamma"] ** (k - 1)
    if kind == "cosine":
        T, m = spec["steps"], spec["min_lr"]
        if k - 1 > T:
            return m / base
        return (m + (base - m) * (1 + math.cos(math.pi * (k - 1) / T)) / 2) / base
    if kind == "warmup":
        return min(1.0, k / spec["steps"])
    raise ValueError(kind)


def scheduled_lr(base: float, schedule, k: int) -> float:
    if schedule is None:
        return base
    specs = schedule if isinstance(schedule, list) else [schedule]
    factor = 1.0
    for spec in specs:
        factor *= schedule_factor(spec, k, base)
    return base * factor


# ---------------------------------------------------------------- the cases

CASES = [
    dict(name="sgd", optimizer="sgd", lr=0.1),
    dict(name="sgd_momentum", optimizer="sgd", lr=0.05, momentum=0.9),
    dict(name="sgd_dampening", optimizer="sgd", lr=0.05, momentum=0.9, dampening=0.5),
    dict(name="sgd_nesterov", optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True),
    dict(name="sgd_weight_decay", optimizer="sgd", lr=0.1, momentum=0.5, weight_decay=0.01),
    dict(name="adam", optimizer="adam", lr=0.01),
    dict(name="adam_options", optimizer="adam", lr=0.02, betas=[0.8, 0.95], eps=1e-6, weight_decay=0.01),
    dict(name="adamw", optimizer="adamw", lr=0.01),
    dict(name="adamw_decay", optimizer="adamw", lr=0.02, weight_decay=0.1),
    dict(name="rmsprop", optimizer="rmsprop", lr=0.01),
    dict(name="rmsprop_momentum", optimizer="rmsprop", lr=0.005, momentum=0.9, weight_decay=0.01),
    dict(name="param_groups", optimizer="adam", lr=0.02, weight_decay=0.05,
         per_param={"W1": {"learning_rate": 0.005, "weight_decay": 0.0}}),
    dict(name="sched_step", optimizer="sgd", lr=0.1, momentum=0.9, steps=10,
         schedule={"kind": "step", "every": 3, "gamma": 0.5}),
    dict(name="sched_exponential", optimizer="adam", lr=0.02,
         schedule={"kind": "exponential", "gamma": 0.8}),
    dict(name="sched_cosine", optimizer="sgd", lr=0.1, steps=10,
         schedule={"kind": "cosine", "steps": 6, "min_lr": 0.001}),
    dict(name="sched_warmup_cosine", optimizer="adamw", lr=0.02, steps=10,
         schedule=[{"kind": "warmup", "steps": 3}, {"kind": "cosine", "steps": 10, "min_lr": 0.001}]),
    dict(name="eta_change", optimizer="adam", lr=0.01, eta_change={"from": 4, "eta": 0.05}),
    dict(name="adam_first_step", optimizer="adam", lr=0.1, steps=1, y_scale=FIRST_STEP_Y_SCALE),
]

# [train] keys in the order they are written; the optimizer's own options use PyTorch's names.
OPTION_KEYS = ("momentum", "dampening", "nesterov", "betas", "eps", "alpha", "weight_decay")


def make_optimizer(case: dict, params: dict[str, torch.Tensor]) -> torch.optim.Optimizer:
    kind = case["optimizer"]
    opts = {k: case[k] for k in OPTION_KEYS if k in case}
    if "betas" in opts:
        opts["betas"] = tuple(opts["betas"])
    per_param = case.get("per_param", {})
    groups, rest = [], []
    for name in PARAM_NAMES:
        if name in per_param:
            group = {"params": [params[name]]}
            for key, value in per_param[name].items():
                group[{"learning_rate": "lr"}.get(key, key)] = value
            groups.append(group)
        else:
            rest.append(params[name])
    if rest:
        groups.append({"params": rest})
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop}[kind]
    return cls(groups, lr=case["lr"], foreach=False, **opts)


def forward(values: dict[str, torch.Tensor], params: dict[str, torch.Tensor]) -> torch.Tensor:
    h = torch.tanh(values["x"] @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return torch.mean((out - values["y"]) ** 2)


def run_case(case: dict, numbers: dict[str, np.ndarray]) -> dict:
    steps = case.get("steps", 8)
    values = {k: torch.tensor(numbers[k]) for k in ("x", "y")}
    params = {k: torch.tensor(numbers[k], requires_grad=True) for k in PARAM_NAMES}
    opt = make_optimizer(case, params)
    base_lrs = [g["lr"] for g in opt.param_groups]
    rec = {"name": case["name"], "scenario": f"case_{case['name']}.toml", "steps": steps,
           "lr": [], "loss": [], "grads": [], "params": []}
    if "eta_change" in case:
        rec["eta_change"] = case["eta_change"]
    for k in range(1, steps + 1):
        # effective learning rate of iteration k: the schedule's closed form, or the set-eta change
        if "eta_change" in case and k >= case["eta_change"]["from"]:
            lrs = [case["eta_change"]["eta"] for _ in base_lrs]
            lr = case["eta_change"]["eta"]
        else:
            lrs = [scheduled_lr(b, case.get("schedule"), k) for b in base_lrs]
            lr = scheduled_lr(case["lr"], case.get("schedule"), k)
        for group, group_lr in zip(opt.param_groups, lrs):
            group["lr"] = group_lr
        opt.zero_grad(set_to_none=True)
        loss = forward(values, params)
        loss.backward()
        rec["lr"].append(lr)
        rec["loss"].append(loss.item())
        rec["grads"].append({n: params[n].grad.tolist() for n in PARAM_NAMES})
        opt.step()
        rec["params"].append({n: params[n].detach().tolist() for n in PARAM_NAMES})
    return rec


# ---------------------------------------------------------------- PyTorch's own schedulers

SCHEDULES = [
    ("step", {"every": 3, "gamma": 0.5}),
    ("exponential", {"gamma": 0.9}),
    ("cosine", {"steps": 10, "min_lr": 0.001}),
    ("warmup", {"steps": 4}),
]
SCHEDULE_BASE_LR = 0.1
SCHEDULE_ITERATIONS = 12


def torch_schedule(kind: str, p: dict) -> list[float]:
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=SCHEDULE_BASE_LR, foreach=False)
    sched = {
        "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=p["every"], gamma=p["gamma"]),
        "exponential": lambda: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=p["gamma"]),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=p["steps"], eta_min=p["min_lr"]),
        "warmup": lambda: torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / p["steps"], end_factor=1.0,
                                                             total_iters=p["steps"] - 1),
    }[kind]()
    lrs = []
    for _ in range(SCHEDULE_ITERATIONS):
        lrs.append(float(opt.param_groups[0]["lr"]))
        w.grad = torch.zeros(1)
        opt.step()
        sched.step()
    return lrs


def schedules_section() -> list[dict]:
    out = []
    for kind, p in SCHEDULES:
        spec = {"kind": kind, **p}
        entry = {"kind": kind, "params": p, "base_lr": SCHEDULE_BASE_LR, "lr": torch_schedule(kind, p),
                 # gradstep's closed form for the same schedule, for reading alongside
                 "closed_form_lr": [scheduled_lr(SCHEDULE_BASE_LR, spec, k)
                                    for k in range(1, SCHEDULE_ITERATIONS + 1)]}
        if kind == "cosine":
            # PyTorch's CosineAnnealingLR is periodic: past T_max it climbs back up (iteration
            # T_max + 3 repeats iteration T_max + 1's lr), where gradstep holds min_lr.
            entry["note"] = ("torch's CosineAnnealingLR keeps going past T_max (the cosine climbs back up); "
                             "gradstep holds min_lr there, so the two agree for iterations 1..steps+1 only")
            entry["agree_through"] = p["steps"] + 1
        out.append(entry)
    return out


# ---------------------------------------------------------------- writing

def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def toml_array(a: np.ndarray) -> str:
    if a.ndim == 1:
        return "[" + ", ".join(repr(float(x)) for x in a) + "]"
    rows = [toml_array(r) for r in a]
    return "[\n    " + ",\n    ".join(rows) + ",\n]"


def case_toml(case: dict, numbers: dict[str, np.ndarray]) -> str:
    lines = ["[scenario]", f'title = "optimizer reference: {case["name"]}"', "seed = 0", "", "[values]"]
    for k in ("x", "y"):
        lines.append(f"{k} = {toml_array(numbers[k])}")
    lines += ["", "[params]"]
    for k in PARAM_NAMES:
        lines.append(f"{k} = {toml_array(numbers[k])}")
    lines += ["", "[graph]", 'h = "tanh(x @ W1 + b1)"', 'out = "h @ W2 + b2"', 'E = "mean((out - y) ** 2)"',
              "", "[train]", 'loss = "E"', f"learning_rate = {toml_value(case['lr'])}",
              f"steps = {case.get('steps', 8)}", f'optimizer = "{case["optimizer"]}"']
    for key in OPTION_KEYS:
        if key in case:
            lines.append(f"{key} = {toml_value(case[key])}")
    if "schedule" in case:
        lines.append(f"schedule = {toml_value(case['schedule'])}")
    for name, overrides in case.get("per_param", {}).items():
        lines += ["", f"[train.params.{name}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in overrides.items()]
    return "\n".join(lines) + "\n"


def compact(obj, indent: int = 0) -> str:
    """JSON with dicts spread over lines and every list of numbers (nested or not) on one line."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        if all(not isinstance(v, (dict, list)) or _numeric(v) for v in obj.values()) and len(obj) <= 4 \
                and sum(len(json.dumps(v)) for v in obj.values()) < 200:
            return json.dumps(obj)
        items = [f"{inner}{json.dumps(k)}: {compact(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and not _numeric(obj):
        items = [f"{inner}{compact(v, indent + 2)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj)


def _numeric(v) -> bool:
    if isinstance(v, list):
        return all(_numeric(x) for x in v)
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def main() -> None:
    base = initial_numbers()
    cases = []
    for case in CASES:
        numbers = dict(base)
        if "y_scale" in case:
            numbers["y"] = base["y"] * np.asarray(case["y_scale"])
        (HERE / f"case_{case['name']}.toml").write_text(case_toml(case, numbers))
        cases.append(run_case(case, numbers))
    reference = {
        "generator": "make_reference.py",
        "torch": torch.__version__,
        "dtype": "float64",
        "cases": cases,
        "schedules": schedules_section(),
    }
    (HERE / "reference.json").write_text(compact(reference) + "\n")


if __name__ == "__main__":
    main()
