"""Benchmark: the bundled models imported from PyTorch, one training iteration, gradstep ÷ PyTorch eager;
and how fast `gradstep import` reads a model.

- lenet_digits (conv, BatchNorm in training mode, pools, batch 64 of the 8×8 digits, SGD with momentum)
  and attention (a pre-LayerNorm transformer block, batch 16 of 6 tokens, Adam). gradstep runs
  `gradstep run`'s path (Stepper.run_iterations → FastPath.run); PyTorch eager runs the modules
  the ONNX exports came from (tests/engine/model_reference/make_reference.py, copied below) in
  float64 on the CPU, from the same weights, on the same batches in the same order (the rows
  `scenario.data.rows_for(iteration)` gives), with the same optimizer (foreach=False). Their params
  and running statistics must agree after a few iterations before anything is timed.
- `gradstep import` of a 1 MB ONNX model (two 256×256 float64 Gemm layers), in this process and
  as the whole command.

BLAS and PyTorch's intra-op pool fix their thread counts when they load, so each setting (one
thread, and the default) is measured in a process of its own, `python -m bench.models [--quick]`,
which prints its figures as JSON. `python -m bench.models --profile` prints where gradstep's
iteration goes instead: time per compiled call, summed by op and phase.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradstep.engine import Stepper, load_scenario
from gradstep.engine.importers import safetensors

from gradstep.scenarios import bundled_dir

from .frameworks import HINTS, LABELS, SHORT_HINTS, Trainer, _torch, framework_version
from .report import Figure, line, section, us
from .startup import gradstep_command, wall
from .threads import ThreadsIdle, blas_threads, thread_env
from .timing import interleaved, median_seconds, paired_ratio, ratio_spread, replaying

MODELS = {"lenet_digits": "LeNet", "attention": "Attention block"}
TARGET = 1.5                  # gradstep ÷ PyTorch eager, per iteration
IMPORT_TARGET = 1.0           # seconds, `gradstep import` of a 1 MB model
AGREE_AFTER = 10              # iterations before the params are compared
AGREE = 1e-9                  # largest relative difference that still counts as the same math
SETTINGS = (1, None)          # threads of each measuring process (None: the libraries' default)
ROOT = Path(__file__).resolve().parents[1]
WIDTH = 30                    # characters per setting's column
ONNX_HINT = "skipped: onnx not installed (pip install 'gradstep[onnx]' into .venv to include it)"

MODULES = ROOT / "tests" / "engine" / "model_reference" / "modules.py"


# ---------------------------------------------------------------- the PyTorch modules
def torch_modules(torch) -> tuple[dict[str, type], int]:
    """The modules lenet.onnx and transformer.onnx were exported from (modules.py, which make_reference.py
    writes the fixtures from; it imports torch, already loaded here), and the transformer's vocabulary size."""
    spec = importlib.util.spec_from_file_location("gradstep_reference_modules", MODULES)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return {"lenet_digits": m.LeNet, "attention": m.TinyTransformer}, m.VOCAB


def weights(key: str) -> dict[str, np.ndarray]:
    """Every tensor of the scenario's .safetensors file, by its PyTorch name (conv1.weight), as float64."""
    raw = (bundled_dir() / f"{key}.safetensors").read_bytes()
    infos, _ = safetensors.header(raw)
    return {name: safetensors.tensor(raw, info) for name, info in infos.items()}


def trained_names(scenario) -> list[str]:
    """The names of what training changes: the params, and running statistics carried between iterations."""
    p = scenario.program
    return [p.nodes[i].name for i in p.params + p.buffers]


def torch_optimizer(torch, params, scenario):
    """The scenario's optimizer as torch.optim, with its options (one group, no schedule)."""
    t, lr = scenario.training, scenario.learning_rate
    if t.schedules or t.learning_rates or t.decays:
        raise ValueError("the benchmark compares one optimizer group with no schedule")
    o = t.options
    if t.optimizer.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o["momentum"], dampening=o["dampening"],
                               nesterov=o["nesterov"], weight_decay=o["weight_decay"], foreach=False)
    if t.optimizer.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(o["betas"]), eps=o["eps"],
                                weight_decay=o["weight_decay"], foreach=False)
    raise ValueError(f"no PyTorch optimizer for {t.optimizer.name!r} here")


