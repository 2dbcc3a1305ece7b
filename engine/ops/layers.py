"""Layers as PyTorch's functional forms: conv2d, max_pool2d, avg_pool2d, layer_norm, batch_norm,
embedding and dropout.

Images are NCHW. A convolution is one matrix product over strided windows (im2col): the windows
are a view of the padded input, copied once into columns; the backward pass loops only over the
kernel's offsets (kh·kw slices), never over pixels.

Tangent rules: conv2d, avg_pool2d and embedding are linear in each input, so theirs are the forward
applied to the tangent (the bias added once); max_pool2d passes the tangent at each window's first
maximum, the one its VJP picks; the norms differentiate x̂ = (x - mean)/σ.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..shapes import ShapeMismatch, fmt
from .base import Rule, defop


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class Geometry:
    """Where a sliding window goes: kernel, stride, padding, dilation, and the output's height and width."""

    def __init__(self, x, kernel, stride, padding, dilation, what: str):
        self.k, self.s, self.p, self.d = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
        if len(x) != 4:
            raise ShapeMismatch(f"{what} takes images as (N, C, H, W), got shape {fmt(x)}")
        for name, v, least in (("kernel", self.k, 1), ("stride", self.s, 1), ("padding", self.p, 0),
                               ("dilation", self.d, 1)):
            if min(v) < least:
                raise ShapeMismatch(f"{what}: {name} must be at least {least}, got {v}")
        self.out = tuple(_out_size(x[2 + a], self.k[a], self.s[a], self.p[a], self.d[a]) for a in (0, 1))
        if min(self.out) < 1:
            raise ShapeMismatch(f"{what}: a {self.k[0]}×{self.k[1]} window (dilation {self.d}) does not fit "
                                f"in {x[2]}×{x[3]} images padded by {self.p}")

    def pad(self, x: np.ndarray, fill: float) -> np.ndarray:
        (ph, pw) = self.p
        if ph == 0 and pw == 0:
            return x
        return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """A read-only view (N, C, kh, kw, Ho, Wo) of every window of the padded input: no copy."""
        n, c, _, _ = xp.shape
        sn, sc, sh, sw = xp.strides
        return as_strided(xp, (n, c) + self.k + self.out,
                          (sn, sc, sh * self.d[0], sw * self.d[1], sh * self.s[0], sw * self.s[1]), writeable=False)

    def offset(self, i: int, j: int) -> tuple:
        """The slice of the padded input that kernel offset (i, j) reads across all windows."""
        (sh, sw), (dh, dw), (ho, wo) = self.s, self.d, self.out
        return (slice(None), slice(None), slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))

    def crop(self, dxp: np.ndarray) -> np.ndarray:
        (ph, pw) = self.p
        return dxp[:, :, ph:dxp.shape[2] - ph, pw:dxp.shape[3] - pw]

    def scatter(self, shape, parts) -> np.ndarray:
        """The input's gradient from each kernel offset's part (N, C, Ho, Wo): summed where windows overlap."""
        n, c, h, w = shape
        dxp = np.zeros((n, c, h + 2 * self.p[0], w + 2 * self.p[1]))
        for i in range(self.k[0]):
            for j in range(self.k[1]):
                dxp[self.offset(i, j)] += parts(i, j)
        return np.ascontiguousarray(self.crop(dxp))


# ---------------------------------------------------------------- conv2d(x, w, b, stride, padding, dilation)
def _conv_geometry(x, w, stride, padding, dilation) -> Geometry:
    if len(w) != 4:
        raise ShapeMismatch(f"conv2d weights are (out channels, in channels, kh, kw), got shape {fmt(w)}")
    geo = Geometry(x, w[2:], stride, padding, dilation, "conv2d")
    if len(x) == 4 and x[1] != w[1]:
        raise ShapeMismatch(f"conv2d: the images have {x[1]} channels but the weights {fmt(w)} expect {w[1]} "
                            f"(groups = 1)")
    return geo


def _columns(x, w, stride, padding, dilation):
    """im2col: (N, C·kh·kw, Ho·Wo), one copy of the windows' view."""
    geo = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    # C order always: reshape may return a strided view for some geometries, and a product over a
    # view can round differently from the same product over the copy the fast path keeps.
    cols = np.ascontiguousarray(geo.windows(geo.pad(x, 0.0)).reshape(x.shape[0], -1, geo.out[0] * geo.out[1]))
    return geo, cols


