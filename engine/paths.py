"""Chain-rule paths: every route from the loss down to a node, with each edge's local derivative.

For scalar graphs the product along each path, summed over the paths, equals ∂E/∂node:
e = (a+b)(b+1) at a=2, b=1 gives ∂e/∂b = 1·2 + 1·3 = 5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import interpret
from .program import Program

MAX_PATHS = 1000


@dataclass(frozen=True)
class Edge:
    """consumer --∂consumer/∂input--> input."""

    consumer: int
    position: int
    input: int
    formula: str
    local: float | None      # the local derivative's value when both ends are scalars


@dataclass(frozen=True)
class Path:
    edges: tuple[Edge, ...]  # from the loss downwards

    @property
    def product(self) -> float | None:
        if any(e.local is None for e in self.edges):
            return None
        return float(np.prod([e.local for e in self.edges])) if self.edges else 1.0


@dataclass(frozen=True)
class Paths:
    node: int
    paths: tuple[Path, ...]
    truncated: bool          # more than MAX_PATHS paths exist
    scalar: bool             # every node on every path is a scalar

    @property
    def total(self) -> float | None:
        """The sum over paths of the products: ∂E/∂node for scalar graphs."""
        if not self.scalar or self.truncated:
            return None
        products = [p.product for p in self.paths]
        if any(x is None for x in products):
            return None               # some node on a path has no value yet (mid forward pass)
        return float(sum(products))


def chain_paths(program: Program, node: int, vals: list | None = None) -> Paths:
    """Every path from the loss to node (at most MAX_PATHS), with local derivatives when vals are given."""
    edges_into: dict[int, list[tuple[int, int]]] = {i: program.consumers[i] for i in range(len(program.nodes))}
    paths: list[tuple[tuple[int, int, int], ...]] = []
    truncated = False
    # Depth-first with an explicit stack: deep chains must not overflow Python's recursion.
    stack: list[tuple[int, tuple]] = [(node, ())]
    while stack:
        cur, suffix = stack.pop()
        if cur == program.loss:
            paths.append(suffix)
            if len(paths) >= MAX_PATHS:
                truncated = bool(stack)
                break
            continue
        for consumer, pos in reversed(edges_into[cur]):
            stack.append((consumer, ((consumer, pos, cur),) + suffix))
    paths.sort(key=lambda path: [(pos, consumer) for consumer, pos, _ in path])
    scalar = True
    out = []
    with np.errstate(all="ignore"):
        for raw in paths:
            es = []
            for consumer, pos, inp in raw:
                c = program.nodes[consumer]
                names = [program.nodes[j].name for j in c.inputs]
                local = None
                if program.nodes[inp].shape != () or c.shape != ():
                    scalar = False
                elif vals is not None and vals[consumer] is not None:
                    local = interpret.local(program, vals, consumer, pos)
                es.append(Edge(consumer, pos, inp, c.op.formula(pos, names, c.name, c.attrs), local))
            out.append(Path(tuple(es)))
    if vals is None:
        scalar = False
    return Paths(node, tuple(out), truncated, scalar)
