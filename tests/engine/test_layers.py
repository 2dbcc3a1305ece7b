"""The ops for real models as scenarios write them: attributes by position, indexing and split, concat,
masks, shape errors that name the node and the problem, dropout's noise across steppers, iterations
and steps back; and regression tests of the engine bugs they found."""
from __future__ import annotations

import numpy as np
import pytest

from gradstep import engine
from gradstep.engine import ScenarioError, load_scenario_text
from gradstep.engine.scenario import noise

HEAD = '[scenario]\ntitle = "t"\nseed = 11\n'
TRAIN = '[train]\nloss = "E"\nlearning_rate = 0.1\n'


def _text(values: str, graph: str, train: str = TRAIN) -> str:
    """A scenario: [values] lines, [graph] lines (the last key is E), and [train]."""
    return HEAD + "[values]\n" + values.strip() + "\n[graph]\n" + graph.strip() + "\n" + train


def _bits(a):
    return None if a is None else (np.asarray(a).shape, np.ascontiguousarray(a).tobytes())


def _forward(sc: engine.Scenario) -> engine.Stepper:
    st = engine.Stepper(sc)
    st.run_phase()
    return st


# ---------------------------------------------------------------- shape errors
@pytest.mark.parametrize("values, expr, phrases", [
    ('x = { init = "normal", shape = [1, 3, 5, 5] }\nw = { init = "normal", shape = [2, 2, 3, 3] }',
     "conv2d(x, w)", ["conv2d", "3 channels", "(2, 2, 3, 3) expect 2"]),
    ('x = { init = "normal", shape = [1, 1, 3, 3] }\nw = { init = "normal", shape = [1, 1, 4, 4] }',
     "conv2d(x, w)", ["conv2d", "4×4 window", "does not fit in 3×3 images padded by (0, 0)"]),
    ('x = { init = "normal", shape = [1, 1, 3, 3] }\nw = { init = "normal", shape = [1, 1, 5, 6] }',
     "conv2d(x, w, padding=1)", ["5×6 window", "does not fit in 3×3 images padded by (1, 1)"]),
    ('x = [[1.0], [2.0], [3.0]]', "var(x, axis=1)", ["var over 1 element", "correction=1", "divides by 0"]),
    ('x = [5.0]', "var(x)", ["var over 1 element", "correction=1"]),
    ('x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]', "reshape(x, (4, 2))", ["reshape", "(2, 3) has 6 elements", "(4, 2) 8"]),
    ('x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]', "reshape(x, (-1, 4))", ["reshape", "6 elements", "cannot be (-1, 4)"]),
    ('a = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]\nb = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]', "concat([a, b], axis=0)",
     ["concat along axis 0", "(2, 3) and (3, 2) differ elsewhere"]),
    ('x = [1.0, 2.0, 3.0]', "x[5]", ["the index [5] does not fit shape (3,)"]),
    ('x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]', "x[:, -4]", ["the index [:, -4] does not fit shape (2, 3)"]),
    ('x = [1.0, 2.0, 3.0, 4.0]', "batch_norm(x)", ["batch_norm takes (N, C)", "got shape (4,)"]),
    ('x = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]\nw = [1.0, 1.0, 1.0]', "layer_norm(x, w)",
     ["layer_norm", "the weight has shape (3,), not (4,)"]),
])
def test_shape_errors_name_the_node_and_the_problem(values, expr, phrases):
    text = _text(values, f'h = "{expr}"\nE = "sum(h)"')
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="layers.toml")
    e = info.value
    assert (e.table, e.key) == ("graph", "h")
    assert e.line == text.splitlines().index(f'h = "{expr}"') + 1
    assert str(e).startswith(f"layers.toml:{e.line}: [graph] h: '{expr}': ")
    for phrase in phrases:
        assert phrase in e.problem, (phrase, e.problem)


# ---------------------------------------------------------------- how the new ops are written
IMAGES = 'x = { init = "normal", shape = [1, 2, 5, 5] }\nw = { init = "normal", shape = [3, 2, 3, 3] }\n' \
         'b = [0.5, -1.0, 2.0]'


def test_conv2d_reads_a_number_after_the_tensors_as_the_stride():
    sc = load_scenario_text(_text(IMAGES, 'h = "conv2d(x, w, 2)"\nE = "sum(h)"'))
    h = sc.program.node("h")
    assert len(h.inputs) == 2 and h.attrs == {"stride": (2, 2)} and h.shape == (1, 3, 2, 2)
    st = _forward(sc)
    x, w = (st.value(sc.program.by_name[k]) for k in ("x", "w"))
    np.testing.assert_allclose(st.value(h.id), engine.REGISTRY["conv2d"].forward(x, w, stride=(2, 2)), rtol=0)


