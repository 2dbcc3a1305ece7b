"""The headless `gradstep` commands (run, check, trace, dot, import) and the exit codes every command keeps.

The console script is `gradstep.tui.launch:main`, on the UI side: it hands these commands here and
opens the TUI otherwise, so the engine never imports the UI.

Exit codes: 0 success (for run: the replay ran to its end without stopping at a breakpoint), 1 a
failed gradient check or a numeric anomaly, 2 a bad scenario, model, usage or condition, 3 run
stopped at a breakpoint (--until, --at, or the file's [[break]] tables), 70 a bug in gradstep
itself (one line on stderr; GRADSTEP_DEBUG=1 shows the traceback).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import warnings
from typing import Callable

from .display import clip_title
from .errors import ScenarioError

# NumPy is imported only once a command runs, so `gradstep --help` starts in a blink.

COMMANDS = ("run", "check", "trace", "dot", "import")


EXIT_BUG = 70      # sysexits' EX_SOFTWARE: kept apart from 1, 2 and 3, which carry meaning for scripts
EXIT_STOPPED = 3   # run stopped at a breakpoint


def say(text: str = "") -> None:
    """One line (or lines) of text output: scenario text in it is shown, never sent raw (display.visible)."""
    from .display import visible
    sys.stdout.write(visible(text) + "\n")


def warn(text: str) -> None:
    """One message on stderr, made visible the same way."""
    from .display import visible
    sys.stderr.write(visible(text) + "\n")


def main(argv: list[str] | None = None) -> int:
    """The headless commands: `gradstep run|check|trace|dot ...`, with gradstep's exit codes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return guarded(_headless, argv)