def _conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    geo, cols = _columns(x, w, stride, padding, dilation)
    out = np.matmul(w.reshape(w.shape[0], -1), cols).reshape((x.shape[0], w.shape[0]) + geo.out)
    if b is not None:
        out += b[:, None, None]
    return out


def _conv2d_vjp(pos):
    def vjp(g, out, x, w, b=None, stride=1, padding=0, dilation=1):
        n, o = g.shape[:2]
        g3 = g.reshape(n, o, -1)
        if pos == 2:
            return g.sum(axis=(0, 2, 3))
        if pos == 1:
            _, cols = _columns(x, w, stride, padding, dilation)
            return np.tensordot(g3, cols, axes=([0, 2], [0, 2])).reshape(w.shape)
        geo = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
        dcols = np.matmul(w.reshape(o, -1).T, g3).reshape((n,) + w.shape[1:] + geo.out)
        return geo.scatter(x.shape, lambda i, j: dcols[:, :, i, j])
    return vjp


def _conv2d_shape(x, w, b=None, stride=1, padding=0, dilation=1):
    geo = _conv_geometry(x, w, stride, padding, dilation)
    if b is not None and b != (w[0],):
        raise ShapeMismatch(f"conv2d: the bias has shape {fmt(b)}, not ({w[0]},), one per out channel")
    return (x[0], w[0]) + geo.out


def _conv2d_cost(out, x, w, b=None, **_) -> int:
    return math.prod(out) * math.prod(w[1:])


def _conv2d_columns(x, w, b=None, stride=1, padding=0, dilation=1) -> int:
    geo = _conv_geometry(x, w, stride, padding, dilation)
    return x[0] * math.prod(w[1:]) * geo.out[0] * geo.out[1]


def _conv2d_jvp(pos):
    def jvp(t, out, x, w, b=None, stride=1, padding=0, dilation=1):
        if pos == 0:
            return _conv2d(t, w, None, stride, padding, dilation)
        if pos == 1:
            return _conv2d(x, t, None, stride, padding, dilation)
        return np.broadcast_to(t[:, None, None], out.shape)
    return jvp


def _conv2d_into(out, ins, attrs, scratch):
    """The forward into out over buffers kept for the run: the padded input, the columns (kept for the
    weight gradient). The same calls as _conv2d in the same order, so the same bits."""
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    if not (x.flags.c_contiguous and w.flags.c_contiguous and out.flags.c_contiguous):
        return None
    geo = _conv_geometry(x.shape, w.shape, attrs.get("stride", 1), attrs.get("padding", 0), attrs.get("dilation", 1))
    (ph, pw) = geo.p
    xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)) if ph or pw else x
    inside = xp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    win = geo.windows(xp)
    cols = np.empty((x.shape[0], math.prod(w.shape[1:]), geo.out[0] * geo.out[1]))
    cols6 = cols.reshape(win.shape)
    w2 = w.reshape(w.shape[0], -1)
    out3 = out.reshape(x.shape[0], w.shape[0], -1)
    b3 = b[:, None, None] if b is not None else None
    scratch["cols"] = cols

    def forward() -> None:
        if xp is not x:
            np.copyto(inside, x)
        np.copyto(cols6, win)
        np.matmul(w2, cols, out=out3)
        if b3 is not None:
            np.add(out, b3, out=out)
    return forward


def _conv2d_vjp_w_into(dest, g, ones, out, ins, attrs, scratch):
    """∂E/∂w from the columns the forward kept (the generic form recomputes them: the same numbers)."""
    if "cols" not in scratch or not g.flags.c_contiguous:
        return None
    cols = scratch["cols"]
    g3 = g.reshape(g.shape[0], g.shape[1], -1)
    return [lambda: np.copyto(dest, np.tensordot(g3, cols, axes=([0, 2], [0, 2])).reshape(dest.shape))]


