"""A headless GradstepApp with timestamps around a key's handling, the panes' redraw and each frame.

Textual renders in headless mode too (layout, compositor, strips); only the final write to the
terminal is skipped, so each frame here also turns its update into the terminal's escape
sequences, which is the work a real terminal frame costs. Nothing waits on Pilot's own pauses:
a key goes in through the driver, as a terminal's would, and the clock stops at the end of the
first frame that shows the result.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual import events

clock = time.perf_counter


class Probe:
    """Instruments one app: frames (start, end), redraw ends and action (start, end) times."""

    def __init__(self, app, actions: tuple[str, ...]):
        self.app = app
        self.frames: list[tuple[float, float]] = []
        self.redraws: list[float] = []
        self.actions: dict[str, list[tuple[float, float]]] = {a: [] for a in actions}
        self._want: tuple[float, asyncio.Event] | None = None
        self._redraws_expected = True
        display, redraw = app._display, app.redraw

        def timed_display(screen, renderable) -> None:
            t0 = clock()
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)      # the bytes a terminal would receive
            display(screen, renderable)
            if renderable is not None:
                self.frames.append((t0, clock()))
                self._check()

        def timed_redraw() -> None:
            redraw()
            self.redraws.append(clock())

        app._display = timed_display
        app.redraw = timed_redraw
        # The screen's 60 Hz update timer starts each frame (layout, widget rendering, compositor);
        # its start splits "waiting for the next frame" from "drawing it".
        self.updates: list[float] = []
        timer = getattr(app.screen, "_update_timer", None)
        callback = getattr(timer, "_callback", None)
        if callback is not None:
            def timed_update():
                self.updates.append(clock())
                return callback()
            timer._callback = timed_update
        for name in actions:
            self._wrap(name)

    def _wrap(self, name: str) -> None:
        method = getattr(self.app, f"action_{name}")
        log = self.actions[name]

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return method(*args, **kwargs)
            finally:
                log.append((t0, clock()))
        setattr(self.app, f"action_{name}", timed)

    def _check(self) -> None:
        if self._want is None:
            return
        after, event = self._want
        if self.frames[-1][0] >= self._ready_after(after):
            event.set()

    def _ready_after(self, t: float) -> float:
        """A frame shows the key's result once it starts after the redraw that followed the action
        (or, for an action that asks for no redraw, after the action itself)."""
        if not self._redraws_expected:
            return t
        later = [r for r in self.redraws if r >= t]
        return later[0] if later else float("inf")

    async def key(self, key: str, action: str, timeout: float = 2.0, redraws: bool = True) -> dict | None:
        """Press a key; the times from the key to the action, the redraw and the end of the frame.

        redraws=False for an action that changes the screen without the app's redraw (the
        first frame after the action then counts)."""
        self._redraws_expected = redraws
        log = self.actions[action]
        before = len(log)
        done = asyncio.Event()
        t0 = clock()
        self._want = (float("inf"), done)
        ev = events.Key(key, key if len(key) == 1 else None)
        ev.set_sender(self.app)
        self.app._driver.send_message(ev)
        deadline = t0 + timeout
        while len(log) == before:           # the action has not run yet
            if clock() > deadline:
                self._want = None
                return None
            await asyncio.sleep(0)
        a0, a1 = log[before]
        self._want = (a1, done)
        if self.frames and self.frames[-1][0] >= self._ready_after(a1):
            done.set()
        try:
            await asyncio.wait_for(done.wait(), max(0.0, deadline - clock()))
        except asyncio.TimeoutError:
            return None
        finally:
            self._want = None
        redraw = self._ready_after(a1)
        frame = next(f for f in self.frames if f[0] >= redraw)
        update = next((u for u in self.updates if redraw <= u <= frame[0]), redraw)
        return {"total": frame[1] - t0, "dispatch": a0 - t0, "action": a1 - a0, "redraw": redraw - a1,
                "wait": update - redraw, "draw": frame[1] - update}


def make_app(path: Path):
    """The real app on a scenario, without the file watcher (its polling would add frames)."""
    from gradstep.tui.app import GradstepApp
    return GradstepApp(path, watch_file=False)


async def settle(pilot, seconds: float = 0.01) -> None:
    """Let pending work and frames finish between measurements (not measured)."""
    await pilot.pause()
    await asyncio.sleep(seconds)


def record_progress(app) -> list[tuple[float, int]]:
    """(time, iteration) of every RunProgress a background run posts to the app from now on."""
    progress: list[tuple[float, int]] = []
    post = app.post_message

    def watched(message) -> bool:
        if type(message).__name__ == "RunProgress":
            progress.append((clock(), message.iteration))
        return post(message)
    app.post_message = watched
    return progress
