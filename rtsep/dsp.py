"""Streaming DSP over the C++ core: STFT, inverse STFT and the fixed-latency engine.

Thin Python faces over :mod:`rtsep._core` with the streaming lifecycle used all
over rtsep: configure in the constructor, ``process()`` returns what is ready
(the STFT and inverse STFT; the engine goes a hop at a time), ``flush()`` drains,
``reset()`` clears, ``latency_samples`` is read-only.

Array conventions (see :mod:`rtsep.config`):

* audio: ``float32`` ``(n_channels, n_samples)``; every row contiguous (row
  slices such as ``x[:, a:b]`` are fine and are not copied);
* frames: ``complex64`` ``(n_frames, n_channels, n_bins)``, one frame
  ``(n_channels, n_bins)``;
* masks: ``float32`` (real) or ``complex64`` (complex) ``(n_channels, n_bins)``.

Inputs are never converted: a ``float64`` array raises ``TypeError`` and an
array with non-contiguous rows raises ``ValueError`` (pass
``np.ascontiguousarray(x, dtype=np.float32)``), because a silent conversion
would allocate on every block and hide a dtype mistake upstream. Zero-length
blocks are valid and return zero-length results. NaN/Inf input samples are
replaced by 0 (and NaN/Inf mask values treated as 0) and counted in
``n_nonfinite_replaced``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from rtsep.config import StftGeometry

try:
    from rtsep import _core
except ImportError as exc:  # the extension is missing or was built for another Python
    raise ImportError(
        "rtsep._core (the C++ streaming core) is not built or failed to load; run "
        "`pip install --no-build-isolation -e .` in the project root "
        f"(original error: {exc})") from exc

#: Linear vocals/instrumental mixer with click-free gain ramps (see ``_core.Mixer``).
Mixer = _core.Mixer


def _require_audio(x: np.ndarray, name: str = "x") -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of float32, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_channels, n_samples), got shape {x.shape}")


class StreamingStft:
    """Streaming STFT analysis with the analysis window of ``geometry``.

    Every ``hop_samples`` input samples complete one frame: the rfft of the
    analysis window times the last ``n_fft`` samples (zeros before the start).
    A frame is emitted as soon as its newest sample arrives, so
    ``latency_samples`` is 0 (partial hops wait in a buffer).
    """

    def __init__(self, geometry: StftGeometry, n_channels: int = 2) -> None:
        self.geometry = geometry
        self._core = _core.StreamingStft(
            geometry.n_fft, geometry.hop_samples, geometry.analysis_window(), n_channels)

    @property
    def n_channels(self) -> int:
        return self._core.n_channels

    @property
    def n_bins(self) -> int:
        return self._core.n_bins

    @property
    def latency_samples(self) -> int:
        return 0

    @property
    def n_nonfinite_replaced(self) -> int:
        return self._core.n_nonfinite_replaced

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed ``x``: float32 ``(n_channels, n_samples)``.

        Returns the frames completed, complex64 ``(n_frames, n_channels, n_bins)``.
        """
        return self._core.process(x)

    def flush(self) -> np.ndarray:
        """Drain: zero-pad the partial hop and feed silence until no frame holds input.

        Returns those frames, complex64 ``(n_frames, n_channels, n_bins)`` (none if
        nothing was fed since the last flush). An inverse STFT fed every frame and
        then flushed has output every input sample.
        """
        return self._core.flush()

    def reset(self) -> None:
        self._core.reset()

    def __repr__(self) -> str:
        return f"StreamingStft(geometry={self.geometry!r}, n_channels={self.n_channels})"


