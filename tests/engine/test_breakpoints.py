"""Breakpoints stop where a brute-force scan stops: every condition kind, forward and in reverse.

The brute force steps node by node and, after every step, evaluates the condition written here in
plain Python over the Stepper's public reads (value, grad, param, updates). A watchpoint hits at a
step that changes what the condition reads and leaves it true, so the scan notes the read
quantities' bytes before and after each step. continue_() (fast path with probes, or the loss curve
vectorised) must stop on the same ticks, one after another; reverse_continue() must come back
through the same ticks, with the same bits as going forward.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from gradstep.engine import ScenarioError, Stepper, load_scenario, load_scenario_text
from gradstep.scenarios import bundled_dir

TWO_LAYER = bundled_dir() / "two_layer.toml"
IRIS = bundled_dir() / "iris_softmax.toml"
XOR = bundled_dir() / "xor.toml"
PATHS = bundled_dir() / "sum_over_paths.toml"

TANH_NET = """
[scenario]
title = "a tanh layer over a batch, for saturation and gradients with two contributions"
seed = 4
[data]
batch = 3
x = [[0.5, -1.0], [1.5, 0.25], [-2.0, 1.0], [0.75, 0.5], [1.0, -0.25], [-1.5, 2.0]]
y = [[1.0], [0.0], [1.0], [0.0], [1.0], [0.0]]
[params]
W = { init = "normal", shape = [2, 4], scale = 1.5 }
V = { init = "normal", shape = [4, 1], scale = 0.5 }
[graph]
t = "tanh(x @ W)"
u = "t * t"
out = "u @ V + t @ V"
E = "mean((out - y) ** 2)"
[train]
loss = "E"
learning_rate = 0.2
steps = 40
"""


def _id(st, name):
    return st.program.by_name[name]


def _val(st, name):
    i = _id(st, name)
    return st.param(i) if st.program.nodes[i].kind == "param" else st.value(i)


def _update(st, name):
    i = _id(st, name)
    u = next(u for u in st.updates() if u.param == i)
    return None if u.new is None or u.grad is None else np.negative(u.eta * np.asarray(u.grad))


# (scenario, condition, plain-Python predicate over the Stepper or None when not available,
#  the quantities it reads as functions of the Stepper, steps)
CASES = {
    "loss": (TWO_LAYER, "loss < {a}", lambda st, a: st.value(st.program.loss) < a,
             lambda st: [st.value(st.program.loss)], 60),
    "iteration": (TWO_LAYER, "iteration >= 7 and iteration % 1 == 0", None, None, 12),
    "grad one contribution": (TWO_LAYER, "norm(grad(W1)) < {a}", lambda st, a: np.linalg.norm(st.grad(_id(st, "W1"))) < a,
                              lambda st: [st.grad(_id(st, "W1"))], 60),
    "grad two contributions": (TANH_NET, "norm(grad(t)) > {a}", lambda st, a: np.linalg.norm(st.grad(_id(st, "t"))) > a,
                               lambda st: [st.grad(_id(st, "t"))], 40),
    "value": (TWO_LAYER, "max(h) > {a}", lambda st, a: np.max(st.value(_id(st, "h"))) > a,
              lambda st: [st.value(_id(st, "h"))], 60),
    "dead": (TWO_LAYER, "dead(h) >= {a}", lambda st, a: np.mean(st.value(_id(st, "h")) == 0) >= a,
             lambda st: [st.value(_id(st, "h"))], 60),
    "saturated": (TANH_NET, "saturated(t) > {a}", lambda st, a: np.mean(np.abs(st.value(_id(st, "t"))) > 0.99) > a,
                  lambda st: [st.value(_id(st, "t"))], 40),
    "ratio": (TWO_LAYER, "ratio(W1) < {a}",
              lambda st, a: np.linalg.norm(_update(st, "W1")) / np.linalg.norm(st.param(_id(st, "W1"))) < a,
              lambda st: [_update(st, "W1"), st.param(_id(st, "W1"))], 60),
    "update element": (XOR, "update(W1)[0, 1] < {a}", lambda st, a: _update(st, "W1")[0, 1] < a,
                       lambda st: [_update(st, "W1")], 80),
    "param element": (TWO_LAYER, "W2[1, 3] > {a}", lambda st, a: st.param(_id(st, "W2"))[1, 3] > a,
                      lambda st: [st.param(_id(st, "W2"))], 60),
    "count and or": (IRIS, "count(grad(logits) > 0.005) < {a} or loss > 5",
                     lambda st, a: np.count_nonzero(st.grad(_id(st, "logits")) > 0.005) < a or st.value(st.program.loss) > 5,
                     lambda st: [st.grad(_id(st, "logits")), st.value(st.program.loss)], 30),
    "batch data": (IRIS, "mean(x) > {a}", lambda st, a: np.mean(st.value(_id(st, "x"))) > a,
                   lambda st: [st.value(_id(st, "x"))], 30),
}


def _threshold(name: str) -> float:
    """A threshold met part-way through the run (read off a plain replay), so hits land mid-run."""
    return {"loss": 0.05, "iteration": 0, "grad one contribution": 0.6, "grad two contributions": 3.0,
            "value": 2.8, "dead": 0.7, "saturated": 0.3, "ratio": 3e-4, "update element": 0.01,
            "param element": -0.2588, "count and or": 45, "batch data": 3.55}[name]


def _load(source, steps):
    sc = load_scenario(source) if not isinstance(source, str) else load_scenario_text(textwrap.dedent(source))
    return Stepper(sc, steps=steps)


def brute_force(source, steps, predicate, reads, a, *, limit=4) -> list[int]:
    """Ticks where, node by node, the predicate holds after a step that changed what it reads."""
    st = _load(source, steps)
    found = []
    before = _signature(reads(st))
    while not st.at_end and len(found) < limit:
        ev = st.step()
        # (After an iteration's last step the Stepper already shows the next iteration: values,
        # gradients and updates are gone, params stay. Cases below read what survives, or use a
        # param that is not updated last; the last param has a test of its own.)
        now = _signature(reads(st))
        try:
            holds = all(x is not None for x in reads(st)) and bool(predicate(st, a))
        except TypeError:
            holds = False
        if holds and now != before:
            found.append(st.tick)
        before = now
        del ev
    return found


def _signature(arrays) -> tuple:
    return tuple(None if x is None else (np.shape(x), np.asarray(x, dtype=float).tobytes()) for x in arrays)


def _continues(source, steps, condition, limit=4) -> tuple[list[int], Stepper]:
    st = _load(source, steps)
    st.add_breakpoint(condition)
    ticks = []
    while len(ticks) < limit:
        r = st.continue_()
        if r is None:
            break
        assert r.tick == st.tick
        ticks.append(st.tick)
    return ticks, st


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[2] is not None])
def test_continue_stops_where_the_brute_force_scan_stops(name):
    source, cond, predicate, reads, steps = CASES[name]
    a = _threshold(name)
    expected = brute_force(source, steps, predicate, reads, a)
    assert expected, "the case must hit somewhere, or it proves nothing"
    got, _ = _continues(source, steps, cond.format(a=a))
    assert got == expected


def test_the_brute_force_would_see_a_wrong_stop():
    """A wrong stop shows: a loss threshold one notch off gives other ticks."""
    source, cond, predicate, reads, steps = CASES["loss"]
    assert brute_force(source, steps, predicate, reads, 0.05) != brute_force(source, steps, predicate, reads, 0.03)


def test_the_last_update_of_an_iteration_is_checked_with_its_own_iteration():
    """ratio(W2) is checked when W2, the last param, is updated: before the next iteration begins."""
    st = _load(TWO_LAYER, 5)
    st.add_breakpoint("ratio(W2) > 0")
    stop = st.continue_()
    assert stop is not None and stop.phase == "update" and stop.iteration == 1
    assert stop.node == _id(st, "W2") and stop.tick == st.per_iteration


def test_iteration_and_eta_are_checked_as_an_iteration_begins():
    st = _load(TWO_LAYER, 12)
    st.add_breakpoint("iteration >= 7 and eta > 0")
    stop = st.continue_()
    assert (stop.iteration, stop.phase, stop.index, stop.tick) == (7, "forward", 0, 6 * st.per_iteration)
    assert st.cursor.iteration == 7 and st.cursor.index == 0
    again = st.continue_()
    assert (again.iteration, again.index, again.tick) == (8, 0, 7 * st.per_iteration)
    back = st.reverse_continue()
    assert back.tick == stop.tick and back.iteration == 7


def _place_brute_force(source, steps, at, phase, ignore=0) -> list[int]:
    st = _load(source, steps)
    node = _id(st, at) if at != "loss" else st.program.loss
    out = []
    seen = 0
    while not st.at_end and len(out) < 3:
        ev = st.step()
        kind = ev.kind.value
        match = (phase == "forward" and kind == "forward" and ev.node == node) or \
                (phase == "backward" and kind in ("backward", "seed") and ev.node == node) or \
                (phase == "update" and kind == "update" and ev.node == node)
        if match:
            seen += 1
            if seen > ignore:
                out.append(st.tick)
    return out


@pytest.mark.parametrize("at, phase, ignore", [("h", "backward", 0), ("h", "forward", 3), ("W1", "update", 1),
                                               ("E", "backward", 0)])
def test_a_breakpoint_pinned_to_a_place(at, phase, ignore):
    expected = _place_brute_force(TWO_LAYER, 20, at, phase, ignore)
    st = _load(TWO_LAYER, 20)
    st.add_breakpoint(at=at, phase=phase, ignore=ignore)
    got = []
    while len(got) < 3 and st.continue_() is not None:
        got.append(st.tick)
    assert got == expected and len(got) == 3


def test_a_pinned_condition_is_checked_only_at_its_place():
    """max(h) > a at h's backward step: the same test as at its forward step, but later ticks."""
    st = _load(TWO_LAYER, 30)
    st.add_breakpoint("max(h) > 2.8", at="h", phase="backward")
    stop = st.continue_()
    free = _load(TWO_LAYER, 30)
    free.add_breakpoint("max(h) > 2.8")
    first = free.continue_()
    assert stop.iteration == first.iteration and stop.phase == "backward" and first.phase == "forward"
    assert stop.node == first.node and stop.tick > first.tick


