"""`gradstep import MODEL.onnx`: an ONNX model becomes an ordinary scenario and a weights file.

The model's graph becomes [graph] keys, one per ONNX node that computes something a reader would
name (exporter temporaries such as `val_3` are written inside their one consumer's expression, so
a Linear layer reads `linear = "x @ fc1_weight.T + fc1_bias"`), its initializers become params (or
values, for buffers and masks) read from `OUT.safetensors`, its input a random value of its shape,
and a loss compares its output with a value named `target`. Shapes come from gradstep's own
engine, node by node, so a node whose shapes do not fit is named.

The file is untrusted input: its size is checked before it is read, external data is refused,
every tensor's dims and byte count are checked before its numbers are read, and the dtypes are a
whitelist. Nothing is written unless the whole import succeeds. PyTorch is never imported; onnx
(the optional extra `gradstep[onnx]`) only by this module.
"""
from __future__ import annotations

import ast
import math
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import expr, limits
from ..errors import ScenarioError
from ..files import FileProblem, read_file
from ..ops import REGISTRY
from ..program import ProgramBuilder
from ..shapes import fmt
from ..tomltext import clip
from . import safetensors
from .onnx_ops import FOLD, ROWS, ModelProblem, NodeView, Operand, Unsupported

MAX_MODEL_BYTES = 200_000_000        # the .onnx file (weights included: external data is refused)
LOSSES = ("cross_entropy", "mse")
# ONNX TensorProto data types read, as (NumPy dtype of raw_data, the typed field holding them otherwise).
_DTYPES = {1: ("<f4", "float_data"), 11: ("<f8", "double_data"), 10: ("<f2", "int32_data"),
           7: ("<i8", "int64_data"), 6: ("<i4", "int32_data"), 3: ("i1", "int32_data"),
           2: ("u1", "int32_data"), 9: ("u1", "int32_data")}
_DTYPE_NAMES = {1: "float32", 11: "float64", 10: "float16", 7: "int64", 6: "int32", 3: "int8", 2: "uint8",
                9: "bool"}
_TEMPORARY = re.compile(r"(val|tmp|_v|onnx::\w+)_?\d+$")     # exporters' names for intermediate values


class ImportProblem(Exception):
    """Why a model cannot be imported, in one or more sentences that name the node or tensor."""


@dataclass
class Imported:
    """An imported model: the scenario's text, the weights to write beside it, and notes for the user."""

    text: str
    weights: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    nodes: int = 0


def read_model(path: Path):
    """The ModelProto of a file, read bounded and parsed by onnx (a protobuf, no code)."""
    import onnx
    try:
        raw = read_file(path, MAX_MODEL_BYTES, "MAX_MODEL_BYTES")
    except FileProblem as e:
        raise ImportProblem(f"{path}: {e}") from None
    try:
        model = onnx.ModelProto.FromString(raw)
    except Exception as e:                                  # protobuf's DecodeError, or worse
        raise ImportProblem(f"{path}: not an ONNX model (the file does not parse: {clip(str(e), 120)})") from None
    if not model.HasField("graph"):
        raise ImportProblem(f"{path}: not an ONNX model (it has no graph)")
    return model


