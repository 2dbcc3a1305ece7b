"""Forward mode in the TUI: the m picker switches modes, every value shows its tangent, the Forward mode pane shows
ė = ċ·d + c·ḋ = 5 on sum_over_paths seeded at b, stepping back restores tangents bit for bit, the pass counter is
measured in a worker, the gradient check adds the directional check, and a snapshot of the screen."""
from __future__ import annotations

import numpy as np

from gradstep.engine import Mode, PassCosts
from gradstep.tui.app import GradstepApp
from gradstep.tui.screens.gradcheck import GradCheckScreen
from gradstep.tui.screens.mode import ModePicker, choices

from tuitest import PATHS, TWO_LAYER, wait_for


def plain(pane) -> list[str]:
    return [t.plain for t in pane.lines]


async def pick(pilot, label: str) -> None:
    """m, then the picker's line that contains label."""
    app = pilot.app
    await pilot.press("m")
    assert await wait_for(pilot, lambda: isinstance(app.screen, ModePicker), polls=300)
    k = next(i for i, (_, line) in enumerate(app.screen.options) if label in line)
    step = k - app.screen.query_one("OptionList").highlighted
    for _ in range(abs(step)):
        await pilot.press("down" if step > 0 else "up")
    await pilot.press("enter")
    assert await wait_for(pilot, lambda: not isinstance(app.screen, ModePicker), polls=300)
    await pilot.pause()


def test_the_picker_offers_reverse_each_seedable_input_and_a_random_direction():
    from gradstep.engine import Stepper, load_scenario
    st = Stepper(load_scenario(PATHS))
    lines = [line for _, line in choices(st)]
    assert lines[0].startswith("reverse mode")
    assert [c.seed_input for c, _ in choices(st)[1:-1]] == ["a", "b"]
    assert "ḃ = 1" in lines[2] and "random direction" in lines[-1]


async def test_sum_over_paths_seeded_at_b_shows_c_d_e_tangents_1_1_5():
    app = GradstepApp(PATHS, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not app.main.tangents.has_class("-shown")        # out of the way until the mode is switched
        await pick(pilot, "seed ḃ")
        st = app.stepper
        assert st.mode is Mode.FORWARD and st.seed.input == "b"
        await pilot.press("f")
        app.selected = st.program.by_name["e"]
        await pilot.pause()
        values = plain(app.main.values)
        for line in ("a = 2  ȧ = 0", "b = 1  ḃ = 1", "c = 3  ċ = 1", "d = 2  ḋ = 1", "e = 6  ė = 5"):
            assert line in values, values
        pane = plain(app.main.tangents)
        assert pane[0] == "seed: ḃ = 1, every other input 0"
        assert pane[1] == "ė = ċ·d + c·ḋ = 5"
        assert "  from c: ∂e/∂c = d = 2" in pane and "  from d: ∂e/∂d = c = 3" in pane
        assert any("ċ = 1" in line and "ċ·d = 2" in line for line in pane)
        assert "ȧ = 0   ḃ = 1   ċ = 1   ḋ = 1   ė = 5" in pane
        assert any(line.startswith("full gradient: forward mode 2 passes") for line in pane)

        await pick(pilot, "seed ȧ")                 # a second pass, seeded at a: ∂e/∂a = 2
        await pilot.pause()
        assert "e = 6  ė = 2" in plain(app.main.values)


async def test_stepping_back_restores_tangents_bit_for_bit():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pick(pilot, "random direction")
        st = app.stepper
        await pilot.press("n", "n", "n", "n")
        before = {i: st.tangent(i).tobytes() for i in range(len(st.program.nodes)) if st.tangent(i) is not None}
        await pilot.press("p", "p", "p")
        assert st.tangent(st.program.ops[2]) is None
        await pilot.press("n", "n", "n")
        after = {i: st.tangent(i).tobytes() for i in range(len(st.program.nodes)) if st.tangent(i) is not None}
        assert after == before and len(before) > len(st.program.params)


async def test_the_pass_counter_is_measured_in_a_worker_and_shown_in_both_modes():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pick(pilot, "random direction")
        assert await wait_for(pilot, lambda: app.forward.costs is not None, polls=1000)
        await pilot.pause()
        pane = plain(app.main.tangents)
        assert any("forward mode 1,020 passes (one per scalar param) vs reverse mode 1 pass" in s for s in pane), pane
        assert any(s.startswith("  measured: 1,020 × ") for s in pane), pane
        await pick(pilot, "reverse mode")
        assert app.stepper.mode is Mode.REVERSE and app.main.tangents.has_class("-shown")
        pane = plain(app.main.tangents)
        assert pane[0].startswith("reverse mode: one backward pass") and "1,020 passes" in pane[1]
        assert "ȧ" not in " ".join(plain(app.main.values))


async def test_the_gradient_check_adds_the_directional_check():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, GradCheckScreen), polls=2000)
        r = app.screen.directional
        assert r is not None and r.passed and r.rel_error <= 1e-12
        await pilot.pause()
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "Directional check along a random direction" in text and "ok" in text


async def test_forward_mode_survives_a_reload(scenario_copy):
    app = GradstepApp(scenario_copy(PATHS), watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pick(pilot, "seed ḃ")
        await pilot.press("r")
        assert await wait_for(pilot, lambda: app.stepper.mode is Mode.FORWARD and app.stepper.seed.input == "b",
                              polls=500)


FIXED = PassCosts(forward=8e-6, tangent=9.5e-6, reverse=10e-6, passes=2)


def test_forward_mode_snapshot(snap_compare):
    """sum_over_paths seeded at b after the forward pass, e selected: ė = ċ·d + c·ḋ = 5 (costs fixed)."""
    async def run_before(pilot) -> None:
        await pick(pilot, "seed ḃ")
        await pilot.press("f")
        app = pilot.app
        app.selected = app.stepper.program.by_name["e"]
        await app.workers.wait_for_complete()
        app.forward.costs = FIXED          # measured times differ from run to run
        app.clear_notifications()
        app.schedule_redraw()
        await pilot.pause()
    assert snap_compare(GradstepApp(PATHS, watch_file=False), terminal_size=(100, 34), run_before=run_before)


def test_tangents_use_the_engine_values():
    """The pane's numbers are the Stepper's (no second computation in the UI)."""
    from gradstep.engine import Stepper, load_scenario
    st = Stepper(load_scenario(PATHS))
    st.set_mode(Mode.FORWARD, seed_input="b")
    st.run_phase()
    assert float(st.tangent(st.program.by_name["e"])) == 5.0
    np.testing.assert_array_equal(st.tangent(st.program.by_name["c"]), 1.0)