def test_ignore_lets_hits_pass_and_hits_are_counted():
    expected = brute_force(TWO_LAYER, 60, CASES["loss"][2], CASES["loss"][3], 0.05, limit=6)
    st = _load(TWO_LAYER, 60)
    bp = st.add_breakpoint("loss < 0.05", ignore=3)
    stop = st.continue_()
    assert stop.tick == expected[3] and bp.hits == 4


@pytest.mark.parametrize("source, param, steps", [(TWO_LAYER, "W1", 20), (IRIS, "b", 12)])
def test_changed_is_a_watchpoint_on_the_sign_of_a_param(source, param, steps):
    """changed(sign(w)) stops exactly when an update flips a sign of w, compared with the last check;
    b is iris's last param, so its checks fall on the step that ends an iteration."""
    st0 = _load(source, steps)
    w = _id(st0, param)
    expected, prev = [], None
    while not st0.at_end and len(expected) < 4:
        ev = st0.step()
        if ev.kind.value == "update" and ev.node == w:
            s = np.sign(st0.param(w))
            if prev is not None and not np.array_equal(s, prev):
                expected.append(st0.tick)
            prev = s
    assert len(expected) >= 3
    got, st = _continues(source, steps, f"changed(sign({param}))", limit=len(expected))
    assert got == expected
    # Going back through the same hits: the same ticks, the same bits.
    at_last = _state(st)
    for tick in reversed(expected[:-1]):
        stop = st.reverse_continue()
        assert stop is not None and stop.tick == tick == st.tick
    assert st.reverse_continue() is None
    assert st.tick == expected[0]
    for tick in expected[1:]:
        assert st.continue_().tick == tick
    assert _state(st) == at_last


