"""Reference models and numbers from PyTorch for `gradstep import MODEL.onnx` and the ops it needs.

Writes, next to this file:
- mlp.onnx, lenet.onnx, transformer.onnx: three small float64 models exported from PyTorch with
  `torch.onnx.export(model, example, dynamo=True, optimize=False)`, weights inside the file (no
  external data), holding their initial (untrained) parameters;
- reference.json: for each model, the ONNX opset and op types (with counts), every initializer
  (name, kind, dtype, shape), the fixed input batch and integer class targets, the logits, and
  3 steps of plain `torch.optim.SGD(lr=0.05)` on mean cross-entropy (`F.cross_entropy`): the loss
  before each step, the gradients (`param.grad`) and the params after each step, keyed by the
  ONNX initializer names; for the BatchNorm model also its running statistics after each step;
and, one level up from the tests, scenarios/optdigits.csv: scikit-learn's copy of the 8x8 digits
(the UCI "Optical Recognition of Handwritten Digits" test set, CC BY 4.0), `p0,...,p63,label`.

Run it with the throwaway venv that has torch, onnx, onnxscript and scikit-learn (never install
them into .venv):

    /tmp/torchvenv/bin/python tests/engine/model_reference/make_reference.py

Its outputs are committed, so `make test` needs neither torch nor onnx nor the network. It is
deterministic: running it twice gives byte-identical files. Imports torch, onnx, numpy and sklearn
only (onnxscript is used by torch.onnx.export under the hood).

The one change made to the exporter's output before saving: the absolute paths in the nodes'
`pkg.torch.onnx.stack_trace` metadata are shortened (this repository's root is cut off, Python's
own folders become `<site-packages>/` and `<stdlib>/`), so the files do not depend on where the
repository or the venv is. Everything else is exactly what torch.onnx.export produced.
"""
from __future__ import annotations

import collections
import json
import math
import sysconfig
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnx.reference
import onnx.reference.op_run
import sklearn
import sklearn.datasets
import torch
import torch.nn as nn
import torch.nn.functional as F
from modules import MLP, SEQ, VOCAB, LeNet, TinyTransformer     # the models (modules.py: torch only)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DIGITS_CSV = ROOT / "scenarios" / "optdigits.csv"

LR = 0.05
STEPS = 3

# The op types the issue expects an MLP, LeNet and a pre-LayerNorm transformer to produce.
ISSUE_OPS = ["Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Gelu", "Tanh", "Sigmoid", "Softmax",
             "LogSoftmax", "Conv", "MaxPool", "AveragePool", "Flatten", "Reshape", "Transpose",
             "LayerNormalization", "BatchNormalization", "Split", "Slice", "Concat", "Where", "Constant",
             "Identity", "Dropout", "Gather", "Pow", "Sqrt", "Erf", "ReduceMean", "Cast"]

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------- the digits

def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits: (1797, 64) integer pixels 0..16 and (1797,) labels 0..9."""
    d = sklearn.datasets.load_digits()
    pixels = d.data.astype(np.int64)
    assert np.array_equal(pixels, d.data) and pixels.min() == 0 and pixels.max() == 16
    assert pixels.shape == (1797, 64) and d.target.shape == (1797,)
    return pixels, d.target.astype(np.int64)


def digits_csv(pixels: np.ndarray, labels: np.ndarray) -> str:
    lines = [",".join([f"p{i}" for i in range(64)] + ["label"])]
    lines += [",".join(str(int(v)) for v in row) + f",{int(label)}" for row, label in zip(pixels, labels)]
    return "\n".join(lines) + "\n"


def perturb_norms(model: nn.Module) -> None:
    """LayerNorm/BatchNorm start at weight 1, bias 0; move them off that so an importer that swaps
    scale and bias (or BatchNorm's scale and running variance, also 1) is caught."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)


# ---------------------------------------------------------------- the cases

def mlp_case(pixels, labels):
    torch.manual_seed(0)
    model = MLP()
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (4, 10))
    targets = np.array([0, 2, 1, 2])
    return dict(name="mlp", model=model, input_name="x", inputs=x, targets=targets, classes=3,
                description="x (4, 10) -> Linear(10, 16) -> ReLU -> Linear(16, 8) -> GELU (erf) -> Linear(8, 3)",
                input_note="x drawn from numpy.random.default_rng(0).normal(0, 1, (4, 10))")


