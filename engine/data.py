"""[data]: names bound to a data set, one batch per iteration, inline columns or a CSV beside the scenario.

The batch of iteration i is a pure function of (seed, i), so any iteration can be recomputed
exactly without replaying the ones before it. Epoch e is a permutation drawn from
default_rng([seed, e]) when shuffling; a partial last batch is dropped so shapes never change.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import limits
from .errors import ScenarioError
from .files import read_inside
from .tomlvalues import literal

DATA_KEYS = ("file", "batch", "shuffle")


@dataclass
class DataSet:
    """Named columns of equal length, served in batches."""

    columns: dict[str, np.ndarray]       # name -> array of shape [rows, ...]
    batch_size: int
    shuffle: bool
    seed: int
    source: str = "inline"
    node_ids: dict[str, int] = field(default_factory=dict)
    _perm_epoch: int = field(default=-1, repr=False)
    _perm: np.ndarray | None = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values())))

    @property
    def batches_per_epoch(self) -> int:
        return self.rows // self.batch_size

    def shape(self, name: str) -> tuple[int, ...]:
        return (self.batch_size,) + self.columns[name].shape[1:]

    def describe(self, name: str) -> str:
        return f"data from {self.source}, {self.batch_size} of {self.rows} rows per iteration"

    def rows_for(self, iteration: int) -> np.ndarray:
        """Row indices of the batch used in an iteration (1-based)."""
        epoch, k = divmod(iteration - 1, self.batches_per_epoch)
        if self.shuffle:
            if epoch != self._perm_epoch:
                self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.rows)
                self._perm_epoch = epoch
            order = self._perm
        else:
            order = None
        sl = slice(k * self.batch_size, (k + 1) * self.batch_size)
        return order[sl] if order is not None else np.arange(self.rows)[sl]

    def batch(self, iteration: int) -> dict[int, np.ndarray]:
        """node id -> this iteration's batch for every bound name (unshuffled: views of the rows, no copy)."""
        if not self.shuffle:
            k = (iteration - 1) % self.batches_per_epoch * self.batch_size
            return {self.node_ids[n]: col[k:k + self.batch_size] for n, col in self.columns.items()}
        idx = self.rows_for(iteration)
        return {self.node_ids[n]: col[idx] for n, col in self.columns.items()}

    def __post_init__(self) -> None:
        # Batches are views of the columns: nobody may write through them.
        for col in self.columns.values():
            col.flags.writeable = False


def load_data(spec: dict, base_dir: Path | None, seed: int) -> DataSet:
    """Check a [data] table and read its columns."""
    if "file" in spec:
        columns, source = _csv_columns(spec, base_dir)
    else:
        columns, source = _inline_columns(spec), "inline"
    if not columns:
        raise ScenarioError("[data] binds no names: add e.g. x = [[0, 1], [1, 0]]", table="data")
    rows = {len(c) for c in columns.values()}
    if len(rows) != 1:
        counts = ", ".join(f"{n}: {len(c)}" for n, c in columns.items())
        raise ScenarioError(f"every data column must have the same number of rows ({counts})", table="data")
    n = rows.pop()
    batch = spec.get("batch", n)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= n:
        raise ScenarioError(f"batch must be a whole number from 1 to the {n} rows, got {batch!r}",
                            table="data", key="batch")
    shuffle = spec.get("shuffle", False)
    if not isinstance(shuffle, bool):
        raise ScenarioError("shuffle must be true or false", table="data", key="shuffle")
    return DataSet(columns, batch, shuffle, seed, source)


def _inline_columns(spec: dict) -> dict[str, np.ndarray]:
    out = {}
    for name, v in spec.items():
        if name in DATA_KEYS:
            continue
        if not isinstance(v, list):
            if isinstance(v, (bool, int, float)):
                # A setting, not a column: most likely a misspelt or unsupported option.
                raise ScenarioError(f"unknown [data] option {name!r} (the options are "
                                    f"{', '.join(DATA_KEYS)}; a column is a list with one entry per row)",
                                    table="data", key=name)
            raise ScenarioError("a data column is a list with one entry per row, like [[0, 1], [1, 0]]",
                                table="data", key=name)
        out[name] = literal(v, "data", name)
    return out


