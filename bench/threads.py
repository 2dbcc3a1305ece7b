"""This process's threads: waiting for BLAS workers to go idle, and fixing how many threads BLAS uses.

OpenBLAS, MKL and OpenMP read their thread count once, when the library loads, so a benchmark
that reports figures at one BLAS thread and at the default runs each setting in its own process
with `thread_env`; `blas_threads` asks the loaded OpenBLAS what it actually uses.
"""
from __future__ import annotations

import ctypes
import os
import statistics
import threading
import time
from dataclasses import dataclass, field

TASKS = "/proc/self/task"
# Each library's own variable; OMP_NUM_THREADS also sets PyTorch's intra-op pool.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads: int | None) -> dict[str, str]:
    """This process's environment with every BLAS thread variable set to `threads`, or all removed (None: the libraries' defaults)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if threads is not None:
        env.update({k: str(threads) for k in THREAD_VARIABLES})
    return env


def blas_threads() -> int | None:
    """Threads the OpenBLAS that NumPy loaded will use, or None if it cannot be asked."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                       "openblas_get_num_threads64_", "openblas_get_num_threads"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                return int(fn())
    return None


def other_threads() -> tuple[bool, dict[int, int]] | None:
    """(is any other thread of this process runnable now, each other thread's CPU ticks so far), or None without /proc.

    A spinning BLAS worker is runnable (state R) for its whole spin; a sleeping one is in S. The
    CPU ticks (utime + stime) catch a thread that ran between two looks.
    """
    me = threading.get_native_id()
    try:
        tids = [int(t) for t in os.listdir(TASKS)]
    except OSError:
        return None
    running, ticks = False, {}
    for tid in tids:
        if tid == me:
            continue
        try:
            with open(f"{TASKS}/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:                    # the thread ended between listing and reading
            continue
        fields = stat[stat.rindex(b")") + 2:].split()     # after "pid (comm) "; comm may hold spaces
        running |= fields[0] == b"R"
        ticks[tid] = int(fields[11]) + int(fields[12])   # utime, stime: fields 14 and 15 of stat
    return running, ticks


@dataclass
class ThreadsIdle:
    """Called between contenders: returns once this process's other threads have been idle for `quiet` seconds.

    Idle means no other thread runnable and no CPU time added. The first look costs nothing when
    nothing ran since the previous call (no BLAS call woke a worker), so small nets pay no wait.
    Each call's wait is kept in `waits`; `timeouts` counts calls that gave up after `timeout` s
    (a thread that never sleeps). Without /proc the threads cannot be watched and nothing waits.
    """

    quiet: float = 0.020
    timeout: float = 0.5
    poll: float = 0.002
    waits: list[float] = field(default_factory=list)
    timeouts: int = 0
    watched: bool = True
    _ticks: dict[int, int] = field(default_factory=dict)
    _since: float = 0.0

    def __call__(self) -> None:
        clock = time.perf_counter
        t0 = clock()
        while True:
            look = other_threads()
            if look is None:
                self.watched = False
                return
            now = clock()
            running, ticks = look
            # A thread that ended is no change; one that is new, or used CPU since the last look, is.
            changed = running or any(self._ticks.get(tid) != t for tid, t in ticks.items())
            self._ticks = ticks
            if changed:
                self._since = now
            elif now - self._since >= self.quiet:
                break
            if now - t0 >= self.timeout:
                self.timeouts += 1
                break
            time.sleep(self.poll)
        self.waits.append(clock() - t0)

    def summary(self) -> str:
        """One line on what the waits cost, for the benchmark's report."""
        if not self.watched:
            return "other threads not watched (no /proc): no idle-wait between contenders"
        if not self.waits:
            return "no idle-wait between contenders"
        waited = [w for w in self.waits if w > 0.001]
        text = (f"between contenders, waited for other threads to go idle {len(waited)} of {len(self.waits)} times"
                + (f" (median {statistics.median(waited) * 1e3:.0f} ms)" if waited else ""))
        return text + (f", {self.timeouts} timed out after {self.timeout:g} s" if self.timeouts else "")


