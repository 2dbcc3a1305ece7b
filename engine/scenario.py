"""Scenario files: TOML read with ``tomllib``, checked table by table, turned into a Program.

Every problem raises ScenarioError naming the file, the table and key, and the line.
"""
from __future__ import annotations

import math
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import expr, limits
from .breakpoints import check_count, make_breakpoint
from .optim import REGISTRY as OPTIMIZERS
from .optim import SCHEDULES, SGD, Training
from .data import DataSet, load_data
from .errors import ScenarioError
from .ops import REGISTRY, check_indices
from .program import Program, ProgramBuilder, index_inputs
from .shapes import fmt
from .files import FileProblem, read_file, read_inside
from .importers import safetensors
from .tomltext import clip, did_you_mean, find_line, show, toml_error
from .tomlvalues import check_total, count, get, literal, literal_shape, only, type_name

TABLES = ("scenario", "values", "params", "data", "graph", "train", "break", "quiz")
BREAK_KEYS = ("when", "at", "phase", "ignore", "name", "enabled")
INITS = ("normal", "uniform", "zeros", "ones")
TRAIN_KEYS = ("loss", "learning_rate", "steps", "grad_norm_limit", "optimizer", "momentum", "dampening",
              "nesterov", "betas", "eps", "alpha", "weight_decay", "schedule", "params")


@dataclass
class Scenario:
    """A whole, reproducible training run: its program, its leaves' starting values, its data."""

    title: str
    description: str
    path: Path | None
    seed: int
    program: Program
    initial: dict[int, np.ndarray]          # node id -> value for values, params and constants
    learning_rate: float
    steps: int
    data: DataSet | None = None
    grad_norm_limit: float | None = None
    source: str = field(default="", repr=False)
    work: int = 0           # estimated multiply-adds of one forward pass (see limits.MAX_TOTAL_WORK)
    breakpoints: list[dict] = field(default_factory=list)   # [[break]] tables, checked: Stepper.add_breakpoint(**b)
    training: Training = SGD            # the optimizer, its options, schedules and per-param overrides
    warnings: dict[int, str] = field(default_factory=dict)   # node id -> a likely mistake, said at load
    quiz: QuizSpec | None = None        # [quiz]: the TUI asks for these before it shows them

    @property
    def loss(self) -> int:
        return self.program.loss

    def leaves_for(self, iteration: int) -> dict[int, np.ndarray]:
        """Every leaf's value at the start of an iteration (1-based): params come from training."""
        out = dict(self.initial)
        if self.data is not None:
            out.update(self.data.batch(iteration))
        for i in self.program.noise:
            out[i] = noise(self.seed, i, iteration, self.program.nodes[i].shape)
        return out


@dataclass(frozen=True)
class QuizSpec:
    """[quiz]: the nodes whose value (forward) or gradient contributions (backward) the quiz asks for, and how
    close an answer must be: |answer - value| <= tolerance * |value|."""

    values: tuple[int, ...]
    grads: tuple[int, ...]
    tolerance: float = 1e-3

    @classmethod
    def every(cls, program: Program, tolerance: float = 1e-3) -> QuizSpec:
        """Without an `ask` list: every [graph] key's value, then the gradient of every named node that gets one."""
        keys = [n.id for n in program.nodes if n.key is not None]
        return cls(tuple(i for i in keys if program.nodes[i].op is not None),
                   tuple(i for i in keys if program.needs_grad[i]), tolerance)


QUIZ_KEYS = ("ask", "tolerance")


