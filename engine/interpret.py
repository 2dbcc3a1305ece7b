"""The reference interpreter: a program evaluated by two short loops, forward then backward.

In the spirit of a jaxpr interpreter: an environment of values, one equation at a time, and the
cotangents added up walking the same list in reverse. It is the definition of what a program
computes: the gradient check and the chain-rule paths use it, and the tests check the Stepper and
the fast path against it.
"""
from __future__ import annotations

import numpy as np

from . import kernels
from .accumulate import accumulate
from .program import Program


def forward(program: Program, leaves: dict[int, np.ndarray]) -> list:
    """Every node's value from the leaves' values (values, params, data and constants by node id)."""
    vals: list = [None] * len(program.nodes)
    for i, v in leaves.items():
        vals[i] = v
    for i in program.ops:
        vals[i] = kernels.forward(program.nodes[i], vals)
    return vals


def backward(program: Program, vals: list) -> list:
    """Every gradient ∂loss/∂node (None where no gradient flows), summed over all contributions."""
    grads: list = [None] * len(program.nodes)
    grads[program.loss] = np.ones(())
    for i in program.backward:
        node = program.nodes[i]
        for pos, j in program.passes_to[i]:
            shape = program.nodes[j].shape
            grads[j] = accumulate(grads[j], kernels.contribution(node, pos, grads[i], vals, shape), shape)
    return grads


def local(program: Program, vals: list, consumer: int, pos: int) -> float:
    """The local derivative ∂consumer/∂input_pos of a scalar edge, at these values."""
    node = program.nodes[consumer]
    return float(kernels.contribution(node, pos, np.ones(()), vals, program.nodes[node.inputs[pos]].shape))


def carried(program: Program, vals: list) -> dict[int, np.ndarray]:
    """The values ops carry to the next iteration (batch_norm's running statistics), from this one's values."""
    out = {}
    for j, (op, _) in program.carried.items():
        out.update(kernels.carry(program.nodes[op], vals))
    return out
