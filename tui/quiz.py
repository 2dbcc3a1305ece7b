"""Predict, then reveal: before the step that computes an asked node's value (forward) or passes gradient to an
asked grad(name) (backward), the app asks for the number, marks it, then runs the step and shows the real value
with its formula. The scenario's [quiz] table (engine QuizSpec) says what is asked and how close is right.

The plan and the marking are plain functions of the program and the numbers (tests call them directly); Quiz
is the app's side (app.quiz): the key, the hook in front of the stepping keys, and the score.
"""
from __future__ import annotations

import enum
import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Callable

import numpy as np

from gradstep.engine import Program, QuizSpec, Stepper, fmt_num, visible

if TYPE_CHECKING:
    from .app import GradstepApp

FLOOR = Fraction(1, 10**12)     # a value of 0 wants an answer within this


class Asked(enum.Enum):
    """What a question asks for: a node's value, or the gradient one step passes to it."""

    VALUE = "value"
    GRADIENT = "gradient"


@dataclass(frozen=True)
class Question:
    """One question: the step at `offset` in each iteration computes it."""

    offset: int                  # the step's place in an iteration (0 = the first forward step)
    asked: Asked
    node: int                    # whose value, or which node receives the gradient
    consumer: int | None = None  # for a gradient: the node that passes it (the loss itself for the seed)


def plan(program: Program, spec: QuizSpec) -> dict[int, Question]:
    """The questions of one iteration by the offset of the step before which each is asked (one per step: a
    step that would answer two asks the first)."""
    p = program
    forward_len = len(p.ops)
    out: dict[int, Question] = {}
    position = {node: k for k, node in enumerate(p.ops)}
    for node in spec.values:
        out.setdefault(position[node], Question(position[node], Asked.VALUE, node))
    order = {node: k for k, node in enumerate(p.backward)}
    for node in spec.grads:
        if node == p.loss:
            out.setdefault(forward_len, Question(forward_len, Asked.GRADIENT, node, node))
        for consumer, _ in p.consumers[node]:
            offset = forward_len + 1 + order[consumer]
            out.setdefault(offset, Question(offset, Asked.GRADIENT, node, consumer))
    return dict(sorted(out.items()))


def element(shape: tuple[int, ...], seed: int, node: int, iteration: int) -> tuple[int, ...]:
    """The element of a tensor to ask for, the same every time the question comes back: () for a scalar."""
    size = math.prod(shape)
    if size <= 1:
        return tuple(0 for _ in shape)
    k = int(np.random.default_rng([seed, node, iteration, 0x7175]).integers(size))
    return tuple(int(i) for i in np.unravel_index(k, shape))


_DECIMAL = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?"
_ANSWER = re.compile(rf"({_DECIMAL})(?:/({_DECIMAL}))?")


def parse_answer(text: str) -> Fraction | float:
    """A typed number, exactly: 2, -0.5, 1e-3, 2/3 as a Fraction; nan and ±inf as floats. ValueError otherwise."""
    t = text.strip().replace("−", "-").replace(" ", "")
    if t.lower() in ("nan", "inf", "+inf", "-inf", "infinity", "-infinity"):
        return float(t)
    m = _ANSWER.fullmatch(t)
    if m is None or len(t) > 60:
        raise ValueError(f"{visible(text[:30], newlines=False)!r} is not a number (2.5, -1e-3, 2/3, nan)")
    value = Fraction(m.group(1))
    if m.group(2) is not None:
        den = Fraction(m.group(2))
        if den == 0:
            raise ValueError("a fraction over 0 is not a number")
        value /= den
    return value


def is_right(answer: Fraction | float, value: float, tolerance: float) -> bool:
    """|answer - value| <= tolerance·|value| in exact arithmetic (the edge counts as right), at least within 1e-12;
    the value is read as the shortest decimal that is that float (repr: 0.1, not 0.1000000000000000055...), so
    the edges are where a person computes them. nan wants nan and ±inf the same infinity."""
    if math.isnan(value) or math.isinf(value):
        return isinstance(answer, float) and (math.isnan(answer) if math.isnan(value) else answer == value)
    if isinstance(answer, float):
        return False
    truth = Fraction(repr(float(value)))
    return abs(answer - truth) <= max(Fraction(repr(tolerance)) * abs(truth), FLOOR)


@dataclass
class Score:
    """Kept while the app runs, across scenarios."""

    right: int = 0
    marked: int = 0
    revealed: int = 0        # shown without an answer

    def text(self) -> str:
        s = f"{self.right} right of {self.marked}"
        return s + (f", {self.revealed} revealed without an answer" if self.revealed else "")


