"""Reload under edits: a scenario file broken, fixed, deleted and rewritten while the app has it open.

Each edit is picked up twice over: by the reload key, and by the app's own mtime poll (the real
timer, waited for with a deadline in polls). Broken edits must show the error and keep the last
good graph, bit for bit and still stepping; a fix must bring in the new content.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import re
import time

import numpy as np
import pytest

from gradstep.tui.app import GradstepApp
from gradstep.tui.playback import PlayState
from gradstep.tui.widgets.status import Banner

from tuitest import CHAIN, LONG_RUN, TWO_LAYER, picture, wait_for

_later = itertools.count(1)


def save(path, text: str | bytes, *, atomic: bool = False) -> None:
    """Write the file as an editor would (in place, or a new file renamed over it), with an mtime
    later than any before: the poll must see every save, whatever the file system's time resolution."""
    data = text.encode() if isinstance(text, str) else text
    if atomic:
        tmp = path.with_name(path.name + ".swp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    else:
        path.write_bytes(data)
    t = time.time_ns() + next(_later) * 1_000_000_000
    os.utime(path, ns=(t, t))


def banner(app) -> str:
    return str(app.main.query_one(Banner).render())


def value(st, name: str) -> np.ndarray:
    return np.asarray(st.value(st.program.node(name).id))


async def reload(app, pilot, trigger: str, done) -> None:
    """Make the app notice the edit: the r key, or wait for its poll until done() holds."""
    if trigger == "key":
        await pilot.press("r")
    assert await wait_for(pilot, done), f"the app did not pick up the edit ({trigger})"


# Broken versions of two_layer.toml, with words the error must show.
BREAKAGES = {
    "bad TOML": (lambda t: t.replace("[graph]", "[graph"), ["not valid TOML"]),
    "unknown op": (lambda t: t.replace('"relu(W1 @ x)"', '"frobnicate(W1 @ x)"'), ["unknown op", "frobnicate"]),
    "shape mismatch": (lambda t: t.replace("shape = [2, 10]", "shape = [2, 11]"), ["W2 @ h", "11", "10"]),
    "empty file": (lambda t: "", ["[scenario]"]),
    "not UTF-8": (lambda t: b"\xff\xfe[scenario]\n\x80\x81", ["not UTF-8 text"]),
}


@pytest.mark.parametrize("trigger", ["key", "poll"])
@pytest.mark.parametrize("breakage", list(BREAKAGES))
async def test_a_broken_edit_shows_the_error_and_keeps_the_last_good_graph(scenario_copy, breakage, trigger):
    path = scenario_copy(TWO_LAYER)
    good = path.read_text()
    edit, words = BREAKAGES[breakage]
    app = GradstepApp(path, watch_file=trigger == "poll")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f", "n", "n")                     # mid-backward, so there is state to lose
        st = app.stepper
        before, tick = picture(st), st.tick
        save(path, edit(good))
        await reload(app, pilot, trigger, lambda: app.source.error is not None)
        assert app.stepper is st and picture(st) == before   # the last good graph, bit for bit
        shown = banner(app)
        assert "reload failed" in shown and path.name in shown, shown
        for word in words:
            assert word in shown, (word, shown)
        assert "Traceback" not in shown
        await pilot.press("n")                                # still steps, and back is still exact
        assert st.tick == tick + 1
        await pilot.press("p")
        assert picture(st) == before


@pytest.mark.parametrize("trigger", ["key", "poll"])
async def test_fixing_the_file_recovers_with_the_new_content(scenario_copy, trigger):
    path = scenario_copy(TWO_LAYER)
    good = path.read_text()
    app = GradstepApp(path, watch_file=trigger == "poll")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f", "n")
        old, tick = app.stepper, app.stepper.tick
        save(path, BREAKAGES["unknown op"][0](good))
        await reload(app, pilot, trigger, lambda: app.source.error is not None)
        assert app.stepper is old
        # The fix also changes the target, so the new content is visibly what runs.
        save(path, good.replace("y_hat = [0.5, 0.25]", "y_hat = [0.125, 0.75]"))
        await reload(app, pilot, trigger, lambda: app.stepper is not old)
        st = app.stepper
        assert app.source.error is None and "reload failed" not in banner(app)
        assert st.tick == tick                                # the reload returns to the same tick
        np.testing.assert_array_equal(value(st, "y_hat"), [0.125, 0.75])
        # The forward pass of the new file, against NumPy by hand on the same leaves.
        await pilot.press("home", "f")
        x, W1, W2 = value(st, "x"), value(st, "W1"), value(st, "W2")
        f = np.maximum(W2 @ np.maximum(W1 @ x, 0), 0)
        assert float(value(st, "E")) == pytest.approx(float(np.sum((f - [0.125, 0.75]) ** 2)), rel=1e-12)


@pytest.mark.parametrize("how", ["deleted", "dangling symlink", "replaced by a folder"])
async def test_a_file_deleted_while_open_is_reported_and_the_app_keeps_running(scenario_copy, tmp_path, how):
    path = scenario_copy(CHAIN)
    text = path.read_text()
    app = GradstepApp(path)                                   # the real poll
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n")
        st = app.stepper
        before = picture(st)
        path.unlink()
        if how == "dangling symlink":
            path.symlink_to(tmp_path / "nowhere.toml")
        elif how == "replaced by a folder":
            path.mkdir()
        assert await wait_for(pilot, lambda: "missing" in banner(app) or "reload failed" in banner(app))
        assert path.name in banner(app) and "Traceback" not in banner(app)
        assert app.stepper is st and picture(st) == before
        await pilot.press("r")                                # a reload by hand fails softly too
        assert app.stepper is st and app.is_running
        await pilot.press("n")
        assert st.tick == 3
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
        save(path, text.replace("x = 1.5", "x = 0.5"))        # the file comes back, edited
        assert await wait_for(pilot, lambda: app.stepper is not st)
        new = app.stepper
        assert app.source.error is None and "missing" not in banner(app) and "reload failed" not in banner(app)
        await pilot.press("f")
        assert float(value(new, "f")) == pytest.approx(math.exp(math.sin(0.25)), rel=1e-15)


def good_chain(text: str, k: int) -> str:
    return text.replace("x = 1.5", f"x = {1 + k / 64}")


def broken_chain(text: str, k: int) -> str:
    return text.replace('v = "sin(u)"', f'v = "bogus{k}(u)"')


def slow_save(path, text: str, rng: random.Random) -> None:
    """Write in two parts with a pause between, cut at any byte (even inside a UTF-8 character):
    a reload in the pause reads half a file."""
    data = text.encode()
    cut = rng.randrange(len(data))
    with open(path, "wb") as f:
        f.write(data[:cut])
        f.flush()
        time.sleep(0.03)
        f.write(data[cut:])
    t = time.time_ns() + next(_later) * 1_000_000_000
    os.utime(path, ns=(t, t))


# A Python exception's name in a message means an engine bug reached the user as text.
PYTHON_ERROR = re.compile(r"\b[A-Z]\w*(Error|Exception): ")


@pytest.mark.parametrize("last", ["good", "broken"])
async def test_rapid_rewrites_end_in_the_state_of_the_last_write(scenario_copy, last):
    """50 saves alternating good and broken (in place, renamed over, or slow and half-written) from
    another thread, while the poll runs and the r key reloads in between."""
    path = scenario_copy(CHAIN)
    text = path.read_text()
    good = [k % 2 == (1 if last == "good" else 0) for k in range(50)]     # write 49 is the last
    writes = [good_chain(text, k) if good[k] else broken_chain(text, k) for k in range(50)]
    rng = random.Random(50)
    writer_rng = random.Random(51)

    def writer() -> None:
        for version in writes:
            how = writer_rng.choice(("in place", "renamed", "slow"))
            if how == "slow":
                slow_save(path, version, writer_rng)
            else:
                save(path, version, atomic=how == "renamed")
            time.sleep(writer_rng.choice((0, 0.005, 0.02, 0.05)))

    app = GradstepApp(path)
    failures: list[str] = []
    notify = app.notify

    def record(message, *, title="", **kwargs):
        if title.startswith(("reload failed", "unexpected error")):
            failures.append(f"{title}: {message}")
        return notify(message, title=title, **kwargs)
    app.notify = record
    async with app.run_test(size=(80, 24)) as pilot:
        first = app.stepper
        writing = asyncio.ensure_future(asyncio.to_thread(writer))
        while not writing.done():
            await pilot.press(rng.choice(("r", "r", "r", "n", "p", "f")))
        await writing
        if last == "good":
            x = 1 + 49 / 64
            assert await wait_for(pilot, lambda: app.source.error is None and app.stepper is not first
                                  and float(value(app.stepper, "x")) == x)
            st = app.stepper
            assert "reload failed" not in banner(app)
            await pilot.press("home", "f")
            assert float(value(st, "f")) == pytest.approx(math.exp(math.sin(x * x)), rel=1e-15)
        else:
            assert await wait_for(pilot, lambda: app.source.error is not None and "bogus49" in app.source.error)
            assert "bogus49" in banner(app)
            st = app.stepper                                  # some good version, still stepping
            assert float(value(st, "x")) in {1.5} | {1 + k / 64 for k in range(50) if good[k]}
            await pilot.press("home", "n")
            assert st.tick == 1 and app.stepper is st
    print(f"{len(failures)} failed reloads:", *sorted({f.split(": ")[-1][:60] for f in failures}), sep="\n  ")
    assert not [f for f in failures if f.startswith("unexpected") or PYTHON_ERROR.search(f)], failures


async def test_an_edit_during_a_background_run_is_picked_up_when_the_run_ends(scenario_copy):
    path = scenario_copy(LONG_RUN)
    good = path.read_text()
    app = GradstepApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        st = app.stepper
        await pilot.press("end")                              # a million iterations, in a thread
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.RUN)
        save(path, good.replace('E = "(p - y) ** 2"', 'E = "(p - y) ** "'))
        await pilot.pause(2.5)                                # two polls while the run owns the Stepper
        assert app.stepper is st
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.playback.state is PlayState.IDLE and app.source.error is not None)
        assert app.stepper is st and "reload failed" in banner(app)
        # The run may have reached the end before escape (a fast machine): step back, which
        # works at any tick after the start, to show the last good Stepper still answers.
        tick = st.tick
        assert tick > 0
        await pilot.press("p")
        assert await wait_for(pilot, lambda: st.tick == tick - 1)


