"""The one place where gradient contributions are un-broadcast and summed, out of place."""
from __future__ import annotations

from functools import partial

import numpy as np


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum g over the axes that broadcasting added or stretched, so it has the given shape."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g.reshape(shape)


def unbroadcast_into(dest: np.ndarray, g: np.ndarray):
    """A call that writes unbroadcast(g, dest.shape) into dest with the same bits, or None.

    Covers g with extra leading axes (a bias added to a batch): the same reduction unbroadcast
    runs, with out=. Other patterns are left to unbroadcast.
    """
    extra = g.ndim - dest.ndim
    if extra <= 0 or g.shape[extra:] != dest.shape:
        return None
    return partial(np.add.reduce, g, tuple(range(extra)), None, dest)


def accumulate(current: np.ndarray | None, contribution: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """current + contribution (summed back to shape), as a new array: never written in place."""
    c = unbroadcast(np.asarray(contribution, dtype=np.float64), shape)
    if current is None:
        # A fresh array the gradient store owns, even if the VJP handed back a view of its input.
        return np.array(c, dtype=np.float64, copy=True)
    # asarray: adding two 0-d arrays gives a NumPy scalar, and readers expect an ndarray.
    return np.asarray(current + c)