def test_conv2d_takes_the_bias_then_stride_and_padding_by_position():
    sc = load_scenario_text(_text(IMAGES, 'h = "conv2d(x, w, b, 2, 1)"\nk = "conv2d(x, w, b, stride=2, padding=1)"\n'
                                          'E = "sum(h) + sum(k)"'))
    h, k = sc.program.node("h"), sc.program.node("k")
    assert len(h.inputs) == 3 and h.attrs == {"stride": (2, 2), "padding": (1, 1)} and h.shape == (1, 3, 3, 3)
    st = _forward(sc)
    assert _bits(st.value(h.id)) == _bits(st.value(k.id))


def test_leaky_relu_takes_its_slope_by_position():
    sc = load_scenario_text(_text("u = [-1.0, 2.0]", 'h = "leaky_relu(u, 0.2)"\nE = "sum(h)"'))
    h = sc.program.node("h")
    assert h.attrs == {"negative_slope": 0.2}
    assert _forward(sc).value(h.id).tolist() == [-0.2, 2.0]


def test_split_picks_the_chunk_as_a_slice():
    x = np.arange(15.0).reshape(3, 5)
    graph = 'h = "split(x, 2, 1)[1]"\nk = "x[:, 2:4]"\nlast = "split(x, 2, axis=1)[2]"\n' \
            'E = "sum(h) + sum(k) + sum(last)"'
    sc = load_scenario_text(_text(f"x = {x.tolist()}", graph))
    h, k, last = (sc.program.node(n) for n in ("h", "k", "last"))
    assert h.attrs == k.attrs == {"key": (slice(None), slice(2, 4))}
    st = _forward(sc)
    assert st.value(h.id).tolist() == x[:, 2:4].tolist()
    assert st.value(last.id).tolist() == x[:, 4:5].tolist()          # the last chunk may be shorter


def test_concat_takes_a_list_and_gives_each_input_its_part_of_the_gradient():
    sc = load_scenario_text(_text("a = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]\nb = [[7.0, 8.0], [9.0, 10.0]]",
                                  'h = "concat([a, b], axis=1)"\nE = "sum(h * h)"'))
    p = sc.program
    h = p.node("h")
    assert h.shape == (2, 5) and len(h.inputs) == 2
    st = engine.Stepper(sc)
    st.run_phase()
    assert st.value(h.id).tolist() == [[1, 2, 3, 7, 8], [4, 5, 6, 9, 10]]
    st.run_phase()
    assert st.grad(p.by_name["a"]).tolist() == [[2, 4, 6], [8, 10, 12]]
    assert st.grad(p.by_name["b"]).tolist() == [[14, 16], [18, 20]]


