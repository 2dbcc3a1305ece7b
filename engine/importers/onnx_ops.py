"""ONNX ops as gradstep expressions: one row per ONNX op type.

A row reads one ONNX node (its inputs, with their shapes and any value known at import, and its
attributes) and returns the expression each output becomes, as a template over the inputs: "{0} @
{1}.T + {2}". It raises Unsupported for what gradstep cannot express (a grouped convolution) and
ModelProblem for what is wrong with the model itself. Nodes whose inputs are all known at import
(shape pieces, the attention scale) are folded with NumPy instead (FOLD).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class Unsupported(Exception):
    """An ONNX node gradstep cannot express, with the reason in a short phrase."""


class ModelProblem(Exception):
    """Something wrong with the model itself (an input that is missing, an attribute out of range)."""


@dataclass
class Operand:
    """One input of a node: its shape, and its value when known at import (None for computed values)."""

    name: str                           # the ONNX value name ("" for an omitted optional input)
    shape: tuple[int, ...] | None
    static: np.ndarray | None = None
    is_param: bool = False

    @property
    def present(self) -> bool:
        return self.name != ""


@dataclass
class NodeView:
    """What a row sees of one ONNX node."""

    op_type: str
    name: str
    inputs: list[Operand]
    attrs: dict
    n_outputs: int
    opset: int
    notes: list[str] = field(default_factory=list)

    def input(self, k: int) -> Operand | None:
        return self.inputs[k] if k < len(self.inputs) and self.inputs[k].present else None

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    def static(self, k: int, what: str) -> np.ndarray:
        """An input that must be known at import (a shape, an axis list), or ModelProblem."""
        x = self.input(k)
        if x is None or x.static is None:
            raise Unsupported(f"its {what} is computed at run time; gradstep needs it fixed in the file")
        return x.static


Row = Callable[[NodeView], list[str]]
ROWS: dict[str, Row] = {}


def row(*op_types: str):
    def register(fn: Row) -> Row:
        for t in op_types:
            ROWS[t] = fn
        return fn
    return register


def _ints(values) -> str:
    """A tuple as written in an expression: (1, 2), or (3,) for one."""
    values = [int(v) for v in values]
    return "(" + ", ".join(map(str, values)) + ("," if len(values) == 1 else "") + ")"


def _number(v: float) -> str:
    return repr(float(v))


def float_attr(v: float) -> float:
    """ONNX float attributes are float32 (1e-5 reads 9.999999747378752e-06): the shortest float32 repr
    recovers the number the model's author wrote."""
    return float(str(np.float32(v)))


# ---------------------------------------------------------------- elementwise
_UNARY = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
          "Abs": "abs", "Erf": "erf", "Sin": "sin", "Cos": "cos", "Softplus": "softplus"}


@row(*_UNARY)
def unary(n: NodeView) -> list[str]:
    return [f"{_UNARY[n.op_type]}({{0}})"]


@row("Neg")
def neg(n: NodeView) -> list[str]:
    return ["-{0}"]


@row("Identity")
def identity(n: NodeView) -> list[str]:
    return ["{0}"]


@row("Cast")
def cast(n: NodeView) -> list[str]:
    # Computed values are float64 throughout; a cast to a float type changes nothing. A cast of a
    # computed value to integers or booleans would, so it is refused.
    to = n.attr("to")
    if to not in (1, 10, 11, 16):           # FLOAT, FLOAT16, DOUBLE, BFLOAT16
        raise Unsupported("a cast of a computed value to integers or booleans")
    return ["{0}"]


_BINARY = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}


@row(*_BINARY)
def binary(n: NodeView) -> list[str]:
    return [f"{{0}} {_BINARY[n.op_type]} {{1}}"]


@row("Pow")
def power(n: NodeView) -> list[str]:
    p = n.static(1, "exponent")
    if p.size != 1:
        raise Unsupported("an exponent that is not one number")
    return [f"{{0}} ** {_number(p.reshape(()))}"]


@row("Gelu")
def gelu(n: NodeView) -> list[str]:
    if n.attr("approximate", "none") != "none":
        raise Unsupported(f"Gelu with approximate={n.attr('approximate')!r} (gradstep has the exact erf form)")
    return ["gelu({0})"]