@pytest.mark.parametrize("name", ["loss", "value", "grad two contributions", "ratio", "dead", "batch data"])
def test_reverse_continue_returns_to_each_hit_with_the_same_bits(name):
    source, cond, predicate, reads, steps = CASES[name]
    a = _threshold(name)
    st = _load(source, steps)
    st.add_breakpoint(cond.format(a=a))
    states = {}
    ticks = []
    while len(ticks) < 4 and st.continue_() is not None:
        ticks.append(st.tick)
        states[st.tick] = _state(st)
    assert len(ticks) >= 2
    st.seek(st.total_ticks)
    for tick in reversed(ticks):
        # Other hits may lie after the last one continued to: go back until this one.
        while True:
            stop = st.reverse_continue()
            assert stop is not None
            if stop.tick <= tick:
                break
        assert stop.tick == tick == st.tick
        assert _state(st) == states[tick]


def _state(st) -> tuple:
    p = st.program
    out = []
    for i in range(len(p.nodes)):
        for x in (st.value(i), st.grad(i)):
            out.append(None if x is None else np.asarray(x).tobytes())
    out += [st.param(i).tobytes() for i in p.params]
    return tuple(out)


def test_continue_with_no_hit_runs_to_the_end_and_keeps_counts():
    st = _load(TWO_LAYER, 300)
    bp = st.add_breakpoint("loss < 1e-9")
    assert st.continue_() is None
    assert st.at_end and bp.hits == 0
    plain = _load(TWO_LAYER, 300)
    plain.run_iterations(300)
    assert st.losses.tobytes() == plain.losses.tobytes()


