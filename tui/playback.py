"""Playing the replay: a timer that steps at a chosen speed (either way in time), and background jobs
in a thread: training whole iterations at full engine speed (speed 'max', end, go to), continue and
reverse-continue to a breakpoint hit, and replaying earlier iterations for the health history.

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
from typing import TYPE_CHECKING, Callable

from gradstep.engine import Stop, Stepper

from .messages import RunDone, RunProgress

if TYPE_CHECKING:
    from textual.timer import Timer

    from .app import GradstepApp

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 0)      # steps per second; 0 is "max": whole iterations in a thread
DEFAULT_SPEED = 3
FRAME = 1 / 30                              # the fastest the screen is redrawn while playing on the timer
RUN_FRAME = 1 / 12                          # how often a background run shows its progress
HUNT_FRAME = 1 / 16                         # the same for continue: it reports between chunks of about
                                            # 40 ms, so a frame comes 80 ms apart at worst (≥ 10 a second)
SLICE = 0.02                                # seconds of training between two looks at the stop flag
MAX_SLICE = 1 << 14                         # iterations in one slice, at most


class PlayState(enum.Enum):
    """What the replay is doing."""

    IDLE = "idle"
    FORWARD = "forward"      # playing on the timer
    BACKWARD = "backward"    # rewinding on the timer
    RUN = "run"              # a background job owns the Stepper (one of Job)


class Job(enum.Enum):
    """What a background thread does with the Stepper."""

    TRAIN = "train"          # whole iterations at full speed (speed 'max', end, go to)
    CONTINUE = "continue"    # forward to the next breakpoint hit
    REVERSE = "reverse"      # back to the previous breakpoint hit
    MEASURE = "measure"      # replay earlier iterations for the health history, then come back


class Playback:
    """Play, rewind, speed and background runs, for the app that holds it (app.playback)."""

    def __init__(self, app: GradstepApp):
        self.app = app
        self.state = PlayState.IDLE
        self.speed = DEFAULT_SPEED               # an index into SPEEDS
        self.timer: Timer | None = None
        self.stop_requested = threading.Event()  # set by the UI, read by the run's thread
        self.run_text = ""                       # "running to iteration N", while a run goes on
        self.job: Job | None = None              # the background job, while one runs
        self.after: Callable[[], None] | None = None   # called once the job is done (the health view opens)

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
                self._play_max()
            else:
                self._start_timer(PlayState.FORWARD)

    def _play_max(self) -> None:
        """Speed 'max': whole iterations in the background, stopping at a breakpoint hit if any is enabled."""
        st = self.app.stepper
        if any(bp.enabled for bp in st.breakpoints):
            self.start_continue(reverse=False)
        else:
            self.start_run(st.steps)

    def run_to_end(self) -> None:
        """Stop playing, then train to the end of the replay in the background."""
        self.stop()
        if self.app.stepper is not None:
            self.start_run(self.app.stepper.steps)

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
                self._play_max()
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
                if ev is not None and (ev.anomaly is not None or ev.stop is not None):
                    break
            else:
                if st.at_start:
                    break
                if SPEEDS[self.speed] == 0:
                    st.back_iteration()
                else:
                    st.back()
        self.app.after_motion(ev)
        if (st.at_end if direction is PlayState.FORWARD else st.at_start) or (ev is not None and ev.stop is not None):
            self.stop()

    # ------------------------------------------------------------------ a run in the background
    def start_run(self, count: int, then: int | None = None) -> None:
        """Train `count` whole iterations at full engine speed in a thread; the UI gets progress messages.
        then: a tick in the iteration reached to go to at the end (unless stopped)."""
        st = self.app.stepper
        if st is None or st.at_end or count <= 0:
            return
        text = f"running to iteration {min(st.steps, st.iteration + count):,}"
        self._start(Job.TRAIN, text, functools.partial(train, st, count, then=then))

    def start_continue(self, reverse: bool) -> None:
        """Continue (or reverse-continue) to a breakpoint hit in a thread."""
        st = self.app.stepper
        if st is None or (st.at_start if reverse else st.at_end):
            return
        job = Job.REVERSE if reverse else Job.CONTINUE
        text = "reverse-continue: searching back" if reverse else "continue"
        self._start(job, text, functools.partial(hunt, st, reverse))

    def start_measure(self, first: int, count: int, text: str, then: Callable[[], None]) -> None:
        """Replay `count` iterations from `first` (the health history records them), come back, then call then()."""
        st = self.app.stepper
        if st is None or count <= 0:
            then()
            return
        self._start(Job.MEASURE, text, functools.partial(train, st, count, start=(first - 1) * st.per_iteration,
                                                          back=st.tick), then)

    def _start(self, job: Job, text: str, work, after: Callable[[], None] | None = None) -> None:
        self.stop_requested.clear()
        self.job, self.run_text, self.after = job, text, after
        self._set(PlayState.RUN)
        self.app.main.run_started(f"{self.run_text}…  (esc stops)")
        self.app.run_worker(functools.partial(work, stop=self.stop_requested, post=self.app.post_message),
                            thread=True, exclusive=True, group="run", exit_on_error=False)

    def progress(self, message: RunProgress) -> None:
        if self.state is PlayState.RUN:
            loss = f", loss {message.loss:.6g}" if message.loss is not None else ""
            self.app.main.run_progress(f"{self.run_text}: iteration {message.iteration:,}{loss}  (esc stops)",
                                       message.iteration, message.loss)

    def done(self, message: RunDone) -> None:
        job, self.job = self.job, None
        after, self.after = self.after, None
        stopped = self.stop_requested.is_set()
        self.state = PlayState.IDLE
        self.stop_requested.clear()
        self.app.main.run_ended()
        if message.error:
            self.app.notify(message.error, title="the run failed", severity="error", timeout=8)
        self.app.after_motion(select=True)
        if job in (Job.CONTINUE, Job.REVERSE) and not message.error:
            self._landed(job, message.outcome, stopped)
        self.app.redraw()            # now, not later: whoever sees IDLE sees the final state
        if after is not None and not message.error:
            after()

    def _landed(self, job: Job, outcome, stopped: bool) -> None:
        """After a continue: stand on the hit's node, or say why it stopped elsewhere."""
        st = self.app.stepper
        name = "reverse-continue" if job is Job.REVERSE else "continue"
        if isinstance(outcome, Stop):
            self.app.selected = outcome.node
        elif stopped:
            self.app.notify(f"{name} stopped at iteration {st.iteration:,}", timeout=2)
        elif outcome is None:
            where = "no earlier hit: back where it started" if job is Job.REVERSE else "no hit: the replay ended"
            self.app.notify(f"{name}: {where}", timeout=3)


