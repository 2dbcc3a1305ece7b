"""Reverse twins that restore the screen, not only the Stepper (rr: going back is exact).

A motion moves the Stepper exactly, but the app then chooses what to show: the node to select, what to
highlight, the iteration just finished. Going back by the twin's own rule would land on the same tick
and choose differently (after n n p, the node the next step runs instead of the node n showed; after c
C, the start of the iteration instead of where c began). So each key that has a reverse twin notes the
scene it left and the scene it made; when its twin is pressed next, on the scene that key made, the
scene it left comes back whole: tick, selection, highlights, folds, speed and η.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gradstep.engine import StepKind

from .bindings import ACTIONS

if TYPE_CHECKING:
    from .app import GradstepApp

_BY_KEY = {a.display.split()[0]: a.action for a in ACTIONS}
TWIN: dict[str, str] = {a.action: _BY_KEY[a.twin] for a in ACTIONS if a.twin}   # action -> its reverse twin
LIMIT = 1000                  # scenes remembered; older ones are forgotten


@dataclass(frozen=True)
class Scene:
    """What decides the screen besides the Stepper's state at a tick."""

    stepper: int              # id of the Stepper shown: a reload starts afresh
    tick: int
    selected: int
    changed: frozenset[int]
    kind: StepKind | None
    ended: int | None         # the iteration shown finished (app.ended)
    folded: frozenset[str]
    speed: int
    eta: float                # the η set for the iteration the Stepper stands in


def scene(app: GradstepApp) -> Scene:
    st = app.stepper
    return Scene(id(st), st.tick, app.selected, app.changed, app.changed_kind, app.ended,
                 frozenset(app.main.graph.folded), app.playback.speed, st.set_eta_of(st.iteration))


class Retrace:
    """The keys pressed, each with the scene before it and the scene it made (None while its background run goes on)."""

    def __init__(self):
        self._trail: list[tuple[str, Scene, Scene | None]] = []

    def undo_of(self, action: str, now: Scene) -> Scene | None:
        """The scene to bring back if `action` is the twin of the last key and nothing has moved since it."""
        if not self._trail:
            return None
        done, before, after = self._trail[-1]
        if TWIN.get(done) != action or (after is not None and after != now) or before.stepper != now.stepper:
            return None
        self._trail.pop()
        return before

    def note(self, action: str, before: Scene, after: Scene | None) -> None:
        self._trail.append((action, before, after))
        del self._trail[:-LIMIT]

    def settle(self, now: Scene) -> None:
        """A background run the last key started has ended here."""
        if self._trail and self._trail[-1][2] is None:
            self._trail[-1] = (*self._trail[-1][:2], now)


def restore(app: GradstepApp, s: Scene) -> None:
    """Bring a scene back: the Stepper to its tick (exact, by seek), then what the app showed there."""
    st = app.stepper
    if st.tick != s.tick:
        st.seek(s.tick)
    if st.set_eta_of(st.iteration) != s.eta:
        st.set_eta(s.eta)
    graph = app.main.graph
    if set(graph.folded) != set(s.folded):
        graph.load(st.program, set(s.folded))
    app.playback.speed = s.speed
    app.changed, app.changed_kind, app.ended = s.changed, s.kind, s.ended
    app.selected = s.selected
    app.tick = st.tick
    app.check_anomaly()
    app.schedule_redraw()


def twinned(name: str, fn, *, background: bool = False):
    """The action `name` of the table, which has a reverse twin: pressed right after its twin, on the scene
    the twin made, it brings back the scene the twin left (after its own motion, which mostly lands there
    already and cheaply; a background run's action is not started then: the scene comes back by seek)."""
    assert name in TWIN, name

    @functools.wraps(fn)
    def action(self: GradstepApp) -> None:
        if self.stepper is None or self.playback.running:
            fn(self)
            return
        now = scene(self)
        back = self.retrace.undo_of(name, now)
        if back is not None:
            if not background:
                fn(self)
            if self.stepper is not None and id(self.stepper) == back.stepper and not self.playback.running:
                restore(self, back)
            return
        fn(self)
        if self.playback.running:                 # a background run: its scene is known when it ends
            self.retrace.note(name, now, None)
        elif scene(self) != now:
            self.retrace.note(name, now, scene(self))
    return action
