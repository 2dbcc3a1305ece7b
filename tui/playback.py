"""Playing the replay: a timer that steps at a chosen speed (either way in time), and at speed 'max'
a background thread that trains whole iterations at full engine speed.

While that thread runs it owns the Stepper. It trains in slices of about SLICE seconds (sized by
how long the last slice took) and posts a RunProgress RUN_FRAME apart. From those the UI draws the
status line only, and the loss curve a few times a second (losscurve.RUN_REDRAW): the two threads
share one GIL, and each frame the UI draws is training time lost. When RunDone arrives the UI
redraws fully.
"""
from __future__ import annotations

import enum
import functools
import threading
import time
from typing import TYPE_CHECKING

from gradstep.engine import Stepper

from .messages import RunDone, RunProgress

if TYPE_CHECKING:
    from textual.timer import Timer

    from .app import GradstepApp

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 0)      # steps per second; 0 is "max": whole iterations in a thread
DEFAULT_SPEED = 3
FRAME = 1 / 30                              # the fastest the screen is redrawn while playing on the timer
RUN_FRAME = 1 / 12                          # how often a background run shows its progress
SLICE = 0.02                                # seconds of training between two looks at the stop flag
MAX_SLICE = 1 << 14                         # iterations in one slice, at most


class PlayState(enum.Enum):
    """What the replay is doing."""

    IDLE = "idle"
    FORWARD = "forward"      # playing on the timer
    BACKWARD = "backward"    # rewinding on the timer
    RUN = "run"              # a background thread trains whole iterations (speed 'max', end, go to)


