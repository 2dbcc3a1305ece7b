"""Benchmark 6: TUI step latency, from the step key to the end of the next screen update.

The real app runs headless at 160×50; `n` goes in through the driver, and the clock stops at the
end of the first frame drawn after the panes have redrawn (see headless.py). Median of many keys.
"""
from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

from gradstep.scenarios import bundled_dir

from .headless import Probe, make_app, settle
from .report import Figure, line, section

TARGET_MS = 16.0
SIZE = (160, 50)


async def measure(path: Path, keys: int) -> list[dict]:
    app = make_app(path)
    out = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.2)
        probe = Probe(app, ("step",))
        for _ in range(keys):
            if app.stepper.at_end:
                app.stepper.seek(0)
                app.after_motion()
            await settle(pilot)
            r = await probe.key("n", "step")
            if r is not None:
                out.append(r)
    return out


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("6. TUI step latency: key n to the end of the next frame, headless 160×50")
    keys = 10 if quick else 60
    cases = [("two-layer", bundled_dir() / "two_layer.toml"),
             ("200-node graph", Path(__file__).parent / "scenarios" / "graph200.toml")]
    figures = []
    for label, path in cases:
        results = asyncio.run(measure(path, keys))
        if not results:
            line(f"{label}: no key produced a frame within 2 s")
            figures.append(Figure(f"TUI step latency, {label} (median)", "no frame", f"≤ {TARGET_MS:g} ms", False))
            continue
        med = {k: statistics.median(r[k] for r in results) * 1e3 for k in results[0]}
        p90 = sorted(r["total"] for r in results)[int(0.9 * (len(results) - 1))] * 1e3
        line(f"{label}: {len(results)} keys; median {med['total']:.1f} ms, p90 {p90:.1f} ms")
        line(f"  median parts: key→action {med['dispatch']:.1f}, action {med['action']:.1f}, panes redrawn "
             f"{med['redraw']:.1f}, wait for the 60 Hz frame timer {med['wait']:.1f}, draw the frame {med['draw']:.1f} ms")
        if len(results) < keys:
            line(f"  {keys - len(results)} keys produced no frame within 2 s")
        figures.append(Figure(f"TUI step latency, {label} (median)", f"{med['total']:.1f} ms (p90 {p90:.1f})",
                              f"≤ {TARGET_MS:g} ms", med["total"] <= TARGET_MS and len(results) == keys))
    return figures, True
