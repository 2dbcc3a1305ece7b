"""The fast path: whole training iterations with no events and no history, for `gradstep run`.

The engine knows the whole program in advance, so it does what a careful person would do by hand:
- every node's value and gradient gets a buffer allocated once, and each step writes into it
  (``out=``), so an iteration allocates nothing;
- only what the loss and the param gradients need is computed (no gradients for inputs);
- gradients that are constant (∂E/∂E = 1, then through sum) are computed once, multiplying by a
  gradient of exact ones is skipped, and an identity VJP (add, sub, identity) aliases its input;
- each step is a C-level ``functools.partial`` call, so the loop adds almost nothing per node.

Every rewrite gives the same bits as the Stepper's kernels: writing with ``out=`` runs the same
ufunc loop; ``x * 1.0 == x`` exactly; ``power(a, 1.0) == a`` exactly. Tests compare the params of
both paths byte for byte.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np

from . import kernels, optim
from .accumulate import unbroadcast, unbroadcast_into
from .scenario import Scenario


class _Grad:
    """Compile-time knowledge of a node's gradient buffer during one backward pass."""

    __slots__ = ("own", "current", "ones", "const")

    def __init__(self, own: np.ndarray):
        self.own = own          # this node's own buffer
        self.current = None     # the array holding the gradient so far (own, or an alias)
        self.ones = False       # known to be exactly ones
        self.const = False      # known before the run (does not change between iterations)


@dataclass
class _Update:
    """One param's update on the fast path: its buffer, its gradient, the step, and the optimizer's state."""

    param: int
    w: np.ndarray
    g: np.ndarray
    step: np.ndarray            # the optimizer's step (SGD: η·d, subtracted; the others: Δw itself)
    state: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]      # everything the step writes or reads by name: w, g, state, temporaries
    sign: float = -1.0

    @property
    def delta(self) -> np.ndarray:
        """Δw of the last update, as the Stepper computes it."""
        return optim.delta(self.step, self.sign)


@dataclass
class _Plan:
    """One compiled iteration: forward and backward calls, and per param (buffer, gradient, temporary).

    For breakpoint probes (engine/probes.py) it also records where each of the Stepper's steps ends
    in the calls, and which array holds each gradient after each step.
    """

    vals: list[np.ndarray]
    forward: list[Callable] = field(default_factory=list)
    backward: list[Callable] = field(default_factory=list)
    updates: list["_Update"] = field(default_factory=list)      # one per param that has a gradient
    scratch: dict[int, dict] = field(default_factory=dict)     # per node: buffers its forward and VJP forms share
    forward_ends: dict[int, int] = field(default_factory=dict)      # op node -> forward calls done after it
    backward_ends: dict[int, int] = field(default_factory=dict)     # passing node -> backward calls done after it
    grads_set: dict[int, list[tuple[int, np.ndarray]]] = field(default_factory=dict)  # passing node -> (input, array)


MAX_BATCH_PLANS = 64      # unshuffled data: one plan per batch, reading the data in place, up to this many


