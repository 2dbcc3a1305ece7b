"""Determinism: the same scenario gives a bit-identical `gradstep trace` in separate processes.

Every trace line carries a sha256 of the exact bytes each step wrote, so equal traces mean equal
values, gradients and params to the bit. PYTHONHASHSEED varies between the processes, so nothing
may depend on set or dict ordering of strings.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradstep.scenarios import bundled_dir

GRADSTEP = str(Path(sys.executable).with_name("gradstep"))
SCENARIOS = sorted(bundled_dir().glob("*.toml"))


def trace_digest(path: Path, steps: int, hashseed: str | None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    if hashseed is not None:
        env["PYTHONHASHSEED"] = hashseed
    proc = subprocess.run([GRADSTEP, "trace", str(path), "--steps", str(steps)], capture_output=True, env=env,
                          timeout=100)
    assert proc.returncode in (0, 1), proc.stderr      # 1: a scenario that diverges on purpose
    return hashlib.sha256(proc.stdout).hexdigest(), proc.stdout.count(b"\n")


def test_there_are_bundled_scenarios():
    assert len(SCENARIOS) >= 2


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_trace_is_bit_identical_across_processes_and_hash_seeds(path):
    runs = [trace_digest(path, 3, seed) for seed in ("0", "4242", None)]
    digest, lines = runs[0]
    assert lines > 0
    assert all(r == runs[0] for r in runs), runs


def test_trace_records_the_bits_so_the_check_is_sensitive(tmp_path):
    """A scenario that differs only in its seed gives a different trace: the hash sees the values."""
    source = (bundled_dir() / "two_layer.toml").read_text()
    assert "seed = " in source
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text(source)
    lines = source.splitlines()
    b.write_text("\n".join("seed = 12345" if line.startswith("seed = ") else line for line in lines) + "\n")
    assert trace_digest(a, 1, "0") == trace_digest(a, 1, "1")
    assert trace_digest(a, 1, "0")[0] != trace_digest(b, 1, "0")[0]


def test_shuffled_batches_are_identical_across_processes():
    """Iris reshuffles its rows every epoch from the seed: epochs 1 and 2 (10 iterations) match."""
    path = bundled_dir() / "iris_softmax.toml"
    if not path.exists():
        pytest.skip("no shuffled bundled scenario")
    assert trace_digest(path, 10, "0") == trace_digest(path, 10, "99")


def test_run_json_is_identical_across_processes():
    path = bundled_dir() / "two_layer.toml"
    outs = []
    for seed in ("0", "7"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([GRADSTEP, "run", str(path), "--json"], capture_output=True, env=env, timeout=100)
        assert proc.returncode == 0
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
    assert len(json.loads(outs[0])["loss"]) > 1
