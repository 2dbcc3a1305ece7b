"""Benchmark 2: a wide net (784 → 256 → 10, softmax cross-entropy, batch 64), engine ÷ hand-written NumPy.

BLAS does the work here, so the engine must add nothing of note. The data is random, written as a
CSV beside a copy of bench/scenarios/wide_net.toml in a temporary folder, and read through [data].

BLAS reads its thread count when it loads, so each setting (one BLAS thread, and the default)
is measured in a process of its own, `python -m bench.wide_net [--quick]`, which prints its
figures as JSON; `run` starts one per setting and prints them side by side. PyTorch eager and JAX
are measured alongside for scale when they can be imported. OMP_NUM_THREADS limits PyTorch too;
XLA keeps its own thread pool whatever the setting.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gradstep.engine import Stepper, load_scenario

from .frameworks import HINTS, LABELS, SHORT_HINTS, WIDE, framework_version
from .report import Figure, line, section, us
from .threads import ThreadsIdle, blas_threads, thread_env
from .timing import interleaved, paired_ratio, ratio_spread, replaying

SCENARIO = Path(__file__).parent / "scenarios" / "wide_net.toml"
ROWS, FEATURES, CLASSES = 256, 784, 10
PARAMS = ("W1", "b1", "W2", "b2")
TARGET = 1.00
AGREE_AFTER = 20             # iterations before the params are compared
AGREE = 1e-9                 # largest relative difference that still counts as the same math
SETTINGS = (1, None)         # BLAS threads of each measuring process (None: the libraries' default)
ROOT = Path(__file__).resolve().parents[1]
WIDTH = 30                   # characters per setting's column


class HandWritten:
    """The same training step by hand: affine, ReLU, affine, stable softmax cross-entropy, SGD in place."""

    def __init__(self, X, labels, params, lr, batch):
        self.X, self.labels, self.lr, self.batch = X, labels.astype(np.intp), lr, batch
        self.W1, self.b1, self.W2, self.b2 = (params[k].copy() for k in ("W1", "b1", "W2", "b2"))
        self.rows = np.arange(batch)
        self.k = 0
        self.losses: list[float] = []

    def train(self, n: int) -> None:
        W1, b1, W2, b2, lr, B, rows = self.W1, self.b1, self.W2, self.b2, self.lr, self.batch, self.rows
        nb = len(self.X) // B
        for _ in range(n):
            sl = slice(self.k * B, (self.k + 1) * B)
            self.k = (self.k + 1) % nb
            xb, yb = self.X[sl], self.labels[sl]
            z1 = xb @ W1 + b1
            h = np.maximum(z1, 0.0)
            logits = h @ W2 + b2
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            s = e.sum(axis=1, keepdims=True)
            self.losses.append(np.mean(np.log(s[:, 0]) - logits[rows, yb]))
            g = e / s                           # softmax; its gradient is (p - onehot) / B
            g[rows, yb] -= 1.0
            g /= B
            gz1 = (g @ W2.T) * (z1 > 0.0)       # before W2 changes
            W2 -= lr * (h.T @ g)
            b2 -= lr * g.sum(axis=0)
            W1 -= lr * (xb.T @ gz1)
            b1 -= lr * gz1.sum(axis=0)


def write_data(folder: Path, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and labels as wide_net.csv in folder; returns (X, labels) exactly as written."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((ROWS, FEATURES))
    labels = rng.integers(0, CLASSES, ROWS).astype(np.float64)
    header = ",".join([f"p{i}" for i in range(FEATURES)] + ["label"])
    # %.17g round-trips float64 exactly, so the engine reads the very numbers NumPy uses.
    np.savetxt(folder / "wide_net.csv", np.column_stack([X, labels]), fmt="%.17g", delimiter=",",
               header=header, comments="")
    return X, labels


def params_of(scenario) -> dict[str, np.ndarray]:
    p = scenario.program
    return {p.nodes[i].name: scenario.initial[i] for i in p.params}


def difference(mine: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    """Largest difference between two sets of params, relative to the reference param's largest entry."""
    return max(float(np.max(np.abs(mine[k] - reference[k])) / np.max(np.abs(reference[k]))) for k in PARAMS)


def prepare():
    """The benchmark scenario loaded with freshly written random data, and that data."""
    with tempfile.TemporaryDirectory(prefix="gradstep-bench-") as tmp:
        folder = Path(tmp)
        shutil.copy(SCENARIO, folder / SCENARIO.name)
        X, labels = write_data(folder)
        scenario = load_scenario(folder / SCENARIO.name)
    return scenario, X, labels


def agreements(scenario, X, labels, frameworks: dict, n: int = AGREE_AFTER) -> dict[str, float]:
    """Largest relative difference from the hand-written params after n iterations, for the engine and each framework."""
    lr, batch, params = scenario.learning_rate, scenario.data.batch_size, params_of(scenario)
    hw = HandWritten(X, labels, params, lr, batch)
    hw.train(n)
    reference = {k: getattr(hw, k) for k in PARAMS}
    st = Stepper(scenario, steps=n + 1)
    st.run_iterations(n)
    p = scenario.program
    out = {"engine": difference({k: st.param(p.by_name[k]) for k in PARAMS}, reference)}
    for name in frameworks:
        trainer = WIDE[name](X, labels, params, lr, batch)
        trainer.train(n)
        out[name] = difference(trainer.params(), reference)
    return out