defop("conv2d", 3, _conv2d, [_conv2d_vjp(0), _conv2d_vjp(1), _conv2d_vjp(2)],
      ["wᵀ·g scattered back over the windows ({1}ᵀ ⋆ g)", "g ⋆ windows of {0}", "Σ g over N, H, W"],
      _conv2d_shape, attrs=("stride", "padding", "dilation"), kinds=("pair", "pair", "pair"), optional=1,
      cost=_conv2d_cost, temporary=_conv2d_columns, jvps=[_conv2d_jvp(0), _conv2d_jvp(1), _conv2d_jvp(2)],
      into=_conv2d_into, vjps_into=(None, _conv2d_vjp_w_into, None),
      tangent_formulas=["conv2d({t}, {1})", "conv2d({0}, {t})", "{t} per out channel"])


# ---------------------------------------------------------------- pooling
def _pool_geometry(x, kernel_size, stride, padding, what) -> Geometry:
    geo = Geometry(x, kernel_size, stride if stride is not None else kernel_size, padding, 1, what)
    if any(2 * p > k for p, k in zip(geo.p, geo.k)):
        raise ShapeMismatch(f"{what}: padding {geo.p} must be at most half the kernel {geo.k}")
    return geo


def _offsets(geo: Geometry):
    """The kernel offsets in row-major order."""
    return [(i, j) for i in range(geo.k[0]) for j in range(geo.k[1])]


def _max_pool2d(x, kernel_size, stride=None, padding=0):
    # One elementwise maximum per kernel offset over strided slices (kh·kw calls, no loop over pixels).
    geo = _pool_geometry(x.shape, kernel_size, stride, padding, "max_pool2d")
    xp = geo.pad(x, -np.inf)
    out = None
    for i, j in _offsets(geo):
        v = xp[geo.offset(i, j)]
        out = np.array(v) if out is None else np.maximum(out, v, out=out)
    return out


def _first_maxima(geo: Geometry, xp, out) -> list[np.ndarray]:
    """Per kernel offset (row-major), where that offset holds its window's first maximum."""
    taken = np.zeros(out.shape, dtype=bool)
    masks = []
    for i, j in _offsets(geo):
        hit = xp[geo.offset(i, j)] == out
        hit &= ~taken
        taken |= hit
        masks.append(hit)
    return masks


def _max_pool2d_vjp(g, out, x, kernel_size, stride=None, padding=0):
    # All of g goes to the first maximum of each window in row-major order, as PyTorch's CPU kernel.
    geo = _pool_geometry(x.shape, kernel_size, stride, padding, "max_pool2d")
    masks = iter(_first_maxima(geo, geo.pad(x, -np.inf), out))
    return geo.scatter(x.shape, lambda i, j: np.where(next(masks), g, 0.0))


def _max_pool2d_jvp(t, out, x, kernel_size, stride=None, padding=0):
    geo = _pool_geometry(x.shape, kernel_size, stride, padding, "max_pool2d")
    win = geo.windows(geo.pad(x, -np.inf))
    n, c, kh, kw, ho, wo = win.shape
    first = np.argmax(np.moveaxis(win, (2, 3), (4, 5)).reshape(n, c, ho, wo, kh * kw), axis=-1)
    tw = np.moveaxis(geo.windows(geo.pad(t, 0.0)), (2, 3), (4, 5)).reshape(n, c, ho, wo, kh * kw)
    return np.take_along_axis(tw, first[..., None], axis=-1)[..., 0]


def _pool_shape(what):
    def shape(x, kernel_size, stride=None, padding=0, count_include_pad=True):
        geo = _pool_geometry(x, kernel_size, stride, padding, what)
        return tuple(x[:2]) + geo.out
    return shape


defop("max_pool2d", 1, _max_pool2d, [_max_pool2d_vjp], ["1 at the window's first maximum, 0 elsewhere"],
      _pool_shape("max_pool2d"), attrs=("kernel_size", "stride", "padding"), kinds=("pair", "pair", "pair"),
      jvps=[_max_pool2d_jvp], tangent_formulas=["{t} at each window's first maximum"])


def _divisor(geo: Geometry, shape, count_include_pad: bool):
    if count_include_pad:
        return float(geo.k[0] * geo.k[1])
    ones = geo.pad(np.ones((1, 1) + tuple(shape[2:])), 0.0)
    return np.sum(geo.windows(ones), axis=(2, 3))


