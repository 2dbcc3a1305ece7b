"""Forward mode: every op's tangent rule against central differences and against its own VJP, the Stepper's
forward mode (colah's sum-over-paths numbers, stepping back bit for bit, the timeline unchanged), the
directional check on every bundled scenario and on the random graphs, and the CLI flags and their errors."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import test_autodiff                  # tests/engine is on sys.path (no __init__.py): the random-graph generator
import test_ops                       # and the per-op cases, with their known VJP bugs
from gradstep import engine
from gradstep.engine import interpret, tangents
from gradstep.engine.accumulate import unbroadcast
from gradstep.engine.cli import main as gradstep
from gradstep.engine.grad_check import DIRECTIONAL_RTOL, directional_check
from gradstep.engine.ops import REGISTRY
from gradstep.engine.ops.base import PerInput
from gradstep.engine.stepper import Mode

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
BUNDLED = sorted(SCENARIOS.glob("*.toml"))
SUM_OVER_PATHS = SCENARIOS / "sum_over_paths.toml"
EPS = 1e-6
ATOL, RTOL = 1e-7, 1e-6          # as test_ops: central differences are good to about 1e-9 here
RANDOM_GRAPHS = 150


def nfc(text: str) -> str:
    """Dotted letters as single characters where Unicode has them (ċ), as tangent_name writes them."""
    return unicodedata.normalize("NFC", text)


def _bits(a):
    return None if a is None else (np.asarray(a).dtype.str, np.shape(a), np.ascontiguousarray(a).tobytes())


# ---------------------------------------------------------------- the op rows
def test_every_op_has_a_tangent_rule_and_formula_for_every_input():
    for name, op in REGISTRY.items():
        if isinstance(op.vjps, PerInput):
            assert isinstance(op.jvps, PerInput), name
            positions = range(3)
        else:
            assert len(op.jvps) == len(op.vjps), f"{name}: {len(op.jvps)} tangent rules for {len(op.vjps)} inputs"
            positions = range(len(op.vjps))
        names = [f"x{k}" for k in positions]
        attrs = {a: 0.5 for a in op.attrs}
        for pos in positions:
            assert callable(op.jvps[pos]), (name, pos)
            text = op.tangent_formula(pos, names, "y", attrs, "dx")
            assert text and "{" not in text, (name, pos, text)
            assert ("dx" in text) == op.carries_tangent(pos), (name, pos, text)


def _case_params():
    return [pytest.param(i, id=name) for i, name in enumerate(test_ops._ids())]


def _tangent_in(op, pos, t, out, ins, attrs):
    c = op.jvps[pos](t, out, *ins, **attrs)
    return None if c is None else np.broadcast_to(np.asarray(c, dtype=np.float64), out.shape)


@pytest.mark.parametrize("index", _case_params())
def test_jvp_matches_central_differences(index):
    op, ins, attrs, _, positions = test_ops._inputs(index)
    out = np.asarray(op.forward(*ins, **attrs))
    rng = np.random.default_rng(7000 + index)
    for pos in positions:
        t = rng.normal(size=ins[pos].shape)
        analytic = _tangent_in(op, pos, t, out, ins, attrs)
        assert analytic is not None, (op.name, pos)
        sides = []
        for sign in (1.0, -1.0):
            trial = [x.copy() for x in ins]
            trial[pos] = trial[pos] + sign * EPS * t
            sides.append(np.asarray(op.forward(*trial, **attrs)))
        numeric = (sides[0] - sides[1]) / (2 * EPS)
        assert np.all(np.abs(analytic - numeric) <= ATOL + RTOL * np.abs(numeric)), (pos, analytic, numeric)
    for pos in set(range(len(ins))) - set(positions):
        # Class indices, a mask, ids, dropout's noise: no tangent passes.
        assert _tangent_in(op, pos, np.ones(ins[pos].shape), out, ins, attrs) is None, (op.name, pos)


def _adjoint_params():
    return [pytest.param(i, id=name, marks=pytest.mark.xfail(reason=test_ops.BUGS[i])) if i in test_ops.BUGS
            else pytest.param(i, id=name) for i, name in enumerate(test_ops._ids())]


@pytest.mark.parametrize("index", _adjoint_params())
def test_jvp_is_the_adjoint_of_the_vjp(index):
    """<vjp(g), t> = <g, jvp(t)> for random g and t: the two modes' rules are one Jacobian read both ways."""
    op, ins, attrs, _, positions = test_ops._inputs(index)
    out = np.asarray(op.forward(*ins, **attrs))
    rng = np.random.default_rng(9000 + index)
    for pos in positions:
        t = rng.normal(size=ins[pos].shape)
        g = rng.normal(size=out.shape)
        back = unbroadcast(np.asarray(op.vjps[pos](g, out, *ins, **attrs), dtype=np.float64), ins[pos].shape)
        left = math.fsum((back * t).ravel())
        right = math.fsum((g * _tangent_in(op, pos, t, out, ins, attrs)).ravel())
        assert abs(left - right) <= 1e-12 * max(abs(left), abs(right), 1.0), (pos, left, right)


