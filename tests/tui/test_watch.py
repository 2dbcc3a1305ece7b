"""The file watch, without an app: edits, replacements, deletions and CSV edits are each seen once; nothing else is."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gradstep.tui.watch import Change, FileWatch


@pytest.fixture
def files(tmp_path):
    """A scenario and its CSV, watched and marked as loaded."""
    scenario = tmp_path / "fit.toml"
    scenario.write_text('[scenario]\ntitle = "fit"\n')
    csv = tmp_path / "fit.csv"
    csv.write_text("x,y\n1,2\n")
    watch = FileWatch(scenario, csv)
    watch.seen = watch.look()
    return watch


def later(path, seconds: int = 2) -> None:
    """Move the mtime on, so a save is visible whatever the file system's time resolution."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def loaded(watch: FileWatch) -> None:
    """What the app does after a successful load: the current version becomes the one seen."""
    watch.seen = watch.look()


def test_nothing_changes_nothing_is_reported(files):
    assert [files.poll() for _ in range(3)] == [Change.NONE] * 3


def test_an_edit_in_place_is_seen_once_loaded(files):
    files.path.write_text('[scenario]\ntitle = "fit, edited"\n')
    later(files.path)
    assert files.poll() is Change.CHANGED
    assert files.poll() is Change.CHANGED            # until the app loads it (or tries to)
    loaded(files)
    assert files.poll() is Change.NONE


def test_a_same_size_edit_that_keeps_the_mtime_is_seen(files):
    before = files.path.stat()
    files.path.write_text(files.path.read_text().replace("fit", "fat"))
    os.utime(files.path, ns=(before.st_atime_ns, before.st_mtime_ns))    # as cp -p or tar would
    assert files.path.stat().st_size == before.st_size
    assert files.poll() is Change.CHANGED            # the ctime moved


def test_a_file_replaced_by_rename_is_seen(files):
    new = files.path.with_name("fit.toml.swp")
    new.write_text(files.path.read_text())           # the same bytes, a new inode
    os.replace(new, files.path)
    assert files.poll() is Change.CHANGED


def test_a_deleted_file_is_reported_once_and_its_return_is_a_change(files):
    text = files.path.read_text()
    files.path.unlink()
    assert files.poll() is Change.MISSING and files.missing
    assert files.poll() is Change.NONE               # said once
    files.path.write_text(text)
    assert files.poll() is Change.CHANGED and not files.missing


def test_a_file_that_comes_back_unchanged_is_still_reloaded(files):
    """Moved away and back: the stamps may all match, but the app showed it as missing."""
    away = files.path.with_name("away.toml")
    os.rename(files.path, away)
    assert files.poll() is Change.MISSING
    os.rename(away, files.path)
    assert files.poll() is Change.CHANGED


def test_the_csv_edited_deleted_and_restored_is_seen(files):
    csv = files.data
    csv.write_text("x,y\n1,2\n3,4\n")
    later(csv)
    assert files.poll() is Change.CHANGED
    loaded(files)
    text = csv.read_text()
    csv.unlink()
    assert files.poll() is Change.CHANGED            # a scenario without its data must be reloaded (and fail)
    loaded(files)
    assert files.poll() is Change.NONE
    csv.write_text(text)
    assert files.poll() is Change.CHANGED


def test_without_a_csv_only_the_scenario_is_watched(tmp_path):
    scenario = tmp_path / "a.toml"
    scenario.write_text("[scenario]\n")
    stray = tmp_path / "a.csv"
    watch = FileWatch(scenario)
    loaded(watch)
    stray.write_text("x\n1\n")
    assert watch.poll() is Change.NONE


def test_a_folder_in_place_of_the_file_is_a_change_not_a_crash(files):
    files.path.unlink()
    files.path.mkdir()
    assert files.poll() is Change.CHANGED            # the load then fails with a message


def test_the_watch_imports_no_textual():
    code = "import sys, gradstep.tui.watch; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
