"""Benchmark 8: start-up, as whole-process figures.

- `gradstep --help` wall time;
- `gradstep run` never imports textual (checked with PYTHONPROFILEIMPORTTIME on the real command);
- the TUI ready for its first key: the real `gradstep SCENARIO` in a pseudo-terminal, timed from
  spawn until its first screen (with the scenario's title) has been written, then quit with q.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from gradstep.engine import load_scenario

from gradstep.scenarios import bundled_dir

from .report import Figure, line, section

HELP_TARGET = 0.15
READY_TARGET = 0.8
# Escape sequences (CSI, OSC, DCS and two-byte ones), stripped to find the text on the screen.
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


def gradstep_command() -> str:
    beside = Path(sys.executable).parent / "gradstep"
    return str(beside) if beside.exists() else (shutil.which("gradstep") or "gradstep")


def wall(cmd: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    return time.perf_counter() - t0, done


@contextlib.contextmanager
def in_pty(cmd: list[str]):
    """cmd in a 160×50 pseudo-terminal with a colour TERM: (process, master fd); killed and closed after.
    A timeout waiting for it, or the terminal closing under a read, ends the measurement quietly."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        yield proc, master
    except (subprocess.TimeoutExpired, OSError):
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)


def ready_in_pty(cmd: list[str], needle: str, timeout: float = 10.0) -> tuple[float | None, float | None]:
    """Seconds from spawn until `needle` is on the screen, and from pressing q until the process exits."""
    t0 = time.perf_counter()
    buf = b""
    ready = quit_s = None
    t_quit = 0.0
    with in_pty(cmd) as (proc, master):
        while time.perf_counter() - t0 < timeout and proc.poll() is None:
            r, _, _ = select.select([master], [], [], 0.01)
            if not r:
                continue
            try:
                buf += os.read(master, 1 << 16)
            except OSError:          # the child closed the terminal
                break
            if ready is None and needle in ANSI.sub(b"", buf).decode("utf-8", "replace"):
                ready = time.perf_counter() - t0
                t_quit = time.perf_counter()
                os.write(master, b"q")
        if ready is not None:
            proc.wait(timeout=5)
            quit_s = time.perf_counter() - t_quit
    return ready, quit_s


def keys_in_pty(cmd: list[str], needle: str, key: bytes = b"n", presses: int = 20, gap: float = 0.25,
                quiet: float = 0.05, timeout: float = 60.0) -> list[tuple[float, float]]:
    """The real app in a 160×50 pseudo-terminal, as a terminal sees it: for each press of `key` (once `needle`
    is on screen, `gap` seconds apart), the seconds from writing the key to the first byte the app writes
    back, and to the last byte of that burst (the burst ends after `quiet` seconds without a byte)."""
    out: list[tuple[float, float]] = []

    def drain(master: int, until: float) -> tuple[bytes, float | None, float | None]:
        got, first, last = b"", None, None
        while time.perf_counter() < until:
            r, _, _ = select.select([master], [], [], 0.005)
            if r:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:
                    break
                now = time.perf_counter()
                first = first if first is not None else now
                last, got = now, got + chunk
            elif last is not None and time.perf_counter() - last > quiet:
                break
        return got, first, last
    with in_pty(cmd) as (proc, master):
        t0, buf = time.perf_counter(), b""
        while needle not in ANSI.sub(b"", buf).decode("utf-8", "replace"):
            if time.perf_counter() - t0 > timeout or proc.poll() is not None:
                return out
            buf += drain(master, time.perf_counter() + 0.1)[0]
        drain(master, time.perf_counter() + 1.0)               # the first screen settles
        for _ in range(presses):
            drain(master, time.perf_counter() + gap)
            t = time.perf_counter()
            os.write(master, key)
            _, first, last = drain(master, t + 2.0)
            if first is not None:
                out.append((first - t, last - t))
        os.write(master, b"q")
        proc.wait(timeout=5)
    return out


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("8. Start-up, whole process")
    gradstep = gradstep_command()
    scenario = bundled_dir() / "two_layer.toml"
    repeats = 3 if quick else 7

    helps = []
    for _ in range(repeats):
        dt, done = wall([gradstep, "--help"])
        helps.append(dt)
    help_s = statistics.median(helps)
    line(f"gradstep --help: median {help_s * 1e3:.0f} ms over {repeats} runs (exit code {done.returncode})")

    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    run_s, done = wall([gradstep, "run", str(scenario)], env)
    imported = re.findall(r"\|\s+(textual[\w.]*)\s*$", done.stderr, re.M)
    line(f"gradstep run {scenario.name}: {run_s * 1e3:.0f} ms, exit code {done.returncode}, "
         + (f"IMPORTS textual ({len(imported)} modules, first {imported[0]})" if imported else "textual not imported"))

    title = load_scenario(scenario).title
    readies, quits = [], []
    for _ in range(max(2, repeats - 2)):
        ready, quit_s = ready_in_pty([gradstep, str(scenario)], title)
        if ready is not None:
            readies.append(ready)
        if quit_s is not None:
            quits.append(quit_s)
    if readies:
        ready_s = statistics.median(readies)
        line(f"gradstep {scenario.name} in a 160×50 pseudo-terminal: first screen after median "
             f"{ready_s * 1e3:.0f} ms (runs: {', '.join(f'{r * 1e3:.0f}' for r in readies)} ms)"
             + (f"; q to exit {statistics.median(quits) * 1e3:.0f} ms" if quits else ""))
        ready_fig = Figure("TUI ready for the first key (whole process)", f"{ready_s:.2f} s",
                           f"≤ {READY_TARGET} s", ready_s <= READY_TARGET)
    else:
        line(f"gradstep {scenario.name}: the title {title!r} never appeared on the screen within 10 s")
        ready_fig = Figure("TUI ready for the first key (whole process)", "never appeared", f"≤ {READY_TARGET} s",
                           False)
    return [
        Figure("`gradstep --help` (whole process)", f"{help_s:.3f} s", f"≤ {HELP_TARGET} s", help_s <= HELP_TARGET),
        Figure("`gradstep run` imports textual", "yes" if imported else "no", "no",
               not imported and done.returncode == 0),
        ready_fig,
    ], True