@pytest.mark.parametrize("name", ["max", "min"])
def test_extremes_pass_the_mean_tangent_of_their_ties(name):
    op = REGISTRY[name]
    a = np.array([[1.0, 3.0, 3.0], [2.0, -1.0, -1.0]]) * (1 if name == "max" else -1)
    t = np.array([[10.0, 20.0, 40.0], [5.0, 6.0, 7.0]])
    out = op.forward(a, axis=1)
    got = op.jvps[0](t, out, a, axis=1)
    expected = [30.0, 5.0] if name == "max" else [30.0, 5.0]
    assert got.tolist() == expected
    # Its VJP splits g evenly among the same ties: the adjoint holds at a tie as well.
    g = np.array([0.5, -2.0])
    assert float(np.sum(op.vjps[0](g, out, a, axis=1) * t)) == float(np.sum(g * got))


def test_a_tangent_formula_reads_like_the_issue():
    mul = REGISTRY["mul"]
    assert [mul.tangent_formula(k, ["c", "d"], "e", {}, tangents.tangent_name("cd"[k])) for k in (0, 1)] == \
        [nfc("ċ·d"), nfc("c·ḋ")]
    assert REGISTRY["sin"].tangent_formula(0, ["u"], "v", {}, "u̇") == "cos(u)·u̇"
    assert REGISTRY["tanh"].tangent_formula(0, ["a"], "v", {}, "ȧ") == "(1 - tanh(a)²)·ȧ"
    assert REGISTRY["matmul"].tangent_formula(1, ["W1", "x"], "h", {}, "ẋ") == "W1 @ ẋ"
    assert [tangents.tangent_name(n) for n in ("e", "W1", "a + b")] == [nfc("ė"), "dW1", "d(a + b)"]
    assert len(tangents.tangent_name("x")) == 1 and tangents.tangent_name("u") == "u\u0307"   # no one-character u̇


# ---------------------------------------------------------------- the Stepper's forward mode
def test_sum_over_paths_tangents_are_colahs_numbers():
    st = engine.Stepper(engine.load_scenario(SUM_OVER_PATHS))
    p = st.program
    st.set_mode(Mode.FORWARD, seed_input="b")
    node = {name: p.by_name[name] for name in "abcde"}
    assert st.tangent(node["c"]) is None                 # not computed yet
    st.run_phase()
    assert {n: float(st.tangent(i)) for n, i in node.items()} == {"a": 0.0, "b": 1.0, "c": 1.0, "d": 1.0, "e": 5.0}
    assert st.tangent_equation(node["e"]) == nfc("ė = ċ·d + c·ḋ")
    assert [(t.formula, float(t.value)) for t in st.tangent_terms(node["e"])] == [("d", 2.0), ("c", 3.0)]
    assert st.tangent_equation(node["d"]) == nfc("ḋ = ḃ")      # the constant 1 carries no tangent
    assert st.tangent_equation(node["b"]) == nfc("ḃ = 1 (the seed)") and st.tangent_equation(node["a"]) == nfc("ȧ = 0")
    # A second pass, seeded at a, gives ∂e/∂a = 2; one reverse pass gives both.
    st.set_mode(Mode.FORWARD, seed_input="a")
    assert float(st.tangent(node["e"])) == 2.0
    st.run_phase()
    assert (float(st.grad(node["a"])), float(st.grad(node["b"]))) == (2.0, 5.0)
    assert st.passes_needed() == 2 and st.passes_needed(Mode.REVERSE) == 1
    st.set_mode(Mode.REVERSE)
    assert st.tangent(node["e"]) is None and st.tangent_equation(node["e"]) == "" and st.tangent_terms(node["e"]) == []


