"""[data]: names bound to a data set, one batch per iteration, inline columns or a CSV beside the scenario.

The batch of iteration i is a pure function of (seed, i), so any iteration can be recomputed
exactly without replaying the ones before it. Epoch e is a permutation drawn from
default_rng([seed, e]) when shuffling; a partial last batch is dropped so shapes never change.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import limits
from .errors import ScenarioError

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
        """node id -> this iteration's batch for every bound name."""
        if self.batch_size == self.rows and not self.shuffle:
            return {self.node_ids[n]: col for n, col in self.columns.items()}
        idx = self.rows_for(iteration)
        return {self.node_ids[n]: col[idx] for n, col in self.columns.items()}


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
    from .scenario import literal
    out = {}
    for name, v in spec.items():
        if name in DATA_KEYS:
            continue
        if not isinstance(v, list):
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
    path = _safe_path(base_dir, rel)
    try:
        size = path.stat().st_size
        if size > limits.MAX_CSV_BYTES:
            raise ScenarioError(f"the CSV file is {size:,} bytes; the limit is {limits.MAX_CSV_BYTES:,}",
                                table="data", key="file")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"cannot read the CSV file {rel!r}: {e.strerror or e}", table="data", key="file") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"the CSV file {rel!r} is not UTF-8 text", table="data", key="file") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        raise ScenarioError(f"the CSV file {rel!r} is malformed: {e}", table="data", key="file") from None
    if not rows:
        raise ScenarioError(f"the CSV file {rel!r} is empty", table="data", key="file")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if len(body) > limits.MAX_CSV_ROWS:
        raise ScenarioError(f"the CSV file has {len(body):,} rows; the limit is {limits.MAX_CSV_ROWS:,}",
                            table="data", key="file")
    if not body:
        raise ScenarioError(f"the CSV file {rel!r} has a header but no rows", table="data", key="file")
    out = {}
    for name, cols in spec.items():
        if name in DATA_KEYS:
            continue
        single = isinstance(cols, str)
        wanted = [cols] if single else cols
        if not isinstance(wanted, list) or not wanted or not all(isinstance(c, str) for c in wanted):
            raise ScenarioError("with a CSV file, bind a name to a column name or a list of column names",
                                table="data", key=name)
        idx = []
        for c in wanted:
            if c not in header:
                raise ScenarioError(f"the CSV file has no column {c!r}; its columns are {', '.join(header)}",
                                    table="data", key=name)
            idx.append(header.index(c))
        arr = np.empty((len(body), len(idx)))
        for r, row in enumerate(body, start=2):
            for j, ci in enumerate(idx):
                try:
                    arr[r - 2, j] = float(row[ci])
                except (IndexError, ValueError):
                    cell = row[ci] if ci < len(row) else ""
                    raise ScenarioError(f"{rel} line {r}, column {wanted[j]!r}: {cell!r} is not a number",
                                        table="data", key=name) from None
        if not np.all(np.isfinite(arr)):
            raise ScenarioError(f"column(s) {', '.join(wanted)} of {rel} contain nan or inf",
                                table="data", key=name)
        out[name] = arr[:, 0] if single else arr
    return out, rel


def _safe_path(base_dir: Path, rel: str) -> Path:
    """The CSV path, refused unless it is a plain file inside the scenario's own folder."""
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or rel.startswith("~") or "\x00" in rel:
        raise ScenarioError(f"file {rel!r} must be a plain name inside the scenario's folder "
                            f"(no absolute paths, no '..')", table="data", key="file")
    base = Path(os.path.realpath(base_dir))
    full = Path(os.path.realpath(base / p))
    if base != full.parent and base not in full.parents:
        raise ScenarioError(f"file {rel!r} leads outside the scenario's folder (through a symlink)",
                            table="data", key="file")
    if (base / p).is_symlink():
        raise ScenarioError(f"file {rel!r} is a symlink; data files must be plain files", table="data", key="file")
    if not full.is_file():
        raise ScenarioError(f"the CSV file {rel!r} does not exist beside the scenario", table="data", key="file")
    return full
