"""The bundled scenarios imported from PyTorch: they are what `gradstep import` makes of the committed
ONNX exports (plus [data] and [train]), the LeNet learns the digits and the attention block learns to
count in steps, with its causal mask holding."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gradstep import engine

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _graph_lines(text: str) -> list[str]:
    body = text.split("[graph]\n")[1].split("\n[")[0]
    return [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("model, scenario, batch", [("lenet", "lenet_digits", 64), ("transformer", "attention", 16)])
def test_the_bundled_graph_is_what_import_makes_of_the_bundled_export(tmp_path, model, scenario, batch):
    pytest.importorskip("onnx")
    from gradstep.engine.importers.onnx import import_file
    import_file(SCENARIOS / f"{model}.onnx", tmp_path / "m.toml", batch=batch)
    imported = _graph_lines((tmp_path / "m.toml").read_text(encoding="utf-8"))
    bundled = _graph_lines((SCENARIOS / f"{scenario}.toml").read_text(encoding="utf-8"))
    # The bundled file adds only the lines that read its data (x from the pixels).
    extra = [ln for ln in bundled if ln not in imported]
    assert all(ln.startswith("x = ") for ln in extra), extra
    assert [ln for ln in bundled if ln in imported] == imported
    # And the weights are the export's.
    from gradstep.engine.importers import safetensors
    ours = (tmp_path / "m.safetensors").read_bytes()
    theirs = (SCENARIOS / f"{scenario}.safetensors").read_bytes()
    a, _ = safetensors.header(ours)
    b, _ = safetensors.header(theirs)
    assert list(a) == list(b)
    for name in a:
        assert safetensors.tensor(ours, a[name]).tobytes() == safetensors.tensor(theirs, b[name]).tobytes()


def _losses(name: str) -> np.ndarray:
    st = engine.Stepper(engine.load_scenario(SCENARIOS / f"{name}.toml"))
    st.seek(st.total_ticks)
    assert st.anomaly is None
    return st.losses, st


def test_the_lenet_learns_the_digits():
    losses, st = _losses("lenet_digits")
    assert len(losses) == 300
    first, last = losses[:20].mean(), losses[-20:].mean()
    assert first > 2.0 and last < 0.3, (first, last)
    # BatchNorm's running statistics moved from PyTorch's (0, 1) start towards the data's.
    p = st.program
    rm = st.param(p.by_name["bn1_running_mean"])
    assert np.all(np.isfinite(rm)) and np.any(np.abs(rm) > 1e-3)


def test_the_attention_block_learns_to_count_in_steps():
    losses, st = _losses("attention")
    first, last = losses[:20].mean(), losses[-20:].mean()
    # Position 0 cannot know the step (1 of 3 equally likely): the best possible mean is log(3)/6 ≈ 0.18.
    assert first > 1.0 and last < 0.35, (first, last)
    a = st.value(st.program.by_name["softmax_out"])
    assert a.shape == (16, 2, 6, 6)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=1e-12)
    future = np.triu(np.ones((6, 6), dtype=bool), k=1)
    assert np.all(a[..., future] == 0.0)              # the causal mask: no query sees a later key


def test_the_bundled_exports_are_documented_with_their_source():
    readme = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    for f in ("lenet.onnx", "transformer.onnx", "optdigits.csv", "sequences.csv"):
        assert f"**`{f}`**" in readme
    for name, model in (("lenet_digits", "lenet.onnx"), ("attention", "transformer.onnx")):
        head = (SCENARIOS / f"{name}.toml").read_text(encoding="utf-8").split("[scenario]")[0]
        assert re.search(rf"gradstep import {re.escape(model)}", head)
