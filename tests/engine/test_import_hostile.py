"""`gradstep import` of broken and hostile ONNX files: one line, exit 2, nothing written; every
unsupported op listed at once; external data, bad dims and byte counts refused before reading."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from gradstep.engine import cli  # noqa: E402

HERE = Path(__file__).parent / "model_reference"


def _model(nodes, inits, inp=("x", [2, 3]), out=("y", [2, 4]), opset=20):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(inp[0], TensorProto.DOUBLE, inp[1])],
                              [helper.make_tensor_value_info(out[0], TensorProto.DOUBLE, out[1])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _linear():
    w = numpy_helper.from_array(np.arange(12.0).reshape(4, 3) / 10, "fc.weight")
    b = numpy_helper.from_array(np.zeros(4), "fc.bias")
    return _model([helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)], [w, b])


def _run(tmp_path, data: bytes, *extra, capsys=None):
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    code = cli.main(["import", str(path), *extra])
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != "m.onnx")
    return code, written


def _refused(tmp_path, capsys, data: bytes, *words):
    code, written = _run(tmp_path, data)
    err = capsys.readouterr().err
    assert code == 2, err
    assert written == [], written                      # nothing written, no temporary left behind
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


def test_a_small_model_imports(tmp_path, capsys):
    code, written = _run(tmp_path, _linear().SerializeToString())
    assert code == 0 and written == ["m.safetensors", "m.toml"]
    text = (tmp_path / "m.toml").read_text()
    assert 'y = "x @ fc_weight.T + fc_bias"' in text


@pytest.mark.parametrize("cut", [0, 1, 10, 40, 100, -1])
def test_a_truncated_file_is_one_line_and_exit_2(tmp_path, capsys, cut):
    data = _linear().SerializeToString()
    _refused(tmp_path, capsys, data[:cut] if cut >= 0 else data[:-3])


def test_random_bytes_are_not_a_model(tmp_path, capsys):
    _refused(tmp_path, capsys, np.random.default_rng(0).bytes(5000))


def test_external_data_is_refused(tmp_path, capsys):
    m = _linear()
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.ClearField("double_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "../../../etc/passwd"
    _refused(tmp_path, capsys, m.SerializeToString(), "fc.weight", "external")


def test_dims_that_disagree_with_the_bytes_are_refused(tmp_path, capsys):
    m = _linear()
    m.graph.initializer[0].dims[0] = 400
    # onnx's checker or our own count: either way one line naming the tensor.
    _refused(tmp_path, capsys, m.SerializeToString(), "fc.weight")


def test_huge_claimed_dims_are_refused_before_allocating(tmp_path, capsys):
    m = _linear()
    t = m.graph.initializer[0]
    del t.dims[:]
    t.dims.extend([2 ** 31, 2 ** 31])
    _refused(tmp_path, capsys, m.SerializeToString(), "fc.weight")


def test_every_unsupported_op_is_listed_with_counts_and_names(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("Einsum", ["a", "a"], ["b"], name="e1", equation="ij,ij->ij"),
             helper.make_node("Einsum", ["b", "b"], ["c"], name="e2", equation="ij,ij->ij"),
             helper.make_node("TopK", ["c", "k"], ["y", "i"], name="top", axis=1),
             helper.make_node("Atan", ["y"], ["z"], name="at")]
    m = _model(nodes, [numpy_helper.from_array(np.array([2], dtype=np.int64), "k")], out=("z", [2, 2]))
    err = _refused(tmp_path, capsys, m.SerializeToString(), "3 op type(s)", "Einsum ×2 (e1, e2)", "TopK ×1 (top)",
                   "Atan ×1 (at)")
    assert "Relu" not in err


def test_a_shape_that_does_not_fit_names_the_node(tmp_path, capsys):
    w = numpy_helper.from_array(np.ones((5, 7)), "W")
    m = _model([helper.make_node("MatMul", ["x", "W"], ["y"], name="proj")], [w])
    _refused(tmp_path, capsys, m.SerializeToString(), "'proj'", "do not fit")


def test_unsupported_attributes_name_the_node(tmp_path, capsys):
    w = numpy_helper.from_array(np.ones((4, 1, 3, 3)), "w")
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="grouped", group=2, kernel_shape=[3, 3])], [w],
               inp=("x", [1, 2, 6, 6]), out=("y", [1, 4, 4, 4]))
    _refused(tmp_path, capsys, m.SerializeToString(), "'grouped'", "grouped convolution")


def test_a_symbolic_axis_other_than_the_batch_is_refused(tmp_path, capsys):
    m = _linear()
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "features"
    _refused(tmp_path, capsys, m.SerializeToString(), "symbolic axis 1", "features")


def test_a_file_over_the_limit_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    from gradstep.engine.importers import onnx as importer
    monkeypatch.setattr(importer, "MAX_MODEL_BYTES", 100)
    _refused(tmp_path, capsys, _linear().SerializeToString(), "MAX_MODEL_BYTES")


def test_names_full_of_escapes_and_dots_become_plain_names(tmp_path, capsys):
    w = numpy_helper.from_array(np.ones((4, 3)), "\x1b[31mevil.weight\x07")
    m = _model([helper.make_node("Gemm", ["x", w.name], ["out\x1b]0;title\x07"], name="n\x1b", transB=1)], [w],
               out=("out\x1b]0;title\x07", [2, 4]))
    code, written = _run(tmp_path, m.SerializeToString())
    assert code == 0, capsys.readouterr().err
    text = (tmp_path / "m.toml").read_text()
    assert "\x1b" not in text and "\x07" not in text.replace("\\u0007", "")
    from gradstep import engine
    sc = engine.load_scenario(tmp_path / "m.toml")
    assert sc.program.params and all(n.name.isidentifier() for n in sc.program.nodes if n.key)


def test_without_onnx_the_command_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_onnx(name, *args, **kw):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("no onnx")
        return real(name, *args, **kw)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    code, written = _run(tmp_path, _linear().SerializeToString())
    assert code == 2 and written == []
    assert "pip install 'gradstep[onnx]'" in capsys.readouterr().err


def test_the_bundled_exports_import_quickly(tmp_path):
    """A 1 MB model imports in well under a second (measured in bench; here only that it works at
    that size): a 512×512 Linear stack."""
    rng = np.random.default_rng(0)
    inits, nodes, prev = [], [], "x"
    for k in range(2):
        inits.append(numpy_helper.from_array(rng.normal(size=(256, 256)), f"l{k}.weight"))
        nodes.append(helper.make_node("Gemm", [prev, f"l{k}.weight"], [f"h{k}"], name=f"l{k}", transB=1))
        prev = f"h{k}"
    m = _model(nodes, inits, inp=("x", [4, 256]), out=(prev, [4, 256]))
    data = m.SerializeToString()
    assert len(data) > 1_000_000
    code, written = _run(tmp_path, data)
    assert code == 0 and written == ["m.safetensors", "m.toml"]


def test_only_the_import_command_imports_onnx():
    """onnx is an optional extra: loading and running scenarios, even imported ones, never imports it."""
    import subprocess
    import sys
    scenarios = Path(__file__).resolve().parents[2] / "scenarios"
    code = ("import sys\nfrom gradstep.engine import cli\n"
            f"cli.main(['run', {str(scenarios / 'lenet_digits.toml')!r}, '--steps', '2'])\n"
            f"cli.main(['check', {str(scenarios / 'attention.toml')!r}])\n"
            "print('onnx' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False False", out.stdout + out.stderr
