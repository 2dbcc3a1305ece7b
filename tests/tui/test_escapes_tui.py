"""No text from a file reaches the terminal raw through the TUI: with the catalogue of escapes of
tests/engine/test_escapes.py in a scenario's title, description, CSV name and columns and its own file
name, every pane, the status line, the banner, notifications, the help, the gradient check, the file
picker and the error screen show them as visible symbols (display.visible), never as control characters."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from gradstep.tui.app import GradstepApp
from gradstep.tui.screens.error import ErrorScreen
from gradstep.tui.screens.gradcheck import GradCheckScreen

from tuitest import screen_text, wait_for

_spec = importlib.util.spec_from_file_location(
    "escape_catalogue", Path(__file__).parents[1] / "engine" / "test_escapes.py")
catalogue = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(catalogue)


def raw(app) -> list[str]:
    return catalogue.raw_in(screen_text(app))


@pytest.mark.parametrize("name", list(catalogue.CATALOGUE))
async def test_every_screen_shows_escapes_instead_of_sending_them(name, tmp_path):
    evil = catalogue.CATALOGUE[name].replace("/", "")
    path = catalogue._scenario(tmp_path, evil)
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.stepper is not None and "title" in screen_text(app)
        seen = []
        for keys in (("n",), ("f",), ("f", "n"), ("c",), ("r",), ("question_mark",), ("escape",)):
            await pilot.press(*keys)
            await pilot.pause()
            seen.append((keys, raw(app)))
        path.write_text(path.read_text(encoding="utf-8").replace('x = "a"', f'x = {json.dumps("missing" + evil)}'),
                        encoding="utf-8")
        await pilot.press("r")                        # a reload that fails: the banner and a notification
        assert await wait_for(pilot, lambda: app.source.error is not None)
        await pilot.pause()
        assert "missing" in screen_text(app)
        seen.append((("r", "broken"), raw(app)))
        await pilot.press("x")                        # the gradient check of the last good version
        assert await wait_for(pilot, lambda: isinstance(app.screen, GradCheckScreen), polls=1000)
        seen.append((("x",), raw(app)))
        await pilot.press("escape", "o")              # the picker, rooted in the hostile folder
        await pilot.pause()
        app.screen.query_one("#picker-tree").path = tmp_path
        await pilot.pause(0.3)
        assert ".toml" in screen_text(app)
        seen.append((("o",), raw(app)))
        assert all(not found for _, found in seen), seen


@pytest.mark.parametrize("name", list(catalogue.CATALOGUE))
async def test_the_error_screen_shows_escapes_instead_of_sending_them(name, tmp_path):
    evil = catalogue.CATALOGUE[name].replace("/", "")
    bad = tmp_path / f"bad{evil}.toml"
    bad.write_text(f'[scenario]\ntitle = "t"\n[graph]\nE = "x +"\n# {evil}\n', encoding="utf-8")
    app = GradstepApp(bad, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, ErrorScreen)
        await pilot.pause()
        assert "Scenario error" in screen_text(app) and "bad" in screen_text(app) and raw(app) == []
