"""The background run's thread, without an app: timed slices give the same Stepper as one headless run, a stop is honoured, and RunDone always comes last."""
from __future__ import annotations

import threading

from gradstep.engine import Stepper, load_scenario
from gradstep.tui.messages import RunDone, RunProgress
from gradstep.tui import playback
from gradstep.tui.playback import train

from tuitest import BUNDLED, TWO_LAYER, picture


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
