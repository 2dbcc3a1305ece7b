"""How the app's actions run: guarded (an error becomes a notification), a motion of the Stepper,
one of Playback's keys, or one of the Debugger's. Each makes an action method from one line of the app."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

from gradstep.engine import Stepper

from .bindings import ACTIONS, When
from .playback import Playback

if TYPE_CHECKING:
    from .app import GradstepApp
    from .debugger import Debugger


def guarded(fn):
    """Run a method of the app (or of anything with an unexpected(e) method); an unexpected error becomes a
    notification (app.unexpected), never a traceback."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except Exception as e:      # the app must stay usable whatever an engine call raises
            self.unexpected(e)
    return wrapper


def motion(move: Callable[[Stepper], object], doc: str):
    """An action that moves the Stepper: stop playing, move, then show what the last step wrote."""
    @guarded
    def action(self: GradstepApp) -> None:
        self.playback.stop()
        result = move(self.stepper)
        if isinstance(result, list):
            result = result[-1] if result else None
        self.after_motion(result)
    action.__doc__ = doc
    return action


def playing(method: Callable[[Playback], None]):
    """An action that is one of the app's Playback's methods."""
    def action(self: GradstepApp) -> None:
        method(self.playback)
    action.__doc__ = method.__doc__
    return action


def debugging(method: Callable[[Debugger], None]):
    """An action that is one of the app's Debugger's methods (breakpoints, watches, health)."""
    @guarded
    def action(self: GradstepApp) -> None:
        method(self.debugger)
    action.__doc__ = method.__doc__
    return action


def refused(app: GradstepApp, key: str) -> bool:
    """A key of the table that cannot act now (its Footer entry is dimmed): say why. True if it said so."""
    row = next((a for a in ACTIONS if key in a.keys.split(",")), None)
    if row is None or app.check_action(row.action, ()):
        return False
    s, st = app.key_state(), app.stepper
    key_name = row.display.split()[0]
    if not s.loaded:
        why = "no scenario is loaded: o opens one"
    elif s.running:
        why = "a background run owns the replay: esc stops it"
    elif row.when in (When.AHEAD, When.PLAY):
        why = (f"the end of the replay: iteration {st.steps:,} of {st.steps:,} is done. p steps back, home goes to "
               f"the start, g to an iteration")
    elif row.when in (When.BEHIND, When.REWIND):
        why = "the very start of the replay: nothing before it. n steps forward"
    elif row.when is When.FOLD:
        why = "the selected node is not one of a layer's several nodes: nothing to fold"
    else:
        return False
    app.notify(f"{key_name}: {why}", timeout=3)
    return True
