"""The `gradstep` console script: headless commands go to the engine's CLI, anything else opens the TUI.

It sits on the UI side so that dependencies point one way (tui -> engine). Textual is imported only
when the TUI really opens, so `gradstep --help` and `gradstep run` never pay for it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gradstep.engine import cli
from gradstep.engine.display import visible
from gradstep.scenarios import default_scenario


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in cli.COMMANDS:
        return cli.main(argv)
    if argv and argv[0] in UI_COMMANDS:          # commands that run the app itself: imported only when used
        return cli.guarded(UI_COMMANDS[argv[0]](), argv[1:])
    return cli.guarded(_tui, argv)


def _frames():
    from .frames import main as frames
    return frames


def _serve():
    from .serve import main as serve
    return serve


UI_COMMANDS = {"frames": _frames, "serve": _serve}


def _tui(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gradstep",
        description="A terminal step-debugger for backpropagation. With no command, opens the TUI.",
        epilog=f"commands (headless): {', '.join(cli.COMMANDS)}; frames (SVG for slides), serve (in a browser); "
               f"see `gradstep COMMAND --help`")
    parser.add_argument("scenario", nargs="?", help="scenario TOML file (default: the bundled two-layer net)")
    parser.add_argument("--version", action="version", version="gradstep 0.1.0")
    args = parser.parse_args(argv)
    path = Path(args.scenario) if args.scenario else default_scenario()
    shown = visible(str(path), newlines=False)       # a file name may hold escapes: never printed raw
    try:                                             # a name too long, a folder that cannot be entered
        exists, is_file = path.exists(), path.is_file()
    except OSError as e:
        print(f"gradstep: {shown}: {e.strerror or e}", file=sys.stderr)
        return 2
    if not exists:
        print(f"gradstep: {shown}: no such scenario file", file=sys.stderr)
        return 2
    if not is_file:
        print(f"gradstep: {shown}: not a scenario file (a folder or a device)", file=sys.stderr)
        return 2
    from .app import run_app      # textual is imported only here
    return run_app(path)
