"""Limits that keep an untrusted scenario from exhausting memory or time (documented in scenarios/README.md).

Every limit is checked before the memory or time it guards is spent, and its error names it. The
values leave ample room for teaching scenarios: a 784 -> 256 -> 10 net with batches of 64 uses about
a twentieth of each (tests/engine/test_limits.py checks that and every bundled scenario).
"""

# Files
MAX_FILE_BYTES = 4_000_000           # size of a scenario file
MAX_CSV_BYTES = 8_000_000            # size of a CSV data file
MAX_SAFETENSORS_HEADER_BYTES = 16_000_000   # JSON header of a .safetensors weights file
MAX_WEIGHTS_BYTES = 200_000_000      # size of a .safetensors weights file
MAX_CSV_ROWS = 200_000               # data rows of a CSV file (the header not counted)

# Tensors
MAX_ELEMENTS = 4_000_000             # elements in one tensor (32 MB of float64)
MAX_AXES = 8                         # axes of one tensor
MAX_TOTAL_ELEMENTS = 16_000_000      # elements over all values, params and data together
MAX_GRAPH_ELEMENTS = 32_000_000      # elements over every node of the program (one iteration's values)

# Expressions and programs
MAX_EXPRESSION_CHARS = 4_000         # characters in one [graph] expression
MAX_EXPRESSION_DEPTH = 64            # nesting of one expression: brackets, or operations inside operations
MAX_NODES = 20_000                   # nodes in the whole program
MAX_KEPT_ELEMENTS = 64_000_000       # elements one iteration keeps to step back exactly: values, gradients,
                                     # every gradient contribution and the gradient each one replaced

# Time
MAX_STEPS = 10_000_000               # training iterations ([train] steps, or --steps)
MAX_WORK_PER_ITERATION = 2_000_000_000   # estimated multiply-adds of one forward pass
MAX_TOTAL_WORK = 2_000_000_000_000   # estimated multiply-adds of a whole forward replay (steps x work)
MAX_TRACE_BYTES = 2_000_000_000      # bytes `gradstep trace` may write (its first iteration's size x steps)

# Breakpoints and watches (conditions are untrusted input like the rest of a scenario)
MAX_BREAKPOINTS = 64                 # breakpoints at once, from the file and the TUI together
MAX_WATCHES = 32                     # watch expressions at once
MAX_CONDITION_CHARS = 1_000          # characters in one condition or watch
MAX_CONDITION_DEPTH = 32             # nesting of one condition: brackets, or operations inside operations
