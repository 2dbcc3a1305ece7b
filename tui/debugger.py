"""The app's breakpoint side (app.debugger): the keys that set breakpoints and watches, the prompts
that check them as they are typed, the list, continue and reverse-continue, go-to a step, the health
view, and what a hit or a condition's numeric problem says.

The breakpoints themselves live on the Stepper; breakpoints.py remembers which the user set, so a
reload carries them over; health.py keeps the gradient-health history.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gradstep.engine import Phase, Place, ScenarioError, Stepper
from gradstep.engine.limits import MAX_BREAKPOINTS

from .actions import guarded
from .breakpoints import UserBreakpoints, check_condition, problem
from .health import HealthHistory
from .screens.breakpoints import BreakpointList
from .screens.health import HealthScreen
from .screens.prompt import Prompt

if TYPE_CHECKING:
    from .app import GradstepApp

FUNCTIONS = "grad(·) update(·) norm max min mean sum count any all abs sign isfinite dead saturated ratio changed"


def place_for(st: Stepper, node: int) -> Place:
    """The step of a node a breakpoint key pins: a param's update, else its forward or backward step
    by the phase shown."""
    if st.program.nodes[node].kind == "param":
        return Place.UPDATE
    return Place.BACKWARD if st.cursor.phase is Phase.BACKWARD else Place.FORWARD


class Debugger:
    """Breakpoints, watches and gradient health, for the app that holds it."""

    def __init__(self, app: GradstepApp):
        self.app = app
        self.breaks = UserBreakpoints()
        self.health: HealthHistory | None = None

    def adopt(self, old: Stepper | None, st: Stepper, reloaded: bool) -> None:
        """A new Stepper: a fresh health history; after a reload, the user's breakpoints and watches again."""
        self.health = HealthHistory(st)
        if reloaded and old is not None:
            dropped = self.breaks.carry(old, st)
            if dropped:
                self.app.notify("\n".join(dropped), title="after the reload these no longer apply: dropped",
                                severity="warning", timeout=10)
        else:
            self.breaks = UserBreakpoints()
            self.breaks.adopt(st)

    @property
    def st(self) -> Stepper:
        return self.app.stepper

    def unexpected(self, e: Exception) -> None:
        self.app.unexpected(e)

    def hint(self) -> str:
        names = ", ".join(self.st.program.by_name)
        return f"names: {names}, loss, iteration, eta\n{FUNCTIONS}"

    # ------------------------------------------------------------------ what the screen says
    def banner(self) -> list[str]:
        """The hit the Stepper stands on, if it stands on one."""
        stop = self.st.stop
        if stop is None or stop.tick != self.st.tick:
            return []
        node = self.st.program.nodes[stop.node].name
        return [f"breakpoint {stop.breakpoint} hit: {stop.condition}  (iteration {stop.iteration}, {stop.phase} "
                f"step of {node}; > continues, < goes back to the previous hit)"]

    def after_motion(self) -> None:
        """Report each numeric problem a condition met (nan, a division by zero) once."""
        for text in self.breaks.new_problems(self.st):
            self.app.notify(text, title="a condition met a numeric problem", severity="warning", timeout=8)

    # ------------------------------------------------------------------ keys
    def toggle_here(self) -> None:
        """B: set or clear a breakpoint at the selected node's step."""
        st, node = self.st, self.app.selected
        try:
            if self._full(node=node):
                return
            said = self.breaks.toggle_at(st, node, place_for(st, node))
        except ScenarioError as e:
            self.app.notify(problem(e), title="no breakpoint there", severity="warning", timeout=6)
            return
        self.app.notify(said, timeout=3)
        self.app.schedule_redraw()

    def _full(self, node: int | None = None) -> bool:
        """At MAX_BREAKPOINTS, say so (unless B would clear one at this node): nothing is added."""
        st = self.st
        if len(st.breakpoints) < MAX_BREAKPOINTS:
            return False
        if node is not None and any(bp.at == node and bp.condition is None for bp in st.breakpoints):
            return False
        self.app.notify(f"{MAX_BREAKPOINTS} breakpoints already (the limit MAX_BREAKPOINTS): delete one in the list (L)",
                        severity="warning", timeout=6)
        return True

    def ask_condition(self, bp_id: int | None = None, then=None) -> None:
        """i: a conditional breakpoint typed in a prompt that checks it on every key (or, with bp_id, a new
        condition for that breakpoint)."""
        st = self.st
        old = next((b for b in st.breakpoints if b.id == bp_id), None)
        if old is None and self._full():
            return
        value = old.condition.text if old is not None and old.condition is not None else ""
        title = f"Edit breakpoint {bp_id}" if old is not None else "Break if…"
        self.app.ask(Prompt(title, "Stop when this condition holds (enter adds it, escape cancels):",
                            lambda text: check_condition(st, text), value=value, hint=self.hint()),
                     lambda text: self._set_condition(text, bp_id, then))

    @guarded
    def _set_condition(self, text: str, bp_id: int | None, then) -> None:
        st = self.st
        if bp_id is not None and all(b.id != bp_id for b in st.breakpoints):
            bp_id = None                  # gone meanwhile (deleted, or the scenario reloaded): add it afresh
        try:
            bp = self.breaks.add(st, text) if bp_id is None else self.breaks.edit(st, bp_id, text)
        except ScenarioError as e:        # the breakpoints stay as they were
            self.app.notify(problem(e), title="breakpoint not set", severity="error", timeout=8)
            return
        self.app.notify(f"breakpoint {bp.id}: {bp.describe(st.program)}", timeout=3)
        self._changed(then)

    def ask_watch(self, index: int | None = None, then=None) -> None:
        """w: a watch expression, checked as it is typed (or, with index, a new text for that watch)."""
        st = self.st
        watches = self.breaks.watches
        index = index if index is not None and index < len(watches) else None
        value = watches[index].text if index is not None else ""
        self.app.ask(Prompt("Edit watch" if index is not None else "Watch…",
                            "An expression to show at every tick (enter adds it, escape cancels):",
                            lambda text: check_condition(st, text, test=False), value=value, hint=self.hint()),
                     lambda text: self._set_watch(text, index, then))

    @guarded
    def _set_watch(self, text: str, index: int | None, then) -> None:
        try:
            if index is None or index >= len(self.breaks.watches):
                self.breaks.add_watch(self.st, text)
            else:
                self.breaks.edit_watch(self.st, index, text)
        except (ScenarioError, ValueError) as e:
            self.app.notify(problem(e), title="watch not added", severity="error", timeout=8)
            return
        self._changed(then)

    def _changed(self, then) -> None:
        self.app.schedule_redraw()
        if then is not None:
            then()

    def show_list(self) -> None:
        """L: the breakpoints and watches."""
        self.app.push_screen(BreakpointList(self))

    def continue_(self) -> None:
        """>: forward to the next hit, in the background."""
        if not any(bp.enabled for bp in self.st.breakpoints):
            self.app.notify("no breakpoint is enabled: continue runs to the end (i adds one, L lists them)",
                            timeout=3)
        self.app.playback.stop()
        self.app.playback.start_continue(reverse=False)

    def reverse_continue(self) -> None:
        """<: back to the previous hit, in the background."""
        if not any(bp.enabled for bp in self.st.breakpoints):
            self.app.notify("no breakpoint is enabled: nothing to go back to (i adds one, L lists them)",
                            severity="warning", timeout=4)
            return
        self.app.playback.stop()
        self.app.playback.start_continue(reverse=True)

    def ask_place(self) -> None:
        """g: go to an iteration, or to a node's step in an iteration."""
        st = self.st

        def check(text: str) -> str | None:
            try:
                st.place_tick(text)
            except ValueError as e:
                return str(e)
            return None
        self.app.playback.stop()
        self.app.ask(Prompt("Go to", f"An iteration (1 to {st.steps:,}), or an iteration, a phase and a node:",
                            check, value=str(st.iteration),
                            hint="500: the start of iteration 500;  500 backward h: just after h's backward step"),
                     self.goto)

    @guarded
    def goto(self, place: int | str) -> None:
        """Go to the start of an iteration (500) or just after a node's step (500 backward h); far ahead of
        the cursor it runs in the background."""
        st = self.st
        tick = st.place_tick(str(place))
        ahead = min(tick // st.per_iteration + 1, st.steps + 1) - st.iteration
        if ahead > 50:
            self.app.playback.start_run(ahead, then=tick)
            return
        st.seek(tick)
        self.app.after_motion()

    def open_health(self) -> None:
        """H: the health view; iterations it has no sample of are replayed first, in the background."""
        st, history = self.st, self.health
        gap = history.missing(st.iteration)
        if gap is None or st.anomaly is not None:
            self._show_health()
            return
        self.app.playback.stop()
        self.app.playback.start_measure(gap, st.iteration - gap,
                                        f"measuring gradient health, iterations {gap:,} to {st.iteration - 1:,}",
                                        then=self._show_health)

    def _show_health(self) -> None:
        st = self.st
        if st is not None and not isinstance(self.app.screen, HealthScreen):
            self.app.push_screen(HealthScreen(self.health, st.health_now(), st.iteration))
