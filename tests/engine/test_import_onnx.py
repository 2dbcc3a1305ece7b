"""`gradstep import` of PyTorch's exports (an MLP, a LeNet with BatchNorm, a pre-LayerNorm transformer
block): 3 SGD steps agree with what PyTorch computed (tests/engine/model_reference) to 1e-10 relative:
the losses, every param's gradient, the params after each step and BatchNorm's running statistics."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from gradstep import engine  # noqa: E402
from gradstep.engine import cli  # noqa: E402
from gradstep.engine.importers.onnx import import_file  # noqa: E402

HERE = Path(__file__).parent / "model_reference"
REFERENCE = json.loads((HERE / "reference.json").read_text(encoding="utf-8"))
MODELS = {m["name"]: m for m in REFERENCE["models"]}
RTOL = 1e-10


def _close(got, expected, what):
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    scale = float(np.max(np.abs(expected)))
    err = float(np.max(np.abs(got - expected)))
    if scale < 1e-12:
        # Zero in exact arithmetic (a conv bias feeding BatchNorm has no effect): both sides hold
        # rounding noise of order 1e-16, which no relative bar can compare.
        assert float(np.max(np.abs(got))) < 1e-12, f"{what}: {got} should be rounding noise around 0"
        return
    assert err <= RTOL * scale, f"{what}: max error {err:.3g} against max |value| {scale:.3g}"


def _scenario_name(onnx_name: str) -> str:
    return re.sub(r"\W", "_", onnx_name, flags=re.ASCII)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imported")
    out = {}
    for name in MODELS:
        import_file(HERE / f"{name}.onnx", folder / f"{name}.toml")
        out[name] = folder / f"{name}.toml"
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_three_sgd_steps_agree_with_pytorch(imported, name):
    ref = MODELS[name]
    sc = engine.load_scenario(imported[name])
    p = sc.program
    # The reference batch and targets in place of the import's random ones.
    for input_name, value in ref["inputs"].items():
        sc.initial[p.by_name[_scenario_name(input_name)]] = np.asarray(value, dtype=np.float64)
    sc.initial[p.by_name["target"]] = np.asarray(ref["targets"], dtype=np.float64)
    params = {onnx_name: p.by_name[_scenario_name(onnx_name)] for onnx_name in ref["params_order"]}
    assert sorted(params.values()) == sorted(p.params)            # every trainable initializer, no more
    for onnx_name, i in params.items():
        _close(sc.initial[i], ref["initial"][onnx_name], f"initial {onnx_name}")
    buffers = {b: p.by_name[_scenario_name(b)] for b in ref.get("initial_buffers", {})}
    st = engine.Stepper(sc, learning_rate=ref["lr"], steps=ref["steps"])
    for k in range(ref["steps"]):
        st.run_phase()                                            # forward
        _close(st.value(p.loss), ref["losses"][k], f"step {k + 1} loss")
        _close(st.value(p.by_name["logits"]), ref["logits"][k], f"step {k + 1} logits")
        for b, i in buffers.items():
            _close(st.param(i), ref["buffers"][k][b], f"step {k + 1} {b}")
        st.run_phase()                                            # backward
        for onnx_name, i in params.items():
            _close(st.grad(i), ref["grads"][k][onnx_name], f"step {k + 1} ∂E/∂{onnx_name}")
        st.run_phase()                                            # update
        for onnx_name, i in params.items():
            _close(st.param(i), ref["params"][k][onnx_name], f"step {k + 1} {onnx_name}")
    # The fast path's replay gives the same losses to the bit.
    fast = engine.Stepper(sc, learning_rate=ref["lr"], steps=ref["steps"])
    fast.seek(fast.total_ticks)
    assert fast.losses.tobytes() == st.losses.tobytes()


def test_the_imported_scenarios_read_like_the_models(imported):
    lenet = imported["lenet"].read_text(encoding="utf-8")
    assert 'linear = "view @ fc1_weight.T + fc1_bias"' in lenet          # a Linear layer: one key
    assert 'fc1_weight = { file = "lenet.safetensors", tensor = "fc1.weight" }' in lenet
    assert "batch_norm(conv2d_out, bn1_weight, bn1_bias, bn1_running_mean, bn1_running_var, eps=1e-05, " \
           "momentum=0.1)" in lenet
    transformer = imported["transformer"].read_text(encoding="utf-8")
    assert "where(attn_causal_mask, div_out, -1000000000.0)" in transformer
    assert "embedding(ids, tok_emb_weight)" in transformer
    sc = engine.load_scenario(imported["transformer"])
    # The attention weights are a node one can inspect: (batch, heads, queries, keys).
    assert sc.program.node("softmax_out").shape == (2, 2, 6, 6)


def test_the_command_writes_both_files_and_refuses_to_overwrite(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    model.write_bytes((HERE / "mlp.onnx").read_bytes())
    assert cli.main(["import", str(model)]) == 0
    assert (tmp_path / "m.toml").is_file() and (tmp_path / "m.safetensors").is_file()
    out = capsys.readouterr().out
    assert "wrote" in out and "gradstep " in out
    assert cli.main(["import", str(model)]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["import", str(model), "--force", "--loss", "mse", "--batch", "16"]) == 0
    sc = engine.load_scenario(tmp_path / "m.toml")
    assert sc.program.node("x").shape == (16, 10) and sc.program.node("target").shape == (16, 3)
    st = engine.Stepper(sc)
    st.run_iteration()
    assert np.isfinite(st.losses[0])
