"""GradCheck: central differences (eps 1e-6) against the backward pass, PyTorch's pass rule
|a - n| <= 1e-5 + 1e-3·|n|, relative error |a - n| / max(|a|, |n|, 1e-8), and kink warnings."""
from __future__ import annotations

import dataclasses
import math
import textwrap

import numpy as np
import pytest

from gradstep import engine
from gradstep.scenarios import bundled_dir
from gradstep.engine.grad_check import ATOL, EPS, MAX_CHECKED, RTOL
from gradstep.engine.ops import REGISTRY

SINE = """
[scenario]
title = "sine"
[values]
c = 0.5
[params]
w = 0.3
[graph]
E = "sin(w) + c * w"
[train]
loss = "E"
learning_rate = 0.1
"""


def load(text: str) -> engine.Scenario:
    return engine.load_scenario_text(textwrap.dedent(text))


def check(sc: engine.Scenario, leaves=None) -> engine.GradCheck:
    return engine.gradcheck(sc.program, leaves if leaves is not None else sc.leaves_for(1))


def by_name(report: engine.GradCheck) -> dict[str, engine.LeafCheck]:
    return {c.name: c for c in report.leaves}


def test_constants_are_the_documented_ones():
    assert (EPS, ATOL, RTOL) == (1e-6, 1e-5, 1e-3)


@pytest.mark.parametrize("name", ["chain_rule.toml", "sum_over_paths.toml", "two_layer.toml", "xor.toml",
                                  "linear_regression.toml", "iris_softmax.toml"])
def test_bundled_smooth_scenarios_pass(name):
    sc = engine.load_scenario(bundled_dir() / name)
    report = check(sc)
    assert report.passed
    assert {c.node for c in report.leaves} == set(sc.program.params + sc.program.values)
    for c in report.leaves:
        assert c.passed and c.max_rel_error < 1e-4, c


def test_passes_at_a_later_iteration_with_trained_params():
    sc = engine.load_scenario(bundled_dir() / "xor.toml")
    st = engine.Stepper(sc)
    st.run_iterations(20)
    leaves = sc.leaves_for(st.iteration)
    leaves.update(st.params())
    assert engine.gradcheck(sc.program, leaves, iteration=st.iteration).passed


def _patched_sin(monkeypatch, vjp):
    monkeypatch.setitem(REGISTRY, "sin", dataclasses.replace(REGISTRY["sin"], vjps=(vjp,)))


def test_a_wrong_vjp_fails_and_reports_the_relative_error(monkeypatch):
    _patched_sin(monkeypatch, lambda g, out, a: 1.01 * g * np.cos(a))
    report = check(load(SINE))
    assert not report.passed
    w = by_name(report)["w"]
    assert not w.passed and w.checked == w.size == 1
    # analytic = 1.01·cos(w) + c, numeric = cos(w) + c (to ~1e-10)
    n = math.cos(0.3) + 0.5
    a = 1.01 * math.cos(0.3) + 0.5
    assert w.max_abs_error == pytest.approx(a - n, rel=1e-6)
    assert w.max_rel_error == pytest.approx((a - n) / max(abs(a), abs(n)), rel=1e-6)


@pytest.mark.parametrize("offset, ok", [(1.40e-3, True), (1.55e-3, False)])
def test_the_pass_rule_is_atol_plus_rtol_times_numeric(monkeypatch, offset, ok):
    # numeric = cos(0.3) + 0.5 ≈ 1.4553, so the threshold is 1e-5 + 1e-3·1.4553 ≈ 1.4653e-3.
    _patched_sin(monkeypatch, lambda g, out, a: g * np.cos(a) + offset)
    w = by_name(check(load(SINE)))["w"]
    assert w.max_abs_error == pytest.approx(offset, rel=1e-5)
    assert w.passed is ok


def test_a_wrong_gradient_on_a_value_is_reported_but_does_not_fail_the_check(monkeypatch):
    _patched_sin(monkeypatch, lambda g, out, a: 2.0 * g * np.cos(a))
    report = check(load("""
        [scenario]
        title = "value only"
        [values]
        x = 0.4
        [params]
        w = 1.5
        [graph]
        E = "sin(x) + w * w"
        [train]
        loss = "E"
        learning_rate = 0.1
    """))
    leaves = by_name(report)
    assert not leaves["x"].passed and leaves["w"].passed
    assert report.passed


def test_a_leaf_with_no_path_to_the_loss_checks_as_zero():
    report = check(load("""
        [scenario]
        title = "unused"
        [values]
        unused = [1.0, 2.0]
        [params]
        w = 1.5
        [graph]
        E = "w * w"
        [train]
        loss = "E"
        learning_rate = 0.1
    """))
    unused = by_name(report)["unused"]
    assert unused.passed and unused.max_abs_error == 0.0 and unused.max_rel_error == 0.0


def test_large_tensors_are_sampled():
    report = check(load("""
        [scenario]
        title = "big"
        seed = 1
        [params]
        W = { init = "normal", shape = [50, 50] }
        [graph]
        E = "sum(tanh(W) ** 2)"
        [train]
        loss = "E"
        learning_rate = 0.1
    """))
    W = by_name(report)["W"]
    assert W.size == 2500 and W.checked == MAX_CHECKED and W.passed


@pytest.mark.parametrize("z, warned", [(0.0, True), (5e-7, True), (-1e-6, True), (0.3, False), (-2e-6, False)])
def test_warns_when_a_relu_input_sits_on_its_kink(z, warned):
    report = check(load(f"""
        [scenario]
        title = "kink"
        [params]
        w = {z!r}
        [graph]
        h = "relu(w)"
        E = "h * 2 + w"
        [train]
        loss = "E"
        learning_rate = 0.1
    """))
    assert bool(report.warnings) == warned
    if warned:
        assert "h" in report.warnings[0] and "relu" in report.warnings[0]


def test_class_index_targets_are_not_differentiated():
    # Nudging a class label by eps truncates it to another class: a meaningless "derivative".
    report = check(load("""
        [scenario]
        title = "labels"
        [values]
        y = [0, 2, 1]
        x = [[1.0, 2.0], [0.5, -1.0], [0.0, 0.3]]
        [params]
        W = [[0.1, 0.2, 0.3], [0.0, -0.1, 0.2]]
        [graph]
        E = "cross_entropy(x @ W, y)"
        [train]
        loss = "E"
        learning_rate = 0.1
    """))
    leaves = by_name(report)
    assert leaves["y"].checked == 0 and leaves["y"].passed
    assert leaves["x"].checked == 6 and leaves["x"].passed and leaves["W"].passed
