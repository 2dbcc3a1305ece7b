"""The op registry: one row per primitive, split by family. Adding an op is adding a row.

- elementwise.py: exp, log, sin, cos, tanh, sigmoid, relu, sqrt, abs, pow, neg, identity, + - * /
- linalg.py: @ and .T
- reductions.py: sum, mean
- losses.py: softmax, mse, cross_entropy

Each row (base.Op) holds the forward, the VJPs, the printed local derivatives, how the op is
written, its cost, kinks, class-index inputs and the fast path's out= forms.
"""
from __future__ import annotations

from . import elementwise, linalg, losses, reductions  # noqa: F401  (each module registers its rows)
from .base import REGISTRY, Notation, Op, callable_ops, check_indices, local_jacobian, written

__all__ = ["REGISTRY", "Notation", "Op", "callable_ops", "check_indices", "local_jacobian", "written"]
