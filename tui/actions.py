"""How the app's actions run: guarded (an error becomes a notification), a motion of the Stepper,
one of Playback's keys, or one of the Debugger's. Each makes an action method from one line of the app."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

from gradstep.engine import Stepper

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
