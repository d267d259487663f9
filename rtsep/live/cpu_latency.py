"""The host's CPUs and audio timing: a PM QoS wake-up latency request, and steal.

Keep the CPUs out of deep idle states while audio runs (Linux PM QoS):

An idle CPU that has gone into a deep idle state (on a virtual machine: halted,
its host thread descheduled) can take milliseconds to wake up for the worker,
longer than the worker's deadline. Linux lets a process ask for a ceiling on
that wake-up latency: write it (microseconds, native ``int32``) to
``/dev/cpu_dma_latency`` and keep the file open; the request ends when the file
is closed (or the process dies). ``cyclictest`` and tuned's latency profiles do
the same. It costs power: the idle CPUs poll instead of sleeping.
"""

from __future__ import annotations

import os
import struct
import sys

PM_QOS_DEVICE = "/dev/cpu_dma_latency"


class CpuLatencyRequest:
    """A held PM QoS CPU wake-up latency request (a no-op where unavailable).

    ``status`` says what happened, in words, for the start line and the summary.
    """

    def __init__(self, max_us: int | None, device: str = PM_QOS_DEVICE):
        self.max_us = max_us
        self._fd: int | None = None
        if max_us is None:
            self.status = "not requested"
            return
        if max_us < 0:
            raise ValueError(f"CPU wake-up latency must be >= 0 us, got {max_us}")
        if not sys.platform.startswith("linux"):
            self.status = "not available on this system"
            return
        try:
            fd = os.open(device, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.status = f"not held ({device}: {exc.strerror or exc})"
            return
        try:
            os.write(fd, struct.pack("=i", int(max_us)))
        except OSError as exc:
            os.close(fd)
            self.status = f"not held ({device}: {exc.strerror or exc})"
            return
        self._fd = fd
        self.status = f"held at {max_us} us ({device})"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "CpuLatencyRequest":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def cpu_steal_times() -> tuple[int, int]:
    """``(steal, total)`` jiffies of all CPUs so far, from ``/proc/stat`` (``(0, 0)``
    where absent). Steal is the time a virtual machine's CPUs were ready to run
    but the hypervisor ran something else: a share of it during a run says how
    much of that run's timing belongs to the host."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """Share of CPU time stolen by the hypervisor between two :func:`cpu_steal_times`."""
    total = after[1] - before[1]
    return None if total <= 0 else (after[0] - before[0]) / total
