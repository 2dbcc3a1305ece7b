"""Moving between breakpoint hits: continue to the next one, reverse-continue to the previous one.

Both stand exactly where a node-by-node scan would: the fast path (with the checks placed between
its calls as probes, or, for conditions on the loss, iteration and eta alone, vectorised over the
loss curve) only finds the iteration; the Stepper then replays that iteration node by node from
the same counts and changed(...) memory, and stops on the step itself.

These functions work on a Stepper's internals; they live here to keep stepper.py to stepping.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .breakpoints import ArrayView, Breakpoint, Place, Stop, loss_only
from .errors import Anomaly
from .fast import FastPath
from .probes import Probes, can_probe, needs

CHUNK_SECONDS = 0.04        # a continue runs in chunks of about this long: esc and progress between them


def _probing(st, bps: list[Breakpoint]) -> FastPath | None:
    """A fast path that computes everything these breakpoints read (None: one of them cannot be probed)."""
    values, grads = needs(bps)
    key = (values, grads)
    fast = st._probing.get(key)
    if fast is None:
        fast = st.fast if not values and not grads else FastPath(st.scenario, values=values, grads=grads)
        st._probing[key] = fast
    return fast if all(can_probe(fast, bp) for bp in bps) else None


def _probes(st, fast: FastPath, bps: list[Breakpoint], mode: str) -> Probes:
    eta = st.eta_constant()          # probes ask once per iteration: no lookup when η cannot change
    eta_at = st.eta_at if eta is None else (lambda iteration: eta)
    return Probes(fast, st.schedule, bps, mode, leaves_for=st.leaves_for, eta_at=eta_at, last=st.steps)


def _loss_hits(st, bp: Breakpoint, first: int, losses: np.ndarray) -> np.ndarray:
    """For a loss-only breakpoint, per iteration first, first + 1, ... of a run: does it hit in that
    iteration? At the loss node's step when it reads the loss; otherwise (iteration and eta alone) as
    the next iteration begins, at the iteration's last step."""
    n = len(losses)
    reads_loss = _reads_loss(st, bp)
    its = np.arange(first, first + n) if reads_loss else np.arange(first + 1, first + n + 1)
    etas = _etas(st, its)
    view = ArrayView(st.program.loss, losses, its, etas)
    mask = bp.condition.evaluate_many(view)
    if view.saw_nan and bp.problem is None:
        bp.problem = f"{bp.condition.text}: a comparison met nan; counted as false"
    return mask if reads_loss else mask & (its <= st.steps)


def _etas(st, its: np.ndarray) -> np.ndarray:
    """The effective η of each of these iterations (a schedule moves it even when η is set once)."""
    eta = st.eta_constant()
    return np.full(len(its), eta) if eta is not None else np.array([st.eta_at(int(i)) for i in its], dtype=float)


def _reads_loss(st, bp: Breakpoint) -> bool:
    return (st.program.ops.index(st.program.loss)) in st.schedule.offsets(bp)


def _first_past_ignore(bp: Breakpoint, mask: np.ndarray) -> int | None:
    """The index of the first hit in mask that takes bp past its ignore count, or None."""
    total = bp.hits + np.cumsum(mask)
    idx = np.flatnonzero(mask & (total > bp.ignore))
    return int(idx[0]) if idx.size else None


def _run(st, fast: FastPath, it: int, n: int, probes: Probes | None):
    """One fast run of n iterations from it with probes: (params or None, bad iteration, losses run)."""
    got: list[float] = []

    def on_loss(first: int, losses: list[float]) -> None:
        got.extend(losses)
        st.history.record_losses(first, losses)
    params, bad = st._replay(it, st._params_at(it), n, stop_on_fault=True, fast=fast, probes=probes,
                             on_loss=on_loss)
    return params, bad, np.array(got)


