"""The Stepper's time travel: every state is a function of the tick alone, reproduced bit for bit
whichever way we got there (step, run, back, seek, the fast path)."""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradstep import engine
from gradstep.scenarios import bundled_dir

import gradstep.engine.stepper  # noqa: F401  (the monkeypatches below reach engine.stepper)

# A param through a matmul, a broadcast (3,) + (3, 1) -> (3, 3), nodes with two consumers, a value
# that needs a gradient and a node that does not feed the loss.
MIXED = """
[scenario]
title = "mixed"
seed = 3
[values]
x = { init = "normal", shape = [4] }
c = [0.5, -0.25, 1.0]
[params]
W = { init = "normal", shape = [3, 4], scale = 0.5 }
b = { init = "normal", shape = [3, 1] }
[graph]
z = "W @ x"
h = "tanh(z + b)"
side = "exp(x)"
E = "sum(h * h) + mean(h * c) + sum(z)"
[train]
loss = "E"
learning_rate = 0.1
steps = 4
"""

# Shuffled mini-batches: the leaves change from iteration to iteration.
BATCHES = """
[scenario]
title = "batches"
seed = 7
[data]
x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5], [0.2, 0.9]]
y = [[0.0], [1.0], [1.0], [0.0], [1.0], [0.0]]
batch = 2
shuffle = true
[params]
W1 = { init = "normal", shape = [2, 3] }
b1 = { init = "zeros", shape = [3] }
W2 = { init = "normal", shape = [3, 1] }
[graph]
h = "sigmoid(x @ W1 + b1)"
p = "h @ W2"
E = "mse(p, y)"
[train]
loss = "E"
learning_rate = 0.5
steps = 5
"""

SCENARIOS = {"mixed": MIXED, "batches": BATCHES}


def load(text: str) -> engine.Scenario:
    return engine.load_scenario_text(textwrap.dedent(text))


_canonical: dict[str, list[dict]] = {}


def canonical(name: str, snap) -> list[dict]:
    """The state at every tick, reached by plain step() calls from a fresh stepper."""
    if name not in _canonical:
        st_ = engine.Stepper(load(SCENARIOS[name]))
        states = [snap(st_)]
        while st_.step() is not None:
            states.append(snap(st_))
        assert len(states) == st_.total_ticks + 1
        _canonical[name] = states
    return _canonical[name]


def assert_same(a: dict, b: dict) -> None:
    for key in a:
        assert a[key] == b[key], f"{key} differs at tick {a['tick']}"


# ---------------------------------------------------------------- the time-travel properties
FORWARD_MOVES = st.sampled_from(["step", "run_phase", "run_iteration"])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@settings(max_examples=40, deadline=None)
@given(moves=st.lists(FORWARD_MOVES, min_size=1, max_size=10), use_seek=st.booleans())
def test_moves_then_as_many_backs_restore_everything(name, moves, use_seek, snap):
    st_ = engine.Stepper(load(SCENARIOS[name]))
    start = snap(st_)
    seen = {0: start}
    for move in moves:
        getattr(st_, move)() if move != "step" else st_.step()
        seen[st_.tick] = snap(st_)
    if use_seek:
        st_.seek(0)
    else:
        for _ in range(st_.tick):           # one back() per tick moved
            st_.back()
            if st_.tick in seen:
                assert_same(snap(st_), seen[st_.tick])
    assert st_.at_start
    assert_same(snap(st_), start)


ANY_MOVE = st.one_of(
    st.sampled_from(["step", "run_phase", "run_iteration", "back", "back_phase", "back_iteration"]),
    st.tuples(st.just("seek"), st.integers(0, 10_000)),
    st.tuples(st.just("seek_iteration"), st.integers(1, 6)),
    st.tuples(st.just("run_iterations"), st.integers(1, 3)),
)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@settings(max_examples=120, deadline=None)
@given(moves=st.lists(ANY_MOVE, min_size=1, max_size=12))
def test_state_is_a_function_of_the_tick(name, moves, snap):
    states = canonical(name, snap)
    st_ = engine.Stepper(load(SCENARIOS[name]))
    for move in moves:
        if isinstance(move, tuple):
            getattr(st_, move[0])(move[1] % (st_.total_ticks + 1) if move[0] == "seek" else move[1])
        else:
            getattr(st_, move)()
        assert_same(snap(st_), states[st_.tick])


