"""Values and params from a .safetensors file beside the scenario: exact values, and every bad file or
spec refused with a message naming the file, the table and key."""
from __future__ import annotations

import numpy as np
import pytest

from gradstep import engine
from gradstep.engine.importers import safetensors

SCENARIO = """
[scenario]
title = "weights"
[values]
x = [1.0, 2.0, 3.0]
[params]
W = { file = "w.safetensors", tensor = "fc1.weight" }
fc1_bias = { file = "w.safetensors" }
[graph]
E = "sum(W @ x + fc1_bias)"
[train]
loss = "E"
learning_rate = 0.1
"""
W = np.array([[0.1, -0.2, 0.3], [1e-300, 2.5, -7.0]])
B = np.array([0.5, -0.25])


@pytest.fixture
def folder(tmp_path):
    safetensors.write(tmp_path / "w.safetensors", {"fc1.weight": W, "fc1_bias": B})
    return tmp_path


def _load(folder, text=SCENARIO):
    (folder / "s.toml").write_text(text, encoding="utf-8")
    return engine.load_scenario(folder / "s.toml")


def test_params_come_from_the_file_bit_for_bit(folder):
    sc = _load(folder)
    p = sc.program
    assert sc.initial[p.by_name["W"]].tobytes() == W.tobytes()
    assert sc.initial[p.by_name["fc1_bias"]].tobytes() == B.tobytes()
    st = engine.Stepper(sc)
    st.run_iteration()
    assert st.losses[0] == pytest.approx(float(np.sum(W @ [1.0, 2.0, 3.0] + B)), rel=1e-15)


def test_float32_tensors_are_cast_exactly(folder):
    raw = safetensors.dump({"fc1.weight": W})
    infos, _ = safetensors.header(raw)
    # A float32 file written by hand: the same header with F32 data.
    f32 = W.astype(np.float32)
    import json
    import struct
    header = json.dumps({"fc1.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                         "fc1_bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}}).encode()
    (folder / "w.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + f32.tobytes()
                                           + B.astype(np.float32).tobytes())
    sc = _load(folder)
    assert sc.initial[sc.program.by_name["W"]].tobytes() == f32.astype(np.float64).tobytes()


@pytest.mark.parametrize("change, words", [
    (('tensor = "fc1.weight"', 'tensor = "fc1.weigth"'), ["has no tensor 'fc1.weigth'", "did you mean 'fc1.weight'"]),
    (('file = "w.safetensors", tensor', 'file = "missing.safetensors", tensor'), ["does not exist"]),
    (('file = "w.safetensors", tensor', 'file = "../w.safetensors", tensor'), ["inside the scenario's folder"]),
    (('tensor = "fc1.weight" }', 'tensor = "fc1.weight", scale = 2 }'), ["scale"]),
    (('tensor = "fc1.weight"', 'tensor = 3'), ["tensor"]),
])
def test_bad_specs_name_the_key(folder, change, words):
    with pytest.raises(engine.ScenarioError) as info:
        _load(folder, SCENARIO.replace(*change))
    msg = str(info.value)
    assert "[params] W" in msg and all(w in msg for w in words), msg


def test_a_corrupt_or_truncated_file_is_one_clear_error(folder):
    good = (folder / "w.safetensors").read_bytes()
    for cut in (0, 7, 8, 20, len(good) - 1):
        (folder / "w.safetensors").write_bytes(good[:cut])
        with pytest.raises(engine.ScenarioError) as info:
            _load(folder)
        assert "[params] W" in str(info.value) and "w.safetensors" in str(info.value)


def test_nan_in_a_weights_file_is_refused(folder):
    safetensors.write(folder / "w.safetensors", {"fc1.weight": np.array([[np.nan, 0, 0], [0, 0, 0]]),
                                                 "fc1_bias": B})
    with pytest.raises(engine.ScenarioError, match="nan or inf"):
        _load(folder)


def test_a_scenario_given_as_text_cannot_read_a_weights_file():
    with pytest.raises(engine.ScenarioError, match="cannot read a weights file"):
        engine.load_scenario_text(SCENARIO)


def test_the_size_limit_is_checked_before_reading(folder, monkeypatch):
    from gradstep.engine import limits
    monkeypatch.setattr(limits, "MAX_WEIGHTS_BYTES", 100)
    with pytest.raises(engine.ScenarioError, match="MAX_WEIGHTS_BYTES"):
        _load(folder)