@row("LeakyRelu")
def leaky_relu(n: NodeView) -> list[str]:
    return [f"leaky_relu({{0}}, {_number(float_attr(n.attr('alpha', 0.01)))})"]


@row("Elu")
def elu(n: NodeView) -> list[str]:
    return [f"elu({{0}}, {_number(float_attr(n.attr('alpha', 1.0)))})"]


@row("Where")
def where(n: NodeView) -> list[str]:
    if n.inputs[0].static is None:
        raise Unsupported("a condition computed at run time (gradstep's where takes a fixed mask)")
    return ["where({0}, {1}, {2})"]


@row("Softmax", "LogSoftmax")
def softmax(n: NodeView) -> list[str]:
    if n.opset < 13:
        raise Unsupported("Softmax before opset 13 (it flattened the input; export with opset 13 or later)")
    fn = "softmax" if n.op_type == "Softmax" else "log_softmax"
    return [f"{fn}({{0}}, axis={int(n.attr('axis', -1))})"]


@row("Dropout")
def dropout(n: NodeView) -> list[str]:
    training = n.input(2)
    on = training is not None and training.static is not None and bool(training.static.reshape(-1)[0])
    if not on:
        n.notes.append(f"{n.name}: Dropout in inference mode (training_mode false) passes its input through")
        return ["{0}"]
    ratio = n.input(1)
    p = float(ratio.static.reshape(())) if ratio is not None and ratio.static is not None else 0.5
    return [f"dropout({{0}}, {_number(p)})"]


# ---------------------------------------------------------------- linear algebra
@row("MatMul")
def matmul(n: NodeView) -> list[str]:
    return ["{0} @ {1}"]


@row("Gemm")
def gemm(n: NodeView) -> list[str]:
    a = "{0}.T" if n.attr("transA", 0) else "{0}"
    b = "{1}.T" if n.attr("transB", 0) else "{1}"
    alpha, beta = float_attr(n.attr("alpha", 1.0)), float_attr(n.attr("beta", 1.0))
    text = f"{a} @ {b}" if alpha == 1.0 else f"{_number(alpha)} * ({a} @ {b})"
    if n.input(2) is not None:
        text += " + {2}" if beta == 1.0 else f" + {_number(beta)} * {{2}}"
    return [text]


@row("Transpose")
def transpose(n: NodeView) -> list[str]:
    nd = len(n.inputs[0].shape)
    perm = n.attr("perm", list(range(nd))[::-1])
    if nd == 2 and list(perm) == [1, 0]:
        return ["{0}.T"]
    return [f"transpose({{0}}, {_ints(perm)})"]


# ---------------------------------------------------------------- shapes
def _reshape_target(n: NodeView, target) -> tuple[int, ...]:
    shape = n.inputs[0].shape
    out = [int(v) for v in target]
    if not n.attr("allowzero", 0):
        out = [shape[k] if v == 0 and k < len(shape) else v for k, v in enumerate(out)]
    return tuple(out)


@row("Reshape")
def reshape(n: NodeView) -> list[str]:
    return [f"reshape({{0}}, {_ints(_reshape_target(n, n.static(1, 'target shape')))})"]


@row("Flatten")
def flatten(n: NodeView) -> list[str]:
    shape = n.inputs[0].shape
    axis = int(n.attr("axis", 1)) % (len(shape) + 1) if shape else 0
    return [f"reshape({{0}}, {_ints((math.prod(shape[:axis]), math.prod(shape[axis:])))})"]


def _axes_input(n: NodeView, k: int, attr: str, since: int):
    if n.opset >= since:
        x = n.input(k)
        return None if x is None else [int(v) for v in n.static(k, attr)]
    v = n.attr(attr)
    return None if v is None else [int(a) for a in v]


@row("Squeeze", "Unsqueeze")
def squeeze(n: NodeView) -> list[str]:
    shape = list(n.inputs[0].shape)
    axes = _axes_input(n, 1, "axes", 13)
    if n.op_type == "Squeeze":
        drop = {a % len(shape) for a in axes} if axes is not None else {k for k, s in enumerate(shape) if s == 1}
        out = [s for k, s in enumerate(shape) if k not in drop]
    else:
        out = shape
        for a in sorted(a % (len(shape) + len(axes)) for a in axes):
            out = out[:a] + [1] + out[a:]
    return [f"reshape({{0}}, {_ints(out)})"]