def test_a_nan_condition_counts_as_false_and_is_reported_once():
    st = _load(TWO_LAYER, 10)
    bp = st.add_breakpoint("(loss - loss) / (loss - loss) > 1")      # 0/0: nan every time
    assert st.continue_() is None
    assert bp.problem is not None and "nan" in bp.problem and bp.hits == 0


@pytest.mark.parametrize("text, words", [
    ("los < 1", ["unknown name 'los'", "did you mean 'loss'"]),
    ("nrm(grad(W1)) < 1", ["unknown function 'nrm'", "did you mean 'norm'"]),
    ("h > 0", ["(10,)", "any(...) or all(...)"]),
    ("norm(h)", ["is a number, not a test"]),
    ("__import__('os')", ["'__'"]),
    ("loss.__class__ < 1", ["attribute access"]),
    ("'a' < 'b'", ["only numbers"]),
    ("update(h) > 0", ["'h' is a op", "only params are updated"]),
    ("dead(W1) > 0", ["not a relu node"]),
    ("saturated(h) > 0", ["not a tanh or sigmoid node"]),
    ("grad(x) > 0 and 1 < 2", ["(100,)"]),
    ("W1[10, 0] > 0", ["out of range"]),
    ("3 < 4", ["reads nothing that changes"]),
    ("(" * 40 + "loss" + ")" * 40 + " < 1", ["MAX_CONDITION_DEPTH"]),
    ("loss < 1" + " " * 1000, ["MAX_CONDITION_CHARS"]),
    ("[x for x in h]", ["comprehensions"]),
    ("lambda: 1", ["lambda"]),
])
def test_a_bad_condition_is_refused_with_a_clear_message(text, words):
    st = _load(TWO_LAYER, 5)
    with pytest.raises(ScenarioError) as info:
        st.add_breakpoint(text)
    for w in words:
        assert w in str(info.value), str(info.value)
    assert st.breakpoints == []


