"""The program: a flat, printable list of equations in execution order (leaves first).

Stepping one node is an index into this list; the backward pass walks it in reverse.
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field

import numpy as np

from . import limits
from .errors import ScenarioError
from .ops import REGISTRY, Notation, Op
from .shapes import ShapeMismatch, fmt

LEAF_KINDS = ("value", "param", "data", "const", "noise")


@dataclass(frozen=True)
class IndexInput:
    """An op input read as class indices: whole numbers that select, not values that vary smoothly."""

    node: int                # the op reading them
    position: int            # which of its inputs
    source: int | None       # the leaf they come from (through aliases), or None when computed
    classes: int             # how many classes there are: indices lie in 0..classes-1


def index_inputs(nodes: list["Node"]) -> list[IndexInput]:
    """Every class-index input of the ops among nodes, traced back through aliases to its leaf."""
    out = []
    for node in nodes:
        if node.op is None or node.op.indices is None:
            continue
        for pos, classes in node.op.indices(*[nodes[j].shape for j in node.inputs]).items():
            src = nodes[node.inputs[pos]]
            while src.op is not None and src.op.notation is Notation.BARE:
                src = nodes[src.inputs[0]]
            out.append(IndexInput(node.id, pos, src.id if src.is_leaf else None, classes))
    return out


@dataclass(eq=False)
class Node:
    """One equation ``name = text``, or a leaf (value, param, data row, constant)."""

    id: int
    name: str                    # the scenario key, or the expression text for inner nodes
    kind: str                    # "value", "param", "data", "const", "noise" or "op"
    shape: tuple[int, ...]
    op: Op | None = None
    inputs: tuple[int, ...] = ()
    attrs: dict = field(default_factory=dict)
    key: str | None = None       # the scenario key that names this node, if any
    group: str | None = None     # the [graph] key whose expression created this node
    text: str = ""               # right-hand side: "sin(u)", or the leaf's description

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def equation(self) -> str:
        """'v = sin(u)' for an op, 'W1: param (10, 100)' for a leaf."""
        if self.is_leaf:
            return f"{self.name}: {self.kind} {fmt(self.shape)}"
        return f"{self.name} = {self.text}"


class Program:
    """Nodes in execution order plus everything the backward pass derives from them."""

    def __init__(self, nodes: list[Node], loss: int):
        self.nodes = nodes
        self.loss = loss
        self.by_name: dict[str, int] = {n.key: n.id for n in nodes if n.key is not None}
        self.ops = [n.id for n in nodes if not n.is_leaf]
        self.params = [n.id for n in nodes if n.kind == "param"]
        self.values = [n.id for n in nodes if n.kind == "value"]
        self.data = [n.id for n in nodes if n.kind == "data"]
        self.noise = [n.id for n in nodes if n.kind == "noise"]     # drawn afresh each iteration (dropout)
        # Values an op carries to the next iteration (batch_norm's running statistics): state like params.
        self.carried = {node.inputs[pos]: (node.id, rule) for node in nodes if node.op is not None
                        for pos, rule in node.op.carries if pos < len(node.inputs)}
        self.buffers = sorted(self.carried)
        self.index_inputs = index_inputs(nodes)
        self._derive_gradient_flow()

    def _derive_gradient_flow(self) -> None:
        n = len(self.nodes)
        # Which nodes the loss depends on (walk back from the loss).
        feeds_loss = [False] * n
        feeds_loss[self.loss] = True
        for i in reversed(self.ops):
            if feeds_loss[i]:
                for j in self.nodes[i].inputs:
                    feeds_loss[j] = True
        self.feeds_loss = feeds_loss
        # Which nodes depend on something that has a gradient (anything but constants).
        varies = self.depends_on(("value", "param", "data"), without=self.buffers)
        self.needs_grad = [feeds_loss[i] and varies[i] for i in range(n)]
        # Backward order: op nodes in reverse that pass gradient on to at least one input.
        self.backward = [i for i in reversed(self.ops) if self.needs_grad[i]
                         and any(self.needs_grad[j] for j in self.nodes[i].inputs)]
        # Edges along which gradient flows: (input position, input) per passing node, and
        # (consumer, input position) per receiving node.
        self.passes_to: list[tuple[tuple[int, int], ...]] = [()] * n
        self.consumers: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for i in self.backward:
            self.passes_to[i] = tuple((pos, j) for pos, j in enumerate(self.nodes[i].inputs) if self.needs_grad[j])
            for pos, j in self.passes_to[i]:
                self.consumers[j].append((i, pos))
        self.expected = [len(c) for c in self.consumers]
        self.expected[self.loss] = 1        # the seed dE/dE = 1

    def surprising_broadcasts(self) -> dict[int, str]:
        """Elementwise nodes whose non-scalar inputs broadcast into a shape larger than each of them:
        (10, 1) · (10,) → (10, 10) is almost always a column meant as a row. Node id -> a sentence."""
        out = {}
        for i in self.ops:
            node = self.nodes[i]
            if not node.op.elementwise or len(node.inputs) < 2:
                continue
            shapes = [self.nodes[j].shape for j in node.inputs if self.nodes[j].size > 1]
            if len(shapes) >= 2 and node.size > max(math.prod(s) for s in shapes):
                out[i] = (f"{node.name!r}: shapes {' and '.join(fmt(s) for s in shapes)} broadcast to {fmt(node.shape)}, "
                          f"larger than each: usually a column (n, 1) meeting a row (n,)")
        return out

    def depends_on(self, kinds: tuple[str, ...], without=()) -> list[bool]:
        """For each node: is it, or does it depend on, a leaf of one of these kinds (but not those `without`)?"""
        out = [node.kind in kinds for node in self.nodes]
        for i in without:
            out[i] = False
        for i in self.ops:
            out[i] = any(out[j] for j in self.nodes[i].inputs)
        return out

    def depends_on_nodes(self, nodes) -> list[bool]:
        """For each node: is it one of these nodes, or does it depend on one?"""
        out = [False] * len(self.nodes)
        for i in nodes:
            out[i] = True
        for i in self.ops:
            out[i] = out[i] or any(out[j] for j in self.nodes[i].inputs)
        return out

    def ancestors(self, nodes) -> list[int]:
        """These nodes and every node they are computed from."""
        seen = set()
        stack = list(nodes)
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(self.nodes[i].inputs)
        return sorted(seen)

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, name_or_id: str | int) -> Node:
        """A node by id or by scenario key."""
        if isinstance(name_or_id, str):
            return self.nodes[self.by_name[name_or_id]]
        return self.nodes[name_or_id]

    def listing(self) -> list[str]:
        """The program as text, one equation per line."""
        return [n.equation() for n in self.nodes]

    def groups(self) -> dict[str, list[int]]:
        """Op nodes gathered by the [graph] key that created them, in order."""
        out: dict[str, list[int]] = {}
        for i in self.ops:
            out.setdefault(self.nodes[i].group or self.nodes[i].name, []).append(i)
        return out


class ProgramBuilder:
    """Collects leaves and op nodes, checking shapes as each node is added."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.names: dict[str, int] = {}
        self.group: str | None = None
        self.carried: dict[int, int] = {}      # running statistic -> the op that updates it

    def _add(self, node: Node) -> int:
        if len(self.nodes) >= limits.MAX_NODES:
            raise ScenarioError(f"the program has more than {limits.MAX_NODES:,} nodes, the limit (MAX_NODES)")
        self.nodes.append(node)
        return node.id

    def leaf(self, name: str, kind: str, shape: tuple[int, ...], text: str = "") -> int:
        """Declare a value, param or data name."""
        i = self._add(Node(len(self.nodes), name, kind, tuple(shape), key=name, text=text or kind))
        self.names[name] = i
        return i

    def lookup(self, name: str) -> int | None:
        return self.names.get(name)

    def shape_of(self, node: int) -> tuple[int, ...]:
        return self.nodes[node].shape

    def noise(self, shape: tuple[int, ...], text: str) -> int:
        """A leaf of uniform noise for the op written `text` (dropout's mask): not a name the scenario can use."""
        return self._add(Node(len(self.nodes), f"noise for {text}", "noise", tuple(shape),
                              text="uniform noise in [0, 1), drawn each iteration from the seed"))

    def constant(self, value: float, text: str) -> int:
        return self._add(Node(len(self.nodes), text, "const", (), text=repr(value), attrs={"value": value}))

    def op(self, op_name: str, inputs: list[int], attrs: dict, text: str) -> int:
        op = REGISTRY[op_name]
        shapes = [self.nodes[i].shape for i in inputs]
        try:
            shape = tuple(op.shape(*shapes, **attrs))
        except ShapeMismatch as e:
            raise ScenarioError(f"{text!r}: {e}", table="graph", key=self.group) from None
        if len(shape) > limits.MAX_AXES or math.prod(shape) > limits.MAX_ELEMENTS:
            raise ScenarioError(f"{text!r} would have shape {fmt(shape)}, more than the limit of "
                                f"{limits.MAX_ELEMENTS:,} elements (MAX_ELEMENTS)", table="graph", key=self.group)
        for pos, _ in op.carries:
            if pos < len(inputs):
                self._check_carried(op, inputs[pos], text)
        inside = op.temporary(*shapes, **attrs) if op.temporary is not None else 0
        if inside > limits.MAX_ELEMENTS:
            raise ScenarioError(f"{text!r} would make an array of {inside:,} elements inside {op.name} (its inputs "
                                f"broadcast together), more than the limit of {limits.MAX_ELEMENTS:,} "
                                f"(MAX_ELEMENTS)", table="graph", key=self.group)
        operands = not op.reads_as_operand       # a + b, -a, a ** 2, a.T: bracket compound inputs
        rhs = op.text([_operand(self.nodes[i]) if operands else self.nodes[i].name for i in inputs], attrs)
        return self._add(Node(len(self.nodes), text, "op", shape, op=op, inputs=tuple(inputs),
                              attrs=dict(attrs), group=self.group, text=rhs))

    def _check_carried(self, op, node_id: int, text: str) -> None:
        """A running statistic is a [values] name of its own, updated by one op only."""
        node = self.nodes[node_id]
        if node.kind != "value":
            raise ScenarioError(f"{text!r}: {op.name}'s running statistics must be names from [values] (they are "
                                f"updated each iteration), got {node.name!r}", table="graph", key=self.group)
        if node_id in self.carried:
            raise ScenarioError(f"{text!r}: {node.name!r} is already the running statistic of "
                                f"{self.nodes[self.carried[node_id]].name!r}; each op needs its own",
                                table="graph", key=self.group)
        self.carried[node_id] = len(self.nodes)

    def name_node(self, node_id: int, key: str) -> int:
        """Give the final node of a [graph] expression its key's name."""
        node = self.nodes[node_id]
        if node.is_leaf or node.key is not None or node.group != key:
            # 'y = x' or 'y = 2': an alias gets an identity node of its own, so it shows as a line.
            node_id = self.op("identity", [node_id], {}, node.name)
            node = self.nodes[node_id]
        node.name = key
        node.key = key
        self.names[key] = node_id
        return node_id

    def build(self, loss: int) -> Program:
        for j, op in self.carried.items():
            # Read by its op only: the op reads it before updating it, and nothing should see which.
            other = next((n for n in self.nodes if j in n.inputs and n.id != op), None)
            if other is not None:
                raise ScenarioError(f"{self.nodes[j].name!r} is the running statistic of {self.nodes[op].name!r}, "
                                    f"which updates it each iteration; no other node may read it (found "
                                    f"{other.name!r})", table="graph", key=other.group)
        return Program(self.nodes, loss)


def _operand(node: Node) -> str:
    """How a node reads inside another node's expression: parenthesised unless atomic."""
    name = node.name
    if node.key is not None or node.kind == "const" or name.isidentifier():
        return name
    if name.startswith("(") and name.endswith(")") and _balanced(name[1:-1]):
        return name
    if node.op is not None and node.op.reads_as_operand:
        return name          # a call like relu(x) needs no parentheses
    return f"({name})"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0
