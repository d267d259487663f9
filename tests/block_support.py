"""The one block processor without a learned model, for tests of the machinery.

``processor(geometry, mask)``: a stereo (or mono) :class:`rtsep._core.BlockProcessor` at
its defaults (mode both, 0 dB, no bypass, no key), so its two outputs are the
separated vocals and instrumental themselves. ``mask`` is None (the identity, a
native :class:`rtsep._core.ConstantMaskModel`), a float32 ``(2, n_bins)`` array (the
same mask every hop, native) or ``mask_fn(frame) -> mask`` (a Python model stepped
with the GIL taken per hop, as the ONNX Runtime runner is). ``run_blocks`` feeds it
host blocks of the sizes in ``pattern`` (cycled) and returns both outputs whole.
"""

from __future__ import annotations

import itertools

import numpy as np

from rtsep import _core
from rtsep.config import StftGeometry


class MaskFnModel:
    """``step(frame) -> mask`` and ``reset()`` over a mask function."""

    def __init__(self, mask_fn):
        self.mask_fn = mask_fn
        self.n_steps = 0

    def step(self, frame: np.ndarray) -> np.ndarray:
        self.n_steps += 1
        return self.mask_fn(frame)

    def reset(self) -> None:
        pass


def processor(geometry: StftGeometry = StftGeometry(), mask=None, *, n_channels: int = 2,
              max_block_samples: int = 8192, sample_rate_hz: float = 48000.0):
    n_bins = geometry.n_bins
    if mask is None or isinstance(mask, np.ndarray):
        model = _core.ConstantMaskModel(n_bins, mask)
    else:
        model = MaskFnModel(mask)
    return _core.BlockProcessor(model, geometry.n_fft, geometry.hop_samples,
                                geometry.analysis_window(), geometry.synthesis_window(),
                                sample_rate_hz, max_block_samples, n_channels)


def run_blocks(proc, x: np.ndarray, pattern=(8192,)) -> tuple[np.ndarray, np.ndarray]:
    """``x`` float32 ``(n_channels, n)`` through ``proc`` in blocks of ``pattern``'s sizes."""
    vocals = np.empty_like(x)
    instrumental = np.empty_like(x)
    pos = 0
    for size in itertools.cycle(pattern):
        if pos >= x.shape[1]:
            break
        stop = min(pos + size, x.shape[1])
        proc.process(x[:, pos:stop], vocals[:, pos:stop], instrumental[:, pos:stop])
        pos = stop
    return vocals, instrumental
