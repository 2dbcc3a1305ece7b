"""`gradstep check --iteration N` checks with the params training reached by iteration N, and a check whose
forward pass is already NaN or ±inf says so (exit 1) instead of failing every row with nan."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from gradstep import engine
from gradstep.scenarios import bundled_dir

GRADSTEP = str(Path(sys.executable).with_name("gradstep"))
LOG_NEGATIVE = Path(__file__).parents[1] / "tui" / "scenarios" / "log_negative.toml"


def _check(*args) -> subprocess.CompletedProcess:
    return subprocess.run([GRADSTEP, "check", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_check_at_an_iteration_uses_the_params_training_reached():
    out = _check(bundled_dir() / "xor.toml", "--iteration", "20", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["iteration"] == 20 and report["passed"] and report["not_finite"] is None
    sc = engine.load_scenario(bundled_dir() / "xor.toml")
    st = engine.Stepper(sc)
    st.run_iterations(19)
    leaves = sc.leaves_for(20)
    leaves.update(st.params())
    here = engine.gradcheck(sc.program, leaves, iteration=20)
    first = engine.gradcheck(sc.program, sc.leaves_for(1))
    assert [c.max_rel_error for c in here.leaves] == [r["max_rel_error"] for r in report["leaves"]]
    assert [c.max_rel_error for c in here.leaves] != [c.max_rel_error for c in first.leaves]


def test_an_iteration_beyond_the_run_is_a_usage_error():
    out = _check(bundled_dir() / "two_layer.toml", "--iteration", "101")
    assert out.returncode == 2 and "trains 100 iterations" in out.stderr and "Traceback" not in out.stderr


def test_a_forward_pass_that_is_already_nan_is_said_not_failed_row_by_row():
    out = _check(LOG_NEGATIVE)
    assert out.returncode == 1
    assert "no gradient to check" in out.stdout and "node v" in out.stdout and "nan" not in out.stdout
    report = json.loads(_check(LOG_NEGATIVE, "--json").stdout)
    assert report["not_finite"] == "v" and report["passed"] is False and report["leaves"] == []
    diverged = _check(bundled_dir() / "diverge.toml", "--iteration", "310")
    assert diverged.returncode == 1 and "not finite" in diverged.stdout


def test_the_report_names_the_first_node_that_is_not_finite():
    sc = engine.load_scenario(LOG_NEGATIVE)
    report = engine.gradcheck(sc.program, sc.leaves_for(1))
    assert report.not_finite == "v" and not report.passed and report.leaves == []
    fine = engine.gradcheck(sc.program, {**sc.leaves_for(1), sc.program.node("w").id: np.float64(0.5)})
    assert fine.not_finite is None and fine.passed
