"""Timing helpers shared by ``rtsep bench`` and the scripts in ``benchmarks/``.

All durations come in as seconds (``float64`` arrays) and go out as
milliseconds in dicts, with the unit in every key name.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

#: Percentiles reported for every per-call timing, with their key suffixes.
PERCENTILES = ((50.0, "p50"), (99.0, "p99"), (99.9, "p99_9"))


def best_of(n_repeats: int, fn: Callable[[], object]) -> float:
    """Smallest wall time of ``n_repeats`` calls of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(n_repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def time_each(fn: Callable[[int], object], n_calls: int, n_warmup: int = 0) -> np.ndarray:
    """Seconds taken by each of ``n_calls`` calls ``fn(k)``, ``float64 (n_calls,)``.

    ``fn(k)`` is called with ``k = 0 .. n_warmup + n_calls - 1``; the first
    ``n_warmup`` calls are not timed. The clock is ``time.perf_counter_ns``.
    """
    for k in range(n_warmup):
        fn(k)
    times_ns = np.empty(n_calls, dtype=np.int64)
    clock = time.perf_counter_ns
    for k in range(n_calls):
        t0 = clock()
        fn(n_warmup + k)
        times_ns[k] = clock() - t0
    return times_ns.astype(np.float64) * 1e-9


def time_steps(runner, frames: np.ndarray, n_steps: int, n_warmup: int) -> np.ndarray:
    """Seconds per ``runner.step(frame)`` call, ``float64 (n_steps,)``.

    ``frames``: ``complex64 (n_frames, 2, n_bins)``, used cyclically. The
    runner is reset before warm-up and again before the timed steps.
    """
    runner.reset()
    for k in range(n_warmup):
        runner.step(frames[k % len(frames)])
    runner.reset()
    return time_each(lambda k: runner.step(frames[k % len(frames)]), n_steps)


def percentiles_ms(times_s: np.ndarray) -> dict:
    """``{"n_calls", "mean_ms", "p50_ms", "p99_ms", "p99_9_ms", "max_ms"}`` of ``times_s``."""
    ms = np.asarray(times_s, dtype=np.float64) * 1e3
    if ms.size == 0:
        raise ValueError("no timings to summarize")
    row = {"n_calls": int(ms.size), "mean_ms": float(ms.mean())}
    for q, name in PERCENTILES:
        row[f"{name}_ms"] = float(np.percentile(ms, q))
    row["max_ms"] = float(ms.max())
    return row


def summarize(times_s: np.ndarray, hop_samples: int, sample_rates_hz: Iterable[int]) -> dict:
    """Per-hop timings as percentiles plus shares of the hop period per sample rate.

    Returns :func:`percentiles_ms` (with ``n_steps`` = ``n_calls``) and
    ``per_rate[str(rate)] = {"hop_period_ms", "p50_share", "p99_share",
    "p99_9_share", "max_share", "rtf"}``: a share is a time divided by the hop
    period (``hop_samples / rate``); ``rtf`` is the mean time divided by it.
    """
    row = percentiles_ms(times_s)
    row["n_steps"] = row["n_calls"]
    row["per_rate"] = {}
    for rate in sample_rates_hz:
        hop_ms = 1e3 * hop_samples / rate
        shares = {f"{name}_share": row[f"{name}_ms"] / hop_ms for _, name in PERCENTILES}
        row["per_rate"][str(rate)] = {"hop_period_ms": hop_ms, **shares,
                                      "max_share": row["max_ms"] / hop_ms,
                                      "rtf": row["mean_ms"] / hop_ms}
    return row
