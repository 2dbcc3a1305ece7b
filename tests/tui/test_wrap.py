"""Formulas are wrapped, never cut at the pane's edge (issue 12, item 9): at 80×24 the chain rule of
f = e^(sin(x²)) at x = 1.5 reads whole in the Gradients pane, every line within the pane, and the Element
pane's equations (its numbers' rows keep one line each, so value, gradient and step stay on screen)."""
from __future__ import annotations

from rich.text import Text

from gradstep.scenarios import bundled_dir
from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.element import ElementPane
from gradstep.tui.widgets.gradients import GradientsPane
from gradstep.tui.widgets.lines import wrap


def test_wrap_keeps_every_character_and_fits_the_width():
    t = Text("chain rule, 1 path: ∂f/∂u = 2.177·(-0.6282) = -1.3677054961979402")
    for width in (80, 40, 30, 16):
        lines = wrap(t, width)
        assert all(x.cell_len <= width for x in lines)
        assert "".join(x.plain.replace(" ", "") for x in lines) == t.plain.replace(" ", "")
        if width >= 30:                                    # wide enough to break at spaces only
            assert " ".join(x.plain.strip() for x in lines) == t.plain
    assert [x.plain for x in wrap(t, 80)] == [t.plain]
    long = Text("x" * 100)                                 # no space: broken hard, nothing lost
    assert "".join(x.plain.strip() for x in wrap(long, 30)) == long.plain


async def test_the_chain_rule_reads_whole_at_80_by_24():
    app = GradstepApp(bundled_dir() / "chain_rule.toml", watch_file=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"nnnnnn")                      # backward: u has its gradient
        await pilot.pause()
        assert app.stepper.program.nodes[app.selected].name == "u"
        text = fitted(app.main.query_one(GradientsPane))
        assert "chain rule, 1 path: ∂f/∂u = 2.177·(-0.6282) = -1.3677054961979402" in text
        assert "∂v/∂u = cos(u) = -0.6281736227227391" in text
        await pilot.press("t")                            # the Element pane, shown in the compact layout
        await pilot.pause()
        pane = app.main.query_one(ElementPane)
        room = pane.content_region.width
        equations = [t.plain for t in pane.lines if "δ" in t.plain or t.plain.startswith("      ")]
        assert equations and all(len(line) <= room - 1 for line in equations), (room, equations)


def fitted(pane) -> str:
    """The pane's lines, each checked to fit its width with a scrollbar's column to spare, joined."""
    room = pane.content_region.width
    lines = [t.plain for t in pane.lines]
    assert room > 20 and all(len(line) <= room - 1 for line in lines), (type(pane).__name__, room, lines)
    return " ".join(line.strip() for line in lines)
