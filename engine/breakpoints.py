"""Breakpoints and watchpoints: where and when the replay stops, and when each one is checked.

A breakpoint has a condition (engine/conditions.py), a place (a node and a phase), or both. Like a
hardware watchpoint, a condition is checked only after a step that writes a quantity it reads:
``loss < 0.01`` when the loss node is computed, ``norm(grad(W1)) < 1e-6`` when a contribution to
∂E/∂W1 is added, ``changed(sign(W2))`` when W2 is updated. Iteration, eta and the inputs (values,
data) change when an iteration begins: that is checked after the step that ends the iteration
before, on the new iteration's first state (so never for iteration 1, which begins before any step).
Which steps those are is the same in every iteration, so it is worked out once (Schedule) and
serves the Stepper and the fast path's probes alike.

Hits are counted as they are met moving forward (steps, runs, continue), as gdb counts them:
``ignore = N`` lets the first N hits pass.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from . import limits
from .conditions import Condition, NumericProblem, Quantity, Read, Unavailable, compile_condition
from .errors import ScenarioError
from .program import Program
from .tomltext import did_you_mean


class Place(str, enum.Enum):
    """The phase a pinned breakpoint stops in (the Stepper's phases, without 'done')."""

    FORWARD = "forward"
    BACKWARD = "backward"
    UPDATE = "update"


@dataclass
class Breakpoint:
    """Stop when the condition holds (checked when something it reads changes), at a place if pinned."""

    id: int
    condition: Condition | None = None
    at: int | None = None              # node id: its forward step, its backward step, or its update
    phase: Place | None = None
    ignore: int = 0                    # hits to let pass before stopping
    enabled: bool = True
    name: str = ""
    hits: int = 0                      # hits met so far moving forward
    problem: str | None = None         # a numeric problem the condition met (reported once)
    memory: list = field(default_factory=list)   # changed(...)'s previous values

    def describe(self, program: Program) -> str:
        """'loss < 0.01', 'at h (backward)', or both."""
        parts = []
        if self.condition is not None:
            parts.append(self.condition.text)
        if self.at is not None:
            parts.append(f"at {program.nodes[self.at].name} ({self.phase.value})")
        return " ".join(parts) if parts else "?"


@dataclass(frozen=True)
class Stop:
    """Where a continue stopped: the step that made the breakpoint hit (iterations from 1)."""

    breakpoint: int
    tick: int                  # the tick after that step
    iteration: int
    phase: str                 # "forward", "backward" or "update"
    index: int                 # the step's index in its phase
    node: int                  # the node the step computed, the node passing gradient, or the param
    condition: str             # the breakpoint as text


class Schedule:
    """For each step of an iteration (its offset from the iteration's start): what it writes.

    Offset ``length`` (one past the last step) stands for the next iteration's beginning.
    """

    def __init__(self, program: Program):
        p = program
        self.program = p
        self.length = len(p.ops) + 1 + len(p.backward) + len(p.params)
        self.writes: list[frozenset[Read]] = []
        self.places: list[tuple[Place, int]] = []          # (phase, node) of each step
        self.entry = frozenset([Read(Quantity.ITERATION), Read(Quantity.ETA)] +
                               [Read(Quantity.VALUE, i) for i, n in enumerate(p.nodes)
                                if n.is_leaf and n.kind != "param"])
        for i in p.ops:
            self.writes.append(frozenset([Read(Quantity.VALUE, i)]))
            self.places.append((Place.FORWARD, i))
        self.writes.append(frozenset([Read(Quantity.GRAD, p.loss)]))       # the seed
        self.places.append((Place.BACKWARD, p.loss))
        for i in p.backward:
            self.writes.append(frozenset(Read(Quantity.GRAD, j) for _, j in p.passes_to[i]))
            self.places.append((Place.BACKWARD, i))
        for i in p.params:
            self.writes.append(frozenset([Read(Quantity.VALUE, i), Read(Quantity.UPDATE, i)]))
            self.places.append((Place.UPDATE, i))

    def offsets(self, bp: Breakpoint) -> list[int]:
        """The steps of every iteration after which bp is checked."""
        if bp.at is not None:
            return [k for k, place in enumerate(self.places) if place == (bp.phase, bp.at)]
        reads = bp.condition.reads
        return [k for k, w in enumerate(self.writes) if w & reads] + ([self.length] if self.entry & reads else [])


def make_breakpoint(program: Program, bp_id: int, *, when: str | None = None, at: str | None = None,
                    phase: str | None = None, ignore: int = 0, enabled: bool = True, name: str = "",
                    table: str = "break", key: str = "when") -> Breakpoint:
    """A checked breakpoint from text: the condition compiled, the place named, the phase known."""
    if when is None and at is None:
        raise ScenarioError("a breakpoint needs a condition (when) or a place (at), or both", table=table, key=key)
    cond = compile_condition(when, program, table=table, key=key) if when is not None else None
    node = None
    place = None
    if at is not None:
        node = program.by_name.get(at) if isinstance(at, str) else None
        if node is None:
            hint = did_you_mean(str(at), program.by_name)
            raise ScenarioError(f"at = {str(at)[:60]!r} names no node{hint}", table=table, key="at")
        if phase is None:
            phase = "update" if program.nodes[node].kind == "param" else "forward"
        try:
            place = Place(phase)
        except ValueError:
            raise ScenarioError(f"phase must be forward, backward or update, got {str(phase)[:40]!r}",
                                table=table, key="phase") from None
        n = program.nodes[node]
        if place is Place.FORWARD and n.is_leaf:
            raise ScenarioError(f"{at!r} is a {n.kind}: it has no forward step; use a node of [graph]",
                                table=table, key="at")
        if place is Place.UPDATE and n.kind != "param":
            raise ScenarioError(f"{at!r} is not a param, so it has no update step", table=table, key="phase")
        if place is Place.BACKWARD and node != program.loss and node not in program.backward:
            raise ScenarioError(f"{at!r} passes no gradient on, so it has no backward step", table=table,
                                key="phase")
    elif phase is not None:
        raise ScenarioError("phase goes with at: name the node whose step to stop at", table=table, key="phase")
    if not isinstance(ignore, int) or isinstance(ignore, bool) or ignore < 0:
        raise ScenarioError("ignore must be a whole number ≥ 0 (hits to let pass)", table=table, key="ignore")
    bp = Breakpoint(bp_id, cond, node, place, ignore, enabled, name)
    bp.memory = cond.new_memory() if cond is not None else []
    return bp


def check_count(count: int, *, table: str = "break") -> None:
    """Refuse more breakpoints than MAX_BREAKPOINTS."""
    if count > limits.MAX_BREAKPOINTS:
        raise ScenarioError(f"more than {limits.MAX_BREAKPOINTS} breakpoints (the limit MAX_BREAKPOINTS)",
                            table=table)


def check(bp: Breakpoint, view, memory: list | None = None) -> bool:
    """Whether bp's condition holds on view (a place alone always holds); a numeric problem counts as false.

    memory defaults to bp.memory (updated by changed(...)); the problem is kept on bp, reported once.
    """
    if bp.condition is None:
        return True
    try:
        return bp.condition.evaluate(view, bp.memory if memory is None else memory)
    except Unavailable:
        return False
    except NumericProblem as e:
        if bp.problem is None:
            bp.problem = f"{bp.condition.text}: {e}; counted as false"
        return False


def loss_only(bp: Breakpoint, program: Program) -> bool:
    """A condition on the loss, iteration and eta only, with no place and no changed(...):
    it can be decided from the loss curve alone, vectorised over many iterations."""
    if bp.condition is None or bp.at is not None or not bp.condition.elementwise:
        return False
    return all(r.quantity in (Quantity.ITERATION, Quantity.ETA) or r == Read(Quantity.VALUE, program.loss)
               for r in bp.condition.reads)


class ArrayView:
    """A view over whole arrays of per-iteration scalars: loss (one per iteration), iteration, eta."""

    vector = True

    def __init__(self, loss_node: int, losses: np.ndarray, iterations: np.ndarray, etas: np.ndarray):
        self._loss_node, self._losses = loss_node, losses
        self.iteration, self.eta = iterations, etas
        self.saw_nan = False

    def value(self, node: int):
        return self._losses if node == self._loss_node else None

    def grad(self, node: int):
        return None

    def update(self, param: int):
        return None


def parse_place(text: str, program: Program, schedule: Schedule, steps: int) -> int:
    """A tick from what a person types to go somewhere: '500' (the start of iteration 500), or
    '500 backward h' (just after h's backward step in iteration 500: where a breakpoint there stops).

    Raises ValueError with a sentence naming what is wrong.
    """
    parts = str(text).split()
    if not parts or len(parts) not in (1, 3):
        raise ValueError("type an iteration (500), or an iteration, a phase and a node (500 backward h)")
    try:
        iteration = int(parts[0])
    except ValueError:
        raise ValueError(f"{parts[0][:20]!r} is not an iteration number") from None
    if not 1 <= iteration <= steps:
        raise ValueError(f"iteration {iteration} is outside 1..{steps}")
    S = schedule.length
    if len(parts) == 1:
        return (iteration - 1) * S
    try:
        phase = Place(parts[1])
    except ValueError:
        raise ValueError(f"phase must be forward, backward or update, not {parts[1][:20]!r}") from None
    node = program.by_name.get(parts[2])
    if node is None and parts[2] == "loss":
        node = program.loss
    if node is None:
        raise ValueError(f"no node {parts[2][:40]!r}" + did_you_mean(parts[2], program.by_name))
    for k, place in enumerate(schedule.places):
        if place == (phase, node):
            return (iteration - 1) * S + k + 1
    raise ValueError(f"{parts[2]!r} has no {phase.value} step")