def train(st: Stepper, count: int, stop: threading.Event, post, *, then: int | None = None,
          start: int | None = None, back: int | None = None) -> None:
    """The run's thread: `count` iterations in timed slices, a RunProgress about RUN_FRAME apart, then RunDone.

    start: seek there first; then: a tick to go to at the end unless stopped; back: a tick to return to
    whatever happens. Nothing here touches a widget; post is the app's thread-safe post_message."""
    size, due = 16, time.monotonic() + RUN_FRAME
    error = None
    try:
        if start is not None:
            st.seek(start)
        anomaly = None
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
        if then is not None and anomaly is None and not stop.is_set():
            st.seek(then)
    except Exception as e:           # reported in the UI; the Stepper is still consistent
        error = f"{type(e).__name__}: {e}"
    if back is not None:             # before RunDone: from then on the UI reads the Stepper
        try:
            st.seek(back)
        except Exception as e:
            error = error or f"{type(e).__name__}: {e}"
    post(RunDone(error))


def hunt(st: Stepper, reverse: bool, stop: threading.Event, post) -> None:
    """Continue's thread: to the next hit (or back to the previous one), a RunProgress about HUNT_FRAME
    apart with the iteration reached, then RunDone with what the engine returned."""
    due = time.monotonic() + HUNT_FRAME

    def tell(iteration: int, loss: float | None) -> None:
        nonlocal due
        now = time.monotonic()
        if now >= due:
            due = max(due + HUNT_FRAME, now)
            post(RunProgress(iteration, loss))
    try:
        if reverse:              # no progress callback: its stop check runs between chunks, and says where
            outcome = st.reverse_continue(should_stop=lambda: tell(st.iteration, None) or stop.is_set())
        else:
            outcome = st.continue_(progress=lambda it: tell(it, st.loss_at(it)), should_stop=stop.is_set)
    except Exception as e:           # reported in the UI; the Stepper is still consistent
        post(RunDone(f"{type(e).__name__}: {e}"))
        return
    post(RunDone(outcome=outcome))
