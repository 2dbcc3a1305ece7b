"""The Element pane: t focuses it, the arrows move its cursor (and step again once it is left), a click picks
a cell, and it says the element's value, gradient, −η·g and scalar chain rule (δ[3]·x[7], one term per
batch row); 4-D tensors draw as tiles; the layout follows a resize at once, both ways."""
from __future__ import annotations

import numpy as np

from gradstep.engine import FULL, fmt_num, load_scenario, Stepper
from gradstep.scenarios import bundled_dir
from gradstep.tui.app import GradstepApp
from gradstep.tui.element import drill
from gradstep.tui.widgets import tensorview
from gradstep.tui.widgets.element import ElementPane

from tuitest import TWO_LAYER

BATCHED = ('[scenario]\ntitle = "batched"\nseed = 0\n[values]\nx = { init = "normal", shape = [4, 3] }\n'
           '[params]\nW = { init = "normal", shape = [3, 2] }\n[graph]\ny = "x @ W"\nE = "sum(y ** 2)"\n'
           '[train]\nloss = "E"\nlearning_rate = 0.1\nsteps = 2\n')


def text(pane: ElementPane) -> str:
    return "\n".join(line.plain for line in pane.lines)


async def test_arrows_move_the_cursor_only_while_the_pane_is_focused():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(200, 50)) as pilot:
        st = app.stepper
        w1 = st.program.node("W1").id
        await pilot.press("f", "f")                    # forward and backward done: W1's gradient complete
        app.selected = w1
        await pilot.pause()
        tick = st.tick
        await pilot.press("t")
        await pilot.pause()
        pane = app.main.element
        assert pane.has_focus
        await pilot.press("right", "right", "right", "right", "right", "right", "right", "down", "down", "down")
        assert pane.cursor == (3, 7) and st.tick == tick                  # no step was taken
        shown = text(pane)
        assert "W1[3, 7]" in shown
        assert fmt_num(st.value(w1)[3, 7], FULL) in shown                 # every digit of the value
        assert fmt_num(st.grad(w1)[3, 7], FULL) in shown                  # and of ∂E/∂W1[3, 7]
        eta = st.lr_for(w1, st.iteration)
        assert fmt_num(-eta * st.grad(w1)[3, 7], FULL) in shown           # −η·g
        assert "δ[3]·x[7]" in shown                                       # the outer product, element by element
        await pilot.press("t")                                           # back to the graph: arrows step again
        await pilot.press("right")
        assert st.tick == tick + 1


async def test_the_chain_rule_of_an_element_sums_to_its_gradient():
    st = Stepper(load_scenario(TWO_LAYER))
    st.run_phase()
    st.run_phase()
    w1 = st.program.node("W1").id
    d = drill(st, w1, (3, 7))
    (route,) = d.routes
    (term,) = route.terms
    x = st.value(st.program.node("x").id)
    assert term.out == (3,) and term.name == "x[7]" and term.local == x[7]
    assert route.total == st.grad(w1)[3, 7] == d.grad
    assert np.isclose(term.delta * term.local, route.total, rtol=1e-15, atol=0)


def test_with_a_batch_each_row_contributes_a_term(tmp_path):
    path = tmp_path / "batched.toml"
    path.write_text(BATCHED)
    st = Stepper(load_scenario(path))
    st.run_phase()
    st.run_phase()
    p = st.program
    w = p.node("W").id
    d = drill(st, w, (1, 0))
    (route,) = d.routes
    assert route.count == 4 and [b for b, _, _ in route.rows] == [0, 1, 2, 3]
    x, delta = st.value(p.node("x").id), st.grad(p.node("y").id)
    for b, k, part in route.rows:
        assert k == 1 and np.isclose(part, delta[b, 0] * x[b, 1], rtol=1e-15)
    assert np.isclose(sum(part for _, _, part in route.rows), st.grad(w)[1, 0], rtol=1e-14)
    assert [t.name for t in route.terms] == [f"x[{b}, 1]" for b in range(4)]


