"""Benchmark: continue in the TUI — frames per second while it runs, and escape to stopped.

The real app (headless, 160×50) continues on the two-layer net with a replay of 100,000 iterations
and a breakpoint that never holds, so the continue runs for seconds in its worker thread. Over a
window it counts frames and the progress messages that carry the iteration reached to the status
line; then escape is pressed and timed to the moment the app has handled RunDone (the Stepper is
the UI's again). That is repeated for a condition on the loss (vectorised over the loss curve) and
one on a node's value (probes between the fast path's calls).

    python -m bench.tui_continue [--quick]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
from pathlib import Path

from gradstep.scenarios import bundled_dir

from .headless import Probe, clock, make_app, record_progress, settle
from .report import Figure, line, section, table

STEPS = 100_000
SIZE = (160, 50)
FPS_TARGET = 10.0          # the issue: the screen updates at least 10 times a second with the iteration reached
STOP_TARGET_MS = 100.0     # and escape stops a continue within 100 ms
CONDITIONS = {"on the loss": "loss < 0", "on a node's value": "max(h) > 1e9"}


def replay(folder: Path) -> Path:
    text = (bundled_dir() / "two_layer.toml").read_text()
    path = folder / "two_layer_continue.toml"
    path.write_text(re.sub(r"(?m)^steps\s*=\s*\d+", f"steps = {STEPS}", text))
    return path


async def measure(path: Path, condition: str, window: float, rounds: int) -> dict:
    from gradstep.tui.playback import PlayState
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.2)
        app.debugger.breaks.add(app.stepper, condition)
        probe = Probe(app, ("continue", "stop"))
        progress = record_progress(app)
        fps, updates, stops = [], [], []
        for _ in range(rounds):
            if app.stepper.iteration > STEPS // 2:
                await pilot.press("home")
                await settle(pilot)
            await probe.key("greater_than_sign", "continue", redraws=False)
            await asyncio.sleep(0.15)
            t0, n0, p0 = clock(), len(probe.frames), len(progress)
            await asyncio.sleep(window)
            t1 = clock()
            if app.playback.state is not PlayState.RUN:
                continue                      # it reached the end within the window: no stop to time
            frames = [f for f in probe.frames[n0:] if t0 <= f[0] <= t1]
            fps.append(len(frames) / (t1 - t0))
            updates.append(len([p for p in progress[p0:] if t0 <= p[0] <= t1]) / (t1 - t0))
            t_key = clock()
            await probe.key("escape", "stop", redraws=False)
            while app.playback.state is not PlayState.IDLE and clock() - t_key < 2.0:
                await asyncio.sleep(0.001)
            stops.append(clock() - t_key if app.playback.state is PlayState.IDLE else float("inf"))
            await settle(pilot, 0.05)
    return {"fps": fps, "updates": updates, "stops": stops}


def run(quick: bool) -> tuple[list[Figure], bool]:
    section(f"Continue in the TUI on the two-layer net ({STEPS:,} iterations): frames, and escape to stopped")
    window, rounds = (0.3, 2) if quick else (0.6, 5)
    figures = []
    with tempfile.TemporaryDirectory(prefix="gradstep-bench-") as tmp:
        path = replay(Path(tmp))
        for label, condition in CONDITIONS.items():
            m = asyncio.run(measure(path, condition, window, rounds))
            if not m["stops"]:
                line(f"{label} ({condition}): every continue ended before the window closed")
                continue
            fps, upd = min(m["fps"]), min(m["updates"])
            worst, median = max(m["stops"]) * 1e3, statistics.median(m["stops"]) * 1e3
            line(f"{label} ({condition}): {len(m['stops'])} rounds; frames/s min {fps:.1f} (median "
                 f"{statistics.median(m['fps']):.1f}); iteration updates/s min {upd:.1f}; escape → stopped median "
                 f"{median:.0f} ms, max {worst:.0f} ms")
            figures += [
                Figure(f"Continue ({label}): iteration updates per second, worst round", f"{upd:.1f}",
                       f"≥ {FPS_TARGET:g}", upd >= FPS_TARGET),
                Figure(f"Continue ({label}): escape to stopped, worst of {len(m['stops'])}", f"{worst:.0f} ms",
                       f"≤ {STOP_TARGET_MS:g} ms", worst <= STOP_TARGET_MS),
            ]
    return figures, True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.tui_continue", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    figures, _ = run(parser.parse_args().quick)
    print()
    print(table(figures))
    sys.exit(0)
