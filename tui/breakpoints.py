"""The breakpoints and watches a person sets in the TUI, kept across reloads.

The Stepper holds the breakpoints (the file's [[break]] tables and the ones added here); this
module remembers which were added here, what became of the file's own (disabled, deleted), and the
watch expressions. A reload makes a new Stepper: carry() adds them to it again, and names any that
no longer compile. Nothing here imports textual: the app's keys and screens call it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gradstep.engine import Breakpoint, Condition, Place, Program, ScenarioError, Stepper, compile_condition
from gradstep.engine.limits import MAX_WATCHES


def problem(e: Exception) -> str:
    """The sentence of an error about a condition or a place (a ScenarioError without its location)."""
    return getattr(e, "problem", None) or str(e)


@dataclass(frozen=True)
class Spec:
    """A breakpoint as it was typed: enough to add it again to another Stepper."""

    when: str | None = None
    at: str | None = None
    phase: str | None = None
    ignore: int = 0
    enabled: bool = True
    name: str = ""

    @classmethod
    def of(cls, bp: Breakpoint, program: Program) -> Spec:
        return cls(bp.condition.text if bp.condition is not None else None,
                   program.nodes[bp.at].name if bp.at is not None else None,
                   bp.phase.value if bp.phase is not None else None, bp.ignore, bp.enabled, bp.name)

    def add_to(self, st: Stepper) -> Breakpoint:
        """Add it to a Stepper; raises ScenarioError if it does not compile there."""
        return st.add_breakpoint(self.when, at=self.at, phase=self.phase, ignore=self.ignore, enabled=self.enabled,
                                 name=self.name)

    def text(self) -> str:
        place = f"at {self.at} ({self.phase})" if self.at is not None else ""
        return " ".join(x for x in (self.when, place) if x)


@dataclass(frozen=True)
class Watch:
    """An expression shown in the watches pane, evaluated at the current tick."""

    text: str
    condition: Condition

    def value(self, st: Stepper) -> np.ndarray:
        """Its value now (fresh changed(...) memory: a watch only looks); raises Unavailable or NumericProblem."""
        with np.errstate(all="ignore"):
            return self.condition.evaluate(st.view(), self.condition.new_memory())


def check_condition(st: Stepper, text: str, test: bool = True) -> str | None:
    """Why a condition (or, with test=False, a watch expression) cannot be used, or None if it can."""
    if not text.strip():
        return "type a condition, like loss < 0.01" if test else "type an expression, like norm(grad(W1))"
    try:
        compile_condition(text, st.program, test=test)
    except ScenarioError as e:
        return problem(e)
    return None


class UserBreakpoints:
    """The breakpoints added in the TUI (by id), what became of the file's own, and the watches."""

    def __init__(self):
        self.mine: set[int] = set()                  # ids of the breakpoints added here
        self.from_file: dict[int, Spec] = {}         # the file's breakpoints as the Stepper was made
        self.watches: list[Watch] = []
        self._reported: set[tuple[int, str]] = set()

    def adopt(self, st: Stepper) -> None:
        """A new Stepper: its breakpoints so far are the file's."""
        self.mine = set()
        self.from_file = {bp.id: Spec.of(bp, st.program) for bp in st.breakpoints}
        self._reported = set()

    def carry(self, old: Stepper, new: Stepper) -> list[str]:
        """After a reload: the file's breakpoints as the user left them (disabled, deleted), the ones added
        here and the watches, on the new Stepper. Returns a sentence for each that no longer compiles."""
        fate: dict[Spec, bool | None] = {}          # an unchanged [[break]] table -> enabled now, None: deleted
        for bp_id, spec in self.from_file.items():
            now = next((b for b in old.breakpoints if b.id == bp_id), None)
            fate[spec] = None if now is None else now.enabled
        mine = [Spec.of(b, old.program) for b in old.breakpoints if b.id in self.mine]
        watches, self.watches = self.watches, []
        self.adopt(new)
        for bp in list(new.breakpoints):
            spec = Spec.of(bp, new.program)
            if spec in fate and fate[spec] is None:
                new.remove_breakpoint(bp.id)
            elif spec in fate and fate[spec] != bp.enabled:
                new.enable_breakpoint(bp.id, fate[spec])
        dropped = []
        for spec in mine:
            try:
                self.mine.add(spec.add_to(new).id)
            except ScenarioError as e:
                dropped.append(f"breakpoint {spec.text()}: {problem(e)}")
        for w in watches:
            try:
                self.add_watch(new, w.text)
            except (ScenarioError, ValueError) as e:
                dropped.append(f"watch {w.text}: {problem(e)}")
        return dropped

    # ------------------------------------------------------------------ breakpoints
    def add(self, st: Stepper, when: str | None, *, at: str | None = None, phase: str | None = None) -> Breakpoint:
        """Add a breakpoint; raises ScenarioError (and adds nothing) if it does not compile."""
        bp = Spec(when, at, phase).add_to(st)
        self.mine.add(bp.id)
        return bp

    def toggle_at(self, st: Stepper, node: int, phase: Place) -> str:
        """Remove the breakpoints pinned to a node's step with no condition, or add one; says which.
        Raises ScenarioError if the node has no such step (an input has no forward step)."""
        p = st.program
        pinned = [bp for bp in st.breakpoints if bp.at == node and bp.phase is phase and bp.condition is None]
        if pinned:
            for bp in pinned:
                self.delete(st, bp.id)
            return f"breakpoint {', '.join(str(b.id) for b in pinned)} removed: at {p.nodes[node].name} ({phase.value})"
        name = p.nodes[node].name
        if p.by_name.get(name) != node:
            raise ScenarioError(f"{name!r} is part of a layer and has no name of its own: a breakpoint goes on a "
                                f"named node ({', '.join(p.by_name)})")
        bp = self.add(st, None, at=name, phase=phase.value)
        return f"breakpoint {bp.id} set: {bp.describe(p)}"

    def edit(self, st: Stepper, bp_id: int, when: str) -> Breakpoint:
        """Give a breakpoint a new condition, keeping its place, name and ignore count. The engine adds it
        afresh, so it gets a new id; a condition that does not compile raises and changes nothing."""
        old = st.breakpoint(bp_id)
        compile_condition(when, st.program)          # refuse before removing anything
        spec = replace(Spec.of(old, st.program), when=when)
        self.delete(st, bp_id)
        bp = spec.add_to(st)
        self.mine.add(bp.id)
        return bp

    def delete(self, st: Stepper, bp_id: int) -> None:
        st.remove_breakpoint(bp_id)
        self.mine.discard(bp_id)

    def toggle(self, st: Stepper, bp_id: int) -> bool:
        """Enable a disabled breakpoint or disable an enabled one; returns the new state."""
        enabled = not st.breakpoint(bp_id).enabled
        st.enable_breakpoint(bp_id, enabled)
        return enabled

    def new_problems(self, st: Stepper) -> list[str]:
        """Numeric problems conditions met (nan, a division by zero) not reported yet: each once."""
        out = []
        for bp in st.breakpoints:
            if bp.problem and (bp.id, bp.problem) not in self._reported:
                self._reported.add((bp.id, bp.problem))
                out.append(f"breakpoint {bp.id}: {bp.problem}")
        return out

    # ------------------------------------------------------------------ watches
    def add_watch(self, st: Stepper, text: str) -> Watch:
        """Add a watch expression; raises ScenarioError if it does not compile, ValueError past MAX_WATCHES."""
        if len(self.watches) >= MAX_WATCHES:
            raise ValueError(f"at most {MAX_WATCHES} watches at once (the limit MAX_WATCHES): delete one first")
        w = Watch(text.strip(), compile_condition(text, st.program, test=False))
        self.watches.append(w)
        return w

    def edit_watch(self, st: Stepper, index: int, text: str) -> Watch:
        w = Watch(text.strip(), compile_condition(text, st.program, test=False))
        self.watches[index] = w
        return w

    def delete_watch(self, index: int) -> None:
        del self.watches[index]