# ---------------------------------------------------------------- tensors
def tensor_array(t, what: str) -> np.ndarray:
    """An initializer or Constant's value as float64, after checking every claim it makes."""
    name = clip(t.name or what, 80)
    if t.data_location == 1 or len(t.external_data):
        raise ImportProblem(f"tensor {name!r} keeps its data in an external file; gradstep refuses external "
                            f"data (save the model with its weights inside: save_as_external_data=False)")
    if t.data_type not in _DTYPES:
        raise ImportProblem(f"tensor {name!r} has ONNX data type {t.data_type}; gradstep reads "
                            f"{', '.join(_DTYPE_NAMES.values())}")
    dims = [int(d) for d in t.dims]
    if len(dims) > limits.MAX_AXES or any(d < 0 for d in dims):
        raise ImportProblem(f"tensor {name!r} has dims {dims[:12]}: at most {limits.MAX_AXES} axes, none negative")
    size = math.prod(dims)
    if size > limits.MAX_ELEMENTS:
        raise ImportProblem(f"tensor {name!r} has {size:,} elements, more than the limit of "
                            f"{limits.MAX_ELEMENTS:,} (MAX_ELEMENTS)")
    dtype, typed = _DTYPES[t.data_type]
    dtype = np.dtype(dtype)
    if t.raw_data:
        if len(t.raw_data) != size * dtype.itemsize:
            raise ImportProblem(f"tensor {name!r} of shape {fmt(tuple(dims))} ({_DTYPE_NAMES[t.data_type]}) needs "
                                f"{size * dtype.itemsize:,} bytes but holds {len(t.raw_data):,}")
        arr = np.frombuffer(t.raw_data, dtype=dtype, count=size)
    else:
        values = getattr(t, typed)
        if len(values) != size:
            raise ImportProblem(f"tensor {name!r} of shape {fmt(tuple(dims))} needs {size:,} numbers but holds "
                                f"{len(values):,}")
        if t.data_type == 10:                # float16 kept as its bits in int32_data
            arr = np.asarray(values, dtype=np.uint16).view(np.float16)
        else:
            arr = np.asarray(values, dtype=dtype)
    out = arr.astype(np.float64).reshape(dims)
    if t.data_type == 7 and size and np.max(np.abs(arr)) > 2 ** 53:
        raise ImportProblem(f"tensor {name!r} holds integers beyond 2**53, which float64 cannot hold exactly")
    return out


def _attrs(node) -> dict:
    import onnx
    out = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.TENSOR:
            out[a.name] = tensor_array(a.t, f"{node.name}.{a.name}")
        elif a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            out[a.name] = None                              # subgraphs: the op is unsupported anyway
        else:
            v = onnx.helper.get_attribute_value(a)
            out[a.name] = v.decode("utf-8", "replace") if isinstance(v, bytes) else \
                [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v] if isinstance(v, list) else v
    return out


# ---------------------------------------------------------------- names
class Names:
    """Scenario names for ONNX names: every character that is not a letter, digit or _ becomes _
    (fc1.weight -> fc1_weight); names that are ops (relu) or taken get _out, then a number."""

    RESERVED = {"T", "target", "loss"}

    def __init__(self):
        self.used: set[str] = set()
        self.of: dict[str, str] = {}

    def __call__(self, onnx_name: str, reserved_ok: bool = False) -> str:
        if onnx_name in self.of:
            return self.of[onnx_name]
        base = re.sub(r"\W", "_", onnx_name, flags=re.ASCII)[:60] or "v"
        if base[0].isdigit() or base.startswith("__"):
            base = "v" + base
        if base in REGISTRY or (base in self.RESERVED and not reserved_ok):
            base += "_out"
        name, k = base, 2
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        self.of[onnx_name] = name
        return name


# ---------------------------------------------------------------- translation
@dataclass
class _Value:
    """What an ONNX value name stands for: a name or an inlined expression, its shape, its known value."""

    text: str
    shape: tuple[int, ...] | None
    static: np.ndarray | None = None
    shape_name: str = ""                     # its leaf in the shape builder
    is_param: bool = False


def _operand_text(text: str) -> str:
    """An inlined expression as an operand: bracketed unless it is one name, number or call."""
    if re.fullmatch(r"[\w.]+", text) or re.fullmatch(r"-?\d[\d.e+-]*", text):
        return text
    if re.fullmatch(r"\w+\(.*\)", text) and _balanced_call(text):
        return text
    return f"({text})"


def _balanced_call(text: str) -> bool:
    depth = 0
    for k, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch == ")" and k != len(text) - 1:
            return False
    return True


def _literal(v: np.ndarray) -> str:
    x = float(v.reshape(()))
    if not math.isfinite(x):
        # -inf masks: the same softmax zeros with a finite number a scenario can hold.
        return "-1000000000.0" if x < 0 else "1000000000.0"
    return repr(x)


