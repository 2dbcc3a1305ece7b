"""Shape rules, checked before anything is computed, so a mismatch names both shapes."""
from __future__ import annotations


class ShapeMismatch(ValueError):
    """Shapes that do not fit; the loader turns it into a ScenarioError naming the node."""


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcasting rule, with a message that names both shapes."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            raise ShapeMismatch(f"shapes {fmt(a)} and {fmt(b)} do not broadcast together "
                                f"(axis -{i}: {x} vs {y})")
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(reversed(out))


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """A @ B as np.matmul: vectors, matrices, and stacks of matrices whose batch axes broadcast."""
    if len(a) == 0 or len(b) == 0:
        raise ShapeMismatch(f"@ needs vectors or matrices, got a scalar: shapes {fmt(a)} and {fmt(b)}")
    ka = a[-1]
    kb = b[0] if len(b) == 1 else b[-2]
    if ka != kb:
        raise ShapeMismatch(f"shapes {fmt(a)} @ {fmt(b)} do not fit: the inner sizes {ka} and {kb} differ")
    if len(a) <= 2 and len(b) <= 2:
        return tuple(a[:-1]) + tuple(b[1:] if len(b) == 2 else ())
    try:
        batch = broadcast(tuple(a[:-2]), tuple(b[:-2]))
    except ShapeMismatch:
        raise ShapeMismatch(f"shapes {fmt(a)} @ {fmt(b)}: the batch axes {fmt(tuple(a[:-2]))} and "
                            f"{fmt(tuple(b[:-2]))} do not broadcast together") from None
    rows = (a[-2],) if len(a) >= 2 else ()
    cols = (b[-1],) if len(b) >= 2 else ()
    return tuple(batch) + rows + cols


def normalize_axis(axis, ndim: int) -> tuple[int, ...]:
    """Axis (int or tuple) as a tuple of non-negative ints, or an error naming the bad axis."""
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for ax in axes:
        if not isinstance(ax, int) or isinstance(ax, bool):
            raise ShapeMismatch(f"axis must be a whole number, got {ax!r}")
        if not -ndim <= ax < ndim:
            raise ShapeMismatch(f"axis {ax} is out of range for a tensor with {ndim} axes")
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ShapeMismatch(f"axis {axis} repeats an axis")
    return tuple(sorted(out))


def reduce_shape(a: tuple[int, ...], axis, keepdims: bool) -> tuple[int, ...]:
    """Shape after summing over axis (None: every axis)."""
    if axis is None:
        return tuple(1 for _ in a) if keepdims else ()
    axes = normalize_axis(axis, len(a))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(a))
    return tuple(n for i, n in enumerate(a) if i not in axes)


def fmt(shape: tuple[int, ...]) -> str:
    """(3, 4) style, with () for a scalar."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(map(str, shape)) + ")"
