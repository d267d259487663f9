"""Offline (whole-signal) STFT and iSTFT in numpy, with the streaming convention.

The reference that the streaming engine must match, and the tool for oracle
masks in evaluation. Frame ``k`` covers input samples
``[k * hop + hop - n_fft, k * hop + hop)`` (zeros before sample 0), exactly as
the streaming STFT emits it after the ``k``-th hop.

Shapes: audio ``(n_channels, n_samples)`` float32; frames
``(n_frames, n_channels, n_bins)`` complex64.
"""

from __future__ import annotations

import numpy as np

from rtsep.config import StftGeometry


def stft(x: np.ndarray, geometry: StftGeometry) -> np.ndarray:
    """Frames of ``x`` ``(n_channels, n_samples)``: ``n_samples // hop`` of them."""
    n_fft, hop = geometry.n_fft, geometry.hop_samples
    n_ch, n = x.shape
    n_frames = n // hop
    padded = np.zeros((n_ch, n_fft - hop + n_frames * hop), dtype=np.float64)
    padded[:, n_fft - hop:] = x[:, : n_frames * hop]
    idx = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
    segs = padded[:, idx] * geometry.analysis_window()  # (C, T, n_fft)
    return np.fft.rfft(segs, axis=-1).transpose(1, 0, 2).astype(np.complex64)


def istft(frames: np.ndarray, geometry: StftGeometry, n_samples: int) -> np.ndarray:
    """Overlap-add ``frames`` back to ``(n_channels, n_samples)``, time-aligned
    with the input of :func:`stft` (no delay); samples not yet complete at the
    end (the last ``stream_delay_samples``) are left as they are."""
    n_fft, hop = geometry.n_fft, geometry.hop_samples
    n_frames, n_ch, _ = frames.shape
    seg = np.fft.irfft(frames.astype(np.complex128), n=n_fft, axis=-1) * geometry.synthesis_window()
    out = np.zeros((n_ch, n_fft - hop + n_frames * hop + n_fft), dtype=np.float64)
    for k in range(n_frames):
        out[:, k * hop: k * hop + n_fft] += seg[k]
    out = out[:, n_fft - hop: n_fft - hop + n_samples]
    if out.shape[1] < n_samples:
        out = np.pad(out, ((0, 0), (0, n_samples - out.shape[1])))
    return out.astype(np.float32)


def apply_mask(x: np.ndarray, mask: np.ndarray, geometry: StftGeometry) -> np.ndarray:
    """Mask ``(n_frames, n_channels, n_bins)`` applied to the STFT of ``x``, resynthesised."""
    frames = stft(x, geometry)
    return istft(frames * mask[: len(frames)], geometry, x.shape[1])