def _slice_key(ndim: int, ranges: dict[int, str]) -> str:
    """x[:, 2:4] as text: ':' on every axis but those given, trailing ':' dropped."""
    last = max(ranges) if ranges else -1
    return ", ".join(ranges.get(k, ":") for k in range(last + 1))


@row("Split")
def split(n: NodeView) -> list[str]:
    shape = n.inputs[0].shape
    axis = int(n.attr("axis", 0)) % len(shape)
    sizes = _axes_input(n, 1, "split", 13)
    if sizes is None:
        k = n.n_outputs
        chunk = -(-shape[axis] // k)
        sizes = [min(chunk, shape[axis] - i * chunk) for i in range(k)]
    if sum(sizes) != shape[axis] or len(sizes) != n.n_outputs:
        raise ModelProblem(f"split sizes {sizes} do not add up to the axis of size {shape[axis]}")
    out, start = [], 0
    for s in sizes:
        out.append(f"{{0}}[{_slice_key(len(shape), {axis: f'{start}:{start + s}'})}]")
        start += s
    return out


@row("Slice")
def slice_(n: NodeView) -> list[str]:
    shape = n.inputs[0].shape
    starts, ends = n.static(1, "starts"), n.static(2, "ends")
    axes = n.static(3, "axes") if n.input(3) is not None else np.arange(len(starts))
    steps = n.static(4, "steps") if n.input(4) is not None else np.ones(len(starts))
    ranges = {}
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = int(a) % len(shape)
        size = shape[a]
        if int(st) < 1:
            raise Unsupported("a slice with a step below 1")
        lo = max(0, min(size, int(s) + size if int(s) < 0 else int(s)))
        hi = max(0, min(size, int(e) + size if int(e) < 0 else int(e)))
        ranges[a] = f"{lo}:{hi}" + (f":{int(st)}" if int(st) != 1 else "")
    return [f"{{0}}[{_slice_key(len(shape), ranges)}]"]


@row("Concat")
def concat(n: NodeView) -> list[str]:
    items = ", ".join(f"{{{k}}}" for k in range(len(n.inputs)))
    return [f"concat([{items}], axis={int(n.attr('axis'))})"]


@row("Gather")
def gather(n: NodeView) -> list[str]:
    data, idx = n.inputs[0], n.inputs[1]
    axis = int(n.attr("axis", 0))
    if idx.static is not None and idx.static.ndim == 0:
        nd = len(data.shape)
        return [f"{{0}}[{_slice_key(nd, {axis % nd: str(int(idx.static))})}]"]
    if axis != 0 or len(data.shape) != 2:
        raise Unsupported("a Gather other than rows of a 2-D table (an embedding) or one fixed index")
    return ["embedding({1}, {0})"]


# ---------------------------------------------------------------- reductions
_REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
           "ReduceLogSumExp": "logsumexp"}


@row(*_REDUCE)
def reduce(n: NodeView) -> list[str]:
    since = 13 if n.op_type == "ReduceSum" else 18
    axes = _axes_input(n, 1, "axes", since)
    keep = bool(n.attr("keepdims", 1))
    if not axes and n.attr("noop_with_empty_axes", 0):
        return ["{0}"]
    axis = "" if not axes else f", axis={_ints(axes) if len(axes) > 1 else axes[0]}"
    return [f"{_REDUCE[n.op_type]}({{0}}{axis}{', keepdims=True' if keep else ''})"]


