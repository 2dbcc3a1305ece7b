"""Benchmark 7: playback at speed "max" — frames per second, key latency, and training speed beneath.

The real app (headless, 160×50) plays a two-layer replay of 1,000,000 iterations at full speed
(training in a worker thread). Over a window it counts frames, presses a harmless key (z, fold
all) every quarter second and times it to the next frame, and reads the iterations reached from
the progress messages. For comparison the bare engine then trains the same replay in this
process, as `gradstep run` does: Stepper.run_iterations with its default chunk, nothing else running.
"""
from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

from gradstep.engine import Stepper, load_scenario

from gradstep.scenarios import bundled_dir

from .headless import Probe, clock, make_app, record_progress, settle
from .report import Figure, line, section

FPS_TARGET = 10.0         # the screen still updates at least this often while training
KEY_TARGET_MS = 100.0
SPEED_TARGET = 0.9        # training beneath the UI at least this × the bare engine
STEPS = 1_000_000
SIZE = (160, 50)


def long_replay(folder: Path) -> Path:
    """The bundled two-layer scenario with a replay long enough to play for seconds."""
    text = (bundled_dir() / "two_layer.toml").read_text()
    path = folder / "two_layer_long.toml"
    path.write_text(re.sub(r"(?m)^steps\s*=\s*\d+", f"steps = {STEPS}", text))
    return path


def bare_rate(path: Path, seconds: float) -> float:
    """Iterations per second of the bare engine: Stepper.run_iterations alone, default chunk, large calls."""
    st = Stepper(load_scenario(path))
    st.run_iterations(1024)                     # warm-up
    done = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        st.run_iterations(4096)
        done += 4096
    return done / (time.perf_counter() - t0)


async def play(path: Path, window: float) -> dict:
    from gradstep.tui.playback import SPEEDS, PlayState
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.2)
        probe = Probe(app, ("play", "toggle_all", "stop"))
        progress = record_progress(app)
        app.playback.speed = SPEEDS.index(0)        # "max": whole iterations in a thread
        await settle(pilot)
        start_key = await probe.key("space", "play", redraws=False)
        await asyncio.sleep(0.2)
        t0, frames0 = clock(), len(probe.frames)
        keys = []
        while clock() - t0 < window:
            await asyncio.sleep(0.25)
            r = await probe.key("z", "toggle_all", timeout=1.0)
            keys.append(r["total"] if r is not None else None)
        t1 = clock()
        frames = [f for f in probe.frames[frames0:] if t0 <= f[0] <= t1]
        t_stop = clock()
        stop_key = await probe.key("escape", "stop", redraws=False)
        while app.playback.state is not PlayState.IDLE and clock() - t_stop < 2.0:
            await asyncio.sleep(0.001)
        running = app.playback.state
        stopped = clock() - t_stop if running is PlayState.IDLE else None
    seen = [(t, it) for t, it in progress if t0 <= t <= t1]
    gaps = [b[0] - a[0] for a, b in zip(frames, frames[1:])]
    return {"fps": len(frames) / (t1 - t0), "gap": max(gaps) if gaps else None, "keys": keys,
            "rate": (seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0]) if len(seen) > 1 else 0.0,
            "start": start_key, "stop": stop_key, "stopped": stopped, "running": running}


def run(quick: bool) -> tuple[list[Figure], bool]:
    section('7. Playback at speed "max": frames, keys and training speed beneath')
    window = 0.6 if quick else 3.0
    with tempfile.TemporaryDirectory(prefix="gradstep-bench-") as tmp:
        path = long_replay(Path(tmp))
        before = bare_rate(path, 0.3 if quick else 1.0)
        m = asyncio.run(play(path, window))
        after = bare_rate(path, 0.3 if quick else 1.0)
    bare = (before + after) / 2
    ratio = m["rate"] / bare
    answered = [k for k in m["keys"] if k is not None]
    worst = max(answered) * 1e3 if answered else float("inf")
    line(f"{window:g} s window: {m['fps']:.1f} frames/s, longest gap between frames "
         + (f"{m['gap'] * 1e3:.0f} ms" if m["gap"] is not None else "–"))
    line(f"keys during playback (z, every 0.25 s): {len(answered)}/{len(m['keys'])} answered, median "
         + (f"{statistics.median(answered) * 1e3:.1f} ms, max {worst:.1f} ms" if answered else "–"))
    line(f"training beneath the UI: {m['rate']:,.0f} iterations/s; bare Stepper.run_iterations "
         f"{bare:,.0f} iterations/s ({ratio:.2f}×)")
    if m["start"] is not None:
        line(f"space → first frame of the run: {m['start']['total'] * 1e3:.1f} ms")
    line("escape → run stopped (RunDone handled): " + (f"{m['stopped'] * 1e3:.0f} ms" if m["stopped"] is not None
                                     else f"still {m['running']!r} after 2 s"))
    return [
        Figure("Playback at max speed: frames per second", f"{m['fps']:.1f}", f"≥ {FPS_TARGET:g}",
               m["fps"] >= FPS_TARGET),
        Figure("Playback: key to next frame (worst)", f"{worst:.1f} ms ({len(answered)}/{len(m['keys'])} keys)",
               f"≤ {KEY_TARGET_MS:g} ms", worst <= KEY_TARGET_MS and len(answered) == len(m["keys"])),
        Figure("Playback: training speed ÷ bare engine", f"{ratio:.2f}× ({m['rate']:,.0f} it/s)",
               f"≥ {SPEED_TARGET}×", ratio >= SPEED_TARGET),
    ], True
