"""The one test signal every benchmark row is timed on ("same audio").

A real mixture (the MUSDB18 preview in ``<data root>/real-dev``) when the
shared data folder is present, else a seeded synthetic music-like signal made
in code. Timing hardly depends on the content, but the same samples go through
rtsep, the naive sliding window and the offline separators.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REAL_CLIP = Path("real-dev") / "musdb18-preview-80s-rock" / "mixture.wav"


def synthetic_music(n_samples: int, sample_rate_hz: int = 48000, seed: int = 0) -> np.ndarray:
    """Seeded stereo signal, ``float32 (2, n_samples)``, peak 0.5: a harmonic
    voice with vibrato over a chord, percussive noise bursts and a little hiss."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate_hz
    f0_hz = 220.0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0_hz) / sample_rate_hz
    voice = sum(np.sin(k * phase) / k for k in range(1, 10))
    chord = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 138.6, 164.8))
    beat = np.exp(-30.0 * (t % 0.5)) * rng.standard_normal(n_samples)
    hiss = 0.02 * rng.standard_normal((2, n_samples))
    x = np.stack([voice + 0.6 * chord + 0.8 * beat, voice + 0.4 * chord + 0.5 * beat]) + hiss
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def _real_clip_path() -> Path | None:
    try:
        from rtsep.train.data.paths import default_data_root
    except ImportError:
        return None
    path = default_data_root() / REAL_CLIP
    return path if path.is_file() else None


def bench_audio(n_samples: int, sample_rate_hz: int = 48000) -> tuple[np.ndarray, str]:
    """``(x, source)``: ``float32 (2, n_samples)`` C-contiguous, and a one-line
    description. The real clip is resampled to ``sample_rate_hz`` and repeated
    to length."""
    path = _real_clip_path()
    if path is not None:
        try:
            import soundfile as sf
            import soxr

            clip, rate = sf.read(str(path), dtype="float32", always_2d=True)
            clip = clip.T
            if rate != sample_rate_hz:
                clip = soxr.resample(clip.T, rate, sample_rate_hz).T
            reps = -(-n_samples // clip.shape[1])
            x = np.ascontiguousarray(np.tile(clip, (1, reps))[:2, :n_samples], dtype=np.float32)
            if x.shape[0] == 2:
                return x, f"real mixture {REAL_CLIP} (repeated to {n_samples / sample_rate_hz:.1f} s)"
        except (OSError, RuntimeError, ValueError):
            pass  # unreadable clip: fall back to the synthetic signal
    return synthetic_music(n_samples, sample_rate_hz), "synthetic music-like signal (seeded)"