@dataclass
class TorchTrainer(Trainer):
    """A PyTorch contender that also keeps each iteration's loss (as a 0-d tensor)."""

    losses: list = field(default_factory=list)


def torch_trainer(key: str, scenario) -> TorchTrainer | None:
    """The model in PyTorch eager, float64, training on the scenario's batches in order; None without torch."""
    torch = _torch()
    if torch is None:
        return None
    F = torch.nn.functional
    modules, vocab = torch_modules(torch)
    model = modules[key]().to(torch.float64)
    model.train()                                    # BatchNorm: batch statistics, running ones updated
    w = weights(key)
    state = model.state_dict()                       # shares storage with the module's tensors
    with torch.no_grad():
        for name, t in state.items():
            if name in w:
                t.copy_(torch.from_numpy(w[name]))
            elif not name.endswith("num_batches_tracked"):      # unused: BatchNorm's momentum is fixed
                raise KeyError(f"{key}.safetensors has no {name}")
    if key == "attention":                            # a non-persistent buffer: the module makes it
        assert np.array_equal(model.attn.causal_mask.numpy(), w["attn.causal_mask"] != 0)
    # gradstep's names are PyTorch's with "_" for "." (conv1.weight → conv1_weight).
    by_name = {name.replace(".", "_"): t for name, t in state.items() if name in w}
    missing = [n for n in trained_names(scenario) if n not in by_name]
    if missing:
        raise KeyError(f"no PyTorch tensor for {missing}")
    opt = torch_optimizer(torch, list(model.parameters()), scenario)

    data = scenario.data
    cols = {name: torch.from_numpy(np.array(col)) for name, col in data.columns.items()}   # writable copies
    target = cols["target"].to(torch.int64)
    # The very rows gradstep's data set gives each iteration (shuffled per epoch from the scenario's seed).
    order = [torch.from_numpy(data.rows_for(it).astype(np.int64)) for it in range(1, scenario.steps + 1)]
    if key == "lenet_digits":
        pixels, B = cols["pixels"], data.batch_size

        def loss_of(rows):
            x = (pixels.index_select(0, rows) / 16).reshape(B, 1, 8, 8)     # x = reshape(pixels / 16, ...)
            return F.cross_entropy(model(x), target.index_select(0, rows))
    else:
        ids = cols["ids"].to(torch.int64)

        def loss_of(rows):
            logits = model(ids.index_select(0, rows))
            return F.cross_entropy(logits.reshape(-1, vocab), target.index_select(0, rows).reshape(-1))
    k = [0]
    losses = []

    def train(n: int) -> None:
        for _ in range(n):
            i = k[0]
            k[0] = (i + 1) % len(order)
            opt.zero_grad()
            loss = loss_of(order[i])
            loss.backward()
            opt.step()
            losses.append(loss.detach())
    return TorchTrainer(train, lambda: {n: t.detach().numpy().copy() for n, t in by_name.items()}, losses)