def test_pass_counter_and_measured_costs_on_the_two_layer_net():
    st = engine.Stepper(engine.load_scenario(SCENARIOS / "two_layer.toml"))
    assert st.passes_needed(Mode.FORWARD) == 1020 and st.passes_needed(Mode.REVERSE) == 1
    costs = st.pass_costs(budget=0.05)
    assert costs.passes == 1020
    assert costs.forward > 0 and costs.tangent > 0 and costs.reverse > 0
    assert costs.forward_mode_total == costs.passes * costs.tangent
    assert costs.ratio > 10          # 1,020 tangent passes against one reverse pass


def test_bad_seeds_are_refused_with_a_reason():
    st = engine.Stepper(engine.load_scenario(SUM_OVER_PATHS))
    with pytest.raises(ValueError, match="no input named 'bb' .*did you mean 'b'"):
        st.set_mode(Mode.FORWARD, seed_input="bb")
    with pytest.raises(ValueError, match="computed from other nodes"):
        st.set_mode(Mode.FORWARD, seed_input="c")
    with pytest.raises(ValueError, match="one seed"):
        st.set_mode(Mode.FORWARD)
    with pytest.raises(ValueError, match="one seed"):
        st.set_mode(Mode.FORWARD, seed_input="a", direction="random")
    with pytest.raises(ValueError, match="no seed"):
        st.set_mode(Mode.REVERSE, seed_input="a")
    assert st.mode is Mode.REVERSE and st.seed is None
    iris = engine.Stepper(engine.load_scenario(SCENARIOS / "iris_softmax.toml"))
    target = next(n for n in iris.program.nodes if n.kind in ("value", "data") and n.id in
                  {x.source for x in iris.program.index_inputs})
    with pytest.raises(ValueError, match="indices"):
        iris.set_mode(Mode.FORWARD, seed_input=target.name)
    assert target.name not in iris.seedable_inputs()


def test_the_tangents_room_counts_against_max_kept_elements(monkeypatch):
    from gradstep.engine import limits
    from gradstep.engine.scenario import kept_elements
    st = engine.Stepper(engine.load_scenario(SCENARIOS / "two_layer.toml"))
    monkeypatch.setattr(limits, "MAX_KEPT_ELEMENTS", kept_elements(st.program) + 10)
    with pytest.raises(engine.ScenarioError, match="MAX_KEPT_ELEMENTS"):
        st.set_mode(Mode.FORWARD, direction="random")
    assert st.mode is Mode.REVERSE


BATCH_NORM_AND_DROPOUT = """
    [scenario]
    title = "forward mode through the stateful ops"
    seed = 3
    [values]
    x = { init = "normal", shape = [4, 3] }
    rm = [0.0, 0.0, 0.0]
    rv = [1.0, 1.0, 1.0]
    [params]
    W = { init = "normal", shape = [3, 3], scale = 0.5 }
    g = [1.0, 1.5, 0.5]
    b = [0.1, -0.2, 0.0]
    [graph]
    h = "batch_norm(x @ W, g, b, rm, rv)"
    d = "dropout(tanh(h), p=0.3)"
    E = "mean(d * d) + max(h)"
    [train]
    loss = "E"
    learning_rate = 0.1
    steps = 3
"""


def test_stepping_back_in_forward_mode_restores_tangents_bit_for_bit(scenario, snap):
    st = engine.Stepper(scenario(BATCH_NORM_AND_DROPOUT))
    p = st.program
    st.set_mode(Mode.FORWARD, direction="random")
    seen = []
    while st.tick < st.per_iteration + st.forward_len // 2 + 1:    # into the second iteration
        seen.append((snap(st), [_bits(st.tangent(i)) for i in range(len(p.nodes))]))
        st.step()
    assert any(t is not None and np.any(np.frombuffer(t[2])) for t in seen[-1][1])
    while st.tick > 0:
        st.back()
        state, tans = seen[st.tick]
        assert snap(st) == state
        assert [_bits(st.tangent(i)) for i in range(len(p.nodes))] == tans, f"tick {st.tick}"
    # And by seeking: forward to the end, then back to every tick recorded, in random order.
    for k in np.random.default_rng(0).permutation(len(seen)):
        st.seek(int(k))
        assert [_bits(st.tangent(i)) for i in range(len(p.nodes))] == seen[k][1], f"seek {k}"


