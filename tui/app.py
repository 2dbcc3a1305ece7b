"""The gradstep App: owns the Stepper, turns keys into steps, and tells the panes to redraw.

Reactives hold small values only (tick, selected node, play state); the panes read the Stepper
when those change. Playing and background runs live in playback.py.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.reactive import reactive

from gradstep.engine import ScenarioError, Stepper, gradcheck, load_scenario

from gradstep.scenarios import bundled_dir

from .bindings import ACTIONS, guarded
from .messages import NodeSelected
from .playback import DEFAULT_SPEED, SPEEDS, Playback
from .screens.ask import AskNumber
from .screens.error import ErrorScreen
from .screens.gradcheck import GradCheckScreen
from .screens.help import HelpScreen
from .screens.main import MainScreen
from .screens.picker import OpenScenario
from .widgets.gradients import GradientsPane
from .widgets.graph import GraphPane, next_node
from .widgets.losscurve import LossCurve
from .widgets.status import Banner, StatusLine
from .widgets.updates import UpdatesPane
from .widgets.values import ValuesPane

POLL = 1.0                                  # seconds between checks of the scenario file
RESTORE_LIMIT = 1000                        # a reload returns to the same tick up to this iteration


class ScenarioCommands(Provider):
    """Command palette: open any bundled scenario, or run any action of the key table."""

    def _commands(self):
        app = self.app
        for path in sorted(bundled_dir().glob("*.toml")):
            yield (f"Open scenario: {path.stem}", functools.partial(app.open_path, path),
                   f"load {path.name} from the bundled scenarios")
        for a in ACTIONS:
            yield (f"{a.description} ({a.display.split()[0]})",
                   functools.partial(app.run_action_from_palette, a.action), a.help)

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class GradstepApp(Playback, App):
    """A step-debugger for backpropagation."""

    CSS_PATH = "gradstep.tcss"
    TITLE = "gradstep"
    COMMANDS = App.COMMANDS | {ScenarioCommands}
    ENABLE_COMMAND_PALETTE = True

    tick: reactive[int] = reactive(0)
    selected: reactive[int] = reactive(0)
    playing: reactive[str] = reactive("")      # "", "forward", "backward" or "run"
    speed: reactive[int] = reactive(DEFAULT_SPEED)

    def __init__(self, path: Path | str, *, watch_file: bool = True):
        super().__init__()
        self.path = Path(path)
        self.watch_file = watch_file
        self.stepper: Stepper | None = None
        self.changed: frozenset[int] = frozenset()     # nodes the last step wrote
        self.changed_kind = ""                         # and its kind: forward, seed, backward, update
        self.load_error: str | None = None
        self._stat: tuple | None = None
        self._data_file: Path | None = None      # the CSV beside the scenario, watched with it
        self._missing = False
        self._timer = None
        self._stop_run = False
        self._run_text = ""
        self._redraw_pending = False
        self._anomaly_tick = -1
        self.main = MainScreen()

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Notifications carry file names and scenario text: never read them as markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # ------------------------------------------------------------------ start-up and loading
    async def on_mount(self) -> None:
        await self.push_screen(self.main)
        self.load(self.path, keep_position=False)
        if self.watch_file:
            self.set_interval(POLL, self.poll_file)

    def on_resize(self) -> None:
        self.main.set_class(self.size.height < 36 or self.size.width < 110, "compact")
        self.schedule_redraw()

    def load(self, path: Path, *, keep_position: bool) -> bool:
        """Load a scenario; on failure keep the last good one (or show the error screen)."""
        path = Path(path)
        old = self.stepper if path == self.path else None
        try:
            self._stat = self._watched_stat() if path == self.path else _stat(path) + (None,)
            scenario = load_scenario(path)
            st = Stepper(scenario)
            if keep_position and old is not None and old.iteration <= RESTORE_LIMIT:
                st.seek(min(old.tick, st.total_ticks))
        except ScenarioError as e:
            return self._load_failed(path, str(e))
        except (OSError, UnicodeError) as e:
            return self._load_failed(path, f"{path}: {getattr(e, 'strerror', None) or e}")
        except Exception as e:       # an engine bug must not take the app down
            return self._load_failed(path, f"{path}: {type(e).__name__}: {e}")
        self.path = path
        self.stepper = st
        data = scenario.data
        self._data_file = path.parent / data.source if data is not None and data.source != "inline" else None
        try:
            self._stat = self._watched_stat()
        except OSError:
            pass
        self.load_error = None
        self._missing = False
        self._anomaly_tick = -1
        graph = self.main.query_one(GraphPane)
        graph.load(st.program, graph.folded if old is not None else None)
        self.main.query_one(ValuesPane).reset()
        self.main.query_one(GradientsPane).reset(st)
        if isinstance(self.screen, ErrorScreen):
            self.pop_screen()
        self.sub_title = scenario.title
        self.selected = self._default_selection()
        self.tick = st.tick
        self.changed = frozenset()
        self.check_anomaly()
        self.redraw()
        return True

    def _load_failed(self, path: Path, message: str) -> bool:
        self.load_error = message
        if self.stepper is not None and path == self.path:
            self.banner()
            self.notify(message, title="reload failed: showing the last good version", severity="error",
                        timeout=6)
        elif self.stepper is not None:
            self.notify(message, title="could not open the scenario", severity="error", timeout=8)
        else:
            self.path = path
            if isinstance(self.screen, ErrorScreen):
                self.screen.set_message(message)
            else:
                self.push_screen(ErrorScreen(str(path), message))
        return False

    def poll_file(self) -> None:
        """Reload when the scenario file changes on disk; report a deleted file once."""
        if self.playing == "run":
            return
        try:
            stat = self._watched_stat()
        except OSError:
            if not self._missing:
                self._missing = True
                self.banner()
                self.notify(f"{self.path} was deleted or cannot be read; showing the last good version",
                            severity="warning", timeout=6)
            return
        if stat != self._stat or self._missing:
            self._missing = False
            self.stop_playing()
            if self.load(self.path, keep_position=True):
                self.notify(f"reloaded {self.path.name}", timeout=2)

    def _watched_stat(self) -> tuple:
        """What the poll compares: the scenario file (it must exist) and its CSV data, if any."""
        data = _stat_or_none(self._data_file) if self._data_file is not None else None
        return _stat(self.path) + (data,)

    def open_path(self, path: Path) -> None:
        """Open another scenario (from the picker or the command palette)."""
        self.stop_playing()
        if self.load(Path(path), keep_position=False):
            self.notify(f"opened {Path(path).name}", timeout=2)

    def run_action_from_palette(self, action: str) -> None:
        self.call_later(self.run_action, f"app.{action}")

    # ------------------------------------------------------------------ drawing
    def watch_tick(self) -> None:
        self.schedule_redraw()

    def watch_selected(self) -> None:
        self.schedule_redraw()

    def watch_playing(self) -> None:
        self.refresh_keys()

    def refresh_keys(self) -> None:
        """Re-check which keys can act, only when that can have changed: the Footer rebuilds itself
        on every refresh_bindings, which would cost a frame per step."""
        st = self.stepper
        state = (id(st), self.playing, st is not None and st.at_start, st is not None and st.at_end,
                 self.check_action("toggle_layer", ()), type(self.screen).__name__)
        if state != getattr(self, "_keys_state", None):
            self._keys_state = state
            self.refresh_bindings()

    def schedule_redraw(self) -> None:
        if not self._redraw_pending:
            self._redraw_pending = True
            self.call_later(self.redraw)

    def redraw(self) -> None:
        """Every pane reads the Stepper again (each rebuilds only what changed)."""
        self._redraw_pending = False
        st = self.stepper
        self.refresh_keys()
        if st is None or self.playing == "run" or not self.main.is_mounted:
            return
        sel = self.selected if 0 <= self.selected < len(st.program.nodes) else 0
        with np.errstate(all="ignore"):
            none = frozenset()
            forward = self.changed if self.changed_kind == "forward" else none
            backward = self.changed if self.changed_kind in ("seed", "backward") else none
            self.main.query_one(StatusLine).show(st, st.scenario.title, self.play_text())
            self.main.query_one(GraphPane).show(st, sel)
            self.main.query_one(ValuesPane).show(st, sel, forward)
            self.main.query_one(GradientsPane).show(st, sel, backward)
            self.main.query_one(UpdatesPane).show(st)
            curve = self.main.query_one(LossCurve)
            n = st.iteration
            if len(curve.losses) != len(st.losses) or curve.current != n:
                curve.set_losses(st.losses, n)
        self.banner()

    def banner(self) -> None:
        lines = []
        st = self.stepper
        if st is not None and st.anomaly is not None and self.playing != "run":
            lines.append(f"numeric anomaly: {st.anomaly.message}  (p steps back)")
        if self.load_error is not None:
            lines.append(f"reload failed, showing the last good version: {self.load_error}")
        elif self._missing:
            lines.append(f"{self.path} is missing: showing the last good version")
        self.main.query_one(Banner).say("\n".join(lines) or None)

    def play_text(self) -> str:
        speed = SPEEDS[self.speed]
        rate = "max" if speed == 0 else f"{speed}/s"
        if self.playing == "forward":
            return f"▶ playing {rate} (space pauses)"
        if self.playing == "backward":
            return f"◀ rewinding {rate} (b pauses)"
        return f"speed {rate}"

    # ------------------------------------------------------------------ which keys can act now
    def check_action(self, action: str, parameters) -> bool | None:
        st = self.stepper
        if action in ("help", "quit", "open", "stop", "toggle_all", "faster", "slower"):
            return True
        if st is None:
            return True if action == "reload" else None
        if self.playing == "run":
            return True if action == "play" else None
        if action in ("back", "unfinish", "back_iteration", "start"):
            return None if st.at_start else True
        if action in ("step", "finish", "iteration", "end"):
            return None if st.at_end else True
        if action == "play":
            return None if st.at_end and not self.playing else True
        if action == "rewind":
            return None if st.at_start and not self.playing else True
        if action == "toggle_layer":
            key = st.program.nodes[self.selected].group if self.selected < len(st.program.nodes) else None
            return True if key and len(st.program.groups().get(key, ())) > 1 else None
        return True

    # ------------------------------------------------------------------ stepping
    def after_motion(self, event=None, select: bool = True) -> None:
        """After the Stepper moved: note what changed, follow the cursor, stop on an anomaly."""
        st = self.stepper
        self.changed = frozenset(event.writes) if event is not None else frozenset()
        self.changed_kind = event.kind if event is not None else ""
        if select:
            self.selected = self._default_selection(event)
        self.tick = st.tick
        self.check_anomaly()
        self.schedule_redraw()

    def check_anomaly(self) -> bool:
        st = self.stepper
        if st is None or st.anomaly is None:
            self._anomaly_tick = -1
            return False
        if st.tick != self._anomaly_tick and self._anomaly_tick == -1:
            self._anomaly_tick = st.tick
            self.stop_playing()
            self.selected = st.anomaly.node
            self.notify(st.anomaly.message, title="numeric anomaly: the replay stopped here", severity="error",
                        timeout=8)
        return True

    def _default_selection(self, event=None) -> int:
        """The node to show after a motion: the node the last step wrote, else the next one to run."""
        st = self.stepper
        if st.anomaly is not None:
            return st.anomaly.node
        if event is not None and event.writes:
            return event.writes[0]
        nxt = next_node(st)
        if nxt is not None:
            return nxt
        return st.program.loss

    @guarded
    def action_step(self) -> None:
        self.stop_playing()
        ev = self.stepper.step()
        self.after_motion(ev)

    @guarded
    def action_back(self) -> None:
        self.stop_playing()
        self.stepper.back()
        self.after_motion()

    @guarded
    def action_finish(self) -> None:
        self.stop_playing()
        events = self.stepper.run_phase()
        self.after_motion(events[-1] if events else None)

    @guarded
    def action_unfinish(self) -> None:
        self.stop_playing()
        self.stepper.back_phase()
        self.after_motion()

    @guarded
    def action_iteration(self) -> None:
        self.stop_playing()
        events = self.stepper.run_iteration()
        self.after_motion(events[-1] if events else None)

    @guarded
    def action_back_iteration(self) -> None:
        self.stop_playing()
        self.stepper.back_iteration()
        self.after_motion()

    @guarded
    def action_start(self) -> None:
        self.stop_playing()
        self.stepper.seek(0)
        self.after_motion()

    @guarded
    def action_end(self) -> None:
        self.stop_playing()
        self.start_run(self.stepper.steps)

    @guarded
    def action_goto(self) -> None:
        st = self.stepper
        self.stop_playing()

        def done(value) -> None:
            if value is not None:
                self.goto(int(value))
        self.push_screen(AskNumber(f"Go to the start of iteration (1 to {st.steps}):", lo=1, hi=st.steps,
                                   integer=True, value=str(st.iteration)), done)

    @guarded
    def goto(self, iteration: int) -> None:
        """Go to the start of an iteration; far ahead of the cursor it runs in the background."""
        st = self.stepper
        if iteration - st.iteration > 50:
            self.start_run(iteration - st.iteration)
            return
        st.seek_iteration(iteration)
        self.after_motion()

    # ------------------------------------------------------------------ selection and layers
    def on_node_selected(self, message: NodeSelected) -> None:
        if self.stepper is not None and self.playing != "run":
            self.selected = message.node

    def action_select_up(self) -> None:
        self.selected = self.main.query_one(GraphPane).neighbour(self.selected, -1)
        self._follow_selection()

    def action_select_down(self) -> None:
        self.selected = self.main.query_one(GraphPane).neighbour(self.selected, +1)
        self._follow_selection()

    def _follow_selection(self) -> None:
        graph = self.main.query_one(GraphPane)
        graph.follow(graph.row_of.get(self.selected, 0))

    @guarded
    def action_toggle_layer(self) -> None:
        graph = self.main.query_one(GraphPane)
        if graph.toggle(self.selected):
            self.selected = graph.rows[graph.row_of[self.selected]].node
            self.schedule_redraw()

    @guarded
    def action_toggle_all(self) -> None:
        graph = self.main.query_one(GraphPane)
        graph.toggle_all()
        if self.stepper is not None:
            self.selected = graph.rows[graph.row_of[self.selected]].node if graph.rows else 0
        self.schedule_redraw()

    # ------------------------------------------------------------------ learning rate
    @guarded
    def set_eta(self, eta: float) -> None:
        self.stop_playing()
        self.stepper.set_eta(eta)
        self.notify(f"η = {eta:g} from iteration {self.stepper.iteration} on", timeout=2)
        self.after_motion(select=False)
        self.schedule_redraw()

    def action_eta_half(self) -> None:
        self.set_eta(self.stepper.eta / 2)

    def action_eta_double(self) -> None:
        eta = self.stepper.eta * 2 if self.stepper.eta > 0 else 0.001
        self.set_eta(eta)

    def action_eta_input(self) -> None:
        self.stop_playing()

        def done(value) -> None:
            if value is not None:
                self.set_eta(float(value))
        self.push_screen(AskNumber("New learning rate η (from this iteration on):", lo=0, hi=1e6, integer=False,
                                   value=f"{self.stepper.eta:g}"), done)

    # ------------------------------------------------------------------ files, checks, help
    def action_reload(self) -> None:
        self.stop_playing()
        if self.load(self.path, keep_position=True):
            self.notify(f"reloaded {self.path.name}", timeout=2)

    def action_open(self) -> None:
        if self.playing == "run":
            return
        self.stop_playing()

        def done(path) -> None:
            if path is not None:
                self.open_path(path)
        self.push_screen(OpenScenario(bundled_dir()), done)

    @guarded
    def action_gradcheck(self) -> None:
        st = self.stepper
        self.stop_playing()
        leaves = dict(st.leaves_for(st.iteration))
        leaves.update({u.param: u.w for u in st.updates()})
        program, iteration = st.program, st.iteration
        self.notify("checking gradients…", timeout=1)

        def work() -> None:
            try:
                report = gradcheck(program, leaves, iteration=iteration)
            except Exception as e:
                self.call_from_thread(self.notify, f"{type(e).__name__}: {e}", title="gradient check failed",
                                      severity="error")
                return
            self.call_from_thread(self.push_screen, GradCheckScreen(report, iteration))
        self.run_worker(work, thread=True, group="check", exit_on_error=False)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self._stop_run = True
        self.exit(0)


def _stat_or_none(path: Path) -> tuple | None:
    try:
        return _stat(path)
    except OSError:
        return None


def _stat(path: Path) -> tuple:
    s = path.stat()
    # inode and ctime too: a same-size save within a coarse mtime tick, or a copy that keeps the
    # old mtime (cp -p, tar), still changes them.
    return (s.st_mtime_ns, s.st_size, s.st_ino, s.st_ctime_ns)


def run_app(path: Path) -> int:
    """Open the TUI on a scenario file; the exit code of the console script."""
    app = GradstepApp(path)
    app.run()
    return app.return_code or 0