class _Translator:
    def __init__(self, model, source: str, loss: str, batch: int | None, weights_file: str):
        import onnx
        self.onnx = onnx
        self.model = model
        self.graph = model.graph
        self.source = source
        self.loss = loss
        self.batch = batch
        self.weights_file = weights_file
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.names = Names()
        self.b = ProgramBuilder()                    # gradstep's own shape rules, node by node
        self.vals: dict[str, _Value] = {}
        self.weights: dict[str, np.ndarray] = {}
        self.values: list[str] = []                  # [values] lines
        self.params: list[str] = []                  # [params] lines
        self.graph_lines: list[str] = []
        self.notes: list[str] = []
        self.exported_batch: int | None = None
        g = self.graph
        self.uses = Counter(i for n in g.node for i in n.input if i)
        for o in g.output:
            self.uses[o.name] += 1

    # -------------------------------------------------------- leaves
    def declare(self, onnx_name: str, shape: tuple[int, ...], line_table: list[str], spec: str, *,
                is_param: bool = False, static=None) -> _Value:
        name = self.names(onnx_name)
        try:
            self.b.leaf(name, "param" if is_param else "value", shape)
        except ScenarioError as e:
            raise ImportProblem(f"tensor {clip(onnx_name, 80)!r}: {e.problem}") from None
        line_table.append(f"{name} = {spec}")
        v = _Value(name, shape, static, name, is_param)
        self.vals[onnx_name] = v
        return v

    def initializers(self) -> None:
        kinds = self._kinds()
        running = {n.input[k] for n in self.graph.node if n.op_type == "BatchNormalization"
                   for k in (3, 4) if k < len(n.input)}
        for t in self.graph.initializer:
            arr = tensor_array(t, "initializer")
            if len(t.name) > safetensors.MAX_NAME_CHARS:
                raise ImportProblem(f"an initializer's name is {len(t.name):,} characters long; the limit is "
                                    f"{safetensors.MAX_NAME_CHARS:,}")
            # Trainable: what torch.export's metadata calls a PARAMETER; without metadata, every float
            # initializer of more than one element (a lone number is a constant: a scale, a fill, an exponent).
            if kinds:
                trainable = kinds.get(t.name) == "PARAMETER"
            else:
                trainable = t.data_type in (1, 10, 11) and arr.size > 1
            trainable = trainable and t.name not in running
            if 0 in arr.shape:
                raise ImportProblem(f"initializer {clip(t.name, 80)!r} has shape {fmt(arr.shape)}, with no elements")
            if not trainable and (arr.size <= 64 and arr.ndim <= 1) and t.name not in running and not self._masks(t.name):
                # Shape pieces, axes, scalars: known at import, written as numbers where used.
                self.vals[t.name] = _Value(_literal(arr) if arr.size == 1 else "", tuple(arr.shape), arr)
                continue
            self.weights[t.name] = arr
            spec = f'{{ file = {_toml(self.weights_file)}, tensor = {_toml(t.name)} }}'
            self.declare(t.name, tuple(arr.shape), self.params if trainable else self.values, spec,
                         is_param=trainable, static=None if trainable or t.name in running else arr)

    def _masks(self, name: str) -> bool:
        return any(n.op_type == "Where" and n.input and n.input[0] == name for n in self.graph.node)

    def _kinds(self) -> dict[str, str]:
        """PARAMETER or BUFFER per initializer, where torch.export's metadata says."""
        out = {}
        for vi in self.graph.value_info:
            for p in vi.metadata_props:
                if p.key == "pkg.torch.export.graph_signature.InputSpec.kind":
                    out[vi.name] = p.value
        return out

    def inputs(self) -> None:
        inits = {t.name for t in self.graph.initializer}
        real = [i for i in self.graph.input if i.name not in inits]
        if not real:
            raise ImportProblem("the model has no input")
        for i in real:
            shape = self._input_shape(i)
            elem = i.type.tensor_type.elem_type
            if elem in (1, 10, 11, 16):
                self.declare(i.name, shape, self.values, f'{{ init = "normal", shape = {list(shape)} }}')
            elif elem in (6, 7):
                rows = self._rows_indexed(i.name)
                rng = np.random.default_rng(0)
                ids = rng.integers(0, rows, size=shape) if rows else np.zeros(shape, dtype=int)
                self.declare(i.name, shape, self.values, _toml_array(ids))
                if not rows:
                    self.notes.append(f"input {i.name!r} holds whole numbers; it is zeros until you give real ones")
            else:
                raise ImportProblem(f"input {clip(i.name, 80)!r} has ONNX data type {elem}; gradstep takes float "
                                    f"inputs, and integer ids for an embedding")

    def _input_shape(self, i) -> tuple[int, ...]:
        t = i.type.tensor_type
        if not t.HasField("shape"):
            raise ImportProblem(f"input {clip(i.name, 80)!r} has no shape in the model; export it with a fixed shape")
        dims = []
        for k, d in enumerate(t.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
                if k == 0:
                    self.exported_batch = self.exported_batch or int(d.dim_value)
            elif k == 0:
                dims.append(self.batch or 1)
                if self.batch is None:
                    self.notes.append(f"input {i.name!r} has a symbolic batch axis; it is 1 here (use --batch N)")
            else:
                raise ImportProblem(f"input {clip(i.name, 80)!r} has a symbolic axis {k} "
                                    f"({clip(d.dim_param, 40)!r}); gradstep needs every axis but the batch fixed")
        if self.batch is not None and dims:
            dims[0] = self.batch
        return tuple(dims)

    def _rows_indexed(self, name: str) -> int:
        """The rows of the table an integer input indexes (Gather data), or 0."""
        shapes = {t.name: list(t.dims) for t in self.graph.initializer}
        for n in self.graph.node:
            if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] == name and n.input[0] in shapes:
                return int(shapes[n.input[0]][0])
        return 0

    # -------------------------------------------------------- nodes
    def unsupported(self) -> None:
        """Every op type gradstep cannot import, with counts and node names, in one message."""
        bad: dict[str, list[str]] = {}
        for k, n in enumerate(self.graph.node):
            key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"
            if n.domain not in ("", "ai.onnx") or (n.op_type not in ROWS and n.op_type not in FOLD):
                bad.setdefault(key, []).append(n.name or f"#{k}")
        if bad:
            lines = [f"{clip(op, 60)} ×{len(names)} ({', '.join(clip(x, 40) for x in names[:5])}"
                     f"{', …' if len(names) > 5 else ''})" for op, names in sorted(bad.items())]
            raise ImportProblem(f"the model uses {sum(len(v) for v in bad.values())} node(s) of "
                                f"{len(bad)} op type(s) gradstep cannot import: " + "; ".join(lines))

    def nodes(self) -> int:
        count = 0
        for k, n in enumerate(self.graph.node):
            label = clip(n.name or f"#{k} ({n.op_type})", 80)
            try:
                count += self.node(n, label)
            except Unsupported as e:
                raise ImportProblem(f"node {label!r} ({n.op_type}): gradstep cannot import {e}") from None
            except ModelProblem as e:
                raise ImportProblem(f"node {label!r} ({n.op_type}): {e}") from None
        return count

    def operand(self, name: str, label: str) -> Operand:
        if name == "":
            return Operand("", None)
        if name not in self.vals:
            raise ImportProblem(f"node {label!r} reads {clip(name, 80)!r}, which no earlier node, input or "
                                f"initializer defines")
        v = self.vals[name]
        return Operand(name, v.shape, v.static, v.is_param)

    def node(self, n, label: str) -> int:
        attrs = _attrs(n)
        ins = [self.operand(i, label) for i in n.input]
        view = NodeView(n.op_type, label, ins, attrs, len(n.output), self.opset)
        present = [x for x in ins if x.present]
        if n.op_type in FOLD and all(x.static is not None for x in present) and \
                (present or n.op_type == "Constant"):
            value = np.asarray(FOLD[n.op_type](view, *[x.static for x in ins if x.present]), dtype=np.float64)
            for o in n.output:
                self.vals[o] = _Value(_literal(value) if value.size == 1 else "", tuple(value.shape), value)
            return 0
        if n.op_type == "Shape" and present and present[0].shape is not None:
            shape = np.asarray(present[0].shape, dtype=np.float64)
            self.vals[n.output[0]] = _Value("", shape.shape, shape)
            return 0
        if n.op_type not in ROWS:
            raise Unsupported("this op with inputs computed at run time")
        if self.batch is not None and self.exported_batch and n.op_type == "Reshape":
            view.inputs[1] = self._rebatched(view.inputs[1])
        templates = ROWS[n.op_type](view)
        self.notes += view.notes
        made = 0
        for o, template in zip(n.output, templates):
            if o:
                made += self.output(o, template, n.input, label)
        return made

    def _rebatched(self, target: Operand) -> Operand:
        """--batch: a reshape to the exported batch size reshapes to the new one."""
        if target.static is None or target.static.size == 0 or int(target.static[0]) != self.exported_batch:
            return target
        t = target.static.copy()
        t[0] = self.batch
        return Operand(target.name, target.shape, t)

    def promote(self, onnx_name: str) -> None:
        """A tensor known at import but used as a tensor (a mask, a table of numbers): a [values] leaf."""
        v = self.vals[onnx_name]
        self.weights[onnx_name] = v.static
        spec = f'{{ file = {_toml(self.weights_file)}, tensor = {_toml(onnx_name)} }}'
        self.declare(onnx_name, tuple(v.static.shape), self.values, spec, static=v.static)

    def output(self, onnx_name: str, template: str, inputs: list[str], label: str) -> int:
        """Check the output's shape with the engine, then name it or keep it for inlining."""
        for k in {int(k) for k in re.findall(r"\{(\d+)\}", template)}:
            v = self.vals[inputs[k]]
            if v.static is not None and v.static.size > 1 and not v.shape_name:
                self.promote(inputs[k])             # read as a tensor, not as numbers
        shape_text = template.format(*[self._shape_operand(i) if i else "" for i in inputs])
        final_text = template.format(*[_operand_text(self.vals[i].text) if i else "" for i in inputs])
        final_text = ast.unparse(ast.parse(final_text, mode="eval"))     # only the brackets precedence needs
        temp = self.names(f"__shape_{len(self.b.nodes)}", reserved_ok=True)
        self.b.group = temp
        try:
            node = expr.parse(shape_text, self.b, key=temp)
        except ScenarioError as e:
            raise ImportProblem(f"node {label!r}: {e.problem} (as gradstep reads it: {clip(final_text, 200)})") \
                from None
        shape = self.b.nodes[node].shape
        leaf = self.names(f"__leaf_{onnx_name}", reserved_ok=True)
        self.b.leaf(leaf, "value", shape)
        inline = self.uses[onnx_name] == 1 and bool(_TEMPORARY.fullmatch(onnx_name)) and \
            onnx_name not in {o.name for o in self.graph.output}
        if inline or re.fullmatch(r"[\w.]+", final_text) and final_text in self.names.used:
            # A temporary read once: its consumer's expression holds it. A bare rename (Identity, a
            # float Cast) is no node at all.
            self.vals[onnx_name] = _Value(final_text, shape, None, leaf)
            return 0
        key = self.names(onnx_name)
        self.graph_lines.append(f"{key} = {_toml(final_text)}")
        self.vals[onnx_name] = _Value(key, shape, None, leaf)
        return 1

    def _shape_operand(self, name: str) -> str:
        v = self.vals[name]
        if v.static is not None and v.static.size == 1 and not v.shape_name:
            return _literal(v.static)
        return v.shape_name or v.text

    # -------------------------------------------------------- the scenario
    def scenario(self, title: str, checker) -> Imported:
        # Our own checks first (every unsupported op at once; external data and every tensor's claims
        # before any number is read), then onnx's checker for the rest of the structure.
        self.unsupported()
        for t in self.graph.initializer:
            if t.data_location == 1 or len(t.external_data):
                tensor_array(t, "initializer")
        try:
            checker.check_model(self.model)
        except Exception as e:
            raise ImportProblem(f"the model is not valid ONNX: {clip(str(e).strip().splitlines()[0], 200)}") from None
        self.initializers()
        self.inputs()
        count = self.nodes()
        outputs = [o.name for o in self.graph.output]
        if not outputs or outputs[0] not in self.vals or self.vals[outputs[0]].static is not None:
            raise ImportProblem("the model's output is not computed from its input")
        if len(outputs) > 1:
            self.notes.append(f"the model has {len(outputs)} outputs; the loss reads the first, {outputs[0]!r}")
        out = self.vals[outputs[0]]
        out_text = out.text
        key = self.names(outputs[0])              # the output keeps its name, even when it only renames
        if out_text != key:
            self.graph_lines.append(f"{key} = {_toml(out_text)}")
            out_text = key
        target = self.target(out.shape)
        self.graph_lines.append(f"loss = {_toml(self.loss_text(out_text))}")
        head = [f"# Imported by `gradstep import {self.source}`: {count} [graph] keys from {len(self.graph.node)} "
                f"ONNX nodes (opset {self.opset}).",
                f"# Weights: {self.weights_file}. The input and `target` are random until [data] points at a CSV.",
                "[scenario]", f"title = {_toml(title)}", "seed = 0"]
        if self.notes:
            head.append(f"description = {_toml('; '.join(self.notes))}")
        body = head + ["", "[values]"] + self.values + [target, "", "[params]"] + self.params + \
            ["", "[graph]"] + self.graph_lines + \
            ["", "[train]", 'loss = "loss"', "learning_rate = 0.01", "steps = 100", ""]
        if not self.params:
            body.remove("[params]")
        return Imported("\n".join(body), self.weights, self.notes, count)

    def target(self, shape: tuple[int, ...]) -> str:
        """Random targets the loss's row accepts: class indices where it reads them, else the output's shape."""
        op = REGISTRY[self.loss]
        if op.indices is None:
            return f'target = {{ init = "normal", shape = {list(shape)} }}'
        if not shape or shape[-1] < 2:
            raise ImportProblem(f"the output has shape {fmt(shape)}: {self.loss} needs a class axis of at least 2 "
                                f"(use --loss mse for a regression)")
        rng = np.random.default_rng(1)
        return f"target = {_toml_array(rng.integers(0, shape[-1], size=shape[:-1]))}"

    def loss_text(self, out: str) -> str:
        return f"{self.loss}({out}, target)"


