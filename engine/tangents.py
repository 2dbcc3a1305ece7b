"""Forward mode: each node's tangent computed beside its value, from its inputs' tangents, with no tape.

A tangent ẋ is how fast a node moves when the inputs move along one direction v: ẋ = Σ ∂x/∂input·v.
Seeded with 1 at every element of one input (0 elsewhere), a node's tangent is the sum of its
derivatives with respect to that input's elements (for a scalar input, just ∂x/∂input); seeded with
a random direction, the loss's tangent is the directional derivative ⟨∇E, v⟩ that reverse mode
gives in one pass. Each op's row carries its tangent rule (ops/base.py); this module seeds the
leaves, sums a node's contributions (out of place, broadcast to the node's shape), and runs whole
passes for the directional check and the pass counter.
"""
from __future__ import annotations

import math
import time
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from . import interpret, kernels
from .program import Node, Program
from .tomltext import clip, did_you_mean

_DIRECTION = 0x646972        # "dir": keeps the random direction's stream apart from init and noise streams


@dataclass(frozen=True)
class TangentSeed:
    """Where forward mode starts: each seeded leaf's tangent (node id -> array); every other leaf's is 0."""

    direction: dict[int, np.ndarray] = field(repr=False)
    input: str | None = None          # the one input seeded with 1s, or None for a random direction
    random_seed: int | None = None    # the seed a random direction was drawn from

    def describe(self, program: Program) -> str:
        """'ḃ = 1, every other input 0' or 'a random direction v (seed 0) over a, b'."""
        if self.input is not None:
            node = program.node(self.input)
            ones = "1" if node.size == 1 else f"1 in all {node.size:,} elements"
            return f"{tangent_name(self.input)} = {ones}, every other input 0"
        names = ", ".join(program.nodes[i].name for i in self.direction)
        return f"a random direction v (seed {self.random_seed}) over {names}"


def tangent_name(name: str) -> str:
    """How a node's tangent is written: ȧ for a one-letter name, dW1 or d(a + b) otherwise."""
    if len(name) == 1 and name.isalpha():
        return unicodedata.normalize("NFC", name + "\u0307")     # a dot above: one character where one exists
    return f"d{name}" if name.isidentifier() else f"d({name})"


def seedable(program: Program) -> list[int]:
    """The leaves a tangent can be seeded at: values, params and data, except class indices (and masks,
    ids) and running statistics, whose tangent reaches nothing."""
    skip = {x.source for x in program.index_inputs} | set(program.carried)
    return [n.id for n in program.nodes if n.kind in ("value", "param", "data") and n.id not in skip]


def seed_at(program: Program, name: str) -> TangentSeed:
    """A tangent of 1 at every element of one input, 0 at every other; ValueError for a bad name."""
    ok = seedable(program)
    choices = [program.nodes[i].name for i in ok]
    listed = ", ".join(choices[:12]) + (", …" if len(choices) > 12 else "")
    i = program.by_name.get(name)
    if i is None:
        raise ValueError(f"no input named {clip(name, 40)!r}{did_you_mean(name, choices)}; seed one of: {listed}")
    node = program.nodes[i]
    if i not in ok:
        why = (f"is computed from other nodes ({clip(node.text, 40)})" if node.op is not None else
               "is a running statistic, which no node differentiates through" if i in program.carried else
               "holds whole numbers read as indices, which carry no derivative" if node.kind != "const" else
               "is a constant")
        raise ValueError(f"{name!r} {why}; seed one of the inputs: {listed}")
    return TangentSeed({i: np.ones(node.shape)}, input=name)


def random_direction(program: Program, seed: int) -> TangentSeed:
    """A direction v over every seedable input, each element drawn from N(0, 1) with this seed."""
    rng = np.random.default_rng([seed, _DIRECTION])
    return TangentSeed({i: rng.standard_normal(program.nodes[i].shape) for i in seedable(program)},
                       random_seed=seed)


def contributions(node: Node, vals: list, tans: list) -> list[tuple[int, np.ndarray | None]]:
    """(input position, its contribution to the node's tangent) for each input that has a tangent."""
    out = vals[node.id]
    ins = [vals[j] for j in node.inputs]
    found = []
    for pos, j in enumerate(node.inputs):
        if tans[j] is None or not node.op.carries_tangent(pos):
            continue
        c = node.op.jvps[pos](tans[j], out, *ins, **node.attrs)
        if c is not None:
            c = np.asarray(c, dtype=np.float64)
            found.append((pos, c if c.shape == out.shape else np.broadcast_to(c, out.shape)))
    return found


def tangent(node: Node, vals: list, tans: list) -> np.ndarray | None:
    """The node's tangent, the sum of its inputs' contributions (a new array), or None when no input has
    one (a tangent of exactly 0 everywhere, kept as None so it costs no memory)."""
    total = None
    for _, c in contributions(node, vals, tans):
        total = np.array(c, dtype=np.float64) if total is None else np.asarray(total + c)
    return total


def leaf_tangents(program: Program, seed: TangentSeed) -> list:
    """Every node's tangent before a pass: the seed's at its leaves, None (zero) everywhere else."""
    tans: list = [None] * len(program.nodes)
    for i, t in seed.direction.items():
        tans[i] = t
    return tans


def forward(program: Program, leaves: dict[int, np.ndarray], seed: TangentSeed) -> tuple[list, list]:
    """One forward-mode pass: every node's value and tangent (None where it is 0), in program order."""
    vals: list = [None] * len(program.nodes)
    for i, v in leaves.items():
        vals[i] = v
    tans = leaf_tangents(program, seed)
    for i in program.ops:
        node = program.nodes[i]
        vals[i] = kernels.forward(node, vals)
        tans[i] = tangent(node, vals, tans)
    return vals, tans


def passes_needed(program: Program) -> int:
    """Forward-mode passes the full gradient takes: one per scalar param (one per scalar input when there
    are no params), against one reverse pass."""
    if program.params:
        return sum(program.nodes[i].size for i in program.params)
    return max(1, sum(program.nodes[i].size for i in seedable(program)))


@dataclass(frozen=True)
class PassCosts:
    """Measured seconds of one pass of each kind, by the reference interpreter (the same loop for all three)."""

    forward: float        # values only
    tangent: float        # one forward-mode pass: values and tangents along one direction
    reverse: float        # one reverse-mode pass: values, then every gradient
    passes: int           # forward-mode passes the full gradient takes (passes_needed)

    @property
    def forward_mode_total(self) -> float:
        """Seconds for the full gradient by forward mode: one tangent pass per scalar input."""
        return self.passes * self.tangent

    @property
    def ratio(self) -> float:
        """How many times longer forward mode takes than reverse mode for the full gradient."""
        return self.forward_mode_total / self.reverse if self.reverse > 0 else math.inf


def measure(program: Program, leaves: dict[int, np.ndarray], seed: TangentSeed, budget: float = 0.3) -> PassCosts:
    """Time one pass of each kind: the best of as many runs as fit in about budget seconds (at least one)."""
    def best(run) -> float:
        times = []
        spent = 0.0
        while not times or (spent < budget / 3 and len(times) < 50):
            start = time.perf_counter()
            run()
            took = time.perf_counter() - start
            times.append(took)
            spent += took
        return min(times)

    with np.errstate(all="ignore"):
        fwd = best(lambda: interpret.forward(program, leaves))
        tan = best(lambda: forward(program, leaves, seed))
        rev = best(lambda: interpret.backward(program, interpret.forward(program, leaves)))
    return PassCosts(fwd, tan, rev, passes_needed(program))
