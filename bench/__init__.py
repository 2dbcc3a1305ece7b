"""gradstep's benchmarks: `python -m bench` (or `make bench`) prints every figure and a summary table.

Each figure is a ratio measured side by side in one run (interleaved rounds in a fresh random
order, median of many), or a size, so it holds on a noisy, shared machine. One module per
benchmark: two_layer, wide_net, stepping, time_travel, scaling (engine), tui_latency, tui_playback,
startup (TUI and command); timing.py measures, threads.py waits for BLAS threads to go idle and
fixes their number, frameworks.py holds the optional PyTorch and JAX contenders, headless.py
instruments the app, report.py prints the summary, chain.py writes the deep chains.
Benchmark-only scenarios live in bench/scenarios/.
"""