def lenet_case(pixels, labels):
    torch.manual_seed(1)
    model = LeNet()
    perturb_norms(model)
    x = (pixels[:8] / 16.0).reshape(8, 1, 8, 8)      # k / 16 is exact in binary
    targets = labels[:8]
    return dict(name="lenet", model=model, input_name="x", inputs=x, targets=targets, classes=10,
                description=("x (8, 1, 8, 8) -> Conv2d(1, 4, 3, padding=1) -> BatchNorm2d(4) (training mode) -> "
                             "ReLU -> MaxPool2d(2) -> Conv2d(4, 8, 3, padding=1) -> ReLU -> AvgPool2d(2) -> "
                             "Flatten -> Linear(32, 16) -> Tanh -> Linear(16, 10)"),
                input_note="rows 0..7 of scenarios/optdigits.csv (classes 0..7), pixels / 16, reshaped to (8, 1, 8, 8)")


def transformer_case(pixels, labels):
    torch.manual_seed(2)
    model = TinyTransformer()
    perturb_norms(model)
    starts = np.array([3, 8])
    pos = np.arange(SEQ)
    ids = (starts[:, None] + pos[None, :]) % VOCAB
    targets = (ids + 1) % VOCAB                       # the next token of a sequence counting up mod 11
    return dict(name="transformer", model=model, input_name="ids", inputs=ids, targets=targets, classes=VOCAB,
                description=("ids (2, 6) of 11 tokens -> Embedding(11, 8) + learned positions (6, 8) -> "
                             "x += attn(LayerNorm(x)) [2 heads of 4, q/k/v/out Linear(8, 8), scores / 2, "
                             "causal mask with torch.where(mask, scores, -1e9), softmax] -> "
                             "x += Linear(16, 8)(GELU(Linear(8, 16)(LayerNorm(x)))) -> Linear(8, 11) per position"),
                input_note="ids[b, t] = (start_b + t) % 11 with starts 3 and 8; targets = (ids + 1) % 11")


# ---------------------------------------------------------------- export

def _path_prefixes() -> list[tuple[str, str]]:
    prefixes = [(str(ROOT) + "/", "")]
    for key, label in (("purelib", "<site-packages>/"), ("platlib", "<site-packages>/"),
                       ("stdlib", "<stdlib>/"), ("platstdlib", "<stdlib>/")):
        prefixes.append((sysconfig.get_path(key) + "/", label))
    prefixes.append((str(Path(torch.__file__).resolve().parents[1]) + "/", "<site-packages>/"))
    return sorted(set(prefixes), key=lambda p: -len(p[0]))


