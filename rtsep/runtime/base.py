"""The runner interface shared by every backend."""

from __future__ import annotations

import numpy as np

from rtsep.config import StftGeometry
from rtsep.runtime.modelfile import ModelFile


class Runner:
    """Runs an exported model one STFT frame at a time, keeping its state inside.

    ``step(frame)`` takes a ``complex64`` frame of shape ``(2, n_bins)``
    (C-contiguous; the engine's view, read without a copy where the backend
    allows) and returns the vocal mask, ``float32`` ``(2, n_bins)`` in [0, 1]:
    a view into a buffer owned by the runner, overwritten by the next ``step``
    (copy it to keep it). ``reset()`` zeroes the state. Buffers are allocated
    in the constructor; ``step`` does not allocate arrays. Not thread-safe:
    one runner per stream, stepped from one thread (the engine's worker).

    Attributes: ``backend`` (name), ``metadata`` (the file's metadata dict),
    ``geometry`` (:class:`StftGeometry` of the chosen latency mode),
    ``latency_samples`` (fixed in/out block engine delay of that mode),
    ``sample_rate_hz``, ``latency_mode``, ``path``, ``n_bins``.
    """

    backend = "none"

    def __init__(self, model_file: ModelFile, *, latency_mode: str, sample_rate_hz: int):
        model_file.check_sample_rate(sample_rate_hz)
        self.path = model_file.path
        self.metadata = model_file.metadata
        self.geometry: StftGeometry = model_file.geometry(latency_mode)
        self.latency_mode = latency_mode
        self.sample_rate_hz = int(sample_rate_hz)
        self.n_bins = self.geometry.n_bins
        self.state_specs = model_file.state_specs()
        self._frame_shape = (2, self.n_bins)
        self._mask = np.zeros((2, self.n_bins), dtype=np.float32)

    @property
    def latency_samples(self) -> int:
        return self.geometry.latency_samples

    @property
    def latency_ms(self) -> float:
        return self.geometry.latency_ms(self.sample_rate_hz)

    def _check_frame(self, frame: np.ndarray) -> None:
        if (type(frame) is not np.ndarray or frame.dtype != np.complex64
                or frame.shape != self._frame_shape or not frame.flags.c_contiguous):
            raise ValueError(
                f"frame must be a C-contiguous complex64 array of shape {self._frame_shape}, got "
                f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}")

    def step(self, frame: np.ndarray) -> np.ndarray:
        """One frame ``complex64 (2, n_bins)`` -> mask ``float32 (2, n_bins)`` (a view)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Zero the recurrent/convolution state (start of a new stream)."""
        raise NotImplementedError

    def warm_up(self, n_steps: int = 3) -> None:
        """Run ``n_steps`` on silence (first-run allocations, JIT), then reset."""
        silence = np.zeros(self._frame_shape, dtype=np.complex64)
        for _ in range(n_steps):
            self.step(silence)
        self.reset()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(path={str(self.path)!r}, backend={self.backend!r}, "
                f"latency_mode={self.latency_mode!r}, sample_rate_hz={self.sample_rate_hz}, "
                f"latency_samples={self.latency_samples})")