def test_a_causal_mask_filled_with_minus_1e9_gives_softmax_exact_zeros_and_no_nan():
    mask = [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    sc = load_scenario_text(_text(f"m = {mask}\ns = [[0.5, 3.0, -1.0], [2.0, -2.0, 8.0], [1.0, 2.0, 3.0]]",
                                  'a = "softmax(where(m, s, -1e9))"\nE = "sum(a * s)"'))
    p = sc.program
    st = engine.Stepper(sc)
    st.run_phase()
    a = st.value(p.by_name["a"])
    assert a[0].tolist() == [1.0, 0.0, 0.0] and a[1, 2] == 0.0 and a[1, :2].sum() == pytest.approx(1.0, rel=1e-15)
    assert a[2].tolist() == [1 / 3, 1 / 3, 1 / 3]               # masked throughout: uniform, not nan
    st.run_phase()
    assert st.anomaly is None
    g = st.grad(p.by_name["s"])
    assert np.all(np.isfinite(g)) and g[0, 1:].tolist() == [0.0, 0.0] and g[1, 2] == 0.0
    assert not np.any(st.grad(p.by_name["m"]))                 # the mask gets no gradient


def test_transpose_with_negative_axes_passes_the_right_gradient():
    # Its VJP once inverted the axes as written: ∂E/∂x came back permuted wrongly, with no error.
    sc = load_scenario_text(_text('x = { init = "normal", shape = [2, 3, 4] }', 'h = "transpose(x, (-1, 0, 1))"\n'
                                                                               'E = "sum(h * h)"'))
    st = engine.Stepper(sc)
    st.run_phase()
    st.run_phase()
    x = sc.program.by_name["x"]
    np.testing.assert_allclose(st.grad(x), 2.0 * st.value(x), rtol=1e-15)


def test_indexing_by_a_tensor_is_refused_with_a_pointer_to_embedding():
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(_text("x = [1.0, 2.0, 3.0]\ny = [0.0, 2.0]", 'h = "x[y]"\nE = "sum(h)"'))
    assert info.value.key == "h"
    assert "an index is a whole number written out" in info.value.problem
    assert "embedding(ids, table)" in info.value.problem


# ---------------------------------------------------------------- dropout's noise
DROPOUT = _text('x = { init = "normal", shape = [4, 6] }', 'h = "dropout(x * W, 0.5)"\nE = "sum(h * h)"',
                '[params]\nW = { init = "normal", shape = [6] }\n' + TRAIN + "steps = 3\n")


def _noise_node(sc) -> int:
    [i] = [n.id for n in sc.program.nodes if n.kind == "noise"]
    return i


def test_two_steppers_on_one_scenario_see_the_same_mask():
    sc = load_scenario_text(DROPOUT)
    h = sc.program.by_name["h"]
    one, two = _forward(sc), _forward(sc)
    assert _bits(one.value(h)) == _bits(two.value(h))
    assert 0 < np.count_nonzero(one.value(h)) < one.value(h).size          # some kept, some dropped
    # The same text loaded again draws the same noise: it comes from the seed, node and iteration only.
    again = _forward(load_scenario_text(DROPOUT))
    assert _bits(again.value(h)) == _bits(one.value(h))
    i = _noise_node(sc)
    assert _bits(one.value(i)) == _bits(noise(11, i, 1, (4, 6)))


def test_the_mask_changes_between_iterations():
    sc = load_scenario_text(DROPOUT)
    i, h = _noise_node(sc), sc.program.by_name["h"]
    st = _forward(sc)
    first = st.value(h) == 0.0
    st.run_iteration()
    st.run_phase()
    assert st.iteration == 2
    assert _bits(st.value(i)) == _bits(noise(11, i, 2, (4, 6)))
    assert np.any(first != (st.value(h) == 0.0))


def test_stepping_back_and_redoing_iteration_2_reproduces_it_to_the_bit():
    sc = load_scenario_text(DROPOUT)
    h = sc.program.by_name["h"]
    st = engine.Stepper(sc)
    st.run_iteration()
    st.run_phase()
    st.run_phase()                                  # iteration 2: forward and backward done
    value, grad = _bits(st.value(h)), _bits(st.grad(sc.program.by_name["W"]))
    while st.tick > st.per_iteration:
        st.back()                                   # undo step by step to iteration 2's start
    st.run_phase()
    st.run_phase()
    assert (_bits(st.value(h)), _bits(st.grad(sc.program.by_name["W"]))) == (value, grad)
    st.back_iteration()
    st.back_iteration()                             # back into iteration 1: recomputed from its checkpoint
    assert st.tick == 0
    st.run_iteration()
    st.run_phase()
    st.run_phase()
    assert (_bits(st.value(h)), _bits(st.grad(sc.program.by_name["W"]))) == (value, grad)


# ---------------------------------------------------------------- bugs these tests found (fixed)
def test_the_fast_path_reads_a_single_picked_element_each_iteration():
    sc = load_scenario_text(_text("x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]", 'E = "x[-1, 2] * w"',
                                  "[params]\nw = 2.0\n" + TRAIN + "steps = 3\n"))
    fast = engine.Stepper(sc)
    fast.run_iterations(3)
    slow = engine.Stepper(sc)
    while not slow.at_end:
        slow.run_iteration()
    assert slow.losses.tolist() == pytest.approx([12.0, 8.4, 4.8], rel=1e-15)
    assert fast.losses.tobytes() == slow.losses.tobytes()


def test_bce_with_logits_passes_broadcast_targets_their_gradient():
    sc = load_scenario_text(_text("y = [[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]]", 'E = "bce_with_logits(x, y)"',
                                  "[params]\nx = [0.5, -1.0, 2.0]\n" + TRAIN))
    st = engine.Stepper(sc)
    st.run_phase()
    st.run_phase()
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(st.grad(sc.program.by_name["y"]), np.broadcast_to(-x / 6.0, (2, 3)), rtol=1e-15)
