"""`gradstep run --until` and [[break]] tables: a script tells hit, no hit, anomaly and bad input apart by
the exit status alone, and the JSON says where the run stopped and what the condition read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradstep.engine import ScenarioError, Stepper, load_scenario, load_scenario_text
from gradstep.scenarios import bundled_dir

GRADSTEP = str(Path(sys.executable).with_name("gradstep"))
TWO_LAYER = bundled_dir() / "two_layer.toml"
DIVERGE = bundled_dir() / "diverge.toml"
ENV = {**os.environ, "PYTHONWARNINGS": "always"}


def gradstep(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([GRADSTEP, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)


def test_a_hit_exits_3_and_says_where_with_the_values_read():
    r = gradstep("run", TWO_LAYER, "--until", "loss < 0.05")
    assert r.returncode == 3, r.stderr
    st = Stepper(load_scenario(TWO_LAYER))
    st.add_breakpoint("loss < 0.05")
    stop = st.continue_()
    loss = float(st.value(st.program.loss))
    assert f"stopped at iteration {stop.iteration}, forward step of 'E': loss < 0.05" in r.stdout
    assert f"loss = {loss:.4g}" in r.stdout and loss < 0.05
    # The loss of the iteration before was not below the threshold: it really is the first hit.
    assert st.losses[stop.iteration - 2] >= 0.05


def test_the_json_says_where_it_stopped_and_holds_the_losses_so_far():
    r = gradstep("run", TWO_LAYER, "--until", "norm(grad(W1)) < 0.6", "--json")
    assert r.returncode == 3, r.stderr
    out = json.loads(r.stdout)
    s = out["stopped"]
    assert (s["phase"], s["node"], s["condition"]) == ("backward", "W1 @ x", "norm(grad(W1)) < 0.6")
    # iterations count from 1, and the loss of the stopping iteration was computed before its backward pass
    assert len(out["loss"]) == s["iteration"]
    g = np.array(s["reads"]["grad(W1)"])
    assert g.shape == (10, 100) and np.linalg.norm(g) < 0.6
    assert out["grads"]["W1"] == s["reads"]["grad(W1)"]


def test_no_hit_runs_to_the_end_and_exits_0_with_the_plain_runs_losses():
    hit = gradstep("run", TWO_LAYER, "--until", "loss < 1e-12", "--json")
    plain = gradstep("run", TWO_LAYER, "--json")
    assert hit.returncode == 0 and plain.returncode == 0, hit.stderr + plain.stderr
    a, b = json.loads(hit.stdout), json.loads(plain.stdout)
    assert "stopped" not in a and a["loss"] == b["loss"] and a["params"] == b["params"]


def test_an_anomaly_before_any_hit_exits_1():
    r = gradstep("run", DIVERGE, "--until", "loss < 1e-12")
    assert r.returncode == 1 and "numeric anomaly" in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--until", "los < 1"], ["--until", "unknown name 'los'", "did you mean 'loss'"]),
    (["--until", "h > 0"], ["--until", "any(...) or all(...)"]),
    (["--until", "__import__('os').system('true')"], ["only the condition functions can be called"]),
    (["--until", "__import__('os') < 1"], ["'__'"]),
    (["--at", "nope"], ["--at", "names no node"]),
    (["--phase", "backward"], ["--phase goes with --at"]),
    (["--at", "h", "--phase", "update"], ["not a param"]),
])
def test_a_bad_condition_or_place_exits_2_with_one_line(args, words):
    r = gradstep("run", TWO_LAYER, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_a_pinned_place_with_ignore():
    r = gradstep("run", TWO_LAYER, "--at", "h", "--phase", "backward", "--json")
    assert r.returncode == 3
    s = json.loads(r.stdout)["stopped"]
    assert (s["iteration"], s["phase"], s["node"]) == (1, "backward", "h")


BREAKS = """
[scenario]
title = "breaks"
seed = 0
[values]
x = { init = "normal", shape = [100] }
y_hat = [0.5, 0.25]
[params]
W1 = { init = "normal", shape = [10, 100], scale = 0.1 }
W2 = { init = "normal", shape = [2, 10], scale = 0.3 }
[graph]
h = "relu(W1 @ x)"
f = "relu(W2 @ h)"
E = "sum((f - y_hat)**2)"
[train]
loss = "E"
learning_rate = 0.001
steps = 100
"""


def test_the_files_breakpoints_stop_gradstep_run_unless_no_breaks(tmp_path):
    f = tmp_path / "b.toml"
    f.write_text(BREAKS + '\n[[break]]\nat = "h"\nphase = "backward"\nignore = 9\n')
    r = gradstep("run", f, "--json")
    assert r.returncode == 3
    s = json.loads(r.stdout)["stopped"]
    assert (s["iteration"], s["phase"], s["node"]) == (10, "backward", "h")
    assert gradstep("run", f, "--no-breaks").returncode == 0


@pytest.mark.parametrize("table, words, line", [
    ('[[break]]\nwhen = "los < 1"\n', ["[break] when", "did you mean 'loss'"], 21),
    ('[[break]]\nwhn = "loss < 1"\n', ["unknown key 'whn'", "did you mean 'when'"], 21),
    ('[[break]]\nat = "h"\nphase = "update"\n', ["not a param"], 21),
    ('[[break]]\nwhen = "loss < 1"\nignore = -1\n', ["ignore must be a whole number"], 21),
    ('[[break]]\nwhen = 3\n', ["when must be a string"], 21),
    ('[break]\nwhen = "loss < 1"\n', ["[[break]] tables"], 20),
    ('[[break]]\nname = "nothing"\n', ["needs a condition (when) or a place (at)"], 21),
])
def test_bad_break_tables_name_file_table_key_and_line(table, words, line, tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(BREAKS + "\n" + table)
    r = gradstep("run", f)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{f}:{line}" in r.stderr or f"{f}:" in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_too_many_break_tables_are_refused_before_compiling_them():
    from gradstep.engine import limits
    text = BREAKS + '\n[[break]]\nwhen = "loss < 1"\n' * (limits.MAX_BREAKPOINTS + 1)
    with pytest.raises(ScenarioError, match="MAX_BREAKPOINTS"):
        load_scenario_text(text)


def test_health_in_the_json_agrees_with_numpy_on_the_last_iteration():
    r = gradstep("run", TWO_LAYER, "--steps", "30", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["health_every"] == 1 and [h["iteration"] for h in out["health"]] == list(range(1, 31))
    last = out["health"][-1]
    h = np.array(out["values"]["h"])
    assert last["dead"]["h"] == np.mean(h == 0.0)
    gW1 = np.array(out["grads"]["W1"])
    assert last["grad_norm"]["W1"] == pytest.approx(np.linalg.norm(gW1), rel=1e-12)
    # The update ratio of iteration 30: ‖η·g‖ / ‖W after the update‖.
    W1 = np.array(out["params"]["W1"])
    assert last["update_ratio"]["W1"] == pytest.approx(0.001 * np.linalg.norm(gW1) / np.linalg.norm(W1), rel=1e-9)


def test_health_with_many_steps_is_sampled_and_says_so():
    r = gradstep("run", TWO_LAYER, "--steps", "5000", "--json")
    out = json.loads(r.stdout)
    its = [h["iteration"] for h in out["health"]]
    assert out["health_every"] == 5 and its[:3] == [5, 10, 15] and its[-1] == 5000 and len(its) == 1000
