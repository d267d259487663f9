"""The live worker thread: input ring -> separation engine -> output ring.

The worker is Python: between two wake-ups it holds the GIL only for a few
small calls; the STFT, mask application and overlap-add run in C++ with the GIL
released, and the ONNX Runtime step releases it too. Everything between the
worker and the device is native (:class:`rtsep._core.LiveBridge`).
"""

from __future__ import annotations

import threading
import time

import numpy as np


class Worker:
    """Runs ``separator`` on everything the device callback pushes.

    Args:
        bridge: the :class:`rtsep._core.LiveBridge` the device callback uses.
        separator: an :class:`rtsep.engine.Separator` (its latency must equal
            ``bridge.engine_latency_samples``).
        max_chunk_samples: the most input samples handled per engine call
            (at most ``separator``'s ``max_block_samples``).

    Every input sample produces exactly one output sample, so the bridge's
    fixed delay holds. Buffers are allocated here, not per block.
    """

    def __init__(self, bridge, separator, max_chunk_samples: int = 4096,
                 realtime_priority: int = 0) -> None:
        if separator.latency_samples != bridge.engine_latency_samples:
            raise ValueError(f"separator latency {separator.latency_samples} != bridge engine latency "
                             f"{bridge.engine_latency_samples}")
        self.bridge = bridge
        self.separator = separator
        self.sample_rate_hz = float(bridge.sample_rate_hz)
        self._n = int(max_chunk_samples)
        self._input = np.zeros((2, self._n), dtype=np.float32)
        self._vocals = np.zeros((2, self._n), dtype=np.float32)
        self._instrumental = np.zeros((2, self._n), dtype=np.float32)
        self._views: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._stop = threading.Event()
        self._stall_until = 0.0
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.realtime_priority = int(realtime_priority)
        self.scheduling = "normal"
        self._scheduled = threading.Event()
        self.n_samples = 0
        self.busy_s = 0.0
        self.max_chunk_busy_ratio = 0.0  # worst compute time / audio duration of one chunk

    # -- control ---------------------------------------------------------------------

    def warm_up(self, n_samples: int = 4096, block_samples: int = 128) -> None:
        """Run the engine on silence once (first-call costs), then reset it. Before start()."""
        self._input[:, :block_samples] = 0.0
        x, vocals, instrumental = self._views_for(block_samples)
        for _ in range(max(1, n_samples // block_samples)):
            self.separator.process_into(x, vocals, instrumental)
        self.separator.reset()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rtsep-worker", daemon=True)
        self._thread.start()
        self._scheduled.wait(1.0)

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self.bridge.wake_worker()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def stall(self, seconds: float) -> None:
        """Test hook: the worker does nothing for ``seconds`` (like a very late model step)."""
        self._stall_until = time.monotonic() + float(seconds)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def load(self) -> float:
        """Compute time over audio time so far (1.0 = exactly real time)."""
        audio_s = self.n_samples / self.sample_rate_hz
        return self.busy_s / audio_s if audio_s > 0 else 0.0

    # -- the loop --------------------------------------------------------------------

    def _views_for(self, n: int):
        views = self._views.get(n)
        if views is None:
            views = (self._input[:, :n], self._vocals[:, :n], self._instrumental[:, :n])
            if len(self._views) < 64:
                self._views[n] = views
        return views

    def _set_scheduling(self) -> None:
        """SCHED_FIFO at realtime_priority for this thread, if asked for and allowed."""
        if self.realtime_priority <= 0:
            return
        import os

        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))
        except (AttributeError, OSError) as exc:  # not Linux, or no permission
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            self.scheduling = f"normal (SCHED_FIFO {self.realtime_priority} refused: {reason})"
        else:
            self.scheduling = f"SCHED_FIFO {self.realtime_priority}"

    def _run(self) -> None:
        try:
            self._set_scheduling()
            self._scheduled.set()
            self._loop()
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _loop(self) -> None:
        bridge = self.bridge
        process_into = self.separator.process_into
        clock = time.perf_counter
        while not self._stop.is_set():
            stall_left = self._stall_until - time.monotonic()
            if stall_left > 0:
                self._stop.wait(min(stall_left, 0.05))
                continue
            bridge.wait_for_input(0.05)
            while not self._stop.is_set():
                n = bridge.pop_input(self._input)
                if n == 0:
                    break
                t0 = clock()
                x, vocals, instrumental = self._views_for(n)
                process_into(x, vocals, instrumental)
                elapsed = clock() - t0
                self._push(vocals, instrumental, n)
                self.busy_s += elapsed
                self.n_samples += n
                ratio = elapsed * self.sample_rate_hz / n
                if ratio > self.max_chunk_busy_ratio:
                    self.max_chunk_busy_ratio = ratio

    def _push(self, vocals: np.ndarray, instrumental: np.ndarray, n: int) -> None:
        done = self.bridge.push_output(vocals, instrumental)
        while done < n and not self._stop.is_set():
            # The output ring is full only if the device stopped pulling; wait for it.
            self._stop.wait(0.002)
            done += self.bridge.push_output(vocals[:, done:], instrumental[:, done:])


