"""Benchmark 4: record 100,000 iterations of the two-layer net, then seek back to random iterations.

History keeps sparse checkpoints and recomputes the rest, so its memory is a size, not a time.
Every seek is checked bit for bit against params recorded while the run went forward: snapshots
taken during the recording itself, and a second, straight run cut at each target.
"""
from __future__ import annotations

import time

import numpy as np

from gradstep.engine import Stepper, load_scenario

from gradstep.scenarios import bundled_dir

from .report import Figure, line, section

MB = 1e6
MEMORY_TARGET = 64 * MB
SEEK_TARGET_MS = 50.0


def straight_run(scenario, steps: int, targets: list[int]) -> tuple[dict[int, dict], np.ndarray]:
    """Params at the start of each target iteration from a second, straight fast-path run, and its losses.

    run_iterations ends on the params it just computed (History.latest), so cutting the run at
    each target recomputes nothing: each segment carries on from where the previous one stopped.
    """
    st = Stepper(scenario, steps=steps)
    at: dict[int, dict] = {}
    for target in sorted(set(targets)):
        assert st.run_iterations(target - st.iteration) is None, "unexpected anomaly"
        assert st.iteration == target and st.cursor.index == 0
        at[target] = {k: v.copy() for k, v in st.params().items()}
    return at, st.losses


def same_bits(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a)


def run(quick: bool) -> tuple[list[Figure], bool]:
    steps = 10_000 if quick else 100_000
    seeks = 10 if quick else 50
    section(f"4. Time travel: record {steps:,} iterations of the two-layer net, seek back at random")
    scenario = load_scenario(bundled_dir() / "two_layer.toml")
    st = Stepper(scenario, steps=steps)
    snapshots: dict[int, dict] = {}

    def on_chunk(done: int) -> None:
        # Every 32nd chunk, keep the params the recording run reached (History.latest is set by it).
        if (done // 256) % 32 == 1:
            it, params = st.history.latest
            snapshots[it] = {k: v.copy() for k, v in params.items()}

    t0 = time.perf_counter()
    st.run_iterations(steps, progress=on_chunk)
    record_s = time.perf_counter() - t0
    per_param = sum(scenario.initial[i].nbytes for i in scenario.program.params)
    naive = steps * per_param
    held = st.history.nbytes()
    line(f"recorded {steps:,} iterations in {record_s:.2f} s ({record_s / steps * 1e6:.1f} µs per iteration), "
         f"checkpoint every {st.history.every} iterations")
    line(f"History.nbytes() = {held / MB:.1f} MB; every weight at every iteration would take "
         f"{naive / MB:,.0f} MB ({naive / held:.0f}× more)")

    rng = np.random.default_rng(4)
    targets = [int(t) for t in rng.integers(1, steps, seeks)]
    straight, straight_losses = straight_run(scenario, steps, targets + list(snapshots))
    losses_ok = straight_losses.tobytes() == st.losses[:len(straight_losses)].tobytes()

    times_ms = []
    mismatches = []
    for target in targets:
        st.seek(st.total_ticks)                      # from the end, each time
        t0 = time.perf_counter()
        st.seek_iteration(target)
        times_ms.append((time.perf_counter() - t0) * 1e3)
        if st.iteration != target or not same_bits(st.params(), straight[target]):
            mismatches.append(target)
    for it, params in snapshots.items():
        st.seek(st.total_ticks)
        st.seek_iteration(it)
        if not (same_bits(st.params(), params) and same_bits(params, straight[it])):
            mismatches.append(it)
    t = np.array(times_ms)
    line(f"{seeks} seeks from the end to random iterations: median {np.median(t):.2f} ms, "
         f"max {t.max():.2f} ms")
    checked = len(targets) + len(snapshots)
    line(f"bit-identical params at {checked - len(mismatches)} of {checked} iterations "
         f"({len(snapshots)} snapshots from the recording, {len(targets)} from a straight fast-path run); "
         f"loss curve {'bit-identical' if losses_ok else 'DIFFERS'}")
    if mismatches:
        line(f"MISMATCH at iterations {sorted(mismatches)[:10]}")
    exact = not mismatches and losses_ok
    return [
        Figure(f"History memory, {steps:,} iterations", f"{held / MB:.1f} MB (naive {naive / MB:,.0f} MB)",
               f"≤ {MEMORY_TARGET / MB:.0f} MB", held <= MEMORY_TARGET),
        Figure("Seek from the end to a random iteration", f"median {np.median(t):.2f} ms, max {t.max():.2f} ms",
               f"≤ {SEEK_TARGET_MS:g} ms", bool(t.max() <= SEEK_TARGET_MS)),
        Figure("Seek result bit-identical to the recorded run", f"{checked - len(mismatches)}/{checked} iterations",
               "all", exact),
    ], exact
