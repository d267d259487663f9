"""The live worker thread: the bridge's input ring -> block processor -> output ring.

One implementation, :class:`rtsep._core.LiveWorker` (C++): everything between the
worker and the device is native (:class:`rtsep._core.LiveBridge`); with the native
model no Python runs on the worker either.
"""

from __future__ import annotations


#: Where the native worker thread runs: ``any`` (the scheduler's choice), ``follow``
#: (the CPU the device callback last ran on) or ``pin`` (the callback's thread and
#: the worker bound to the CPU the callback first ran on).
CPU_PLACEMENTS = ("pin", "follow", "any")


class Worker:
    """The worker thread (:class:`rtsep._core.LiveWorker`) over a bridge's block processor.

    Args:
        bridge: the :class:`rtsep._core.LiveBridge` (worker mode) the device callback
            uses; the worker runs its ``processor`` in chunks of up to the processor's
            ``max_block_samples``.
        realtime_priority: SCHED_FIFO priority asked for (0: normal).
        cpu_placement: one of :data:`CPU_PLACEMENTS`.

    With the native model the input ring, STFT, model step, iSTFT and output ring
    are all C++, so no Python (and no GIL) sits between the device and the model; a
    Python runner (ONNX Runtime, TorchScript) takes the GIL for its step. Every
    input sample produces exactly one output sample, so the bridge's fixed delay
    holds. If the model raises, the thread stops and :attr:`error` says why.
    """

    def __init__(self, bridge, realtime_priority: int = 0, cpu_placement: str = "any") -> None:
        from rtsep import _core

        self.bridge = bridge
        self.sample_rate_hz = float(bridge.sample_rate_hz)
        self.realtime_priority = int(realtime_priority)
        if cpu_placement not in CPU_PLACEMENTS:
            raise ValueError(f"cpu_placement must be one of {', '.join(CPU_PLACEMENTS)}, got {cpu_placement!r}")
        self.cpu_placement = cpu_placement
        self._worker = _core.LiveWorker(bridge)
        self._started = False

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
    def error(self) -> RuntimeError | None:
        """Why the thread stopped on its own (a model that raised), else None."""
        message = "" if not self._started or self._worker.running else self._worker.error
        return RuntimeError(message) if message else None

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