async def test_batch_rows_show_in_the_pane(tmp_path):
    path = tmp_path / "batched.toml"
    path.write_text(BATCHED)
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("f", "f")
        app.selected = app.stepper.program.node("W").id
        await pilot.press("t", "down")
        shown = text(app.main.element)
        assert "row 0: δ[0, 0]·x[0, 1]" in shown and "row 3: δ[3, 0]·x[3, 1]" in shown
        assert "4 terms over 4 batch rows" in shown


async def test_a_click_picks_the_cell_and_v_shows_the_gradient():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("f", "f")
        st = app.stepper
        app.selected = st.program.node("W1").id
        await pilot.pause()
        pane = app.main.element
        pic = pane._picture
        y, spans = next((y, s) for y, s in sorted(pic.cells.items()) if s and s[0][2][0] >= 4)
        x0, _, index = spans[2]
        await pilot.click(ElementPane, offset=(x0 + 1, pane._top + y + 1))   # +1: the pane's border
        await pilot.pause()
        assert pane.has_focus and pane.cursor == index
        assert not pane.gradient
        await pilot.press("v")
        assert pane.gradient and "∂E/∂ shown" in text(pane)


async def test_in_the_compact_layout_t_shows_the_pane_in_place_of_the_values():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.main
        assert main.has_class("compact") and not main.element.display
        await pilot.press("t")
        await pilot.pause()
        assert main.element.display and main.element.has_focus and not main.values.display
        await pilot.press("t")
        await pilot.pause()
        assert not main.element.display and main.values.display


async def test_conv_filters_and_feature_maps_draw_as_tiles():
    app = GradstepApp(bundled_dir() / "lenet_digits.toml", watch_file=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("f")
        p = app.stepper.program
        app.selected = p.node("conv1_weight").id                      # (4, 1, 3, 3): one tile per filter
        await pilot.pause()
        pic = app.main.element._picture
        assert pic.kind == "tiles" and "(4, 1) tiles of 3×3" in pic.lines[0].plain
        app.selected = p.node("conv2d_out").id                        # (64, 4, 8, 8): the channels of one item
        await pilot.press("t")
        pic = app.main.element._picture
        assert pic.kind == "tiles" and "item 0 of 64" in pic.lines[0].plain
        await pilot.press(*["down"] * 8)                               # past the tile's bottom: the next item
        assert app.main.element.cursor[0] == 1
        assert "item 1 of 64" in app.main.element._picture.lines[0].plain


async def test_the_layout_follows_a_resize_at_once_both_ways():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("f")
        app.selected = app.stepper.program.node("W1").id
        await pilot.pause()
        values = app.main.values
        wide = max(line.cell_len for line in values.lines)
        assert not app.main.has_class("compact")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert app.main.has_class("compact")
        narrow = max(line.cell_len for line in values.lines)
        assert narrow < wide and narrow <= values.scrollable_content_region.width + 2   # the heatmap re-fit
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        await pilot.pause()
        assert not app.main.has_class("compact")
        assert max(line.cell_len for line in values.lines) == wide


def test_numbers_whenever_they_fit_else_a_heatmap_with_coordinates():
    a = np.arange(90.0).reshape(30, 3) / 7
    pic = tensorview.picture(a, 80, 12)
    assert pic.kind == "numbers" and len(pic.lines) == 31           # a header and 30 rows: all 90 numbers
    assert pic.lines[0].plain.split() == ["0", "1", "2"] and pic.lines[30].plain.strip().startswith("29│")
    big = np.arange(784 * 256.0).reshape(784, 256)
    heat = tensorview.picture(big, 70, 12)
    assert heat.kind == "heatmap" and heat.lines[0].plain.split()[0] == "0"     # the column ruler
    assert heat.lines[2].plain.split("│")[0].strip() == "66"                     # a row's first element
    assert "block means" in heat.lines[-1].plain