def _quiz(spec: dict, program: Program) -> QuizSpec:
    """[quiz] checked against the program: ask lists names (their values) and grad(name) (their gradients)."""
    only(spec, "quiz", QUIZ_KEYS)
    tolerance = get(spec, "quiz", "tolerance", float, 1e-3)
    if not 0 < tolerance < 1:
        raise ScenarioError(f"tolerance is relative, a number between 0 and 1 (1e-3: within 0.1%), got "
                            f"{show(tolerance)}", table="quiz", key="tolerance")
    if "ask" not in spec:
        return QuizSpec.every(program, tolerance)
    ask = spec["ask"]
    if not isinstance(ask, list) or not ask or not all(isinstance(a, str) for a in ask):
        raise ScenarioError(f'ask is a list of node names and grad(name), like ["u", "v", "grad(x)"], got '
                            f"{type_name(ask) if not isinstance(ask, list) else show(ask)}", table="quiz", key="ask")
    values, grads = [], []
    names = list(program.by_name)
    for entry in ask:
        text = entry.strip()
        grad = text.startswith("grad(") and text.endswith(")")
        name = text[5:-1].strip() if grad else text
        if not name.isidentifier():
            raise ScenarioError(f"{clip(entry, 40)!r} is not a node name or grad(name)", table="quiz", key="ask")
        node = program.by_name.get(name)
        if node is None:
            raise ScenarioError(f"{clip(name, 40)!r} names no node{did_you_mean(name, names)}; ask names [graph] "
                                f"keys, inputs and params", table="quiz", key="ask")
        n = program.nodes[node]
        if grad and not program.needs_grad[node]:
            raise ScenarioError(f"no gradient flows to {name!r} (it does not lead to the loss, or nothing it "
                                f"depends on varies): grad({name}) has nothing to ask", table="quiz", key="ask")
        if not grad and n.op is None:
            what = _QUIZ_KIND.get(n.kind, n.kind)
            raise ScenarioError(f"{name!r} is a{'n' if what[0] in 'aeiou' else ''} {what}: its value is given, "
                                f"not computed; ask grad({name}) for its gradient",
                                table="quiz", key="ask")
        into = grads if grad else values
        if node in into:
            raise ScenarioError(f"{clip(entry, 40)!r} is asked twice", table="quiz", key="ask")
        into.append(node)
    return QuizSpec(tuple(values), tuple(grads), tolerance)


_QUIZ_KIND = {"value": "input", "param": "param", "data": "data column"}


