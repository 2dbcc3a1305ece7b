"""Monkey test: seeded random keys, clicks and resizes (20x8 to 300x100) on every bundled scenario.

Passes only if nothing raised (in the app, in an action the app caught, or in a worker) and the
app still steps afterwards. Pilot waits for the app to go idle after every event, about 0.1 s, and
longer while a replay plays, so the default run sends 1,000 events in total (about 2.5 minutes on
two cores), split evenly over the bundled scenarios; a scenario that does not load gets as many
more, starting on the error screen. The full campaign of issue 5 (10,000 events over the bundled
scenarios, 24 minutes here):

    GRADSTEP_MONKEY_EVENTS=10000 .venv/bin/python -m pytest -q tests/tui/test_monkey.py

GRADSTEP_MONKEY_SEED picks another seed; GRADSTEP_MONKEY_TRACE=1 (with -s) prints every event.
"""
from __future__ import annotations

import math
import os
import random
import string
from collections import Counter
from pathlib import Path

import pytest
from textual.worker import WorkerState

import gradstep.tui.app
from gradstep.scenarios import bundled_dir
from gradstep.tui.app import GradstepApp
from gradstep.tui.bindings import ACTIONS
from gradstep.tui.playback import PlayState
from gradstep.tui.screens.error import ErrorScreen
from gradstep.tui.screens.main import MainScreen

from tuitest import CHAIN, HERE, wait_for

MONKEY_EVENTS = int(os.environ.get("GRADSTEP_MONKEY_EVENTS", "1000"))
SEED = int(os.environ.get("GRADSTEP_MONKEY_SEED", "5"))
TRACE = bool(os.environ.get("GRADSTEP_MONKEY_TRACE"))     # print each event before it is sent
SCENARIOS = sorted(bundled_dir().glob("*.toml"))
BROKEN = HERE / "broken.toml"
PER_SCENARIO = math.ceil(MONKEY_EVENTS / len(SCENARIOS))
TIMEOUT = 120 + 2 * PER_SCENARIO      # generous: a hang still ends, a slow machine does not fail

# Titles of the app's notifications that only a Python exception produces (guarded actions, the
# background run, the gradient-check worker). Reload/open failures of bad files are not bugs.
EXCEPTION_TITLES = {"unexpected error", "the run failed", "gradient check failed"}

# Every key of the bindings table ("q" included: quitting is disarmed below), then the keys a
# modal screen, an input field or the command palette may react to.
BINDING_KEYS = sorted({k for a in ACTIONS for k in a.keys.split(",")})
SPECIAL_KEYS = ["tab", "shift+tab", "enter", "escape", "up", "down", "left", "right", "pageup", "pagedown",
                "home", "end", "backspace", "delete", "space", "ctrl+p"]
PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "


class MonkeyApp(GradstepApp):
    """The real app with quitting disarmed and failures recorded.

    Quit is reachable without the q key (the Footer's 'quit', the palette's 'Quit' command), so it
    is counted instead of ending the run; the palette's 'Screenshot' would write a file into the
    working folder, so it is counted too."""

    CSS_PATH = Path(gradstep.tui.app.__file__).with_name(GradstepApp.CSS_PATH)   # else resolved next to this file

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failures: list[str] = []
        self.notes: Counter = Counter()

    def notify(self, message, *, title="", severity="information", **kwargs):
        if title in EXCEPTION_TITLES:
            self.failures.append(f"notification {title!r}: {message}")
        self.notes[severity] += 1
        return super().notify(message, title=title, severity=severity, **kwargs)

    def on_worker_state_changed(self, event) -> None:
        if event.state == WorkerState.ERROR:
            self.failures.append(f"worker {event.worker.name!r} raised {event.worker.error!r}")

    async def action_quit(self) -> None:
        self.notes["quit"] += 1

    def deliver_screenshot(self, *args, **kwargs) -> None:
        self.notes["screenshot"] += 1


def random_key(rng: random.Random, modal: bool) -> str:
    """A key; on a modal screen escape is likelier, so the main screen gets most of the events."""
    roll = rng.random()
    if modal and roll < 0.15:
        return "escape"
    if roll < 0.55:
        return rng.choice(BINDING_KEYS)
    if roll < 0.75:
        return rng.choice(SPECIAL_KEYS)
    if roll < 0.85:
        return rng.choice(string.digits)
    return rng.choice(PRINTABLE)


def random_size(rng: random.Random) -> tuple[int, int]:
    roll = rng.random()
    if roll < 0.1:
        return (20, 8)
    if roll < 0.2:
        return (300, 100)
    return (rng.randint(20, 300), rng.randint(8, 100))