def _avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    geo = _pool_geometry(x.shape, kernel_size, stride, padding, "avg_pool2d")
    xp = geo.pad(x, 0.0)
    total = None
    for i, j in _offsets(geo):                  # the window sums, one strided add per kernel offset
        v = xp[geo.offset(i, j)]
        total = np.array(v) if total is None else np.add(total, v, out=total)
    return total / _divisor(geo, x.shape, count_include_pad)


def _avg_pool2d_vjp(g, out, x, kernel_size, stride=None, padding=0, count_include_pad=True):
    geo = _pool_geometry(x.shape, kernel_size, stride, padding, "avg_pool2d")
    share = g / _divisor(geo, x.shape, count_include_pad)
    return geo.scatter(x.shape, lambda i, j: share)


defop("avg_pool2d", 1, _avg_pool2d, [_avg_pool2d_vjp], ["1/(window size) for each window holding it"],
      _pool_shape("avg_pool2d"), attrs=("kernel_size", "stride", "padding", "count_include_pad"),
      kinds=("pair", "pair", "pair", "bool"), jvps=[lambda t, out, x, *a, **k: _avg_pool2d(t, *a, **k)],
      tangent_formulas=["avg_pool2d({t})"])


# ---------------------------------------------------------------- normalization
# layer_norm normalises over the axes from `axis` to the last (PyTorch's normalized_shape); batch_norm
# (training mode) over every axis but the channels (axis 1), with the batch's own statistics and the
# biased variance. Both: x̂ = (x - mean)/√(var + eps), out = w·x̂ + b.
def _norm_axes(ndim: int, axis, batch: bool) -> tuple[int, ...]:
    if batch:
        return (0,) + tuple(range(2, ndim))
    start = axis % ndim
    return tuple(range(start, ndim))


def _normalized(x, axes, eps):
    mu = np.mean(x, axis=axes, keepdims=True)
    d = x - mu
    inv = 1.0 / np.sqrt(np.mean(d * d, axis=axes, keepdims=True) + eps)
    return d * inv, inv


def _affine_shape(x, axes, batch):
    return (x[1],) + (1,) * (len(x) - 2) if batch else tuple(x[a] for a in axes)


def _norm_forward(batch):
    def forward(x, w=None, b=None, running_mean=None, running_var=None, axis=-1, eps=1e-5, momentum=0.1):
        axes = _norm_axes(x.ndim, axis, batch)
        xhat, _ = _normalized(x, axes, eps)
        shape = _affine_shape(x.shape, axes, batch)
        out = xhat * w.reshape(shape) if w is not None else xhat
        return out + b.reshape(shape) if b is not None else out
    return forward


def _norm_vjp(pos, batch):
    def vjp(g, out, x, w=None, b=None, running_mean=None, running_var=None, axis=-1, eps=1e-5, momentum=0.1):
        if pos >= 3:
            return np.zeros(np.shape(running_mean if pos == 3 else running_var))     # running statistics
        axes = _norm_axes(x.ndim, axis, batch)
        shape = _affine_shape(x.shape, axes, batch)
        lead = tuple(k for k in range(x.ndim) if k not in axes) if not batch else axes
        if pos == 2:
            return np.sum(g, axis=lead).reshape(b.shape)
        xhat, inv = _normalized(x, axes, eps)
        if pos == 1:
            return np.sum(g * xhat, axis=lead).reshape(w.shape)
        gh = g * w.reshape(shape) if w is not None else g
        return inv * (gh - np.mean(gh, axis=axes, keepdims=True) - xhat * np.mean(gh * xhat, axis=axes, keepdims=True))
    return vjp


def _norm_into(batch):
    """The forward into out, keeping x̂ and 1/σ for the backward forms below (the same calls as forward)."""
    def into(out, ins, attrs, scratch):
        x = ins[0]
        w = ins[1] if len(ins) > 1 else None
        b = ins[2] if len(ins) > 2 else None
        axes = _norm_axes(x.ndim, attrs.get("axis", -1), batch)
        shape = _affine_shape(x.shape, axes, batch)
        eps = attrs.get("eps", 1e-5)
        kept = scratch.setdefault("norm", {})

        def forward() -> None:
            xhat, inv = _normalized(x, axes, eps)
            kept["xhat"], kept["inv"] = xhat, inv
            y = xhat * w.reshape(shape) if w is not None else xhat
            np.copyto(out, y + b.reshape(shape) if b is not None else y)
        return forward
    return into


