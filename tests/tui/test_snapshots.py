"""Snapshots of every screen a user sees (look at the SVGs before accepting them: --snapshot-update)."""
from __future__ import annotations

from gradstep.tui.app import GradstepApp
from gradstep.tui.debugger import place_for

from tuitest import HERE, LOG_NEGATIVE, PATHS, TWO_LAYER

SMALL = (80, 24)


def press(*keys):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
    return run_before


def test_forward_phase(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL, run_before=press("n", "n", "n"))


def test_backward_midway(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL,
                        run_before=press("f", "n", "n", "n", "n"))


def test_backward_sum_over_paths(snap_compare):
    """b's two contributions, the running sum, and ∂e/∂b = 1·2 + 1·3 = 5."""
    async def run_before(pilot) -> None:
        await pilot.press("f", "f")
        pilot.app.selected = pilot.app.stepper.program.node("b").id
        await pilot.pause()
    assert snap_compare(GradstepApp(PATHS, watch_file=False), terminal_size=SMALL, run_before=run_before)


def test_update_phase(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL,
                        run_before=press("f", "f", "n"))


def test_help_screen(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL, run_before=press("question_mark"))


def test_error_screen(snap_compare, monkeypatch):
    monkeypatch.chdir(HERE)          # the screen shows the path as given: keep it the same everywhere
    assert snap_compare(GradstepApp("broken.toml", watch_file=False), terminal_size=SMALL)


def test_anomaly_stop(snap_compare):
    assert snap_compare(GradstepApp(LOG_NEGATIVE, watch_file=False), terminal_size=SMALL, run_before=press("c"))


def test_backward_midway_large(snap_compare):
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=(200, 50),
                        run_before=press("f", "n", "n", "n", "n", "n", "n"))


BUNDLED_DIR = TWO_LAYER.parent
ADAM = BUNDLED_DIR / "adam_first_step.toml"
MOMENTUM = BUNDLED_DIR / "momentum_valley.toml"


def test_breakpoint_list(snap_compare):
    """The file's disabled breakpoint, a conditional one that stepping has hit, a pinned one (as B
    pins it, without B's notification, whose fading is not the list's business), and a watch. Stepping,
    not continue: a continue's fast chunks may compute losses past the hit, by timing, and the loss
    curve would show them."""
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.pause()
        app.debugger.breaks.add(app.stepper, "loss < 0.5")
        app.debugger.breaks.add_watch(app.stepper, "w[1]")
        await pilot.press(*("c",) * 17)
        st = app.stepper
        app.debugger.breaks.toggle_at(st, app.selected, place_for(st, app.selected))
        await pilot.press("L")
        await pilot.pause()
    assert snap_compare(GradstepApp(MOMENTUM, watch_file=False), terminal_size=(100, 24), run_before=run_before)


def test_prompt_with_an_unknown_name(snap_compare):
    """A condition with a typo: the prompt names it with a did-you-mean before enter is pressed."""
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=SMALL,
                        run_before=press("i", *"norm(grad(W11)) < 1e-6"))


def test_updates_adam(snap_compare):
    """Adam's first step for param a: g, m, v, m̂, v̂, Δw = −η·m̂/(√v̂ + ε) ≈ −η·sign(g), w_new, and the ratio."""
    assert snap_compare(GradstepApp(ADAM, watch_file=False), terminal_size=(120, 40), run_before=press("f", "f", "n"))


def test_health_view(snap_compare):
    """Twenty iterations of the two-layer net: gradient norms, update ratios, dead units and the flow."""
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press(*("c",) * 20, "H")
        for _ in range(300):
            if type(pilot.app.screen).__name__ == "HealthScreen":
                break
            await pilot.pause(0.01)
        await pilot.pause()
    assert snap_compare(GradstepApp(TWO_LAYER, watch_file=False), terminal_size=(100, 30), run_before=run_before)
