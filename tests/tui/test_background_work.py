"""Slow work never holds the app: a load that takes long leaves q and ctrl+c working at once (it runs in a
daemon thread, which quitting does not wait for); the gradient check is cancelled by esc and by q; a check
on a forward pass that is already NaN says so; the console script exits 2 on names it cannot use (issue 14)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gradstep.engine import CheckCancelled
from gradstep.tui import launch, loading
from gradstep.tui.app import GradstepApp
from gradstep.tui.screens import gradcheck as gradcheck_screen
from gradstep.tui.screens.gradcheck import GradCheckScreen
from gradstep.tui.widgets.status import StatusLine

from tuitest import LOG_NEGATIVE, TWO_LAYER, wait_for


def early_app(path) -> GradstepApp:
    """An app whose pilot starts at once, while the first load still runs."""
    app = GradstepApp(path, watch_file=False)
    app.WAIT_FOR_FIRST_LOAD = False
    return app


@pytest.fixture
def slow_load(monkeypatch):
    """Loading takes until released (5 s at most), the way a quadratic parse of a hostile file would."""
    release = threading.Event()
    real = loading.load_scenario

    def slow(path):
        release.wait(5)
        return real(path)
    monkeypatch.setattr(loading, "load_scenario", slow)
    yield release
    release.set()


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit_works_while_a_slow_file_loads(slow_load, key):
    app = early_app(TWO_LAYER)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.stepper is None and app.source.pending is not None
        assert "loading" in str(app.main.query_one(StatusLine).render())
        loader = [t for t in threading.enumerate() if t.name == "gradstep load"]
        assert loader and all(t.daemon for t in loader)           # quitting never waits for it
        started = time.monotonic()
        await pilot.press(key)
        assert await wait_for(pilot, lambda: app.return_code == 0, polls=100)
        assert time.monotonic() - started < 2 and app.stepper is None


async def test_a_slow_reload_keeps_the_old_graph_answering_keys(slow_load):
    slow_load.set()                                               # the first load is quick
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        old = app.stepper
        slow_load.clear()
        await pilot.press("r")                                    # a reload that takes long
        await pilot.press("n", "n")                               # meanwhile the app steps the old Stepper
        assert app.stepper is old and old.tick == 2
        slow_load.set()
        assert await wait_for(pilot, lambda: app.stepper is not old)
        assert app.stepper.tick == 0                              # the new one where the reload was asked


@pytest.fixture
def endless_check(monkeypatch):
    """A gradient check that goes on until it is asked to stop, as a huge graph's would."""
    asked = threading.Event()

    def check(program, leaves, iteration=1, work=0, should_stop=None, **kw):
        asked.set()
        while not should_stop():
            time.sleep(0.01)
        raise CheckCancelled
    monkeypatch.setattr(gradcheck_screen, "gradcheck", check)
    return asked


async def test_escape_cancels_the_gradient_check(endless_check):
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        assert await wait_for(pilot, endless_check.is_set)
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.checker.stop is None, polls=300)
        assert any("cancelled" in n.message for n in app._notifications)
        assert not isinstance(app.screen, GradCheckScreen)


async def test_q_cancels_the_gradient_check_and_quits(endless_check):
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        assert await wait_for(pilot, endless_check.is_set)
        stop = app.checker.stop
        await pilot.press("q")
        assert stop.is_set() and await wait_for(pilot, lambda: app.return_code == 0, polls=100)


async def test_a_check_of_a_forward_pass_already_nan_says_so():
    app = GradstepApp(LOG_NEGATIVE, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, GradCheckScreen), polls=1000)
        report = app.screen.report
        assert report.not_finite == "v" and report.leaves == []


def test_the_console_script_exits_2_on_a_name_it_cannot_use(tmp_path, capsys, monkeypatch):
    assert launch.main([str(tmp_path / ("a" * 300 + ".toml"))]) == 2
    assert "File name too long" in capsys.readouterr().err

    def refused(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "exists", refused)
    assert launch.main([str(tmp_path / "locked" / "s\x1b]0;pwned\x07.toml")]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and "\x1b" not in err and "␛]0;pwned␇" in err