def _norm_vjp_into(pos, batch):
    """∂E/∂x and ∂E/∂w from the x̂ and 1/σ the forward kept (the generic forms recompute them)."""
    def form(dest, g, ones, out, ins, attrs, scratch):
        kept = scratch.get("norm")
        if kept is None or dest.shape != (ins[0].shape if pos == 0 else ins[pos].shape):
            return None
        x = ins[0]
        w = ins[1] if len(ins) > 1 else None
        axes = _norm_axes(x.ndim, attrs.get("axis", -1), batch)
        shape = _affine_shape(x.shape, axes, batch)
        lead = axes if batch else tuple(k for k in range(x.ndim) if k not in axes)
        if pos == 1:
            return [lambda: np.copyto(dest, np.sum(g * kept["xhat"], axis=lead).reshape(dest.shape))]

        def back() -> None:
            xhat, inv = kept["xhat"], kept["inv"]
            gh = g * w.reshape(shape) if w is not None else g
            np.copyto(dest, inv * (gh - np.mean(gh, axis=axes, keepdims=True)
                                   - xhat * np.mean(gh * xhat, axis=axes, keepdims=True)))
        return [back]
    return form


def _norm_jvp(pos, batch):
    # x̂ = d·inv with d = x - mean and inv = 1/√(mean d² + eps): its tangent is inv·(ḋ - x̂·mean(x̂·ḋ)).
    def jvp(t, out, x, w=None, b=None, running_mean=None, running_var=None, axis=-1, eps=1e-5, momentum=0.1):
        axes = _norm_axes(x.ndim, axis, batch)
        shape = _affine_shape(x.shape, axes, batch)
        if pos == 2:
            return np.broadcast_to(t.reshape(shape), out.shape)
        xhat, inv = _normalized(x, axes, eps)
        if pos == 1:
            return xhat * t.reshape(shape)
        dt = t - np.mean(t, axis=axes, keepdims=True)
        dxhat = inv * (dt - xhat * np.mean(xhat * dt, axis=axes, keepdims=True))
        return dxhat * w.reshape(shape) if w is not None else dxhat
    return jvp


def _norm_shape(what, batch):
    def shape(x, w=None, b=None, running_mean=None, running_var=None, axis=-1, eps=1e-5, momentum=0.1):
        if batch and len(x) < 2:
            raise ShapeMismatch(f"{what} takes (N, C) or (N, C, ...) inputs, got shape {fmt(x)}")
        if batch and math.prod(x) // x[1] < 2:
            raise ShapeMismatch(f"{what} in training mode needs more than one value per channel, got shape {fmt(x)}")
        if batch and (running_mean is None) != (running_var is None):
            raise ShapeMismatch(f"{what} takes both running statistics (mean and variance) or neither")
        if batch and not 0.0 <= momentum <= 1.0:
            raise ShapeMismatch(f"{what}: momentum is the weight of the new batch, from 0 to 1; got {momentum}")
        if not batch and not -len(x) <= axis < len(x):
            raise ShapeMismatch(f"{what}: axis {axis} is out of range for shape {fmt(x)}")
        if not eps > 0:
            raise ShapeMismatch(f"{what}: eps must be positive, got {eps}")
        axes = _norm_axes(len(x), axis, batch) if len(x) else ()
        want = (x[1],) if batch else tuple(x[a] for a in axes)
        for name, s in (("weight", w), ("bias", b), ("running mean", running_mean), ("running variance", running_var)):
            if s is not None and s != want:
                raise ShapeMismatch(f"{what}: the {name} has shape {fmt(s)}, not {fmt(want)}")
        return x
    return shape


