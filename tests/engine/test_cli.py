"""The real `gradstep` console script in a subprocess: numeric faults, bad usage, and well-formed output.

Numbers are checked against independent routes: closed forms, gradient descent written out in
NumPy here, and hand-written backpropagation of the two-layer net.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradstep.engine import cli as engine_cli
from gradstep.engine import load_scenario
from gradstep.scenarios import bundled_dir

GRADSTEP = str(Path(sys.executable).with_name("gradstep"))
BUNDLED = bundled_dir()
# Make every warning visible, so a NumPy warning that is not suppressed would show up on stderr.
ENV = {**os.environ, "PYTHONWARNINGS": "always"}


def gradstep(*args, cwd=None, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([GRADSTEP, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=ENV,
                          timeout=timeout)


def clean(proc: subprocess.CompletedProcess) -> None:
    """No traceback and no raw warning ever reaches the user."""
    for bad in ("Traceback", "Warning", "warnings.warn", "Error:"):
        assert bad not in proc.stderr, proc.stderr


def write(tmp_path: Path, name: str, body: str, train: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[scenario]\ntitle = "{name}"\n{body}\n[train]\nloss = "E"\n{train}\n')
    return path


def descend(w, x, eta, steps, limit=None):
    """Gradient descent on E = sum((w*x - 3)**2) written out: (iteration, what stopped it) or None."""
    w = np.array(w, dtype=float)
    x = np.array(x, dtype=float)
    with np.errstate(all="ignore"):
        for it in range(1, steps + 1):
            r = w * x - 3
            if not np.isfinite(r ** 2).all():
                return it, "forward"
            g = 2 * r * x
            if limit is not None and np.linalg.norm(g) > limit:
                return it, "grad_norm"
            w = w - eta * g
    return None


# ----------------------------------------------------------------------------- numeric faults
FAULTS = [
    # name, body, node, op, kind, the input range the message must show
    ("lognan", '[values]\nx = [1.0, -2.0]\n[params]\nw = [1.0, 1.0]\n[graph]\nu = "w * x"\nv = "log(u)"\n'
     'E = "sum(v)"', "v", "log", "nan", "u (2,) ∈ [-2, 1]"),
    ("expover", '[values]\nx = [1.0, 800.0]\n[params]\nw = [1.0, 1.0]\n[graph]\nu = "w * x"\nv = "exp(u)"\n'
     'E = "sum(v)"', "v", "exp", "inf", "u (2,) ∈ [1, 800]"),
    ("divzero", '[values]\nx = [1.0, 0.0]\n[params]\nw = [1.0, 1.0]\n[graph]\nu = "w * x"\nv = "1 / u"\n'
     'E = "sum(v)"', "v", "div", "inf", "u (2,) ∈ [0, 1]"),
    ("sqrtneg", '[values]\nx = [4.0, -1.0]\n[graph]\nv = "sqrt(x)"\nE = "sum(v)"', "v", "sqrt", "nan",
     "x (2,) ∈ [-1, 4]"),
    ("mulover", '[values]\nx = [1e200, 1.0]\n[graph]\nv = "x * x"\nE = "sum(v)"', "v", "mul", "inf",
     "x (2,) ∈ [1, 1e+200]"),
]


@pytest.mark.parametrize("name, body, node, op, kind, rng", FAULTS, ids=[f[0] for f in FAULTS])
def test_forward_fault_stops_at_the_first_node(tmp_path, name, body, node, op, kind, rng):
    path = write(tmp_path, name, body, "learning_rate = 0.1\nsteps = 5")
    proc = gradstep("run", path)
    assert proc.returncode == 1
    clean(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    msg = lines[0]
    assert f"node '{node}' ({op}) produced {kind}" in msg
    assert rng in msg
    assert "iteration 1" in msg
    # Downstream nodes also turned non-finite, but only the first is named.
    assert "'E'" not in msg
    assert proc.stdout == ""


def test_backward_fault_names_the_node_and_the_upstream_range(tmp_path):
    """sqrt(w*w) at w = 0: forward is fine, but d sqrt/du = 1/(2 sqrt u) is infinite at u = 0."""
    path = write(tmp_path, "sqrtback", '[params]\nw = [0.0, 1.0]\n[graph]\nu = "w * w"\nv = "sqrt(u)"\n'
                 'E = "sum(v)"', "learning_rate = 0.1\nsteps = 5")
    proc = gradstep("run", path)
    assert proc.returncode == 1
    clean(proc)
    assert "the gradient that 'v' (sqrt) passes to 'u' is inf" in proc.stderr
    assert "u ∈ [0, 1]" in proc.stderr


def test_divergence_stops_at_the_iteration_plain_numpy_predicts(tmp_path):
    x, w0, eta = [1.0, 2.0], [0.5, 0.5], 5.0
    expected = descend(w0, x, eta, 500)
    assert expected is not None and expected[1] == "forward"
    path = write(tmp_path, "diverge", f'[values]\nx = {x}\n[params]\nw = {w0}\n[graph]\n'
                 'E = "sum((w * x - 3) ** 2)"', f"learning_rate = {eta}\nsteps = 500")
    proc = gradstep("run", path)
    assert proc.returncode == 1
    clean(proc)
    assert f"iteration {expected[0]}:" in proc.stderr
    assert "(pow) produced inf" in proc.stderr
    proc = gradstep("run", path, "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["steps"] == expected[0] and len(out["loss"]) == expected[0]
    assert out["loss"][-1] is None and all(isinstance(v, float) for v in out["loss"][:-1])
    assert "pow" in out["anomaly"]


def test_bundled_diverge_scenario_exits_1_naming_a_node():
    proc = gradstep("run", BUNDLED / "diverge.toml")
    assert proc.returncode == 1
    clean(proc)
    assert re.search(r"node '[^']+' \((\w+)\) produced (nan|inf)", proc.stderr), proc.stderr


def test_grad_norm_limit_stops_like_a_watchpoint(tmp_path):
    x, w0, eta, limit = [1.0, 2.0], [0.5, 0.5], 0.5, 100.0
    expected = descend(w0, x, eta, 50, limit=limit)
    assert expected is not None and expected[1] == "grad_norm"
    body = f'[values]\nx = {x}\n[params]\nw = {w0}\n[graph]\nE = "sum((w * x - 3) ** 2)"'
    path = write(tmp_path, "gradnorm", body, f"learning_rate = {eta}\nsteps = 50\ngrad_norm_limit = {limit}")
    proc = gradstep("run", path)
    assert proc.returncode == 1
    clean(proc)
    assert f"iteration {expected[0]}:" in proc.stderr and "grad_norm_limit = 100" in proc.stderr
    assert "∂E/∂w" in proc.stderr
    # The trace stops on the same step, and its last record carries the anomaly.
    proc = gradstep("trace", path)
    assert proc.returncode == 1
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert "anomaly" in records[-1] and records[-1]["iteration"] == expected[0]
    assert all("anomaly" not in r for r in records[:-1])
    # Without the limit the same run completes.
    free = write(tmp_path, "free", body, f"learning_rate = {eta}\nsteps = 50")
    assert descend(w0, x, eta, 50) is None
    assert gradstep("run", free).returncode == 0


def test_numpy_warnings_never_reach_the_terminal(tmp_path):
    body = ('[values]\nx = [1.0, -2.0, 0.0, 800.0]\n[params]\nw = [1.0, 1.0, 1.0, 1.0]\n[graph]\n'
            'a = "log(w * x)"\nb = "exp(w * x)"\nc = "1 / (w * x)"\nd = "sqrt(w * x - 1)"\nE = "sum(a + b + c + d)"')
    path = write(tmp_path, "warnings", body, "learning_rate = 0.1\nsteps = 3")
    for args in (["run", path], ["run", path, "--json"], ["check", path], ["check", path, "--json"],
                 ["trace", path], ["dot", path]):
        proc = gradstep(*args)
        clean(proc)
        assert "RuntimeWarning" not in proc.stderr and "encountered" not in proc.stderr


# ----------------------------------------------------------------------------- bad usage
def test_bad_usage_exits_2_without_traceback(tmp_path):
    good = BUNDLED / "chain_rule.toml"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    cases = [
        ["run", good, "--bogus"], ["run", good, "--steps", "0"], ["run", good, "--steps", "-3"],
        ["run", good, "--steps", "abc"], ["run", good, "--steps", "1e3"], ["run", good, "--lr", "-1"],
        ["run", good, "--lr", "nan"], ["run", good, "--lr", "inf"], ["run", good, "--lr", "fast"],
        ["run", tmp_path / "missing.toml"], ["run", tmp_path], ["run", binary], ["run", empty], ["run"],
        ["check", tmp_path / "missing.toml"], ["trace", tmp_path], ["dot", binary], ["trace", good, "--steps", "0"],
        [tmp_path / "missing.toml"], [tmp_path], ["--bogus"],
    ]
    for args in cases:
        proc = gradstep(*args)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        clean(proc)
        assert proc.stderr.strip(), args
        assert "gradstep" in proc.stderr
        assert proc.stdout == "", args


def test_bad_scenario_message_is_one_located_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[scenario]\ntitle = "t"\n[values]\nx = 1.0\n[graph]\nE = "x.__class__"\n[train]\nloss = "E"\n')
    proc = gradstep("run", path)
    assert proc.returncode == 2
    clean(proc)
    assert proc.stderr.strip().splitlines() == [
        f"gradstep: {path}:6: [graph] E: 'x.__class__' uses attribute access; only .T (transpose) is allowed"]


def test_internal_error_is_one_line_with_its_own_exit_code(monkeypatch, capsys):
    def broken(scenario, args):
        raise RuntimeError("boom")
    monkeypatch.setattr(engine_cli, "cmd_dot", broken)
    monkeypatch.delenv("GRADSTEP_DEBUG", raising=False)
    code = engine_cli.main(["dot", str(BUNDLED / "chain_rule.toml")])
    err = capsys.readouterr().err
    assert code == engine_cli.EXIT_BUG and code not in (0, 1, 2)
    assert err.strip() == ("gradstep: internal error: RuntimeError: boom (a bug in gradstep; "
                           "GRADSTEP_DEBUG=1 shows the traceback)")
    monkeypatch.setenv("GRADSTEP_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        engine_cli.main(["dot", str(BUNDLED / "chain_rule.toml")])


def test_closed_pipe_is_quiet():
    proc = subprocess.run(f"'{GRADSTEP}' trace '{BUNDLED / 'two_layer.toml'}' | head -1", shell=True,
                          capture_output=True, text=True, env=ENV, timeout=90)
    assert len(proc.stdout.splitlines()) == 1
    clean(proc)
    assert "BrokenPipe" not in proc.stderr and "Exception ignored" not in proc.stderr


# ----------------------------------------------------------------------------- check
def test_check_exits_1_when_a_param_fails_at_the_relu_kink(tmp_path):
    """relu'(0) = 0 by convention, but central differences see (eps - 0) / 2eps = 0.5 there."""
    path = write(tmp_path, "kink", '[params]\nw = 0.0\n[graph]\nE = "relu(w)"', "learning_rate = 0.1")
    proc = gradstep("check", path)
    assert proc.returncode == 1
    clean(proc)
    row = next(line for line in proc.stdout.splitlines() if line.startswith("w "))
    assert row.split()[-1] == "FAIL"
    assert "kink" in proc.stdout
    proc = gradstep("check", path, "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["passed"] is False
    [leaf] = out["leaves"]
    assert leaf["name"] == "w" and leaf["passed"] is False
    assert leaf["max_abs_error"] == pytest.approx(0.5, rel=1e-6)


def test_check_exits_0_when_every_param_passes(tmp_path):
    path = write(tmp_path, "smooth", '[values]\nx = [0.5, -1.0]\n[params]\nw = [0.3, 0.7]\n[graph]\n'
                 'E = "sum(tanh(w * x) ** 2)"', "learning_rate = 0.1")
    proc = gradstep("check", path)
    assert proc.returncode == 0, proc.stdout
    clean(proc)
    assert "FAIL" not in proc.stdout


# ----------------------------------------------------------------------------- trace and dot
def test_trace_is_json_lines_one_per_step():
    proc = gradstep("trace", BUNDLED / "chain_rule.toml")
    assert proc.returncode == 0
    clean(proc)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    # u = x**2, v = sin u, f = exp v: 3 forward steps; the seed and 3 backward steps; no params.
    assert [r["kind"] for r in records] == ["forward"] * 3 + ["seed"] + ["backward"] * 3
    assert [r["tick"] for r in records] == list(range(7))
    assert [r["node"] for r in records[:3]] == ["u", "v", "f"]
    for r in records:
        assert {"tick", "iteration", "phase", "index", "kind", "node", "id", "op", "writes"} <= set(r)
    x = 1.5
    ids = {r["node"]: r["id"] for r in records}
    u = records[0]["writes"][str(ids["u"])]
    assert u["name"] == "u" and u["value"] == x * x
    dx = [w for w in records[-1]["writes"].values() if w["name"] == "x"][0]
    assert dx["value"] == pytest.approx(math.exp(math.sin(x * x)) * math.cos(x * x) * 2 * x, rel=1e-12)


def test_trace_steps_option_counts_iterations():
    one = gradstep("trace", BUNDLED / "two_layer.toml", "--steps", "1").stdout.splitlines()
    two = gradstep("trace", BUNDLED / "two_layer.toml", "--steps", "2").stdout.splitlines()
    assert len(two) == 2 * len(one)
    assert two[:len(one)] == one
    assert {json.loads(line)["iteration"] for line in two[len(one):]} == {2}


@pytest.mark.parametrize("path", sorted(BUNDLED.glob("*.toml")), ids=lambda p: p.name)
def test_dot_is_well_formed(path):
    proc = gradstep("dot", path)
    assert proc.returncode == 0
    clean(proc)
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "digraph gradstep {" and lines[-1] == "}"
    body = lines[1:-1]
    assert all(line.endswith(";") for line in body), body
    nodes = [line for line in body if re.match(r"\s*n\d+ \[label=", line)]
    edges = [line for line in body if re.match(r"\s*n\d+ -> n\d+;$", line)]
    program = load_scenario(path).program
    assert len(nodes) == len(program.nodes)
    assert len(edges) == sum(len(n.inputs) for n in program.nodes)
    for line in nodes:       # quotes inside labels are escaped: the label is one quoted string
        assert re.fullmatch(r'\s*n\d+ \[label="(?:[^"\\]|\\.)*", [^"]*(?:"[^"]*"[^"]*)*\];', line), line


def test_dot_escapes_a_multi_line_expression(tmp_path):
    path = tmp_path / "ml.toml"
    path.write_text('[scenario]\ntitle = "t"\n[values]\nx = [1.0, 2.0]\n[graph]\nE = """sum(\n  x * x\n)"""\n'
                    '[train]\nloss = "E"\n')
    proc = gradstep("dot", path)
    assert proc.returncode == 0
    body = proc.stdout.strip().splitlines()[1:-1]
    assert all(line.endswith(";") for line in body), body


# ----------------------------------------------------------------------------- run --json
def test_run_json_chain_rule_matches_the_closed_form():
    proc = gradstep("run", BUNDLED / "chain_rule.toml", "--json")
    assert proc.returncode == 0
    clean(proc)
    out = json.loads(proc.stdout)
    assert set(out) == {"scenario", "steps", "loss", "values", "grads", "params", "health", "health_every",
                        "optimizer", "lr"}
    x = 1.5
    u, v = x * x, math.sin(x * x)
    assert out["values"]["f"] == pytest.approx(math.exp(v), rel=1e-12, abs=0)
    assert out["grads"]["x"] == pytest.approx(math.exp(v) * math.cos(u) * 2 * x, rel=1e-12, abs=0)
    assert out["loss"] == [out["values"]["f"]]
    assert out["steps"] == 1 and out["params"] == {}


def test_run_json_two_layer_grads_match_hand_written_backprop():
    path = BUNDLED / "two_layer.toml"
    s = load_scenario(path)
    p = s.program
    leaves = {p.nodes[i].name: a for i, a in s.leaves_for(1).items() if p.nodes[i].key}
    W1, W2, x, y = leaves["W1"], leaves["W2"], leaves["x"], leaves["y_hat"]
    proc = gradstep("run", path, "--json", "--steps", "1")
    assert proc.returncode == 0
    clean(proc)
    out = json.loads(proc.stdout)
    assert set(out) == {"scenario", "steps", "loss", "values", "grads", "params", "health", "health_every",
                        "optimizer", "lr"}
    assert set(out["grads"]) >= {"W1", "W2", "x", "y_hat"}
    assert set(out["params"]) == {"W1", "W2"}
    assert {"h", "f", "E", "x", "W1"} <= set(out["values"])
    # Backprop written out by hand.
    a1 = W1 @ x
    h = np.maximum(a1, 0)
    a2 = W2 @ h
    f = np.maximum(a2, 0)
    E = np.sum((f - y) ** 2)
    dfe = 2 * (f - y)
    da2 = dfe * (a2 > 0)
    dh = W2.T @ da2
    da1 = dh * (a1 > 0)
    want = {"W2": np.outer(da2, h), "W1": np.outer(da1, x), "x": W1.T @ da1, "y_hat": -dfe}
    assert out["loss"] == [pytest.approx(E, rel=1e-12)]
    for name, g in want.items():
        got = np.array(out["grads"][name])
        assert got.shape == g.shape
        np.testing.assert_allclose(got, g, rtol=1e-12, atol=1e-15)
    eta = s.learning_rate
    for name, w in (("W1", W1), ("W2", W2)):
        np.testing.assert_allclose(np.array(out["params"][name]), w - eta * want[name], rtol=1e-12, atol=1e-15)


def test_run_lr_option_changes_the_update(tmp_path):
    path = write(tmp_path, "lin", '[values]\nx = 2.0\n[params]\nw = 1.0\n[graph]\nE = "(w * x - 3) ** 2"',
                 "learning_rate = 0.1\nsteps = 1")
    out = json.loads(gradstep("run", path, "--json", "--lr", "0.01").stdout)
    # dE/dw = 2 (w x - 3) x = -4 at w = 1, x = 2; w <- 1 - 0.01 * (-4)
    assert out["grads"]["w"] == -4.0
    assert out["params"]["w"] == pytest.approx(1.04, rel=1e-15)


def test_run_human_output_is_a_short_table_and_no_progress_bar_off_a_terminal():
    proc = gradstep("run", BUNDLED / "two_layer.toml", "--steps", "2500")
    assert proc.returncode == 0
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["iteration", "loss"]
    rows = [line.split() for line in lines[2:] if re.fullmatch(r"\s*\d+\s+\S+", line)]
    assert [int(r[0]) for r in rows] == [1, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500]
    assert len(lines) < 20
