"""A newcomer can find things out: the graph's glyph legend in help and in the README (the same rows), the
focused pane marked in every layout with ↑/↓ acting on it, a key that cannot act says why (n at the end),
] stops at η = 1e6 and says so, and `make run SCENARIO=path` opens your own file (issue 12 item 11,
issue 14)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gradstep.tui.app import GradstepApp
from gradstep.tui.learning_rate import MAX_ETA
from gradstep.tui.screens.help import GLYPHS, HelpScreen
from gradstep.tui.widgets.gradients import GradientsPane

from tuitest import CHAIN, TWO_LAYER, screen_text, wait_for

ROOT = Path(__file__).resolve().parents[2]


def said(app) -> list[str]:
    return [n.message for n in app._notifications]


def test_the_readme_legend_is_the_help_legend():
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    for glyph, meaning in GLYPHS:
        row = next((line for line in readme if line.startswith("| ") and line.endswith(f" | {meaning} |")), None)
        assert row is not None, meaning
        assert all(g in row.rsplit(" | ", 1)[0] for g in glyph.split()), (glyph, row)


async def test_help_shows_the_glyph_legend():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(160, 120)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        text = screen_text(app)
        assert "The graph's glyphs" in text and "gradient partial: 1 of its 2 contributions received" in text


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_the_focused_pane_is_marked_and_up_down_act_on_it(size):
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=size) as pilot:
        graph, grads = app.main.graph, app.main.query_one(GradientsPane)
        await pilot.press("f", "f")                          # a long Gradients pane
        assert app.focused is graph and "reverse" in str(graph.styles.border_title_style)
        assert "reverse" not in str(grads.styles.border_title_style)
        selected = app.selected
        grads.focus()
        await pilot.pause()
        assert "reverse" in str(grads.styles.border_title_style)
        assert "reverse" not in str(graph.styles.border_title_style)
        await pilot.press("down", "down", "down")
        assert app.selected == selected and round(grads.scroll_offset.y) == 3
        await pilot.press("up")
        assert round(grads.scroll_offset.y) == 2
        graph.focus()
        await pilot.press("down")
        assert app.selected != selected


async def test_a_key_that_cannot_act_says_why():
    app = GradstepApp(CHAIN, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("p")                               # at the very start
        assert any("the very start" in m for m in said(app))
        await pilot.press("end")
        assert await wait_for(pilot, lambda: app.stepper.at_end and not app.playback.running)
        app.clear_notifications()
        await pilot.press("n")
        assert any(m.startswith("n: the end of the replay") for m in said(app)), said(app)
        assert app.stepper.at_end


async def test_double_eta_stops_at_the_bound_with_a_message():
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        st = app.stepper
        for _ in range(40):                                  # 0.001 · 2^40 would be 1.1e9
            await pilot.press("right_square_bracket")
        assert st.set_eta_of(st.iteration) == MAX_ETA
        assert any("at most 1e+06" in m for m in said(app)) and any("already 1e+06" in m for m in said(app))
        assert not any(n.title == "unexpected error" for n in app._notifications)
        await pilot.press("left_square_bracket")             # ]'s twin: the η before the clamp, 0.001 · 2^29
        assert st.set_eta_of(st.iteration) == 0.001 * 2 ** 29
        await pilot.press("left_square_bracket")             # then on its own: half
        assert st.set_eta_of(st.iteration) == 0.001 * 2 ** 28


def test_make_run_opens_the_scenario_given():
    out = subprocess.run(["make", "-n", "-W", "pyproject.toml", "run", "SCENARIO=my/own.toml"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and ".venv/bin/gradstep my/own.toml" in out.stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run SCENARIO=path/to/file.toml" in readme and ".venv/bin/gradstep" in readme
