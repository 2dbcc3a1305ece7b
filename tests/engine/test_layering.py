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

from gradstep.scenarios import bundled_dir

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
CHAIN_RULE = bundled_dir() / "chain_rule.toml"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_import_engine_leaves_textual_out():
    r = _python("import sys, gradstep.engine\n"
                "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')\n"
                "             or m.startswith('gradstep.tui'))\n"
                "print(bad)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["run", "--json"], ["run"], ["check"], ["trace"], ["dot"]])
def test_headless_commands_leave_textual_out(argv):
    """Through the console script's own entry point, which sits on the UI side."""
    cmd = [argv[0], str(CHAIN_RULE), *argv[1:]]
    r = _python("import io, sys, contextlib\n"
                "from gradstep.tui.launch import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    rc = main({cmd!r})\n"
                "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
                "print(rc, bad)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0 []"


def _imports(tree: ast.AST, package: str):
    """Every module a file imports, anywhere in it (functions included), as absolute names.

    package is the importing module's package ("gradstep.engine"), for resolving relative imports.
    """
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # 'from . import x' and 'from .m import x' may name submodules: count both readings.
            out.append(mod)
            out.extend(f"{mod}.{a.name}" for a in node.names)
    return out


def _engine_modules() -> dict[str, set[str]]:
    """engine module name -> the engine modules it imports.

    Names are relative to gradstep.engine: "stepper", "ops" (a sub-package's __init__), "ops.base".
    The engine's own __init__ is left out: it is the facade that loads the rest on first use.
    """
    files = {}
    for path in sorted(ENGINE.rglob("*.py")):
        parts = list(path.relative_to(ENGINE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            files[".".join(parts)] = path
    graph = {}
    for name, path in files.items():
        # The package a file's relative imports start from.
        package = "gradstep.engine." + name if path.name == "__init__.py" else \
            "gradstep.engine" + ("." + name.rsplit(".", 1)[0] if "." in name else "")
        deps = set()
        for mod in _imports(ast.parse(path.read_text(encoding="utf-8")), package):
            if mod.startswith("gradstep.engine."):
                rest = mod[len("gradstep.engine."):]
                for cand in (rest, rest.rsplit(".", 1)[0]):
                    if cand in files and cand != name:
                        deps.add(cand)
                        break
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in the graph, or None (iterative depth-first search)."""
    state = dict.fromkeys(graph, 0)          # 0 unseen, 1 on the stack, 2 done
    for root in graph:
        if state[root]:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state[nxt] == 1:
                return path[path.index(nxt):] + [nxt]
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return None


def test_engine_source_imports_no_ui_and_evaluates_nothing():
    """No whitelist: not one engine module imports textual, rich or the TUI, even inside a function."""
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module in _imports(tree, "gradstep.engine"):
            top = module.split(".")[0]
            assert top not in ("textual", "rich", "tui", "scenarios"), (path.name, module)
            assert not module.startswith(("gradstep.tui", "gradstep.scenarios")), (path.name, module)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile", "__import__"), (path.name, node.lineno)


def test_no_import_cycle_among_engine_modules():
    graph = _engine_modules()
    assert len(graph) > 10 and {"stepper", "ops", "ops.base", "ops.elementwise"} <= set(graph)
    assert "ops.base" in graph["ops.elementwise"] and "accumulate" in graph["ops.base"]
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_the_cycle_check_would_notice_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    # And the import reader resolves the forms the engine uses.
    tree = ast.parse("from . import limits\nfrom .ops import REGISTRY\ndef f():\n    from .scenario import x\n")
    mods = _imports(tree, "gradstep.engine")
    assert {"gradstep.engine.limits", "gradstep.engine.ops", "gradstep.engine.scenario"} <= set(mods)


def test_nothing_imports_the_folders_as_top_level_packages():
    """engine, tui and scenarios are only ever gradstep.engine, gradstep.tui, gradstep.scenarios: a bare
    `import engine` would load a second copy of every module from the working directory."""
    offenders = []
    for folder in ("engine", "tui", "scenarios", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for n in names:
                    if n.split(".")[0] in ("engine", "tui", "scenarios"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {n}")
    assert offenders == []


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


def _op_name_comparisons(tree: ast.AST, op_names: set[str]) -> list[int]:
    """Lines that dispatch on an op's name: `x.op.name == ...`, `op.name in (...)`, a variable set
    from `op.name` then compared or used as a key, an op name compared as a string, or a table of
    functions keyed by op names ({"exp": np.exp, ...})."""
    def is_op_name(e: ast.AST) -> bool:
        if isinstance(e, ast.Attribute) and e.attr == "name":
            base = e.value
            return (isinstance(base, ast.Attribute) and base.attr == "op") or \
                (isinstance(base, ast.Name) and base.id == "op")
        return False

    aliases = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and is_op_name(n.value)
               for t in n.targets if isinstance(t, ast.Name)}

    def names_an_op(e: ast.AST) -> bool:
        if is_op_name(e) or (isinstance(e, ast.Name) and e.id in aliases):
            return True
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return e.value in op_names
        if isinstance(e, (ast.Tuple, ast.List, ast.Set)):
            return any(names_an_op(x) for x in e.elts)
        return False
    lines = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Compare) and any(names_an_op(x) for x in [n.left, *n.comparators]):
            lines.append(n.lineno)
        elif isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Name) and n.slice.id in aliases:
            lines.append(n.lineno)
        elif isinstance(n, ast.Dict) and any(isinstance(k, ast.Constant) and k.value in op_names
                                             and isinstance(v, (ast.Attribute, ast.Name))
                                             for k, v in zip(n.keys, n.values)):
            lines.append(n.lineno)          # a table of functions keyed by op name
    return sorted(set(lines))


def test_no_file_outside_the_op_registry_compares_an_op_name():
    """Op knowledge lives on the op's row: the fast path, the loader, the parser and the gradient
    check read the row's fields, never `if op.name == "relu"`."""
    from gradstep.engine.ops import REGISTRY
    names = set(REGISTRY)
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        if "ops" in path.relative_to(ENGINE).parts[:-1]:
            continue
        for line in _op_name_comparisons(ast.parse(path.read_text(encoding="utf-8")), names):
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []


def test_the_op_name_scan_would_notice_a_comparison():
    names = {"relu", "sum", "matmul"}
    found = _op_name_comparisons(ast.parse(
        "if node.op.name == 'relu': pass\n"
        "if op.name in ('sum', 'mean'): pass\n"
        "name = node.op.name\n"
        "if name in _UFUNC: pass\n"
        "f = _UFUNC[name]\n"
        "x = kind == 'param'\n"
        "if 'matmul' != y: pass\n"
        "_UFUNC = {'relu': np.maximum}\n"
        "stats = {'sum': float(x.sum())}\n"
        "msg = f'{node.op.name} failed'\n"), names)
    assert found == [1, 2, 4, 5, 7, 8]