def test_back_across_an_iteration_boundary(snap):
    st_ = engine.Stepper(load(MIXED))
    S = st_.per_iteration
    states = []
    for _ in range(S + 3):
        states.append(snap(st_))
        st_.step()
    assert st_.iteration == 2 and st_.cursor.index == 3
    for k in range(S + 3 - 1, S - 4, -1):       # back over the boundary, through iteration 1's updates
        st_.back()
        assert_same(snap(st_), states[k])
    assert st_.tick == S - 3 and st_.iteration == 1


def test_seek_to_later_and_earlier_iterations_equals_stepping(snap):
    states = canonical("mixed", snap)
    st_ = engine.Stepper(load(MIXED))
    S = st_.per_iteration
    for it in (3, 1, 4, 2, 5, 1):               # 5 = steps + 1: the end of the replay
        st_.seek_iteration(it)
        assert st_.tick == min((it - 1) * S, st_.total_ticks)
        assert_same(snap(st_), states[st_.tick])


def test_seek_recomputes_from_sparse_checkpoints_exactly(snap):
    # A budget of 64 bytes keeps a checkpoint only every few iterations, so most starts are replayed.
    states = canonical("batches", snap)
    st_ = engine.Stepper(load(BATCHES), history_budget=64)
    assert st_.history.every > 1
    S = st_.per_iteration
    for tick in (4 * S + 3, 2 * S + 1, 3 * S, 1, st_.total_ticks, 2 * S - 1):
        st_.seek(tick)
        assert_same(snap(st_), states[tick])


# ---------------------------------------------------------------- the fast path
BUNDLED = ["two_layer.toml", "xor.toml", "linear_regression.toml", "iris_softmax.toml"]


def _stepped(sc, steps: int, ticks: int) -> engine.Stepper:
    st_ = engine.Stepper(sc, steps=steps)
    for _ in range(ticks):
        st_.step()
    return st_


@pytest.mark.parametrize("source", ["mixed", "batches"] + BUNDLED)
@pytest.mark.parametrize("chunk", [256, 2])
def test_run_iterations_is_bit_identical_to_stepping(source, chunk, snap):
    sc = load(SCENARIOS[source]) if source in SCENARIOS else engine.load_scenario(bundled_dir() / source)
    steps = 7
    fast = engine.Stepper(sc, steps=steps)
    assert fast.run_iterations(3, chunk=chunk) is None
    slow = _stepped(sc, steps, 3 * fast.per_iteration)
    assert fast.tick == slow.tick == 3 * fast.per_iteration
    assert_same(snap(fast), snap(slow))
    assert fast.losses[:3].tobytes() == slow.losses[:3].tobytes()
    # To the end of the replay: stands at DONE with the last iteration fully inspectable.
    assert fast.run_iterations(steps, chunk=chunk) is None
    slow = _stepped(sc, steps, steps * fast.per_iteration)
    assert fast.at_end and slow.at_end
    assert_same(snap(fast), snap(slow))
    for i in sc.program.params:
        assert fast.param(i).tobytes() == slow.param(i).tobytes()
    assert fast.losses.tobytes() == slow.losses.tobytes()
    assert len(fast.losses) == steps


def test_run_iterations_from_mid_iteration_finishes_it_first(snap):
    states = canonical("mixed", snap)
    st_ = engine.Stepper(load(MIXED))
    S = st_.per_iteration
    st_.seek(S + 5)
    st_.run_iterations(2)
    assert st_.tick == 3 * S
    assert_same(snap(st_), states[3 * S])


# ---------------------------------------------------------------- changing the run
LINEAR = """
[scenario]
title = "linear"
[values]
c = 0.5
[params]
w = 3.0
v = -1.0
[graph]
E = "w * c + v * c"
[train]
loss = "E"
learning_rate = 0.25
steps = 6
"""


def closed_form(etas: list[float], c: float = 0.5) -> tuple[list[float], float, float]:
    """E = c·(w + v): ∂E/∂w = ∂E/∂v = c, so w_k = w_0 - c·Σ eta; every number here is exact in binary."""
    w, v, losses = 3.0, -1.0, []
    for eta in etas:
        losses.append(c * w + c * v)
        w, v = w - eta * c, v - eta * c
    return losses, w, v