class StreamingIstft:
    """Streaming inverse STFT (weighted overlap-add) with the synthesis window of ``geometry``.

    Each frame yields exactly ``hop_samples`` samples. Frames from
    :class:`StreamingStft` come back as the input delayed by ``latency_samples``
    (= ``geometry.stream_delay_samples``).
    """

    def __init__(self, geometry: StftGeometry, n_channels: int = 2) -> None:
        self.geometry = geometry
        self._core = _core.StreamingIstft(
            geometry.n_fft, geometry.hop_samples, geometry.synthesis_window(), n_channels)

    @property
    def n_channels(self) -> int:
        return self._core.n_channels

    @property
    def latency_samples(self) -> int:
        return self._core.stream_delay_samples

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Feed complex64 ``(n_frames, n_channels, n_bins)`` (C-contiguous).

        Returns float32 ``(n_channels, n_frames * hop_samples)``.
        """
        return self._core.process(frames)

    def flush(self) -> np.ndarray:
        """Return the overlap-add tail, float32 ``(n_channels, latency_samples)``."""
        return self._core.flush()

    def reset(self) -> None:
        self._core.reset()

    def __repr__(self) -> str:
        return f"StreamingIstft(geometry={self.geometry!r}, n_channels={self.n_channels})"


class HopEngine:
    """The fixed-latency engine's per-hop steps around a per-frame mask, one call each.

    Push a host block, then for every ready hop :meth:`analyze` (the STFT frame),
    :meth:`synthesize` (vocals = iSTFT of ``mask * frame``; the instrumental is the
    delayed input minus the vocals, so the two always sum back to it) and
    :meth:`pull` as many samples as were pushed, delayed by exactly
    ``latency_samples`` (``geometry.latency_samples``). For tests and research on
    the steps themselves: hosts run the one block processor
    (:func:`rtsep.engine.block_processor`, any mask model, gains, modes, bypass),
    which drives these steps in C++.

    Args:
        geometry: STFT geometry (windows, hop, latency mode).
        n_channels: channels of the audio.
        max_block_samples: largest block :meth:`push_input` takes.

    Not thread-safe: use one object from one thread at a time.
    """

    def __init__(self, geometry: StftGeometry = StftGeometry(), n_channels: int = 2,
                 max_block_samples: int = 8192) -> None:
        self.geometry = geometry
        self._core = _core.HopEngine(
            geometry.n_fft, geometry.hop_samples, geometry.analysis_window(),
            geometry.synthesis_window(), n_channels, max_block_samples)
        if self._core.latency_samples != geometry.latency_samples:
            raise RuntimeError(
                f"core latency {self._core.latency_samples} != geometry latency "
                f"{geometry.latency_samples}: rtsep.config and csrc/ disagree")
        self._frame = self._core.frame  # read-only zero-copy view, fixed for the engine's life

    # -- configuration -----------------------------------------------------------

    @property
    def n_channels(self) -> int:
        return self._core.n_channels

    @property
    def n_bins(self) -> int:
        return self._core.n_bins

    @property
    def max_block_samples(self) -> int:
        return self._core.max_block_samples

    @property
    def latency_samples(self) -> int:
        """Input-to-output delay in samples, for any block size."""
        return self._core.latency_samples

    @property
    def stream_delay_samples(self) -> int:
        """Delay of the STFT -> iSTFT path alone (``latency_samples - hop + 1``)."""
        return self._core.stream_delay_samples

    # -- counters ----------------------------------------------------------------

    @property
    def n_frames_processed(self) -> int:
        return self._core.n_frames_processed

    @property
    def n_nonfinite_replaced(self) -> int:
        """NaN/Inf input samples replaced by 0 plus NaN/Inf mask values treated as 0."""
        return self._core.n_nonfinite_replaced

    # -- the per-hop steps ---------------------------------------------------------

    @property
    def frame(self) -> np.ndarray:
        """The current frame, read-only complex64 ``(n_channels, n_bins)`` view."""
        return self._frame

    def push_input(self, x: np.ndarray) -> None:
        """Append a host block, float32 ``(n_channels, n <= max_block_samples)``."""
        self._core.push_input(x)

    def frames_ready(self) -> int:
        return self._core.frames_ready()

    def analyze(self) -> np.ndarray:
        """Consume one hop; returns :attr:`frame` (overwritten by the next call)."""
        self._core.analyze()
        return self._frame

    def synthesize(self, mask: Optional[np.ndarray]) -> None:
        """Apply ``mask`` (float32/complex64 ``(n_channels, n_bins)``; None = identity)."""
        if mask is None:
            self._core.synthesize_identity()
        else:
            self._core.synthesize(mask)

    def pull(self, vocals_out: np.ndarray, instrumental_out: np.ndarray) -> None:
        """Fill two writeable float32 ``(n_channels, n)`` arrays with the next n samples."""
        self._core.pull(vocals_out, instrumental_out)

    # -- lifecycle -----------------------------------------------------------------

    def reset(self) -> None:
        """Back to the constructed state (history, FIFOs and counters)."""
        self._core.reset()

    def __repr__(self) -> str:
        return (f"HopEngine(geometry={self.geometry!r}, n_channels={self.n_channels}, "
                f"max_block_samples={self.max_block_samples}, "
                f"latency_samples={self.latency_samples})")
