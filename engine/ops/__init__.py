"""The op registry: one row per primitive, split by family. Adding an op is adding a row.

- elementwise.py: exp, log, sin, cos, tanh, sigmoid, softplus, relu, leaky_relu, elu, erf, gelu, sqrt, abs,
  pow, neg, identity, + - * /, where
- linalg.py: @ (stacks of matrices too), .T and transpose(x, axes)
- shape.py: reshape, flatten, x[...] indexing and split(...)[k], concat
- reductions.py: sum, mean, max, min, logsumexp, var
- losses.py: softmax, log_softmax, mse, cross_entropy, bce_with_logits, nll
- layers.py: conv2d, max_pool2d, avg_pool2d, layer_norm, batch_norm, embedding, dropout

Each row (base.Op) holds the forward, the VJPs, the printed local derivatives, how the op is
written, its cost, kinks, class-index inputs and the fast path's out= forms.
"""
from __future__ import annotations

from . import elementwise, layers, linalg, losses, reductions, shape  # noqa: F401  (each module registers its rows)
from .base import REGISTRY, Notation, Op, callable_ops, check_indices, local_jacobian, written

__all__ = ["REGISTRY", "Notation", "Op", "callable_ops", "check_indices", "local_jacobian", "written"]