def _wv(st_):
    p = st_.program
    return float(st_.param(p.by_name["w"])), float(st_.param(p.by_name["v"]))


def test_set_eta_mid_iteration_takes_effect_from_that_iteration():
    st_ = engine.Stepper(load(LINEAR))
    S = st_.per_iteration
    st_.seek(2 * S + 1)                              # inside iteration 3's forward pass
    st_.set_eta(0.125)
    assert st_.eta_at(2) == 0.25 and st_.eta_at(3) == 0.125 and st_.eta == 0.125
    while st_.step() is not None:
        pass
    losses, w, v = closed_form([0.25, 0.25] + [0.125] * 4)
    assert _wv(st_) == (w, v)
    assert st_.losses.tolist() == losses
    # Going back before the change keeps the old rate there, and the new one after it.
    st_.seek_iteration(2)
    st_.run_iteration()
    assert _wv(st_) == closed_form([0.25, 0.25])[1:]


def test_set_eta_during_the_update_phase_redoes_this_iterations_updates():
    st_ = engine.Stepper(load(LINEAR))
    S = st_.per_iteration
    st_.seek(2 * S + st_.forward_len + st_.backward_len + 1)      # w updated with 0.25, v not yet
    w_old = _wv(st_)[0]
    assert w_old == closed_form([0.25] * 3)[1]
    st_.set_eta(0.125)
    assert _wv(st_)[0] == closed_form([0.25, 0.25, 0.125])[1]
    assert st_.updates()[0].eta == 0.125


def test_set_eta_then_the_fast_path_follows_the_schedule():
    st_ = engine.Stepper(load(LINEAR))
    st_.run_iterations(2)
    st_.set_eta(0.5)
    st_.run_iterations(10)
    losses, w, v = closed_form([0.25, 0.25] + [0.5] * 4)
    assert st_.at_end and _wv(st_) == (w, v)
    assert st_.losses.tolist() == losses


def test_set_value_takes_effect_from_the_current_iteration():
    st_ = engine.Stepper(load(LINEAR))
    st_.seek_iteration(3)
    st_.set_value("c", 2.0)
    st_.run_iterations(10)
    # Iterations 1-2 use c = 0.5 (gradient 0.5), iterations 3-6 use c = 2 (gradient 2).
    w = 3.0 - 2 * 0.25 * 0.5 - 4 * 0.25 * 2.0
    assert _wv(st_)[0] == w
    st_.seek_iteration(2)
    assert float(st_.value(st_.program.by_name["c"])) == 0.5


def test_set_eta_rejects_nonsense():
    st_ = engine.Stepper(load(LINEAR))
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            st_.set_eta(bad)


# ---------------------------------------------------------------- gradient accumulation
FAN_OUT = """
[scenario]
title = "fan-out"
[values]
x = 0.7
[graph]
a = "sin(x)"
b = "cos(x)"
E = "a * b"
[train]
loss = "E"
"""


def test_a_node_with_two_consumers_shows_its_contributions_arriving():
    sc = load(FAN_OUT)
    p = sc.program
    x, a, b = p.by_name["x"], p.by_name["a"], p.by_name["b"]
    assert p.expected[x] == 2 and p.expected[p.loss] == 1
    st_ = engine.Stepper(sc)
    st_.run_phase()
    assert st_.grad_status(x) == (0, 2) and st_.grad(x) is None
    statuses = []
    while st_.cursor.phase is engine.Phase.BACKWARD:
        st_.step()
        if st_.grad_status(x) not in statuses:
            statuses.append(st_.grad_status(x))
            if st_.grad_status(x) == (1, 2):
                first = st_.contributions(x)
                assert len(first) == 1 and first[0].value.tobytes() == st_.grad(x).tobytes()
    assert statuses == [(0, 2), (1, 2), (2, 2)]
    contribs = {c.consumer: float(c.value) for c in st_.contributions(x)}
    # d(sin x cos x)/dx = cos²x - sin²x = cos 2x, one term per consumer.
    assert contribs[a] == pytest.approx(math.cos(0.7) ** 2, rel=1e-15)
    assert contribs[b] == pytest.approx(-math.sin(0.7) ** 2, rel=1e-15)
    assert float(st_.grad(x)) == pytest.approx(math.cos(1.4), rel=1e-14)
    assert float(st_.grad(x)) == sum(contribs.values())