def test_forward_mode_leaves_the_run_itself_unchanged(scenario, snap):
    text = BATCH_NORM_AND_DROPOUT
    fwd, rev = engine.Stepper(scenario(text)), engine.Stepper(scenario(text))
    fwd.set_mode("forward", seed_input="W")
    while not rev.at_end:
        assert snap(fwd) == snap(rev)
        fwd.step()
        rev.step()
    assert snap(fwd) == snap(rev)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_directional_check_on_every_bundled_scenario(path):
    sc = engine.load_scenario(path)
    p = sc.program
    leaves = sc.leaves_for(1)
    r = directional_check(p, leaves, seed=sc.seed)
    assert r.passed and r.rel_error <= DIRECTIONAL_RTOL, r
    assert r.forward != 0.0
    # The Stepper's forward mode gives the same tangent to the bit as the check's forward pass ...
    st = engine.Stepper(sc)
    st.set_mode(Mode.FORWARD, direction="random")
    st.run_phase()
    assert float(st.tangent(p.loss)) == r.forward
    # ... and against its own backward pass, ⟨∇E, v⟩ to 1e-12.
    st.run_phase()
    dot = math.fsum(float(x) for i, v in st.seed.direction.items() if st.grad(i) is not None
                    for x in np.ravel(st.grad(i) * v))
    assert abs(dot - r.forward) <= DIRECTIONAL_RTOL * max(abs(dot), 1.0)
    # ... and central differences along v, at gradcheck's tolerances (lenet's background pixels tie in
    # max_pool2d's windows: a kink a directional difference may cross, so its data differs by ~1e-6).
    sides = []
    for sign in (1.0, -1.0):
        trial = dict(leaves)
        for i, v in st.seed.direction.items():
            trial[i] = leaves[i] + sign * EPS * v
        sides.append(float(interpret.forward(p, trial)[p.loss]))
    numeric = (sides[0] - sides[1]) / (2 * EPS)
    assert abs(r.forward - numeric) <= 1e-5 + 1e-3 * abs(numeric), (r.forward, numeric)


def test_the_directional_check_would_notice_a_wrong_tangent_rule(monkeypatch):
    sin = REGISTRY["sin"]
    monkeypatch.setitem(REGISTRY, "sin", dataclasses.replace(sin, jvps=(lambda t, out, a: t * np.cos(a) * (1 + 1e-9),)))
    sc = engine.load_scenario(SCENARIOS / "chain_rule.toml")
    r = directional_check(sc.program, sc.leaves_for(1), seed=sc.seed)
    assert not r.passed and 1e-10 < r.rel_error < 1e-8


def test_forward_mode_on_the_random_graphs():
    """Reverse against forward (1e-12) and central differences along v, on test_autodiff's graphs."""
    for seed in range(RANDOM_GRAPHS):
        sc = engine.load_scenario_text(test_autodiff._graph(seed).scenario_text())
        p = sc.program
        leaves = sc.leaves_for(1)
        r = directional_check(p, leaves, seed=seed)
        assert r.passed, (seed, r)
        direction = tangents.random_direction(p, seed)
        sides = []
        for sign in (1.0, -1.0):
            trial = dict(leaves)
            for i, v in direction.direction.items():
                trial[i] = leaves[i] + sign * EPS * v
            sides.append(float(interpret.forward(p, trial)[p.loss]))
        numeric = (sides[0] - sides[1]) / (2 * EPS)
        assert abs(r.forward - numeric) <= 1e-5 + 1e-3 * abs(numeric), (seed, r.forward, numeric)


def test_the_random_graphs_reach_every_tangent_rule():
    used = set()
    for seed in range(RANDOM_GRAPHS):
        p = engine.load_scenario_text(test_autodiff._graph(seed).scenario_text()).program
        used |= {n.op.name for n in p.nodes if n.op is not None}
    assert used == set(REGISTRY)


