"""Mixing like a record: stem effects (pedalboard), panning, bus dynamics.

Stem processing (EQ, compression, saturation, chorus, delay, reverb) may be
non-linear; it happens *before* the stems are summed. Everything on the mix
bus (glue compression, the brick-wall limiter) is expressed as one gain
envelope computed from the mix and multiplied into *both* stems, so the
processed stems still sum exactly to the processed mix.

Audio is ``float32`` ``(2, n_samples)``; gains are per sample ``(n_samples,)``.
"""

from __future__ import annotations

import numpy as np

from rtsep.train.data.audio import db_to_gain


def _board(plugins):
    import pedalboard

    return pedalboard.Pedalboard(plugins)


def process(x: np.ndarray, plugins, sample_rate_hz: int) -> np.ndarray:
    """Run ``x`` ``(2, n)`` through a fresh pedalboard chain; same shape out."""
    if not plugins:
        return x
    y = _board(plugins)(np.ascontiguousarray(x, dtype=np.float32), float(sample_rate_hz))
    return np.ascontiguousarray(y[:, : x.shape[1]], dtype=np.float32)


def stereo_widen(mono: np.ndarray, rng, sample_rate_hz: int, width: float) -> np.ndarray:
    """Mono ``(n,)`` to a wide ``(2, n)``: a copy delayed by 8-25 ms on one side (Haas),
    then the side signal scaled by ``width`` (0 mono .. 1 full)."""
    delay = int(rng.uniform(0.008, 0.025) * sample_rate_hz)
    other = np.zeros_like(mono)
    other[delay:] = mono[:-delay]
    left, right = (mono, other) if rng.random() < 0.5 else (other, mono)
    mid = 0.5 * (left + right)
    side = 0.5 * (left - right) * width
    return np.stack([mid + side, mid - side]).astype(np.float32)


def instrument_chain(rng, role: str, sample_rate_hz: int):
    """Random EQ/compression/saturation/chorus plugins for an accompaniment stem."""
    import pedalboard as pb

    plugins = []
    if role != "bass" and role != "drums":
        plugins.append(pb.HighpassFilter(float(rng.uniform(60, 180))))
    plugins.append(pb.PeakFilter(float(rng.uniform(200, 5000)), float(rng.uniform(-4, 4)),
                                 float(rng.uniform(0.5, 1.5))))
    if rng.random() < 0.4:
        plugins.append(pb.HighShelfFilter(float(rng.uniform(3000, 9000)), float(rng.uniform(-6, 4))))
    if role in ("drums", "bass") or rng.random() < 0.4:
        plugins.append(pb.Compressor(float(rng.uniform(-24, -10)), float(rng.uniform(2, 6)),
                                     float(rng.uniform(2, 20)), float(rng.uniform(60, 250))))
    if role in ("comp", "lead", "bass") and rng.random() < 0.25:
        plugins.append(pb.Distortion(float(rng.uniform(4, 18))))
        plugins.append(pb.LowpassFilter(float(rng.uniform(6000, 14000))))
    if role in ("comp", "keys", "pad", "arp") and rng.random() < 0.3:
        plugins.append(pb.Chorus(float(rng.uniform(0.3, 1.5)), float(rng.uniform(0.1, 0.4)),
                                 float(rng.uniform(5, 12)), 0.0, float(rng.uniform(0.2, 0.5))))
    if role in ("lead", "arp") and rng.random() < 0.3:
        plugins.append(pb.Delay(float(rng.uniform(0.15, 0.45)), float(rng.uniform(0.1, 0.4)),
                                float(rng.uniform(0.1, 0.3))))
    return plugins


def vocal_chain(rng, sample_rate_hz: int, tempo_bpm: float):
    """Random vocal plugins: EQ, compression, optional saturation and delay (not reverb)."""
    import pedalboard as pb

    plugins = [pb.HighpassFilter(float(rng.uniform(70, 150)))]
    if rng.random() < 0.5:
        plugins.append(pb.PeakFilter(float(rng.uniform(200, 600)), float(rng.uniform(-5, 2)), 1.0))
    plugins.append(pb.PeakFilter(float(rng.uniform(2500, 6000)), float(rng.uniform(-1, 5)),
                                 float(rng.uniform(0.7, 1.5))))
    if rng.random() < 0.5:
        plugins.append(pb.HighShelfFilter(float(rng.uniform(6000, 12000)), float(rng.uniform(-3, 5))))
    plugins.append(pb.Compressor(float(rng.uniform(-28, -12)), float(rng.uniform(2, 8)),
                                 float(rng.uniform(1, 15)), float(rng.uniform(50, 200))))
    if rng.random() < 0.2:
        plugins.append(pb.Distortion(float(rng.uniform(3, 15))))
    if rng.random() < 0.3:
        beat_s = 60.0 / tempo_bpm
        plugins.append(pb.Delay(float(beat_s * rng.choice([0.5, 0.75, 1.0])),
                                float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.08, 0.25))))
    return plugins


