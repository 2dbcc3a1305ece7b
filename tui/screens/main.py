"""The main screen: status line, the four panes (and the watches, once there is one), the loss curve,
and the Footer. It draws its panes from one call, show(View); during a background run only
run_progress() draws, and only the status line and the loss curve."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from gradstep.engine import FULL, StepKind, Stepper

from .. import blas
from ..bindings import bindings
from ..widgets.element import ElementPane
from ..widgets.gradients import GradientsPane
from ..widgets.graph import GraphPane
from ..widgets.lines import LinePane
from ..widgets.losscurve import LossCurve
from ..widgets.status import Banner, StatusLine
from ..widgets.tangents import TangentsPane
from ..widgets.updates import UpdatesPane
from ..widgets.values import ValuesPane
from ..widgets.watches import WatchesPane

NOTHING: frozenset[int] = frozenset()
ARROWS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def routed(table: list[Binding]) -> list[Binding]:
    """The bindings table, each arrow key first routed through the screen: with the Element pane focused
    the arrows move its cursor, elsewhere they do what the table says (its binding acts, and dims)."""
    arrows = [Binding(k.strip(), f"screen.arrow({k.strip()!r}, {b.action!r})", b.description, show=False,
                      priority=True) for b in table for k in b.key.split(",") if k.strip() in ARROWS]
    return arrows + table


@dataclass(frozen=True)
class View:
    """What the panes show: the Stepper, the selected node, what the last step wrote and how."""

    stepper: Stepper
    selected: int
    changed: frozenset[int] = NOTHING
    kind: StepKind | None = None       # the kind of the step that wrote `changed`
    play: str = ""                     # the replay's state, for the status line
    watches: tuple = ()                # the watch expressions (breakpoints.Watch)
    digits: int | None = FULL          # the selected node's numbers: FULL, or this many significant digits
    ended: Stepper | None = None       # the iteration just finished, shown whole instead (Stepper.ended)


class MainScreen(Screen):
    """Everything at once, pudb style. Bindings live here (not on the App) so that they do not
    reach into modal screens, where a typed 'e' or 'n' belongs to an input field."""

    BINDINGS = routed(bindings())

    def __init__(self):
        super().__init__()
        self.status = StatusLine(id="status")
        self.banner = Banner(id="banner")
        self.graph = GraphPane(id="graph")
        self.element = ElementPane(id="element")
        self.values = ValuesPane(id="values")
        self.watches = WatchesPane(id="watches")
        self.tangents = TangentsPane(id="tangents")
        self.gradients = GradientsPane(id="gradients")
        self.updates = UpdatesPane(id="updates")
        self.curve = LossCurve(id="loss")

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.banner
        with Horizontal(id="panes"):
            with Vertical(id="left"):
                yield self.graph
                yield self.element
                yield self.values
                yield self.tangents
                yield self.watches
            with Vertical(id="right"):
                yield self.gradients
                yield self.updates
                yield self.curve
        yield Footer(compact=True)       # compact: the main keys and quit fit in 80 columns

    def on_mount(self) -> None:
        blas.one_thread()                # a step's product must not wait for a sleeping thread pool
        titles = {self.graph: "Graph", self.values: "Forward values", self.gradients: "Gradients ∂E/∂·",
                  self.updates: "Updates", self.curve: "Loss", self.watches: "Watches"}
        for pane, title in titles.items():
            pane.border_title = title
        self.element.border_title = "Element"

    def load(self, st: Stepper, keep_folds: bool) -> None:
        """A new Stepper: lay out its program and forget what the panes kept of the old one."""
        self.graph.load(st.program, self.graph.folded if keep_folds else None, st.scenario.warnings)
        self.element.reset(st.scenario.warnings)
        self.values.reset()
        self.gradients.reset(st)
        self.curve.clear()

    def show(self, view: View) -> None:
        """Every pane reads the Stepper again (each rebuilds only what changed)."""
        st = view.stepper
        shown = view.ended or st             # the panes show the iteration just finished, if there is one
        sel = view.selected if 0 <= view.selected < len(st.program.nodes) else 0
        forward = view.changed if view.kind is StepKind.FORWARD else NOTHING
        backward = view.changed if view.kind in (StepKind.SEED, StepKind.BACKWARD) else NOTHING
        with np.errstate(all="ignore"):
            health = self._params_health(shown)
            self.status.show(st, st.scenario.title, view.play, ended=view.ended)
            self._note = self.graph.warning(sel)
            self.graph.show(shown, sel, health=health)
            self.values.show(shown, sel, forward, view.digits)
            self.element.show(shown, sel, view.digits)
            self.tangents.show(st, sel, forward, self.app.forward.costs, self.app.forward.engaged)
            self.watches.show(shown, list(view.watches))
            self.gradients.show(shown, sel, backward, view.digits)
            self.updates.show(shown, sel, health, ended=view.ended is not None, digits=view.digits)
            self.curve.show(st)

    def _params_health(self, st: Stepper):
        """The params' gradient norms and update ratios (the Updates pane's); the graph measures the badges of
        its visible lines itself, instead of every relu and tanh of the program at each key."""
        v, params = st.view(), set(st.program.params)
        return st.health.measure(st.iteration, lambda i: v.value(i) if i in params else None, v.grad, v.update)

    def say(self, lines: list[str], kind: str = "error") -> None:
        """The banner under the status line (nothing to say hides it); kind "warning" for a breakpoint hit."""
        note = getattr(self, "_note", None)     # the selected node's warning from the scenario's load
        if note:
            kind = kind if lines else "warning"
            lines = [*lines, f"! {note}"]
        self.banner.say("\n".join(lines) or None, kind)

    async def action_arrow(self, key: str, action: str) -> None:
        """An arrow key: the Element pane's cursor when that pane is focused, else the table's action."""
        app = self.app
        if self.element.has_focus and app.stepper is not None and not app.playback.running:
            self.element.move(*ARROWS[key])
            return
        await app.run_action(action, self)

    def inspect(self) -> None:
        """t: focus the Element pane (in the compact layout it takes the Forward values pane's place), or
        go back to the graph."""
        if self.element.has_focus:
            self.set_class(False, "-inspect")
            self.graph.focus()
            return
        self.set_class(True, "-inspect")
        self.call_after_refresh(self.element.focus)

    def run_started(self, text: str) -> None:
        for pane in self.query(LinePane):            # the run's thread owns the Stepper until run_ended
            pane.freeze()
        self.status.show_text(text)
        self.banner.say(None)

    def run_ended(self) -> None:
        for pane in self.query(LinePane):
            pane.thaw()

    def run_progress(self, text: str, iteration: int, loss: float | None) -> None:
        """A background run's frame: the status line and the loss curve, nothing else."""
        self.status.show_text(text)
        self.curve.add_point(iteration, loss)
