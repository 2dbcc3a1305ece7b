"""The one table of actions and keys: the Footer, the help screen and the command palette read it."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Action:
    """One user action: its keys, what it does, and the key that undoes it (rr's reverse twin)."""

    keys: str              # Textual key names, comma-separated
    action: str            # method name on the app, without "action_"
    description: str       # short, for the Footer
    help: str              # one sentence, for the help screen and the command palette
    display: str           # how the keys read in help
    twin: str = ""         # the display of the reverse twin's key, if any
    footer: bool = False   # shown in the Footer (the Footer is narrow: main keys only)


ACTIONS: tuple[Action, ...] = (
    Action("n,right", "step", "step", "Run one node forward (or one param update).", "n  →", "p", True),
    Action("p,left", "back", "back", "Step one node back in time, exactly (bit for bit).", "p  ←", "n", True),
    Action("f", "finish", "finish", "Run to the end of the current phase (forward, backward, update).", "f", "F", True),
    Action("F", "unfinish", "rev-finish", "Go back to the start of the phase (or of the previous one).", "F", "f"),
    Action("c", "iteration", "iter", "Run one whole iteration: forward, backward and update.", "c", "C", True),
    Action("C", "back_iteration", "back iter", "Go back to the start of the iteration (or the previous one).", "C", "c"),
    Action("space", "play", "play", "Play / pause the replay; at speed 'max' whole iterations run at full speed.",
           "space", "b", True),
    Action("b", "rewind", "rewind", "Play backwards / pause (reverse-continue).", "b", "space"),
    Action("escape", "stop", "stop", "Stop playing or a long run.", "esc"),
    Action("plus,equals_sign", "faster", "faster", "Play faster.", "+", "-"),
    Action("minus,underscore", "slower", "slower", "Play slower.", "-", "+"),
    Action("g", "goto", "go to", "Go to the start of iteration N (earlier or later).", "g", "g"),
    Action("home", "start", "start", "Go back to the very start (tick 0).", "home", "end"),
    Action("end", "end", "end", "Run to the end of the replay (in the background).", "end", "home"),
    Action("up,k", "select_up", "select ↑", "Select the node above in the graph (or click a line).", "↑  k", "↓"),
    Action("down,j", "select_down", "select ↓", "Select the node below in the graph (or click a line).", "↓  j", "↑"),
    Action("enter", "toggle_layer", "fold", "Collapse or expand the selected node's layer ([graph] key).",
           "enter", "enter"),
    Action("z", "toggle_all", "fold all", "Collapse every layer, or expand them all.", "z", "z"),
    Action("left_square_bracket", "eta_half", "η/2", "Halve the learning rate η (from this iteration on).",
           "[", "]"),
    Action("right_square_bracket", "eta_double", "η×2", "Double the learning rate η (from this iteration on).",
           "]", "["),
    Action("e", "eta_input", "set η", "Type a new learning rate η (from this iteration on).", "e", "e"),
    Action("x", "gradcheck", "grad check", "Check every gradient against central differences, per param.", "x"),
    Action("r", "reload", "reload", "Reload the scenario from disk (also automatic when the file changes).", "r"),
    Action("o", "open", "open", "Open another scenario (file picker; ctrl+p also lists the bundled ones).", "o"),
    Action("question_mark", "help", "help", "Show this help: every key.", "?", footer=True),
    Action("q", "quit", "quit", "Quit gradstep.", "q", footer=True),
)


def bindings() -> list[Binding]:
    """The main screen's bindings, all priority: a focused pane must not swallow a stepping key."""
    out = []
    for a in ACTIONS:
        out.append(Binding(a.keys, f"app.{a.action}", a.description, show=a.footer,
                           key_display=a.display.split()[0], priority=True))
    return out


def by_action(name: str) -> Action:
    """The table row of an action."""
    for a in ACTIONS:
        if a.action == name:
            return a
    raise KeyError(name)


def guarded(fn):
    """Run an action; an unexpected error becomes a notification, never a traceback."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except Exception as e:      # the app must stay usable whatever an engine call raises
            self.stop_playing()
            self.notify(f"{type(e).__name__}: {e}", title="unexpected error", severity="error", timeout=8)
            self.schedule_redraw()
    return wrapper
