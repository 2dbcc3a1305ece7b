"""Shared fixtures for the engine tests: scenarios built from inline TOML, and exact state snapshots.

The pure helpers are session-scoped so hypothesis tests can use them too.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from gradstep import engine


@pytest.fixture(scope="session")
def scenario():
    """Build a Scenario from inline TOML (dedented), the way a user's file would be read."""
    def build(text: str, **kw) -> engine.Scenario:
        return engine.load_scenario_text(textwrap.dedent(text), **kw)
    return build


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def bits(a) -> tuple | None:
    """An array's exact identity: dtype, shape and raw bytes (None stays None)."""
    if a is None:
        return None
    a = np.asarray(a)
    return (a.dtype.str, a.shape, np.ascontiguousarray(a).tobytes())


def snapshot(st: engine.Stepper) -> dict:
    """Everything a user can read from a stepper, as bytes, so two states compare bit for bit."""
    p = st.program
    n = len(p.nodes)
    return {
        "tick": st.tick,
        "cursor": st.cursor,
        "values": [bits(st.value(i)) for i in range(n)],
        "grads": [bits(st.grad(i)) for i in range(n)],
        "status": [st.grad_status(i) for i in range(n)],
        "contributions": [[(c.consumer, c.position, bits(c.value)) for c in st.contributions(i)]
                          for i in range(n)],
        "params": {i: bits(st.param(i)) for i in p.params},
        "updates": [(u.param, bits(u.w), bits(u.grad), u.eta, bits(u.new)) for u in st.updates()],
        "anomaly": st.anomaly,
    }


@pytest.fixture(scope="session")
def snap():
    return snapshot
