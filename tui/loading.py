"""Loading a scenario for the app: a new Stepper at the old position, or a sentence saying why not.

Nothing here imports textual. Every failure, an engine bug included, becomes a message: the app
keeps running and keeps showing the last good version.
"""
from __future__ import annotations

from dataclasses import dataclass

from gradstep.engine import ScenarioError, Stepper, load_scenario

from .watch import FileWatch, Version, stamp

RESTORE_LIMIT = 1000          # a reload returns to the same tick up to this iteration (the caller checks)


@dataclass(frozen=True)
class Loaded:
    """A scenario that loaded, and the files to watch from now on."""

    stepper: Stepper
    watch: FileWatch


@dataclass(frozen=True)
class Failed:
    """A scenario that did not load: why, and the version of the file that failed (None if unreadable)."""

    message: str
    version: Version | None


def load(watch: FileWatch, resume: int | None = None) -> Loaded | Failed:
    """Load watch.path; resume: a tick to return to (a reload's; RESTORE_LIMIT bounds how far it goes).
    It runs off the UI thread: it reads no Stepper but the one it makes."""
    path = watch.path
    version = None
    try:
        version = watch.look()       # before reading: an edit made during the load shows at the next poll
        scenario = load_scenario(path)
        st = Stepper(scenario)
        if resume is not None:
            st.seek(min(resume, st.total_ticks))
    except ScenarioError as e:
        return Failed(str(e), version)
    except (OSError, UnicodeError) as e:
        return Failed(f"{path}: {getattr(e, 'strerror', None) or e}", version)
    except Exception as e:           # an engine bug must not take the app down
        return Failed(f"{path}: {type(e).__name__}: {e}", version)
    data = scenario.data
    source = path.parent / data.source if data is not None and data.source != "inline" else None
    new = FileWatch(path, source)
    if source != watch.data:         # a data file not stamped before the load: stamp it now
        try:
            version = Version(version.scenario, stamp(source) if source is not None else None)
        except OSError:
            version = Version(version.scenario, None)
    new.seen = version
    return Loaded(st, new)
