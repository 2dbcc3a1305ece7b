"""Export the README's screenshot: the main screen mid-backward-pass on the two-layer scenario.

    python -m tui.screenshot docs/screenshot.svg [--size 120x40]

Uses Textual's own SVG export inside a headless run, so the picture is what the app draws.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gradstep.scenarios import bundled_dir

from .app import GradstepApp

# Twenty iterations (so the loss curve has a shape), then the forward phase, the seed and five backward steps.
KEYS = ("c",) * 20 + ("f", "n", "n", "n", "n", "n", "n")


async def export(path: Path, size: tuple[int, int]) -> None:
    app = GradstepApp(bundled_dir() / "two_layer.toml", watch_file=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press(*KEYS)
        await pilot.pause()
        svg = app.export_screenshot(title="gradstep: two-layer network, mid-backward-pass")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the SVG file to write")
    parser.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT (default 120x40)")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like 120x40, not {args.size!r}")
    asyncio.run(export(args.output, (width, height)))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
