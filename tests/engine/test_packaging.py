"""The built wheel installs one top-level package, `gradstep`, carrying the bundled scenarios and styles,
and an installed gradstep finds them and runs.

The wheel is built from a copy of the sources, so a stale build/ folder in the working tree can
neither leak into it nor be disturbed. It is installed into a throwaway venv whose only other
path is the project venv's site-packages (for numpy and textual), added after its own, so
`import gradstep` there can only mean the installed wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in ("engine", "tui", "scenarios"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(out)],
                          cwd=src, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("gradstep-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A throwaway venv with the wheel installed; returns its python."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env)
    python = env / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = Path(subprocess.run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # numpy and textual from the project venv, searched after the throwaway venv's own packages.
    (site / "zz_project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def test_wheel_contains_every_scenario_and_style(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [f"gradstep/scenarios/{p.name}" for p in sorted((ROOT / "scenarios").glob("*.toml"))]
    wanted += [f"gradstep/scenarios/{p.name}" for p in sorted((ROOT / "scenarios").glob("*.csv"))]
    wanted += [f"gradstep/tui/{p.name}" for p in sorted((ROOT / "tui").glob("*.tcss"))]
    assert len(wanted) >= 10
    missing = [w for w in wanted if w not in names]
    assert not missing, f"missing from the wheel: {missing}"


def test_wheel_has_one_top_level_package(wheel):
    """Nothing named engine, tui or scenarios lands in site-packages: pip does not detect file
    clashes between distributions, and PyPI has packages called tui and scenarios."""
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"gradstep"}
    assert "gradstep/__init__.py" not in names          # a namespace package over the three folders
    assert {"gradstep/engine/__init__.py", "gradstep/tui/__init__.py", "gradstep/scenarios/__init__.py"} <= set(names)
    record = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(record).decode().split() == ["gradstep"]


PROBE = """
import importlib.util, json
from gradstep import engine
from gradstep.scenarios import bundled_dir
from pathlib import Path
d = bundled_dir()
loaded = {p.name: engine.load_scenario(p).title for p in sorted(d.glob("*.toml"))}
print(json.dumps({"engine": engine.__file__, "dir": str(d), "loaded": loaded,
                  "csv": sorted(p.name for p in d.glob("*.csv")),
                  "bare": [m for m in ("engine", "tui", "scenarios") if importlib.util.find_spec(m)]}))
"""


def test_installed_gradstep_finds_its_scenarios(installed, tmp_path):
    proc = subprocess.run([str(installed), "-I", "-c", PROBE], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    site = Path(installed).parents[1]
    assert Path(info["engine"]).is_relative_to(site) and "site-packages" in info["engine"]
    assert Path(info["dir"]).is_relative_to(site) and "site-packages" in info["dir"]
    assert sorted(info["loaded"]) == sorted(p.name for p in (ROOT / "scenarios").glob("*.toml"))
    assert sorted(info["csv"]) == sorted(p.name for p in (ROOT / "scenarios").glob("*.csv"))
    assert info["bare"] == []           # no top-level engine, tui or scenarios were installed


def test_installed_console_script_runs_a_bundled_scenario(installed, tmp_path):
    gradstep = Path(installed).parent / "gradstep"
    bundled = subprocess.run([str(installed), "-I", "-c",
                              "from gradstep.scenarios import bundled_dir; print(bundled_dir())"],
                             capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(gradstep), "check", str(Path(bundled) / "iris_softmax.toml")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout and "FAIL" not in proc.stdout


def test_installed_console_script_help_and_run(installed, tmp_path):
    """The issue's route: `gradstep --help` and `gradstep run` on a bundled scenario, from the wheel."""
    gradstep = Path(installed).parent / "gradstep"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    help_ = subprocess.run([str(gradstep), "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env=env)
    assert help_.returncode == 0, help_.stderr
    assert "step-debugger for backpropagation" in help_.stdout
    bundled = subprocess.run([str(installed), "-I", "-c",
                              "from gradstep.scenarios import bundled_dir; print(bundled_dir())"],
                             capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    run = subprocess.run([str(gradstep), "run", str(Path(bundled) / "chain_rule.toml"), "--json"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["loss"] == [out["values"]["f"]] and abs(out["values"]["f"] - 2.177273044783055) < 1e-12
