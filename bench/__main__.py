"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks and print a Markdown summary."""
from __future__ import annotations

import argparse
import importlib
import sys
import time

from .report import table

BENCHMARKS = ("two_layer", "wide_net", "stepping", "time_travel", "scaling")


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
    for name in [b for b in BENCHMARKS if not args.only or b in args.only]:
        module = importlib.import_module(f"bench.{name}")
        figs, ok = module.run(args.quick)
        figures += figs
        correct &= ok
    print(f"\n## Summary (`make bench`, {time.perf_counter() - start:.0f} s)\n")
    print(table(figures))
    if not correct:
        print("\nA correctness check failed (see above): the figures compare unequal computations.",
              file=sys.stderr)
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