def noise(seed: int, node: int, iteration: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform noise in [0, 1) for one noise leaf and iteration: its own stream, so nothing else shifts it."""
    return np.random.default_rng([seed, _NOISE, node, iteration]).random(shape)


_NOISE = 0x6E6F697365        # "noise": keeps these streams apart from the init streams [seed, crc32(name)]


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file."""
    path = Path(path)
    name = str(path)
    try:
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a file"
            raise ScenarioError(f"the scenario file {what}", file=name)
    except OSError as e:              # a name too long, a folder that cannot be entered
        raise ScenarioError(f"cannot read the scenario file: {e.strerror or e}", file=name) from None
    try:
        raw = read_file(path, limits.MAX_FILE_BYTES, "MAX_FILE_BYTES")
    except FileProblem as e:
        raise ScenarioError(f"the scenario file {e}", file=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("the file is not UTF-8 text", file=name) from None
    return load_scenario_text(text, file=name, base_dir=path.parent)


def load_scenario_text(text: str, *, file: str = "<scenario>", base_dir: str | Path | None = None) -> Scenario:
    """Check a scenario given as TOML text; CSV data is looked up in base_dir."""
    try:
        return _Loader(text, file, Path(base_dir) if base_dir is not None else None).load()
    except ScenarioError as e:
        raise e.located(file=file, line=find_line(text, e.table, e.key)) from None
    except RecursionError:
        raise ScenarioError("the file nests too deeply to read", file=file) from None


class _Loader:
    def __init__(self, text: str, file: str, base_dir: Path | None):
        self.text = text
        self.file = file
        self.base_dir = base_dir
        self.weights: dict[str, tuple[bytes, dict]] = {}     # weights file -> (its bytes, its tensors)

    def load(self) -> Scenario:
        try:
            doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as e:
            raise toml_error(self.text, str(e)) from None
        except ValueError:
            # tomllib converts integer literals with int(), which refuses more than 4,300 digits.
            raise ScenarioError("the file holds a whole number of more than 4,300 digits, more than a scenario "
                                "can use") from None
        for table in doc:
            if table not in TABLES:
                raise ScenarioError(f"unknown table [{table}]{did_you_mean(table, TABLES)}; the tables are "
                                    + ", ".join(f"[{t}]" for t in TABLES), table=table)
        for table in TABLES:
            if table == "break":
                if table in doc and not (isinstance(doc[table], list) and all(isinstance(t, dict) for t in doc[table])):
                    raise ScenarioError("breakpoints are written as [[break]] tables, one per breakpoint",
                                        table=table)
            elif table in doc and not isinstance(doc[table], dict):
                raise ScenarioError(f"[{table}] must be a table, got {type_name(doc[table])}", table=table)
        if "scenario" in doc:       # first, so 'graph = ...' written under [scenario] is named as such
            only(doc["scenario"], "scenario", ("title", "description", "seed", "broadcast_ok"))
        for table in ("scenario", "graph", "train"):
            if table not in doc:
                raise ScenarioError(f"the table [{table}] is missing", table=table)

        meta = doc["scenario"]
        title = get(meta, "scenario", "title", str)
        description = get(meta, "scenario", "description", str, "")
        seed = get(meta, "scenario", "seed", int, 0)
        if not 0 <= seed < 2**63:
            raise ScenarioError("seed must be a whole number from 0 to 2**63 - 1", table="scenario", key="seed")

        b = ProgramBuilder()
        initial: dict[int, np.ndarray] = {}
        total = 0
        declared = []
        for table, kind in (("values", "value"), ("params", "param")):
            for name, spec in doc.get(table, {}).items():
                self.check_name(b, table, name)
                # Every size, and their sum, is checked before anything is allocated.
                shape = self.shape(spec, table, name)
                total += count(shape, table, name)
                check_total(total, table, name)
                declared.append((b.leaf(name, kind, shape), spec, table, name))
        for node_id, spec, table, name in declared:
            initial[node_id] = self.tensor(spec, table, name, seed)

        data = None
        if "data" in doc:
            data = load_data(doc["data"], self.base_dir, seed)
            for name in data.names:
                self.check_name(b, "data", name)
                total += data.columns[name].size
                check_total(total, "data", name)
                data.node_ids[name] = b.leaf(name, "data", data.shape(name), text=data.describe(name))

        graph = doc["graph"]
        if not graph:
            raise ScenarioError("[graph] is empty: define at least one node", table="graph")
        keys = frozenset(graph)     # a key that is not defined yet is defined further down
        for key, text in graph.items():
            self.check_name(b, "graph", key)
            b.group = key
            try:
                node = expr.parse(text, b, key=key, later=keys)
                b.name_node(node, key)
            except ScenarioError as e:
                raise e.located(table="graph", key=key) from None
        b.group = None
        for node in b.nodes:
            if node.kind == "const":
                initial[node.id] = np.asarray(node.attrs["value"], dtype=np.float64)
        _check_class_indices(b, initial, data)

        train = doc["train"]
        only(train, "train", TRAIN_KEYS)
        loss_name = get(train, "train", "loss", str)
        loss = b.lookup(loss_name)
        if loss is None:
            raise ScenarioError(f"loss = {loss_name!r} names no node{did_you_mean(loss_name, list(graph))}; "
                                f"it must name a key of [graph]", table="train", key="loss")
        if b.nodes[loss].kind != "op":
            raise ScenarioError(f"loss = {loss_name!r} names a {b.nodes[loss].kind}; it must name a key of "
                                f"[graph], computed from the params", table="train", key="loss")
        if b.nodes[loss].shape != ():
            raise ScenarioError(f"the loss {loss_name!r} must be a scalar, but its shape is "
                                f"{fmt(b.nodes[loss].shape)}; wrap it in sum(...) or mean(...)",
                                table="train", key="loss")
        program = b.build(loss)
        work = _check_program(program)
        if program.params and "learning_rate" not in train:
            raise ScenarioError("the key 'learning_rate' is missing: the [params] are trained by "
                                "w <- w - learning_rate * dE/dw, so add e.g. learning_rate = 0.1",
                                table="train", key="learning_rate")
        lr = get(train, "train", "learning_rate", float, 0.0)
        if not math.isfinite(lr) or lr < 0:
            raise ScenarioError(f"learning_rate must be a finite number ≥ 0, got {lr}", table="train",
                                key="learning_rate")
        steps = get(train, "train", "steps", int, 1)
        if not 1 <= steps <= limits.MAX_STEPS:
            raise ScenarioError(f"steps must be from 1 to {limits.MAX_STEPS:,} (the limit MAX_STEPS), "
                                f"got {show(steps)}", table="train", key="steps")
        problem = steps_problem(steps, work)
        if problem:
            raise ScenarioError(problem, table="train", key="steps")
        limit = get(train, "train", "grad_norm_limit", float, math.inf)
        if not limit > 0:
            raise ScenarioError("grad_norm_limit must be a positive number", table="train", key="grad_norm_limit")
        training = _training(train, program, lr, steps)
        breaks = _breakpoints(doc.get("break", []), program)
        warnings = self.broadcast_warnings(meta, program, graph)
        quiz = _quiz(doc["quiz"], program) if "quiz" in doc else None
        return Scenario(quiz=quiz, warnings=warnings, title=title, description=description.strip(), path=Path(self.file) if self.base_dir
                        else None, seed=seed, program=program, initial=initial, learning_rate=lr,
                        steps=steps, data=data, grad_norm_limit=None if math.isinf(limit) else limit,
                        source=self.text, work=work, breakpoints=breaks, training=training)

    def broadcast_warnings(self, meta: dict, program: Program, graph: dict) -> dict[int, str]:
        """Surprising broadcasts, as warnings naming file, line and key, unless [scenario] broadcast_ok
        lists the key (or is true)."""
        ok = meta.get("broadcast_ok", False)
        if not (isinstance(ok, bool) or (isinstance(ok, list) and all(isinstance(k, str) for k in ok))):
            raise ScenarioError("broadcast_ok is true, or a list of [graph] keys whose broadcasts are intended",
                                table="scenario", key="broadcast_ok")
        if isinstance(ok, list):
            for k in ok:
                if k not in graph:
                    raise ScenarioError(f"broadcast_ok lists {clip(k, 40)!r}, which is no [graph] key"
                                        f"{did_you_mean(k, list(graph))}", table="scenario", key="broadcast_ok")
        out = {}
        for i, sentence in program.surprising_broadcasts().items():
            key = program.nodes[i].group or program.nodes[i].name
            if ok is True or (isinstance(ok, list) and key in ok):
                continue
            where = ScenarioError(f"{sentence}; if it is meant, add {key!r} to [scenario] broadcast_ok",
                                  file=self.file, table="graph", key=key, line=find_line(self.text, "graph", key))
            out[i] = where.message
        return out

    def check_name(self, b: ProgramBuilder, table: str, name: str) -> None:
        if not name.isidentifier() or not name.isascii():
            raise ScenarioError(f"{name!r} is not a valid name: use letters, digits and _", table=table, key=name)
        if name.startswith("__"):
            raise ScenarioError("names starting with '__' are not allowed", table=table, key=name)
        if name in REGISTRY or name in ("T",):
            raise ScenarioError(f"{name!r} is the name of an op; pick another name", table=table, key=name)
        first = b.lookup(name)
        if first is not None:
            where = _KIND_TABLE.get(b.nodes[first].kind, "graph")
            raise ScenarioError(f"{name!r} is defined twice: it is already defined in [{where}]; "
                                f"every name must be unique", table=table, key=name)

    def shape(self, spec, table: str, name: str) -> tuple[int, ...]:
        """The shape a leaf's spec gives, checked before anything is allocated or drawn."""
        if isinstance(spec, dict) and "file" in spec:
            rel, info = self.weight(spec, table, name)
            if 0 in info.shape:
                raise ScenarioError(f"tensor {clip(info.name, 80)!r} of {clip(rel, 80)!r} has shape {fmt(info.shape)}, "
                                    f"with no elements",
                                    table=table, key=name)
            return info.shape
        if isinstance(spec, dict):
            return _init_shape(spec, table, name)
        return literal_shape(spec, table, name, 0)

    def tensor(self, spec, table: str, name: str, seed: int) -> np.ndarray:
        """A literal (number or nested lists), an init table or a tensor of a weights file, as float64."""
        if isinstance(spec, dict) and "file" in spec:
            rel, info = self.weight(spec, table, name)
            value = safetensors.tensor(self.weights[rel][0], info)
            if not np.all(np.isfinite(value)):
                raise ScenarioError(f"tensor {clip(info.name, 80)!r} of {clip(rel, 80)!r} holds nan or inf; "
                                    f"params and values must be finite", table=table, key=name)
            return value
        if isinstance(spec, dict):
            return _init(spec, table, name, seed)
        return literal(spec, table, name)

    def weight(self, spec: dict, table: str, name: str):
        """(file, tensor info) of a { file = "m.safetensors", tensor = "fc1.weight" } spec; the file is
        read once, bounded, inside the scenario's folder, and its header checked against its size."""
        only(spec, table, ("file", "tensor"), key=name)
        rel = get(spec, table, "file", str, key=name)
        wanted = get(spec, table, "tensor", str, name, key=name)
        if self.base_dir is None:
            raise ScenarioError("a scenario given as text cannot read a weights file", table=table, key=name)
        if rel not in self.weights:
            raw = read_inside(self.base_dir, rel, limits.MAX_WEIGHTS_BYTES, "MAX_WEIGHTS_BYTES",
                              lambda problem: ScenarioError(problem, table=table, key=name), what="weights file")
            try:
                infos, _ = safetensors.header(raw)
            except FileProblem as e:
                raise ScenarioError(f"the weights file {clip(rel, 80)!r} is not a valid safetensors file: {e}",
                                    table=table, key=name) from None
            self.weights[rel] = (raw, infos)
        infos = self.weights[rel][1]
        if wanted not in infos:
            raise ScenarioError(f"the weights file {clip(rel, 80)!r} has no tensor {clip(wanted, 80)!r}"
                                f"{did_you_mean(wanted, list(infos))}", table=table, key=name)
        return rel, infos[wanted]


def _init_shape(spec: dict, table: str, name: str) -> tuple[int, ...]:
    """The shape an init table asks for, checked, before anything is drawn."""
    only(spec, table, ("init", "shape", "scale"), key=name)
    init = get(spec, table, "init", str, key=name)
    if init not in INITS:
        raise ScenarioError(f"unknown init {init!r}{did_you_mean(init, INITS)}; choose one of "
                            f"{', '.join(INITS)}", table=table, key=name)
    shape = spec.get("shape", [])
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise ScenarioError("shape must be a list of whole numbers, like [10, 100]", table=table, key=name)
    if len(shape) > limits.MAX_AXES:
        raise ScenarioError(f"shape has {len(shape)} axes; the limit (MAX_AXES) is {limits.MAX_AXES}",
                            table=table, key=name)
    if any(n < 1 for n in shape):
        raise ScenarioError(f"every size in shape must be at least 1, got {show(shape)}",
                            table=table, key=name)
    count(tuple(shape), table, name)
    return tuple(shape)


def _check_program(program: Program) -> int:
    """Refuse a program whose one iteration would hold too much or compute too long; return its work."""
    elements = work = 0
    for node in program.nodes:
        elements += node.size
        if node.op is not None:
            work += _node_work(program, node)
        if elements > limits.MAX_GRAPH_ELEMENTS:
            raise ScenarioError(f"one iteration would hold more than {limits.MAX_GRAPH_ELEMENTS:,} numbers over "
                                f"all nodes, the limit (MAX_GRAPH_ELEMENTS); use smaller tensors or fewer nodes",
                                table="graph", key=node.group or node.key)
        if work > limits.MAX_WORK_PER_ITERATION:
            raise ScenarioError(f"one forward pass would take about {work:,} multiply-adds, more than the limit "
                                f"of {limits.MAX_WORK_PER_ITERATION:,} (MAX_WORK_PER_ITERATION); use smaller "
                                f"tensors", table="graph", key=node.group or node.key)
    kept = kept_elements(program)
    if kept > limits.MAX_KEPT_ELEMENTS:
        raise ScenarioError(f"stepping through one iteration would keep {kept:,} numbers (values, gradients, and "
                            f"for going back every gradient contribution and the gradient it replaced), more than "
                            f"the limit of {limits.MAX_KEPT_ELEMENTS:,} (MAX_KEPT_ELEMENTS); a big tensor read by "
                            f"many nodes costs a copy per reader", table="graph")
    return work


def kept_elements(program: Program) -> int:
    """What the Stepper keeps for one iteration: every value, every gradient, and per gradient edge the
    contribution and the gradient it replaced (both the receiving node's size)."""
    nodes = program.nodes
    values = sum(n.size for n in nodes)
    grads = sum(n.size for n in nodes if program.needs_grad[n.id])
    edges = sum(nodes[j].size for i in program.backward for _, j in program.passes_to[i])
    return values + grads + 2 * edges


def _node_work(program: Program, node) -> int:
    """Estimated multiply-adds of one op, from its row's cost rule."""
    return node.op.cost(node.shape, *[program.nodes[j].shape for j in node.inputs], **node.attrs)


def steps_problem(steps: int, work: int) -> str | None:
    """Why replaying `steps` iterations of `work` multiply-adds each is refused, or None."""
    if steps * work > limits.MAX_TOTAL_WORK:
        most = max(1, limits.MAX_TOTAL_WORK // max(work, 1))
        return (f"{steps:,} steps of about {work:,} multiply-adds each exceed the limit of "
                f"{limits.MAX_TOTAL_WORK:,} for a whole replay (MAX_TOTAL_WORK); this scenario can run at most "
                f"{most:,} steps")
    return None


def _init(spec: dict, table: str, name: str, seed: int) -> np.ndarray:
    shape = _init_shape(spec, table, name)
    init = spec["init"]
    scale = get(spec, table, "scale", float, 1.0, key=name)
    if not math.isfinite(scale):
        raise ScenarioError("scale must be a finite number", table=table, key=name)
    if scale < 0 and init in ("normal", "uniform"):
        raise ScenarioError(f"scale is the spread of the {init} draw, so it cannot be negative; got {scale:g}",
                            table=table, key=name)
    # One stream per name, so adding a param does not change the others' draws.
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    try:
        with np.errstate(all="ignore"):
            if init == "normal":
                value = rng.standard_normal(shape) * scale
            elif init == "uniform":
                value = rng.uniform(-scale, scale, shape)
            elif init == "zeros":
                value = np.zeros(shape)
            else:
                value = np.ones(shape) * scale
    except (OverflowError, ValueError):       # uniform's range 2 * scale overflows float64
        value = np.array(math.inf)
    if not np.all(np.isfinite(value)):
        raise ScenarioError(f"scale = {scale:g} is so large that the {init} draw overflows float64; "
                            f"use a smaller scale", table=table, key=name)
    return value


def _training(train: dict, program: Program, lr: float, steps: int) -> Training:
    """[train]'s optimizer, its options (PyTorch's names and defaults), schedules and per-param overrides."""
    name = get(train, "train", "optimizer", str, "sgd")
    opt = OPTIMIZERS.get(name)
    if opt is None:
        raise ScenarioError(f"unknown optimizer {clip(name)!r}{did_you_mean(name, list(OPTIMIZERS))}; choose one of "
                            f"{', '.join(OPTIMIZERS)}", table="train", key="optimizer")
    every_option = {k for o in OPTIMIZERS.values() for k in o.options}
    for key in every_option:
        if key in train and key not in opt.options:
            raise ScenarioError(f"{key} is not an option of {name} (its options: {', '.join(opt.options)})",
                                table="train", key=key)
    options = {}
    for key, default in opt.options.items():
        if isinstance(default, bool):
            options[key] = get(train, "train", key, bool, default)
        elif isinstance(default, tuple):
            options[key] = _betas(train, default)
        else:
            v = get(train, "train", key, float, default)
            if not math.isfinite(v) or v < 0:
                raise ScenarioError(f"{key} must be a finite number ≥ 0, got {show(v)}", table="train", key=key)
            options[key] = v
    if "eps" in options and not options["eps"] > 0:
        raise ScenarioError(f"eps must be > 0, got {options['eps']:g}", table="train", key="eps")
    if options.get("momentum", 0.0) >= 1.0 and name == "rmsprop":
        raise ScenarioError("momentum must be below 1", table="train", key="momentum")
    problem = opt.check(options)
    if problem:
        key = "nesterov" if "nesterov" in problem else "betas" if "betas" in problem else "alpha"
        raise ScenarioError(problem, table="train", key=key)
    schedules = _schedules(train.get("schedule"), steps) if "schedule" in train else ()
    rates, decays = {}, {}
    groups = train.get("params", {})
    if not isinstance(groups, dict):
        raise ScenarioError("per-param options are tables: [train.params.W1] learning_rate = ...", table="train",
                            key="params")
    for pname, spec in groups.items():
        node = program.by_name.get(pname)
        if node is None or program.nodes[node].kind != "param":
            what = "names no param" if node is None else f"is a {program.nodes[node].kind}, not a param"
            raise ScenarioError(f"[train.params.{clip(pname, 40)}] {what}"
                                f"{did_you_mean(pname, [program.nodes[i].name for i in program.params])}",
                                table="train", key="params")
        if not isinstance(spec, dict):
            raise ScenarioError(f"[train.params.{pname}] must be a table", table="train", key="params")
        only(spec, "train", ("learning_rate", "weight_decay"), key=f"params.{pname}")
        if "learning_rate" in spec:
            v = get(spec, "train", "learning_rate", float, key=f"params.{pname}")
            if not math.isfinite(v) or v < 0:
                raise ScenarioError(f"learning_rate must be a finite number ≥ 0, got {show(v)}", table="train",
                                    key=f"params.{pname}")
            rates[node] = v
        if "weight_decay" in spec:
            if "weight_decay" not in opt.options:
                raise ScenarioError(f"{name} has no weight_decay", table="train", key=f"params.{pname}")
            v = get(spec, "train", "weight_decay", float, key=f"params.{pname}")
            if not math.isfinite(v) or v < 0:
                raise ScenarioError(f"weight_decay must be a finite number ≥ 0, got {show(v)}", table="train",
                                    key=f"params.{pname}")
            decays[node] = v
    return Training(opt, options, schedules, rates or None, decays or None)


def _betas(train: dict, default: tuple[float, float]) -> tuple[float, float]:
    if "betas" not in train:
        return default
    b = train["betas"]
    if not (isinstance(b, list) and len(b) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in b)):
        raise ScenarioError("betas must be two numbers, like [0.9, 0.999]", table="train", key="betas")
    b1, b2 = float(b[0]), float(b[1])
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise ScenarioError(f"betas must each lie in [0, 1), got [{show(b[0], 20)}, {show(b[1], 20)}]",
                            table="train", key="betas")
    return b1, b2


def _schedules(spec, steps: int) -> tuple[tuple[str, dict], ...]:
    """schedule = {kind = ...} or a list of them (their factors multiply)."""
    items = spec if isinstance(spec, list) else [spec]
    if not items or not all(isinstance(x, dict) for x in items):
        raise ScenarioError('schedule is a table like { kind = "step", every = 10, gamma = 0.5 }, or a list of them',
                            table="train", key="schedule")
    if len(items) > 8:
        raise ScenarioError("at most 8 schedules can be combined", table="train", key="schedule")
    out = []
    for item in items:
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in SCHEDULES:
            shown = show(kind, 30)
            raise ScenarioError(f"unknown schedule kind {shown!r}{did_you_mean(str(kind), list(SCHEDULES))}; the kinds "
                                f"are {', '.join(SCHEDULES)}", table="train", key="schedule")
        sched = SCHEDULES[kind]
        only(item, "train", ("kind",) + sched.keys, key="schedule")
        params = {}
        for key in sched.keys:
            if key not in item:
                raise ScenarioError(f"a {kind} schedule needs {key} ({', '.join(sched.keys)})", table="train",
                                    key="schedule")
            whole = key in ("every", "steps")
            v = get(item, "train", key, int if whole else float, key="schedule")
            if whole and not 1 <= v <= limits.MAX_STEPS:
                raise ScenarioError(f"{kind}: {key} must be a whole number from 1 to {limits.MAX_STEPS:,}, so the "
                                    f"schedule ends; got {show(v)}", table="train", key="schedule")
            if not whole and (not math.isfinite(v) or v < 0 or (key == "gamma" and v == 0)):
                raise ScenarioError(f"{kind}: {key} must be a finite number {'> 0' if key == 'gamma' else '≥ 0'}, "
                                    f"got {show(v)}", table="train", key="schedule")
            params[key] = v
        out.append((kind, params))
    return tuple(out)


def _breakpoints(tables: list[dict], program: Program) -> list[dict]:
    """[[break]] tables, each checked against the program (untrusted input like the rest of the file)."""
    check_count(len(tables))
    out = []
    for k, t in enumerate(tables):
        only(t, "break", BREAK_KEYS)
        spec = {"when": get(t, "break", "when", str, None) if "when" in t else None,
                "at": get(t, "break", "at", str, None) if "at" in t else None,
                "phase": get(t, "break", "phase", str, None) if "phase" in t else None,
                "ignore": get(t, "break", "ignore", int, 0),
                "enabled": get(t, "break", "enabled", bool, True),
                "name": get(t, "break", "name", str, "") if "name" in t else f"break {k + 1}"}
        make_breakpoint(program, k + 1, **spec)          # raises ScenarioError naming the problem
        out.append(spec)
    return out


_KIND_TABLE = {"value": "values", "param": "params", "data": "data", "op": "graph"}


def _check_class_indices(b: ProgramBuilder, initial: dict[int, np.ndarray], data: DataSet | None) -> None:
    """Class-index inputs (cross_entropy's targets), checked against the number of classes before anything runs."""
    for x in index_inputs(b.nodes):
        node = b.nodes[x.node]
        given = b.nodes[node.inputs[x.position]]
        if x.source is None:
            raise ScenarioError(f"{node.name!r}: the class indices {given.name!r} must come straight from "
                                f"[values] or [data], not be computed, so they can be checked before the run",
                                table="graph", key=node.group)
        source = b.nodes[x.source]
        if source.kind == "data":
            arr, where = data.columns[source.name], f"the data column {source.name!r}"
        else:
            arr, where = initial[source.id], repr(source.name)
        why = check_indices(node.op, arr, x.classes)
        if why:
            k = x.classes
            count = "there is 1 class, numbered 0" if k == 1 else f"there are {k} classes, numbered from 0"
            raise ScenarioError(f"{node.name!r}: {why} (in {where}); {count}", table="graph", key=node.group)


