"""The Stepper: a cursor over (iteration, phase, index) that runs one node at a time and goes back exactly.

Time is a flat count of ticks. Each iteration has the same steps: one per op node (forward), a seed
∂E/∂E = 1 then one per node that passes gradient on (backward), one per param (update). Going back
restores the values a step overwrote; going further back restores a checkpoint of the params and
recomputes forward with the same kernels, so every state is reproduced bit for bit.

Forward mode (Mode.FORWARD) is a mode of the same Stepper, not a second one: each forward step also
computes the node's tangent from its inputs' tangents (engine/tangents.py, the op rows' tangent
rules), seeded at one input or along a random direction. The timeline does not change: the backward
and update phases run as in reverse mode, so training goes on exactly as before, and one iteration
shows both answers, the tangents of one direction (forward) and every gradient (backward).
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import hits, kernels, optim, tangents
from .accumulate import accumulate
from .breakpoints import Breakpoint, Schedule, Stop, check, check_count, make_breakpoint, parse_place
from .health import HealthMonitor, HealthSample
from .errors import Anomaly, ScenarioError
from .fast import FastPath
from .history import BUDGET_BYTES, History
from .ops import check_indices, local_jacobian
from .scenario import Scenario, kept_elements
from .tangents import PassCosts, TangentSeed

SMALL = 64      # tensors up to this many elements get numeric local Jacobians for display


class Mode(str, enum.Enum):
    """Reverse mode (gradients in the backward phase) or forward mode (tangents beside the values too)."""

    REVERSE = "reverse"
    FORWARD = "forward"


class Phase(str, enum.Enum):
    FORWARD = "forward"
    BACKWARD = "backward"
    UPDATE = "update"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the stepper stands: the next step to run is `index` of `phase` in `iteration` (1-based)."""

    iteration: int
    phase: Phase
    index: int
    length: int          # steps in this phase


class StepKind(str, enum.Enum):
    """What a step does: compute a node, seed ∂E/∂E = 1, pass gradient to inputs, update a param."""

    FORWARD = "forward"
    SEED = "seed"
    BACKWARD = "backward"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class Event:
    """What one step did."""

    tick: int            # the tick this step moved from
    iteration: int
    phase: Phase
    index: int
    kind: StepKind
    node: int            # the node computed, passing gradient, or the param updated
    writes: tuple[int, ...]   # nodes whose value or gradient this step changed
    anomaly: Anomaly | None = None
    stop: Stop | None = None  # the breakpoint this step hit, if it stops here


# Undo records: what a step overwrote, so going back restores it (never recomputes it).
@dataclass(frozen=True, slots=True)
class _Computed:
    node: int                 # a forward step set this node's value
    carried: tuple = ()       # and replaced these (buffer, old value) for the next iteration (batch_norm)


@dataclass(frozen=True, slots=True)
class _Seeded:
    node: int                 # the seed set ∂E/∂E


@dataclass(frozen=True, slots=True)
class _Passed:
    saved: tuple[tuple[int, np.ndarray | None], ...]   # each input written, with its gradient before


@dataclass(frozen=True, slots=True)
class _Updated:
    node: int
    old: np.ndarray           # the param before its update
    state: dict               # the optimizer's state for it before (slot -> array)


@dataclass(frozen=True, slots=True)
class Contribution:
    """One edge's gradient: consumer --(local derivative)--> node."""

    consumer: int
    position: int
    value: np.ndarray    # un-broadcast to the receiving node's shape


@dataclass(frozen=True, slots=True)
class TangentTerm:
    """One input's part of a node's tangent in forward mode: input --(local derivative)--> node."""

    input: int
    position: int
    formula: str                 # the local derivative ∂node/∂input, the same text reverse mode shows
    text: str                    # the contribution written out: 'ċ·d' for e = c * d
    value: np.ndarray | None     # the contribution (the node's shape), None until the node is computed


@dataclass(frozen=True, slots=True)
class UpdateInfo:
    """A param's update in the current iteration, by the scenario's optimizer (engine/optim.py)."""

    param: int
    w: np.ndarray
    grad: np.ndarray | None
    eta: float                 # this param's effective learning rate in this iteration
    new: np.ndarray | None     # None until the update step has run
    step: np.ndarray | None = None     # Δw, once applied
    state: dict = dataclasses.field(default_factory=dict)   # the optimizer's state (m, v, b): after, once applied
    lines: tuple = ()          # (quantity, formula, value or None) for each line the optimizer shows


class _Checks(enum.Enum):
    """What a step does about breakpoints: count hits and stop (forward motion the user asked for),
    note every hit without counting (reverse-continue's search), only keep changed(...)'s memory
    (rebuilding it), or nothing (replaying to reach a tick)."""

    COUNT = "count"
    COLLECT = "collect"
    MEMORY = "memory"
    OFF = "off"


