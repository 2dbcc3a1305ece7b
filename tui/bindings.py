"""The one table of actions and keys: the Footer, the help screen, the command palette and the
dimming of keys that cannot act now (check_action) all read it."""
from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass

from textual.binding import Binding

from gradstep.engine import Stepper

from .playback import PlayState


class When(enum.Enum):
    """When an action can act; at other times its key is dimmed in the Footer."""

    ALWAYS = "always"
    LOADED = "loaded"        # a scenario is loaded and no background run owns its Stepper
    BEHIND = "behind"        # loaded, and not at the very start
    AHEAD = "ahead"          # loaded, and not at the very end
    PLAY = "play"            # something ahead, or already playing or running (the key then pauses)
    REWIND = "rewind"        # something behind, or already playing (the key then pauses)
    FOLD = "fold"            # loaded, and the selected node is one of a layer's several nodes
    UNLESS_RUNNING = "unless running"   # even with no scenario loaded, but not during a background run


@dataclass(frozen=True)
class KeyState:
    """Everything that decides which keys can act: small values, compared to refresh the Footer on change."""

    loaded: bool
    running: bool            # a background run owns the Stepper
    playing: bool            # the replay plays on a timer, either way
    at_start: bool
    at_end: bool
    foldable: bool

    @classmethod
    def of(cls, st: Stepper | None, selected: int, play: PlayState) -> KeyState:
        """The state now. During a background run the Stepper is not read: the run owns it."""
        if st is None:
            return cls(loaded=False, running=False, playing=False, at_start=True, at_end=True, foldable=False)
        if play is PlayState.RUN:
            return cls(loaded=True, running=True, playing=False, at_start=False, at_end=False, foldable=False)
        nodes = st.program.nodes
        group = nodes[selected].group if selected < len(nodes) else None
        return cls(loaded=True, running=play is PlayState.RUN,
                   playing=play in (PlayState.FORWARD, PlayState.BACKWARD), at_start=st.at_start, at_end=st.at_end,
                   foldable=bool(group) and len(_groups(st.program).get(group, ())) > 1)


_GROUPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _groups(program) -> dict[str, list[int]]:
    """A program's layers, once per program: the Footer asks for every key, and a 20,000-node program
    takes milliseconds to group. Kept while the program lives (a reloaded scenario's is freed)."""
    groups = _GROUPS.get(program)
    if groups is None:
        groups = _GROUPS[program] = program.groups()
    return groups


def can(when: When, s: KeyState) -> bool:
    """Whether an action of this kind can act in state s."""
    if when is When.ALWAYS:
        return True
    if when is When.UNLESS_RUNNING:
        return not s.running
    if not s.loaded:
        return False
    if s.running:
        return when is When.PLAY
    return {When.LOADED: True, When.BEHIND: not s.at_start, When.AHEAD: not s.at_end,
            When.PLAY: s.playing or not s.at_end, When.REWIND: s.playing or not s.at_start,
            When.FOLD: s.foldable}[when]


@dataclass(frozen=True)
class Action:
    """One user action: its keys, what it does, the key that undoes it (rr's reverse twin), when it can act."""

    keys: str              # Textual key names, comma-separated
    action: str            # method name on the app, without "action_"
    description: str       # short, for the Footer
    help: str              # one sentence, for the help screen and the command palette
    display: str           # how the keys read in help
    twin: str = ""         # the display of the reverse twin's key, if any
    footer: bool = False   # shown in the Footer (the Footer is narrow: main keys only)
    when: When = When.LOADED


