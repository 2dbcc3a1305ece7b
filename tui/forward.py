"""The app's forward-mode side (app.forward): the mode key and its picker, switching the Stepper's mode,
keeping the mode across a reload, and measuring the pass costs in a worker (they take about 0.3 s)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from gradstep.engine import DirectionalCheck, Mode, PassCosts, ScenarioError, Stepper

from .actions import guarded
from .palette import BAD, GOOD, MUTED
from .screens.mode import ModeChoice, ModePicker

if TYPE_CHECKING:
    from .app import GradstepApp


class ForwardMode:
    """Which mode the user chose, whether they ever switched (the pane shows from then on), the costs measured."""

    def __init__(self, app: GradstepApp):
        self.app = app
        self.choice = ModeChoice(Mode.REVERSE)
        self.engaged = False              # switched at least once: the Forward mode pane stays shown
        self.costs: PassCosts | None = None
        self._measured_for: object = None  # the scenario the costs belong to

    def unexpected(self, e: Exception) -> None:
        self.app.unexpected(e)

    def ask(self) -> None:
        """m: pick reverse mode, or forward mode's seed (an input, or a random direction)."""
        self.app.playback.stop()
        self.app.ask(ModePicker(self.app.stepper), self.switch)

    @guarded
    def switch(self, choice: ModeChoice) -> None:
        """Put the Stepper in the chosen mode; the tick stays, and the iteration is recomputed up to it."""
        st = self.app.stepper
        if st is None:
            return
        try:
            self._apply(st, choice)
        except (ValueError, ScenarioError) as e:
            self.app.notify(str(e), title="the mode did not change", severity="error", timeout=8)
            return
        self.choice, self.engaged = choice, True
        said = choice.describe() if choice.mode is Mode.REVERSE else st.seed.describe(st.program)
        self.app.notify(said, title=choice.describe(), timeout=3)
        self.app.after_motion(select=False)
        self.measure(st)

    @staticmethod
    def _apply(st: Stepper, choice: ModeChoice) -> None:
        if choice.mode is Mode.REVERSE:
            st.set_mode(Mode.REVERSE)
        else:
            st.set_mode(Mode.FORWARD, seed_input=choice.seed_input, direction="random" if choice.random else None)

    def adopt(self, st: Stepper, reloaded: bool) -> None:
        """A new Stepper (reverse mode): after a reload of the same file, the chosen mode again if it still applies."""
        if not reloaded:
            self.choice = ModeChoice(Mode.REVERSE)
        elif self.choice.mode is Mode.FORWARD:
            try:
                self._apply(st, self.choice)
            except (ValueError, ScenarioError) as e:
                self.app.notify(f"{e}; back in reverse mode", title="after the reload forward mode no longer applies",
                                severity="warning", timeout=8)
                self.choice = ModeChoice(Mode.REVERSE)
        if self._measured_for is not st.scenario:
            self.costs = None
            if self.engaged:
                self.measure(st)

    def measure(self, st: Stepper) -> None:
        """Measure one pass of each kind in a thread, on a Stepper of its own (the app's keeps stepping)."""
        scenario = st.scenario
        if self._measured_for is scenario and self.costs is not None:
            return
        app = self.app

        def work() -> None:               # touches no widget and not the app's Stepper
            try:
                twin = Stepper(scenario, steps=1)
                twin.set_mode(Mode.FORWARD, direction="random")
                costs = twin.pass_costs()
            except Exception:             # the counter then says nothing measured; the app goes on
                return
            app.call_from_thread(self._measured, scenario, costs)
        app.run_worker(work, thread=True, group="passes", exclusive=True, exit_on_error=False)

    def _measured(self, scenario, costs: PassCosts) -> None:
        st = self.app.stepper
        if st is not None and st.scenario is scenario:
            self.costs, self._measured_for = costs, scenario
            self.app.schedule_redraw()


def directional_text(r: DirectionalCheck) -> Text:
    """The gradient check's second opinion: reverse mode's ⟨∇E, v⟩ against forward mode's Ė along v."""
    t = Text()
    t.append(f"Directional check along a random direction v (seed {r.seed}) over {len(r.inputs)} input"
             f"{'s' * (len(r.inputs) != 1)}: ", style="bold")
    t.append("ok" if r.passed else "FAIL", style=f"bold {GOOD if r.passed else BAD}")
    t.append(f"\n  reverse mode ⟨∇E, v⟩ = {r.reverse:.17g}\n  forward mode Ė along v = {r.forward:.17g}\n")
    t.append(f"  difference {r.rel_error:.2e} (relative, or absolute below 1), pass if ≤ {r.rtol:g}: one pass of "
             f"each mode, beside finite differences' two passes per element", style=MUTED)
    return t
