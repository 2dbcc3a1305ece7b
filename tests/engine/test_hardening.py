"""Hostile files never make gradstep exit 70 (a bug): numbers past Python's 4,300-digit limit, file names
the system refuses, and what the trace keys its writes by."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GRADSTEP = str(Path(sys.executable).with_name("gradstep"))
HUGE = "9" * 5000


def gradstep(*args) -> subprocess.CompletedProcess:
    return subprocess.run([GRADSTEP, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("body, words", [
    (f'[scenario]\ntitle = "t"\nseed = {HUGE}\n[graph]\nE = "1"\n[train]\nloss = "E"\n', "more than 4,300 digits"),
    (f'[scenario]\ntitle = "t"\n[values]\nx = 1.0\n[graph]\nE = "x * x"\n[train]\nloss = "E"\nsteps = 0x{"f" * 5000}\n',
     "a whole number of about 6,020 digits"),
    (f'[scenario]\ntitle = "t"\n[params]\nW = {{ init = "zeros", shape = [{"9" * 4000}, 0] }}\n[graph]\nE = "sum(W)"\n'
     f'[train]\nloss = "E"\n', "every size in shape must be at least 1"),
    (f'[scenario]\ntitle = "t"\n[values]\nx = 0x{"f" * 4000}\n[graph]\nE = "x * x"\n[train]\nloss = "E"\n',
     "too large for a float64"),
])
def test_huge_integers_are_bad_input_not_a_bug(body, words, tmp_path):
    f = tmp_path / "big.toml"
    f.write_text(body)
    r = gradstep("run", f)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr and "internal error" not in r.stderr and len(r.stderr) < 400


@pytest.mark.parametrize("command", [["run"], []])
def test_a_file_name_the_system_refuses_is_bad_input(command, tmp_path):
    r = gradstep(*command, tmp_path / ("a" * 300 + ".toml"))
    assert r.returncode == 2, r.stderr
    assert "File name too long" in r.stderr and "internal error" not in r.stderr


def test_an_unreadable_folder_is_bad_input(tmp_path):
    import os
    if os.geteuid() == 0:
        pytest.skip("root enters every folder")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "s.toml").write_text("x")
    locked.chmod(0)
    try:
        for command in (["run"], []):
            r = gradstep(*command, locked / "s.toml")
            assert r.returncode == 2 and "internal error" not in r.stderr
    finally:
        locked.chmod(0o700)


LONG = "a" * 70


def test_trace_keys_writes_by_node_id_so_none_is_lost(tmp_path):
    f = tmp_path / "long.toml"
    f.write_text(f'[scenario]\ntitle = "t"\n[params]\n{LONG}1 = 2.0\n{LONG}2 = 3.0\n[graph]\n'
                 f'E = "({LONG}1 + 1) * ({LONG}2 + 1)"\n[train]\nloss = "E"\nlearning_rate = 0.1\n')
    r = gradstep("trace", f, "--steps", "1")
    records = [json.loads(line) for line in r.stdout.splitlines()]
    mul = next(rec for rec in records if rec["kind"] == "backward" and rec["op"] == "mul")
    assert len(mul["writes"]) == 2                       # both inputs' gradients, though their names clip alike
    names = [w["name"] for w in mul["writes"].values()]
    assert names[0][:50] == names[1][:50]
    assert sorted(w["value"] for w in mul["writes"].values()) == [3.0, 4.0]      # ∂E/∂a = b + 1, ∂E/∂b = a + 1


def test_trace_refuses_to_write_more_than_its_byte_limit_before_writing(tmp_path):
    f = tmp_path / "huge.toml"
    f.write_text(f'[scenario]\ntitle = "t"\n[params]\n{LONG} = 2.0\n[graph]\nE = "{LONG} ** 2"\n'
                 f'[train]\nloss = "E"\nlearning_rate = 0.001\nsteps = 10000000\n')
    r = gradstep("trace", f)
    assert r.returncode == 2 and r.stdout == ""
    assert "MAX_TRACE_BYTES" in r.stderr and "pass --steps N with N at most" in r.stderr
    assert gradstep("trace", f, "--steps", "3").returncode == 0


def test_the_gradient_check_has_a_total_budget_over_many_tensors(monkeypatch):
    from gradstep.engine import grad_check, interpret, load_scenario_text
    values = "\n".join(f"u{i} = 1.0" for i in range(19_000))
    text = (f'[scenario]\ntitle = "t"\n[values]\n{values}\n[params]\nW = {{ init = "normal", shape = [2000, 2000] }}\n'
            f'[graph]\nE = "sum(W * W)"\n[train]\nloss = "E"\nlearning_rate = 0.1\n')
    sc = load_scenario_text(text)
    passes = []
    real = interpret.forward

    def counting(program, leaves):
        passes.append(1)
        return real(program, leaves)
    monkeypatch.setattr(interpret, "forward", counting)
    monkeypatch.setattr(grad_check, "TOTAL_BUDGET", 5e8)          # the rule, at a size a test can afford
    report = grad_check.gradcheck(sc.program, sc.leaves_for(1), work=sc.work)
    assert len(passes) * sc.work <= grad_check.TOTAL_BUDGET + 2 * sc.work
    assert any("checked" in w and "of 19,001 tensors" in w for w in report.warnings)
    assert report.passed


def test_the_gradient_check_stops_when_asked():
    from gradstep.engine import CheckCancelled, gradcheck, load_scenario_text
    sc = load_scenario_text('[scenario]\ntitle = "t"\n[params]\nW = { init = "normal", shape = [50, 50] }\n'
                            '[graph]\nE = "sum(W * W)"\n[train]\nloss = "E"\nlearning_rate = 0.1\n')
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 10
    with pytest.raises(CheckCancelled):
        gradcheck(sc.program, sc.leaves_for(1), work=sc.work, should_stop=stop)
    assert len(asked) == 11
