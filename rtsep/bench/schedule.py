"""Deadline misses over a sustained run: a simulated real-time schedule in-process.

A "device" thread (the caller's) wakes every block period with ``time.sleep``
until an absolute time, as an audio callback would be called: it publishes the
next input block and checks the output that is due. A worker thread processes
published blocks through :meth:`rtsep.engine.Separator.process_into` (STFT +
model + iSTFT + mix, the live worker's path) into a preallocated ring of
output blocks. Everything is timestamped, so the misses for every scheduling
margin come out of one run: with a margin of ``M`` samples, block ``j`` misses
when its output was not complete ``M / rate`` seconds after the device thread
handed its input over (its response time exceeds the margin). A device thread
that wakes late (the simulation's own timer, not the engine) delays the input
too; such wake-ups are counted apart, as ``n_device_overruns`` when later than
a whole period (a real callback that late would be an xrun).

Reported per run: misses per margin (count and rate), the worker's response
time (input handed over -> output ready) and compute per block, and how late
the device thread itself woke.

Load: ``cpu_load(n)`` runs ``stress-ng --cpu n`` if present, else ``n``
busy-loop processes, for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

from rtsep.bench.timing import percentiles_ms

#: Margins (in device blocks) for which misses are always counted.
MARGINS_BLOCKS = (1, 2, 3, 4)


def simulate_schedule(separator, audio: np.ndarray, *, block_samples: int = 128,
                      sample_rate_hz: int = 48000, duration_s: float = 300.0,
                      margins_samples=None) -> dict:
    """Run the simulated real-time schedule for ``duration_s`` seconds.

    ``audio``: ``float32 (2, n_samples)``, fed block by block and wrapped around.
    ``margins_samples``: the scheduling margins to count misses for (default
    1, 2, 3 and 4 blocks). Returns a dict: ``n_blocks``, ``block_samples``,
    ``block_period_ms``, ``misses`` (``{str(margin_samples): {"n_misses",
    "miss_rate", "margin_samples", "margin_ms"}}``, ascending),
    ``min_margin_samples_for_zero_misses`` (None if none of the margins),
    ``response_ms`` / ``compute_ms`` / ``device_wake_late_ms`` (percentiles)
    and ``n_device_overruns``.
    """
    if block_samples < 1 or block_samples > separator.max_block_samples:
        raise ValueError(f"block_samples must be in [1, {separator.max_block_samples}], "
                         f"got {block_samples}")
    period_ns = round(1e9 * block_samples / sample_rate_hz)
    if margins_samples is None:
        margins_samples = [m * block_samples for m in MARGINS_BLOCKS]
    margins_samples = sorted({int(m) for m in margins_samples})
    if not margins_samples or margins_samples[0] < 1:
        raise ValueError(f"margins must be >= 1 sample, got {margins_samples}")
    n_blocks = max(1, int(duration_s * sample_rate_hz) // block_samples)
    n_audio_blocks = audio.shape[1] // block_samples
    blocks = [audio[:, k * block_samples:(k + 1) * block_samples] for k in range(n_audio_blocks)]
    n_ring = 64
    ring = np.zeros((2, n_ring, 2, block_samples), dtype=np.float32)
    published_ns = np.zeros(n_blocks, dtype=np.int64)
    started_ns = np.zeros(n_blocks, dtype=np.int64)
    done_ns = np.zeros(n_blocks, dtype=np.int64)
    clock = time.perf_counter_ns
    wake = threading.Semaphore(0)
    shared = {"n_published": 0, "n_done": 0, "stop": False, "error": None}

    def worker() -> None:
        j = 0
        try:
            while True:
                wake.acquire()
                if shared["stop"]:
                    return
                while j < shared["n_published"]:
                    started_ns[j] = clock()
                    slot = j % n_ring
                    separator.process_into(blocks[j % n_audio_blocks], ring[0, slot], ring[1, slot])
                    done_ns[j] = clock()
                    j += 1
                    shared["n_done"] = j
        except BaseException as exc:  # noqa: BLE001 - re-raised in the device thread
            shared["error"] = exc

    separator.reset()
    gc.collect()
    gc.freeze()  # as rtsep monitor does: no full collection walks the loaded libraries mid-run
    thread = threading.Thread(target=worker, name="rtsep-bench-worker", daemon=True)
    thread.start()
    n_device_misses = 0
    t0 = clock() + 50_000_000  # start 50 ms from now, on a clean period grid
    try:
        for k in range(n_blocks):
            target = t0 + k * period_ns
            remaining = target - clock()
            if remaining > 0:
                time.sleep(remaining * 1e-9)
            published_ns[k] = clock()
            shared["n_published"] = k + 1
            wake.release()
            if k >= 1 and shared["n_done"] <= k - 1:
                n_device_misses += 1  # what a callback one block later sees missing now
            if shared["error"] is not None:
                break
    finally:
        # Let the worker finish what it holds (bounded), then stop it.
        deadline = time.monotonic() + 5.0
        while shared["n_done"] < shared["n_published"] and time.monotonic() < deadline \
                and shared["error"] is None:
            time.sleep(0.001)
        shared["stop"] = True
        wake.release()
        thread.join(timeout=5.0)
        gc.unfreeze()
    if shared["error"] is not None:
        raise RuntimeError(f"worker failed: {shared['error']}") from shared["error"]

    n_run = shared["n_published"]
    published, started, done = published_ns[:n_run], started_ns[:n_run], done_ns[:n_run]
    not_done = done == 0
    ticks = t0 + np.arange(n_run, dtype=np.int64) * period_ns
    misses = {}
    zero_margin = None
    for m in margins_samples:
        margin_ns = round(1e9 * m / sample_rate_hz)
        late = not_done | (done > published + margin_ns)
        n_miss = int(np.count_nonzero(late))
        misses[str(m)] = {"n_misses": n_miss, "miss_rate": n_miss / n_run,
                          "margin_samples": m, "margin_ms": margin_ns * 1e-6}
        if n_miss == 0 and zero_margin is None:
            zero_margin = m
    finished = ~not_done
    wake_late_s = (published - ticks) * 1e-9
    return {
        "n_blocks": int(n_run), "block_samples": block_samples, "sample_rate_hz": sample_rate_hz,
        "block_period_ms": period_ns * 1e-6, "duration_s": n_run * period_ns * 1e-9,
        "misses": misses, "min_margin_samples_for_zero_misses": zero_margin,
        "n_device_observed_misses_at_one_block": n_device_misses,
        "response_ms": percentiles_ms((done[finished] - published[finished]) * 1e-9),
        "compute_ms": percentiles_ms((done[finished] - started[finished]) * 1e-9),
        "device_wake_late_ms": percentiles_ms(wake_late_s),
        "n_device_overruns": int(np.count_nonzero(wake_late_s > period_ns * 1e-9)),
    }


def n_other_cores() -> int:
    """Cores left for the load when one is kept for the benchmark (at least 1)."""
    return max(1, (os.cpu_count() or 2) - 1)


@contextlib.contextmanager
def cpu_load(n_workers: int, max_duration_s: float):
    """Keep ``n_workers`` cores busy inside the ``with`` block; yields a description.

    Uses ``stress-ng --cpu n_workers`` when it is installed, else one
    ``while True: pass`` Python process per worker. The processes get a
    timeout of ``max_duration_s`` as a backstop and are ended (by pid) on exit.
    """
    procs: list[subprocess.Popen] = []
    stress = shutil.which("stress-ng")
    timeout_s = max(1, int(max_duration_s) + 1)
    if stress:
        procs.append(subprocess.Popen([stress, "--cpu", str(n_workers), "--timeout", f"{timeout_s}s",
                                       "--quiet"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        what = f"stress-ng --cpu {n_workers}"
    else:
        code = f"import time\nend = time.monotonic() + {timeout_s}\nwhile time.monotonic() < end: pass"
        for _ in range(n_workers):
            procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        what = f"{n_workers} busy-loop process(es) (stress-ng not found)"
    try:
        time.sleep(0.5)  # let the load ramp up
        yield what
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
