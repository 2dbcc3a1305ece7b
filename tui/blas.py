"""BLAS on one thread while the app runs: a step's matrix product then costs what it computes.

OpenBLAS's worker threads fall asleep about 100 ms after their last call, and each key press comes
later than that: waking the pool cost 4 to 40 ms per product (and up to 16 ms for a norm) on a busy
2-core machine, more than a whole frame, against 0.7 ms for the same (64, 784) @ (784, 256) product on
the UI's own thread. One thread also leaves the other core to drawing while a background run trains.
OPENBLAS_NUM_THREADS, when the user sets it, wins. Nothing here imports textual.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

# The setter's name in each OpenBLAS build NumPy ships or links (scipy-openblas prefixes its own).
SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
           "openblas_set_num_threads")


def _libraries() -> list[Path]:
    import numpy
    root = Path(numpy.__file__).parent
    out = []
    for folder in (root.parent / "numpy.libs", root / ".dylibs", root.parent / "numpy.libs" / "lib"):
        if folder.is_dir():
            out += sorted(p for p in folder.iterdir() if "openblas" in p.name.lower())
    return out


def one_thread() -> bool:
    """Ask the BLAS NumPy uses for one thread; False when it is not an OpenBLAS found here (nothing changes)."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return False
    for path in _libraries():
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        for name in SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(1)
                return True
    return False
