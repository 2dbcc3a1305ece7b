"""The loss curve and the chain-rule paths tell what has happened, no more: the curve shows the iterations
up to the one shown with the current loss in its title (every digit), names its scale (l: log) and zooms
to a range (Z); a chain-rule path's product appears once the backward pass has crossed every edge on it,
and the sum over paths grows as they complete (issue 12, items 7 and 10)."""
from __future__ import annotations

import pytest

from gradstep.tui.app import GradstepApp
from gradstep.tui.view_options import parse_range
from gradstep.tui.widgets.gradients import GradientsPane
from gradstep.tui.widgets.losscurve import LossCurve

from tuitest import BUNDLED, PATHS, TWO_LAYER


def curve_text(app) -> str:
    return app.main.query_one(LossCurve).render().plain


async def test_the_curve_reads_the_current_loss_names_its_scale_and_keeps_to_the_past():
    app = GradstepApp(BUNDLED / "diverge.toml", watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        curve = app.main.query_one(LossCurve)
        await pilot.press(*("c",) * 30)
        st = app.stepper
        assert curve.border_title == f"Loss {st.loss_at(30)!r} (iteration 30)"
        assert "loss, linear" in curve_text(app) and "it 30" in curve_text(app)
        await pilot.press("l")
        assert "loss, log scale" in curve_text(app)
        await pilot.press("l")
        assert "loss, linear" in curve_text(app)
        await pilot.press("home")                             # back in time: later iterations leave the curve
        assert curve.border_title == "Loss" and "no iteration has reached the loss" in curve_text(app)
        await pilot.press("end")                              # twin of home: where home began
        assert "it 30" in curve_text(app)


async def test_zoom_shows_a_range_of_iterations_and_all_again():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*("c",) * 40)
        await pilot.press("Z", *"10-20", "enter")
        text = curve_text(app)
        assert "it 10–20" in text and "zoomed" in text and "it 40" not in text
        await pilot.press("Z", "ctrl+a", "ctrl+k", *"all", "enter")
        assert "it 40" in curve_text(app) and "zoomed" not in curve_text(app)


def test_a_zoom_range_is_read_or_refused_with_a_sentence():
    assert parse_range("200-300", 500) == (200, 300) and parse_range(" 2 .. 9 ", 9) == (2, 9)
    assert parse_range("", 5) is None and parse_range("all", 5) is None
    for bad, why in (("300-200", "before"), ("x", "two iterations"), ("600-700", "500 iterations so far")):
        with pytest.raises(ValueError, match=why):
            parse_range(bad, 500)


async def test_a_path_shows_its_product_once_every_edge_on_it_is_crossed():
    app = GradstepApp(PATHS, watch_file=False)                # e = (a + b)(b + 1) at a = 2, b = 1
    async with app.run_test(size=(120, 40)) as pilot:
        b = app.stepper.program.node("b").id

        async def paths() -> list[str]:
            app.selected = b
            await pilot.pause()
            logical: list[str] = []                         # a wrapped formula's lines joined back
            for x in app.main.query_one(GradientsPane).lines:
                if x.plain.startswith("    ") and logical and logical[-1] is not None:
                    logical[-1] += " " + x.plain.strip()
                else:
                    logical.append(x.plain if "→" in x.plain or "chain" in x.plain else None)
            return [x for x in logical if x is not None]
        await pilot.press("f", "n")                           # the seed: no edge into b crossed
        assert all("?" in x for x in (await paths())[1:]) and "no path complete yet" in (await paths())[0]
        assert not any("= 5" in x for x in await paths())
        order = [app.stepper.program.nodes[i].name for i in app.stepper.program.backward]
        await pilot.press("n")                                # e passes to c and d: b still waits
        await pilot.press("n")                                # the first of c, d passes to b
        first = await paths()
        assert "1 of 2 paths complete" in first[0] and "so far" in first[0] and "= 5" not in first[0], (order, first)
        await pilot.press("n")
        done = await paths()
        assert "2 paths" in done[0] and done[0].endswith("= 5.0") and not any("?" in x for x in done)
