"""The gradstep App: holds the Stepper, turns keys into motions, and hands the main screen one View
to draw.

Reactives hold small values only (tick, selected node); the panes read the Stepper when those
change. Elsewhere: playing and background runs (continue too) in playback.py; breakpoints, watches,
go-to and the health view in debugger.py; the scenario file, its reloads and its errors in
source.py (loading.py loads, watch.py notices changes); which keys can act in the bindings table;
every colour in palette.py.
"""
from __future__ import annotations

from operator import methodcaller
from pathlib import Path
from typing import Callable

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from gradstep.engine import FULL, Event, StepKind, Stepper, clip_title, visible
from gradstep.scenarios import bundled_dir

from . import heap, learning_rate, navigate, palette, view_options
from .actions import debugging, guarded, motion, playing, refused
from .bindings import BY_ACTION, KeyState, When, can
from .commands import ScenarioCommands
from .debugger import Debugger
from .forward import ForwardMode
from .finished import FinishedIteration, finished_iteration
from .harness import WaitsForFirstLoad
from .messages import NodeSelected, RunDone, RunProgress
from .playback import Playback
from .quiz import Quiz, Reach, asking
from .screens.error import ErrorScreen
from .screens.gradcheck import Checker
from .screens.help import HelpScreen
from .screens.main import MainScreen, View
from .screens.picker import OpenScenario
from .source import ScenarioSource
from .twins import Retrace, scene, twinned
from .widgets.graph import next_node

POLL = 1.0                                  # seconds between checks of the scenario file