def export(case: dict, path: Path) -> None:
    model, example = case["model"], torch.as_tensor(case["inputs"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    program = torch.onnx.export(model, (example,), dynamo=True, optimize=False,
                                input_names=[case["input_name"]], output_names=["logits"])
    prefixes = _path_prefixes()
    for node in program.model.graph:
        trace = node.metadata_props.get("pkg.torch.onnx.stack_trace")
        if trace:
            for prefix, label in prefixes:
                trace = trace.replace(prefix, label)
            assert 'File "/' not in trace, trace
            node.metadata_props["pkg.torch.onnx.stack_trace"] = trace
    program.save(str(path), external_data=False)
    # exporting neither trains nor switches modes
    assert model.training
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


DTYPES = {onnx.TensorProto.DOUBLE: "float64", onnx.TensorProto.FLOAT: "float32",
          onnx.TensorProto.INT64: "int64", onnx.TensorProto.BOOL: "bool"}


def describe_onnx(path: Path) -> dict:
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert not any(i.data_location == onnx.TensorProto.EXTERNAL for i in m.graph.initializer)
    opset = {o.domain or "ai.onnx": o.version for o in m.opset_import}
    kinds = {v.name: {p.key: p.value for p in v.metadata_props} for v in m.graph.value_info}
    inits = []
    for t in m.graph.initializer:
        meta = kinds.get(t.name, {})
        persistent = meta.get("pkg.torch.export.graph_signature.InputSpec.persistent")
        inits.append({"name": t.name, "kind": meta.get("pkg.torch.export.graph_signature.InputSpec.kind"),
                      "persistent": {"True": True, "False": False}.get(persistent),
                      "dtype": DTYPES[t.data_type], "shape": list(t.dims)})

    def values(vs):
        return [{"name": v.name, "dtype": DTYPES[v.type.tensor_type.elem_type],
                 "shape": [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]}
                for v in vs]

    ops = collections.Counter(n.op_type for n in m.graph.node)
    assert all(n.domain in ("", "ai.onnx") for n in m.graph.node) and not m.functions
    return {"opset": opset["ai.onnx"], "opset_import": opset, "ir_version": m.ir_version,
            "ops": dict(sorted(ops.items())), "graph_inputs": values(m.graph.input),
            "graph_outputs": values(m.graph.output), "initializers": inits, "model": m}


class Gelu(onnx.reference.op_run.OpRun):
    """onnx's reference evaluator has no Gelu kernel: it runs Gelu's ONNX function body, whose Erf
    rounds through float32 (np.vectorize(math.erf, otypes=["f"])), about 1e-9 off in float64.
    This one computes x / 2 * (1 + erf(x / sqrt(2))) in the input's precision."""
    op_domain = ""

    def _run(self, x, approximate="none"):
        assert approximate == "none", approximate
        erf = np.vectorize(math.erf, otypes=[x.dtype])
        return (x / 2 * (1 + erf(x / math.sqrt(2))),)


def run_onnx(m: onnx.ModelProto, name: str, inputs: np.ndarray) -> np.ndarray:
    (out,) = onnx.reference.ReferenceEvaluator(m, new_ops=[Gelu]).run(None, {name: inputs})
    return out


# ---------------------------------------------------------------- training

def tolist(t: torch.Tensor):
    return t.detach().tolist()


def run_case(case: dict) -> dict:
    model, classes = case["model"], case["classes"]
    path = HERE / f"{case['name']}.onnx"
    export(case, path)
    info = describe_onnx(path)
    m = info.pop("model")

    params = dict(model.named_parameters())
    buffers = {k: v for k, v in model.named_buffers()}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    params_order = [i["name"] for i in info["initializers"] if i["kind"] == "PARAMETER"]
    # the exporter kept PyTorch's names: every parameter is one initializer, same name, same values
    assert sorted(params_order) == sorted(params), (params_order, list(params))
    for name, init in inits.items():
        ref = params[name] if name in params else buffers[name]
        assert init.dtype == ref.detach().numpy().dtype and np.array_equal(init, ref.detach().numpy()), name
    onnx_buffers = [i["name"] for i in info["initializers"] if i["kind"] == "BUFFER"]
    running = [n for n in onnx_buffers if n.endswith(("running_mean", "running_var"))]
    constants = [n for n in onnx_buffers if n not in running]

    x = torch.as_tensor(case["inputs"])
    y = torch.as_tensor(case["targets"])

    # What the ONNX graph computes by ONNX's own semantics (onnx's reference evaluator), next to PyTorch
    # in eval mode (which normalises with the running statistics and leaves every buffer alone).
    onnx_logits = run_onnx(m, case["input_name"], case["inputs"])
    model.eval()
    with torch.no_grad():
        eval_logits = model(x).numpy().copy()
    model.train()
    np.testing.assert_allclose(onnx_logits, eval_logits, rtol=0, atol=1e-12)

    rec = {
        "name": case["name"],
        "onnx": path.name,
        "description": case["description"],
        "opset": info["opset"],
        "opset_import": info["opset_import"],
        "ir_version": info["ir_version"],
        "ops": info["ops"],
        "ops_from_issue_list": sorted(op for op in info["ops"] if op in ISSUE_OPS),
        "ops_not_in_issue_list": sorted(op for op in info["ops"] if op not in ISSUE_OPS),
        "graph_inputs": info["graph_inputs"],
        "graph_outputs": info["graph_outputs"],
        "initializers": info["initializers"],
        "weights_dtype": "float64",
        "input_note": case["input_note"],
        "inputs": {case["input_name"]: np.asarray(case["inputs"]).tolist()},
        "targets": np.asarray(case["targets"]).tolist(),
        "classes": classes,
        "loss": "cross_entropy",
        "reduction": "mean",
        "lr": LR,
        "optimizer": "sgd",
        "steps": STEPS,
        "params_order": params_order,
        "renamed": {},
        "logits": [],
        "losses": [],
        "grads": [],
        "params": [],
        "initial": {n: tolist(params[n]) for n in params_order},
    }
    if running:
        rec["logits_running_stats"] = eval_logits.tolist()
        rec["initial_buffers"] = {n: tolist(buffers[n]) for n in running}
        rec["buffers"] = []
    if constants:
        rec["constants"] = {n: tolist(buffers[n]) for n in constants}

    opt = torch.optim.SGD([params[n] for n in params_order], lr=LR, foreach=False)
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        if step == 0 and not running:                   # no BatchNorm: the ONNX graph is the training forward
            np.testing.assert_allclose(onnx_logits, logits.detach().numpy(), rtol=0, atol=1e-12)
        loss = F.cross_entropy(logits.reshape(-1, classes), y.reshape(-1))
        loss.backward()
        rec["logits"].append(tolist(logits))
        rec["losses"].append(loss.item())
        rec["grads"].append({n: tolist(params[n].grad) for n in params_order})
        opt.step()
        rec["params"].append({n: tolist(params[n]) for n in params_order})
        if running:
            rec["buffers"].append({n: tolist(buffers[n]) for n in running})
    return rec


# ---------------------------------------------------------------- writing

def compact(obj, indent: int = 0) -> str:
    """JSON with dicts spread over lines and every list of numbers (nested or not) on one line."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        if all(not isinstance(v, (dict, list)) or _numeric(v) for v in obj.values()) and len(obj) <= 5 \
                and sum(len(json.dumps(v)) for v in obj.values()) < 200:
            return json.dumps(obj)
        items = [f"{inner}{json.dumps(k)}: {compact(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and not _numeric(obj):
        items = [f"{inner}{compact(v, indent + 2)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj)


def _numeric(v) -> bool:
    if isinstance(v, list):
        return all(_numeric(x) for x in v)
    return v is None or isinstance(v, (int, float)) or (isinstance(v, str) and len(v) < 40)


NOTES = [
    "Param and buffer names are the ONNX initializer names, which the exporter took unchanged from "
    "PyTorch's state dict (nothing renamed, split, fused or constant-folded; 'renamed' is empty).",
    "Each initializer's kind (PARAMETER: trainable; BUFFER: not) is also in the ONNX file, in the "
    "metadata_props of graph.value_info entries named like the initializer "
    "(key pkg.torch.export.graph_signature.InputSpec.kind).",
    "lenet: the exporter writes BatchNormalization in inference form (one output, no training_mode "
    "attribute, so the running statistics normalise) although the module was exported in training mode: "
    "onnxscript's translation forces training=False. The reference numbers use training mode (batch "
    "statistics, biased variance); 'logits_running_stats' is what the ONNX graph computes literally. "
    "The running statistics update as r <- 0.9 r + 0.1 s with s the batch mean and the unbiased "
    "(n / (n - 1)) batch variance, n = batch * height * width = 512.",
    "lenet: bn1.num_batches_tracked is not in the ONNX file (unused, as the momentum is fixed); "
    "'buffers' holds bn1.running_mean and bn1.running_var after each step (after that step's forward).",
    "transformer: attn.causal_mask is a bool initializer (a non-persistent buffer, kind BUFFER, "
    "persistent false), True where key j <= query i; it is not trained. Its values are under 'constants'.",
    "Float attributes are float32 in ONNX: epsilon 1e-5 reads 9.999999747378752e-06 and BatchNorm's "
    "momentum attribute 0.9 (= 1 - PyTorch's 0.1) reads 0.8999999761581421; PyTorch computed with the "
    "float64 values 1e-5 and 0.1.",
]


def main() -> None:
    pixels, labels = load_digits()
    DIGITS_CSV.write_text(digits_csv(pixels, labels))
    models = [run_case(make(pixels, labels)) for make in (mlp_case, lenet_case, transformer_case)]
    reference = {
        "generator": "make_reference.py",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "sklearn": sklearn.__version__,
        "dtype": "float64",
        "export": "torch.onnx.export(model, (example,), dynamo=True, optimize=False, input_names=[...], "
                  "output_names=['logits']); saved with external_data=False",
        "notes": NOTES,
        "issue_ops": ISSUE_OPS,
        "issue_ops_seen": [op for op in ISSUE_OPS if any(op in m["ops"] for m in models)],
        "issue_ops_not_seen": [op for op in ISSUE_OPS if not any(op in m["ops"] for m in models)],
        "ops_not_in_issue_list": sorted({op for m in models for op in m["ops_not_in_issue_list"]}),
        "models": models,
    }
    (HERE / "reference.json").write_text(compact(reference) + "\n")


if __name__ == "__main__":
    main()
