"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks and print a Markdown summary."""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback

import numpy as np

from .report import Figure, table

BENCHMARKS = ("two_layer", "wide_net", "models", "optim", "breakpoints", "stepping", "time_travel", "scaling",
              "tui_latency", "tui_scale", "tui_playback", "tui_continue", "startup")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (fewer rounds, smaller sizes)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    figures = []
    correct = True
    print("# gradstep benchmarks" + (" (--quick: short smoke run, rough figures)" if args.quick else ""))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    for name in [b for b in BENCHMARKS if not args.only or b in args.only]:
        try:
            module = importlib.import_module(f"bench.{name}")
            figs, ok = module.run(args.quick)
        except Exception:          # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            figs, ok = [Figure(f"{name}: the benchmark crashed", "see the traceback above", "runs", False)], False
        figures += figs
        correct &= ok
    command = "python -m bench" + (" --quick" if args.quick else "") + (f" --only {' '.join(args.only)}" if args.only else "")
    print(f"\n## Summary (`{command}`, {time.perf_counter() - start:.0f} s)\n")
    print(table(figures))
    if not correct:
        print("\nA benchmark crashed or a correctness check failed (see above).", file=sys.stderr)
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
