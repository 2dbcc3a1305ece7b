"""No text from a file reaches the terminal raw: every CLI channel shows escapes, C1 controls and bidi
overrides as visible symbols (engine/display.visible), and expressions cannot carry comments.

A catalogue of hostile strings (OSC 0 window title, OSC 52 clipboard, CSI screen clear, the 8-bit
CSI, BEL, backspace, carriage return, DEL, bidi overrides and isolates) is put into a scenario's
title, a CSV file's name and column names, an expression and the scenario file's own name; then
`gradstep run`, `run --json`, `check`, `trace`, `dot`, an anomaly and load errors are run for real
and their bytes searched for any raw control character.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradstep.engine import ScenarioError, load_scenario_text
from gradstep.engine.display import clip_title, visible

GRADSTEP = str(Path(sys.executable).with_name("gradstep"))

CATALOGUE = {
    "osc title": "\x1b]0;pwned\x07",
    "osc 52 clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "csi clear": "\x1b[2J\x1b[H",
    "8-bit csi": "\x9b2J",
    "bell backspace cr": "\x07\x08\r",
    "del": "\x7f",
    "bidi override": "\u202eevil\u202c",
    "bidi isolate": "\u2066x\u2069",
}
RAW = [chr(c) for c in range(0x20) if chr(c) not in "\n\t"] + [chr(0x7F)] + [chr(c) for c in range(0x80, 0xA0)] \
    + ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f"]


def raw_in(text: str) -> list[str]:
    return sorted({repr(c) for c in text if c in RAW})


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_visible_leaves_no_control_character(name):
    shown = visible("a" + CATALOGUE[name] + "b")
    assert raw_in(shown) == [] and shown.startswith("a") and shown.endswith("b")
    assert raw_in(clip_title("t" + CATALOGUE[name] * 100)) == []


def test_visible_keeps_ordinary_text_and_says_what_was_there():
    assert visible("E = ½(0.1·w₀² + 5·w₁²)\n\tok") == "E = ½(0.1·w₀² + 5·w₁²)\n\tok"
    assert visible("\x1b[2J") == "␛[2J" and visible("\x9b") == "\\x9b" and visible("\u202e") == "<U+202E>"
    assert visible("a\nb", newlines=False) == "a⏎b"
    assert len(clip_title("x" * 4_000_000)) == 200


def _scenario(folder: Path, evil: str, *, diverge: bool = False) -> Path:
    col = "c" + evil.replace("\r", "")            # a CSV field cannot hold a bare carriage return
    (folder / f"data{evil}.csv").write_text(f"a,{col}\n1,2\n3,4\n", encoding="utf-8")
    title = json.dumps("title " + evil)
    path = folder / f"s{evil}.toml"
    path.write_text(f"""
[scenario]
title = {title}
description = {title}
[data]
file = {json.dumps(f"data{evil}.csv")}
x = "a"
y = {json.dumps(col)}
[params]
w = {"1e300" if diverge else "0.5"}
[graph]
E = "mean((w * x - y) ** 2) * {"1e300" if diverge else "1"}"
[train]
loss = "E"
learning_rate = 0.01
steps = 3
""", encoding="utf-8")
    return path


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([GRADSTEP, *map(str, args)], capture_output=True, timeout=60)


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_cli_channel_shows_escapes_instead_of_sending_them(name, tmp_path):
    evil = CATALOGUE[name].replace("/", "")
    path = _scenario(tmp_path, evil)
    outputs = [_run("run", path), _run("run", path, "--json"), _run("check", path), _run("trace", path),
               _run("dot", path), _run("run", _scenario(tmp_path, evil, diverge=True))]
    for r in outputs:
        text = r.stdout.decode("utf-8") + r.stderr.decode("utf-8")
        assert raw_in(text) == [], (r.args, text[:400])
    assert outputs[0].returncode == 0 and "title" in outputs[0].stdout.decode()
    assert outputs[-1].returncode == 1                          # the anomaly, with node names in it
    # Load errors carry the file's name, a column name, the expression: all shown, none raw.
    bad = tmp_path / f"bad{evil}.toml"
    col = json.dumps("c" + evil.replace("\r", ""))
    bad.write_text(path.read_text(encoding="utf-8").replace(f"y = {col}", f'y = {json.dumps("missing" + evil)}'),
                   encoding="utf-8")
    for r in (_run("run", bad), _run("run", tmp_path / f"nothere{evil}.toml")):
        text = r.stdout.decode("utf-8") + r.stderr.decode("utf-8")
        assert r.returncode == 2 and raw_in(text) == [], text


def test_an_expression_cannot_carry_a_comment_into_a_node_name():
    text = '[scenario]\ntitle = "t"\n[values]\nx = 2.0\n[graph]\nE = "log(x # \\u001b]0;title\\u0007\\n - 1)"\n' \
           '[train]\nloss = "E"\n'
    with pytest.raises(ScenarioError, match="comments are not allowed inside an expression"):
        load_scenario_text(text)


def test_the_graphviz_svg_of_a_hostile_scenario_is_well_formed_xml(tmp_path):
    import shutil
    import xml.dom.minidom
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    path = _scenario(tmp_path, CATALOGUE["osc title"] + CATALOGUE["8-bit csi"])
    dot = _run("dot", path).stdout
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, timeout=60).stdout
    xml.dom.minidom.parseString(svg)