async def test_the_csv_data_file_is_watched_too(scenario_copy):
    """Edited, broken, deleted and restored data: the same rules as for the scenario file."""
    from gradstep.scenarios import bundled_dir
    path = scenario_copy(bundled_dir() / "linear_regression.toml")
    csv = path.with_name("linear_regression.csv")
    rows = csv.read_text().splitlines()
    app = GradstepApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        first = app.stepper
        save(csv, "\n".join(rows[:-1]) + "\n")                       # one row fewer
        assert await wait_for(pilot, lambda: app.stepper is not first)
        st = app.stepper
        expected = np.loadtxt(csv, delimiter=",", skiprows=1)
        np.testing.assert_array_equal(value(st, "x"), expected[:, 0])
        np.testing.assert_array_equal(value(st, "y"), expected[:, 1])
        await pilot.press("n")
        before = picture(st)
        save(csv, "\n".join(rows[:3] + ["1.0,abc"] + rows[4:]) + "\n")   # a cell that is not a number
        assert await wait_for(pilot, lambda: app.source.error is not None)
        assert app.stepper is st and picture(st) == before and "reload failed" in banner(app)
        csv.unlink()
        assert await wait_for(pilot, lambda: app.source.error is not None and "abc" not in app.source.error)
        assert app.stepper is st and picture(st) == before and "linear_regression.csv" in banner(app)
        await pilot.press("n")
        assert st.tick == 2
        save(csv, "\n".join(rows) + "\n")                             # restored: all 50 rows again
        assert await wait_for(pilot, lambda: app.stepper is not st)
        assert app.source.error is None and value(app.stepper, "x").shape == (50,)