class FastPath:
    """A program compiled into flat lists of C-level calls on preallocated buffers."""

    def __init__(self, scenario: Scenario, *, values: frozenset[int] = frozenset(),
                 grads: frozenset[int] = frozenset()):
        """values and grads name extra nodes whose value or gradient to compute (for breakpoint probes):
        by default only what the loss and the param gradients need is computed."""
        p = scenario.program
        self.program = p
        self.scenario = scenario
        self.limit = scenario.grad_norm_limit
        self.on_param = p.depends_on(("param",))
        if grads:
            wanted = p.depends_on_nodes(grads)
            self.on_param = [a or b for a, b in zip(self.on_param, wanted)]
        self.computes = list(p.feeds_loss)
        # An op that carries state (batch_norm's running statistics) runs even if the loss does not read it.
        for i in p.ancestors(set(values) | {op for op, _ in p.carried.values()}):
            self.computes[i] = True
        # One value buffer per node; leaves get theirs filled at the start of a run.
        self.vals = [np.zeros(node.shape) for node in p.nodes]
        self._grad_bufs: dict[int, np.ndarray] = {}
        self._tmp: dict[int, np.ndarray] = {}
        self.training = scenario.training
        self._state: dict[tuple[int, str], np.ndarray] = {}      # (param, slot) -> the optimizer's state
        self._temps: dict[int, dict[str, np.ndarray]] = {}
        # The optimizer's scalars (η, bias corrections...) in 0-d arrays the compiled calls read, one set per
        # group of params that share their learning rate and options, refreshed when they change.
        t = self.training
        self._group = {i: (t.learning_rates or {}).get(i, None) for i in p.params}
        self._group = {i: (lr, tuple(sorted(t.options_for(i).items()))) for i, lr in self._group.items()}
        self._scalars = {key: {name: np.zeros(()) for name in t.optimizer.scalars(0, 0.0, t.options_for(i))}
                         for i, key in self._group.items()}
        self._handed_out: dict[int, np.ndarray] | None = None
        data = scenario.data
        self.data_ids = set(data.node_ids.values()) if data is not None else set()
        # How each iteration's batch reaches the data nodes. Unshuffled batches are contiguous rows:
        # with few batches, each gets its own plan reading its rows in place (no copy at all, as
        # hand-written NumPy slices); otherwise they are copied (sliced or gathered) into buffers.
        self.batch_plans = data is not None and not data.shuffle and data.batches_per_epoch <= MAX_BATCH_PLANS
        if self.batch_plans:
            self.plans = []
            for k in range(data.batches_per_epoch):
                vals = list(self.vals)
                for name, col in data.columns.items():
                    vals[data.node_ids[name]] = col[k * data.batch_size:(k + 1) * data.batch_size]
                self.plans.append(self._compile(vals))
        else:
            self.plans = [self._compile(self.vals)]
        self.copies_batches = data is not None and not self.batch_plans

    @property
    def forward_plan(self) -> list[Callable]:
        return self.plans[0].forward

    @property
    def backward_plan(self) -> list[Callable]:
        return self.plans[0].backward

    @property
    def scratch(self) -> dict[int, dict]:
        return self.plans[0].scratch

    def _compile(self, vals: list[np.ndarray]) -> _Plan:
        """Compile one iteration over these value buffers (the gradient buffers are shared by every plan)."""
        p = self.program
        plan = _Plan(vals)
        for i in p.ops:
            if self.computes[i]:
                plan.forward.append(self._compile_forward(p.nodes[i], vals, plan))
                if p.nodes[i].op.carries:
                    plan.forward.append(partial(_carry, p.nodes[i], vals))
                plan.forward_ends[i] = len(plan.forward)
        grads = self._compile_backward(vals, plan)
        t = self.training
        for i in p.params:
            g = grads.get(i)
            if g is not None and g.current is not None:
                shape = p.nodes[i].shape
                step = self._tmp.setdefault(i, np.zeros(shape))
                state = {slot: self._state.setdefault((i, slot), np.zeros(shape)) for slot in t.slots(i)}
                temps = self._temps.setdefault(i, {name: np.zeros(shape) for name in
                                                   t.optimizer.temporaries(t.options_for(i)) - {"step"}})
                buffers = {**temps, **state, "w": vals[i], "g": g.current, "step": step}
                plan.updates.append(_Update(i, vals[i], g.current, step, state, buffers, t.optimizer.sign))
        return plan

    def _update_calls(self, plan: _Plan, first: bool = False) -> tuple[list[Callable], dict[int, int]]:
        """The update phase's calls (first: those of the optimizer's very first step), and for each param
        how many of them are done after its update."""
        calls: list[Callable] = []
        ends: dict[int, int] = {}
        t = self.training
        for u in plan.updates:
            calls += optim.compile_step(t.optimizer, t.options_for(u.param), first, u.buffers,
                                        self._scalars[self._group[u.param]])
            ends[u.param] = len(calls)
        return calls, ends

    def _set_scalars(self, iteration: int, eta_schedule) -> None:
        """Every group's scalars for an iteration (η, bias corrections), computed as the Stepper does."""
        eta = kernels.eta_at(eta_schedule, iteration)
        lr0 = self.scenario.learning_rate
        t = self.training
        done = set()
        for i, key in self._group.items():
            if key in done:
                continue
            done.add(key)
            arrays = self._scalars[key]
            for name, v in t.optimizer.scalars(iteration - 1, t.lr(i, iteration, eta, lr0), t.options_for(i)).items():
                arrays[name][()] = v

    def _buffer(self, key) -> np.ndarray:
        """The buffer of a training-state key: a param id, or (param id, slot) for the optimizer's state."""
        return self.vals[key] if isinstance(key, int) else self._state[key]

    # ------------------------------------------------------------------ compile: forward
    def _compile_forward(self, node, vals: list[np.ndarray], plan: _Plan) -> Callable:
        ins = [vals[j] for j in node.inputs]
        out = vals[node.id]
        call = node.op.compile_forward(out, ins, node.attrs, plan.scratch.setdefault(node.id, {}))
        return call if call is not None else partial(_generic_forward, node, ins, out)

    # ------------------------------------------------------------------ compile: backward
    def _compile_backward(self, v: list[np.ndarray], compiled: _Plan) -> dict[int, _Grad]:
        p = self.program
        grads: dict[int, _Grad] = {}

        def slot(j: int) -> _Grad:
            if j not in grads:
                grads[j] = _Grad(self._grad_bufs.setdefault(j, np.zeros(p.nodes[j].shape)))
            return grads[j]

        seed = slot(p.loss)
        seed.current = np.ones(())
        seed.ones = seed.const = True
        plan = compiled.backward
        for i in p.backward:
            node = p.nodes[i]
            if not self.on_param[i]:
                continue
            g = grads.get(i)
            if g is None or g.current is None:
                continue
            op = node.op
            ins = [v[j] for j in node.inputs]
            out = v[i]
            for pos, j in p.passes_to[i]:
                if not self.on_param[j]:
                    continue
                target = slot(j)
                shape = p.nodes[j].shape
                first = target.current is None
                linear = op.linear[pos] if pos < len(op.linear) else None
                if linear == 1.0 and g.current.shape == shape:
                    # The contribution is g itself.
                    if first:
                        target.current, target.ones, target.const = g.current, g.ones, g.const
                    else:
                        plan.append(partial(np.add, target.current, g.current, target.own))
                        target.current, target.ones, target.const = target.own, False, False
                    continue
                if g.const and first and op.grad_only:
                    # A VJP that reads only a constant gradient gives a constant: compute it once.
                    c = kernels.contribution(node, pos, g.current, v, shape)
                    target.current = np.array(c, copy=True)
                    target.const = True
                    target.ones = bool(np.all(target.current == 1.0))
                    continue
                dest = target.own if first else np.zeros(shape)
                plan.extend(self._contribution(node, pos, linear, g, ins, out, dest, shape,
                                               compiled.scratch.setdefault(i, {})))
                if first:
                    target.current = target.own
                else:
                    plan.append(partial(np.add, target.current, dest, target.own))
                    target.current = target.own
                target.ones = target.const = False
            compiled.backward_ends[i] = len(plan)
            compiled.grads_set[i] = [(j, grads[j].current) for _, j in p.passes_to[i] if j in grads]
        return grads

    def _contribution(self, node, pos: int, linear, g: _Grad, ins, out, dest: np.ndarray, shape,
                      scratch: dict) -> list[Callable]:
        """Calls that write node's contribution to input pos into dest (already un-broadcast)."""
        gc = g.current
        if linear == -1.0 and gc.shape == shape:
            return [partial(np.negative, gc, dest)]
        calls = node.op.compile_vjp(pos, dest, gc, g.ones, out, ins, node.attrs, scratch)
        if calls is not None:
            return calls
        if linear == 1.0:
            # g summed over the broadcast axes, straight into dest.
            call = unbroadcast_into(dest, gc)
            if call is not None:
                return [call]
        return [partial(_generic_vjp, node, pos, gc, ins, out, dest, shape)]

    # ------------------------------------------------------------------ running
    def run(self, params: dict[int, np.ndarray], first: int, count: int,
            eta_schedule: list[tuple[int, float]], leaves_for: Callable[[int], dict],
            on_loss: Callable[[int, list[float]], None], leaves_vary: bool = False, *,
            checkpoint: Callable[[int, dict[int, np.ndarray]], None] | None = None, every: int = 0,
            stop_on_fault: bool = True, probes=None,
            after_iteration: Callable | None = None) -> tuple[dict[int, np.ndarray] | None, int | None]:
        """Run `count` iterations from `first`; return the new params and the first faulty iteration.

        eta_schedule lists (first iteration, eta) in order. on_loss(first, losses) receives the
        loss of each iteration run, once at the end. checkpoint(it, params) receives a copy of the
        params at the start of every iteration it with (it - 1) % every == 0 reached on the way.
        A fault is a non-finite loss, a non-finite param, or a gradient norm over the scenario's
        limit; with stop_on_fault=False the run goes on through faults (exact recomputation of a
        run that diverged). The params returned are this path's own buffers, lent: they stay valid
        until its next run (which continues from them without a copy when given them back); copy
        them to keep them longer (lends() tells whether a dict holds them).

        probes (engine/probes.py) puts breakpoint checks between the calls; when one stops the run
        (ProbeStop), the iteration it stopped in is in probes.stopped and the params are None.
        after_iteration(iteration, plan) is called after each iteration (health measures read the
        plan's buffers then).
        """
        p = self.program
        vals = self.vals
        data_ids = self.data_ids
        leaves_vary = leaves_vary or bool(p.noise)        # dropout's noise is drawn afresh each iteration
        for i, v in leaves_for(first).items():
            # Params and running statistics come from training, data from the batch plans or the copies below.
            if i not in params and i not in data_ids:
                np.copyto(vals[i], v)
        # The buffers still hold the state this path handed out last time? Then skip the copy.
        if self._handed_out is None or any(params.get(k) is not w for k, w in self._handed_out.items()):
            for k, w in params.items():
                np.copyto(self._buffer(k), w)
        self._handed_out = None
        ds = self.scenario.data
        copies = [(vals[ds.node_ids[name]], col) for name, col in ds.columns.items()] if self.copies_batches else []
        plans = self.plans
        per_epoch = len(plans)
        loss_buf = vals[p.loss]
        watch = self.limit is not None and stop_on_fault
        losses: list[float] = []
        record = losses.append
        bad = None
        end = first + count
        # The last iteration of each checkpoint interval: after it, the params are a checkpoint.
        if checkpoint is not None and every > 0:
            cp_last = ((first - 1) // every + 1) * every
        else:
            cp_last = end
        # The scalars change only where η is set anew, unless a schedule or the optimizer's own bias
        # corrections move them every iteration.
        every_iteration = bool(self.training.schedules) or self.training.optimizer.per_step
        changes = {s for s, _ in eta_schedule if s > first}

        def compiled(first_step: bool) -> list:
            runs = []
            for k, plan in enumerate(plans):
                upd, ends = self._update_calls(plan, first_step)
                calls = plan.forward + plan.backward
                if probes is not None:
                    calls, upd = probes.calls(k, calls, upd, ends)
                runs.append((calls, upd, plan.updates) if watch else (calls + upd, [], plan.updates))
            return runs
        runs = compiled(False)
        first_runs = compiled(True) if first == 1 and self.training.optimizer.first_differs(self.training.options) \
            else runs
        self._set_scalars(first, eta_schedule)
        with np.errstate(all="ignore"):
            for it in range(first, end):
                if it != first and (every_iteration or it in changes):
                    self._set_scalars(it, eta_schedule)
                if leaves_vary:
                    for i, v in leaves_for(it).items():
                        if i not in params and i not in data_ids:
                            np.copyto(vals[i], v)
                if copies:
                    if ds.shuffle:
                        rows = ds.rows_for(it)
                        for buf, col in copies:
                            np.take(col, rows, 0, buf)
                    else:
                        # Unshuffled batches are contiguous rows: a slice copies faster than take.
                        k = (it - 1) % ds.batches_per_epoch * ds.batch_size
                        for buf, col in copies:
                            np.copyto(buf, col[k:k + ds.batch_size])
                calls, after, updates = (first_runs if it == 1 else runs)[(it - 1) % per_epoch]
                if probes is not None:
                    probes.begin(it)
                    try:
                        for f in calls:
                            f()
                    except ProbeStop:
                        probes.stopped = it
                        break
                else:
                    for f in calls:
                        f()
                loss = float(loss_buf)
                record(loss)
                if loss - loss != 0.0 and stop_on_fault:
                    bad = it
                    break
                if watch:
                    if any(np.linalg.norm(u.g) > self.limit for u in updates):
                        bad = it
                        break
                    try:
                        for f in after:
                            f()
                    except ProbeStop:
                        probes.stopped = it
                        break
                if it == cp_last:
                    checkpoint(it + 1, {k: self._buffer(k).copy() for k in params})
                    cp_last += every
                if after_iteration is not None:
                    after_iteration(it, plans[(it - 1) % per_epoch])
                if probes is not None:
                    try:
                        probes.end(it)          # the next iteration begins: its checks
                    except ProbeStop:
                        probes.stopped = it
                        break
            if probes is not None and probes.stopped is not None:
                on_loss(first, losses)
                self._handed_out = None          # the buffers hold a half-done iteration
                return None, None
            if bad is None and stop_on_fault and not all(_finite(u.w) for u in plans[0].updates):
                # A param went non-finite without spoiling the loss: the caller searches the range.
                bad = end - 1
        on_loss(first, losses)
        out = {k: self._buffer(k) for k in params}
        if bad is None:
            self._handed_out = dict(out)
        return out, bad

    def lends(self, params: dict) -> bool:
        """Whether params holds this path's own buffers, which its next run overwrites."""
        return any(v is self._buffer(k) for k, v in params.items() if isinstance(k, int) or k in self._state)


class ProbeStop(Exception):
    """Raised by a breakpoint probe between the compiled calls to stop a run (engine/probes.py)."""


def _finite(a: np.ndarray) -> bool:
    """Every element finite: a sum is a cheap first test (nan and inf survive it)."""
    return math.isfinite(float(np.add.reduce(a, None))) or kernels.finite(a)


def _carry(node, vals) -> None:
    """The running statistics for the next iteration, written into their leaves' buffers (batch_norm)."""
    for j, new in kernels.carry(node, vals).items():
        np.copyto(vals[j], new)


def _generic_forward(node, ins, out) -> None:
    out[...] = np.asarray(node.op.forward(*ins, **node.attrs), dtype=np.float64)


def _generic_vjp(node, pos, g, ins, out, dest, shape) -> None:
    raw = node.op.vjps[pos](g, out, *ins, **node.attrs)
    dest[...] = unbroadcast(np.asarray(raw, dtype=np.float64), shape)