def _toml(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_array(a: np.ndarray) -> str:
    if a.ndim == 0:
        return str(int(a))
    return "[" + ", ".join(_toml_array(x) for x in a) + "]"


def translate(model, *, source: str, loss: str = "cross_entropy", batch: int | None = None,
              weights_file: str = "model.safetensors", title: str | None = None) -> Imported:
    """A ModelProto as scenario text and weights (nothing written)."""
    import onnx
    if loss not in LOSSES:
        raise ImportProblem(f"--loss {loss!r}: choose {' or '.join(LOSSES)}")
    if batch is not None and not 1 <= batch <= limits.MAX_ELEMENTS:
        raise ImportProblem(f"--batch {batch}: a batch is at least 1")
    if len(model.graph.node) > limits.MAX_NODES:
        raise ImportProblem(f"the model has {len(model.graph.node):,} nodes, more than the limit of "
                            f"{limits.MAX_NODES:,} (MAX_NODES)")
    if len(model.functions):
        raise ImportProblem(f"the model defines {len(model.functions)} local function(s); gradstep imports plain "
                            f"graphs of standard ops")
    t = _Translator(model, source, loss, batch, weights_file)
    return t.scenario(title or f"{Path(source).stem} (imported from {Path(source).name})", onnx.checker)


def import_file(model_path: Path, out: Path, *, loss: str = "cross_entropy", batch: int | None = None) -> Imported:
    """Import a model and write OUT.toml and OUT.safetensors beside it, both or neither; check the
    scenario loads before putting either in place."""
    from ..scenario import load_scenario
    model = read_model(model_path)
    weights_path = out.with_suffix(".safetensors")
    imported = translate(model, source=model_path.name, loss=loss, batch=batch, weights_file=weights_path.name)
    folder = out.parent if str(out.parent) else Path(".")
    stage = folder / f".gradstep-import-{secrets.token_hex(6)}"
    os.mkdir(stage)
    try:
        safetensors.write(stage / weights_path.name, imported.weights,
                          {"source": clip(model_path.name, 200), "by": "gradstep import"})
        (stage / out.name).write_text(imported.text, encoding="utf-8")
        try:
            load_scenario(stage / out.name)
        except ScenarioError as e:
            raise ImportProblem(f"the imported scenario does not load: {e.problem}") from None
        os.replace(stage / weights_path.name, weights_path)
        os.replace(stage / out.name, out)
    finally:
        for f in stage.iterdir():
            f.unlink()
        stage.rmdir()
    return imported
