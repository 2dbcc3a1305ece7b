"""Limits that keep an untrusted scenario from exhausting memory or time (documented in scenarios/README.md)."""

MAX_ELEMENTS = 4_000_000          # elements in one tensor (32 MB of float64)
MAX_TOTAL_ELEMENTS = 16_000_000   # elements over all declared values, params and data
MAX_EXPRESSION_CHARS = 4_000      # characters in one [graph] expression
MAX_EXPRESSION_DEPTH = 64         # nesting depth of one expression
MAX_NODES = 20_000                # nodes in the whole program
MAX_STEPS = 10_000_000            # training iterations in [train] steps
MAX_CSV_BYTES = 8_000_000         # size of a CSV data file
MAX_CSV_ROWS = 200_000            # rows of a CSV data file
MAX_FILE_BYTES = 4_000_000        # size of a scenario file
MAX_AXES = 8                      # axes of one tensor
