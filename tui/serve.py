"""`gradstep serve [SCENARIO] [--port N] [--host H]`: the same TUI in a web browser, through textual-serve (the
optional extra gradstep[web], imported only here). Each browser tab runs its own app process:
`python -m gradstep.tui.serve SCENARIO`, which is this module's child entry point.

There is no authentication: whoever reaches the port drives an app that can open files (the file picker), so the
server binds 127.0.0.1 unless --host says otherwise, and says so when it starts.

GRADSTEP_EVENT_LOG=FILE makes each served app append one line per change of tick ("tick 3 forward") to FILE: a
browser test reads it, since the page draws the terminal on a canvas that has no text to read.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

EVENT_LOG = "GRADSTEP_EVENT_LOG"
INSTALL = "gradstep serve needs the textual-serve package: pip install 'gradstep[web]'"


def command(scenario: Path) -> str:
    """The shell command textual-serve runs for each browser session."""
    return shlex.join([sys.executable, "-m", "gradstep.tui.serve", str(scenario)])


def main(argv: list[str]) -> int:
    """Serve the TUI over HTTP until interrupted."""
    from gradstep.scenarios import default_scenario
    parser = argparse.ArgumentParser(prog="gradstep serve", description="Serve the gradstep TUI to a web browser "
                                     "(textual-serve). No authentication: it binds 127.0.0.1 unless --host is given.")
    parser.add_argument("scenario", nargs="?", help="scenario TOML file (default: the bundled two-layer net)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.exit(2, f"gradstep: --port {args.port}: a port is from 1 to 65535\n")
    path = Path(args.scenario) if args.scenario else default_scenario()
    if not path.is_file():
        parser.exit(2, f"gradstep: {path}: no such scenario file\n")
    try:
        from textual_serve.server import Server
    except ImportError:
        sys.stderr.write(f"gradstep: {INSTALL}\n")
        return 2
    from gradstep.engine import load_scenario
    scenario = load_scenario(path)            # a bad file: exit 2 with its message, not a page that fails later
    url = f"http://{args.host}:{args.port}"
    sys.stderr.write(f"gradstep: warning: no authentication: anyone who can reach {args.host}:{args.port} drives "
                     f"the app, and it can open files{'' if args.host in ('127.0.0.1', 'localhost', '::1') else ' (--host makes it reachable from other machines)'}\n")
    sys.stderr.write(f"gradstep: serving {scenario.title!r} at {url} (ctrl+c stops)\n")
    sys.stderr.flush()
    Server(command(path.resolve()), host=args.host, port=args.port, title=f"gradstep: {scenario.title}").serve()
    return 0


def child(argv: list[str]) -> int:
    """One browser session's app: the TUI on a scenario, with the event log when asked for."""
    from .app import GradstepApp

    log = os.environ.get(EVENT_LOG)

    class ServedApp(GradstepApp):
        def watch_tick(self) -> None:
            super().watch_tick()
            if log and self.stepper is not None:
                with open(log, "a", encoding="utf-8") as f:
                    f.write(f"tick {self.tick} {self.stepper.cursor.phase.value}\n")

        def adopt(self, st, reloaded: bool) -> None:
            super().adopt(st, reloaded)
            if log:
                with open(log, "a", encoding="utf-8") as f:
                    f.write(f"loaded {st.scenario.path or ''} tick {st.tick}\n")

    app = ServedApp(Path(argv[0]))
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))
