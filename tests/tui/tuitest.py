"""Helpers for the TUI tests: scenario paths, a bit-exact picture of the Stepper, waiting for the app."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradstep.scenarios import bundled_dir

BUNDLED = bundled_dir()
HERE = Path(__file__).parent / "scenarios"
CHAIN = BUNDLED / "chain_rule.toml"
TWO_LAYER = BUNDLED / "two_layer.toml"
PATHS = BUNDLED / "sum_over_paths.toml"
LOG_NEGATIVE = HERE / "log_negative.toml"
LONG_RUN = HERE / "long_run.toml"


def picture(st) -> list:
    """The state the panes show, as bytes: tick, values, gradients, their status, contributions, params.

    Losses are left out: the loss curve keeps iterations already computed when time goes back."""
    out: list = [st.tick]
    for i in range(len(st.program.nodes)):
        for a in (st.value(i), st.grad(i)):
            out.append(None if a is None else (np.shape(a), np.asarray(a, dtype=np.float64).tobytes()))
        out.append(st.grad_status(i))
        out.append([(c.consumer, c.position, c.value.tobytes()) for c in st.contributions(i)])
    for i in st.program.params:
        out.append(st.param(i).tobytes())
    return out


async def wait_for(pilot, condition, polls: int = 3000) -> bool:
    """Poll the app until condition() holds (a deadline in polls, not a timed assertion)."""
    for _ in range(polls):
        if condition():
            return True
        await pilot.pause(0.01)
    return bool(condition())


@pytest.fixture
def scenario_copy(tmp_path):
    """A writable copy of a scenario (for reload tests)."""
    def make(src: Path) -> Path:
        dst = tmp_path / src.name
        dst.write_text(src.read_text())
        for csv in src.parent.glob("*.csv"):
            (tmp_path / csv.name).write_bytes(csv.read_bytes())
        return dst
    return make


def screen_text(app) -> str:
    """The terminal's text as it would be written now: every cell of the screen, line by line."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)