def test_contributions_are_unbroadcast_to_the_receiving_shape():
    sc = load("""
        [scenario]
        title = "broadcast"
        [values]
        x = [1.0, 2.0, 3.0]
        B = [[1.0, 0.5, -1.0], [2.0, -0.5, 0.25]]
        [graph]
        E = "sum((x * B) ** 2)"
        [train]
        loss = "E"
    """)
    st_ = engine.Stepper(sc)
    st_.run_phase()
    st_.run_phase()
    x = np.array([1.0, 2.0, 3.0])
    B = np.array([[1.0, 0.5, -1.0], [2.0, -0.5, 0.25]])
    grad = st_.grad(sc.program.by_name["x"])
    assert grad.shape == (3,)
    np.testing.assert_allclose(grad, (2 * x * B * B).sum(axis=0), rtol=1e-15)


# ---------------------------------------------------------------- anomalies
LOG_OF_NEGATIVE = """
[scenario]
title = "bad log"
[values]
x = -1.0
[params]
w = 2.0
[graph]
a = "x * w"
y = "log(a)"
E = "exp(y) + w"
[train]
loss = "E"
learning_rate = 0.1
steps = 3
"""


def test_the_first_non_finite_node_stops_the_run():
    sc = load(LOG_OF_NEGATIVE)
    y = sc.program.by_name["y"]
    st_ = engine.Stepper(sc)
    events = st_.run_iteration()
    assert events[-1].node == y and events[-1].anomaly is not None
    an = st_.anomaly
    assert (an.iteration, an.phase, an.node, an.node_name, an.op, an.kind) == (1, "forward", y, "y", "log", "nan")
    assert st_.value(y) is not None and np.isnan(st_.value(y))
    assert st_.tick == sc.program.ops.index(y) + 1          # it stands right after the faulty step
    st_.back()
    assert st_.anomaly is None and st_.value(y) is None
    fresh = engine.Stepper(sc)
    assert fresh.run_iterations(3) == an
    assert fresh.tick == sc.program.ops.index(y) + 1


def test_an_intermediate_overflow_is_reported_even_if_the_loss_stays_finite():
    sc = load("""
        [scenario]
        title = "hidden overflow"
        [values]
        z = -800.0
        [params]
        w = 1.0
        [graph]
        e = "exp(-(z * w))"
        s = "1 / (1 + e)"
        E = "s * w"
        [train]
        loss = "E"
        learning_rate = 0.1
        steps = 3
    """)
    e = sc.program.by_name["e"]
    stepped = engine.Stepper(sc)
    stepped.run_iteration()
    fast = engine.Stepper(sc)
    got = fast.run_iterations(3)
    assert stepped.anomaly is not None and stepped.anomaly.node == e and stepped.anomaly.kind == "inf"
    assert got == stepped.anomaly and fast.tick == stepped.tick


def test_fast_path_and_stepping_find_the_same_divergence(snap):
    sc = engine.load_scenario(bundled_dir() / "diverge.toml")
    fast = engine.Stepper(sc)
    an = fast.run_iterations(sc.steps)
    assert an is not None and an.kind in ("inf", "nan")
    slow = engine.Stepper(sc)
    while slow.anomaly is None and not slow.at_end:
        slow.run_iteration()
    assert slow.anomaly == an
    assert_same(snap(fast), snap(slow))
    # The loss curve up to the faulty iteration agrees to the bit.
    assert fast.losses[:an.iteration - 1].tobytes() == slow.losses[:an.iteration - 1].tobytes()


def test_step_event_describes_the_step():
    sc = load(FAN_OUT)
    p = sc.program
    st_ = engine.Stepper(sc)
    kinds = []
    while not st_.at_end:
        ev = st_.step()
        kinds.append(ev.kind)
        if ev.kind == "forward":
            assert ev.writes == (ev.node,)
        if ev.kind == "seed":
            assert ev.node == p.loss and float(st_.grad(p.loss)) == 1.0
    assert kinds == ["forward"] * len(p.ops) + ["seed"] + ["backward"] * len(p.backward)
    assert st_.step() is None