def measure(quick: bool) -> dict:
    """Every contender's figures in this process, at whatever BLAS threads it started with."""
    # 32 iterations a round: the engine's per-call costs (handing out the params, a finiteness check,
    # standing on the iteration reached) are paid once per run, and `gradstep run` advances in
    # chunks of 256, so fewer iterations a call would charge an iteration for what it never pays.
    rounds, inner = (3, 2) if quick else (21, 32)
    scenario, X, labels = prepare()
    lr, batch, params = scenario.learning_rate, scenario.data.batch_size, params_of(scenario)
    st = Stepper(scenario)                 # the scenario's own steps, as `gradstep run` would
    contenders = {"numpy": HandWritten(X, labels, params, lr, batch).train, "engine": replaying(st)}
    frameworks = {}
    for name, make in WIDE.items():
        trainer = make(X, labels, params, lr, batch)
        if trainer is not None:
            contenders[name] = trainer.train
            frameworks[name] = framework_version(name)
    idle = ThreadsIdle()
    s = interleaved(contenders, rounds=rounds, inner=inner, idle=idle)
    return {"blas_threads": blas_threads(), "rounds": rounds, "inner": inner,
            "steps": st.steps, "every": st.history.every, "frameworks": frameworks,
            "us": {name: s[name].us for name in s},
            "ratio": {name: paired_ratio(s[name], s["numpy"]) for name in s},
            "spread": {name: ratio_spread(s[name], s["numpy"]) for name in s},
            "differs": agreements(scenario, X, labels, frameworks), "idle": idle.summary()}


def measure_in_process(threads: int | None, quick: bool) -> dict:
    """`measure` in a fresh Python whose BLAS starts with `threads` threads (None: the default)."""
    cmd = [sys.executable, "-m", "bench.wide_net"] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, cwd=ROOT, env=thread_env(threads), capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} with {threads or 'default'} BLAS threads failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def threads_label(threads: int | None, m: dict) -> str:
    """The column's heading: the threads asked for, and those OpenBLAS reports if they differ."""
    n = m["blas_threads"]
    if threads is None:
        return f"default ({n if n is not None else '?'} BLAS threads)"
    asked = f"{threads} BLAS thread" + ("s" if threads > 1 else "")
    return asked if n in (None, threads) else f"{asked} asked, {n} in use"


def run(quick: bool) -> tuple[list[Figure], bool]:
    section("2. Wide net (784 → 256 → 10, softmax cross-entropy, batch 64): one training iteration")
    results = {threads: measure_in_process(threads, quick) for threads in SETTINGS}
    first = next(iter(results.values()))
    line(f"each setting in its own process (BLAS fixes its thread count when it loads); {first['rounds']} rounds "
         f"of {first['inner']} iterations,")
    line("contenders in a fresh random order each round; per iteration, median, and ÷ NumPy (median of the rounds' ratios)")
    heads = {threads: threads_label(threads, m) for threads, m in results.items()}
    line(f"{'':<44}" + "".join(f"{h:>{WIDTH}}" for h in heads.values()))

    def row(label: str, key: str) -> None:
        cells = []
        for m in results.values():
            if key not in m["us"]:
                cells.append(f"{'–':>{WIDTH}}")
            else:
                ratio = f"{m['ratio'][key]:6.2f}×" if key != "numpy" else " " * 7
                cells.append(f"{us(m['us'][key] / 1e6):>{WIDTH - 7}}{ratio}")
        line((f"{label:<44}" + "".join(cells)).rstrip())

    row("hand-written NumPy", "numpy")
    row(f"engine, steps = {first['steps']} (checkpoint every {first['every']})", "engine")
    for name in WIDE:
        label = f"{LABELS[name]} {first['frameworks'].get(name, '')}".rstrip()
        if name == "jax":
            label += " (XLA's own threads)"
        if name in first["us"]:
            row(label, name)
        else:
            line(f"{label:<44}{HINTS[name]}")
    line("engine ÷ NumPy, middle half of the rounds' ratios: "
         + ", ".join("{:.2f}–{:.2f}× at {}".format(*m["spread"]["engine"], heads[t]) for t, m in results.items()))
    for threads, m in results.items():
        line(f"{heads[threads]}: {m['idle']}")
    worst = {name: max(m["differs"][name] for m in results.values()) for name in first["differs"]}
    same = all(d < AGREE for d in worst.values())
    line(f"agree with hand-written NumPy after {AGREE_AFTER} iterations (max relative difference): "
         + ", ".join(f"{'engine' if k == 'engine' else LABELS[k]} {d:.1e}" + ("" if d < AGREE else " ← MISMATCH")
                     for k, d in worst.items())
         + ("" if same else "  (MISMATCH: they do not compute the same math)"))

    figures = []
    for threads, m in results.items():
        r = m["ratio"]["engine"]
        q1, q3 = m["spread"]["engine"]
        figures.append(Figure(f"Wide-net iteration, engine ÷ NumPy, {heads[threads]}",
                              f"{r:.2f}× ({us(m['us']['engine'] / 1e6)} vs {us(m['us']['numpy'] / 1e6)}; "
                              f"middle half of rounds {q1:.2f}–{q3:.2f}×)",
                              f"≤ {TARGET:.2f}×", r <= TARGET))
    for name in WIDE:
        if name in first["us"]:
            measured = ", ".join(f"{m['ratio'][name]:.2f}× at {heads[t]}" for t, m in results.items())
        else:
            measured = SHORT_HINTS[name]
        figures.append(Figure(f"Wide-net iteration, {LABELS[name]} ÷ NumPy", measured, "for scale", None))
    return figures, same


def main() -> None:
    """In a process of its own: print `measure`'s figures as one line of JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.wide_net", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(measure(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
