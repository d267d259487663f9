"""Algorithmic latency per latency mode and sample rate, from the geometry alone."""

from __future__ import annotations

from rtsep.config import LATENCY_MODES, SUPPORTED_SAMPLE_RATES_HZ, StftGeometry


def algorithmic_latency(n_fft: int, hop_samples: int,
                        sample_rates_hz=SUPPORTED_SAMPLE_RATES_HZ) -> list[dict]:
    """One row per (latency mode, sample rate).

    Keys: ``latency_mode``, ``sample_rate_hz``, ``n_fft``, ``hop_samples``,
    ``stream_delay_samples`` (STFT -> iSTFT alone), ``latency_samples`` (the
    fixed in/out block engine, any block size), ``latency_ms``, ``hop_period_ms``.
    """
    rows = []
    for mode in LATENCY_MODES:
        g = StftGeometry(n_fft, hop_samples, mode)
        for rate in sample_rates_hz:
            rows.append({"latency_mode": mode, "sample_rate_hz": int(rate), "n_fft": n_fft,
                         "hop_samples": hop_samples,
                         "stream_delay_samples": g.stream_delay_samples,
                         "latency_samples": g.latency_samples,
                         "latency_ms": g.latency_ms(rate),
                         "hop_period_ms": 1e3 * hop_samples / rate})
    return rows