def test_seek_past_an_anomaly_equals_stepping_there(snap):
    sc = engine.load_scenario(bundled_dir() / "diverge.toml")
    first = engine.Stepper(sc).run_iterations(sc.steps).iteration
    target = first + 10
    seeker = engine.Stepper(sc)
    seeker.seek_iteration(target)
    stepper = engine.Stepper(sc)
    for _ in range((target - 1) * stepper.per_iteration):
        stepper.step()
    for i in sc.program.params:
        assert seeker.param(i).tobytes() == stepper.param(i).tobytes()


def test_scalar_params_stay_ndarrays_after_an_update():
    st_ = engine.Stepper(load(LINEAR))
    st_.run_iteration()
    for i in st_.program.params:
        assert isinstance(st_.param(i), np.ndarray)


def test_local_derivative_of_a_large_broadcast_edge_stays_small(monkeypatch):
    built = []
    real = engine.stepper.local_jacobian

    def recording(op, i, out, inputs, attrs):
        built.append((out.size, inputs[i].size))
        return real(op, i, out, inputs, attrs)

    monkeypatch.setattr(engine.stepper, "local_jacobian", recording)
    sc = load("""
        [scenario]
        title = "bias"
        seed = 1
        [values]
        X = { init = "normal", shape = [200, 50] }
        b = { init = "normal", shape = [50] }
        [graph]
        y = "X * b"
        E = "sum(y)"
        [train]
        loss = "E"
    """)
    st_ = engine.Stepper(sc)
    st_.run_phase()
    local = st_.local_derivative(sc.program.by_name["y"], 1)
    assert all(rows * cols <= engine.stepper.SMALL ** 2 for rows, cols in built), built
    # The elementwise derivative ∂y/∂b, one value per output element, is what there is to show.
    assert local is None or local.size <= 200 * 50


@settings(max_examples=60, deadline=None)
@given(moves=st.lists(st.one_of(ANY_MOVE, st.tuples(st.just("set_eta"), st.sampled_from([0.125, 0.25, 0.5, 1.0]))),
                      min_size=1, max_size=12))
def test_any_eta_schedule_matches_the_closed_form(moves):
    # Changing η from wherever the cursor stands, then travelling anywhere, must never reuse a stale
    # checkpoint: the end state is the closed form of the schedule the stepper reports. Run with
    # the default budget and with one so small that most iteration starts are recomputed.
    for budget in (None, 16):
        st_ = engine.Stepper(load(LINEAR), **({} if budget is None else {"history_budget": budget}))
        for move in moves:
            if isinstance(move, tuple):
                arg = move[1] % (st_.total_ticks + 1) if move[0] == "seek" else move[1]
                getattr(st_, move[0])(arg)
            else:
                getattr(st_, move)()
        st_.seek_iteration(1)
        st_.run_iterations(st_.steps)
        losses, w, v = closed_form([st_.eta_at(k) for k in range(1, st_.steps + 1)])
        assert _wv(st_) == (w, v)
        assert st_.losses.tolist() == losses


@pytest.mark.parametrize("text, phase, kind, node", [
    # sqrt(w·w) at w = 0: the forward pass is finite, ∂sqrt/∂z = 1/(2·0) is not.
    ("""
        [scenario]
        title = "sqrt kink"
        [params]
        w = 0.0
        [graph]
        z = "w * w"
        r = "sqrt(z)"
        E = "r + w"
        [train]
        loss = "E"
        learning_rate = 0.1
        steps = 3
    """, "backward", "inf", "r"),
    # A gradient over the scenario's grad_norm_limit stops the run at the backward step that completed it.
    ("""
        [scenario]
        title = "norm limit"
        [params]
        w = [1.0, 2.0]
        [graph]
        E = "sum(w ** 3)"
        [train]
        loss = "E"
        learning_rate = 0.01
        steps = 5
        grad_norm_limit = 10.0
    """, "backward", "grad_norm", "w"),
])
def test_backward_anomalies_agree_between_stepping_and_the_fast_path(text, phase, kind, node, snap):
    sc = load(text)
    slow = engine.Stepper(sc)
    while slow.anomaly is None and not slow.at_end:
        slow.run_iteration()
    fast = engine.Stepper(sc)
    an = fast.run_iterations(sc.steps)
    assert an is not None and (an.phase, an.kind, an.node_name) == (phase, kind, node)
    assert an == slow.anomaly
    assert_same(snap(fast), snap(slow))
