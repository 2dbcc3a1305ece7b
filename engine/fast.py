"""The fast path: whole training iterations with no events and no history, for `gradstep run`.

It knows the whole program in advance, so it computes only what the loss and the param
gradients need. It calls the same kernels in the same order as the Stepper, so the params it
produces are the Stepper's to the bit (tests check this).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import kernels
from .accumulate import accumulate, unbroadcast
from .scenario import Scenario


class FastPath:
    """A program compiled into flat lists for repeated whole iterations."""

    def __init__(self, scenario: Scenario):
        p = scenario.program
        self.program = p
        self.limit = scenario.grad_norm_limit
        self.varies = scenario.data is not None and (scenario.data.batch_size < scenario.data.rows
                                                     or scenario.data.shuffle)
        n = len(p.nodes)
        # Nodes that depend on a param: only their gradients are needed to train.
        on_param = [node.kind == "param" for node in p.nodes]
        for i in p.ops:
            on_param[i] = any(on_param[j] for j in p.nodes[i].inputs)
        feeds_loss = [False] * n
        feeds_loss[p.loss] = True
        for i in reversed(p.ops):
            if feeds_loss[i]:
                for j in p.nodes[i].inputs:
                    feeds_loss[j] = True
        self.forward_nodes = [p.nodes[i] for i in p.ops if feeds_loss[i]]
        self.backward = []
        for i in p.backward:
            node = p.nodes[i]
            edges = [(pos, j, p.nodes[j].shape) for pos, j in enumerate(node.inputs)
                     if p.needs_grad[j] and node.op.differentiable[pos] and on_param[j]]
            if edges and on_param[i]:
                self.backward.append((node, edges))
        self.params = list(p.params)
        self.n = n

    def run(self, params: dict[int, np.ndarray], first: int, count: int,
            eta_at: Callable[[int], float], leaves_for: Callable[[int], dict],
            on_loss: Callable[[int, float], None], leaves_vary: bool = False) -> tuple[dict[int, np.ndarray], int | None]:
        """Run `count` iterations from `first`; return the new params and the first faulty iteration."""
        p = self.program
        vals: list = [None] * self.n
        loss_id = p.loss
        fwd = self.forward_nodes
        bwd = self.backward
        limit = self.limit
        static = not (self.varies or leaves_vary)
        leaves_start = first
        for i, v in leaves_for(first).items():
            vals[i] = v
        params = dict(params)
        with np.errstate(all="ignore"):
            for it in range(first, first + count):
                if not static or it != leaves_start:
                    for i, v in leaves_for(it).items():
                        vals[i] = v
                for i, w in params.items():
                    vals[i] = w
                for node in fwd:
                    vals[node.id] = kernels.forward(node, vals)
                loss = float(vals[loss_id])
                on_loss(it, loss)
                if loss - loss != 0.0:
                    return params, it
                grads: list = [None] * self.n
                grads[loss_id] = np.ones(())
                for node, edges in bwd:
                    g = grads[node.id]
                    for pos, j, shape in edges:
                        c = unbroadcast(np.asarray(kernels.vjp(node, pos, g, vals), dtype=np.float64), shape)
                        grads[j] = accumulate(grads[j], c, shape)
                eta = eta_at(it)
                for i in self.params:
                    g = grads[i]
                    if g is None:
                        continue
                    if limit is not None and np.linalg.norm(g) > limit:
                        return params, it
                    new = kernels.update(params[i], g, eta)
                    if not kernels.finite(new):
                        return params, it
                    params[i] = new
        return params, None
