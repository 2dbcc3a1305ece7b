"""gradstep's benchmarks: `python -m bench` (or `make bench`) prints every figure and a summary table.

Each figure is a ratio measured side by side in one run (interleaved rounds, median of many), or a
size, so it holds on a noisy, shared machine. One module per benchmark; timing.py measures,
report.py prints the summary.
"""
