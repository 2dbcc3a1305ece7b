"""Benchmark: the TUI at the scale of real models (issue 15) — every key within a frame.

The real app runs headless at 160×50 in this process, as in tui_latency.py: a key goes in through the
driver, and the clock stops at the end of the first frame that shows its result (headless.py). Keys
are pressed a quarter second apart, as a person would, so nothing stays warm between them (BLAS's
thread pool, the CPU's caches). On the wide net (784 → 256 → 10, batch 64), the bundled LeNet and
attention scenarios, a 20,000-node chain, and the two-layer net for comparison, it times:

- `n` (one step) and `p` (one step back), with the replay started over at its end;
- selecting a node (`k`, the line above, after the forward pass);
- moving the Element pane's cursor (`right`, with the pane focused on the biggest param);
- the first screen, as a whole process in a pseudo-terminal (spawn to the title on screen);
- playback at max speed on the wide net: frames per second while it trains;
- memory: the TUI process's peak resident size stepping a whole wide-net iteration, against a process
  that loads the same scenario and steps the same iteration with the Stepper alone.

    python -m bench.tui_scale [--quick] [--only wide lenet attention chain two]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gradstep.engine import load_scenario
from gradstep.scenarios import bundled_dir

from . import chain, wide_net
from .headless import Probe, clock, make_app, settle
from .report import Figure, line, section, table
from .startup import gradstep_command, ready_in_pty

SIZE = (160, 50)
MEDIAN_MS, WORST_MS = 16.0, 50.0
FIRST_S = 0.8
FPS = 10.0
MEMORY = 2.0
GAP = 0.25                 # seconds between keys, as typed
CHAIN = 20_000


def scenarios(folder: Path) -> dict[str, Path]:
    """The scenarios measured, written where they need data or a size of their own."""
    shutil.copy(wide_net.SCENARIO, folder / "wide_net.toml")
    wide_net.write_data(folder)
    (folder / "chain.toml").write_text(chain.chain_toml(CHAIN))
    return {"two-layer": bundled_dir() / "two_layer.toml", "wide net": folder / "wide_net.toml",
            "LeNet": bundled_dir() / "lenet_digits.toml", "attention": bundled_dir() / "attention.toml",
            f"{CHAIN:,}-node chain": folder / "chain.toml"}


def biggest_param(st) -> int:
    p = st.program
    return max(p.params, key=lambda i: p.nodes[i].size) if p.params else p.loss


async def measure(path: Path, keys: int, gap: float = GAP) -> dict[str, list[float]]:
    """Milliseconds from key to frame, per kind of key (keys `gap` seconds apart)."""
    app = make_app(path)
    out: dict[str, list[float]] = {"n": [], "p": [], "select": [], "cursor": []}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.3)
        probe = Probe(app, ("step", "back", "select_up"))
        arrow = app.main.action_arrow                     # the element cursor's key is the screen's action
        log: list[tuple[float, float]] = []
        probe.actions["arrow"] = log

        async def timed_arrow(key: str, action: str):      # Textual passes as many arguments as are named
            t0 = clock()
            try:
                return await arrow(key, action)
            finally:
                log.append((t0, clock()))
        app.main.action_arrow = timed_arrow
        st = app.stepper

        async def press(key: str, action: str, bucket: str, redraws: bool = True) -> None:
            await asyncio.sleep(gap)
            await settle(pilot)
            r = await probe.key(key, action, redraws=redraws)
            if r is not None:
                out[bucket].append(r["total"] * 1e3)

        for _ in range(keys):
            if st.at_end:
                st.seek(0)
                app.after_motion()
            await press("n", "step", "n")
        for _ in range(keys):
            if st.at_start:
                break
            await press("p", "back", "p")
        st.run_phase()                                    # the forward pass done: every line has a value
        app.after_motion()
        app.selected = app.main.graph.neighbour(st.program.loss, 0)
        for _ in range(keys):
            await press("k", "select_up", "select")
        app.selected = biggest_param(st)
        await settle(pilot, 0.1)
        await pilot.press("t")
        await settle(pilot, 0.1)
        for k in range(keys):
            await press("left" if k % 4 == 3 else "right", "arrow", "cursor", redraws=False)
    return out


async def memory_steps(path: Path) -> None:
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.2)
        for _ in range(app.stepper.per_iteration):
            await pilot.press("n")
        await settle(pilot, 0.2)


def peak_rss_mb(code: str) -> float:
    """Peak resident size of a fresh Python process running code (MB)."""
    # VmHWM, not getrusage's ru_maxrss, which Linux carries over from the parent across exec.
    done = subprocess.run([sys.executable, "-c", code + "\nimport re; print(int(re.search(r'VmHWM:\\s+(\\d+)', "
                           "open('/proc/self/status').read()).group(1)) / 1024)"],
                          capture_output=True, text=True, timeout=300)
    return float(done.stdout.strip().splitlines()[-1])


def memory(path: Path) -> tuple[float, float]:
    engine = (f"from gradstep.engine import Stepper, load_scenario\nst = Stepper(load_scenario({str(path)!r}))\n"
              "for _ in range(st.per_iteration): st.step()")
    tui = (f"import asyncio, sys\nsys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
           f"from bench.tui_scale import memory_steps\nasyncio.run(memory_steps(__import__('pathlib').Path({str(path)!r})))")
    return peak_rss_mb(engine), peak_rss_mb(tui)


def long_replay(path: Path, folder: Path, steps: int) -> Path:
    out = folder / f"long_{path.name}"
    out.write_text(re.sub(r"(?m)^steps\s*=\s*\d+", f"steps = {steps}", path.read_text()))
    return out


def summary_of(ms: list[float]) -> tuple[float, float]:
    return statistics.median(ms), max(ms)


def run(quick: bool, only: list[str] | None = None) -> tuple[list[Figure], bool]:
    section("TUI at scale: key to frame on big tensors and big graphs (headless 160×50, keys 0.25 s apart)")
    keys, gap = (3, 0.05) if quick else (20, GAP)        # --quick: a smoke run of every path, rough figures
    figures = []
    with tempfile.TemporaryDirectory(prefix="gradstep-bench-") as tmp:
        folder = Path(tmp)
        cases = scenarios(folder)
        for label, path in cases.items():
            if only and not any(o.lower() in label.lower() for o in only):
                continue
            m = asyncio.run(measure(path, keys, gap))
            parts = []
            ok = True
            for kind in ("n", "p", "select", "cursor"):
                if not m[kind]:
                    parts.append(f"{kind} –")
                    continue
                med, worst = summary_of(m[kind])
                parts.append(f"{kind} {med:.1f}/{worst:.0f}")
                ok &= med <= MEDIAN_MS and worst <= WORST_MS
            line(f"{label}: median/worst ms — " + ", ".join(parts))
            if label != "two-layer":
                figures.append(Figure(f"TUI keys on the {label} (n, p, select, cursor: median/worst ms)",
                                      ", ".join(parts), f"≤ {MEDIAN_MS:g} / {WORST_MS:g} ms", ok))
            else:
                figures.append(Figure("TUI keys on the two-layer net, same run (median/worst ms)", ", ".join(parts),
                                      "for scale", None))
        gradstep = gradstep_command()
        for label in ("wide net", f"{CHAIN:,}-node chain"):
            if only and not any(o.lower() in label.lower() for o in only):
                continue
            path = cases[label]
            title = load_scenario(path).title
            readies = [r for r in (ready_in_pty([gradstep, str(path)], title, timeout=30)[0]
                                   for _ in range(1 if quick else 3)) if r is not None]
            if readies:
                first = statistics.median(readies)
                line(f"first screen, {label}, whole process: median {first:.2f} s ({', '.join(f'{r:.2f}' for r in readies)})")
                figures.append(Figure(f"TUI first screen, {label} (whole process)", f"{first:.2f} s",
                                      f"≤ {FIRST_S} s", first <= FIRST_S))
            else:
                figures.append(Figure(f"TUI first screen, {label} (whole process)", "never appeared",
                                      f"≤ {FIRST_S} s", False))
        # A second opinion through a real pseudo-terminal: key n to the bytes the app writes back.
        from .startup import keys_in_pty
        for label in ("two-layer", "wide net"):
            if only and not any(o.lower() in label.lower() for o in only):
                continue
            path = cases[label]
            got = keys_in_pty([gradstep, str(path)], load_scenario(path).title, presses=5 if quick else 20,
                              gap=0.05 if quick else GAP)
            if got:
                first = statistics.median(a for a, _ in got) * 1e3
                end, worst = statistics.median(b for _, b in got) * 1e3, max(b for _, b in got) * 1e3
                line(f"through a pseudo-terminal, {label}: n to the first byte back median {first:.1f} ms, to the end of "
                     f"its burst median {end:.1f} ms, worst {worst:.0f} ms ({len(got)} keys)")
                figures.append(Figure(f"TUI key n through a pseudo-terminal, {label}: first byte / end of burst "
                                      "(median), worst", f"{first:.1f} / {end:.1f} ms, {worst:.0f} ms",
                                      "second opinion", None))
        if not only or any("wide" in o for o in only):
            from .tui_playback import play
            path = long_replay(cases["wide net"], folder, 100_000)      # within MAX_TOTAL_WORK
            p = asyncio.run(play(path, 0.8 if quick else 3.0))
            line(f"playback at max speed on the wide net: {p['fps']:.1f} frames/s, {p['rate']:,.0f} iterations/s")
            figures.append(Figure("Playback at max speed on the wide net: frames per second", f"{p['fps']:.1f}",
                                  f"≥ {FPS:g}", p["fps"] >= FPS))
            engine, tui = memory(cases["wide net"])
            line(f"memory, wide net, one iteration stepped: engine alone {engine:.0f} MB, TUI {tui:.0f} MB peak RSS")
            figures.append(Figure("TUI memory on the wide net ÷ the engine's (peak RSS)",
                                  f"{tui / engine:.2f}× ({tui:.0f} MB vs {engine:.0f} MB)", f"≤ {MEMORY:g}×",
                                  tui / engine <= MEMORY))
    return figures, True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.tui_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="wide, lenet, attention, chain, two")
    args = parser.parse_args()
    figures, _ = run(args.quick, args.only)
    print()
    print(table(figures))
