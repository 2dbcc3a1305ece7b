"""Frames for slides: one SVG per step, numbered, byte-identical from run to run; the --html page holds them all and
steps with the arrow keys; bad ranges and sizes exit 2 with one line; S (and the palette) save the screen."""
from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys

import pytest

from gradstep.tui.app import GradstepApp
from gradstep.tui.frames import parse_size, write_frames, write_page

from tuitest import PATHS, wait_for


def gradstep(*args, cwd=None) -> subprocess.CompletedProcess:
    code = "import sys; from gradstep.tui.launch import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def title(path) -> str:
    """The title the frame's window bar shows."""
    m = re.search(r'class="[^"]*-title"[^>]*>([^<]*)<', path.read_text())
    return html.unescape(m.group(1)).replace("\xa0", " ")


async def test_frames_are_numbered_one_per_tick_and_byte_identical_across_runs(tmp_path):
    one = await write_frames(PATHS, tmp_path / "one", 0, 7, (100, 30))
    two = await write_frames(PATHS, tmp_path / "two", 0, 7, (100, 30))
    assert [p.name for p in one] == [f"frame-{k:04d}.svg" for k in range(8)]
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    assert len({p.read_bytes() for p in one}) == 8            # every step changes the screen
    titles = [re.search(r"tick (\d+) \(iteration 1, (\w+)", title(p)).groups() for p in one]
    assert titles[0] == ("0", "forward") and titles[3] == ("3", "backward") and titles[7] == ("7", "done")


def test_the_command_writes_a_range_and_a_self_contained_page(tmp_path):
    out = tmp_path / "frames"
    proc = gradstep("frames", PATHS, "--out", out, "--from", "2", "--to", "5", "--size", "90x28", "--html")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"wrote 4 frames to {out}", f"wrote {out / 'index.html'}"]
    svgs = sorted(out.glob("*.svg"))
    assert [p.name for p in svgs] == [f"frame-{k:04d}.svg" for k in range(4)]
    assert "tick 2 " in title(svgs[0]) and "tick 5 " in title(svgs[-1])
    page = (out / "index.html").read_text()
    frames = json.loads("[" + re.search(r"const frames = \[(.*?)\];", page, re.S).group(1) + "]")
    assert [base64.b64decode(f) for f in frames] == [p.read_bytes() for p in svgs]
    assert "ArrowRight" in page and "ArrowLeft" in page
    assert not re.search(r"(src|href)=\"(?!data:)", page)      # nothing loaded from elsewhere


def test_a_title_cannot_close_the_page_script(tmp_path):
    svg = tmp_path / "frame-0000.svg"
    svg.write_text('<svg><text class="terminal-1-title">gradstep: &lt;/script&gt;&lt;b&gt;x</text></svg>')
    page = write_page([svg], tmp_path, "t").read_text()
    assert page.count("</script>") == 1 and "<\\/script><b>x" in page


@pytest.mark.parametrize("argv, says", [
    (["--to", "99"], "the ticks run from 0 to 7"),
    (["--from", "5", "--to", "2"], "--to 2 comes before --from 5"),
    (["--size", "big"], "--size must look like 120x40"),
    (["--size", "10x10"], "width from 40 to 400"),
])
def test_bad_ranges_and_sizes_exit_2_with_one_line(tmp_path, argv, says):
    proc = gradstep("frames", PATHS, "--out", tmp_path / "f", *argv)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_bad_scenario_exits_2_before_any_frame(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\n")
    proc = gradstep("frames", bad, "--out", tmp_path / "f")
    assert proc.returncode == 2 and "bad.toml" in proc.stderr and not (tmp_path / "f").exists()


def test_parse_size():
    assert parse_size("120x40") == (120, 40) and parse_size("80X24") == (80, 24)


async def test_S_saves_the_screen_as_svg_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = GradstepApp(PATHS, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("n", "n", "S")
        path = tmp_path / "gradstep-sum_over_paths-tick-2.svg"
        assert await wait_for(pilot, path.exists, polls=300)
        assert path.read_text().startswith("<svg") and "tick 2 (iteration 1, forward 2/3)" in title(path)


async def test_the_palette_offers_save_svg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = GradstepApp(PATHS, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p", *"save SVG")
        assert await wait_for(pilot, lambda: app.screen.query_one("CommandList").option_count >= 1, polls=300)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: (tmp_path / "gradstep-sum_over_paths-tick-0.svg").exists(), polls=300)