# ---------------------------------------------------------------- layers
def _window(n: NodeView, what: str) -> tuple[str, tuple[int, int]]:
    """stride=, padding=, dilation= text for a 2-D window op; symmetric padding only."""
    if len(n.inputs[0].shape) != 4:
        raise Unsupported(f"{what} on {len(n.inputs[0].shape) - 2}-D images (gradstep has the 2-D form, NCHW)")
    if n.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad={n.attr('auto_pad')}")
    pads = list(n.attr("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        raise Unsupported(f"asymmetric padding {pads}")
    strides = list(n.attr("strides", [1, 1]))
    dil = list(n.attr("dilations", [1, 1]))
    text = ""
    if strides != [1, 1]:
        text += f", stride={_ints(strides)}"
    if pads[:2] != [0, 0]:
        text += f", padding={_ints(pads[:2])}"
    if dil != [1, 1]:
        text += f", dilation={_ints(dil)}"
    return text, tuple(n.attr("kernel_shape", n.inputs[1].shape[2:] if len(n.inputs) > 1 else (1, 1)))


@row("Conv")
def conv(n: NodeView) -> list[str]:
    if n.attr("group", 1) != 1:
        raise Unsupported(f"a grouped convolution (group={n.attr('group')})")
    text, _ = _window(n, "Conv")
    bias = ", {2}" if n.input(2) is not None else ""
    return [f"conv2d({{0}}, {{1}}{bias}{text})"]


@row("MaxPool", "AveragePool")
def pool(n: NodeView) -> list[str]:
    if n.attr("ceil_mode", 0):
        raise Unsupported("ceil_mode=1")
    if n.n_outputs > 1:
        raise Unsupported("MaxPool's indices output")
    text, kernel = _window(n, n.op_type)
    if "dilation" in text:
        raise Unsupported("a dilated pooling window")
    strides = list(n.attr("strides", [1, 1]))
    # gradstep's stride defaults to the kernel (as PyTorch's); ONNX's to 1: always write it.
    if "stride=" not in text:
        text = f", stride={_ints(strides)}" + text
    if n.op_type == "MaxPool":
        return [f"max_pool2d({{0}}, {_ints(kernel)}{text})"]
    include = bool(n.attr("count_include_pad", 0))
    return [f"avg_pool2d({{0}}, {_ints(kernel)}{text}, count_include_pad={include})"]


@row("LayerNormalization")
def layer_norm(n: NodeView) -> list[str]:
    if n.n_outputs > 1:
        raise Unsupported("LayerNormalization's mean and inverse deviation outputs")
    eps = float_attr(n.attr("epsilon", 1e-5))
    inputs = "{0}, {1}" + (", {2}" if n.input(2) is not None else "")
    return [f"layer_norm({inputs}, axis={int(n.attr('axis', -1))}, eps={_number(eps)})"]


@row("BatchNormalization")
def batch_norm(n: NodeView) -> list[str]:
    # Imported for training, as PyTorch trains: the batch's own statistics, and the running ones
    # updated with PyTorch's momentum (ONNX's momentum is 1 minus it). An exported BatchNorm is in
    # inference form, which would normalise with the running statistics instead.
    eps = float_attr(n.attr("epsilon", 1e-5))
    momentum = 1.0 - float_attr(n.attr("momentum", 0.9))
    momentum = float(repr(round(momentum, 7)))            # 0.1, not 0.10000002384185791
    n.notes.append(f"{n.name}: BatchNormalization imported in training mode (batch statistics; the running "
                   f"statistics are updated with momentum {momentum})")
    return [f"batch_norm({{0}}, {{1}}, {{2}}, {{3}}, {{4}}, eps={_number(eps)}, momentum={_number(momentum)})"]


# ---------------------------------------------------------------- folded at import
def _fold_reshape(n: NodeView, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    return x.reshape(_reshape_target(n, target))


def _fold_constant(n: NodeView) -> np.ndarray:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in n.attrs:
            return np.asarray(n.attrs[key], dtype=np.float64)
    raise Unsupported("a Constant that is not a number or a tensor")


def _fold_concat(n: NodeView, *xs) -> np.ndarray:
    return np.concatenate([np.atleast_1d(x) for x in xs], axis=int(n.attr("axis", 0)))


def _fold_unsqueeze(n: NodeView, x: np.ndarray, *rest) -> np.ndarray:
    axes = _axes_input(n, 1, "axes", 13)
    for a in sorted(a % (x.ndim + len(axes)) for a in axes):
        x = np.expand_dims(x, a)
    return x


FOLD: dict[str, Callable[..., np.ndarray]] = {
    "Constant": _fold_constant,
    "Identity": lambda n, x: x,
    "Cast": lambda n, x: x,
    "Concat": _fold_concat,
    "Reshape": _fold_reshape,
    "Unsqueeze": _fold_unsqueeze,
    "Add": lambda n, a, b: a + b, "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b, "Div": lambda n, a, b: a / b,
    "Neg": lambda n, a: -a, "Sqrt": lambda n, a: np.sqrt(a),
}