# ---------------------------------------------------------------- correctness, then timing
def difference(mine: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> tuple[float, str]:
    """Largest difference between two sets of tensors, relative to the reference's largest entry; and where."""
    return max(((float(np.max(np.abs(mine[k] - reference[k])) / max(float(np.max(np.abs(reference[k]))), 1e-300)), k)
                for k in reference), default=(0.0, ""))


def agreement(key: str, scenario, n: int = AGREE_AFTER) -> dict:
    """gradstep against PyTorch after n iterations: params, running statistics and losses."""
    st = Stepper(scenario, steps=n + 1)
    st.run_iterations(n)
    p = scenario.program
    mine = {name: st.param(p.by_name[name]) for name in trained_names(scenario)}
    trainer = torch_trainer(key, scenario)
    trainer.train(n)
    d, where = difference(mine, trainer.params())
    theirs = np.array([float(x) for x in trainer.losses])
    dl = float(np.max(np.abs(st.losses[:n] - theirs) / np.abs(theirs)))
    return {"params": d, "where": where, "losses": dl}


def measure(quick: bool, threads: int | None) -> dict:
    """Each model's figures in this process, at whatever thread counts it started with."""
    torch = _torch()
    if torch is not None and threads is not None:
        torch.set_num_threads(threads)
    # 32 iterations a round, as the wide net: the engine's per-call costs are paid once per
    # run_iterations, and `gradstep run` advances in chunks of 256.
    rounds, inner = (3, 2) if quick else (21, 32)
    out = {"blas_threads": blas_threads(), "torch_threads": torch.get_num_threads() if torch else None,
           "torch": framework_version("torch") if torch else None, "rounds": rounds, "inner": inner, "models": {}}
    for key in MODELS:
        scenario = load_scenario(bundled_dir() / f"{key}.toml")
        st = Stepper(scenario)               # the scenario's own steps, as `gradstep run` would
        contenders = {"gradstep": replaying(st)}
        m = {"steps": st.steps, "every": st.history.every}
        if torch is not None:
            m["differs"] = agreement(key, scenario)
            contenders["torch"] = torch_trainer(key, scenario).train
        idle = ThreadsIdle()
        s = interleaved(contenders, rounds=rounds, inner=inner, idle=idle)
        m["us"] = {name: s[name].us for name in s}
        if torch is not None:
            m["ratio"] = paired_ratio(s["gradstep"], s["torch"])
            m["spread"] = ratio_spread(s["gradstep"], s["torch"])
        m["idle"] = idle.summary()
        out["models"][key] = m
    return out


def measure_in_process(threads: int | None, quick: bool) -> dict:
    """`measure` in a fresh Python whose BLAS and PyTorch start with `threads` threads (None: the default)."""
    cmd = [sys.executable, "-m", "bench.models"] + (["--quick"] if quick else []) \
        + (["--threads", str(threads)] if threads is not None else [])
    done = subprocess.run(cmd, cwd=ROOT, env=thread_env(threads), capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} with {threads or 'default'} threads failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def threads_label(threads: int | None, m: dict) -> str:
    """The column's heading: the threads asked for, and those OpenBLAS and PyTorch report."""
    blas, tt = m["blas_threads"], m["torch_threads"]
    in_use = f"BLAS {blas if blas is not None else '?'}" + (f", torch {tt}" if tt is not None else "")
    if threads is None:
        return f"default ({in_use})"
    asked = f"{threads} thread" + ("s" if threads > 1 else "")
    return asked if {blas, tt} <= {None, threads} else f"{asked} ({in_use})"


# ---------------------------------------------------------------- gradstep import
def write_onnx(path: Path, width: int = 256, batch: int = 64) -> int:
    """A two-layer float64 MLP (Gemm, Relu, Gemm: PyTorch's Linear as exported) as an .onnx file; its size in bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(shape) / np.sqrt(width), name)
             for name, shape in (("fc1.weight", (width, width)), ("fc1.bias", (width,)),
                                 ("fc2.weight", (width, width)), ("fc2.bias", (width,)))]
    nodes = [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["linear"], transB=1),
             helper.make_node("Relu", ["linear"], ["relu"]),
             helper.make_node("Gemm", ["relu", "fc2.weight", "fc2.bias"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [batch, width])],
                              [helper.make_tensor_value_info("logits", TensorProto.DOUBLE, [batch, width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    onnx.checker.check_model(model)
    raw = model.SerializeToString()
    path.write_bytes(raw)
    return len(raw)


def import_speed(quick: bool) -> list[Figure]:
    """`gradstep import` of a 1 MB model: in this process (median of several), and the whole command."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        line(f"gradstep import: {ONNX_HINT}")
        return [Figure("`gradstep import` of a 1 MB model", "skipped: onnx not installed", f"< {IMPORT_TARGET:g} s",
                       None)]
    from gradstep.engine.importers.onnx import import_file
    repeats, commands = (2, 1) if quick else (7, 5)
    with tempfile.TemporaryDirectory(prefix="gradstep-bench-") as tmp:
        folder = Path(tmp)
        model = folder / "m.onnx"
        size = write_onnx(model)
        t0 = time.perf_counter()
        imported = import_file(model, folder / "m.toml")        # the first call also imports the importer
        first = time.perf_counter() - t0
        inproc = median_seconds(lambda: import_file(model, folder / "m.toml"), repeats)
        cmd = [gradstep_command(), "import", str(model), "--force"]
        runs = []
        for _ in range(commands):
            dt, done = wall(cmd)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-2000:]}")
            runs.append(dt)
        whole = statistics.median(runs)
        loads = load_scenario(folder / "m.toml") is not None
    what = f"{size / 1e6:.2f} MB .onnx, 2 Gemm 256×256 float64 + Relu, {imported.nodes} [graph] keys"
    line(f"gradstep import of a {what}:")
    line(f"  in this process (import_file): median {inproc * 1e3:.0f} ms over {repeats} runs "
         f"(the first call: {first * 1e3:.0f} ms)")
    line(f"  the whole command ({Path(cmd[0]).name} import m.onnx --force): median {whole * 1e3:.0f} ms over "
         f"{commands} run{'s' if commands > 1 else ''} ({', '.join(f'{r * 1e3:.0f}' for r in runs)} ms); "
         f"the scenario loads: {loads}")
    return [Figure("`gradstep import` of a 1 MB model, in-process (import_file)", f"{inproc * 1e3:.0f} ms",
                   f"< {IMPORT_TARGET:g} s", inproc < IMPORT_TARGET),
            Figure("`gradstep import` of a 1 MB model, whole command", f"{whole * 1e3:.0f} ms",
                   f"< {IMPORT_TARGET:g} s", whole < IMPORT_TARGET)]