def continue_(st, *, progress: Callable[[int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> Stop | Anomaly | None:
    st.stop = None
    st.anomaly = None
    active = [bp for bp in st.breakpoints if bp.enabled]
    if not active:
        return st.run_iterations(st.steps, progress=progress, should_stop=should_stop)
    S = st.per_iteration
    p = st.program
    if st.tick % S and not st.at_end:               # the rest of this iteration, node by node
        st._run_until((st.tick // S + 1) * S)
        if st.stop is not None or st.anomaly is not None:
            return st.stop or st.anomaly
    lossy = [bp for bp in active if loss_only(bp, p)]
    probed = [bp for bp in active if bp not in lossy]
    fast = _probing(st, probed) if probed else st.fast
    n = 8
    while not st.at_end:
        if should_stop is not None and should_stop():
            break
        it = st.tick // S + 1
        count = min(n, st.steps - it + 1)
        if fast is None:
            # A breakpoint reads what the fast path cannot show: step whole iterations node by node.
            st._run_until(it * S)
            if st.stop is not None or st.anomaly is not None:
                return st.stop or st.anomaly
            if progress is not None:
                progress(it)
            continue
        st._ensure_memory()
        t0 = time.perf_counter()
        probes = _probes(st, fast, probed, "stop") if probed else None
        params, bad, losses = _run(st, fast, it, count, probes)
        stopped = probes.stopped if probes is not None else None
        # Loss-only breakpoints, over the iterations the run completed.
        first_loss_hit = None
        masks = {bp.id: _loss_hits(st, bp, it, losses) for bp in lossy}
        for bp in lossy:
            k = _first_past_ignore(bp, masks[bp.id])
            if k is not None and (first_loss_hit is None or it + k < first_loss_hit):
                first_loss_hit = it + k
        candidates = [x for x in (stopped, first_loss_hit, bad) if x is not None]
        if not candidates:
            for bp in lossy:
                bp.hits += int(masks[bp.id].sum())
            if probes is not None:
                for bp in probed:
                    bp.hits, bp.memory = probes.hits[bp.id], probes.memory[bp.id]
            st.seek((it + count - 1) * S)
            st._memory_tick = st.tick
            if progress is not None:
                progress(it + count - 1)
            dt = time.perf_counter() - t0
            n = max(1, min(4096, int(n * min(4.0, CHUNK_SECONDS / max(dt, 1e-6)))))
            continue
        k = min(candidates)
        if bad is not None and k == bad:
            k = max(it, bad - 1)           # the fault may start in the update just before
        # Counts and memory as they were when iteration k began, then k replayed node by node.
        for bp in lossy:
            bp.hits += int(masks[bp.id][:k - it].sum())
        if probes is not None:
            if k == stopped:
                hits, memory = probes.start
            elif k > it:
                again = _probes(st, fast, probed, "stop")
                _run(st, fast, it, k - it, again)
                hits, memory = again.hits, again.memory
            else:
                hits = None             # k is the chunk's first iteration: the breakpoints are as they were
            if hits is not None:
                for bp in probed:
                    bp.hits, bp.memory = hits[bp.id], list(memory[bp.id])
        st.seek((k - 1) * S)
        st._memory_tick = st.tick
        end = k * S if bad is None or k >= bad else bad * S
        st._run_until(end)
        if st.stop is not None or st.anomaly is not None:
            return st.stop or st.anomaly
        if bad is not None:
            return st._find_anomaly(it, bad)
    return None


def reverse_continue(st, *, should_stop: Callable[[], bool] | None = None) -> Stop | None:
    """The last hit strictly before the current tick, found chunk by chunk going back in time."""
    active = [bp for bp in st.breakpoints if bp.enabled]
    if not active or st.tick == 0:
        return None
    S = st.per_iteration
    target = st.tick
    p = st.program
    # This iteration up to the tick, node by node.
    here = _collect_stepping(st, (target - 1) // S + 1, target - 1)
    if here:
        return _land(st, here[-1])
    lossy = [bp for bp in active if loss_only(bp, p)]
    probed = [bp for bp in active if bp not in lossy]
    fast = _probing(st, probed) if probed else st.fast
    end = (target - 1) // S + 1            # iterations before this one are scanned: [a, end)
    size = 1
    while end > 1:
        if should_stop is not None and should_stop():
            break
        a = max(1, end - size)
        found = _collect_range(st, fast, lossy, probed, a, end)
        if found:
            return _land(st, max(found))
        end = a
        size = min(size * 4, 65536)
    st.seek(target)
    return None


def _collect_stepping(st, iteration: int, until: int) -> list[tuple[int, int, bool]]:
    """(tick, breakpoint id, at an iteration's beginning) of every hit from the start of an iteration up
    to tick until, node by node."""
    S = st.per_iteration
    st.seek((iteration - 1) * S)
    st._ensure_memory()
    out = []
    while st.tick < min(until, st.total_ticks):
        out += [(st.tick, bp, entry) for bp, entry in st._step_collecting()]
    return out


def _collect_range(st, fast: FastPath | None, lossy, probed, a: int, end: int) -> list[tuple[int, int, bool]]:
    """(tick, breakpoint id, at an iteration's beginning) of every hit in iterations a .. end-1."""
    S = st.per_iteration
    found = []
    if fast is None:
        for it in range(a, end):
            found += _collect_stepping(st, it, it * S)
        return found
    # Loss-only breakpoints from the loss curve where it is known, else from the run below.
    known = [st.history.loss(i) for i in range(a, end)]
    losses = np.array(known, dtype=float) if all(x is not None for x in known) else None
    stretches = _guarded(st, probed, a, end) if probed and (losses is not None or not lossy) else None
    if stretches is not None:
        # Only the iterations where some breakpoint's iteration-and-eta guard can hold are run.
        for s, e in stretches:
            st.seek((s - 1) * S)
            st._ensure_memory()
            probes = _probes(st, fast, probed, "collect")
            _run(st, fast, s, e - s, probes)
            found += [hit for hit in probes.collected if hit[0] <= (e - 1) * S]
    elif probed or losses is None:
        st.seek((a - 1) * S)
        st._ensure_memory()
        probes = _probes(st, fast, probed, "collect") if probed else None
        _, _, ran = _run(st, fast, a, end - a, probes)
        if probes is not None:
            found += [hit for hit in probes.collected if hit[0] <= (end - 1) * S]
        if losses is None:
            losses = ran
    if lossy and losses is not None and len(losses):
        loss_offset = st.program.ops.index(st.program.loss)
        for bp in lossy:
            hit = np.flatnonzero(_loss_hits(st, bp, a, losses))
            if _reads_loss(st, bp):
                found += [((a + int(i) - 1) * S + loss_offset + 1, bp.id, False) for i in hit]
            else:       # as the next iteration begins, at the end of iteration a + i
                found += [((a + int(i)) * S, bp.id, True) for i in hit]
    return found


def _guarded(st, bps: list[Breakpoint], a: int, end: int) -> list[tuple[int, int]] | None:
    """The stretches [s, e) of iterations a .. end-1 that must run for these breakpoints to be checked,
    when each has an iteration-and-eta guard (reverse-continue on 'iteration == 5 and max(h) > 0' runs
    iteration 5, not 99,995): iteration i runs if a guard holds at i or at i + 1 (a check as the next
    iteration begins is made at i's last step). None when some breakpoint has no guard."""
    guards = [bp.condition.guard() if bp.condition is not None and bp.at is None else None for bp in bps]
    if not guards or any(g is None for g in guards):
        return None
    its = np.arange(a, end + 1)
    etas = _etas(st, its)
    view = ArrayView(st.program.loss, np.zeros(len(its)), its, etas)
    holds = np.zeros(len(its), dtype=bool)
    for g in guards:
        holds |= g.evaluate_many(view)
    need = holds[:-1] | holds[1:]
    out, k, n = [], 0, len(need)
    while k < n:
        if not need[k]:
            k += 1
            continue
        j = k
        while j < n and need[j]:
            j += 1
        out.append((a + k, a + j))
        k = j
    return out


def _land(st, hit: tuple[int, int, bool]) -> Stop:
    """Stand on a hit found going back: seek to its tick and describe it as continue would."""
    tick, bp_id, entry = hit
    S = st.per_iteration
    st.seek(tick)
    bp = st.breakpoint(bp_id)
    if entry:
        st.stop = Stop(bp_id, tick, tick // S + 1, Place.FORWARD.value, 0, st.program.ops[0],
                       bp.describe(st.program))
        return st.stop
    offset = (tick - 1) % S
    place, node = st.schedule.places[offset]
    F, B = len(st.program.ops), len(st.program.backward)
    index = offset if place is Place.FORWARD else offset - F if place is Place.BACKWARD else offset - F - 1 - B
    st.stop = Stop(bp_id, tick, (tick - 1) // S + 1, place.value, index, node, bp.describe(st.program))
    return st.stop
