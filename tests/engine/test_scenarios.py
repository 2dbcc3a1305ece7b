"""The bundled scenarios and the format documentation in scenarios/README.md.

Each bundled scenario loads, passes `gradstep check`, and does what its description promises.
Numbers are checked against independent routes (closed forms, the same training loop written
in plain NumPy, numpy.linalg.lstsq), never against the engine's own earlier output. Every
```toml block of the README is loaded as written, and its error examples must fail with exactly
the message printed under them.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from gradstep import engine
from gradstep.engine.cli import main as gradstep

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
README = SCENARIOS / "README.md"
EXPECTED = ["chain_rule", "two_layer", "sum_over_paths", "xor", "linear_regression", "iris_softmax", "diverge",
            "momentum_valley", "adam_first_step", "rmsprop_valley", "lenet_digits", "attention"]
BUNDLED = sorted(SCENARIOS.glob("*.toml"))


def load(name: str) -> engine.Scenario:
    return engine.load_scenario(SCENARIOS / f"{name}.toml")


def train(scenario: engine.Scenario) -> engine.Stepper:
    """Run every iteration; the stepper ends after the last update, with that iteration's values."""
    st = engine.Stepper(scenario)
    assert st.run_iterations(st.steps - 1) is None
    st.run_iteration()
    assert st.anomaly is None and st.at_end
    return st