class Playback:
    """Play, rewind, speed and background runs, for the app that holds it (app.playback)."""

    def __init__(self, app: GradstepApp):
        self.app = app
        self.state = PlayState.IDLE
        self.speed = DEFAULT_SPEED               # an index into SPEEDS
        self.timer: Timer | None = None
        self.stop_requested = threading.Event()  # set by the UI, read by the run's thread
        self.run_text = ""                       # "running to iteration N", while a run goes on

    @property
    def running(self) -> bool:
        """A background run owns the Stepper."""
        return self.state is PlayState.RUN

    def text(self) -> str:
        """The state for the status line."""
        speed = SPEEDS[self.speed]
        rate = "max" if speed == 0 else f"{speed}/s"
        if self.state is PlayState.FORWARD:
            return f"▶ playing {rate} (space pauses)"
        if self.state is PlayState.BACKWARD:
            return f"◀ rewinding {rate} (b pauses)"
        return f"speed {rate}"

    def _set(self, state: PlayState) -> None:
        self.state = state
        self.app.refresh_keys()
        self.app.schedule_redraw()

    # ------------------------------------------------------------------ the keys
    def play(self) -> None:
        st = self.app.stepper
        if self.state is not PlayState.IDLE:
            self.stop()
        elif st is not None and not st.at_end:
            if SPEEDS[self.speed] == 0:
                self.start_run(st.steps)
            else:
                self._start_timer(PlayState.FORWARD)

    def rewind(self) -> None:
        st = self.app.stepper
        if self.state is not PlayState.IDLE:
            self.stop()
        elif st is not None and not st.at_start:
            self._start_timer(PlayState.BACKWARD)

    def faster(self) -> None:
        self._set_speed(min(self.speed + 1, len(SPEEDS) - 1))

    def slower(self) -> None:
        self._set_speed(max(self.speed - 1, 0))

    def _set_speed(self, speed: int) -> None:
        self.speed = speed
        direction = self.state
        if direction in (PlayState.FORWARD, PlayState.BACKWARD):
            self.stop()
            if SPEEDS[speed] == 0 and direction is PlayState.FORWARD:
                self.start_run(self.app.stepper.steps)
            else:
                self._start_timer(direction)
        self.app.notify(self.text(), timeout=1.5)
        self.app.schedule_redraw()

    def stop(self) -> None:
        """Stop the timer, or ask a background run to stop (it posts RunDone)."""
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        if self.state is PlayState.RUN:
            self.stop_requested.set()
        elif self.state is not PlayState.IDLE:
            self._set(PlayState.IDLE)

    # ------------------------------------------------------------------ playing on a timer
    def _start_timer(self, direction: PlayState) -> None:
        speed = SPEEDS[self.speed]
        interval = FRAME if speed == 0 else max(FRAME, 1 / speed)
        per_tick = 1 if speed == 0 else max(1, round(speed * interval))
        self._set(direction)
        self.timer = self.app.set_interval(interval, functools.partial(self._tick, direction, per_tick))

    def _tick(self, direction: PlayState, per_tick: int) -> None:
        try:
            self._steps(direction, per_tick)
        except Exception as e:       # the app must stay usable whatever an engine call raises
            self.app.unexpected(e)

    def _steps(self, direction: PlayState, per_tick: int) -> None:
        st = self.app.stepper
        if st is None or self.state is not direction:
            self.stop()
            return
        ev = None
        for _ in range(per_tick):
            if direction is PlayState.FORWARD:
                if st.at_end:
                    break
                ev = st.step()
                if ev is not None and ev.anomaly is not None:
                    break
            else:
                if st.at_start:
                    break
                if SPEEDS[self.speed] == 0:
                    st.back_iteration()
                else:
                    st.back()
        self.app.after_motion(ev)
        if st.at_end if direction is PlayState.FORWARD else st.at_start:
            self.stop()

    # ------------------------------------------------------------------ a run in the background
    def start_run(self, count: int) -> None:
        """Train `count` whole iterations at full engine speed in a thread; the UI gets progress messages."""
        st = self.app.stepper
        if st is None or st.at_end or count <= 0:
            return
        self.stop_requested.clear()
        self.run_text = f"running to iteration {min(st.steps, st.iteration + count):,}"
        self._set(PlayState.RUN)
        self.app.main.run_started(f"{self.run_text}…  (esc stops)")
        self.app.run_worker(functools.partial(train, st, count, self.stop_requested, self.app.post_message),
                            thread=True, exclusive=True, group="run", exit_on_error=False)

    def progress(self, message: RunProgress) -> None:
        if self.state is PlayState.RUN:
            loss = f", loss {message.loss:.6g}" if message.loss is not None else ""
            self.app.main.run_progress(f"{self.run_text}: iteration {message.iteration:,}{loss}  (esc stops)",
                                       message.iteration, message.loss)

    def done(self, message: RunDone) -> None:
        self.state = PlayState.IDLE
        self.stop_requested.clear()
        if message.error:
            self.app.notify(message.error, title="the run failed", severity="error", timeout=8)
        self.app.after_motion(select=True)
        self.app.redraw()            # now, not later: whoever sees IDLE sees the final state


def train(st: Stepper, count: int, stop: threading.Event, post) -> None:
    """The run's thread: `count` iterations in timed slices, a RunProgress about RUN_FRAME apart, then RunDone.

    Nothing here touches a widget; post is the app's thread-safe post_message."""
    size, due = 16, time.monotonic() + RUN_FRAME
    try:
        while count > 0 and not stop.is_set():
            t0 = time.perf_counter()
            n = min(size, count)
            anomaly = st.run_iterations(n, chunk=n)
            count -= n
            if anomaly is not None or st.at_end:
                break
            took = time.perf_counter() - t0
            size = max(1, min(MAX_SLICE, 2 * size, round(n * SLICE / took) if took > 0 else 2 * size))
            now = time.monotonic()
            if now >= due:                            # a steady RUN_FRAME apart, on average
                due = max(due + RUN_FRAME, now)
                it = st.iteration - 1                 # the last iteration run
                losses = st.losses
                post(RunProgress(it, float(losses[it - 1]) if 0 < it <= len(losses) else None))
    except Exception as e:           # reported in the UI; the Stepper is still consistent
        post(RunDone(f"{type(e).__name__}: {e}"))
        return
    post(RunDone())