class _View:
    """The Stepper's state in an iteration, as a condition reads it (engine/conditions.View).

    The iteration is given: right after an iteration's last step the tick already counts the next
    one, but its state is still there to be checked.
    """

    __slots__ = ("st", "iteration", "eta")

    def __init__(self, st: "Stepper", iteration: int):
        self.st = st
        self.iteration = iteration
        self.eta = st.eta_at(iteration)

    def value(self, node: int):
        st = self.st
        return st._params[node] if node in st._params else st._vals[node]

    def grad(self, node: int):
        return self.st._grads[node]

    def update(self, param: int):
        st = self.st
        step = st._steps.get(param)
        return None if step is None else optim.delta(*step)


class Stepper:
    """Steps a scenario's training run one node at a time, forwards and backwards in time."""

    def __init__(self, scenario: Scenario, *, steps: int | None = None, learning_rate: float | None = None,
                 history_budget: int = BUDGET_BYTES):
        self.scenario = scenario
        self.program = p = scenario.program
        self.steps = steps if steps is not None else scenario.steps
        self.forward_len = len(p.ops)
        self.backward_len = 1 + len(p.backward)
        self.update_len = len(p.params)
        self.per_iteration = self.forward_len + self.backward_len + self.update_len
        self.total_ticks = self.per_iteration * self.steps
        self._eta = [(1, scenario.learning_rate if learning_rate is None else float(learning_rate))]
        self.training = scenario.training
        self.edits: list[tuple[int, int, np.ndarray]] = []     # (from iteration, node, value)
        # Class indices that can change between iterations (data batches, edited values) are
        # checked on every iteration entry; constants were checked at load.
        self._index_checks = [x for x in p.index_inputs
                              if x.source is not None and p.nodes[x.source].kind in ("value", "data")]
        self.history = History(self._initial_state(), self.steps, history_budget)
        self.tick = 0
        self._undo: list[_Computed | _Seeded | _Passed | _Updated] = []
        self.anomaly: Anomaly | None = None
        self._anomaly_tick = -1
        # Breakpoints: checked after the steps that write what they read (engine/breakpoints.py).
        self.breakpoints: list[Breakpoint] = []
        self.stop: Stop | None = None
        self._next_breakpoint = 1
        self._checks = _Checks.COUNT
        self._checked_at: dict[int, list[Breakpoint]] | None = None
        self._memory_tick = 0                   # changed(...) memory is right for this tick
        self._collected: list[tuple[int, bool]] = []     # (breakpoint id, at an iteration's beginning)
        self._probing: dict[tuple, FastPath] = {}
        self.after_iteration = None             # called as (iteration, plan) after each fast iteration
        self.health = HealthMonitor(p)
        self.mode = Mode.REVERSE
        self.seed: TangentSeed | None = None     # forward mode's seed
        self._enter_iteration(1, self._params_at(1))
        for spec in scenario.breakpoints:       # [[break]] tables, checked at load
            self.add_breakpoint(**spec)

    def _initial_state(self) -> dict:
        """The params as the scenario gives them, and the optimizer's state before its first step (zeros)."""
        p, t = self.program, self.training
        out = {i: self.scenario.initial[i] for i in p.params + p.buffers}
        for i in p.params:
            for slot in t.slots(i):
                out[(i, slot)] = np.zeros(p.nodes[i].shape)
        return out

    # ------------------------------------------------------------------ where we are
    @property
    def iteration(self) -> int:
        return min(self.tick // self.per_iteration + 1, self.steps)

    @property
    def cursor(self) -> Cursor:
        if self.tick >= self.total_ticks:
            return Cursor(self.steps, Phase.DONE, 0, 0)
        off = self.tick % self.per_iteration
        it = self.tick // self.per_iteration + 1
        if off < self.forward_len:
            return Cursor(it, Phase.FORWARD, off, self.forward_len)
        off -= self.forward_len
        if off < self.backward_len:
            return Cursor(it, Phase.BACKWARD, off, self.backward_len)
        return Cursor(it, Phase.UPDATE, off - self.backward_len, self.update_len)

    @property
    def at_start(self) -> bool:
        return self.tick == 0

    @property
    def at_end(self) -> bool:
        return self.tick >= self.total_ticks

    @property
    def eta_schedule(self) -> list[tuple[int, float]]:
        """(first iteration, eta) pairs in order: the learning rate over the run."""
        return list(self._eta)

    def eta_at(self, iteration: int) -> float:
        """The effective learning rate of an iteration: the set η (from the scenario or the debugger) times
        the schedule's factor."""
        return self.training.lr(None, iteration, kernels.eta_at(self._eta, iteration), self.scenario.learning_rate)

    def eta_constant(self) -> float | None:
        """The effective η of every iteration when nothing changes it (no η set from the debugger, no
        schedule), else None: a search over many iterations then needs no per-iteration lookup."""
        return self.eta_at(1) if len(self._eta) == 1 and not self.training.schedules else None

    def lr_for(self, param: int, iteration: int) -> float:
        """A param's own learning rate in an iteration ([train.params.X] learning_rate scales with η)."""
        return self.training.lr(param, iteration, kernels.eta_at(self._eta, iteration), self.scenario.learning_rate)

    def set_eta_of(self, iteration: int) -> float:
        """The η set (by the scenario or the debugger) for an iteration, before any schedule."""
        return kernels.eta_at(self._eta, iteration)

    @property
    def eta(self) -> float:
        return self.eta_at(self.iteration)

    # ------------------------------------------------------------------ reading state
    def value(self, node: int) -> np.ndarray | None:
        """A node's forward value in the current iteration, or None if not computed yet."""
        return self._vals[node]

    def grad(self, node: int) -> np.ndarray | None:
        """The gradient ∂E/∂node accumulated so far in this iteration, or None."""
        return self._grads[node]

    @functools.cached_property
    def fast(self) -> FastPath:
        """The compiled whole-iteration path (runs, continues, seeks): compiled when first used, so a big
        program's first screen does not wait for it."""
        return FastPath(self.scenario)

    @functools.cached_property
    def schedule(self) -> Schedule:
        """What each step of an iteration writes, for breakpoints: made when first asked (a 20,000-node
        program takes 0.17 s, and most sessions set no breakpoint)."""
        return Schedule(self.program)

    def grad_status(self, node: int) -> tuple[int, int]:
        """(contributions received, contributions expected) for a node's gradient."""
        return self._received[node], self.program.expected[node]

    def contributions(self, node: int) -> list[Contribution]:
        """Every gradient contribution the node has received in this iteration, in order."""
        return list(self._contribs.get(node, ()))

    def param(self, node: int) -> np.ndarray:
        """A param's current value (after its update if the update step has run); also a running statistic's
        value for the next iteration (after its op's forward step)."""
        return self._params[node]

    def params(self) -> dict[int, np.ndarray]:
        return dict(self._params)

    def updates(self) -> list[UpdateInfo]:
        """Each param's update in this iteration, as far as it has gone, with the optimizer's lines."""
        it = self.iteration
        t = self.training
        out = []
        for p in self.program.params:
            done = p in self._updated
            w = self._start_params[p]
            g = self._grads[p]
            lr = self.lr_for(p, it)
            state = {slot: self._opt.get((p, slot)) for slot in t.slots(p)}
            step = self._steps.get(p)
            delta = optim.delta(*step) if step is not None else None
            new = self._params[p] if done else None
            lines = optim.explain(t, p, w, g, state if done else {}, it, lr, delta, new)
            out.append(UpdateInfo(p, w, g, lr, new, delta, state if done else {}, lines))
        return out

    @property
    def losses(self) -> np.ndarray:
        """The loss of every iteration whose forward pass has been computed (1-based: losses[0] is iteration 1)."""
        return self.history.losses_array()

    def loss_at(self, iteration: int) -> float | None:
        """The loss of one iteration if computed (without copying the whole curve, as losses does)."""
        return self.history.loss(iteration)

    def local_derivative(self, consumer: int, position: int) -> np.ndarray | None:
        """The numeric local derivative on an edge: elementwise values, or a Jacobian for small tensors."""
        node = self.program.nodes[consumer]
        vals = self._vals
        if vals[consumer] is None:
            return None
        ins = [vals[j] for j in node.inputs]
        target = ins[position]
        with np.errstate(all="ignore"):
            if node.op.elementwise:
                # The diagonal of the Jacobian, one value per output element (broadcast inputs
                # included): never the full out.size × input.size matrix.
                out = vals[consumer]
                ones = np.ones(out.shape)
                return np.array(np.broadcast_to(node.op.vjps[position](ones, out, *ins, **node.attrs), out.shape))
            if vals[consumer].size <= SMALL and target.size <= SMALL:
                return local_jacobian(node.op, position, vals[consumer], ins, node.attrs)
        return None

    def formula(self, consumer: int, position: int) -> str:
        """The local derivative ∂consumer/∂input as a formula with the real names."""
        node = self.program.nodes[consumer]
        names = [self.program.nodes[j].name for j in node.inputs]
        return node.op.formula(position, names, node.name, node.attrs)

    # ------------------------------------------------------------------ forward mode
    def set_mode(self, mode: Mode | str, *, seed_input: str | None = None, direction: str | None = None) -> None:
        """Switch to forward mode, seeded at one input (a tangent of 1 in all its elements) or along
        direction="random" (drawn from the scenario's seed), or back to reverse mode.

        The tick stays where it is: the current iteration is recomputed up to it, with tangents in
        forward mode. Raises ValueError for a bad combination or an input that cannot be seeded, and
        ScenarioError when the tangents would pass MAX_KEPT_ELEMENTS.
        """
        mode = Mode(mode)
        seed = None
        if mode is Mode.REVERSE:
            if seed_input is not None or direction is not None:
                raise ValueError("reverse mode takes no seed: seed_input and direction are for forward mode")
        else:
            if (seed_input is None) == (direction is None):
                raise ValueError("forward mode takes one seed: an input's name, or direction=\"random\"")
            if direction is not None and direction != "random":
                raise ValueError(f"the direction is \"random\", got {direction!r}")
            seed = tangents.seed_at(self.program, seed_input) if seed_input is not None else \
                tangents.random_direction(self.program, self.scenario.seed)
            self._check_tangent_room()
        self.mode, self.seed = mode, seed
        self.seek(self.tick)

    def _check_tangent_room(self) -> None:
        from . import limits
        kept = kept_elements(self.program) + sum(n.size for n in self.program.nodes)
        if kept > limits.MAX_KEPT_ELEMENTS:
            raise ScenarioError(f"forward mode keeps a tangent beside every value: {kept:,} numbers in one iteration, "
                                f"more than the limit of {limits.MAX_KEPT_ELEMENTS:,} (MAX_KEPT_ELEMENTS)",
                                file=str(self.scenario.path or "<scenario>"))

    def seedable_inputs(self) -> list[str]:
        """The names forward mode can be seeded at: values, params and data (not class indices)."""
        return [self.program.nodes[i].name for i in tangents.seedable(self.program)]

    def tangent(self, node: int) -> np.ndarray | None:
        """A node's tangent in forward mode (zeros where the seed does not reach it), or None in reverse mode
        and for a node not computed yet in this iteration."""
        if self.mode is not Mode.FORWARD or self._vals[node] is None:
            return None
        t = self._tans[node]
        return t if t is not None else np.zeros(self.program.nodes[node].shape)

    def tangent_terms(self, node: int) -> list[TangentTerm]:
        """Each input's part of a node's tangent (empty for a leaf or in reverse mode), with the same local
        derivative formula the edge shows in reverse mode."""
        n = self.program.nodes[node]
        if self.mode is not Mode.FORWARD or n.is_leaf:
            return []
        names = [self.program.nodes[j].name for j in n.inputs]
        found = dict(tangents.contributions(n, self._vals, self._tans)) if self._vals[node] is not None else {}
        terms = []
        for pos, j in enumerate(n.inputs):
            if not n.op.carries_tangent(pos) or self.program.nodes[j].kind in ("const", "noise"):
                continue                  # a constant's tangent is 0, and no tangent passes a mask or noise
            value = None
            if self._vals[node] is not None:
                value = np.array(found[pos]) if pos in found else np.zeros(n.shape)
            terms.append(TangentTerm(j, pos, n.op.formula(pos, names, n.name, n.attrs),
                                     n.op.tangent_formula(pos, names, n.name, n.attrs,
                                                          tangents.tangent_name(names[pos])), value))
        return terms

    def tangent_equation(self, node: int) -> str:
        """'ė = ċ·d + c·ḋ' for an op node, 'ḃ = 1 (the seed)' or 'ȧ = 0' for a leaf ('' in reverse mode)."""
        if self.mode is not Mode.FORWARD:
            return ""
        n = self.program.nodes[node]
        lhs = tangents.tangent_name(n.name)
        if n.is_leaf:
            if node not in self.seed.direction:
                return f"{lhs} = 0"
            return f"{lhs} = 1 (the seed)" if self.seed.input is not None else f"{lhs} = v (a random direction)"
        terms = self.tangent_terms(node)
        return f"{lhs} = " + (" + ".join(t.text for t in terms).replace("+ -", "- ") if terms else "0")

    def passes_needed(self, mode: Mode | str | None = None) -> int:
        """Passes the full gradient takes: one per scalar param in forward mode (1,020 for the two-layer
        net), one in reverse mode. The mode defaults to the current one."""
        mode = self.mode if mode is None else Mode(mode)
        return tangents.passes_needed(self.program) if mode is Mode.FORWARD else 1

    def pass_costs(self, budget: float = 0.3) -> PassCosts:
        """Measured seconds of one forward pass, one forward-mode (tangent) pass and one reverse pass (forward
        then backward) at this iteration's values; takes about budget seconds, so call it off the UI thread."""
        leaves = dict(self.leaves_for(self.iteration))
        leaves.update(self._start_params)
        seed = self.seed or tangents.random_direction(self.program, self.scenario.seed)
        return tangents.measure(self.program, leaves, seed, budget)

    # ------------------------------------------------------------------ changing the run
    def set_eta(self, eta: float) -> None:
        """Use a new learning rate from the current iteration on (the future is recomputed)."""
        if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta >= 0):
            raise ValueError(f"learning rate must be a finite number ≥ 0, got {eta!r}")
        it = self.iteration
        self._eta = [(s, v) for s, v in self._eta if s < it] + [(it, float(eta))]
        self.history.invalidate(checkpoints_after=it, losses_from=it + 1)
        self.seek(self.tick)

    def set_value(self, name: str, value) -> None:
        """Replace a value (not a param) from the current iteration on."""
        node = self.program.node(name)
        if node.kind != "value":
            raise ValueError(f"{name!r} is a {node.kind}, not a value")
        if node.id in self.program.carried:
            raise ValueError(f"{name!r} is a running statistic that training updates, not a value to edit")
        arr = np.array(value, dtype=np.float64)
        if arr.shape != node.shape:
            raise ValueError(f"{name!r} has shape {node.shape}, got {arr.shape}")
        it = self.iteration
        self.edits = [e for e in self.edits if e[0] < it] + [(it, node.id, arr)]
        self.history.invalidate(checkpoints_after=it, losses_from=it)
        self.seek(self.tick)

    def leaves_for(self, iteration: int) -> dict[int, np.ndarray]:
        """Values, constants and data of an iteration, with the user's edits applied."""
        leaves = self.scenario.leaves_for(iteration)
        for start, node, value in self.edits:
            if start <= iteration:
                leaves[node] = value
        return leaves

    # ------------------------------------------------------------------ breakpoints
    def add_breakpoint(self, when: str | None = None, *, at: str | None = None, phase: str | None = None,
                       ignore: int = 0, enabled: bool = True, name: str = "") -> Breakpoint:
        """Add a breakpoint (a condition, a place, or both); raises ScenarioError if it does not check."""
        check_count(len(self.breakpoints) + 1)
        bp = make_breakpoint(self.program, self._next_breakpoint, when=when, at=at, phase=phase, ignore=ignore,
                             enabled=enabled, name=name)
        self._next_breakpoint += 1
        self.breakpoints.append(bp)
        self._breakpoints_changed()
        return bp

    def remove_breakpoint(self, bp_id: int) -> None:
        self.breakpoints = [b for b in self.breakpoints if b.id != bp_id]
        self._breakpoints_changed()

    def breakpoint(self, bp_id: int) -> Breakpoint:
        return next(b for b in self.breakpoints if b.id == bp_id)

    def enable_breakpoint(self, bp_id: int, enabled: bool = True) -> None:
        self.breakpoint(bp_id).enabled = enabled
        self._breakpoints_changed()

    def view(self) -> _View:
        """The state at this tick as conditions and watches read it."""
        return _View(self, self.iteration)

    def optimizer_state(self, param: int) -> dict[str, np.ndarray]:
        """The optimizer's state for a param as it stands (momentum buffer, Adam's m and v): empty for plain SGD."""
        return {slot: self._opt[(param, slot)] for slot in self.training.slots(param)}

    def health_now(self) -> HealthSample:
        """The gradient health measures of the current iteration, as far as it has got."""
        v = self.view()
        return self.health.measure(self.iteration, v.value, v.grad, v.update)

    def place_tick(self, text: str) -> int:
        """The tick of '500' (iteration 500's start) or '500 backward h' (just after that step)."""
        return parse_place(text, self.program, self.schedule, self.steps)

    def _breakpoints_changed(self) -> None:
        self._checked_at = None
        self._memory_tick = -1          # a new condition's changed(...) needs its history

    def checked_at(self, offset: int) -> list[Breakpoint]:
        """The enabled breakpoints checked after the step at this offset of an iteration."""
        if self._checked_at is None:
            table: dict[int, list[Breakpoint]] = {}
            for bp in self.breakpoints:
                if bp.enabled:
                    for k in self.schedule.offsets(bp):
                        table.setdefault(k, []).append(bp)
            self._checked_at = table
        return self._checked_at.get(offset, [])

    def continue_(self, *, progress: Callable[[int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Stop | Anomaly | None:
        """Run forward to the next breakpoint hit and stand on the step that made it (or to an anomaly,
        or the end). Whole iterations run in the fast path, with the checks as probes."""
        return hits.continue_(self, progress=progress, should_stop=should_stop)

    def reverse_continue(self, *, should_stop: Callable[[], bool] | None = None) -> Stop | None:
        """Go back to the previous tick where a breakpoint holds, exactly (the same bits as going forward)."""
        return hits.reverse_continue(self, should_stop=should_stop)

    def _ensure_memory(self) -> None:
        """Make changed(...)'s memory right for this tick before checks are counted.

        The memory at a tick is a function of the timeline: the values at the previous checks. After a
        jump it is rebuilt by replaying from the start of the previous iteration (the previous check of
        any condition lies at most one iteration back), then the tick is reached again the usual way.
        """
        if self._memory_tick == self.tick:
            return
        target = self.tick
        if any(bp.condition is not None and bp.condition.changed_slots for bp in self.breakpoints):
            for bp in self.breakpoints:
                bp.memory = bp.condition.new_memory() if bp.condition is not None else []
            k = min(target // self.per_iteration, self.steps - 1)
            with self._checking(_Checks.OFF):
                self.seek(max(0, (k - 1) * self.per_iteration))
            with self._checking(_Checks.MEMORY), np.errstate(all="ignore"):
                while self.tick < target:
                    self._step()
            with self._checking(_Checks.OFF):
                self.seek(target)
        self._memory_tick = target

    def _step_collecting(self) -> list[tuple[int, bool]]:
        """One step that notes (without counting) the breakpoints holding after it: (id, at the beginning
        of the next iteration)."""
        self._collected = []
        with self._checking(_Checks.COLLECT), np.errstate(all="ignore"):
            self._step()
        return self._collected

    @contextlib.contextmanager
    def _checking(self, mode: _Checks):
        before, self._checks = self._checks, mode
        try:
            yield
        finally:
            self._checks = before

    def _check(self, offset: int, iteration: int, place: tuple[str, int, int]) -> Stop | None:
        """Check the breakpoints scheduled after the step at this offset (the schedule's length: the
        iteration's beginning); count hits; the first past its ignore stops. place is the stop's
        (phase, index, node)."""
        stop = None
        view = _View(self, iteration)
        for bp in self.checked_at(offset):
            if not check(bp, view):
                continue
            if self._checks is _Checks.MEMORY:
                continue
            if self._checks is _Checks.COLLECT:
                self._collected.append((bp.id, offset == self.per_iteration))
                continue
            bp.hits += 1
            if stop is None and bp.hits > bp.ignore:
                stop = Stop(bp.id, self.tick, iteration, *place, bp.describe(self.program))
        return stop

    # ------------------------------------------------------------------ stepping
    def step(self) -> Event | None:
        """Run one node (or one param update); None at the end of the run."""
        if self.tick >= self.total_ticks:
            return None
        self._ensure_memory()
        self.stop = None
        with np.errstate(all="ignore"):
            return self._step()

    def back(self) -> None:
        """Undo one step exactly (restoring saved values, never recomputing by subtraction)."""
        if self.tick == 0:
            return
        if not self._undo:
            # At an iteration's start: rebuild the previous iteration up to its last step.
            self.seek(self.tick - 1)
            return
        self._undo_one()

    def run_phase(self) -> list[Event]:
        """Step to the end of the current phase, stopping early at an anomaly."""
        c = self.cursor
        end = self.tick - c.index + c.length
        return self._run_until(end)

    def run_iteration(self) -> list[Event]:
        """Step to the start of the next iteration, stopping early at an anomaly."""
        end = (self.tick // self.per_iteration + 1) * self.per_iteration
        return self._run_until(end)

    def back_phase(self) -> None:
        """Go back to the start of the current phase, or of the previous one if already there."""
        c = self.cursor
        if c.phase is Phase.DONE:
            self.seek(self.total_ticks - 1)
            c = self.cursor
        start = self.tick - c.index
        if start == self.tick and self.tick > 0:
            self.seek(self.tick - 1)
            start = self.tick - self.cursor.index
        self.seek(start)

    def back_iteration(self) -> None:
        """Go back to the start of the current iteration, or of the previous one if already there."""
        start = (self.tick // self.per_iteration) * self.per_iteration
        if start == self.tick:
            start = max(0, start - self.per_iteration)
        self.seek(start)

    def ended(self, iteration: int) -> Stepper:
        """A Stepper of this run's first `iteration` iterations standing at its end, with that iteration's
        values, gradients and updates all kept, bit for bit: the step that ends an iteration enters the
        next one, which starts empty, so this is how its last update stays inspectable. It starts from
        the nearest start this Stepper's history keeps (the η set and the values edited up to then, and
        the mode: forward mode's tangents are kept as well)."""
        twin = Stepper(self.scenario, steps=iteration, learning_rate=self._eta[0][1])
        twin._eta = [(s, v) for s, v in self._eta if s <= iteration]
        twin.edits = [e for e in self.edits if e[0] <= iteration]
        twin.mode, twin.seed = self.mode, self.seed         # forward mode's tangents too
        base, start = self.history.nearest(min(iteration, self.steps))
        twin.history.checkpoints[base] = {k: np.array(v, copy=True) for k, v in start.items()}
        twin.seek(twin.total_ticks)
        return twin

    def seek_iteration(self, iteration: int) -> None:
        """Go to the start of an iteration (1-based), earlier or later."""
        iteration = max(1, min(iteration, self.steps + 1))
        self.seek((iteration - 1) * self.per_iteration)

    def seek(self, tick: int) -> None:
        """Go to any tick, recomputing from the nearest checkpoint; exact to the bit."""
        tick = max(0, min(tick, self.total_ticks))
        it = min(tick // self.per_iteration + 1, self.steps)
        base = (it - 1) * self.per_iteration
        self._enter_iteration(it, self._params_at(it))
        self.tick = base
        self.anomaly = None
        self.stop = None
        with self._checking(_Checks.OFF), np.errstate(all="ignore"):
            while self.tick < tick:
                self._step()

    def run_iterations(self, count: int, *, progress: Callable[[int], None] | None = None,
                       should_stop: Callable[[], bool] | None = None, chunk: int = 256) -> Anomaly | None:
        """Run whole iterations at full speed (the fast path); stop at an anomaly or when asked.

        Ends at the start of the iteration after the last one run (or at the end of the replay).
        At an anomaly it stands on the step that produced it, with everything inspectable.
        """
        self.anomaly = None
        S = self.per_iteration
        if self.tick % S:
            self.run_iteration()
            count -= 1
            if self.anomaly is not None:
                return self.anomaly
        it = self.tick // S + 1                 # the next iteration to run
        last = min(self.steps, it + count - 1)
        while it <= last:
            n = min(chunk, last - it + 1)
            _, bad = self._replay(it, self._params_at(it), n, stop_on_fault=True)
            if bad is not None:
                return self._find_anomaly(it, bad)
            it += n
            if progress is not None:
                progress(it - 1)
            if should_stop is not None and should_stop():
                break
        self.seek(min((it - 1) * S, self.total_ticks))
        return None

    # ------------------------------------------------------------------ replay from the history
    def _params_at(self, iteration: int) -> dict[int, np.ndarray]:
        """The params at the start of an iteration, recomputed from the nearest start the history keeps."""
        base, start = self.history.nearest(iteration)
        if base == iteration:
            return dict(start)
        params, _ = self._replay(base, start, iteration - base, stop_on_fault=False)
        return params

    def _replay(self, iteration: int, params: dict[int, np.ndarray], count: int, *, stop_on_fault: bool,
                fast: FastPath | None = None, probes=None, on_loss=None):
        """One fast run of count iterations that records losses and the checkpoints it passes.

        Recomputing a start goes on through faults, so a diverged run is reproduced exactly;
        advancing stops at the first fault so the stepper can show it. Returns (params, first bad
        iteration or None); the params are the fast path's lent buffers (None if probes stopped it).
        """
        fast = fast or self.fast
        h = self.history
        if fast.lends(h.latest[1]):
            h.forget_latest()              # the run overwrites those arrays
        params, bad = fast.run(params, iteration, count, self._eta, self.leaves_for, on_loss or h.record_losses,
                               leaves_vary=bool(self.edits), checkpoint=h.record_start, every=h.every,
                               stop_on_fault=stop_on_fault, probes=probes, after_iteration=self.after_iteration)
        if params is not None and bad is None:
            h.record_start(iteration + count, params, lent=True)
        return params, bad

    # ------------------------------------------------------------------ internals
    def _find_anomaly(self, chunk_start: int, bad: int) -> Anomaly:
        """Replay node by node to stand on the step where the fast path's fault began."""
        S = self.per_iteration
        # Usually the fault starts in the faulty iteration or the update just before it;
        # a non-finite param that did not spoil the loss at once may go back to the chunk start.
        for start in dict.fromkeys((max(chunk_start, bad - 1), chunk_start)):
            self.seek((start - 1) * S)
            self.anomaly = None
            with self._checking(_Checks.OFF):
                self._run_until(bad * S)
            if self.anomaly is not None:
                return self.anomaly
        loss = self.program.nodes[self.program.loss]
        self.anomaly = Anomaly(bad, "forward", loss.id, loss.name, loss.op.name, "nan",
                               f"iteration {bad}: the loss {loss.name!r} is not finite")
        self._anomaly_tick = self.tick
        return self.anomaly

    # ------------------------------------------------------------------ internals
    def _run_until(self, end: int) -> list[Event]:
        """Step to tick end, stopping early at an anomaly or a breakpoint hit."""
        events = []
        end = min(end, self.total_ticks)
        if self._checks is _Checks.COUNT:
            self._ensure_memory()
            self.stop = None
        with np.errstate(all="ignore"):
            while self.tick < end:
                ev = self._step()
                events.append(ev)
                if ev.anomaly is not None or ev.stop is not None:
                    break
        return events

    def _enter_iteration(self, iteration: int, params: dict[int, np.ndarray]) -> None:
        n = len(self.program.nodes)
        self._vals: list[np.ndarray | None] = [None] * n
        self._grads: list[np.ndarray | None] = [None] * n
        self._received = [0] * n
        self._contribs: dict[int, list[Contribution]] = {}      # only the nodes that received some
        self._updated: set[int] = set()
        self._undo = []
        for i, v in self.leaves_for(iteration).items():
            self._vals[i] = v
        # Forward mode: the seed's tangents at the leaves; None (zero) everywhere else until computed.
        self._tans: list[np.ndarray | None] = tangents.leaf_tangents(self.program, self.seed) \
            if self.mode is Mode.FORWARD else [None] * n
        self._steps: dict[int, tuple[np.ndarray, float]] = {}
        self._start_params = {k: v for k, v in params.items() if isinstance(k, int)}
        self._params = dict(self._start_params)
        self._opt = {k: v for k, v in params.items() if not isinstance(k, int)}
        for i, v in self._start_params.items():
            self._vals[i] = v
        self._check_targets()

    def _check_targets(self) -> None:
        """Class indices given as values or data must be whole numbers in range (edits included)."""
        p = self.program
        for x in self._index_checks:
            node = p.nodes[x.node]
            why = check_indices(node.op, self._vals[x.source], x.classes)
            if why:
                given = p.nodes[node.inputs[x.position]]
                raise ScenarioError(f"{why} (node {node.name!r}, targets {given.name!r})",
                                    file=str(self.scenario.path or "<scenario>"), table="graph",
                                    key=node.group)

    def _step(self) -> Event:
        c = self.cursor
        tick = self.tick
        p = self.program
        if c.phase is Phase.FORWARD:
            ev = self._forward(p.nodes[p.ops[c.index]], c, tick)
        elif c.phase is Phase.BACKWARD:
            ev = self._seed(c, tick) if c.index == 0 else self._backward(p.nodes[p.backward[c.index - 1]], c, tick)
        else:
            ev = self._update(p.nodes[p.params[c.index]], c, tick)
        self.tick = tick + 1
        checking = bool(self.breakpoints) and self._checks is not _Checks.OFF
        stop = self._check(tick % self.per_iteration, c.iteration, (c.phase.value, ev.index, ev.node)) \
            if checking else None
        if ev.anomaly is not None and self.anomaly is None:
            self.anomaly = ev.anomaly
            self._anomaly_tick = tick
        if self.tick % self.per_iteration == 0 and self.tick < self.total_ticks:
            it = self.tick // self.per_iteration + 1
            state = {**self._params, **self._opt}
            self.history.record_start(it, state)
            self._enter_iteration(it, state)
            if checking:
                entry = self._check(self.per_iteration, it, (Phase.FORWARD.value, 0, self.program.ops[0]))
                stop = stop or entry
        if checking and self._memory_tick == tick:
            self._memory_tick = tick + 1
        if stop is not None:
            ev = dataclasses.replace(ev, stop=stop)
            self.stop = stop
        return ev

    def _forward(self, node, c: Cursor, tick: int) -> Event:
        out = kernels.forward(node, self._vals)
        self._vals[node.id] = out
        if self.mode is Mode.FORWARD:
            # No tape: the inputs' tangents are known, as their values are, when the node runs.
            self._tans[node.id] = tangents.tangent(node, self._vals, self._tans)
        carried = ()
        if node.op.carries:
            # The running statistics for the next iteration; this one's value stays what it read.
            carried = tuple((j, self._params[j]) for j in kernels.carried(node))
            for j, new in kernels.carry(node, self._vals).items():
                self._params[j] = new
        self._undo.append(_Computed(node.id, carried))
        anomaly = None
        if not kernels.finite(out) and all(kernels.finite(self._vals[j]) for j in node.inputs):
            anomaly = kernels.forward_anomaly(self.program, node, self._vals, out, c.iteration)
        if node.id == self.program.loss:
            self.history.record_loss(c.iteration, float(out))
        return Event(tick, c.iteration, c.phase, c.index, StepKind.FORWARD, node.id, (node.id,), anomaly)

    def _seed(self, c: Cursor, tick: int) -> Event:
        loss = self.program.loss
        self._undo.append(_Seeded(loss))
        self._grads[loss] = np.ones(())
        self._received[loss] = 1
        return Event(tick, c.iteration, c.phase, 0, StepKind.SEED, loss, (loss,))

    def _backward(self, node, c: Cursor, tick: int) -> Event:
        g = self._grads[node.id]
        writes = []
        saved = []
        anomaly = None
        p = self.program
        limit = self.scenario.grad_norm_limit
        for pos, j in p.passes_to[node.id]:
            target = p.nodes[j]
            contribution = kernels.contribution(node, pos, g, self._vals, target.shape)
            saved.append((j, self._grads[j]))
            self._grads[j] = accumulate(self._grads[j], contribution, target.shape)
            self._received[j] += 1
            self._contribs.setdefault(j, []).append(Contribution(node.id, pos, contribution))
            writes.append(j)
            if anomaly is None and not kernels.finite(contribution) and kernels.finite(g) and \
                    all(kernels.finite(self._vals[k]) for k in node.inputs):
                anomaly = kernels.backward_anomaly(p, node, pos, g, self._vals, contribution, c.iteration)
            if anomaly is None and limit is not None and target.kind == "param" and \
                    self._received[j] == p.expected[j] and np.linalg.norm(self._grads[j]) > limit:
                anomaly = kernels.grad_norm_anomaly(target, self._grads[j], limit, c.iteration)
        self._undo.append(_Passed(tuple(saved)))
        return Event(tick, c.iteration, c.phase, c.index, StepKind.BACKWARD, node.id, tuple(writes), anomaly)

    def _update(self, node, c: Cursor, tick: int) -> Event:
        i = node.id
        w = self._params[i]
        g = self._grads[i]
        t = self.training
        slots = t.slots(i)
        before = {slot: self._opt[(i, slot)] for slot in slots}
        lr = self.lr_for(i, c.iteration)
        self._undo.append(_Updated(i, w, before))
        new = w
        anomaly = None
        if g is not None:
            new, state, step, sign = t.optimizer.step(w, g, before, c.iteration - 1, lr, t.options_for(i))
            new = np.asarray(new)                  # an array even for 0-d params, as stepping gives
            for slot, arr in state.items():
                self._opt[(i, slot)] = np.asarray(arr)
            self._steps[i] = (np.asarray(step), sign)
            if not kernels.finite(new) and kernels.finite(w) and kernels.finite(g):
                bad = next((f"{slot}" for slot, arr in state.items() if not kernels.finite(arr)), None)
                anomaly = kernels.update_anomaly(node, w, g, lr, new, c.iteration, t.optimizer.name, bad)
        self._params[i] = new
        self._updated.add(i)
        return Event(tick, c.iteration, c.phase, c.index, StepKind.UPDATE, i, (i,), anomaly)

    def _undo_one(self) -> None:
        match self._undo.pop():
            case _Computed(node, carried):
                self._vals[node] = None
                self._tans[node] = None
                for j, old in carried:
                    self._params[j] = old
            case _Seeded(node):
                self._grads[node] = None
                self._received[node] = 0
            case _Passed(saved):
                for j, old in reversed(saved):
                    self._grads[j] = old
                    self._received[j] -= 1
                    self._contribs[j].pop()
            case _Updated(node, old, state):
                self._params[node] = old
                for slot, arr in state.items():
                    self._opt[(node, slot)] = arr
                self._steps.pop(node, None)
                self._updated.discard(node)
        self.tick -= 1
        if self.anomaly is not None and self.tick <= self._anomaly_tick:
            self.anomaly = None
