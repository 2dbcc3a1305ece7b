"""The learning-rate keys: halve, double or type η, from the current iteration on, within 0 and MAX_ETA.

The keys act on η as it is set (by the scenario or here), before any schedule: with a cosine schedule,
`[` halves the set η and the schedule still scales it. Nothing here imports textual.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .actions import guarded

if TYPE_CHECKING:
    from .app import GradstepApp

MAX_ETA = 1e6            # the largest η the keys and the prompt give (beyond, every step overflows at once)
FIRST_ETA = 0.001        # what ] gives when η is 0


@guarded
def set_eta(app: GradstepApp, eta: float, note: str = "") -> None:
    """Use η from the current iteration on, and say so (note: why it is not what was asked)."""
    st = app.stepper
    app.playback.stop()
    st.set_eta(eta)
    app.debugger.health.forget(st.iteration)
    app.notify(f"η = {eta:g} from iteration {st.iteration} on{note}", timeout=3 if note else 2,
               severity="warning" if note else "information")
    app.redraw_here()


def halve(app: GradstepApp) -> None:
    """[: half the η set for this iteration."""
    set_eta(app, app.stepper.set_eta_of(app.stepper.iteration) / 2)


def double(app: GradstepApp) -> None:
    """]: twice the η set for this iteration, at most MAX_ETA (said when it clamps)."""
    eta = app.stepper.set_eta_of(app.stepper.iteration)
    if eta >= MAX_ETA:
        app.notify(f"η is already {MAX_ETA:g}, the largest the keys and e give", severity="warning", timeout=3)
        return
    wanted = eta * 2 if eta > 0 else FIRST_ETA
    if wanted > MAX_ETA:
        set_eta(app, MAX_ETA, f" (at most {MAX_ETA:g}: the keys and e stop there)")
    else:
        set_eta(app, wanted)


def ask(app: GradstepApp) -> None:
    """e: type η."""
    from .screens.ask import AskNumber
    app.playback.stop()
    app.ask(AskNumber("New learning rate η (from this iteration on):", lo=0, hi=MAX_ETA, integer=False,
                      value=f"{app.stepper.set_eta_of(app.stepper.iteration):g}"),
            lambda value: set_eta(app, float(value)))