_NORM_TANGENTS = ["w·(ḋ - x̂·mean(x̂·ḋ))/σ, ḋ = {t} - mean {t}", "x̂·{t}", "{t}"]
defop("layer_norm", 3, _norm_forward(False), [_norm_vjp(0, False), _norm_vjp(1, False), _norm_vjp(2, False)],
      ["(ĝ - mean ĝ - x̂·mean(ĝ·x̂))/σ, ĝ = g·{1}", "x̂ = normalized {0}", "1"], _norm_shape("layer_norm", False),
      attrs=("axis", "eps"), kinds=("int", "number"), optional=2,
      jvps=[_norm_jvp(0, False), _norm_jvp(1, False), _norm_jvp(2, False)], tangent_formulas=_NORM_TANGENTS,
      into=_norm_into(False), vjps_into=(_norm_vjp_into(0, False), _norm_vjp_into(1, False)))
# batch_norm(x, w, b, running_mean, running_var) also updates the running statistics as PyTorch does in
# training mode: new = (1 - momentum)·old + momentum·(the batch's mean, or its unbiased variance).
def _batch_stat(x, which: int):
    """The batch's mean (0) or unbiased variance (1) per channel."""
    axes = _norm_axes(x.ndim, None, True)
    mean = np.mean(x, axis=axes)
    if which == 0:
        return mean
    d = x - mean.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.sum(d * d, axis=axes) / (x.size // x.shape[1] - 1)


def _running(which):
    def rule(old, x, *rest, momentum=0.1, **_):
        return (1.0 - momentum) * old + momentum * _batch_stat(x, which)
    return rule


defop("batch_norm", 5, _norm_forward(True), [_norm_vjp(k, True) for k in range(5)],
      ["(ĝ - mean ĝ - x̂·mean(ĝ·x̂))/σ over the batch, ĝ = g·{1}", "x̂ = normalized {0}", "1",
       "0 (a running statistic)", "0 (a running statistic)"],
      _norm_shape("batch_norm", True), attrs=("eps", "momentum"), kinds=("number", "number"), optional=4,
      carries=((3, _running(0)), (4, _running(1))),
      jvps=[_norm_jvp(0, True), _norm_jvp(1, True), _norm_jvp(2, True), Rule.NONE, Rule.NONE],
      tangent_formulas=_NORM_TANGENTS, into=_norm_into(True),
      vjps_into=(_norm_vjp_into(0, True), _norm_vjp_into(1, True)))


# ---------------------------------------------------------------- embedding(ids, table) and dropout
def _embedding_vjp_table(g, out, ids, table):
    d = np.zeros(table.shape)
    np.add.at(d, ids.astype(np.intp).reshape(-1), g.reshape(-1, table.shape[1]))   # repeated ids add up
    return d


def _embedding_shape(ids, table):
    if len(table) != 2:
        raise ShapeMismatch(f"embedding's table is (rows, width), got shape {fmt(table)}")
    return tuple(ids) + (table[1],)


defop("embedding", 2, lambda ids, table: table[ids.astype(np.intp)],
      [lambda g, out, ids, table: np.zeros(ids.shape), _embedding_vjp_table],
      ["0 (row numbers)", "g added to the rows picked"], _embedding_shape, indices=lambda ids, table: {0: table[0]},
      index_word="ids", jvps=[Rule.NONE, lambda t, out, ids, table: t[ids.astype(np.intp)]],
      tangent_formulas=["", "the rows of {t} picked"])


# dropout(x, p) in training mode as F.dropout: each element is kept with probability 1 - p and then
# scaled by 1/(1 - p). The noise is an input the scenario draws afresh each iteration from its seed,
# so a replay, a step back and a run from the command line see the same mask.
def _keep(noise, p):
    return (noise >= p) / (1.0 - p)


def _dropout_shape(x, noise, p=0.5):
    if not 0.0 <= p < 1.0:
        raise ShapeMismatch(f"dropout's p is the chance of dropping an element: from 0 up to (not including) 1, "
                            f"got {p}")
    return x


defop("dropout", 2, lambda x, noise, p=0.5: x * _keep(noise, p),
      [lambda g, out, x, noise, p=0.5: g * _keep(noise, p), lambda g, out, x, noise, p=0.5: np.zeros(noise.shape)],
      ["[kept]/(1 - {p})", "0 (the noise)"], _dropout_shape, attrs=("p",), kinds=("number",), noise=True,
      elementwise=True, jvps=[Rule.DIAGONAL, Rule.NONE])
