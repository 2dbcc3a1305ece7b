"""Loading for the app, without an app: a failure is a message and a version, never an exception; a success watches the CSV too."""
from __future__ import annotations

import subprocess
import sys

from gradstep.tui import loading
from gradstep.tui.watch import Change, FileWatch

from tuitest import BUNDLED, CHAIN


def test_a_broken_file_is_a_message_naming_it_and_the_version_that_failed(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[graph]\ny = "x +"\n')
    result = loading.load(FileWatch(path))
    assert isinstance(result, loading.Failed)
    assert "bad.toml" in result.message and "Traceback" not in result.message
    assert result.version is not None and result.version == FileWatch(path).look()


def test_a_missing_file_is_a_message_without_a_version(tmp_path):
    result = loading.load(FileWatch(tmp_path / "nowhere.toml"))
    assert isinstance(result, loading.Failed) and "nowhere.toml" in result.message
    assert result.version is None


def test_a_scenario_with_data_watches_its_csv(scenario_copy):
    path = scenario_copy(BUNDLED / "linear_regression.toml")
    result = loading.load(FileWatch(path))
    assert isinstance(result, loading.Loaded)
    assert result.watch.path == path and result.watch.data == path.with_name("linear_regression.csv")
    assert result.watch.poll() is Change.NONE                 # the version loaded is the one seen
    result.watch.data.write_text(result.watch.data.read_text() + "1.0,2.0\n")
    assert result.watch.poll() is Change.CHANGED


def test_a_reload_returns_to_the_previous_tick(scenario_copy):
    path = scenario_copy(CHAIN)
    first = loading.load(FileWatch(path))
    first.stepper.step()
    first.stepper.step()
    again = loading.load(first.watch, first.stepper.tick)
    assert again.stepper is not first.stepper and again.stepper.tick == 2


def test_loading_imports_no_textual():
    code = "import sys, gradstep.tui.loading; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
