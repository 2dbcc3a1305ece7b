"""Layering: the engine and the headless commands never import textual; nothing evaluates scenario
text as code; and the real `gradstep run --json` gives the chain rule's closed form."""
from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
CHAIN_RULE = engine.bundled_dir() / "chain_rule.toml"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_import_engine_leaves_textual_out():
    r = _python("import sys, engine\n"
                "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui', 'rich'))\n"
                "print(bad)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["run", "--json"], ["run"], ["check"], ["trace"], ["dot"]])
def test_headless_commands_leave_textual_out(argv):
    cmd = [argv[0], str(CHAIN_RULE), *argv[1:]]
    r = _python("import io, sys, contextlib\n"
                "from engine.cli import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    rc = main({cmd!r})\n"
                "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))\n"
                "print(rc, bad)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0 []"


def _imports(tree: ast.AST):
    """(module name, the function it is imported in or None) for every import in a module."""
    out = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            f = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Import):
                out.extend((a.name, func) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                out.append((child.module, func))
            visit(child, f)
    visit(tree, None)
    return out


def test_engine_source_imports_no_ui_and_evaluates_nothing():
    files = sorted(ENGINE.glob("*.py"))
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module, func in _imports(tree):
            top = module.split(".")[0]
            if top in ("textual", "rich", "tui"):
                # Only the launcher of the TUI may import it, and only when called.
                assert (path.name, func, module) == ("cli.py", "_tui", "tui.app"), (path.name, module)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile", "__import__"), (path.name, node.lineno)


def test_chain_rule_run_json_gives_the_closed_form():
    script = Path(sys.executable).parent / "gradstep"
    assert script.exists(), "the console script is installed next to the interpreter"
    r = subprocess.run([str(script), "run", str(CHAIN_RULE), "--json"], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # x read from the file with tomllib, the closed form in plain math.
    x = float(tomllib.loads(CHAIN_RULE.read_text(encoding="utf-8"))["values"]["x"])
    u = x * x
    v = math.sin(u)
    f = math.exp(v)
    dfdx = math.exp(v) * math.cos(u) * 2 * x
    assert abs(out["values"]["f"] - f) <= 1e-12 * max(1.0, abs(f))
    assert abs(out["grads"]["x"] - dfdx) <= 1e-12 * max(1.0, abs(dfdx))
    assert out["values"]["u"] == pytest.approx(u, rel=1e-15) and out["values"]["v"] == pytest.approx(v, rel=1e-15)
    assert out["loss"] == [out["values"]["f"]] and out["steps"] == 1