@dataclass(frozen=True)
class Reveal:
    """What the quiz screen shows once the step has run."""

    right: bool | None          # None: revealed without an answer
    answer: str
    value: float
    lines: tuple[str, ...]      # the formula and the numbers that went in
    score: str


class Reach(enum.Enum):
    """How far a stepping key goes: one step, to the end of the phase, to the end of the iteration."""

    STEP = "step"
    PHASE = "phase"
    ITERATION = "iteration"


def reach_end(st: Stepper, reach: Reach) -> int:
    """The tick a stepping key would stop at (anomalies and breakpoints aside)."""
    if reach is Reach.STEP:
        return st.tick + 1
    if reach is Reach.PHASE:
        c = st.cursor
        return st.tick - c.index + c.length
    return (st.tick // st.per_iteration + 1) * st.per_iteration


def asking(reach: Reach, action: Callable):
    """A stepping action that first lets the quiz ask about a step it would pass."""
    @functools.wraps(action)
    def wrapped(app: GradstepApp) -> None:
        if not app.quiz.ask_before(reach):
            action(app)
    return wrapped


class Quiz:
    """Quiz mode for the app that holds it."""

    def __init__(self, app: GradstepApp):
        self.app = app
        self.on = False
        self.spec: QuizSpec | None = None
        self.questions: dict[int, Question] = {}
        self.score = Score()
        self.done: set[int] = set()          # ticks already asked and revealed (going back does not ask again)
        self._asked: tuple | None = None     # (Stepper, tick) of the question open now

    def adopt(self, st: Stepper, reloaded: bool) -> None:
        """A new Stepper: its [quiz] table (or every named node) decides what is asked; the table turns quiz mode on."""
        self.spec = st.scenario.quiz or QuizSpec.every(st.program)
        self.questions = plan(st.program, self.spec)
        self.done = set()
        if not reloaded:
            self.on = st.scenario.quiz is not None

    def toggle(self) -> None:
        """a: quiz mode on or off."""
        self.on = not self.on
        if self.on:
            asked = len(self.spec.values) + len(self.spec.grads) if self.spec else 0
            self.app.notify(f"quiz mode: n, f and c ask before {asked} node{'s' * (asked != 1)}' values and "
                            f"gradients are shown (within {self.spec.tolerance:g} relative); score {self.score.text()}",
                            title="quiz on", timeout=5)
        else:
            self.app.notify(f"quiz mode off; score {self.score.text()}", timeout=3)

    def next_question(self, st: Stepper, end: int) -> tuple[int, Question] | None:
        """The first step from here up to (not including) `end` that asks, not asked yet."""
        per = st.per_iteration
        tick = st.tick
        while tick < min(end, st.total_ticks):
            base = tick - tick % per
            for offset, q in self.questions.items():
                t = base + offset
                if tick <= t < end and t not in self.done:
                    return t, q
            tick = base + per
        return None

    def ask_before(self, reach: Reach) -> bool:
        """Before a stepping key moves: if it would pass an asked step, go just before it and ask (True: the key's
        own motion is replaced)."""
        app, st = self.app, self.app.stepper
        if not self.on or st is None or st.at_end or app.playback.running or not self.questions:
            return False
        try:
            found = self.next_question(st, reach_end(st, reach))
            if found is None:
                return False
            tick, question = found
            app.playback.stop()
            event = None
            while st.tick < tick:
                event = st.step()
                if event is None or event.anomaly is not None or event.stop is not None:
                    app.after_motion(event)
                    return True            # stopped on the way: no question until the user goes on
            if event is not None:
                app.after_motion(event)
            from .screens.quiz import QuizScreen
            self._asked = (st, tick)
            app.push_screen(QuizScreen(self.prompt(st, question), lambda answer: self.answer(question, answer)))
        except Exception as e:             # the app must stay usable
            app.unexpected(e)
        return True

    def index(self, st: Stepper, q: Question) -> tuple[int, ...]:
        return element(st.program.nodes[q.node].shape, st.scenario.seed, q.node, st.iteration)

    def prompt(self, st: Stepper, q: Question) -> tuple[str, str]:
        """(title, question) before the step."""
        p = st.program
        n = p.nodes[q.node]
        name = visible(n.name, newlines=False)
        idx = self.index(st, q)
        at = f"[{', '.join(map(str, idx))}]" if n.size > 1 else ""
        whole = f" (one element of {n.name}, shape {n.shape})" if n.size > 1 else ""
        if q.asked is Asked.VALUE:
            return (f"Predict {name}{at}", f"{name} = {visible(n.text, newlines=False)}. What is {name}{at}?{whole}")
        loss = visible(p.nodes[p.loss].name, newlines=False)
        if q.consumer == q.node == p.loss:
            return (f"Predict ∂{loss}/∂{loss}", f"The backward pass starts at the loss. What is ∂{loss}/∂{loss}?")
        c = visible(p.nodes[q.consumer].name, newlines=False)
        return (f"Predict what {c} passes to {name}{at}",
                f"{c} = {visible(p.nodes[q.consumer].text, newlines=False)}. What gradient does {c} pass back to "
                f"{name}{at}, its contribution to ∂{loss}/∂{name}{at}?{whole}")

    def answer(self, q: Question, typed: str | None) -> Reveal:
        """Run the step, mark the answer (None: reveal without one), and say what the value was and why."""
        app, st = self.app, self.app.stepper
        if self._asked != (st, getattr(st, "tick", None)):       # reloaded or moved while the question was open
            return Reveal(None, typed or "", math.nan, ("the scenario changed while the question was open: "
                                                         "nothing marked",), self.score.text())
        try:
            return self._answer(st, q, typed)
        except Exception as e:             # the app must stay usable
            app.unexpected(e)
            return Reveal(None, typed or "", math.nan, (f"{type(e).__name__}: {e}",), self.score.text())

    def _answer(self, st: Stepper, q: Question, typed: str | None) -> Reveal:
        app = self.app
        idx = self.index(st, q)
        iteration = st.iteration
        event = st.step()
        app.after_motion(event)
        self.done.add(event.tick if event is not None else st.tick)
        if st.tick % st.per_iteration == 0 and st.tick < st.total_ticks:
            st = st.ended(iteration)       # the step ended the iteration (no params): read it whole
        value = self._truth(st, q)
        v = float(np.asarray(value).reshape(-1)[np.ravel_multi_index(idx, np.shape(value)) if idx else 0])
        right = None
        if typed is None:
            self.score.revealed += 1
        else:
            right = is_right(parse_answer(typed), v, self.spec.tolerance)
            self.score.marked += 1
            self.score.right += right
        return Reveal(right, typed or "", v, tuple(self._why(st, q, idx, v)), self.score.text())

    def _truth(self, st: Stepper, q: Question):
        if q.asked is Asked.VALUE:
            return st.value(q.node)
        if q.consumer == q.node:
            return st.grad(q.node)
        parts = [c.value for c in st.contributions(q.node) if c.consumer == q.consumer]
        return functools.reduce(np.add, parts)

    def _why(self, st: Stepper, q: Question, idx: tuple[int, ...], v: float) -> list[str]:
        p = st.program
        n = p.nodes[q.node]
        name = visible(n.name, newlines=False)
        at = f"[{', '.join(map(str, idx))}]" if n.size > 1 else ""
        if q.asked is Asked.VALUE:
            out = [f"{name}{at} = {fmt_num(v)}   ({name} = {visible(n.text, newlines=False)})"]
            scalars = [(p.nodes[j].name, st.value(j)) for j in n.inputs if p.nodes[j].kind != "const"]
            if scalars and all(np.size(a) == 1 for _, a in scalars):
                out.append("with " + ", ".join(f"{visible(k, newlines=False)} = {fmt_num(a)}" for k, a in scalars))
            return out
        loss = visible(p.nodes[p.loss].name, newlines=False)
        if q.consumer == q.node:
            return [f"∂{loss}/∂{loss} = 1: the seed of the backward pass"]
        c = p.nodes[q.consumer]
        cname = visible(c.name, newlines=False)
        out = [f"{cname} passes {fmt_num(v)} to {name}{at}"]
        for consumer, pos in p.consumers[q.node]:
            if consumer != q.consumer:
                continue
            formula = visible(st.formula(consumer, pos), newlines=False)
            g = st.grad(consumer)
            line = f"∂{loss}/∂{cname} · ∂{cname}/∂{name} = ∂{loss}/∂{cname} · {formula}"
            local = st.local_derivative(consumer, pos)
            if g is not None and np.size(g) == 1 and local is not None and np.size(local) == 1:
                line += f" = {fmt_num(g)} · {fmt_num(local)}"
            out.append(line)
        return out