ACTIONS: tuple[Action, ...] = (
    Action("n,right", "step", "step", "Run one node forward (or one param update).", "n  →", "p", True,
           when=When.AHEAD),
    Action("p,left", "back", "back", "Step one node back in time, exactly (bit for bit).", "p  ←", "n", True,
           when=When.BEHIND),
    Action("f", "finish", "finish", "Run to the end of the current phase (forward, backward, update).", "f", "F",
           True, when=When.AHEAD),
    Action("F", "unfinish", "rev-finish", "Go back to the start of the phase (or of the previous one).", "F", "f",
           when=When.BEHIND),
    Action("c", "iteration", "iter", "Run one whole iteration: forward, backward and update.", "c", "C", True,
           when=When.AHEAD),
    Action("C", "back_iteration", "back iter", "Go back to the start of the iteration (or the previous one).",
           "C", "c", when=When.BEHIND),
    Action("space", "play", "play", "Play / pause the replay (it stops at a breakpoint hit); at speed 'max' whole "
           "iterations run at full speed.", "space", "b", True, when=When.PLAY),
    Action("b", "rewind", "rewind", "Play backwards / pause.", "b", "space", when=When.REWIND),
    Action("escape", "stop", "stop", "Stop playing, a continue, a long run or a gradient check.", "esc",
           when=When.ALWAYS),
    Action("plus,equals_sign", "faster", "faster", "Play faster.", "+", "-", when=When.ALWAYS),
    Action("minus,underscore", "slower", "slower", "Play slower.", "-", "+", when=When.ALWAYS),
    Action("greater_than_sign", "continue", "continue",
           "Continue: run forward to the next breakpoint hit and stand on the step that made it (esc stops).",
           ">", "<", True, when=When.AHEAD),
    Action("less_than_sign", "reverse_continue", "rev-continue",
           "Reverse-continue: go back to the previous breakpoint hit, exactly.", "<", ">", when=When.BEHIND),
    Action("g", "goto", "go to",
           "Go to iteration N (500), or to a node's step in it (500 backward h); earlier or later.", "g", "g"),
    Action("home", "start", "start", "Go back to the very start (tick 0).", "home", "end", when=When.BEHIND),
    Action("end", "end", "end", "Run to the end of the replay (in the background).", "end", "home",
           when=When.AHEAD),
    Action("up,k", "select_up", "select ↑", "Select the node above in the graph (or click a line); with another "
           "pane focused (tab, or a click), scroll that pane up.", "↑  k", "↓"),
    Action("down,j", "select_down", "select ↓", "Select the node below in the graph (or click a line); with another "
           "pane focused, scroll that pane down.", "↓  j", "↑"),
    Action("enter", "toggle_layer", "fold", "Collapse or expand the selected node's layer ([graph] key).",
           "enter", "enter", when=When.FOLD),
    Action("z", "toggle_all", "fold all", "Collapse every layer, or expand them all.", "z", "z", when=When.ALWAYS),
    Action("t", "inspect", "element", "Element by element: focus the Element pane (arrows move its cursor, shift+arrows "
           "a block, v value or gradient, a click picks a cell); t again goes back to the graph.", "t", "t"),
    Action("left_square_bracket", "eta_half", "η/2", "Halve the learning rate η (from this iteration on).",
           "[", "]"),
    Action("right_square_bracket", "eta_double", "η×2", "Double the learning rate η (from this iteration on).",
           "]", "["),
    Action("e", "eta_input", "set η", "Type a new learning rate η (from this iteration on).", "e", "e"),
    Action("B", "toggle_breakpoint", "breakpoint",
           "Set or clear a breakpoint on the selected node: its forward or backward step by the phase shown, "
           "a param's update.", "B", "B"),
    Action("i", "break_if", "break if", "Add a conditional breakpoint, checked as you type: loss < 0.01, "
           "dead(h) >= 0.5.", "i"),
    Action("w", "watch", "watch", "Add a watch: an expression shown at every tick in the Watches pane "
           "(norm(grad(W1))).", "w"),
    Action("L", "breakpoints", "breakpoints", "List breakpoints (with hits) and watches: enable, disable, edit, "
           "delete.", "L"),
    Action("H", "health", "health", "Gradient health over the iterations: gradient norms, update ratios, dead "
           "units, gradient flow.", "H"),
    Action("d", "toggle_digits", "digits", "The selected node's numbers (value, gradient, update) with every digit "
           "a float64 holds (the default, as Python prints them) or with 4 significant digits.", "d", "d"),
    Action("l", "loss_log", "log loss", "Loss curve: log scale or linear (the axis says which).", "l", "l"),
    Action("Z", "loss_zoom", "zoom loss", "Loss curve: show a range of iterations (200-300), or all of them again.",
           "Z", "Z"),
    Action("x", "gradcheck", "grad check", "Check every gradient against central differences, per param (esc or q "
           "cancels a long check).", "x"),
    Action("m", "forward_mode", "mode", "Switch modes: forward mode carries a tangent ẋ beside each value, seeded "
           "at an input picked from a list or along a random direction; or back to reverse mode.", "m", "m"),
    Action("a", "quiz", "quiz", "Quiz mode on or off: before an asked node's value or gradient contribution is shown, "
           "type your prediction; it is marked, then revealed with its formula.", "a", "a"),
    Action("S", "save_svg", "save SVG", "Save the screen as an SVG picture (gradstep-SCENARIO-tick-N.svg in the "
           "current folder).", "S"),
    Action("r", "reload", "reload", "Reload the scenario from disk (also automatic when the file changes).", "r",
           when=When.UNLESS_RUNNING),
    Action("o", "open", "open", "Open another scenario (file picker; ctrl+p also lists the bundled ones).", "o",
           when=When.ALWAYS),
    Action("question_mark", "help", "help", "Show this help: every key.", "?", footer=True, when=When.ALWAYS),
    Action("q", "quit", "quit", "Quit gradstep.", "q", footer=True, when=When.ALWAYS),
)


def bindings() -> list[Binding]:
    """The main screen's bindings, all priority: a focused pane must not swallow a stepping key."""
    out = []
    for a in ACTIONS:
        out.append(Binding(a.keys, f"app.{a.action}", a.description, show=a.footer,
                           key_display=a.display.split()[0], priority=True))
    return out


BY_ACTION: dict[str, Action] = {a.action: a for a in ACTIONS}


def by_action(name: str) -> Action:
    """The table row of an action."""
    return BY_ACTION[name]