def test_bad_places_are_refused():
    st = _load(TWO_LAYER, 5)
    for kw, words in [({"at": "hh"}, "did you mean 'h'"), ({"at": "x", "phase": "forward"}, "no forward step"),
                      ({"at": "h", "phase": "update"}, "not a param"), ({"at": "h", "phase": "sideways"}, "phase must be"),
                      ({"phase": "backward", "when": "loss < 1"}, "phase goes with at"), ({}, "needs a condition")]:
        with pytest.raises(ScenarioError, match=words):
            st.add_breakpoint(**kw)


def test_the_number_of_breakpoints_is_limited():
    from gradstep.engine import limits
    st = _load(TWO_LAYER, 5)
    for _ in range(limits.MAX_BREAKPOINTS):
        st.add_breakpoint("loss < 1")
    with pytest.raises(ScenarioError, match="MAX_BREAKPOINTS"):
        st.add_breakpoint("loss < 1")


def test_stepping_by_hand_reports_a_hit_too():
    st = _load(TWO_LAYER, 5)
    bp = st.add_breakpoint(at="h", phase="forward")
    events = st.run_phase()
    assert events[-1].stop is not None and events[-1].node == _id(st, "h") and st.stop.breakpoint == bp.id
    assert bp.hits == 1
    assert math.isfinite(st.value(_id(st, "h")).sum())


@pytest.mark.parametrize("condition", ["max(h) > 1e9", "norm(grad(W1)) < 1e-12", "loss < 1e-12", "changed(h[0] > 1e9)",
                                       "ratio(W1) > 10"])
def test_continue_runs_whole_iterations_in_the_fast_path_not_node_by_node(condition, monkeypatch):
    """A never-hit condition over 300 iterations steps at most a few iterations node by node."""
    from gradstep.engine.stepper import Stepper as S
    calls = {"n": 0}
    real = S._step

    def counting(self):
        calls["n"] += 1
        return real(self)
    monkeypatch.setattr(S, "_step", counting)
    st = _load(TWO_LAYER, 300)
    st.add_breakpoint(condition)
    assert st.continue_() is None and st.at_end
    assert calls["n"] <= 4 * st.per_iteration, calls["n"]


def test_going_to_a_typed_place():
    st = _load(TWO_LAYER, 600)
    S = st.per_iteration
    assert st.place_tick("500") == 499 * S
    tick = st.place_tick("500 backward h")
    st.seek(tick)
    inner = next(n.id for n in st.program.nodes if n.name == "W1 @ x")
    assert st.cursor.iteration == 500 and st.grad(inner) is not None       # h has just passed it on
    assert st.place_tick("2 update W2") == 2 * S
    assert st.place_tick("1 forward E") == st.program.ops.index(st.program.loss) + 1
    for bad, words in [("0", "outside 1..600"), ("abc", "not an iteration"), ("5 sideways h", "phase must be"),
                       ("5 backward hh", "did you mean 'h'"), ("5 update h", "no update step"), ("5 h", "type an")]:
        with pytest.raises(ValueError, match=words):
            st.place_tick(bad)


def test_health_now_reads_the_current_iteration():
    st = _load(TWO_LAYER, 5)
    st.run_phase()
    h = st.health_now()
    assert h.dead["h"] == np.mean(st.value(_id(st, "h")) == 0) and h.grad_norm == {}
    st.run_phase()
    st.step()                                    # W1's update
    h = st.health_now()
    assert h.grad_norm["W1"] == np.linalg.norm(st.grad(_id(st, "W1")))
    assert set(h.update_ratio) == {"W1"}


GUARDED = [
    (TWO_LAYER, "iteration >= 25 and iteration <= 45 and max(h) > 2.8", 60),
    (TWO_LAYER, "iteration > 10 and norm(grad(W1)) < 0.6", 60),
    (TANH_NET, "iteration >= 5 and eta > 0 and saturated(t) > 0.3", 40),
    (TWO_LAYER, "iteration == 40 and dead(h) >= 0.7", 60),
    (IRIS, "iteration <= 20 and mean(x) > 3.55", 30),
    (TWO_LAYER, "iteration == 40 and W2[1, 3] > -0.2588", 60),     # a param: checked as iteration 40 begins too
    (IRIS, "iteration == 16 and mean(x) > 3.55", 30),              # a batch of data, likewise
]


