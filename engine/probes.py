"""Breakpoint checks inside the fast path: the Stepper's checks, placed between the compiled calls.

Each of the Stepper's steps ends at a known point of a compiled iteration (fast._Plan records where),
so a check that the Schedule puts after step k becomes a probe call after those calls. The probe
reads the fast path's buffers through a view that knows, as the Stepper does, what is available at
that step: values computed so far, gradients reached so far (the array that holds each partial sum),
updates applied so far. A probe reads the same bits the Stepper would, so the fast path finds the
same iteration a node-by-node scan would; the Stepper then replays that iteration node by node to
stand on the exact step.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from .breakpoints import Breakpoint, Place, Schedule, check
from .conditions import Quantity
from .fast import FastPath, ProbeStop, _Plan


class FastView:
    """The state after one step of an iteration, read from a compiled plan's buffers."""

    __slots__ = ("vals", "ready", "grads", "steps", "iteration", "eta")

    def __init__(self, vals, ready: frozenset[int], grads: dict[int, np.ndarray],
                 steps: dict[int, np.ndarray]):
        self.vals, self.ready, self.grads, self.steps = vals, ready, grads, steps
        self.iteration, self.eta = 0, 0.0

    def value(self, node: int):
        return self.vals[node] if node in self.ready else None

    def grad(self, node: int):
        return self.grads.get(node)

    def update(self, param: int):
        u = self.steps.get(param)
        return None if u is None else u.delta


def needs(bps: list[Breakpoint]) -> tuple[frozenset[int], frozenset[int]]:
    """The node values and gradients these breakpoints read: what a probing fast path must compute."""
    values, grads = set(), set()
    for bp in bps:
        if bp.condition is None:
            continue
        for r in bp.condition.reads:
            if r.quantity is Quantity.VALUE:
                values.add(r.node)
            elif r.quantity is Quantity.GRAD:
                grads.add(r.node)
    return frozenset(values), frozenset(grads)


