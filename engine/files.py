"""The one bounded file reader: open without following tricks, check it is a regular file, read at most N bytes.

Both the scenario file and its CSV data go through read_regular, so a file swapped for a pipe, a
device or a symlink, or one that grows while it is read, is refused the same way everywhere.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Callable

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class FileProblem(Exception):
    """Why a file could not be read, in a sentence; the caller adds which file and which key."""


def read_at_most(fd: int, limit: int) -> bytes:
    """Up to limit + 1 bytes from a descriptor (one more than allowed, so the caller sees the excess)."""
    os.set_blocking(fd, True)
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_regular(fd: int, limit: int, limit_name: str) -> bytes:
    """The bytes of an open descriptor that must be a regular file of at most `limit` bytes."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem("is not a regular file (a folder, a device or a pipe cannot be read)")
    if info.st_size > limit:
        raise FileProblem(f"is {info.st_size:,} bytes; the limit ({limit_name}) is {limit:,}")
    raw = read_at_most(fd, limit)
    if len(raw) > limit:                  # a file that grew after fstat
        raise FileProblem(f"is more than {limit:,} bytes, the limit ({limit_name})")
    return raw


def read_file(path: Path, limit: int, limit_name: str) -> bytes:
    """A file by path, opened without blocking (a FIFO cannot hang the open) and checked on the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    except FileNotFoundError:
        raise FileProblem("does not exist") from None
    except OSError as e:
        raise FileProblem(f"cannot be read: {e.strerror or e}") from None
    try:
        return read_regular(fd, limit, limit_name)
    except OSError as e:
        raise FileProblem(f"cannot be read: {e.strerror or e}") from None
    finally:
        os.close(fd)


def read_inside(base_dir: Path, rel: str, limit: int, limit_name: str,
                refuse: Callable[[str], Exception], what: str = "file") -> bytes:
    """The bytes of a file inside base_dir, read without ever leaving it.

    Each path component is opened relative to the one before with O_NOFOLLOW, so no symlink is
    followed (not even one swapped in after a check). refuse(sentence) makes the caller's error;
    `what` names the file in it ("CSV file").
    """
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or rel.startswith("~") or "\x00" in rel or "\\" in rel:
        raise refuse(f"file {rel!r} must be a plain name inside the scenario's folder "
                     f"(no absolute paths, no '..')")
    parts = [x for x in p.parts if x != "."]
    if not parts:
        raise refuse(f"file {rel!r} names no file")
    flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC
    fds = []
    try:
        try:
            fds.append(os.open(base_dir, os.O_RDONLY | _DIRECTORY))
            for part in parts[:-1]:
                fds.append(os.open(part, flags | _DIRECTORY, dir_fd=fds[-1]))
            fds.append(os.open(parts[-1], flags, dir_fd=fds[-1]))
        except FileNotFoundError:
            raise refuse(f"the {what} {rel!r} does not exist beside the scenario") from None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise refuse(f"file {rel!r} goes through a symlink; data files must be plain files in "
                             f"the scenario's own folder") from None
            raise refuse(f"cannot read the {what} {rel!r}: {e.strerror or e}") from None
        try:
            return read_regular(fds[-1], limit, limit_name)
        except FileProblem as e:
            raise refuse(f"the {what} {rel!r} {e}") from None
    except OSError as e:
        raise refuse(f"cannot read the {what} {rel!r}: {e.strerror or e}") from None
    finally:
        for f in fds:
            os.close(f)
