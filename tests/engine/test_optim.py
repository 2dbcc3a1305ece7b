"""Optimizers and schedules agree with PyTorch's own numbers, step by step, and stay exact in time travel.

tests/engine/optim_reference/ holds scenarios and the losses, gradients, params and learning rates
that torch.optim (2.13, float64) produced for them, written by make_reference.py; make test needs
no PyTorch. Each case runs here node by node and through the fast path (the two must agree to the
bit) and must match PyTorch to 1e-12 relative, several steps deep: SGD with momentum, dampening,
Nesterov and weight decay, Adam, AdamW, RMSprop, per-param options, every schedule, and η changed
mid-run from the debugger.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradstep.engine import ScenarioError, Stepper, load_scenario, load_scenario_text
from gradstep.engine.optim import SCHEDULES, schedule_factor

REF = Path(__file__).parent / "optim_reference"
DATA = json.loads((REF / "reference.json").read_text())
CASES = {c["name"]: c for c in DATA["cases"]}
RTOL = 1e-12


def close(a, b, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
    worst = float(np.max(np.abs(a - b) / scale)) if a.size else 0.0
    assert worst <= RTOL or float(np.max(np.abs(a - b))) <= 1e-15, f"{what}: relative difference {worst:.2e}"


def _stepper(case):
    sc = load_scenario(REF / case["scenario"])
    return sc, Stepper(sc, steps=case["steps"])


def _names(sc):
    p = sc.program
    return {p.nodes[i].name: i for i in p.params}


@pytest.mark.parametrize("name", list(CASES))
def test_node_by_node_matches_pytorch(name):
    case = CASES[name]
    sc, st = _stepper(case)
    params = _names(sc)
    change = case.get("eta_change")
    for k in range(1, case["steps"] + 1):
        if change and k == change["from"]:
            st.set_eta(change["eta"])
        assert st.cursor.iteration == k
        st.run_phase()                      # forward
        close(st.value(st.program.loss), case["loss"][k - 1], f"{name} loss {k}")
        st.run_phase()                      # backward
        for pname, i in params.items():
            close(st.grad(i), case["grads"][k - 1][pname], f"{name} grad {pname} {k}")
        close(st.eta, case["lr"][k - 1], f"{name} lr {k}")
        events = st.run_phase()             # update: the last step enters the next iteration
        assert [e.kind.value for e in events] == ["update"] * len(params)
        for pname, i in params.items():
            close(st.param(i), case["params"][k - 1][pname], f"{name} {pname} after {k}")


@pytest.mark.parametrize("name", list(CASES))
def test_the_fast_path_gives_the_steppers_bits(name):
    case = CASES[name]
    sc, fast = _stepper(case)
    _, slow = _stepper(case)
    change = case.get("eta_change")
    n = case["steps"]
    if change:
        fast.run_iterations(change["from"] - 1)
        fast.set_eta(change["eta"])
        fast.run_iterations(n - change["from"] + 1)
        slow.seek_iteration(change["from"])
        slow.set_eta(change["eta"])
        slow.seek(0)
    else:
        fast.run_iterations(n)
    while not slow.at_end:
        slow.run_iteration()
    assert fast.at_end and fast.losses.tobytes() == slow.losses.tobytes()
    for i in sc.program.params:
        assert fast.param(i).tobytes() == slow.param(i).tobytes(), sc.program.nodes[i].name
    for pname, i in _names(sc).items():
        close(fast.param(i), case["params"][-1][pname], f"{name} {pname} at the end")


def test_adams_first_step_is_about_eta_times_the_sign_of_g():
    case = CASES["adam_first_step"]
    sc, st = _stepper(case)
    st.run_phase(), st.run_phase()
    grads = {i: st.grad(i).copy() for i in sc.program.params}
    sizes = np.concatenate([np.abs(g).ravel() for g in grads.values()])
    assert sizes.max() / sizes.min() > 1e4            # gradients of very different sizes
    before = {i: st.param(i).copy() for i in sc.program.params}
    st.run_phase()
    for i in sc.program.params:
        step = st.param(i) - before[i]
        np.testing.assert_allclose(step, -0.1 * np.sign(grads[i]), rtol=1e-5)


def test_going_back_restores_the_optimizers_state_bit_for_bit():
    sc, st = _stepper(CASES["rmsprop_momentum"])
    st.run_iterations(3)
    st.run_phase(), st.run_phase()
    before = [(u.w.tobytes(), {k: None if v is None else v.tobytes() for k, v in u.state.items()})
              for u in st.updates()]
    states = []
    for _ in range(len(sc.program.params)):
        st.step()
        states.append([(None if u.new is None else u.new.tobytes(),
                        {k: v.tobytes() for k, v in u.state.items()}) for u in st.updates()])
    for _ in range(len(sc.program.params) - 1):
        st.back()
        now = [(None if u.new is None else u.new.tobytes(), {k: v.tobytes() for k, v in u.state.items()})
               for u in st.updates()]
        assert now == states[len(states) - 2 - _]
    st.back()
    assert [(u.w.tobytes(), {k: None if v is None else v.tobytes() for k, v in u.state.items()})
            for u in st.updates()] == [(b[0], {}) for b in before]
    # And the same state when reached again by seeking from far away.
    tick = st.tick
    st.seek(0)
    st.seek(tick)
    st.step()
    assert [(u.new.tobytes() if u.new is not None else None, {k: v.tobytes() for k, v in u.state.items()})
            for u in st.updates()][0] == states[0][0]


def test_the_update_phase_shows_the_optimizers_lines_with_numbers():
    sc, st = _stepper(CASES["adam"])
    st.run_iterations(2)
    st.run_phase(), st.run_phase()
    u = st.updates()[0]
    assert [q for q, _, _ in u.lines] == ["g", "m", "v", "m̂", "v̂", "Δw", "w_new"]
    assert all(v is None for q, _, v in u.lines[1:])          # not applied yet
    st.step()
    u = st.updates()[0]
    lines = {q: v for q, _, v in u.lines}
    b1, b2 = 0.9, 0.999
    np.testing.assert_array_equal(lines["m̂"], lines["m"] / (1 - b1 ** 3))
    np.testing.assert_array_equal(lines["v̂"], lines["v"] / (1 - b2 ** 3))
    np.testing.assert_allclose(lines["Δw"], -0.01 * lines["m̂"] / (np.sqrt(lines["v̂"]) + 1e-8), rtol=1e-12)
    assert np.array_equal(lines["w_new"], u.new) and np.array_equal(u.w + lines["Δw"], u.new)


@pytest.mark.parametrize("entry", DATA["schedules"], ids=lambda e: e["kind"])
def test_schedules_follow_pytorchs_schedulers(entry):
    params = dict(entry["params"])
    base = entry["base_lr"]
    n = entry.get("agree_through", len(entry["lr"]))
    ours = [base * schedule_factor(((entry["kind"], params),), k, base) for k in range(1, n + 1)]
    close(ours, entry["lr"][:n], entry["kind"])
    assert entry["kind"] in SCHEDULES


def test_the_loss_curve_and_json_know_the_effective_rate():
    sc, st = _stepper(CASES["sched_warmup_cosine"])
    rates = [st.eta_at(k) for k in range(1, 11)]
    close(rates, CASES["sched_warmup_cosine"]["lr"], "effective η")
    st.seek_iteration(5)
    st.set_eta(0.04)                                    # doubles the set η: the schedule scales it
    assert st.eta_at(5) == pytest.approx(2 * rates[4], rel=1e-15) and st.eta_at(4) == rates[3]


OK = """
[scenario]
title = "t"
[values]
x = [1.0, 2.0]
[params]
w = [0.5, -0.5]
[graph]
E = "sum((w * x) ** 2)"
[train]
loss = "E"
learning_rate = 0.1
"""


@pytest.mark.parametrize("extra, words", [
    ('optimizer = "adm"', ["unknown optimizer 'adm'", "did you mean 'adam'"]),
    ('optimizer = "adam"\nmomentum = 0.9', ["momentum is not an option of adam"]),
    ('optimizer = "adam"\nbetas = [0.9, 1.0]', ["betas must each lie in [0, 1)"]),
    ('optimizer = "adam"\nbetas = [0.9]', ["betas must be two numbers"]),
    ('optimizer = "adam"\neps = 0', ["eps must be > 0"]),
    ('optimizer = "adam"\neps = -1e-8', ["eps must be a finite number ≥ 0"]),
    ('nesterov = true', ["nesterov = true needs momentum > 0"]),
    ('momentum = "a lot"', ["momentum must be a number"]),
    ('weight_decay = -0.1', ["weight_decay must be a finite number ≥ 0"]),
    ('schedule = { kind = "stepp", every = 2, gamma = 0.5 }', ["unknown schedule kind 'stepp'", "did you mean 'step'"]),
    ('schedule = { kind = "step", every = 0, gamma = 0.5 }', ["every must be a whole number from 1", "so the schedule ends"]),
    ('schedule = { kind = "step", gamma = 0.5 }', ["a step schedule needs every"]),
    ('schedule = { kind = "cosine", steps = 10, min_lr = 0.0, extra = 1 }', ["unknown key 'extra'"]),
    ('schedule = "cosine"', ["schedule is a table"]),
    ('optimizer = "rmsprop"\nalpha = 1.5', ["alpha must lie in [0, 1]"]),
    ('[train.params.ww]\nlearning_rate = 0.1', ["[train.params.ww] names no param", "did you mean 'w'"]),
    ('[train.params.x]\nlearning_rate = 0.1', ["is a value, not a param"]),
    ('[train.params.w]\nlearning_rat = 0.1', ["unknown key 'learning_rat'", "did you mean 'learning_rate'"]),
])
def test_bad_optimizer_settings_name_table_key_and_line(extra, words):
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(OK + extra + "\n", file="opt.toml")
    msg = str(info.value)
    assert msg.startswith("opt.toml:") and "[train]" in msg, msg
    for w in words:
        assert w in msg, msg


def test_adam_history_is_at_most_three_times_sgds():
    sc_sgd = load_scenario_text(OK)
    sc_adam = load_scenario_text(OK + 'optimizer = "adam"\n')
    a = Stepper(sc_adam, steps=5000)
    s = Stepper(sc_sgd, steps=5000)
    a.run_iterations(5000)
    s.run_iterations(5000)
    assert a.history.every == s.history.every
    assert a.history.nbytes() <= 3 * s.history.nbytes()


def test_run_json_names_the_optimizer_and_the_rate_of_every_iteration():
    import subprocess
    import sys
    gradstep = str(Path(sys.executable).with_name("gradstep"))
    case = CASES["sched_warmup_cosine"]
    r = subprocess.run([gradstep, "run", str(REF / case["scenario"]), "--json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["optimizer"] == {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
                                "learning_rate": 0.02,
                                "schedule": [{"kind": "warmup", "steps": 3},
                                             {"kind": "cosine", "steps": 10, "min_lr": 0.001}]}
    close(out["lr"], case["lr"], "lr")
    for pname, v in out["params"].items():
        close(v, case["params"][-1][pname], pname)


def test_trace_records_the_optimizer_state_per_update():
    import subprocess
    import sys
    gradstep = str(Path(sys.executable).with_name("gradstep"))
    r = subprocess.run([gradstep, "trace", str(REF / "case_sgd_momentum.toml"), "--steps", "2"],
                       capture_output=True, text=True, timeout=60)
    updates = [json.loads(line) for line in r.stdout.splitlines() if '"update"' in line]
    assert len(updates) == 8 and all(set(u["state"]) == {"b"} for u in updates)
    # The momentum buffer after the first step is g itself (no dampening then): its digest is g's.
    sc, st = _stepper(CASES["sgd_momentum"])
    st.run_phase(), st.run_phase()
    g = st.grad(st.program.by_name["b2"])
    b2 = next(u for u in updates if u["node"] == "b2" and u["iteration"] == 1)
    assert b2["state"]["b"]["value"] == g.tolist()
    plain = subprocess.run([gradstep, "trace", str(REF / "case_sgd.toml"), "--steps", "1"], capture_output=True,
                           text=True, timeout=60)
    assert '"state"' not in plain.stdout
