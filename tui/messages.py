"""Small messages between the background runner, the panes and the app."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class NodeSelected(Message):
    """The user picked a node (click or keys in the graph)."""

    node: int


@dataclass
class RunProgress(Message):
    """A background run reached an iteration; loss is that iteration's loss if known."""

    iteration: int
    loss: float | None


@dataclass
class RunDone(Message):
    """A background run ended (finished, stopped, failed or hit an anomaly).

    outcome: what a continue or reverse-continue returned (a Stop, an Anomaly, or None)."""

    error: str | None = None
    outcome: object = None