def run_json(capsys, path: Path, *extra: str) -> tuple[int, dict]:
    code = gradstep(["run", str(path), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def csv_columns(name: str) -> tuple[list[str], np.ndarray]:
    with open(SCENARIOS / name, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    return header, np.loadtxt(SCENARIOS / name, delimiter=",", skiprows=1, ndmin=2)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------- every bundled scenario
def test_the_bundled_set_is_complete():
    assert sorted(p.stem for p in BUNDLED) == sorted(EXPECTED)
    for p in BUNDLED:
        sc = engine.load_scenario(p)
        assert len(sc.description) > 80, f"{p.name}: the description should say what to watch"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_gradstep_check_passes(path, capsys):
    assert gradstep(["check", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"]
    params = [c for c in report["leaves"] if c["kind"] == "param"]
    assert all(c["passed"] and c["checked"] > 0 for c in params)
    names = {c["name"] for c in report["leaves"]}
    sc = engine.load_scenario(path)
    assert names == {sc.program.nodes[i].name for i in sc.program.params + sc.program.values}


# ---------------------------------------------------------------- chain rule
def test_chain_rule_matches_the_closed_form(capsys):
    sc = load("chain_rule")
    x = float(sc.initial[sc.program.by_name["x"]])
    assert x == 1.5                       # a TUI test relies on it
    code, out = run_json(capsys, SCENARIOS / "chain_rule.toml")
    assert code == 0
    u = x * x
    assert out["values"]["f"] == pytest.approx(np.exp(np.sin(u)), rel=1e-12, abs=0)
    assert out["grads"]["x"] == pytest.approx(np.exp(np.sin(u)) * np.cos(u) * 2 * x, rel=1e-12, abs=0)


# ---------------------------------------------------------------- two-layer net
def two_layer_by_hand(x, y_hat, W1, W2, eta, steps):
    """The same training loop written out in NumPy: losses per iteration and the final params."""
    losses = []
    for _ in range(steps):
        z1 = W1 @ x
        h = np.maximum(z1, 0.0)
        z2 = W2 @ h
        f = np.maximum(z2, 0.0)
        losses.append(np.sum((f - y_hat) ** 2))
        gz2 = 2.0 * (f - y_hat) * (z2 > 0)
        gz1 = (W2.T @ gz2) * (z1 > 0)
        W1, W2 = W1 - eta * np.outer(gz1, x), W2 - eta * np.outer(gz2, h)
    return np.array(losses), W1, W2


def test_two_layer_keeps_its_names_and_shapes():
    p = load("two_layer").program
    shapes = {name: p.node(name).shape for name in ("x", "y_hat", "W1", "W2", "h", "f", "E")}
    assert shapes == {"x": (100,), "y_hat": (2,), "W1": (10, 100), "W2": (2, 10), "h": (10,), "f": (2,),
                      "E": ()}
    assert [p.nodes[i].name for i in p.params] == ["W1", "W2"]


def test_two_layer_loss_falls_and_matches_numpy():
    sc = load("two_layer")
    p, ini = sc.program, sc.initial
    st = train(sc)
    losses, W1, W2 = two_layer_by_hand(ini[p.by_name["x"]], ini[p.by_name["y_hat"]], ini[p.by_name["W1"]],
                                       ini[p.by_name["W2"]], sc.learning_rate, sc.steps)
    np.testing.assert_allclose(st.losses, losses, rtol=1e-12, atol=0)
    np.testing.assert_allclose(st.param(p.by_name["W1"]), W1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(st.param(p.by_name["W2"]), W2, rtol=1e-12, atol=1e-15)
    assert losses[-1] < 1e-3 * losses[0]
    assert np.all(np.diff(losses) < 0), "the loss should fall at every step"


def test_two_layer_description_output_that_starts_dead_comes_back():
    sc = load("two_layer")
    f = sc.program.by_name["f"]
    st = engine.Stepper(sc)
    st.run_phase()
    assert st.value(f)[1] == 0.0 and st.value(f)[0] > 0.0
    st = train(sc)
    assert st.value(f)[1] > 0.2


def test_two_layer_description_seed_0_stalls_with_a_dead_output():
    text = (SCENARIOS / "two_layer.toml").read_text()
    text, n = re.subn(r"(?m)^seed = \d+", "seed = 0", text)
    assert n == 1
    st = train(engine.load_scenario_text(text))
    assert st.value(st.program.by_name["f"])[0] == 0.0
    assert st.losses[-1] > 0.24


# ---------------------------------------------------------------- sum over paths
def test_sum_over_paths_gives_de_db_5_from_two_paths():
    sc = load("sum_over_paths")
    p = sc.program
    st = train(sc)
    a, b, c, d, e = (p.by_name[k] for k in "abcde")
    assert (float(st.value(c)), float(st.value(d)), float(st.value(e))) == (3.0, 2.0, 6.0)
    assert float(st.grad(a)) == 2.0                    # ∂e/∂a = d
    assert float(st.grad(b)) == 5.0                    # ∂e/∂b = d + c
    assert st.grad_status(b) == (2, 2)
    assert sorted(float(x.value) for x in st.contributions(b)) == [2.0, 3.0]
    paths = engine.chain_paths(p, b, [st.value(i) for i in range(len(p.nodes))])
    assert paths.scalar and not paths.truncated
    assert sorted(path.product for path in paths.paths) == [2.0, 3.0]
    assert paths.total == 5.0


# ---------------------------------------------------------------- XOR
def test_xor_learns_all_four_points():
    sc = load("xor")
    st = train(sc)
    assert st.losses[-1] < 0.1 * st.losses[0]
    p = sc.program
    W1, b1, W2, b2 = (st.param(p.by_name[k]) for k in ("W1", "b1", "W2", "b2"))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    Y = np.array([0, 1, 1, 0])
    out = sigmoid(np.tanh(X @ W1 + b1) @ W2 + b2).ravel()      # the trained net, by hand
    assert np.array_equal(out > 0.5, Y == 1)
    assert np.all(np.abs(out - Y) < 0.2)


# ---------------------------------------------------------------- linear regression
def test_linear_regression_approaches_least_squares():
    sc = load("linear_regression")
    st = train(sc)
    header, data = csv_columns("linear_regression.csv")
    assert header == ["x", "y"] and data.shape == (50, 2)
    A = np.c_[data[:, 0], np.ones(len(data))]
    (w_ls, b_ls), *_ = np.linalg.lstsq(A, data[:, 1], rcond=None)
    w, b = float(st.param(sc.program.by_name["w"])), float(st.param(sc.program.by_name["b"]))
    assert abs(w - w_ls) < 1e-3 and abs(b - b_ls) < 1e-3
    assert abs(w - 3.0) < 0.3 and abs(b - 1.0) < 0.3          # near the line the data came from
    mse_ls = np.mean((A @ [w_ls, b_ls] - data[:, 1]) ** 2)
    assert st.losses[-1] == pytest.approx(mse_ls, rel=1e-6)


def test_linear_regression_csv_follows_the_readme_recipe():
    """scenarios/README.md gives the recipe; running it again must give the committed file."""
    recipe = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    assert "default_rng(20240601)" in recipe
    rng = np.random.default_rng(20240601)
    x = np.round(rng.uniform(0.0, 2.0, 50), 3)
    y = np.round(3.0 * x + 1.0 + rng.normal(0.0, 0.5, 50), 3)
    expected = "x,y\n" + "".join(f"{a:.3f},{b:.3f}\n" for a, b in zip(x, y))
    assert (SCENARIOS / "linear_regression.csv").read_text() == expected


# ---------------------------------------------------------------- iris
def test_iris_csv_is_fishers_data():
    header, data = csv_columns("iris.csv")
    assert header == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert data.shape == (150, 5)
    assert np.bincount(data[:, 4].astype(int)).tolist() == [50, 50, 50]
    # Ranges from the UCI description of the data set, in cm.
    np.testing.assert_array_equal(data[:, :4].min(axis=0), [4.3, 2.0, 1.0, 0.1])
    np.testing.assert_array_equal(data[:, :4].max(axis=0), [7.9, 4.4, 6.9, 2.5])
    np.testing.assert_array_equal(data[0], [5.1, 3.5, 1.4, 0.2, 0])
    # The two rows scikit-learn corrected to match Fisher's paper.
    np.testing.assert_array_equal(data[34, :4], [4.9, 3.1, 1.5, 0.2])
    np.testing.assert_array_equal(data[37, :4], [4.9, 3.6, 1.4, 0.1])


def test_iris_batches_are_shuffled_per_epoch_as_documented():
    sc = load("iris_softmax")
    _, data = csv_columns("iris.csv")
    x, y = sc.program.by_name["x"], sc.program.by_name["y"]
    assert sc.program.node("x").shape == (30, 4) and sc.program.node("y").shape == (30,)
    for epoch in (0, 1):
        order = np.random.default_rng([sc.seed, epoch]).permutation(150)
        for k in range(5):
            leaves = sc.leaves_for(epoch * 5 + k + 1)
            rows = order[k * 30:(k + 1) * 30]
            np.testing.assert_array_equal(leaves[x], data[rows, :4])
            np.testing.assert_array_equal(leaves[y], data[rows, 4])


def test_iris_classifier_beats_chance_clearly():
    sc = load("iris_softmax")
    st = train(sc)
    _, data = csv_columns("iris.csv")
    W, b = st.param(sc.program.by_name["W"]), st.param(sc.program.by_name["b"])
    accuracy = np.mean(np.argmax(data[:, :4] @ W + b, axis=1) == data[:, 4])
    assert accuracy > 0.9                 # chance is 1/3
    assert st.losses[0] == pytest.approx(np.log(3), rel=1e-12)    # W = 0: every class 1/3
    assert np.mean(st.losses[-50:]) < 0.5 * st.losses[0]


# ---------------------------------------------------------------- divergence
def first_overflow_by_hand(x, y, eta, steps):
    """The diverging fit in NumPy: (iteration, name) of the first node that is not finite."""
    w = b = 0.0
    n = len(x)
    with np.errstate(all="ignore"):
        for it in range(1, steps + 1):
            wx = w * x
            pred = wx + b
            r = pred - y
            sq = r ** 2
            E = np.mean(sq)
            for name, v in (("w * x", wx), ("pred", pred), ("pred - y", r), ("(pred - y)**2", sq), ("E", E)):
                if not np.all(np.isfinite(v)):
                    return it, name
            g = 2.0 * r / n
            w, b = w - eta * np.sum(g * x), b - eta * np.sum(g)
    return None


def test_diverge_stops_at_the_first_non_finite_node():
    sc = load("diverge")
    _, data = csv_columns("linear_regression.csv")
    expected = first_overflow_by_hand(data[:, 0], data[:, 1], sc.learning_rate, sc.steps)
    assert expected is not None
    st = engine.Stepper(sc)
    anomaly = st.run_iterations(sc.steps)
    assert anomaly is not None
    assert (anomaly.iteration, anomaly.node_name, anomaly.phase) == (expected[0], expected[1], "forward")
    assert anomaly.kind in ("inf", "nan")
    assert np.all(np.isfinite(st.losses[:expected[0] - 1]))
    assert np.all(np.diff(st.losses[:expected[0] - 1]) > 0)       # it grows every iteration


def test_gradstep_run_exits_1_naming_the_node():
    proc = subprocess.run([sys.executable, "-m", "gradstep.engine", "run", str(SCENARIOS / "diverge.toml")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gradstep: numeric anomaly: iteration 306: node 'E' (mean) produced inf")


# ---------------------------------------------------------------- the README as a contract
def readme_blocks() -> list[tuple[str, str, str | None]]:
    """(language, text, the ```text block right after it) for every fenced block of the README."""
    found = re.findall(r"```(\w+)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [(lang, text, found[k + 1][1] if k + 1 < len(found) and found[k + 1][0] == "text" else None)
            for k, (lang, text) in enumerate(found)]


TOML_BLOCKS = [(text, after) for lang, text, after in readme_blocks() if lang == "toml"]


def block_id(k: int, text: str) -> str:
    m = re.search(r'title = "([^"]*)"', text)
    first_error_line = next((ln for ln in text.splitlines()[::-1] if "=" in ln and "loss" not in ln
                             and "learning_rate" not in ln), "")
    return f"{k}: " + (m.group(1) if m and m.group(1) != "t" else first_error_line.strip()[:40])


GOOD = [pytest.param(t, id=block_id(k, t)) for k, (t, _) in enumerate(TOML_BLOCKS)
        if not t.startswith("# bad.toml")]
BAD = [pytest.param(t, after, id=block_id(k, t)) for k, (t, after) in enumerate(TOML_BLOCKS)
       if t.startswith("# bad.toml")]
GOOD_TEXT = [p.values[0] for p in GOOD]


def test_readme_has_examples():
    assert len(GOOD) >= 10 and len(BAD) >= 12


@pytest.mark.parametrize("text", GOOD)
def test_readme_example_loads_and_runs(text):
    sc = engine.load_scenario_text(text, file="README.md", base_dir=SCENARIOS)
    if "[[break]]" in text:
        # The example's breakpoints are live: run_iteration stops at the first one that holds.
        st = engine.Stepper(sc)
        st.run_iteration()
        assert st.stop is not None and len(st.breakpoints) == text.count("[[break]]")
        sc.breakpoints = []
    st = engine.Stepper(sc)
    st.run_iteration()
    if "grad_norm_limit" in text:
        assert st.anomaly is not None and st.anomaly.kind == "grad_norm" and st.anomaly.iteration == 1
    else:
        assert st.anomaly is None, st.anomaly
        assert np.isfinite(st.losses[0])
    # Shapes promised in comments such as `# shape (2, 3)` are the real shapes.
    for m in re.finditer(r"(?m)^(\w+)\s*=.*#.*?shape (\([0-9, ]*\))", text):
        assert sc.program.node(m.group(1)).shape == ast.literal_eval(m.group(2)), m.group(0)


@pytest.mark.parametrize("text,message", BAD)
def test_readme_error_example_gives_the_printed_message(text, message, capsys):
    assert message is not None, "an error example needs a ```text block with the message"
    with pytest.raises(engine.ScenarioError) as info:
        engine.load_scenario_text(text, file="bad.toml", base_dir=SCENARIOS)
    assert f"gradstep: {info.value}" == message.strip()


def test_readme_reductions_example_values():
    text = next(t for t in GOOD_TEXT if 'title = "Reductions"' in t)
    st = engine.Stepper(engine.load_scenario_text(text))
    st.run_phase()
    p = st.program
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(st.value(p.by_name["rows"]), A.sum(axis=1))
    np.testing.assert_array_equal(st.value(p.by_name["cols"]), [[2.5, 3.5, 4.5]])
    assert float(st.value(p.by_name["both"])) == 21.0
    np.testing.assert_allclose(st.value(p.by_name["p"]).sum(axis=0), 1.0, rtol=1e-15)


def test_readme_init_recipe_and_per_name_streams():
    text = next(t for t in GOOD_TEXT if 'title = "Initial values"' in t)
    sc = engine.load_scenario_text(text)
    ini, p = sc.initial, sc.program

    def stream(name):
        return np.random.default_rng([42, zlib.crc32(name.encode())])

    np.testing.assert_array_equal(ini[p.by_name["x"]], stream("x").uniform(-2.0, 2.0, (3,)))
    np.testing.assert_array_equal(ini[p.by_name["W"]], stream("W").standard_normal((4, 3)) * 0.5)
    np.testing.assert_array_equal(ini[p.by_name["b"]], np.zeros(4))
    np.testing.assert_array_equal(ini[p.by_name["c"]], np.full(4, 0.1))
    # Adding a param before W leaves W's draw alone.
    more = engine.load_scenario_text(text.replace("[params]\n", '[params]\nV = { init = "normal", shape = [7] }\n'))
    np.testing.assert_array_equal(more.initial[more.program.by_name["W"]], ini[p.by_name["W"]])


def test_readme_documents_every_op_and_limit():
    from gradstep.engine import limits
    readme = README.read_text(encoding="utf-8")
    table = readme.split("## Ops and their local derivatives")[1].split("## sum, mean")[0]
    for name in engine.REGISTRY:
        if name != "identity":
            assert f"| {name}" in table, f"op {name!r} is missing from the README's table"
    limit_table = readme.split("## Limits")[1].split("## Error messages")[0]
    names = [n for n in dir(limits) if n.startswith("MAX_")]
    assert len(names) >= 10
    for name in names:
        assert re.search(rf"\| `{name}` \| {getattr(limits, name):,}( bytes)? \|", limit_table), \
            f"limit {name} = {getattr(limits, name):,} is missing from the README or has another value"


# ---------------------------------------------------------------- optimizer families
def _sign_changes(sc) -> int:
    """How many times w[1] changes sides over the whole run."""
    st = engine.Stepper(sc)
    flips, prev = 0, None
    while not st.at_end:
        st.run_iteration()
        s = st.param(sc.program.by_name["w"])[1] > 0
        flips += prev is not None and s != prev
        prev = s
    return flips


def test_momentum_overshoots_the_narrow_valley_and_plain_sgd_does_not():
    sc = load("momentum_valley")
    assert _sign_changes(sc) >= 5                          # w1 swings from side to side
    plain = engine.load_scenario_text((SCENARIOS / "momentum_valley.toml").read_text().replace(
        "momentum = 0.9", "momentum = 0.0"))
    assert _sign_changes(plain) == 0                       # η·5 = 0.25 < 1: no overshoot without momentum
    st = train(sc)
    assert st.losses[-1] < 1e-2 * st.losses[0]
    # The file's breakpoint, once enabled, stops at each swing.
    st = engine.Stepper(sc)
    st.enable_breakpoint(st.breakpoints[0].id)
    assert st.continue_() is not None and st.stop.phase == "update"


def test_rmsprop_crosses_the_same_valley_without_swinging():
    assert _sign_changes(load("rmsprop_valley")) <= 1


def test_adams_first_step_moves_both_params_by_eta_whatever_their_gradients():
    sc = load("adam_first_step")
    st = engine.Stepper(sc)
    st.run_phase(), st.run_phase()
    a, b = sc.program.by_name["a"], sc.program.by_name["b"]
    ga, gb = float(st.grad(a)), float(st.grad(b))
    assert abs(ga / gb) > 1e5
    st.run_phase()
    assert st.param(a) == pytest.approx(1.0 - 0.1, rel=1e-6) and st.param(b) == pytest.approx(1.0 - 0.1, rel=1e-4)
