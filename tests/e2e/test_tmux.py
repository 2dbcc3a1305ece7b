"""End to end: the real `gradstep` command in a real terminal (tmux), read back with capture-pane.

The numbers are computed here with math, independently of the engine: f(x) = e^(sin(x²)) at x = 1.5;
a breakpoint typed into the TUI stops where the headless `gradstep run --until` says it does.
"""
from __future__ import annotations

import math
import os
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ROOT / "scenarios" / "chain_rule.toml"
TWO_LAYER = ROOT / "scenarios" / "two_layer.toml"
GRADSTEP = Path(sys.executable).parent / "gradstep"
X = 1.5


def shown(v: float) -> str:
    """Four significant digits, the way the panes print numbers."""
    return f"{v:.4g}"


class Terminal:
    """One tmux session running a command."""

    def __init__(self, command: list[str], width: int, height: int):
        self.name = f"gradstep-e2e-{uuid.uuid4().hex[:8]}"
        env = dict(os.environ, TERM="xterm-256color")
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                        " ".join(command)], check=True, env=env)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        """Type text literally, one character after another (no key names)."""
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def wait_for(self, pattern: str, seconds: float = 30) -> str:
        """Poll the screen until the regex matches; fail with the last screen at the deadline."""
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        pytest.fail(f"{pattern!r} never appeared; the screen was:\n{text}")

    def wait_gone(self, pattern: str, seconds: float = 30) -> None:
        """Poll the screen until the regex no longer matches (a closed dialog)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not re.search(pattern, self.screen()):
                return
            time.sleep(0.1)
        pytest.fail(f"{pattern!r} stayed on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def terminal():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    if not GRADSTEP.exists():
        pytest.fail(f"the console script is missing next to {sys.executable}")
    opened: list[Terminal] = []

    def open_(command, width, height) -> Terminal:
        t = Terminal(command, width, height)
        opened.append(t)
        return t
    yield open_
    for t in opened:
        t.close()


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_chain_rule_forward_value_and_derivative(terminal, size):
    f = math.exp(math.sin(X ** 2))
    dfdx = f * math.cos(X ** 2) * 2 * X
    term = terminal([str(GRADSTEP), str(CHAIN)], *size)
    term.wait_for(r"iteration 1/1 │ forward 0/3")
    term.keys("f")                                            # run the forward phase
    screen = term.wait_for(r"backward 0/4")
    assert re.search(rf"\bf = {re.escape(shown(f))}(?![\d.])", screen), screen
    term.keys("f")                                            # run the backward phase
    screen = term.wait_for(r"│ done")
    assert re.search(rf"∂f/∂x = {re.escape(shown(dfdx))}(?![\d.])", screen), screen
    term.keys("p")                                            # and one step back in time
    term.wait_for(r"backward 3/4")
    term.keys("q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "backward 3/4" in term.screen():
        time.sleep(0.1)
    assert "backward 3/4" not in term.screen()                # quit left the app


def test_a_conditional_breakpoint_typed_in_the_tui_stops_where_the_headless_run_does(terminal):
    headless = subprocess.run([str(GRADSTEP), "run", str(TWO_LAYER), "--until", "loss < 0.01", "--json"],
                              capture_output=True, text=True, timeout=60)
    assert headless.returncode == 3, headless.stderr               # 3: stopped at a breakpoint
    stopped = json.loads(headless.stdout)["stopped"]
    term = terminal([str(GRADSTEP), str(TWO_LAYER)], 120, 40)
    term.wait_for(r"iteration 1/100 │ forward 0/7")
    term.keys("i")
    term.wait_for(r"Break if")
    term.type("los < 0.01")                                        # a typo: named before enter
    term.wait_for(r"los < 0\.01(.|\n)*did you mean 'loss'")
    term.keys("Enter")                                             # refused: the prompt stays
    term.keys("Escape")
    term.wait_gone(r"Break if")                                    # an escape followed at once by i reads as alt+i
    term.keys("i")
    term.wait_for(r"Break if")
    term.type("loss < 0.01")
    term.wait_for(r"loss < 0\.01(.|\n)*✓ ok")
    term.keys("Enter")
    term.wait_for(r"breakpoint 1: loss < 0.01")
    term.type(">")                                                 # continue
    screen = term.wait_for(r"breakpoint 1 hit: loss < 0\.01")
    assert f"iteration {stopped['iteration']}/100" in screen, screen
    assert f"(iteration {stopped['iteration']}, {stopped['phase']} step of {stopped['node']}" in screen, screen
    term.keys("q")


def test_missing_file_exits_with_status_2(tmp_path):
    out = subprocess.run([str(GRADSTEP), str(tmp_path / "nope.toml")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "no such scenario file" in out.stderr
