"""Limits: each refuses what would exhaust memory or time, before spending it, with a message that names it.

Boundary tests lower a limit with monkeypatch (the loader reads engine.limits at call time), so
"at the limit loads, one past it is refused" is checked cheaply; the big cases use the real values.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gradstep.engine import ScenarioError, Stepper, limits, load_scenario, load_scenario_text

from gradstep.scenarios import bundled_dir

ROOT = Path(__file__).resolve().parents[2]
GRADSTEP = str(Path(sys.executable).with_name("gradstep"))
HEAD = '[scenario]\ntitle = "t"\n'
TRAIN = '[train]\nloss = "E"\nlearning_rate = 0.1\n'

LIMIT_NAMES = [n for n in dir(limits) if n.isupper()]


def scenario(values: str = "x = [1.0, 2.0]\n", graph: str = 'E = "sum(x)"\n', train: str = TRAIN,
             params: str = "") -> str:
    return HEAD + "[values]\n" + values + ("[params]\n" + params if params else "") + "[graph]\n" + graph + train


def refused(text: str, *phrases: str, **kw) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, **kw)
    for p in phrases:
        assert p in str(info.value), (p, str(info.value))
    return info.value


def peak_bytes(fn) -> int:
    """Peak traced allocation while fn runs (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def refused_with_peak(text: str) -> tuple[list[ScenarioError], int]:
    """Load text; the errors it raised (none or one) and the peak bytes allocated meanwhile."""
    caught: list[ScenarioError] = []

    def load():
        try:
            load_scenario_text(text)
        except ScenarioError as e:
            caught.append(e)
    return caught, peak_bytes(load)


# ----------------------------------------------------------------------------- documentation
def test_every_limit_is_a_documented_positive_whole_number():
    source = (ROOT / "engine" / "limits.py").read_text()
    assert len(LIMIT_NAMES) >= 12
    for name in LIMIT_NAMES:
        value = getattr(limits, name)
        assert isinstance(value, int) and value > 0, name
        line = next(l for l in source.splitlines() if l.startswith(name + " ="))
        assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, f"{name} has no comment"


# ----------------------------------------------------------------------------- elements per tensor
def test_huge_init_shape_is_refused_before_any_allocation():
    text = scenario(params='W = { init = "normal", shape = [100000, 100000] }\n', graph='E = "sum(W)"\n')
    caught, peak = refused_with_peak(text)
    assert caught, "the shape was not refused"
    e = caught[0]
    assert (e.table, e.key) == ("params", "W")
    assert "10,000,000,000 elements" in e.problem and "MAX_ELEMENTS" in e.problem
    assert f"{limits.MAX_ELEMENTS:,}" in e.problem
    assert peak < 2_000_000, f"peak {peak:,} bytes: something was allocated"


def test_huge_computed_shape_is_refused_before_any_allocation():
    """[100000, 1] + [1, 100000] would broadcast to 10^10 elements: refused at load, nothing computed."""
    text = scenario(values='a = { init = "zeros", shape = [100000, 1] }\nb = { init = "zeros", shape = [1, 100000] }\n',
                    graph='h = "a + b"\nE = "sum(h)"\n')
    caught, peak = refused_with_peak(text)
    assert caught and caught[0].key == "h"
    assert "(100000, 100000)" in caught[0].problem and f"{limits.MAX_ELEMENTS:,}" in caught[0].problem
    assert peak < 8_000_000, f"peak {peak:,} bytes"


def test_elements_per_tensor_boundary(monkeypatch):
    monkeypatch.setattr(limits, "MAX_ELEMENTS", 12)
    load_scenario_text(scenario(values='x = { init = "ones", shape = [3, 4] }\n'))
    e = refused(scenario(values='x = { init = "ones", shape = [13] }\n'), "MAX_ELEMENTS", "13 elements")
    assert (e.table, e.key) == ("values", "x")
    refused(scenario(values="x = [" + ", ".join(["1.0"] * 13) + "]\n"), "MAX_ELEMENTS")
    refused(scenario(values="x = [1.0, 2.0, 3.0]\ny = [[1.0], [2.0], [3.0], [4.0], [5.0]]\n",
                     graph='E = "sum(x * y)"\n'), "(5, 3)", "12")


def test_axes_limit():
    e = refused(scenario(values='x = { init = "ones", shape = [1, 1, 1, 1, 1, 1, 1, 1, 1] }\n'), "MAX_AXES")
    assert e.key == "x"
    refused(scenario(values="x = " + "[" * 9 + "1.0" + "]" * 9 + "\n"), "MAX_AXES")
    load_scenario_text(scenario(values='x = { init = "ones", shape = [1, 1, 1, 1, 1, 1, 1, 2] }\n'))


# ----------------------------------------------------------------------------- total elements
def test_total_elements_refused_before_allocating_any(monkeypatch):
    side = int(math.isqrt(limits.MAX_ELEMENTS))
    count = limits.MAX_TOTAL_ELEMENTS // (side * side) + 1
    params = "".join(f'W{i} = {{ init = "normal", shape = [{side}, {side}] }}\n' for i in range(count))
    text = scenario(values="", params=params, graph='E = "sum(W0)"\n')
    caught, peak = refused_with_peak(text)
    assert caught and "MAX_TOTAL_ELEMENTS" in caught[0].problem
    assert caught[0].key == f"W{count - 1}"
    assert peak < 2_000_000, f"peak {peak:,} bytes"


def test_total_elements_counts_data(monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "MAX_TOTAL_ELEMENTS", 10)
    load_scenario_text(HEAD + "[values]\nx = [1.0, 2.0]\n[data]\nd = [1.0, 2.0, 3.0, 4.0]\n"
                       '[graph]\nE = "sum(x) + sum(d)"\n' + TRAIN)
    refused(HEAD + "[values]\nx = [1.0, 2.0]\n[data]\nd = [1.0, 2.0, 3.0, 4.0]\ne = [[1.0, 2.0]] * 2\n"
            '[graph]\nE = "sum(x)"\n' + TRAIN)
    (tmp_path / "d.csv").write_text("a,b,c\n" + "1,2,3\n" * 4)
    (tmp_path / "s.toml").write_text(HEAD + '[data]\nfile = "d.csv"\nx = ["a", "b", "c"]\n'
                                     '[graph]\nE = "sum(x)"\n' + TRAIN)
    e = pytest.raises(ScenarioError, load_scenario, tmp_path / "s.toml").value
    assert "MAX_TOTAL_ELEMENTS" in e.problem and (e.table, e.key) == ("data", "x")


def test_csv_binding_one_column_many_times_is_bounded(tmp_path):
    """x = ["a", "a", ...] cannot multiply a small CSV into a huge array."""
    (tmp_path / "d.csv").write_text("a\n" + "1\n" * 1000)
    cols = json.dumps(["a"] * 5000)
    (tmp_path / "s.toml").write_text(HEAD + f'[data]\nfile = "d.csv"\nx = {cols}\n[graph]\nE = "sum(x)"\n' + TRAIN)
    e = pytest.raises(ScenarioError, load_scenario, tmp_path / "s.toml").value
    assert "MAX_ELEMENTS" in e.problem and e.key == "x"


# ----------------------------------------------------------------------------- expressions
def test_expression_length_boundary():
    n = limits.MAX_EXPRESSION_CHARS
    ok = "x" + " " * (n - 1)
    load_scenario_text(scenario(graph=f'h = "{ok}"\nE = "sum(h)"\n'))
    e = refused(scenario(graph=f'h = "{ok} "\nE = "sum(h)"\n'), "MAX_EXPRESSION_CHARS", f"{n + 1:,} characters")
    assert e.key == "h"


def test_hundred_thousand_deep_parentheses():
    deep = "(" * 100_000 + "x" + ")" * 100_000
    e = refused(scenario(graph=f'E = "sum({deep})"\n'), "MAX_EXPRESSION_CHARS")
    assert e.key == "E"


def test_hundred_thousand_deep_parentheses_past_a_raised_length_limit(monkeypatch):
    """Even with no length limit, the depth check stops it before Python's parser sees it."""
    monkeypatch.setattr(limits, "MAX_EXPRESSION_CHARS", 10**7)
    deep = "(" * 100_000 + "x" + ")" * 100_000
    refused(scenario(graph=f'E = "sum({deep})"\n'), "100,001 brackets", "MAX_EXPRESSION_DEPTH")


def test_hundred_thousand_unary_minus():
    refused(scenario(graph='E = "sum(' + "-" * 100_000 + 'x)"\n'), "MAX_EXPRESSION_CHARS")


def test_hundred_thousand_unary_minus_past_a_raised_length_limit(monkeypatch):
    monkeypatch.setattr(limits, "MAX_EXPRESSION_CHARS", 10**7)
    refused(scenario(graph='E = "sum(' + "- " * 100_000 + 'x)"\n'), "100,000 signs", "MAX_EXPRESSION_DEPTH")
    refused(scenario(graph='E = "sum(' + "~" * 100_000 + 'x)"\n'), "MAX_EXPRESSION_DEPTH")


@pytest.mark.parametrize("build", [
    lambda n: "x" + " + x" * n,             # left-nested: each + inside the one before
    lambda n: "x" + " / x" * n,
    lambda n: "sum(x" + " * x" * n + ")",
    lambda n: "x" + ".T" * n,
])
def test_deep_operation_chains_within_the_length_limit(build, monkeypatch):
    d = limits.MAX_EXPRESSION_DEPTH
    load_scenario_text(scenario(graph=f'h = "{build(d // 2)}"\nE = "sum(h)"\n'))
    e = refused(scenario(graph=f'h = "{build(d + 1)}"\nE = "sum(h)"\n'), "MAX_EXPRESSION_DEPTH")
    assert e.key == "h"
    # Past the length limit too: refused as a ScenarioError, never a RecursionError.
    monkeypatch.setattr(limits, "MAX_EXPRESSION_CHARS", 10**7)
    refused(scenario(graph=f'h = "{build(50_000)}"\nE = "sum(h)"\n'))


def test_bracket_depth_boundary():
    d = limits.MAX_EXPRESSION_DEPTH
    load_scenario_text(scenario(graph=f'E = "{"(" * (d - 1)}sum(x){")" * (d - 1)}"\n'))
    refused(scenario(graph=f'E = "{"(" * d}sum(x){")" * d}"\n'), f"{d + 1} brackets", "MAX_EXPRESSION_DEPTH")


def test_deep_toml_nesting_is_a_scenario_error():
    refused(HEAD + "[values]\nx = " + "[" * 100_000 + "1" + "]" * 100_000 + '\n[graph]\nE = "x"\n' + TRAIN)
    refused(HEAD + "[values]\nx = " + "{a = " * 50_000 + "1" + "}" * 50_000 + '\n[graph]\nE = "x"\n' + TRAIN)


# ----------------------------------------------------------------------------- nodes
def test_node_limit(monkeypatch):
    monkeypatch.setattr(limits, "MAX_NODES", 40)
    keys = "".join(f'a{i} = "x * {i}"\n' for i in range(12))      # 1 leaf + 12 x (const, mul) = 25 nodes
    load_scenario_text(scenario(graph=keys + 'E = "sum(a0)"\n'))
    more = "".join(f'a{i} = "x * {i}"\n' for i in range(30))
    e = refused(scenario(graph=more + 'E = "sum(a0)"\n'), "40", "nodes")
    assert e.table == "graph" and e.key is not None and e.key.startswith("a")


def test_node_limit_real_value_with_many_keys():
    count = limits.MAX_NODES // 2 + 1        # each key adds a constant and a product
    keys = "".join(f'a{i} = "x * 2"\n' for i in range(count))
    e = refused(scenario(graph=keys + 'E = "sum(a0)"\n'), f"{limits.MAX_NODES:,}", "nodes")
    assert e.table == "graph"


# ----------------------------------------------------------------------------- one iteration's memory and time
def test_graph_elements_limit(monkeypatch):
    monkeypatch.setattr(limits, "MAX_GRAPH_ELEMENTS", 100)
    load_scenario_text(scenario(values='x = { init = "ones", shape = [10] }\n',
                                graph='h = "x * x"\nE = "sum(h)"\n'))
    many = "".join(f'h{i} = "x * x"\n' for i in range(12))
    e = refused(scenario(values='x = { init = "ones", shape = [10] }\n', graph=many + 'E = "sum(h0)"\n'),
                "MAX_GRAPH_ELEMENTS")
    assert e.table == "graph"


def test_work_per_iteration_limit_for_a_big_matmul():
    text = scenario(values='A = { init = "zeros", shape = [1500, 1500] }\n',
                    params='B = { init = "zeros", shape = [1500, 1500] }\n', graph='E = "sum(A @ B)"\n')
    e = refused(text, "MAX_WORK_PER_ITERATION", "multiply-adds")
    assert e.key == "E"


def test_steps_limit():
    refused(scenario(train=TRAIN + f"steps = {limits.MAX_STEPS + 1}\n"), "MAX_STEPS", f"{limits.MAX_STEPS:,}")
    e = refused(scenario(train=TRAIN + "steps = 1" + "0" * 30 + "\n"), "MAX_STEPS")
    assert len(e.problem) < 200
    load_scenario_text(scenario(train=TRAIN + f"steps = {limits.MAX_STEPS}\n"))


def test_total_work_limit():
    text = scenario(values='A = { init = "zeros", shape = [1000, 1000] }\n',
                    params='B = { init = "zeros", shape = [1000, 1000] }\n', graph='E = "sum(A @ B)"\n',
                    train=TRAIN + "steps = 10000\n")
    e = refused(text, "MAX_TOTAL_WORK", "at most")
    assert (e.table, e.key) == ("train", "steps")
    s = load_scenario_text(text.replace("steps = 10000", "steps = 100"))
    assert s.work >= 1000 ** 3


def test_cli_steps_override_obeys_the_total_work_limit(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(scenario(values='A = { init = "zeros", shape = [1000, 1000] }\n',
                             params='B = { init = "zeros", shape = [1000, 1000] }\n', graph='E = "sum(A @ B)"\n'))
    proc = subprocess.run([GRADSTEP, "run", str(path), "--steps", "100000"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "MAX_TOTAL_WORK" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([GRADSTEP, "run", str(path), "--steps", str(limits.MAX_STEPS + 1)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- CSV and files
def test_csv_rows_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "MAX_CSV_ROWS", 5)
    (tmp_path / "s.toml").write_text(HEAD + '[data]\nfile = "d.csv"\nx = "a"\n[graph]\nE = "sum(x)"\n' + TRAIN)
    (tmp_path / "d.csv").write_text("a\n" + "1\n" * 5)
    assert load_scenario(tmp_path / "s.toml").data.rows == 5
    (tmp_path / "d.csv").write_text("a\n" + "1\n" * 6)
    e = pytest.raises(ScenarioError, load_scenario, tmp_path / "s.toml").value
    assert "MAX_CSV_ROWS" in e.problem and (e.table, e.key) == ("data", "file")


def test_csv_rows_limit_real_value(tmp_path):
    (tmp_path / "s.toml").write_text(HEAD + '[data]\nfile = "d.csv"\nx = "a"\n[graph]\nE = "sum(x)"\n' + TRAIN)
    (tmp_path / "d.csv").write_text("a\n" + "1\n" * (limits.MAX_CSV_ROWS + 1))
    e = pytest.raises(ScenarioError, load_scenario, tmp_path / "s.toml").value
    assert "MAX_CSV_ROWS" in e.problem and f"{limits.MAX_CSV_ROWS:,}" in e.problem


def test_csv_bytes_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "MAX_CSV_BYTES", 100)
    (tmp_path / "s.toml").write_text(HEAD + '[data]\nfile = "d.csv"\nx = "a"\n[graph]\nE = "sum(x)"\n' + TRAIN)
    (tmp_path / "d.csv").write_text("a\n" + "1\n" * 49)                  # exactly 100 bytes
    assert load_scenario(tmp_path / "s.toml").data.rows == 49
    (tmp_path / "d.csv").write_text("a\n" + "1\n" * 49 + "\n")
    e = pytest.raises(ScenarioError, load_scenario, tmp_path / "s.toml").value
    assert "MAX_CSV_BYTES" in e.problem and "101 bytes" in e.problem


def test_file_bytes_limit(monkeypatch, tmp_path):
    text = scenario()
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", len(text.encode()))
    (tmp_path / "s.toml").write_text(text)
    load_scenario(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text(text + "#")
    e = pytest.raises(ScenarioError, load_scenario, tmp_path / "s.toml").value
    assert "MAX_FILE_BYTES" in e.problem and e.file == str(tmp_path / "s.toml")


# ----------------------------------------------------------------------------- what must still fit
@pytest.mark.parametrize("path", sorted(bundled_dir().glob("*.toml")), ids=lambda p: p.name)
def test_bundled_scenarios_fit(path):
    s = load_scenario(path)
    assert s.steps * s.work <= limits.MAX_TOTAL_WORK // 100


def test_mnist_sized_net_fits_far_below_every_limit():
    """784 -> 256 -> 10 with a batch of 64 and softmax cross-entropy: loads, steps, and uses at most
    a twentieth of each limit it touches."""
    text = (HEAD + '[values]\nx = { init = "uniform", shape = [64, 784] }\n'
            "y = [" + ", ".join(str(i % 10) for i in range(64)) + "]\n"
            '[params]\nW1 = { init = "normal", shape = [784, 256], scale = 0.05 }\n'
            'b1 = { init = "zeros", shape = [256] }\n'
            'W2 = { init = "normal", shape = [256, 10], scale = 0.05 }\n'
            'b2 = { init = "zeros", shape = [10] }\n'
            '[graph]\nh = "relu(x @ W1 + b1)"\nlogits = "h @ W2 + b2"\nE = "cross_entropy(logits, y)"\n'
            '[train]\nloss = "E"\nlearning_rate = 0.1\nsteps = 2000\n')
    s = load_scenario_text(text)
    nodes = s.program.nodes
    assert max(n.size for n in nodes) * 15 <= limits.MAX_ELEMENTS
    assert sum(n.size for n in nodes) * 20 <= limits.MAX_GRAPH_ELEMENTS
    assert len(nodes) * 20 <= limits.MAX_NODES
    assert s.work * 20 <= limits.MAX_WORK_PER_ITERATION
    assert s.work * s.steps * 20 <= limits.MAX_TOTAL_WORK
    # the estimate is honest: at least the two matmuls' multiply-adds
    assert s.work >= 64 * 784 * 256 + 64 * 256 * 10
    st = Stepper(s, steps=2)
    st.run_iteration()
    assert np.isfinite(st.losses).all() and st.losses[0] == pytest.approx(math.log(10), rel=0.2)
