"""End to end, the real `gradstep` in tmux: the selected node's numbers read off the screen with every digit
(f = e^(sin(x²)) at x = 1.5 computed here with math), and a hostile scenario changes neither the pane's
title nor tmux's paste buffers with set-clipboard on (OSC 0 and OSC 52 in its title, description, file
name, CSV name and columns are shown, never sent)."""
from __future__ import annotations

import importlib.util
import math
import os
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
GRADSTEP = Path(sys.executable).parent / "gradstep"
X = 1.5


class Tmux:
    """A tmux server of its own (-L): its buffers and titles are this test's alone."""

    def __init__(self, command: list[str], width: int, height: int, options: tuple[tuple[str, str], ...] = ()):
        self.socket = f"gradstep-e2e-{uuid.uuid4().hex[:8]}"
        env = dict(os.environ, TERM="xterm-256color")
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                 "sleep 600", env=env)
        for name, value in options:
            self.run("set-option", "-g", name, value)
        self.run("respawn-pane", "-k", "-t", "t", " ".join(f"'{c}'" for c in command), env=env)

    def run(self, *args, env=None) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=env,
                              check=True).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def title(self) -> str:
        return self.run("display-message", "-p", "-t", "t", "#{pane_title}").strip()

    def buffers(self) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "list-buffers"], capture_output=True, text=True).stdout

    def wait_for(self, pattern: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        pytest.fail(f"{pattern!r} never appeared; the screen was:\n{text}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    opened: list[Tmux] = []

    def open_(*args, **kw) -> Tmux:
        t = Tmux(*args, **kw)
        opened.append(t)
        return t
    yield open_
    for t in opened:
        t.close()


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_the_selected_node_reads_with_every_digit(tmux, size):
    f = math.exp(math.sin(X ** 2))
    dfdx = f * math.cos(X ** 2) * 2 * X
    term = tmux([str(GRADSTEP), str(CHAIN)], *size)
    term.wait_for(r"iteration 1/1 │ forward 0/3")
    term.keys("f")                                       # the forward pass: f selected
    screen = term.wait_for(r"backward 0/4")
    assert repr(f) == "2.177273044783055" and re.search(rf"(?<![\d.]){re.escape(repr(f))}(?![\d])", screen), screen
    assert re.search(r"\bf = 2\.177(?![\d])", screen), screen    # the list keeps 4 digits
    term.keys("f")                                       # the backward pass: x selected, its gradient
    screen = term.wait_for(r"│ done")
    assert re.search(rf"(?<![\d.]){re.escape(repr(dfdx))}(?![\d])", screen), screen
    term.keys("d")                                       # 4 digits: the long form is gone
    screen = term.wait_for(rf"(?s)^(?!.*{re.escape(repr(dfdx))})")
    term.keys("q")


def test_a_hostile_scenario_changes_neither_the_title_nor_the_clipboard(tmux, tmp_path):
    spec = importlib.util.spec_from_file_location("catalogue", ROOT / "tests" / "engine" / "test_escapes.py")
    catalogue = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(catalogue)
    evil = catalogue.CATALOGUE["osc title"] + catalogue.CATALOGUE["osc 52 clipboard"]
    path = catalogue._scenario(tmp_path, evil)
    term = tmux([str(GRADSTEP), str(path)], 120, 40, options=(("set-clipboard", "on"), ("allow-rename", "on")))
    term.wait_for(r"iteration 1/3")
    title, buffers = term.title(), term.buffers()
    assert "pwned" not in title and buffers == ""
    term.keys("c", "c")                                  # steps redraw the title everywhere it shows
    term.wait_for(r"iteration 2/3")
    term.keys("r")                                       # a notification with the file's name
    screen = term.wait_for(r"reloaded")
    assert "␛]0;pwned␇" in screen and "␛]52;c;" in screen
    time.sleep(0.5)
    assert term.title() == title and "pwned" not in term.title()
    assert term.buffers() == "", term.buffers()
    term.keys("q")
