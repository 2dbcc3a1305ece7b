"""The background jobs' threads, without an app: timed slices give the same Stepper as one headless run, continue and reverse-continue give what the engine gives, a replay for the health history comes back where it was, a stop is honoured, and RunDone always comes last."""
from __future__ import annotations

import threading

from gradstep.engine import Stepper, load_scenario
from gradstep.tui.messages import RunDone, RunProgress
from gradstep.tui import playback
from gradstep.tui.playback import hunt, train

from tuitest import BUNDLED, LONG_RUN, TWO_LAYER, picture


def run(st: Stepper, count: int, stop: threading.Event | None = None) -> list:
    posted: list = []
    train(st, count, stop or threading.Event(), posted.append)
    return posted


def test_slices_end_where_one_headless_run_ends_bit_for_bit():
    st, headless = Stepper(load_scenario(TWO_LAYER)), Stepper(load_scenario(TWO_LAYER))
    st.step()                                  # mid-iteration: the first slice finishes it
    headless.step()
    posted = run(st, 37)
    headless.run_iterations(37)
    assert picture(st) == picture(headless)
    assert st.losses.tobytes() == headless.losses.tobytes()
    assert isinstance(posted[-1], RunDone) and posted[-1].error is None
    assert all(isinstance(m, RunProgress) for m in posted[:-1])


def test_progress_names_an_iteration_run_and_its_loss(monkeypatch):
    monkeypatch.setattr(playback, "RUN_FRAME", 0.0)          # a progress message after every slice
    st = Stepper(load_scenario(TWO_LAYER))
    progress = run(st, st.steps)[:-1]
    assert len(progress) >= 2                                 # slices of 16, then 32, ... iterations
    assert [m.iteration for m in progress] == sorted({m.iteration for m in progress})
    for m in progress:
        assert 1 <= m.iteration < st.steps and m.loss == float(st.losses[m.iteration - 1])


def test_a_stop_before_the_first_slice_runs_nothing():
    st = Stepper(load_scenario(TWO_LAYER))
    stop = threading.Event()
    stop.set()
    assert [type(m) for m in run(st, 100, stop)] == [RunDone] and st.tick == 0


def test_an_anomaly_ends_the_run_standing_on_it():
    st = Stepper(load_scenario(BUNDLED / "diverge.toml"))
    posted = run(st, st.steps)
    assert st.anomaly is not None and not st.at_end
    assert isinstance(posted[-1], RunDone) and posted[-1].error is None


def test_an_engine_error_becomes_the_runs_message():
    st = Stepper(load_scenario(TWO_LAYER))

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    st.run_iterations = broken
    posted = run(st, 10)
    assert len(posted) == 1 and posted[0].error == "RuntimeError: boom"


def test_continue_posts_progress_then_the_stop_the_engine_finds(monkeypatch):
    monkeypatch.setattr(playback, "HUNT_FRAME", 0.0)
    st, headless = Stepper(load_scenario(TWO_LAYER)), Stepper(load_scenario(TWO_LAYER))
    for s in (st, headless):
        s.add_breakpoint("loss < 0.001")
    stop = headless.continue_()
    posted: list = []
    hunt(st, False, threading.Event(), posted.append)
    assert isinstance(posted[-1], RunDone) and posted[-1].outcome == stop and picture(st) == picture(headless)
    progress = [m.iteration for m in posted[:-1]]
    assert progress and progress == sorted(progress) and progress[-1] <= stop.iteration
    posted = []
    hunt(st, True, threading.Event(), posted.append)            # no earlier hit: back where it was
    assert posted[-1].outcome is None and picture(st) == picture(headless)


def test_a_stopped_continue_ends_with_no_outcome_at_an_iteration_start():
    st = Stepper(load_scenario(LONG_RUN))
    st.add_breakpoint("loss < 0")
    stop = threading.Event()
    stop.set()
    posted: list = []
    hunt(st, False, stop, posted.append)
    assert [type(m) for m in posted] == [RunDone] and posted[0].outcome is None and posted[0].error is None
    assert st.tick % st.per_iteration == 0 and not st.at_end


def test_a_replay_for_the_health_history_comes_back_where_it_was():
    st = Stepper(load_scenario(TWO_LAYER))
    st.run_iterations(30)
    for _ in range(5):
        st.step()
    here = picture(st)
    seen: list[int] = []
    st.after_iteration = lambda it, plan: seen.append(it)
    posted: list = []
    train(st, 20, threading.Event(), posted.append, start=10 * st.per_iteration, back=st.tick)
    assert picture(st) == here and isinstance(posted[-1], RunDone) and posted[-1].error is None
    assert set(range(11, 31)) <= set(seen)
