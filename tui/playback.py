"""Playing the replay: a timer that steps at a chosen speed (either way in time), and at speed 'max'
a background thread that runs whole iterations at full engine speed.

While that thread runs it owns the Stepper: the UI only reads the small RunProgress messages it
posts (display frames are skipped, never iterations) and redraws fully when RunDone arrives.
"""
from __future__ import annotations

import functools
import time

from .bindings import guarded
from .messages import RunDone, RunProgress
from .widgets.losscurve import LossCurve
from .widgets.status import Banner, StatusLine

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 0)      # steps per second; 0 is "max": whole iterations in a thread
DEFAULT_SPEED = 3
FRAME = 1 / 30                              # the fastest the screen is redrawn while playing


class Playback:
    """The App's play, rewind, speed and background-run actions (mixed into GradstepApp)."""
    def action_play(self) -> None:
        if self.playing:
            self.stop_playing()
            return
        if self.stepper is None or self.stepper.at_end:
            return
        if SPEEDS[self.speed] == 0:
            self.start_run(self.stepper.steps)
        else:
            self._start_timer("forward")

    def action_rewind(self) -> None:
        if self.playing:
            self.stop_playing()
            return
        if self.stepper is None or self.stepper.at_start:
            return
        self._start_timer("backward")

    def action_stop(self) -> None:
        self.stop_playing()

    def action_faster(self) -> None:
        self.speed = min(self.speed + 1, len(SPEEDS) - 1)
        self._speed_changed()

    def action_slower(self) -> None:
        self.speed = max(self.speed - 1, 0)
        self._speed_changed()

    def _speed_changed(self) -> None:
        if self.playing in ("forward", "backward"):
            direction = self.playing
            self.stop_playing()
            if SPEEDS[self.speed] == 0 and direction == "forward":
                self.start_run(self.stepper.steps)
            else:
                self._start_timer(direction)
        self.notify(self.play_text(), timeout=1.5)
        self.schedule_redraw()

    def _start_timer(self, direction: str) -> None:
        speed = SPEEDS[self.speed]
        self.playing = direction
        interval = FRAME if speed == 0 else max(FRAME, 1 / speed)
        per_tick = 1 if speed == 0 else max(1, round(speed * interval))
        self._timer = self.set_interval(interval, functools.partial(self._play_tick, direction, per_tick))
        self.schedule_redraw()

    @guarded
    def _play_tick(self, direction: str, per_tick: int) -> None:
        st = self.stepper
        if st is None or self.playing != direction:
            self.stop_playing()
            return
        ev = None
        for _ in range(per_tick):
            if direction == "forward":
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
        self.after_motion(ev)
        if (direction == "forward" and st.at_end) or (direction == "backward" and st.at_start):
            self.stop_playing()

    def stop_playing(self) -> None:
        """Stop the timer or ask a background run to stop (it posts RunDone)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.playing == "run":
            self._stop_run = True
            return
        if self.playing:
            self.playing = ""
            self.schedule_redraw()

    def start_run(self, count: int) -> None:
        """Run whole iterations at full engine speed in a thread; the UI gets progress messages."""
        st = self.stepper
        if st is None or st.at_end or count <= 0:
            return
        self._stop_run = False
        self.playing = "run"
        target = min(st.steps, st.iteration + count)
        self._run_text = f"running to iteration {target:,}"
        self.main.query_one(StatusLine).show_text(f"{self._run_text}…  (esc stops)")
        self.main.query_one(Banner).say(None)

        def work() -> None:
            last = [0.0]

            def progress(it: int) -> None:
                now = time.monotonic()
                if now - last[0] >= FRAME:
                    last[0] = now
                    losses = st.losses
                    self.post_message(RunProgress(it, float(losses[-1]) if len(losses) else None))
            try:
                st.run_iterations(count, progress=progress, should_stop=lambda: self._stop_run, chunk=16)
            except Exception as e:     # reported in the UI; the Stepper is still consistent
                self.post_message(RunDone(f"{type(e).__name__}: {e}"))
                return
            self.post_message(RunDone())
        self.run_worker(work, thread=True, exclusive=True, group="run", exit_on_error=False)

    def on_run_progress(self, message: RunProgress) -> None:
        if self.playing != "run":
            return
        self.main.query_one(StatusLine).show_text(
            f"{self._run_text}: iteration {message.iteration:,}"
            + (f", loss {message.loss:.6g}" if message.loss is not None else "") + "  (esc stops)")
        self.main.query_one(LossCurve).add_point(message.iteration, message.loss)

    def on_run_done(self, message: RunDone) -> None:
        self.playing = ""
        self._stop_run = False
        if message.error:
            self.notify(message.error, title="the run failed", severity="error", timeout=8)
        self.main.query_one(LossCurve).losses = []
        self.after_motion(select=True)
        self.redraw()              # now, not later: whoever sees playing == "" sees the final state

