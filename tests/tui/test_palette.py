"""Colours come from one place: no colour literal in the TUI's Python outside palette.py, none in the .tcss."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from rich.color import ANSI_COLOR_NAMES, ColorType
from rich.errors import StyleSyntaxError
from rich.style import Style

import gradstep.tui
from gradstep.tui import palette

TUI = Path(gradstep.tui.__file__).parent
HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b")
WORD = re.compile(r"[a-z_0-9]+")
DECLARATION = re.compile(r"([a-z-]+)\s*:\s*([^;{}]*)[;}]")     # property: value; (or up to a closing brace)


def colours_in(text: str) -> list[str]:
    """The colours a string literal spells: hex codes, a Rich style with a colour, named colours in CSS."""
    found = HEX.findall(text)
    try:
        style = Style.parse(text)
    except StyleSyntaxError:
        style = None
    if style is not None:
        for c in (style.color, style.bgcolor):
            if c is not None and c.type is not ColorType.DEFAULT:
                found.append(c.name)
    for _, value in DECLARATION.findall(text.lower()):         # a piece of CSS: colours in its values
        found += [w for w in WORD.findall(value) if w in ANSI_COLOR_NAMES and w != "default"]
    return found


def literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module (f-string parts too), docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_the_detector_sees_every_way_of_writing_a_colour():
    for text in ("#ffd75f", "bold #87d787", "on #2d3f5f", "bold white on red", "red", "grey50",
                 "Pane { color: red; }"):
        assert colours_in(text), text
    for text in ("Pane { color: red }", "background: $panel; color: yellow;"):
        assert colours_in(text), text
    for text in ("bold", "default", "forward", "∂E/∂w", "step one node", "LinePane { overflow-x: hidden; }",
                 "red: this node produced NaN; yellow: the scenario warned"):     # prose naming colours
        assert not colours_in(text), text


def test_no_colour_literal_in_the_tui_outside_the_palette():
    files = [p for p in TUI.rglob("*.py") if p != Path(palette.__file__)]
    assert len(files) > 10
    found = [f"{p.relative_to(TUI)}:{line}: {text!r}" for p in files for line, text in literals(p)
             if colours_in(text)]
    assert not found, "colour literals outside palette.py:\n" + "\n".join(found)


def test_the_stylesheet_uses_only_palette_variables():
    css = (TUI / "gradstep.tcss").read_text(encoding="utf-8")
    assert not HEX.findall(css)
    used = set(re.findall(r"\$(gs-[a-z-]+)", css))
    assert used and used <= set(palette.CSS), used - set(palette.CSS)
