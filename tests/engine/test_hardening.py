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