def reverb(rng, amount: float):
    """A reverb plugin that adds a wet signal (dry kept at 1)."""
    import pedalboard as pb

    return pb.Reverb(room_size=float(rng.uniform(0.3, 0.9)), damping=float(rng.uniform(0.2, 0.7)),
                     wet_level=float(amount), dry_level=1.0, width=float(rng.uniform(0.6, 1.0)))


# ---------------------------------------------------------------------------------------
# Bus dynamics as gain envelopes


def limiter_gain(mix: np.ndarray, sample_rate_hz: int, ceiling: float = 1.0,
                 lookahead_ms: float = 5.0, release_ms: float = 80.0) -> np.ndarray:
    """Brick-wall limiter gain ``(n,)`` so that ``|gain * mix| <= ceiling`` everywhere.

    The needed gain ``min(1, ceiling / |peak|)`` is held by a running minimum over
    ``[t - release, t + lookahead]`` and smoothed by two moving averages whose
    combined span is within ``lookahead`` on each side, so the smoothed gain never
    exceeds the needed gain at any sample (proof: every average of the held minimum
    around ``t`` only includes windows that contain ``t``).
    """
    from scipy.ndimage import uniform_filter1d

    n = mix.shape[-1]
    look = max(2, int(lookahead_ms * 1e-3 * sample_rate_hz))
    rel = max(look, int(release_ms * 1e-3 * sample_rate_hz))
    level = np.max(np.abs(mix), axis=0).astype(np.float64)
    need = np.minimum(1.0, ceiling / np.maximum(level, 1e-12))
    held = _held_min(need, back=rel, ahead=look)
    half = look // 2
    smooth = uniform_filter1d(held, size=2 * (half // 2) + 1, mode="nearest")
    smooth = uniform_filter1d(smooth, size=2 * (half // 2) + 1, mode="nearest")
    gain = np.minimum(smooth, need)  # guards against rounding in the filters
    assert gain.shape == (n,)
    return gain


def _held_min(x: np.ndarray, back: int, ahead: int) -> np.ndarray:
    """``y[t] = min(x[max(0, t - back) : t + ahead + 1])``."""
    from scipy.ndimage import minimum_filter1d

    # A centred odd window of half-width w = (back + ahead) // 2 + 1, then shifted so it
    # spans at least [t - back, t + ahead].
    w = (back + ahead) // 2 + 1
    y = minimum_filter1d(x, size=2 * w + 1, mode="nearest")
    shift = (ahead - back) // 2  # centre the window on t + shift
    if shift > 0:
        y = np.concatenate([y[shift:], np.full(shift, y[-1])])
    elif shift < 0:
        y = np.concatenate([np.full(-shift, y[0]), y[:shift]])
    return y


def compressor_gain(mix: np.ndarray, sample_rate_hz: int, threshold_db: float, ratio: float,
                    window_ms: float = 30.0, smooth_ms: float = 60.0) -> np.ndarray:
    """Glue-compressor gain ``(n,)`` (<= 1) from the mix's short-term RMS."""
    from scipy.ndimage import uniform_filter1d

    win = max(1, int(window_ms * 1e-3 * sample_rate_hz))
    power = uniform_filter1d(np.mean(np.square(mix, dtype=np.float64), axis=0), size=win,
                             mode="nearest")
    level_db = 10.0 * np.log10(power + 1e-12)
    over = np.maximum(level_db - threshold_db, 0.0)
    gain_db = -over * (1.0 - 1.0 / ratio)
    gain_db = uniform_filter1d(gain_db, size=max(1, int(smooth_ms * 1e-3 * sample_rate_hz)),
                               mode="nearest")
    return np.minimum(db_to_gain(gain_db), 1.0)


def apply_bus(vocals: np.ndarray, accompaniment: np.ndarray, sample_rate_hz: int, rng,
              drive_db: float, ceiling: float = 0.98) -> tuple[np.ndarray, np.ndarray, dict]:
    """Glue compression then a limiter, both as gains shared by the two stems.

    ``drive_db`` pushes the mix into the limiter (louder, more limited masters).
    Returns ``(vocals, accompaniment, info)`` with ``|vocals + accompaniment| <= ceiling``.
    """
    mix = vocals + accompaniment
    info = {}
    gain = np.ones(mix.shape[1])
    if rng.random() < 0.7:
        rms_db = 10.0 * np.log10(np.mean(mix.astype(np.float64) ** 2) + 1e-12)
        threshold = rms_db + float(rng.uniform(-2.0, 6.0))
        ratio = float(rng.uniform(1.5, 4.0))
        gain = compressor_gain(mix, sample_rate_hz, threshold, ratio)
        info["bus_compressor"] = {"threshold_db": round(float(threshold), 1), "ratio": round(ratio, 2)}
    pre = db_to_gain(drive_db) / max(float(np.max(np.abs(mix * gain))), 1e-9)
    gain = gain * pre
    limit = limiter_gain(mix * gain, sample_rate_hz, ceiling)
    gain = (gain * limit).astype(np.float32)
    info["limiter_drive_db"] = round(float(drive_db), 2)
    info["limiter_max_reduction_db"] = round(float(-20 * np.log10(max(limit.min(), 1e-9))), 2)
    return vocals * gain, accompaniment * gain, info