def _csv_columns(spec: dict, base_dir: Path | None) -> tuple[dict[str, np.ndarray], str]:
    rel = spec["file"]
    if not isinstance(rel, str) or not rel:
        raise ScenarioError("file must be the name of a CSV file beside the scenario", table="data", key="file")
    if base_dir is None:
        raise ScenarioError("a scenario given as text cannot read a CSV file", table="data", key="file")
    raw = read_inside(base_dir, rel, limits.MAX_CSV_BYTES, "MAX_CSV_BYTES",
                      lambda problem: ScenarioError(problem, table="data", key="file"), what="CSV file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"the CSV file {rel!r} is not UTF-8 text", table="data", key="file") from None
    rows, lines = [], []          # rows and the line each one starts on, for messages
    try:
        reader = csv.reader(io.StringIO(text))
        start = 1
        for row in reader:
            if any(c.strip() for c in row):
                if len(rows) > limits.MAX_CSV_ROWS:
                    raise ScenarioError(f"the CSV file {rel!r} has more than {limits.MAX_CSV_ROWS:,} rows, "
                                        f"the limit (MAX_CSV_ROWS)", table="data", key="file")
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as e:
        raise ScenarioError(f"the CSV file {rel!r} is malformed near line {reader.line_num}: {e}",
                            table="data", key="file") from None
    if not rows:
        raise ScenarioError(f"the CSV file {rel!r} is empty", table="data", key="file")
    header = [h.strip() for h in rows[0]]
    position: dict[str, int] = {}            # column name -> its first index: one lookup per wanted name
    for k, h in enumerate(header):
        position.setdefault(h, k)
    body, lines = rows[1:], lines[1:]
    if not body:
        raise ScenarioError(f"the CSV file {rel!r} has a header but no rows", table="data", key="file")
    parsed: dict[int, np.ndarray] = {}      # column index -> its numbers, each column read once
    total = 0
    out = {}
    for name, cols in spec.items():
        if name in DATA_KEYS:
            continue
        single = isinstance(cols, str)
        wanted = [cols] if single else cols
        if not isinstance(wanted, list) or not wanted or not all(isinstance(c, str) for c in wanted):
            raise ScenarioError("with a CSV file, bind a name to a column name or a list of column names",
                                table="data", key=name)
        total += len(body) * len(wanted)
        if len(body) * len(wanted) > limits.MAX_ELEMENTS or total > limits.MAX_TOTAL_ELEMENTS:
            raise ScenarioError(f"the data would hold {total:,} numbers, more than the limit "
                                f"(MAX_ELEMENTS {limits.MAX_ELEMENTS:,} per name, MAX_TOTAL_ELEMENTS "
                                f"{limits.MAX_TOTAL_ELEMENTS:,} in all)", table="data", key=name)
        idx = []
        for c in wanted:
            if c not in position:
                shown = ", ".join(repr(h[:40]) for h in header[:20]) + (", …" if len(header) > 20 else "")
                raise ScenarioError(f"the CSV file has no column {c[:40]!r}; its columns are {shown}",
                                    table="data", key=name)
            idx.append(position[c])
        for ci in idx:
            if ci not in parsed:
                parsed[ci] = _column(body, lines, ci, header[ci], rel, name)
        arr = np.stack([parsed[ci] for ci in idx], axis=1)
        out[name] = np.ascontiguousarray(arr[:, 0]) if single else arr
    return out, rel


def _column(body: list[list[str]], lines: list[int], ci: int, title: str, rel: str, name: str) -> np.ndarray:
    """One CSV column as float64, or an error naming the line and the cell that is not a number."""
    col = np.empty(len(body))
    for r, row in enumerate(body):
        cell = row[ci] if ci < len(row) else ""
        try:
            v = float(cell)
        except ValueError:
            raise ScenarioError(f"{rel} line {lines[r]}, column {title!r}: {cell[:40]!r} is not a number",
                                table="data", key=name) from None
        col[r] = v
        if not math.isfinite(v):
            raise ScenarioError(f"{rel} line {lines[r]}, column {title!r}: {cell[:40]!r} is not a finite "
                                f"number (nan and inf are not data)", table="data", key=name)
    return col
