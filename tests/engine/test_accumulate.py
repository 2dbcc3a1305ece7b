"""The one accumulation point: un-broadcasting against a brute-force sum, and summing out of place."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gradstep.engine.accumulate import accumulate, unbroadcast


@st.composite
def broadcast_pair(draw):
    """(input shape, a shape it broadcasts to)."""
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    stretched = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return shape, extra + stretched


def brute_unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Add each element of g into the input element it was broadcast from, one by one."""
    out = np.zeros(shape)
    for idx in np.ndindex(g.shape):
        tail = idx[len(idx) - len(shape):] if shape else ()
        src = tuple(0 if n == 1 else i for i, n in zip(tail, shape))
        out[src] += g[idx]
    return out


@settings(max_examples=200, deadline=None)
@given(broadcast_pair(), st.integers(0, 2**32 - 1))
def test_unbroadcast_sums_what_broadcasting_copied(pair, seed):
    shape, big = pair
    g = np.random.default_rng(seed).integers(-50, 50, size=big).astype(np.float64)
    # Integer-valued floats: every summation order gives the same exact result.
    got = unbroadcast(g, shape)
    assert got.shape == shape
    assert np.array_equal(got, brute_unbroadcast(g, shape))


@settings(max_examples=100, deadline=None)
@given(broadcast_pair(), st.integers(0, 2**32 - 1))
def test_unbroadcast_is_the_adjoint_of_broadcasting(pair, seed):
    # <g, broadcast(x)> == <unbroadcast(g), x> for every x and g: the definition of a VJP.
    shape, big = pair
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    g = rng.normal(size=big)
    lhs = float(np.sum(g * np.broadcast_to(x, big)))
    rhs = float(np.sum(unbroadcast(g, shape) * x))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


def test_accumulate_never_writes_in_place():
    current = np.array([1.0, 2.0, 3.0])
    keep = current.copy()
    contribution = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])      # broadcast over a new axis
    total = accumulate(current, contribution, (3,))
    assert total.tolist() == [4.0, 5.0, 6.0]
    assert np.array_equal(current, keep)
    assert not np.shares_memory(total, current) and not np.shares_memory(total, contribution)


def test_first_contribution_is_copied_into_a_fresh_owned_array():
    # A VJP may hand back its upstream gradient itself (add) or a read-only view (sum's broadcast_to).
    g = np.arange(3.0)
    first = accumulate(None, g, (3,))
    assert np.array_equal(first, g) and not np.shares_memory(first, g)
    view = np.broadcast_to(np.ones(()), (3,))
    owned = accumulate(None, view, (3,))
    assert owned.flags.writeable and owned.flags.owndata and owned.dtype == np.float64


def test_accumulate_unbroadcasts_to_a_scalar_and_keeps_float64():
    total = accumulate(None, np.ones((2, 3), dtype=np.float32), ())
    assert total.shape == () and total.dtype == np.float64 and float(total) == 6.0
    total = accumulate(total, np.full((4,), 0.5), ())
    assert float(total) == 8.0


def test_a_summed_scalar_gradient_is_still_an_ndarray():
    total = accumulate(accumulate(None, np.ones(()), ()), np.ones(()), ())
    assert isinstance(total, np.ndarray) and total.shape == () and float(total) == 2.0