@pytest.mark.parametrize("source, condition, steps", GUARDED, ids=[g[1] for g in GUARDED])
def test_reverse_continue_skips_what_a_guard_rules_out_and_stops_on_the_same_ticks(source, condition, steps):
    """A condition that starts with a test of the iteration (and eta) alone is run only in the iterations
    where that test can hold, going back: it must come back through exactly the ticks continue stopped
    on, with the same bits, running fewer iterations than the same walk without the guard."""
    from gradstep.engine import conditions
    st = _load(source, steps)
    st.add_breakpoint(condition)
    assert st.breakpoints[0].condition.guard() is not None
    ticks, states = [], {}
    while st.continue_() is not None:
        ticks.append(st.tick)
        states[st.tick] = _state(st)
    assert len(ticks) >= 1, "the case must hit"
    walked, ran = _walk_back(st)
    assert walked == list(reversed(ticks))
    assert all(_state_at(st, t) == states[t] for t in ticks)
    guard = conditions.Condition.guard
    conditions.Condition.guard = lambda self: None
    try:
        plain, ran_plain = _walk_back(_continued(source, steps, condition))
    finally:
        conditions.Condition.guard = guard
    assert plain == walked and ran < ran_plain, (ran, ran_plain)


def _continued(source, steps, condition):
    st = _load(source, steps)
    st.add_breakpoint(condition)
    st.seek(st.total_ticks)
    return st


def _walk_back(st) -> tuple[list[int], int]:
    """Reverse-continue from the end to the first hit: the ticks, and how many iterations were run."""
    from gradstep.engine import hits
    ran, real = [0], hits._run

    def counted(st_, fast, it, n, probes):
        ran[0] += n
        return real(st_, fast, it, n, probes)
    hits._run = counted
    try:
        st.seek(st.total_ticks)
        out = []
        while (stop := st.reverse_continue()) is not None:
            assert stop.tick == st.tick
            out.append(stop.tick)
    finally:
        hits._run = real
    return out, ran[0]


def _state_at(st, tick):
    st.seek(tick)
    return _state(st)


def test_a_guard_is_the_leading_iteration_tests_and_nothing_with_changed():
    st = _load(TWO_LAYER, 5)
    for text, guarded in [("iteration == 5 and max(h) > 0", True), ("max(h) > 0 and iteration == 5", False),
                          ("iteration == 5 or max(h) > 0", False), ("iteration == 5", False),
                          ("iteration == 5 and changed(max(h) > 0)", False), ("eta < 1 and loss < 2", True)]:
        bp = st.add_breakpoint(text)
        assert (bp.condition.guard() is not None) == guarded, text


SCHEDULED = TWO_LAYER.read_text().replace("[train]", "[train]\nschedule = { kind = \"step\", every = 20, gamma = 0.1 }", 1)


@pytest.mark.parametrize("condition", ["eta < 0.0005 and max(h) > 2.7", "eta < 0.0005 and loss < 0.05",
                                       "eta > 0.0005 and loss < 0.2"])
def test_a_learning_rate_schedule_moves_eta_in_conditions_going_both_ways(condition):
    """With a schedule, η changes every 20 iterations though the scenario sets it once: a condition on eta
    (vectorised over the loss curve, or a guard going back) must see the scheduled η of each iteration,
    and reverse-continue comes back through exactly the ticks continue stopped on."""
    st = _load(SCHEDULED, 60)
    st.add_breakpoint(condition)
    ticks = []
    while st.continue_() is not None:
        ticks.append(st.tick)
    assert ticks, "the case must hit"
    for t in ticks:                                   # each stop lies where the scheduled η holds
        eta = st.eta_at((t - 1) // st.per_iteration + 1)
        assert (eta < 0.0005) == condition.startswith("eta <")
    walked, _ = _walk_back(_continued(SCHEDULED, 60, condition))
    assert walked == list(reversed(ticks))
