"""The one exception type for bad scenarios, and the report of a numeric fault."""
from __future__ import annotations

from dataclasses import dataclass


class ScenarioError(Exception):
    """A scenario that cannot be loaded or run: names the file, table, key and line where known."""

    def __init__(self, problem: str, *, file: str | None = None, table: str | None = None,
                 key: str | None = None, line: int | None = None):
        self.problem = problem
        self.file = file
        self.table = table
        self.key = key
        self.line = line
        super().__init__(self.message)

    @property
    def where(self) -> str:
        """'file:line: [table] key' with whatever parts are known."""
        parts = []
        loc = self.file or "<scenario>"
        if self.line is not None:
            loc += f":{self.line}"
        parts.append(loc)
        if self.table and self.key:
            parts.append(f"[{self.table}] {self.key}")
        elif self.table:
            parts.append(f"[{self.table}]")
        elif self.key:
            parts.append(self.key)
        return ": ".join(parts)

    @property
    def message(self) -> str:
        return f"{self.where}: {self.problem}"

    def located(self, *, file=None, table=None, key=None, line=None) -> "ScenarioError":
        """Fill in location fields that are still unknown."""
        self.file = self.file or file
        self.table = self.table or table
        self.key = self.key or key
        self.line = self.line if self.line is not None else line
        self.args = (self.message,)
        return self


@dataclass(frozen=True)
class Anomaly:
    """The first node that produced a non-finite value (or an exploding gradient)."""

    iteration: int          # 1-based
    phase: str              # "forward", "backward" or "update"
    node: int               # node id
    node_name: str
    op: str                 # op name, or "update"
    kind: str               # "nan", "inf", "overflow" or "grad_norm"
    message: str            # a sentence naming node, op and the input ranges

    def __str__(self) -> str:
        return self.message
