"""Frames for slides: `gradstep frames SCENARIO --out DIR` writes one SVG of the screen per step, numbered, and
with --html one self-contained page that steps through them with the arrow keys; the palette's "save SVG" writes
the screen shown.

A frame is Textual's own SVG export of the app running headless, so it is what the app draws. Frames are
byte-identical from run to run: the export names its styles by a hash of the content, and nothing on the screen
reads the clock.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import html
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gradstep.engine import ScenarioError, clip_title

if TYPE_CHECKING:
    from .app import GradstepApp

MAX_FRAMES = 2000            # one SVG is about 100 KB: 200 MB at most
SIZES = ((40, 400), (12, 200))


def parse_size(text: str) -> tuple[int, int]:
    """'120x40' -> (120, 40); ValueError with a sentence otherwise."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 120x40, not {text!r}") from None
    (wlo, whi), (hlo, hhi) = SIZES
    if not (wlo <= width <= whi and hlo <= height <= hhi):
        raise ValueError(f"--size {text}: width from {wlo} to {whi}, height from {hlo} to {hhi}")
    return width, height


def frame_title(app: GradstepApp) -> str:
    st = app.stepper
    c = st.cursor
    where = f"{c.phase.value} {c.index}/{c.length}" if c.length else c.phase.value
    return f"gradstep: {clip_title(st.scenario.title, 80)}, tick {st.tick} (iteration {c.iteration}, {where})"


def save_screen(app: GradstepApp, folder: Path | None = None) -> Path:
    """The screen shown as an SVG file in the current folder, named by the scenario and the tick."""
    st = app.stepper
    name = f"gradstep-{app.path.stem}-tick-{st.tick}.svg" if st is not None else "gradstep.svg"
    path = (folder or Path.cwd()) / name
    path.write_text(app.export_screenshot(title=frame_title(app) if st is not None else "gradstep"),
                    encoding="utf-8")
    return path


async def write_frames(scenario: Path, out: Path, start: int, stop: int | None, size: tuple[int, int]) -> list[Path]:
    """Run the app headless at `size`, and export the screen at each tick from start to stop (inclusive)."""
    from .app import GradstepApp
    app = GradstepApp(scenario, watch_file=False)
    written = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        st = app.stepper
        if st is None:
            raise ScenarioError("the scenario did not load in the app", file=str(scenario))
        stop = min(st.per_iteration, st.total_ticks) if stop is None else stop
        _check_range(start, stop, st.total_ticks)
        out.mkdir(parents=True, exist_ok=True)
        digits = max(4, len(str(stop - start)))
        st.seek(start)
        app.after_motion()
        for k, tick in enumerate(range(start, stop + 1)):
            if tick > start:
                app.after_motion(st.step())
            await pilot.pause()
            app.redraw()                 # draw now, not on the next idle: the export reads the compositor
            await pilot.pause()
            path = out / f"frame-{k:0{digits}d}.svg"
            path.write_text(app.export_screenshot(title=frame_title(app)), encoding="utf-8")
            written.append(path)
    return written


def _check_range(start: int, stop: int, total: int) -> None:
    if not 0 <= start <= total or not 0 <= stop <= total:
        raise ScenarioError(f"the ticks run from 0 to {total:,}; got --from {start} --to {stop}", file="frames")
    if stop < start:
        raise ScenarioError(f"--to {stop} comes before --from {start}", file="frames")
    if stop - start + 1 > MAX_FRAMES:
        raise ScenarioError(f"{stop - start + 1:,} frames are more than the limit of {MAX_FRAMES:,} (MAX_FRAMES); "
                            f"pick a shorter --from/--to range", file="frames")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ margin: 0; font: 14px sans-serif; }}
header {{ padding: 6px 12px; display: flex; gap: 12px; align-items: center; }}
img {{ display: block; max-width: 100%; margin: 0 auto; }}
button {{ font: inherit; }}
</style></head>
<body>
<header><button id="prev">&larr;</button><button id="next">&rarr;</button>
<span id="where"></span><span style="opacity:.6">arrow keys step, Home and End jump</span></header>
<img id="frame" alt="gradstep frame">
<script>
const frames = [{frames}];
const titles = [{titles}];
let k = 0;
function show(i) {{
  k = Math.max(0, Math.min(frames.length - 1, i));
  document.getElementById("frame").src = "data:image/svg+xml;base64," + frames[k];
  document.getElementById("where").textContent = (k + 1) + " / " + frames.length + ": " + titles[k];
}}
document.addEventListener("keydown", e => {{
  if (e.key === "ArrowRight" || e.key === " " || e.key === "PageDown") show(k + 1);
  else if (e.key === "ArrowLeft" || e.key === "PageUp") show(k - 1);
  else if (e.key === "Home") show(0);
  else if (e.key === "End") show(frames.length - 1);
  else return;
  e.preventDefault();
}});
document.getElementById("prev").onclick = () => show(k - 1);
document.getElementById("next").onclick = () => show(k + 1);
show(0);
</script>
</body></html>
"""


def write_page(paths: list[Path], out: Path, title: str) -> Path:
    """One self-contained HTML page holding every frame (base64 SVG), stepped with the arrow keys."""
    import json
    import re
    frames, titles = [], []
    for p in paths:
        svg = p.read_text(encoding="utf-8")
        frames.append(json.dumps(base64.b64encode(svg.encode("utf-8")).decode("ascii")))
        m = re.search(r'class="[^"]*-title"[^>]*>([^<]*)<', svg)
        # "</" inside a script would end it: a title from the file cannot close the page's script
        titles.append(json.dumps(html.unescape(m.group(1)).replace("\xa0", " ") if m else p.stem).replace("</", "<\\/"))
    page = out / "index.html"
    text = PAGE.format(title=html.escape(title), frames=",\n".join(frames), titles=",\n".join(titles))
    page.write_text(text, encoding="utf-8")
    return page


def main(argv: list[str]) -> int:
    """`gradstep frames SCENARIO --out DIR [--from TICK --to TICK] [--size 120x40] [--html]`."""
    parser = argparse.ArgumentParser(prog="gradstep frames", description="Write one SVG of the screen per step, "
                                     "numbered, for slides; --html also writes index.html that steps through them "
                                     "with the arrow keys.")
    parser.add_argument("scenario")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write the frames into")
    parser.add_argument("--from", dest="start", type=int, default=0, metavar="TICK",
                        help="first tick (steps taken from the start; default 0)")
    parser.add_argument("--to", dest="stop", type=int, default=None, metavar="TICK",
                        help="last tick, included (default: the end of the first iteration)")
    parser.add_argument("--size", default="120x40", help="terminal size WIDTHxHEIGHT (default 120x40)")
    parser.add_argument("--html", action="store_true", help="also write DIR/index.html, one self-contained page")
    args = parser.parse_args(argv)
    try:
        size = parse_size(args.size)
    except ValueError as e:
        parser.exit(2, f"gradstep: {e}\n")
    from gradstep.engine import load_scenario
    scenario = load_scenario(args.scenario)          # a bad file: exit 2 with its message, before any terminal work
    if args.out.exists() and not args.out.is_dir():
        parser.exit(2, f"gradstep: {args.out}: not a folder\n")
    paths = asyncio.run(write_frames(Path(args.scenario), args.out, args.start, args.stop, size))
    print(f"wrote {len(paths)} frame{'s' * (len(paths) != 1)} to {args.out}")
    if args.html:
        page = write_page(paths, args.out, f"gradstep: {clip_title(scenario.title, 80)}")
        print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
