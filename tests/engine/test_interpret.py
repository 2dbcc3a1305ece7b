"""The reference interpreter is the definition: the Stepper and the fast path agree with it to the bit.

engine/interpret.py evaluates a program with two short loops (forward, then backward adding
contributions). Here every bundled scenario, a batch of random graphs over every op, and a wide-net
shaped classifier (bias broadcast over a batch, cross-entropy with class indices from [data]) are
run three ways: node by node through the Stepper, whole iterations through the fast path, and by
a training loop written on the interpreter. Values, gradients, losses and params must be equal byte
for byte.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_autodiff import _graph

from gradstep.engine import Stepper, interpret, kernels, load_scenario, load_scenario_text
from gradstep.scenarios import bundled_dir

RANDOM_GRAPHS = 40

CLASSIFIER = """
[scenario]
title = "a small wide-net shape"
seed = 5
[data]
batch = 4
x = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-2.0, 1.0, 0.0], [0.75, 0.5, 1.25],
     [1.0, -0.25, 0.5], [-1.5, 2.0, 1.0], [0.0, 0.5, -1.0], [2.5, -1.0, 0.25]]
y = [0, 2, 1, 2, 1, 0, 2, 1]
[params]
W1 = { init = "normal", shape = [3, 5], scale = 0.5 }
b1 = { init = "normal", shape = [5], scale = 0.1 }
W2 = { init = "normal", shape = [5, 3], scale = 0.5 }
b2 = { init = "zeros", shape = [3] }
[graph]
h = "relu(x @ W1 + b1)"
logits = "h @ W2 + b2"
E = "cross_entropy(logits, y)"
[train]
loss = "E"
learning_rate = 0.1
steps = 9
"""


def _bits(a):
    return None if a is None else (np.asarray(a).shape, np.ascontiguousarray(a).tobytes())


def _scenarios():
    out = {p.stem: (lambda p=p: load_scenario(p)) for p in sorted(bundled_dir().glob("*.toml"))}
    out["classifier"] = lambda: load_scenario_text(CLASSIFIER)
    for seed in range(RANDOM_GRAPHS):
        out[f"random{seed}"] = lambda seed=seed: load_scenario_text(_graph(seed).scenario_text())
    return out


SCENARIOS = _scenarios()


def reference_training(scenario, steps: int):
    """Gradient descent written on the interpreter: (losses, params after each iteration, last vals, last grads)."""
    p = scenario.program
    params = {i: scenario.initial[i] for i in p.params}
    state = {}                  # the optimizer's state per param (plain SGD keeps none)
    losses, vals, grads = [], None, None
    with np.errstate(all="ignore"):
        for it in range(1, steps + 1):
            leaves = scenario.leaves_for(it)
            leaves.update(params)
            vals = interpret.forward(p, leaves)
            grads = interpret.backward(p, vals)
            losses.append(float(vals[p.loss]))
            if not np.isfinite(losses[-1]):
                break
            params = {i: step(scenario, state, i, params[i], grads[i], it) if grads[i] is not None
                      else params[i] for i in p.params}
    return losses, params, vals, grads


def step(scenario, state: dict, i: int, w, g, iteration: int):
    """The scenario's optimizer applied to one param (its own row's step: PyTorch is the reference for
    the rules themselves, in test_optim.py); plain SGD written out."""
    t = scenario.training
    if t.plain:
        return kernels.update(w, g, scenario.learning_rate)
    shape = scenario.program.nodes[i].shape
    st = state.setdefault(i, {slot: np.zeros(shape) for slot in t.slots(i)})
    new, st2, _, _ = t.optimizer.step(w, g, st, iteration - 1, scenario.learning_rate, t.options_for(i))
    state[i] = st2
    return np.asarray(new)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_stepping_one_iteration_gives_the_interpreters_values_and_gradients(name):
    sc = SCENARIOS[name]()
    p = sc.program
    st = Stepper(sc, steps=1)
    st.run_phase()                     # forward
    if st.anomaly is not None:
        pytest.skip("the first forward pass is not finite (a scenario that diverges on purpose)")
    st.run_phase()                     # backward
    _, _, vals, grads = reference_training(sc, 1)
    for i in range(len(p.nodes)):
        assert _bits(st.value(i)) == _bits(vals[i]), p.nodes[i].name
        if p.needs_grad[i]:
            assert _bits(st.grad(i)) == _bits(grads[i]), p.nodes[i].name


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_fast_path_trains_like_the_interpreter(name):
    sc = SCENARIOS[name]()
    p = sc.program
    steps = min(sc.steps, 12) if name in ("classifier",) or not name.startswith("random") else 4
    steps = max(steps, 2)
    losses, params, _, _ = reference_training(sc, steps)
    st = Stepper(sc, steps=steps)
    anomaly = st.run_iterations(steps)
    if anomaly is not None or len(losses) < steps:
        # A diverging run: the iterations before the fault still agree.
        done = anomaly.iteration - 1 if anomaly is not None else len(losses) - 1
        assert st.losses[:done].tobytes() == np.array(losses[:done]).tobytes()
        return
    assert st.losses.tobytes() == np.array(losses).tobytes()
    for i in p.params:
        assert _bits(st.param(i)) == _bits(params[i]), p.nodes[i].name


def test_the_classifier_exercises_the_fused_cross_entropy_and_the_bias_reduction():
    """The wide-net shape takes the fast path's special forms, so the byte comparison above means something."""
    from gradstep.engine.fast import FastPath, _generic_vjp
    sc = load_scenario_text(CLASSIFIER)
    fast = FastPath(sc)
    logits = sc.program.by_name["logits"]
    loss = sc.program.loss
    assert "p" in fast.scratch[loss]                  # cross_entropy kept its softmax for the backward pass
    generic = [f for f in fast.backward_plan if getattr(f, "func", None) is _generic_vjp]
    assert generic == [], [f.args[0].name for f in generic]      # no VJP fell back to the generic form
    assert sc.program.nodes[logits].shape == (4, 3)


def test_runs_that_continue_from_lent_buffers_keep_every_start_exact():
    """The fast path hands out its own buffers and continues from them without a copy: the history's
    latest start must not be read after they are overwritten. Chunked runs, then seeks back to each
    chunk boundary (and a fault in a later run), must give the interpreter's params bit for bit."""
    sc = load_scenario_text(CLASSIFIER)
    p = sc.program
    steps = 30
    _, ref_params, _, _ = reference_training(sc, steps)
    st = Stepper(sc, steps=steps + 1, history_budget=1)          # a checkpoint only every 32 iterations
    boundaries = [5, 9, 17, 30]
    done = 0
    for b in boundaries:
        st.run_iterations(b - done)
        done = b
    assert st.iteration == steps + 1
    for i in p.params:
        assert st.param(i).tobytes() == ref_params[i].tobytes()
    for b in reversed(boundaries[:-1]):
        st.seek_iteration(b + 1)
        _, at_b, _, _ = reference_training(sc, b)
        for i in p.params:
            assert st.param(i).tobytes() == at_b[i].tobytes(), (b, p.nodes[i].name)