class Probes:
    """The probes of a set of breakpoints over one probing fast path, and their counts and memory.

    mode "stop": stop the run at the first hit past a breakpoint's ignore count (continue); the
    iteration is then in .stopped.
    mode "collect": record every hit, ignoring counts (reverse-continue looks for the last one).
    Hit counts and changed(...) memory are copies; snapshot() keeps them as they were when the
    current iteration began, so the Stepper can replay that iteration from the same state.
    """

    def __init__(self, fast: FastPath, schedule: Schedule, bps: list[Breakpoint], mode: str, *,
                 leaves_for, eta_at, last: int):
        """leaves_for(iteration) and eta_at(iteration) give an iteration's inputs and learning rate
        (for the checks when an iteration begins); last is the replay's last iteration."""
        p = fast.program
        self.fast, self.schedule, self.mode = fast, schedule, mode
        self.leaves_for, self.eta_at, self.last = leaves_for, eta_at, last
        self.bps = bps
        self.hits = {bp.id: bp.hits for bp in bps}
        self.memory = {bp.id: list(bp.memory) for bp in bps}
        self.iteration = 0
        self.eta = 0.0
        self.stopped: int | None = None
        self.start = (dict(self.hits), {k: list(v) for k, v in self.memory.items()})
        self.collected: list[tuple[int, int, bool]] = []   # (tick, breakpoint id, at an iteration's beginning)
        self._entry_ready: frozenset[int] | None = None      # the leaves a view of an iteration's start holds
        self.at: dict[int, list[Breakpoint]] = {}
        for bp in bps:
            for k in schedule.offsets(bp):
                self.at.setdefault(k, []).append(bp)
        self.entry = self.at.pop(schedule.length, [])     # checked when an iteration begins
        self._views = [self._views_for(plan) for plan in fast.plans]
        self._p = p

    # ------------------------------------------------------------------ the views at each probed step
    def _views_for(self, plan: _Plan) -> dict[int, tuple[int, FastView]]:
        """offset -> (calls done before the probe, view), for the probed offsets of one plan."""
        p = self.fast.program
        F, B = len(p.ops), len(p.backward)
        out = {}
        ready: set[int] = set()
        grads: dict[int, np.ndarray] = {}
        steps: dict[int, np.ndarray] = {}
        done = 0
        updates = {u.param: u for u in plan.updates}
        ends = self.fast._update_calls(plan)[1]
        nf, nb = len(plan.forward), len(plan.backward)
        for k, (place, node) in enumerate(self.schedule.places):
            if place is Place.FORWARD:
                if self.fast.computes[node]:
                    ready.add(node)
                    done = plan.forward_ends[node]
            elif k == F:                                  # the seed: ∂E/∂E = 1
                grads[p.loss] = np.ones(())
                done = nf
            elif place is Place.BACKWARD:
                if node in plan.backward_ends:
                    done = nf + plan.backward_ends[node]
                    for j, arr in plan.grads_set[node]:
                        grads[j] = arr
            else:
                u = updates.get(node)
                if u is not None:
                    steps[node] = u
                    done = nf + nb + ends[node]
            if k in self.at:
                out[k] = (done, FastView(plan.vals, frozenset(ready | _leaves(p)), dict(grads), dict(steps)))
        assert len(self.schedule.places) == F + 1 + B + len(p.params)
        return out

    def calls(self, plan_index: int, base: list, updates: list, ends: dict[int, int]) -> tuple[list, list]:
        """One iteration's calls with the probes inserted: (forward and backward, updates), each with
        the probes that follow their steps."""
        calls = base + updates
        first_update = len(self._p.ops) + 1 + len(self._p.backward)
        pre, post = [], []
        last = 0
        for k in sorted(self._views[plan_index]):
            done, view = self._views[plan_index][k]
            target = pre if k < first_update else post
            if target is post and last < len(base):
                pre.extend(calls[last:len(base)])
                last = len(base)
            target.extend(calls[last:done])
            last = done
            target.append(partial(self._probe, k, view))
        if last < len(base):
            pre.extend(calls[last:len(base)])
            last = len(base)
        post.extend(calls[last:])
        return pre, post

    # ------------------------------------------------------------------ running
    def begin(self, iteration: int) -> None:
        """A new iteration starts: remember counts and memory as they are now. Its η is the Stepper's
        (eta_at: the set η times any schedule's factor), as the node-by-node checks see it."""
        self.iteration, self.eta = iteration, self.eta_at(iteration)
        self.start = (dict(self.hits), {k: list(v) for k, v in self.memory.items()})

    def _probe(self, offset: int, view: FastView) -> None:
        view.iteration, view.eta = self.iteration, self.eta
        self._checks(self.at[offset], view, (self.iteration - 1) * self.schedule.length + offset + 1, False)

    def end(self, iteration: int) -> None:
        """The iteration after this one begins: check what reads iteration, eta and the inputs."""
        if not self.entry or iteration >= self.last:
            return
        nxt = iteration + 1
        if self._entry_ready is None:
            self._entry_ready = frozenset(self.leaves_for(nxt)) | frozenset(self.fast.program.params)
        # The leaves are gathered only if a condition reads one: `iteration == 5` reads none.
        view = FastView(_Leaves(lambda: self._entry_leaves(nxt)), self._entry_ready, {}, {})
        view.iteration, view.eta = nxt, self.eta_at(nxt)
        self._checks(self.entry, view, iteration * self.schedule.length, True)

    def _entry_leaves(self, iteration: int) -> dict:
        vals = self.fast.plans[0].vals
        leaves = self.leaves_for(iteration)
        for i in self.fast.program.params:
            leaves[i] = vals[i]
        return leaves

    def _checks(self, bps: list[Breakpoint], view: FastView, tick: int, entry: bool) -> None:
        for bp in bps:
            if not bp.enabled or not check(bp, view, self.memory[bp.id]):
                continue
            if self.mode == "collect":
                self.collected.append((tick, bp.id, entry))
                continue
            self.hits[bp.id] += 1
            if self.hits[bp.id] > bp.ignore:
                raise ProbeStop(self.iteration)


class _Leaves:
    """Index access over a dict of leaf values, for a view of an iteration's beginning."""

    __slots__ = ("make", "d")

    def __init__(self, make):
        self.make, self.d = make, None

    def __getitem__(self, node: int):
        if self.d is None:
            self.d = self.make()
        return self.d[node]


def _leaves(p) -> set[int]:
    return {i for i, n in enumerate(p.nodes) if n.is_leaf}


def can_probe(fast: FastPath, bp: Breakpoint) -> bool:
    """Whether every quantity bp reads is computed by this fast path."""
    if bp.condition is None:
        return True
    p = fast.program
    plan = fast.plans[0]
    stepped = {u.param for u in plan.updates}
    for r in bp.condition.reads:
        if r.quantity is Quantity.VALUE and p.nodes[r.node].op is not None and not fast.computes[r.node]:
            return False
        if r.quantity is Quantity.GRAD and r.node != p.loss and not any(
                r.node == j for sets in plan.grads_set.values() for j, _ in sets):
            return False
        if r.quantity is Quantity.UPDATE and r.node not in stepped:
            return False
    return True
