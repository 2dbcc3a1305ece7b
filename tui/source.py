"""The scenario on disk as the app sees it: open it, reload it when it or its data changes, and say
what went wrong while the last good version stays on screen (or, with none, on the error screen).

Loading runs in a background thread (background.py): a slow or huge file never freezes the UI, and q
and ctrl+c always work. The newest request wins; an older load that arrives later is dropped."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import loading
from .background import in_background, tell
from .screens.error import ErrorScreen
from .watch import Change, FileWatch

if TYPE_CHECKING:
    from .app import GradstepApp


class ScenarioSource:
    """The file shown (or failing to load), the version last loaded, and why the last load failed."""

    def __init__(self, app: GradstepApp, path: Path):
        self.app = app
        self.files = FileWatch(Path(path))
        self.error: str | None = None          # why the last load failed; None when it did not
        self.pending: Path | None = None       # the file a background load is reading, if any
        self._request = 0                      # the newest load asked for: older ones are dropped

    @property
    def path(self) -> Path:
        return self.files.path

    def load(self, path: Path, *, keep_position: bool, said: str = "") -> None:
        """Load a scenario in the background; on failure keep the last good one (or show the error screen).
        said: what to notify once it has loaded ("reloaded x.toml")."""
        app = self.app
        path = Path(path)
        files, old = (self.files, app.stepper) if path == self.path else (FileWatch(path), None)
        resume = old.tick if keep_position and old is not None and old.iteration <= loading.RESTORE_LIMIT else None
        self._request += 1
        request, self.pending = self._request, path
        if app.stepper is None:
            app.main.status.show_text(f"loading {path}…  (q quits)")
        in_background(lambda: tell(app, self._arrived, request, files, old, loading.load(files, resume), said),
                      "load")

    def _arrived(self, request: int, files: FileWatch, old, result, said: str) -> None:
        """A background load is done (on the UI thread)."""
        if request != self._request:
            return                               # a newer load was asked for meanwhile
        self.pending = None
        self.app.first_load.set()
        if isinstance(result, loading.Failed):
            self._failed(files, result)
            return
        self.files, self.error = result.watch, None
        self.app.adopt(result.stepper, reloaded=old is not None)
        if said:
            self.app.notify(said, timeout=2)

    def _failed(self, files: FileWatch, failed: loading.Failed) -> bool:
        app = self.app
        self.error = failed.message
        if failed.version is not None:
            files.seen = failed.version          # a broken version is not retried at every poll
        if app.stepper is not None and files is self.files:
            app.banner()
            app.notify(failed.message, title="reload failed: showing the last good version", severity="error",
                       timeout=6)
        elif app.stepper is not None:
            app.notify(failed.message, title="could not open the scenario", severity="error", timeout=8)
        else:
            self.files = files
            if isinstance(app.screen, ErrorScreen):
                app.screen.set_message(failed.message)
            else:
                app.push_screen(ErrorScreen(str(files.path), failed.message))
        return False

    def poll(self) -> None:
        """Reload when the scenario file or its data changes on disk; report a deleted file once."""
        app = self.app
        if app.playback.running or self.pending is not None:    # look again when the run or the load ends
            return
        change = self.files.poll()
        if change is Change.MISSING:
            app.banner()
            app.notify(f"{self.path} was deleted or cannot be read; showing the last good version",
                       severity="warning", timeout=6)
        elif change is Change.CHANGED:
            app.playback.stop()
            self.reload()

    def reload(self) -> None:
        self.load(self.path, keep_position=True, said=f"reloaded {self.path.name}")

    def open(self, path: Path) -> None:
        """Open another scenario (from the picker or the command palette)."""
        self.app.playback.stop()
        self.load(Path(path), keep_position=False, said=f"opened {Path(path).name}")

    def trouble(self) -> list[str]:
        """What the banner says about the file: a failed reload, or a missing file."""
        if self.error is not None:
            return [f"reload failed, showing the last good version: {self.error}"]
        if self.files.missing:
            return [f"{self.path} is missing: showing the last good version"]
        return []