# ---------------------------------------------------------------- the report
def run(quick: bool) -> tuple[list[Figure], bool]:
    section("Imported models (LeNet on digits, an attention block): one training iteration, gradstep ÷ PyTorch eager")
    results = {threads: measure_in_process(threads, quick) for threads in SETTINGS}
    first = next(iter(results.values()))
    has_torch = first["torch"] is not None
    line(f"each setting in its own process (BLAS and PyTorch fix their thread counts when they load); "
         f"{first['rounds']} rounds of {first['inner']} iterations,")
    line("contenders in a fresh random order each round; per iteration, median, and gradstep ÷ PyTorch "
         "(median of the rounds' ratios)")
    heads = {threads: threads_label(threads, m) for threads, m in results.items()}
    line(f"{'':<44}" + "".join(f"{h:>{WIDTH}}" for h in heads.values()))
    same = True
    figures = []
    for key, title in MODELS.items():
        m0 = first["models"][key]

        def row(label: str, name: str) -> None:
            cells = []
            for m in results.values():
                mm = m["models"][key]
                ratio = f"{mm['ratio']:6.2f}×" if name == "gradstep" and "ratio" in mm else " " * 7
                cells.append(f"{us(mm['us'][name] / 1e6):>{WIDTH - 7}}{ratio}")
            line((f"{label:<44}" + "".join(cells)).rstrip())

        line(f"{title} ({key}.toml):")
        row(f"  gradstep, steps = {m0['steps']} (checkpoint every {m0['every']})", "gradstep")
        if has_torch:
            row(f"  {LABELS['torch']} {first['torch']}", "torch")
            line("  gradstep ÷ PyTorch, middle half of the rounds' ratios: "
                 + ", ".join("{:.2f}–{:.2f}× at {}".format(*m["models"][key]["spread"], heads[t])
                             for t, m in results.items()))
            worst = max((m["models"][key]["differs"] for m in results.values()), key=lambda d: d["params"])
            ok = worst["params"] < AGREE and worst["losses"] < AGREE
            same &= ok
            line(f"  agree with PyTorch after {AGREE_AFTER} iterations (max difference relative to the largest "
                 f"entry): params {worst['params']:.1e} (at {worst['where']}), losses {worst['losses']:.1e}"
                 + ("" if ok else "  ← MISMATCH: they do not compute the same math"))
        else:
            line(f"  {LABELS['torch']:<42}{HINTS['torch']}")
        for threads, m in results.items():
            line(f"  {heads[threads]}: {m['models'][key]['idle']}")
        for threads, m in results.items():
            mm = m["models"][key]
            name = f"{title} iteration, gradstep ÷ PyTorch eager, {heads[threads]}"
            if not has_torch:
                figures.append(Figure(name, f"{SHORT_HINTS['torch']}; gradstep {us(mm['us']['gradstep'] / 1e6)}",
                                      f"≤ {TARGET:.1f}×", None))
                continue
            r, (q1, q3) = mm["ratio"], mm["spread"]
            agrees = mm["differs"]["params"] < AGREE and mm["differs"]["losses"] < AGREE
            mine, theirs = us(mm["us"]["gradstep"] / 1e6), us(mm["us"]["torch"] / 1e6)
            figures.append(Figure(name, f"{r:.2f}× ({mine} vs {theirs}; middle half of rounds {q1:.2f}–{q3:.2f}×)"
                                  if agrees else f"MISMATCH (params {mm['differs']['params']:.1e} apart)",
                                  f"≤ {TARGET:.1f}×", r <= TARGET and agrees))
    figures += import_speed(quick)
    return figures, same