def guarded(command: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run a command and map what it raises to an exit code and one line on stderr, never a traceback."""
    # Numeric faults are detected and reported by the engine (the first node, its op, its inputs);
    # NumPy's own warnings would only repeat that, raw, on the terminal. The filter is process-wide,
    # so it also covers threads.
    warnings.simplefilter("ignore", RuntimeWarning)
    try:
        return command(argv)
    except ScenarioError as e:
        warn(f"gradstep: {e}")
        return 2
    except KeyboardInterrupt:
        warn("gradstep: interrupted")
        return 130
    except BrokenPipeError:
        # The reader left (| head): stop quietly, and keep Python from complaining at exit.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except OSError as e:
        if e.filename is None:
            return _bug(e)
        # A path the user gave that the system cannot even look at (a name too long, a folder one
        # cannot enter): bad input, not a bug.
        warn(f"gradstep: {e.filename}: {e.strerror or e}")
        return 2
    except MemoryError:
        warn("gradstep: out of memory")
        return EXIT_BUG
    except Exception as e:          # a bug: one line, never a traceback, unless asked for
        return _bug(e)


def _bug(e: Exception) -> int:
    if os.environ.get("GRADSTEP_DEBUG"):
        raise e
    warn(f"gradstep: internal error: {type(e).__name__}: {e} (a bug in gradstep; GRADSTEP_DEBUG=1 shows the traceback)")
    return EXIT_BUG


def _headless(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gradstep", description="Headless commands.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="replay training and print the loss")
    run.add_argument("scenario")
    run.add_argument("--steps", type=_positive_int, help="training iterations (default: the scenario's)")
    run.add_argument("--lr", type=_eta, help="learning rate η (default: the scenario's)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--until", metavar="EXPR", help="stop at the first step after which this condition holds "
                     "(exit status 3), e.g. \"loss < 0.01\" or \"dead(h) >= 0.5\"")
    run.add_argument("--at", metavar="NODE", help="stop at this node's step (with --until: check it only there)")
    run.add_argument("--phase", choices=("forward", "backward", "update"), help="which step of --at's node")
    run.add_argument("--no-breaks", action="store_true", help="ignore the scenario's [[break]] tables")
    run.add_argument("--mode", choices=("reverse", "forward"), default="reverse",
                     help="forward: each forward step also computes every node's tangent (with --seed-input or "
                     "--direction); --json then adds 'tangents'")
    run.add_argument("--seed-input", metavar="NAME", help="forward mode: a tangent of 1 in every element of this "
                     "input (a value, param or data name), 0 in every other")
    run.add_argument("--direction", choices=("random",), help="forward mode: tangents along a random direction "
                     "over every input, drawn from the scenario's seed")
    check = sub.add_parser("check", help="gradient check of every param and value")
    check.add_argument("scenario")
    check.add_argument("--json", action="store_true")
    check.add_argument("--iteration", type=_positive_int, default=1, metavar="N",
                       help="check at the start of iteration N, with the params training reached (default: 1)")
    check.add_argument("--directional", action="store_true", help="instead of finite differences: reverse mode's "
                       "<grad E, v> against forward mode's tangent of the loss along a random direction v (1e-12)")
    trace = sub.add_parser("trace", help="JSON Lines, one per stepper event")
    trace.add_argument("scenario")
    trace.add_argument("--steps", type=_positive_int)
    dot = sub.add_parser("dot", help="the graph as Graphviz DOT")
    dot.add_argument("scenario")
    dot.add_argument("--values", action="store_true", help="label each node with its value and gradient at one "
                     "tick (shape and summary for tensors) and each edge with its local derivative")
    dot.add_argument("--at", type=int, metavar="TICK", help="with --values: the tick (steps taken from the start; "
                     "default: just after the first iteration's backward pass)")
    imp = sub.add_parser("import", help="an ONNX model as a scenario and a .safetensors weights file",
                         description="Write OUT.toml and OUT.safetensors from an ONNX model (both or neither). "
                         "Needs the onnx package: pip install 'gradstep[onnx]'.")
    imp.add_argument("model", metavar="MODEL.onnx")
    imp.add_argument("-o", "--output", metavar="OUT.toml", help="the scenario to write (default: MODEL.toml)")
    imp.add_argument("--loss", choices=("cross_entropy", "mse"), default="cross_entropy",
                     help="cross_entropy (class targets, mean over the batch, as F.cross_entropy; the default) "
                     "or mse (mean over all elements, as F.mse_loss)")
    imp.add_argument("--batch", type=_positive_int, help="the batch size (default: the model's)")
    imp.add_argument("--force", action="store_true", help="replace OUT.toml and OUT.safetensors if they exist")
    args = parser.parse_args(argv)
    if args.command == "import":
        return _import(args)
    if getattr(args, "phase", None) and not args.at:
        parser.exit(2, "gradstep: --phase goes with --at (the node whose step to stop at)\n")
    if args.command == "run":
        problem = _mode_problem(args)
        if problem:
            parser.exit(2, f"gradstep: {problem}\n")
    from .scenario import load_scenario, steps_problem
    scenario = load_scenario(args.scenario)
    for sentence in scenario.warnings.values():
        warn(f"gradstep: warning: {sentence}")
    if getattr(args, "steps", None) is not None:
        problem = steps_problem(args.steps, scenario.work)
        if problem:
            parser.exit(2, f"gradstep: --steps {args.steps}: {problem}\n")
    import numpy as np
    with np.errstate(all="ignore"):
        return {"run": cmd_run, "check": cmd_check, "trace": cmd_trace, "dot": cmd_dot}[args.command](scenario, args)


def _mode_problem(args) -> str | None:
    """Why run's --mode, --seed-input and --direction do not go together, or None."""
    seeds = [flag for flag, given in (("--seed-input", args.seed_input is not None),
                                      ("--direction", args.direction is not None)) if given]
    if args.mode != "forward" and seeds:
        return f"{seeds[0]} seeds forward mode: add --mode forward"
    if len(seeds) > 1:
        return "--seed-input and --direction both give forward mode's seed: pass one of them"
    if args.mode == "forward" and not seeds:
        return "--mode forward needs a seed: --seed-input NAME (one input) or --direction random"
    return None


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    from .limits import MAX_STEPS
    if not 1 <= n <= MAX_STEPS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_STEPS:,}")
    return n


