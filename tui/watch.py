"""Noticing that a scenario changed on disk: stat-based polling of the scenario file and its CSV data.

The app calls poll() once a second and decides what to do; nothing here imports textual, so it is
tested without an app.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

Stamp = tuple[int, int, int, int]


class Change(enum.Enum):
    """What a poll found."""

    NONE = "none"            # nothing new since the last look
    CHANGED = "changed"      # the scenario or its data is not the version last loaded: reload it
    MISSING = "missing"      # the scenario file has just gone (reported once, until it comes back)


def stamp(path: Path) -> Stamp:
    """What tells one version of a file from another; OSError if it cannot be read."""
    s = path.stat()
    # inode and ctime too: a same-size save within a coarse mtime tick, or a copy that keeps the
    # old mtime (cp -p, tar), still changes them.
    return (s.st_mtime_ns, s.st_size, s.st_ino, s.st_ctime_ns)


@dataclass(frozen=True)
class Version:
    """The stamps of a scenario file and of its data file (None: no data file, or it is missing)."""

    scenario: Stamp
    data: Stamp | None


class FileWatch:
    """A scenario file and the CSV it reads: the version last loaded, and whether the file is missing."""

    def __init__(self, path: Path, data: Path | None = None):
        self.path = Path(path)
        self.data = data                       # the CSV beside the scenario, if it reads one
        self.seen: Version | None = None       # the version last loaded (or last tried)
        self.missing = False                   # the scenario file was gone at the last poll

    def look(self) -> Version:
        """The files' version now; OSError if the scenario file cannot be read."""
        data = None
        if self.data is not None:
            try:
                data = stamp(self.data)
            except OSError:
                data = None
        return Version(stamp(self.path), data)

    def poll(self) -> Change:
        """Compare the files with the version last loaded."""
        try:
            now = self.look()
        except OSError:
            if self.missing:
                return Change.NONE
            self.missing = True
            return Change.MISSING
        if now != self.seen or self.missing:
            self.missing = False
            return Change.CHANGED
        return Change.NONE