# ---------------------------------------------------------------- where gradstep's iteration goes
def profile(key: str, iterations: int) -> None:
    """Time each compiled call of the fast path's iteration, summed by (phase, op), and print the table."""
    from gradstep.engine import fast
    scenario = load_scenario(bundled_dir() / f"{key}.toml")
    st = Stepper(scenario)
    train = replaying(st)
    whole = median_seconds(lambda: train(32), 21) / 32     # before the calls below move the lent buffers
    path = st.fast
    p = scenario.program
    plan = path.plans[0]
    labels: list[str] = []
    for i, end in plan.forward_ends.items():               # forward calls, grouped by the op node they belong to
        while len(labels) < end:
            labels.append(f"forward {p.nodes[i].op.name}")
    starts = 0
    for i, end in plan.backward_ends.items():
        for _ in range(starts, end):
            labels.append(f"backward {p.nodes[i].op.name}")
        starts = end
    upd, _ = path._update_calls(plan)
    calls = plan.forward + plan.backward + upd
    labels += ["update (optimizer)"] * len(upd)
    generic = {id(f) for f in calls if getattr(f, "func", None) in (fast._generic_forward, fast._generic_vjp)}
    spent: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    fallback: dict[str, float] = defaultdict(float)
    clock = time.perf_counter_ns
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            for f, label in zip(calls, labels):
                t0 = clock()
                f()
                dt = clock() - t0
                spent[label] += dt
                count[label] += 1
                if id(f) in generic:
                    fallback[label] += dt
    total = sum(spent.values())
    print(f"{key}: {len(calls)} compiled calls per iteration; {total / iterations / 1e3:,.0f} µs in them "
          f"(timed one by one); a whole iteration through run_iterations: {whole * 1e6:,.0f} µs")
    print(f"  {'phase and op':<30}{'µs/iter':>9}{'share':>8}{'calls':>7}{'generic µs':>12}")
    for label in sorted(spent, key=spent.get, reverse=True):
        print(f"  {label:<30}{spent[label] / iterations / 1e3:9.1f}{spent[label] / total:8.1%}"
              f"{count[label] // iterations:7d}{fallback[label] / iterations / 1e3:12.1f}")


def main() -> None:
    """In a process of its own: print `measure`'s figures as one line of JSON (or, with --profile, a table)."""
    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, help="PyTorch's intra-op threads (BLAS's come from the environment)")
    parser.add_argument("--profile", action="store_true", help="print where gradstep's iteration goes, per op")
    args = parser.parse_args()
    if args.profile:
        for key in MODELS:
            profile(key, 200)
        return
    print(json.dumps(measure(args.quick, args.threads)))


if __name__ == "__main__":
    main()