def _eta(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError("must be a finite number ≥ 0")
    return v


def _tolist(a):
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    return a.tolist() if a.ndim else float(a)


def _json_safe(obj):
    """JSON has no nan or inf: they are written as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    return obj


class _Progress:
    """A progress bar on stderr, shown only on a terminal for a long run."""

    def __init__(self, total: int):
        self.total = total
        self.on = sys.stderr.isatty() and total >= 2000

    def __call__(self, done: int) -> None:
        if self.on:
            width = 30
            k = int(width * done / self.total)
            sys.stderr.write(f"\r[{'#' * k}{'.' * (width - k)}] {done:,}/{self.total:,}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def cmd_run(scenario, args) -> int:
    import numpy as np
    from .breakpoints import Stop
    from .health import HealthRecorder
    from .stepper import Stepper
    if args.no_breaks:
        scenario.breakpoints = []
    st = Stepper(scenario, steps=args.steps, learning_rate=args.lr)
    if args.mode == "forward":
        try:
            st.set_mode("forward", seed_input=args.seed_input, direction=args.direction)
        except ValueError as e:
            raise ScenarioError(str(e), file="--seed-input") from None
    if args.until is not None or args.at is not None:
        try:
            st.add_breakpoint(args.until, at=args.at, phase=args.phase, name="--until")
        except ScenarioError as e:
            flag = "--until" if e.key in ("when", None) else f"--{e.key}"
            raise ScenarioError(e.problem, file=flag) from None
    recorder = None
    if args.json:
        # One health entry per iteration up to 1,000 iterations; beyond, every k-th (and the last).
        recorder = HealthRecorder(st.program, max(1, -(-st.steps // 1000)), st.steps)
        st.after_iteration = recorder
    progress = _Progress(st.steps)
    if st.breakpoints:
        result = st.continue_(progress=progress)
    else:
        result = st.run_iterations(st.steps - 1, progress=progress)
        if result is None:
            st.run_iteration()          # the last iteration node by node, to keep every gradient
            result = st.anomaly
    progress.close()
    p = st.program
    losses = st.losses
    stop = result if isinstance(result, Stop) else None
    anomaly = None if stop is not None else result
    if anomaly is not None:
        warn(f"gradstep: numeric anomaly: {anomaly.message}")
        if args.json:
            say(json.dumps(_json_safe({"scenario": scenario.title, "steps": len(losses),
                                         "loss": losses.tolist(), "anomaly": anomaly.message})))
        return 1
    if recorder is not None:
        # The last iteration computed (the one the Stepper stands in) from the Stepper's own state.
        view = st.view()
        sample = recorder.monitor.measure(st.iteration, view.value, view.grad, view.update)
        recorder.samples[st.iteration] = sample
    problems = [f"breakpoint {b.id} ({b.describe(p)}): {b.problem}" for b in st.breakpoints if b.problem]
    for problem in problems:
        warn(f"gradstep: warning: {problem}")
    if args.json:
        values = {n.key: _tolist(st.value(n.id)) for n in p.nodes if n.key is not None and st.value(n.id) is not None}
        grads = {p.nodes[i].name: _tolist(st.grad(i) if st.grad(i) is not None else np.zeros(p.nodes[i].shape))
                 for i in p.params + p.values + p.data}
        params = {p.nodes[i].name: _tolist(st.param(i)) for i in p.params}
        out = {"scenario": scenario.title, "steps": st.steps, "loss": losses.tolist(),
               "values": values, "grads": grads, "params": params,
               "optimizer": {**st.training.describe(), "learning_rate": scenario.learning_rate if args.lr is None
                             else args.lr},
               "lr": [st.eta_at(k) for k in range(1, len(losses) + 1)],
               "health": [recorder.samples[k].as_dict() for k in sorted(recorder.samples)],
               "health_every": recorder.every}
        if stop is not None:
            out["stopped"] = {"iteration": stop.iteration, "phase": stop.phase, "node": p.nodes[stop.node].name,
                              "condition": stop.condition, "tick": stop.tick, "reads": _reads(st, stop)}
        if st.seed is not None:
            out.update(_forward_mode_json(st))
        say(json.dumps(_json_safe(out)))
        return EXIT_STOPPED if stop is not None else 0
    if stop is not None:
        say(f"{clip_title(scenario.title)}: stopped at iteration {stop.iteration}, {stop.phase} step of "
              f"{p.nodes[stop.node].name!r}: {stop.condition}")
        from .display import summary
        for name, value in _reads(st, stop).items():
            say(f"  {name} = {summary(np.asarray(value))}")
        return EXIT_STOPPED
    say(f"{clip_title(scenario.title)}: {st.steps:,} iteration{'s' if st.steps > 1 else ''}, η = {st.eta_at(1):g}")
    say(f"{'iteration':>10}  {'loss':>14}")
    for i in _milestones(len(losses)):
        say(f"{i:>10}  {losses[i - 1]:>14.8g}")
    if p.params:
        from .display import summary
        say("params after training:")
        for i in p.params:
            say(f"  {p.nodes[i].name}: {summary(st.param(i))}")
    if st.seed is not None:
        _say_tangents(st)
    return 0


def _forward_mode_json(st) -> dict:
    """run --json's forward-mode keys: the seed, every named node's tangent in the iteration the run stands in
    (as far as it got), and the passes the full gradient takes in each mode."""
    p = st.program
    seed = {"input": st.seed.input} if st.seed.input is not None else \
        {"direction": "random", "seed": st.seed.random_seed}
    tangents = {n.key: _tolist(st.tangent(n.id)) for n in p.nodes
                if n.key is not None and st.tangent(n.id) is not None}
    return {"mode": "forward", "seed": seed, "tangents": tangents,
            "passes": {"forward": st.passes_needed("forward"), "reverse": st.passes_needed("reverse")}}


def _say_tangents(st) -> None:
    from .display import summary
    p = st.program
    say(f"forward mode, {st.seed.describe(p)}; tangents in iteration {st.iteration}:")
    for n in p.nodes:
        t = st.tangent(n.id)
        if n.key is not None and n.op is not None and t is not None:
            say(f"  {st.tangent_equation(n.id)} = {summary(t)}")
    say(f"the full gradient takes {st.passes_needed('forward'):,} forward-mode passes "
        f"(one per scalar {'param' if p.params else 'input'}), or 1 reverse pass")


def _reads(st, stop) -> dict:
    """The value of each quantity the stopping condition reads, as it stands at the stop."""
    from .conditions import Quantity
    bp = st.breakpoint(stop.breakpoint)
    out = {}
    if bp.condition is None:
        return out
    view = st.view()
    view.iteration = stop.iteration
    for r in sorted(bp.condition.reads, key=lambda r: (r.quantity.value, r.node if r.node is not None else -1)):
        if r.quantity is Quantity.ITERATION:
            out["iteration"] = stop.iteration
        elif r.quantity is Quantity.ETA:
            out["eta"] = st.eta_at(stop.iteration)
        else:
            name = st.program.nodes[r.node].name
            label = {Quantity.VALUE: name, Quantity.GRAD: f"grad({name})", Quantity.UPDATE: f"update({name})"}[r.quantity]
            if r == type(r)(Quantity.VALUE, st.program.loss):
                label = "loss" if name != "loss" else name
            v = getattr(view, r.quantity.value)(r.node)
            if v is not None:
                out[label] = _tolist(v)
    return out


def _milestones(n: int) -> list[int]:
    if n <= 10:
        return list(range(1, n + 1))
    return sorted({1, *[max(1, round(n * k / 10)) for k in range(1, 11)]})


def cmd_check(scenario, args) -> int:
    if args.directional:
        return _check_directional(scenario, args)
    from .grad_check import ATOL, EPS, RTOL, gradcheck
    it = args.iteration
    report = gradcheck(scenario.program, _check_leaves(scenario, it), iteration=it, work=scenario.work)
    if args.json:
        say(json.dumps(_json_safe({
            "scenario": scenario.title, "iteration": it, "passed": report.passed, "not_finite": report.not_finite,
            "eps": EPS, "atol": ATOL, "rtol": RTOL,
            "leaves": [{"name": c.name, "kind": c.kind, "checked": c.checked, "size": c.size,
                        "max_abs_error": c.max_abs_error, "max_rel_error": c.max_rel_error, "passed": c.passed}
                       for c in report.leaves],
            "warnings": report.warnings})))
    elif report.not_finite is not None:
        say(f"{clip_title(scenario.title)}: no gradient to check at iteration {it}: the forward pass is already not "
            f"finite there (node {report.not_finite} is NaN or ±inf, and so is the loss)")
    else:
        say(f"{clip_title(scenario.title)}: gradient check at iteration {it}, central differences eps={EPS:g}, "
              f"pass if |a-n| <= {ATOL:g} + {RTOL:g}|n|")
        say(f"{'name':<12} {'kind':<6} {'checked':>9} {'max rel error':>14}  result")
        for c in report.leaves:
            checked = f"{c.checked}/{c.size}"
            say(f"{c.name:<12} {c.kind:<6} {checked:>9} {c.max_rel_error:>14.3e}  {'ok' if c.passed else 'FAIL'}")
        for w in report.warnings:
            say(f"warning: {w}")
    return 0 if report.passed else 1


def _check_leaves(scenario, iteration: int) -> dict:
    """Every leaf at the start of an iteration: the params as training left them (replayed exactly)."""
    if iteration > scenario.steps:
        raise ScenarioError(f"--iteration {iteration}: the scenario trains {scenario.steps:,} iteration"
                            f"{'s' if scenario.steps > 1 else ''}", file=str(scenario.path))
    if iteration == 1:
        return scenario.leaves_for(1)
    from .stepper import Stepper
    st = Stepper(scenario)
    st.seek_iteration(iteration)
    leaves = st.leaves_for(iteration)
    leaves.update(st.params())
    return leaves


def _check_directional(scenario, args) -> int:
    """check --directional: one reverse pass and one forward-mode pass along a random direction agree."""
    from .grad_check import directional_check
    r = directional_check(scenario.program, _check_leaves(scenario, args.iteration), seed=scenario.seed)
    if args.json:
        say(json.dumps(_json_safe({
            "scenario": scenario.title, "passed": r.passed,
            "directional": {"reverse": r.reverse, "forward": r.forward, "rel_error": r.rel_error, "rtol": r.rtol,
                            "seed": r.seed, "inputs": list(r.inputs), "passed": r.passed}})))
    else:
        say(f"{clip_title(scenario.title)}: directional check along a random direction v (seed {r.seed}) "
            f"over {len(r.inputs)} input{'s' if len(r.inputs) != 1 else ''}")
        say(f"  reverse mode  ⟨∇E, v⟩    = {r.reverse:.17g}")
        say(f"  forward mode  Ė along v  = {r.forward:.17g}")
        say(f"  difference {r.rel_error:.3e} (relative, or absolute below 1), pass if ≤ {r.rtol:g}: "
            f"{'ok' if r.passed else 'FAIL'}")
    return 0 if r.passed else 1


def _import(args) -> int:
    """gradstep import: exit 2 with one message for a model it cannot import; nothing written then."""
    from pathlib import Path
    try:
        import onnx  # noqa: F401  (the optional extra; nothing else needs it)
    except ImportError:
        warn("gradstep: import needs the onnx package: pip install 'gradstep[onnx]'")
        return 2
    from .importers.onnx import ImportProblem, import_file
    model = Path(args.model)
    out = Path(args.output) if args.output else model.with_suffix(".toml")
    if out.suffix != ".toml":
        warn(f"gradstep: {out}: the scenario's name must end in .toml")
        return 2
    weights = out.with_suffix(".safetensors")
    for path in (out, weights):
        if path.exists() and not args.force:
            warn(f"gradstep: {path} exists; pass --force to replace it")
            return 2
    try:
        imported = import_file(model, out, loss=args.loss, batch=args.batch)
    except ImportProblem as e:
        warn(f"gradstep: {model}: {e}")
        return 2
    say(f"wrote {out} ({imported.nodes} [graph] keys) and {weights} "
        f"({len(imported.weights)} tensors, {sum(a.size for a in imported.weights.values()):,} numbers)")
    for note in imported.notes:
        say(f"note: {note}")
    say(f"open it: gradstep {out}")
    return 0


def trace_record(st, ev) -> dict:
    """One stepper event as a JSON-ready dict, with a digest of exactly what the step wrote."""
    from .stepper import StepKind
    p = st.program
    node = p.nodes[ev.node]
    rec = {"tick": ev.tick, "iteration": ev.iteration, "phase": ev.phase.value, "index": ev.index,
           "kind": ev.kind.value, "node": node.name, "id": node.id, "op": node.op.name if node.op else node.kind}
    # Keyed by node id: display names are clipped and need not be unique (two long-named inputs of one
    # mul would otherwise share a key and one write would be lost).
    written = {}
    for i in ev.writes:
        if ev.kind is StepKind.FORWARD:
            arr = st.value(i)
        elif ev.kind is StepKind.UPDATE:
            arr = st.param(i)
        else:
            arr = st.grad(i)
        written[str(i)] = {"name": p.nodes[i].name, **_digest(arr)}
    rec["writes"] = written
    if ev.kind is StepKind.UPDATE:
        # The optimizer's state after this update (momentum buffers, Adam's m and v): plain SGD has none.
        state = st.optimizer_state(ev.node)
        if state:
            rec["state"] = {slot: _digest(arr) for slot, arr in state.items()}
    if ev.anomaly is not None:
        rec["anomaly"] = ev.anomaly.message
    return rec


def _digest(a) -> dict:
    import numpy as np
    a = np.array(a, dtype=np.float64, order="C")
    d = {"shape": list(a.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()[:16]}
    if a.size <= 8:
        d["value"] = _tolist(a)
    else:
        with np.errstate(all="ignore"):       # a sum of huge values overflows: inf is the honest digest
            d["sum"] = float(a.sum())
    return d


def cmd_trace(scenario, args) -> int:
    from .limits import MAX_TRACE_BYTES
    from .stepper import Stepper
    st = Stepper(scenario, steps=args.steps)
    out = sys.stdout
    # The first iteration is written to memory first: its size times the steps is what the whole trace
    # would write, refused above MAX_TRACE_BYTES before a byte reaches the output.
    first = []
    while not st.at_end and st.iteration == 1 and (st.tick < st.per_iteration):
        ev = st.step()
        first.append(json.dumps(_json_safe(trace_record(st, ev))) + "\n")
        if ev.anomaly is not None:
            break
    per = sum(len(line.encode()) for line in first)
    if ev.anomaly is None and per * st.steps > MAX_TRACE_BYTES:
        most = max(1, MAX_TRACE_BYTES // max(per, 1))
        raise ScenarioError(f"gradstep trace would write about {_bytes(per * st.steps)} ({_bytes(per)} per iteration "
                            f"× {st.steps:,} iterations), more than the limit of {_bytes(MAX_TRACE_BYTES)} "
                            f"(MAX_TRACE_BYTES): pass --steps N with N at most {most:,}", file="trace")
    out.write("".join(first))
    if ev.anomaly is not None:
        warn(f"gradstep: numeric anomaly: {ev.anomaly.message}")
        return 1
    while not st.at_end:
        ev = st.step()
        out.write(json.dumps(_json_safe(trace_record(st, ev))) + "\n")
        if ev.anomaly is not None:
            warn(f"gradstep: numeric anomaly: {ev.anomaly.message}")
            return 1
    return 0


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def cmd_dot(scenario, args) -> int:
    from . import dot
    if args.at is not None and not args.values:
        raise ScenarioError("goes with --values (the tick whose values and gradients label the graph)",
                            file="--at")
    if not args.values:
        say(dot.plain(scenario.program))
        return 0
    from .stepper import Stepper
    st = Stepper(scenario)
    if args.at is None:
        tick = st.forward_len + st.backward_len          # just after the first backward pass
        if tick % st.per_iteration == 0 and tick < st.total_ticks:
            st = st.ended(1)          # no params: that tick starts iteration 2, so show iteration 1 whole
        else:
            st.seek(tick)
    elif not 0 <= args.at <= st.total_ticks:
        raise ScenarioError(f"{args.at}: the ticks run from 0 to {st.total_ticks:,} ({st.per_iteration} per "
                            f"iteration, {st.steps:,} iteration{'s' if st.steps > 1 else ''})", file="--at")
    else:
        st.seek(args.at)
    c = st.cursor
    where = f"tick {st.tick}: iteration {c.iteration}, {c.phase.value}" + \
        (f" {c.index}/{c.length}" if c.length else "")
    if st.anomaly is not None:
        warn(f"gradstep: warning: numeric anomaly: {st.anomaly.message}")
    say(dot.with_values(st, where))
    return 0