class GradstepApp(WaitsForFirstLoad):
    """A step-debugger for backpropagation."""

    CSS_PATH = "gradstep.tcss"
    TITLE = "gradstep"
    COMMANDS = App.COMMANDS | {ScenarioCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [Binding("ctrl+c", "quit", "quit", show=False, priority=True)]     # on every screen, always

    # repaint=False: their watchers redraw what changed; a repaint would redraw the whole screen per step
    tick: reactive[int] = reactive(0, repaint=False)
    selected: reactive[int] = reactive(0, repaint=False)

    def __init__(self, path: Path | str, *, watch_file: bool = True):
        super().__init__()
        self.watch_file = watch_file
        self.source = ScenarioSource(self, Path(path))
        self.stepper: Stepper | None = None
        self.changed: frozenset[int] = frozenset()     # nodes the last step wrote
        self.changed_kind: StepKind | None = None      # and what that step did
        self.ended: int | None = None                  # the iteration that step finished, shown whole
        self.finished = FinishedIteration()
        self.digits: int | None = FULL                 # the selected node's numbers: every digit, or 4
        self.retrace = Retrace()                       # the scenes the twin keys bring back
        self.playback = Playback(self)
        self.debugger = Debugger(self)
        self.checker = Checker(self)                   # the gradient check running in a thread, if any
        self.forward = ForwardMode(self)       # forward mode and the pass counter
        self.quiz = Quiz(self)                 # predict, then reveal
        self.main = MainScreen()
        self._redraw_pending = False
        self._anomaly_tick = -1
        self._keys_state: tuple | None = None

    @property
    def path(self) -> Path:
        """The scenario file shown (or failing to load)."""
        return self.source.path

    @property
    def shown(self) -> Stepper | None:
        """The Stepper the panes show: right after the step that finished an iteration, that iteration
        ended (Stepper.ended), else the Stepper itself."""
        st = self.stepper
        if st is None or self.ended is None or finished_iteration(st) != self.ended:
            return st
        return self.finished.of(st, self.ended)

    def get_css_variables(self) -> dict[str, str]:
        """The palette's colours, as the $variables gradstep.tcss uses."""
        return {**super().get_css_variables(), **palette.CSS}

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Notifications carry file names and scenario text: never read as markup, never sent raw (visible)."""
        super().notify(visible(message), title=clip_title(title), severity=severity, timeout=timeout, markup=markup)

    def unexpected(self, e: Exception) -> None:
        """An action failed where it should not have: say so, and keep the app usable."""
        self.playback.stop()
        self.notify(f"{type(e).__name__}: {e}", title="unexpected error", severity="error", timeout=8)
        self.schedule_redraw()

    async def on_mount(self) -> None:
        await self.push_screen(self.main)
        self.source.load(self.path, keep_position=False)
        if self.watch_file:
            self.set_interval(POLL, self.source.poll)

    def on_resize(self, event) -> None:
        size = event.size                    # the new size (self.size can still be the old one here)
        self.main.set_class(size.height < 36 or size.width < 110, "compact")
        self.schedule_redraw()

    def adopt(self, st: Stepper, reloaded: bool) -> None:
        """Show a Stepper that has just loaded (reloaded: the same file again, folds and breakpoints kept)."""
        old, self.stepper = self.stepper, st
        self._anomaly_tick = -1
        self.debugger.adopt(old, st, reloaded)
        self.forward.adopt(st, reloaded)
        self.quiz.adopt(st, reloaded)
        self.main.load(st, reloaded)
        if isinstance(self.screen, ErrorScreen):
            self.pop_screen()
        self.sub_title = clip_title(st.scenario.title)
        self.selected, self.tick = self._default_selection(), st.tick
        self.changed, self.changed_kind, self.ended = frozenset(), None, None
        self.check_anomaly()
        self.redraw()
        heap.after_load(self, first=old is None)

    # ------------------------------------------------------------------ drawing
    def watch_tick(self) -> None:
        self.schedule_redraw()

    def watch_selected(self) -> None:
        self.schedule_redraw()

    def schedule_redraw(self) -> None:
        if not self._redraw_pending:
            self._redraw_pending = True
            self.call_later(self.redraw)

    def redraw(self) -> None:
        """The main screen draws every pane from one View (not during a run: that owns the Stepper)."""
        self._redraw_pending = False
        self.refresh_keys()
        st = self.stepper
        if st is None or self.playback.running or not self.main.is_mounted:
            return
        shown = self.shown
        self.main.show(View(st, self.selected, self.changed, self.changed_kind, self.playback.text(),
                            tuple(self.debugger.breaks.watches), self.digits, shown if shown is not st else None))
        self.banner()

    def banner(self) -> None:
        st = self.stepper
        idle = st is not None and not self.playback.running
        anomaly = idle and st.anomaly is not None
        hit = self.debugger.banner() if idle else []
        self.main.say(([f"numeric anomaly: {st.anomaly.message}  (p steps back)"] if anomaly else [])
                      + self.source.trouble() + hit, "warning" if hit and not anomaly else "error")

    # ------------------------------------------------------------------ which keys can act now
    def key_state(self) -> KeyState:
        return KeyState.of(self.stepper, self.selected, self.playback.state)

    def check_action(self, action: str, parameters) -> bool | None:
        row = BY_ACTION.get(action)          # Textual's own (the palette) act when the table's default does
        return True if can(row.when if row else When.LOADED, self.key_state()) else None

    def refresh_keys(self) -> None:
        """Re-check which keys can act, only when that can have changed: the Footer rebuilds itself
        on every refresh_bindings, which would cost a frame per step."""
        ks = self.key_state()          # only the keys the Footer shows: a change elsewhere rebuilds nothing
        shown = frozenset(a.action for a in BY_ACTION.values() if a.footer and can(a.when, ks))
        state = (id(self.stepper), shown, type(self.screen).__name__)
        if state != self._keys_state:
            self._keys_state = state
            self.refresh_bindings()

    # ------------------------------------------------------------------ stepping
    def after_motion(self, event: Event | None = None, select: bool = True) -> None:
        """After the Stepper moved: note what changed, follow the cursor, stop on an anomaly."""
        st = self.stepper
        self.changed = frozenset(event.writes) if event is not None else frozenset()
        self.changed_kind = event.kind if event is not None else None
        k = finished_iteration(st)
        self.ended = k if event is not None and event.iteration == k else None     # this step finished k
        if select:
            self.selected = self._default_selection(event)
        self.tick = st.tick
        self.check_anomaly()
        self.debugger.after_motion()
        if not self.playback.running:
            self.retrace.settle(scene(self))          # where a background run the last key started ended
        self.schedule_redraw()

    def redraw_here(self) -> None:
        """The Stepper recomputed where it stands (η changed): the same selection and view, new numbers."""
        self.check_anomaly()
        self.schedule_redraw()

    def check_anomaly(self) -> bool:
        st = self.stepper
        if st is None or st.anomaly is None:
            self._anomaly_tick = -1
            return False
        if st.tick != self._anomaly_tick and self._anomaly_tick == -1:
            self._anomaly_tick = st.tick
            self.playback.stop()
            self.selected = st.anomaly.node
            self.notify(st.anomaly.message, title="numeric anomaly: the replay stopped here", severity="error",
                        timeout=8)
        return True

    def _default_selection(self, event: Event | None = None) -> int:
        """The node to show after a motion: the node the last step wrote, else the next one to run."""
        st = self.stepper
        if st.anomaly is not None:
            return st.anomaly.node
        if event is not None and event.writes:
            return event.writes[0]
        nxt = next_node(st)
        return nxt if nxt is not None else st.program.loss

    action_step = asking(Reach.STEP, twinned("step", motion(methodcaller("step"),
                                                            "One node forward (or one param update).")))
    action_back = twinned("back", motion(methodcaller("back"), "One node back, exactly."))
    action_finish = asking(Reach.PHASE, twinned("finish", motion(methodcaller("run_phase"),
                                                                 "To the end of the phase.")))
    action_unfinish = twinned("unfinish", motion(methodcaller("back_phase"), "Back to the start of the phase."))
    action_iteration = asking(Reach.ITERATION, twinned("iteration", motion(methodcaller("run_iteration"),
                                                                          "One whole iteration.")))
    action_back_iteration = twinned("back_iteration", motion(methodcaller("back_iteration"),
                                                             "Back to the start of the iteration."))
    action_start = twinned("start", motion(methodcaller("seek", 0), "Back to tick 0."))
    action_end = twinned("end", playing(Playback.run_to_end), background=True)
    action_goto = debugging(Debugger.ask_place)

    def ask(self, screen: Screen, then: Callable) -> None:
        """Open a modal screen; `then` gets its answer unless it was cancelled."""
        self.push_screen(screen, lambda value: None if value is None else then(value))

    def on_key(self, event: events.Key) -> None:
        """A key the table has but that cannot act now (dimmed in the Footer): say why, once per press."""
        if self.screen is self.main:
            refused(self, event.key)

    # ------------------------------------------------------------------ breakpoints, watches, health
    action_continue = debugging(Debugger.continue_)
    action_reverse_continue = debugging(Debugger.reverse_continue)
    action_toggle_breakpoint = debugging(Debugger.toggle_here)
    action_break_if = debugging(Debugger.ask_condition)
    action_watch = debugging(Debugger.ask_watch)
    action_breakpoints = debugging(Debugger.show_list)
    action_health = debugging(Debugger.open_health)

    # ------------------------------------------------------------------ teaching: forward mode, quiz, pictures
    def action_forward_mode(self) -> None:
        self.forward.ask()

    def action_quiz(self) -> None:
        self.quiz.toggle()

    @guarded
    def action_save_svg(self) -> None:
        from .frames import save_screen
        self.notify(f"saved {save_screen(self)}", timeout=4)

    # ------------------------------------------------------------------ playing
    action_play = playing(Playback.play)
    action_rewind = playing(Playback.rewind)
    def action_stop(self) -> None:
        """esc: stop playing, a continue, a long run, or a gradient check."""
        self.checker.cancel()
        self.playback.stop()
    action_faster = twinned("faster", playing(Playback.faster))
    action_slower = twinned("slower", playing(Playback.slower))

    def on_run_progress(self, message: RunProgress) -> None:
        self.playback.progress(message)

    def on_run_done(self, message: RunDone) -> None:
        self.playback.done(message)

    # ------------------------------------------------------------------ selection, layers, what is shown
    def on_node_selected(self, message: NodeSelected) -> None:
        if self.stepper is not None and not self.playback.running:
            self.selected = message.node

    action_select_up = twinned("select_up", lambda self: navigate.select(self, -1))
    action_select_down = twinned("select_down", lambda self: navigate.select(self, +1))
    action_toggle_layer = twinned("toggle_layer", guarded(navigate.toggle_layer))
    action_toggle_all = twinned("toggle_all", guarded(navigate.toggle_all))
    action_toggle_digits = view_options.toggle_digits
    action_loss_log = view_options.toggle_log
    action_loss_zoom = view_options.ask_zoom

    # ------------------------------------------------------------------ learning rate
    action_eta_half = twinned("eta_half", learning_rate.halve)
    action_eta_double = twinned("eta_double", learning_rate.double)
    action_eta_input = learning_rate.ask

    # ------------------------------------------------------------------ files, checks, help
    def action_reload(self) -> None:
        self.playback.stop()
        self.source.reload()

    def action_open(self) -> None:
        if self.playback.running:
            return
        self.playback.stop()
        self.ask(OpenScenario(bundled_dir()), self.source.open)

    action_gradcheck = guarded(lambda self: self.checker.start())

    def action_inspect(self) -> None:
        self.main.inspect()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.playback.stop_requested.set()
        self.checker.cancel()
        self.exit(0)


def run_app(path: Path) -> int:
    """Open the TUI on a scenario file; the exit code of the console script."""
    app = GradstepApp(path)
    app.run()
    return app.return_code or 0