async def monkey(app: MonkeyApp, pilot, rng: random.Random, events: int) -> Counter:
    """Send `events` random events; stop at the first failure (the caller reports it)."""
    sent: Counter = Counter()
    for n in range(events):
        roll = rng.random()
        if roll < 0.75:
            key = random_key(rng, not isinstance(app.screen, MainScreen))
            if TRACE:
                print(n, "key", repr(key), type(app.screen).__name__, flush=True)
            await pilot.press(key)
            sent["key"] += 1
        elif roll < 0.92:
            w, h = app.size
            if TRACE:
                print(n, "click", type(app.screen).__name__, flush=True)
            await pilot.click(offset=(rng.randrange(w), rng.randrange(h)), times=rng.choice((1, 1, 1, 2)))
            sent["click"] += 1
        else:
            if TRACE:
                print(n, "resize", flush=True)
            await pilot.resize_terminal(*random_size(rng))
            sent["resize"] += 1
        if app._exception is not None or app.failures or not app.is_running:
            sent["stopped_at"] = n + 1
            break
    return sent


async def back_to_main(app: MonkeyApp, pilot) -> None:
    """Close modal screens and stop any replay with escape; let a gradient check finish first.

    The base screen is the main screen, or the error screen while no scenario has loaded. Only the
    app's own workers count: a file picker's DirectoryTree keeps a loader worker alive as long as
    it is open. A deadline in polls, not a timed assertion."""
    for _ in range(600):
        await pilot.pause()
        checking = [w for w in app.workers if w.group == "check" and not w.is_finished]
        base = ErrorScreen if app.stepper is None else MainScreen
        if type(app.screen) is base and app.playback.state is PlayState.IDLE and not checking:
            return
        if checking and app.playback.state is PlayState.IDLE:
            await pilot.pause(0.05)         # its result screen is about to open
            continue
        await pilot.press("escape")
    raise AssertionError(f"escape did not bring back the main screen: {app.screen!r}, playing={app.playback.state}")


async def still_answers(app: MonkeyApp, pilot, replay: str) -> None:
    """Back at the main screen, the step key moves the Stepper one tick and the status line says so."""
    await back_to_main(app, pilot)
    assert app.stepper is not None, replay
    await pilot.press("home")
    assert await wait_for(pilot, lambda: app.stepper.tick == 0)
    await pilot.press("n")
    assert app.stepper.tick == 1, replay
    cursor = app.stepper.cursor
    status = str(app.main.query_one("#status").render())
    assert f"{cursor.phase.value} {cursor.index}/{cursor.length}" in status, status
    assert not app.failures and app._exception is None, f"{replay}: {app.failures}"


def assert_survived(app: MonkeyApp, replay: str) -> None:
    assert app._exception is None, f"{replay}: {app._exception!r}"
    assert not app.failures, f"{replay}: {app.failures}"
    assert app.is_running, replay


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_monkey(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # S saves the screen into the current folder
    rng = random.Random(f"{SEED}:{path.name}")
    app = MonkeyApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        sent = await monkey(app, pilot, rng, PER_SCENARIO)
        replay = f"seed {SEED}, {path.name}, events sent {dict(sent)}"
        assert_survived(app, replay)
        await still_answers(app, pilot, replay)
    print(f"{path.name}: {dict(sent)}, notifications {dict(app.notes)}")


@pytest.mark.timeout(TIMEOUT)
async def test_monkey_from_the_error_screen(scenario_copy, tmp_path, monkeypatch):
    """Start on a scenario that does not load (the error screen, no Stepper at all), then fix it."""
    monkeypatch.chdir(tmp_path)          # S saves the screen into the current folder
    path = scenario_copy(BROKEN)
    rng = random.Random(f"{SEED}:{path.name}")
    app = MonkeyApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, ErrorScreen)
        sent = await monkey(app, pilot, rng, PER_SCENARIO)
        replay = f"seed {SEED}, error screen, events sent {dict(sent)}"
        assert_survived(app, replay)
        await back_to_main(app, pilot)
        opened = app.stepper is not None    # the monkey opened a scenario from the picker or palette
        if not opened:                      # still on the error screen: fixing the file recovers
            path.write_text(CHAIN.read_text())
            await pilot.press("r")
            assert await wait_for(pilot, lambda: app.stepper is not None), replay
        await still_answers(app, pilot, replay)
    print(f"error screen: {dict(sent)}, notifications {dict(app.notes)}, opened another: {opened}")