# ---------------------------------------------------------------- the command line
def _run(capsys, *argv):
    try:
        code = gradstep(list(argv))
    except SystemExit as e:          # argparse's own exit, as for run's other flag pairs (--phase without --at)
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_json_adds_the_tangents(capsys):
    code, out, _ = _run(capsys, "run", str(SUM_OVER_PATHS), "--mode", "forward", "--seed-input", "b", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["tangents"] == {"a": 0.0, "b": 1.0, "c": 1.0, "d": 1.0, "e": 5.0}
    assert doc["mode"] == "forward" and doc["seed"] == {"input": "b"}
    assert doc["passes"] == {"forward": 2, "reverse": 1}
    assert doc["grads"] == {"a": 2.0, "b": 5.0}            # the reverse pass runs as before
    code, out, _ = _run(capsys, "run", str(SUM_OVER_PATHS), "--mode", "forward", "--seed-input", "a", "--json")
    assert json.loads(out)["tangents"]["e"] == 2.0
    code, out, _ = _run(capsys, "run", str(SUM_OVER_PATHS), "--json")
    assert "tangents" not in json.loads(out)


def test_run_with_a_random_direction_after_many_iterations(capsys):
    path = SCENARIOS / "two_layer.toml"
    code, out, _ = _run(capsys, "run", str(path), "--mode", "forward", "--direction", "random", "--steps", "20",
                        "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["seed"] == {"direction": "random", "seed": engine.load_scenario(path).seed}
    assert set(doc["tangents"]) == {"x", "y_hat", "W1", "W2", "h", "f", "E"}
    assert doc["passes"] == {"forward": 1020, "reverse": 1}
    # The last iteration's loss tangent is ⟨∇E, v⟩ at that iteration's params.
    seed = tangents.random_direction(engine.load_scenario(path).program, doc["seed"]["seed"])
    p = engine.load_scenario(path).program
    dot = sum(float(np.sum(np.asarray(doc["grads"][p.nodes[i].name]) * v)) for i, v in seed.direction.items())
    assert abs(doc["tangents"]["E"] - dot) <= 1e-12 * max(abs(dot), 1.0)
    code, out, _ = _run(capsys, "run", str(path), "--mode", "forward", "--direction", "random", "--steps", "2")
    assert code == 0 and "forward mode, a random direction v" in out and "1,020 forward-mode passes" in out


@pytest.mark.parametrize("argv, message", [
    (["--seed-input", "a"], "gradstep: --seed-input seeds forward mode: add --mode forward"),
    (["--direction", "random"], "gradstep: --direction seeds forward mode: add --mode forward"),
    (["--mode", "forward"], "gradstep: --mode forward needs a seed: --seed-input NAME (one input) or --direction random"),
    (["--mode", "forward", "--seed-input", "a", "--direction", "random"],
     "gradstep: --seed-input and --direction both give forward mode's seed: pass one of them"),
    (["--mode", "forward", "--seed-input", "q"], "gradstep: --seed-input: no input named 'q'; seed one of: a, b"),
    (["--mode", "forward", "--seed-input", "e"],
     "gradstep: --seed-input: 'e' is computed from other nodes (c * d); seed one of the inputs: a, b"),
])
def test_bad_forward_mode_flags_exit_2_with_one_line(capsys, argv, message):
    code, out, err = _run(capsys, "run", str(SUM_OVER_PATHS), *argv)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [message]


def test_check_directional(capsys, monkeypatch):
    path = SCENARIOS / "two_layer.toml"
    code, out, _ = _run(capsys, "check", str(path), "--directional", "--json")
    assert code == 0
    doc = json.loads(out)
    d = doc["directional"]
    assert doc["passed"] and d["passed"] and d["rtol"] == 1e-12 and d["inputs"] == ["x", "y_hat", "W1", "W2"]
    assert abs(d["reverse"] - d["forward"]) <= 1e-12 * max(abs(d["reverse"]), 1.0)
    code, out, _ = _run(capsys, "check", str(path), "--directional")
    assert code == 0 and "ok" in out.splitlines()[-1]
    relu = REGISTRY["relu"]
    monkeypatch.setitem(REGISTRY, "relu", dataclasses.replace(relu, jvps=(lambda t, out, a: t * (a > 0) * 1.01,)))
    code, out, _ = _run(capsys, "check", str(path), "--directional", "--json")
    assert code == 1 and json.loads(out)["passed"] is False
    code, out, _ = _run(capsys, "check", str(path), "--directional")
    assert code == 1 and "FAIL" in out


# ---------------------------------------------------------------- the docs and the public names
def test_the_forward_mode_docs_show_what_the_command_prints(capsys):
    readme = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Forward mode")[1].split("\n## ")[0]
    command, printed = re.search(r"```sh\n(.*?)\n```\n\n```text\n(.*?)```", section, re.S).groups()
    argv = command.split()[1:]
    argv[1] = str(ROOT / argv[1])
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert nfc(printed.strip()) in out
    top = (ROOT / "README.md").read_text(encoding="utf-8").split("## Command line")[1].split("\n## ")[0]
    for flag in ("--mode forward", "--seed-input NAME", "--direction random", "--directional"):
        assert flag in top, flag


def test_the_engine_exports_forward_mode_to_the_ui():
    for name in ("Mode", "TangentTerm", "PassCosts", "TangentSeed", "DirectionalCheck", "directional_check",
                 "tangent_name"):
        assert name in engine.__all__ and getattr(engine, name) is not None
    assert engine.Mode.FORWARD is Mode.FORWARD
