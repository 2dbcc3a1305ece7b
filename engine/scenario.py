"""Scenario files: TOML read with ``tomllib``, checked table by table, turned into a Program.

Every problem raises ScenarioError naming the file, the table and key, and the line.
"""
from __future__ import annotations

import math
import re
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import expr, limits
from .data import DataSet, load_data
from .errors import ScenarioError
from .ops import REGISTRY
from .program import Program, ProgramBuilder
from .shapes import fmt

TABLES = ("scenario", "values", "params", "data", "graph", "train")
INITS = ("normal", "uniform", "zeros", "ones")
TRAIN_KEYS = ("loss", "learning_rate", "steps", "grad_norm_limit")


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

    @property
    def loss(self) -> int:
        return self.program.loss

    def leaves_for(self, iteration: int) -> dict[int, np.ndarray]:
        """Every leaf's value at the start of an iteration (1-based): params come from training."""
        out = dict(self.initial)
        if self.data is not None:
            out.update(self.data.batch(iteration))
        return out


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file."""
    path = Path(path)
    name = str(path)
    try:
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a file"
            raise ScenarioError(f"the scenario file {what}", file=name)
        size = path.stat().st_size
        if size > limits.MAX_FILE_BYTES:
            raise ScenarioError(f"the file is {size:,} bytes; the limit is {limits.MAX_FILE_BYTES:,}", file=name)
        raw = path.read_bytes()
    except OSError as e:
        raise ScenarioError(f"cannot read the file: {e.strerror or e}", file=name) from None
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
        raise e.located(file=file, line=_find_line(text, e.table, e.key)) from None
    except RecursionError:
        raise ScenarioError("the file nests too deeply to read", file=file) from None


class _Loader:
    def __init__(self, text: str, file: str, base_dir: Path | None):
        self.text = text
        self.file = file
        self.base_dir = base_dir

    def load(self) -> Scenario:
        try:
            doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"line (\d+)", str(e))
            raise ScenarioError(f"this is not valid TOML: {e}", line=int(m.group(1)) if m else None) from None
        for table in doc:
            if table not in TABLES:
                raise ScenarioError(f"unknown table [{table}]; the tables are "
                                    + ", ".join(f"[{t}]" for t in TABLES), table=table)
        for table in ("scenario", "graph", "train"):
            if table not in doc:
                raise ScenarioError(f"the table [{table}] is missing", table=table)
        for table in TABLES:
            if table in doc and not isinstance(doc[table], dict):
                raise ScenarioError(f"[{table}] must be a table, got {_type(doc[table])}", table=table)

        meta = doc["scenario"]
        _only(meta, "scenario", ("title", "description", "seed"))
        title = _get(meta, "scenario", "title", str)
        description = _get(meta, "scenario", "description", str, "")
        seed = _get(meta, "scenario", "seed", int, 0)
        if not 0 <= seed < 2**63:
            raise ScenarioError("seed must be a whole number from 0 to 2**63 - 1", table="scenario", key="seed")

        b = ProgramBuilder()
        initial: dict[int, np.ndarray] = {}
        total = 0
        for table, kind in (("values", "value"), ("params", "param")):
            for name, spec in doc.get(table, {}).items():
                self.check_name(b, table, name)
                value = self.tensor(spec, table, name, seed)
                total += value.size
                if total > limits.MAX_TOTAL_ELEMENTS:
                    raise ScenarioError(f"values and params hold more than {limits.MAX_TOTAL_ELEMENTS:,} "
                                        f"elements in all, the limit", table=table, key=name)
                initial[b.leaf(name, kind, value.shape)] = value

        data = None
        if "data" in doc:
            data = load_data(doc["data"], self.base_dir, seed)
            for name in data.names:
                self.check_name(b, "data", name)
                data.node_ids[name] = b.leaf(name, "data", data.shape(name), text=data.describe(name))

        graph = doc["graph"]
        if not graph:
            raise ScenarioError("[graph] is empty: define at least one node", table="graph")
        for key, text in graph.items():
            self.check_name(b, "graph", key)
            b.group = key
            node = expr.parse(text, b, key=key)
            b.name_node(node, key)
        b.group = None
        for node in b.nodes:
            if node.kind == "const":
                initial[node.id] = np.asarray(node.attrs["value"], dtype=np.float64)

        train = doc["train"]
        _only(train, "train", TRAIN_KEYS)
        loss_name = _get(train, "train", "loss", str)
        loss = b.lookup(loss_name)
        if loss is None or b.nodes[loss].kind != "op":
            raise ScenarioError(f"loss = {loss_name!r} must name a node defined in [graph]", table="train", key="loss")
        if b.nodes[loss].shape != ():
            raise ScenarioError(f"the loss {loss_name!r} must be a scalar, but its shape is "
                                f"{fmt(b.nodes[loss].shape)}; wrap it in sum(...) or mean(...)",
                                table="train", key="loss")
        program = b.build(loss)
        lr = _get(train, "train", "learning_rate", float, None if program.params else 0.0)
        if not math.isfinite(lr) or lr < 0:
            raise ScenarioError(f"learning_rate must be a finite number ≥ 0, got {lr}", table="train",
                                key="learning_rate")
        steps = _get(train, "train", "steps", int, 1)
        if not 1 <= steps <= limits.MAX_STEPS:
            raise ScenarioError(f"steps must be from 1 to {limits.MAX_STEPS:,}, got {steps:,}",
                                table="train", key="steps")
        limit = _get(train, "train", "grad_norm_limit", float, math.inf)
        if not limit > 0:
            raise ScenarioError("grad_norm_limit must be a positive number", table="train", key="grad_norm_limit")
        return Scenario(title=title, description=description.strip(), path=Path(self.file) if self.base_dir
                        else None, seed=seed, program=program, initial=initial, learning_rate=lr,
                        steps=steps, data=data, grad_norm_limit=None if math.isinf(limit) else limit,
                        source=self.text)

    def check_name(self, b: ProgramBuilder, table: str, name: str) -> None:
        if not name.isidentifier() or not name.isascii():
            raise ScenarioError(f"{name!r} is not a valid name: use letters, digits and _", table=table, key=name)
        if name.startswith("__"):
            raise ScenarioError(f"names starting with '__' are not allowed", table=table, key=name)
        if name in REGISTRY or name in ("T",):
            raise ScenarioError(f"{name!r} is the name of an op; pick another name", table=table, key=name)
        if b.lookup(name) is not None:
            raise ScenarioError(f"{name!r} is defined twice", table=table, key=name)

    def tensor(self, spec, table: str, name: str, seed: int) -> np.ndarray:
        """A literal (number or nested lists) or an init table, as float64."""
        if isinstance(spec, dict):
            return _init(spec, table, name, seed)
        return literal(spec, table, name)


def literal(spec, table: str, key: str) -> np.ndarray:
    """A number or rectangular nested lists of numbers, as a float64 array."""
    shape = _literal_shape(spec, table, key, 0)
    n = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if n > limits.MAX_ELEMENTS:
        raise ScenarioError(f"the literal has {n:,} elements, more than the limit of {limits.MAX_ELEMENTS:,}",
                            table=table, key=key)
    arr = np.array(spec, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ScenarioError("the value contains nan or inf; use finite numbers", table=table, key=key)
    return arr


def _literal_shape(spec, table, key, depth) -> tuple[int, ...]:
    if isinstance(spec, bool) or isinstance(spec, str) or isinstance(spec, dict) or \
            not isinstance(spec, (int, float, list)):
        raise ScenarioError(f"expected a number or a list of numbers, got {_type(spec)}", table=table, key=key)
    if isinstance(spec, (int, float)):
        return ()
    if depth >= limits.MAX_AXES:
        raise ScenarioError(f"the list nests more than {limits.MAX_AXES} levels", table=table, key=key)
    if not spec:
        raise ScenarioError("an empty list has no values", table=table, key=key)
    shapes = {_literal_shape(s, table, key, depth + 1) for s in spec}
    if len(shapes) != 1:
        raise ScenarioError("the nested lists are ragged: every row must have the same length and depth",
                            table=table, key=key)
    return (len(spec),) + shapes.pop()


def _init(spec: dict, table: str, name: str, seed: int) -> np.ndarray:
    _only(spec, table, ("init", "shape", "scale"), key=name)
    init = _get(spec, table, "init", str, key=name)
    if init not in INITS:
        raise ScenarioError(f"unknown init {init!r}; choose one of {', '.join(INITS)}", table=table, key=name)
    shape = spec.get("shape", [])
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise ScenarioError("shape must be a list of whole numbers, like [10, 100]", table=table, key=name)
    if len(shape) > limits.MAX_AXES:
        raise ScenarioError(f"shape has {len(shape)} axes; the limit is {limits.MAX_AXES}", table=table, key=name)
    if any(n < 1 for n in shape):
        raise ScenarioError(f"every size in shape must be at least 1, got {shape}", table=table, key=name)
    count = math.prod(shape)
    if count > limits.MAX_ELEMENTS:
        raise ScenarioError(f"shape {shape} has {count:,} elements, more than the limit of "
                            f"{limits.MAX_ELEMENTS:,}", table=table, key=name)
    scale = _get(spec, table, "scale", float, 1.0, key=name)
    if not math.isfinite(scale):
        raise ScenarioError("scale must be a finite number", table=table, key=name)
    # One stream per name, so adding a param does not change the others' draws.
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if init == "normal":
        return rng.standard_normal(tuple(shape)) * scale
    if init == "uniform":
        return rng.uniform(-scale, scale, tuple(shape))
    if init == "zeros":
        return np.zeros(tuple(shape))
    return np.ones(tuple(shape)) * scale


def _type(v) -> str:
    return {bool: "true/false", str: "a string", dict: "a table", list: "a list", int: "a whole number",
            float: "a number"}.get(type(v), type(v).__name__)


def _only(spec: dict, table: str, allowed: tuple[str, ...], key: str | None = None) -> None:
    for k in spec:
        if k not in allowed:
            where = f"in {key} " if key else ""
            raise ScenarioError(f"unknown key {k!r} {where}(allowed: {', '.join(allowed)})", table=table,
                                key=key or k)


_MISSING = object()


def _get(spec: dict, table: str, name: str, kind: type, default=_MISSING, key: str | None = None):
    """spec[name] checked against kind (float accepts whole numbers); a clear error otherwise."""
    if name not in spec:
        if default is _MISSING or default is None:
            raise ScenarioError(f"the key {name!r} is missing", table=table, key=key or name)
        return default
    v = spec[name]
    ok = isinstance(v, kind) and not isinstance(v, bool)
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v, ok = float(v), True
    if not ok:
        want = {str: "a string", int: "a whole number", float: "a number"}[kind]
        raise ScenarioError(f"{name} must be {want}, got {_type(v)}", table=table, key=key or name)
    return v


def _find_line(text: str, table: str | None, key: str | None) -> int | None:
    """The line where [table] key = ... is written, found by scanning the text."""
    if table is None:
        return None
    current = None
    header = None
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"^\[\s*([A-Za-z0-9_\-]+)\s*\]", s)
        if m:
            current = m.group(1)
            if current == table:
                header = no
            continue
        if current == table and key is not None and re.match(rf"^\"?{re.escape(key)}\"?\s*=", s):
            return no
    return header
