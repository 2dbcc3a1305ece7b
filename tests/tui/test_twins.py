"""Reverse twins restore the screen, not only the Stepper: for random key sequences (seeded), each key
followed by its reverse twin gives back the same screen text, selection, highlights, the finished update
phase, folds, speed and η included (issue 12, item 6)."""
from __future__ import annotations

import random

import pytest

from gradstep.tui.app import GradstepApp
from gradstep.tui.bindings import ACTIONS

from tuitest import BUNDLED, PATHS, TWO_LAYER, screen_text, wait_for

_FIRST = {a.display.split()[0]: a for a in ACTIONS}
# The keys with a reverse twin that act at once, or in a background run (end); not g, e or B (prompts, or
# toggles with a message), nor space, b, > and < (timers and searches), nor the quiz and mode keys.
TRIED = ("step", "back", "finish", "unfinish", "iteration", "back_iteration", "start", "end", "select_up",
         "select_down", "toggle_layer", "toggle_all", "eta_half", "eta_double", "faster", "slower")
KEYS = {a.keys.split(",")[0]: a.action for a in ACTIONS if a.action in TRIED}
TWIN_KEY = {k: _FIRST[a.twin].keys.split(",")[0] for k, a in
            ((a.keys.split(",")[0], a) for a in ACTIONS) if k in KEYS}


async def settle(pilot) -> str:
    """The screen once everything the last key started has ended, without notifications."""
    app = pilot.app
    assert await wait_for(pilot, lambda: not app.playback.running)
    app.clear_notifications()
    await pilot.pause()
    return screen_text(app)


def test_every_key_with_a_twin_is_tried():
    assert set(KEYS) == {"n", "p", "f", "F", "c", "C", "home", "end", "up", "down", "enter", "z",
                         "left_square_bracket", "right_square_bracket", "plus", "minus"}
    assert TWIN_KEY["n"] == "p" and TWIN_KEY["c"] == "C" and TWIN_KEY["end"] == "home" and TWIN_KEY["z"] == "z"


@pytest.mark.parametrize("path, seed", [(TWO_LAYER, 1), (TWO_LAYER, 2), (PATHS, 3),
                                        (BUNDLED / "momentum_valley.toml", 4)])
async def test_each_keys_reverse_twin_restores_the_screen_text(path, seed):
    rng = random.Random(seed)
    keys = sorted(KEYS)
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        tried = 0
        for _ in range(30):
            key = rng.choice(keys)
            if not app.check_action(KEYS[key], ()):
                continue                          # dimmed: it cannot act, so there is nothing to undo
            before = await settle(pilot)
            await pilot.press(key)
            after = await settle(pilot)
            if after == before:
                continue                          # it changed nothing on screen (↑ on the first line)
            await pilot.press(TWIN_KEY[key])
            again = await settle(pilot)
            assert again == before, f"{key} then {TWIN_KEY[key]} (seed {seed}, tick {app.stepper.tick})"
            tried += 1
            await pilot.press(key)                # and on, from where the key led
        assert tried >= 8
