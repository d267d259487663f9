"""``--record``: write what the device plays to a WAV file, off the audio thread.

The device callback copies its routed output (2 channels, or 4 for mode
``both``) into a lock-free record ring; this thread drains the ring and writes
32-bit float WAV. If the disk is slow the ring fills and the callback counts
the dropped frames (``n_record_dropped_frames``); it never waits.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from rtsep.errors import UserError


class Recorder:
    """Drains ``bridge.pop_record`` into ``path`` (float32 WAV, ``bridge.n_routed_channels``)."""

    def __init__(self, bridge, path: str | Path, sample_rate_hz: int, chunk_samples: int = 8192) -> None:
        import soundfile as sf

        self.bridge = bridge
        self.path = Path(path)
        try:
            self._file = sf.SoundFile(str(self.path), mode="w", samplerate=int(sample_rate_hz),
                                      channels=bridge.n_routed_channels, subtype="FLOAT", format="WAV")
        except (RuntimeError, OSError) as exc:  # soundfile's LibsndfileError is a RuntimeError
            raise UserError(f"{self.path}: cannot write the recording ({str(exc).splitlines()[0]})") from None
        self._buffer = np.zeros((bridge.n_routed_channels, chunk_samples), dtype=np.float32)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.n_samples = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rtsep-recorder", daemon=True)
        self._thread.start()

    def _drain(self) -> int:
        n = self.bridge.pop_record(self._buffer)
        if n:
            self._file.write(self._buffer[:, :n].T)
            self.n_samples += n
        return n

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._drain() == 0:
                    self._stop.wait(0.02)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def stop(self) -> None:
        """Stop after writing everything recorded so far (after the stream stopped). Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._file.closed:
            return
        if self.error is None:
            while self._drain():
                pass
        self._file.close()
