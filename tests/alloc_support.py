"""Measure what a piece of code allocates, robust to the rest of the test process.

tracemalloc traces every thread of the process and the garbage collector's finalizers,
so one window can catch a few kB allocated by a thread or an object left by an earlier
test. An allocation made by the code under test recurs in every window; that noise does
not. ``peak_bytes(fn)`` runs ``fn`` in ``windows`` windows, with the collector run before
and paused during each, and returns the smallest (peak - start, end - start) pair.
"""

from __future__ import annotations

import gc
import tracemalloc


def peak_bytes(fn, windows: int = 3) -> tuple[int, int]:
    best = None
    was_enabled = gc.isenabled()
    for _ in range(windows):
        gc.collect()
        gc.disable()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            fn()
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            if was_enabled:
                gc.enable()
        pair = (peak - base, current - base)
        best = pair if best is None else min(best, pair)
    return best