#: Where the native worker thread runs: ``any`` (the scheduler's choice), ``follow``
#: (the CPU the device callback last ran on) or ``pin`` (the callback's thread and
#: the worker bound to the CPU the callback first ran on).
CPU_PLACEMENTS = ("pin", "follow", "any")


class NativeWorker:
    """The worker as one native thread (:class:`rtsep._core.LiveWorker`).

    Used when the model runs on the ``native`` backend: the input ring, STFT,
    model step, iSTFT and output ring are all C++, so no Python (and no GIL)
    sits between the device and the model. Same interface as :class:`Worker`.
    """

    def __init__(self, bridge, separator, max_chunk_samples: int = 4096,
                 realtime_priority: int = 0, cpu_placement: str = "any") -> None:
        from rtsep import _core

        runner = separator.runner
        if separator.latency_samples != bridge.engine_latency_samples:
            raise ValueError(f"separator latency {separator.latency_samples} != bridge engine latency "
                             f"{bridge.engine_latency_samples}")
        self.bridge = bridge
        self.sample_rate_hz = float(bridge.sample_rate_hz)
        self.realtime_priority = int(realtime_priority)
        if cpu_placement not in CPU_PLACEMENTS:
            raise ValueError(f"cpu_placement must be one of {', '.join(CPU_PLACEMENTS)}, got {cpu_placement!r}")
        self.cpu_placement = cpu_placement
        self._worker = _core.LiveWorker(bridge, runner.native_model, runner.latency_mode,
                                        int(max_chunk_samples))
        self._started = False
        self.error: BaseException | None = None  # the native thread cannot fail

    def warm_up(self, n_samples: int = 4096, block_samples: int = 128) -> None:
        self._worker.warm_up(n_samples, block_samples)

    def start(self) -> None:
        self._worker.start(max(0, self.realtime_priority), self.cpu_placement != "any",
                           self.cpu_placement == "pin")
        self._started = True

    def stop(self, timeout_s: float = 2.0) -> None:  # noqa: ARG002 - joins (bounded by one chunk)
        self._worker.stop()

    def stall(self, seconds: float) -> None:
        self._worker.stall(float(seconds))

    @property
    def scheduling(self) -> str:
        cpu = {"any": "", "follow": ", on the callback's CPU",
               "pin": ", pinned with the callback's thread to one CPU"}[self.cpu_placement]
        return self._worker.scheduling + f" (native thread{cpu})"

    @property
    def n_cpu_moves(self) -> int:
        return int(self._worker.stats()["n_cpu_moves"])

    @property
    def n_callback_pins(self) -> int:
        return int(self._worker.stats()["n_callback_pins"])

    @property
    def alive(self) -> bool:
        return self._started and self._worker.running

    @property
    def n_samples(self) -> int:
        return self._worker.stats()["n_samples"]

    @property
    def busy_s(self) -> float:
        return self._worker.stats()["busy_s"]

    @property
    def max_chunk_busy_ratio(self) -> float:
        return self._worker.stats()["max_chunk_busy_ratio"]

    @property
    def load(self) -> float:
        stats = self._worker.stats()
        audio_s = stats["n_samples"] / self.sample_rate_hz
        return stats["busy_s"] / audio_s if audio_s > 0 else 0.0
