"""Karaoke key change: the STFT-domain pitch shifter inside the block processor.

Pitch is measured with Praat's pitch tracker (parselmouth), relative to its own
reading of the unshifted input, so the tracker's bias cancels: every shift must land
within 2 cents. Also: 0 semitones leaves the output bit-identical, the
latency does not move, key changes every 250 ms do not click, and every face takes the
parameters (C ABI: tests/test_capi.py; CLI: tests/test_cli.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtsep import Processor
from rtsep.engine import IdentityRunner, block_processor

RATE = 48000
SHIFTS = (-5, -2, 1, 3, 6)
ASSETS = Path(__file__).resolve().parents[1] / "rtsep" / "assets"
MODEL = Path(__file__).resolve().parents[1] / "models" / "rtsep-default.rtsepw"


class ConstantMaskRunner(IdentityRunner):
    """A runner whose mask is one constant: 1 sends everything to the vocals, 0 to the
    instrumental, so each lane of the shifter can be measured on its own."""

    def __init__(self, value: float):
        super().__init__()
        self._mask = np.full_like(self._mask, value)


def harmonic_tone(f0: float, seconds: float = 2.5, n_harmonics: int = 10) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(0.5 / h * np.sin(2 * np.pi * f0 * h * t) for h in range(1, n_harmonics + 1))
    return x.astype(np.float32)


def run_core(x: np.ndarray, mask: float, *, key: float = 0.0, vocals_key: float = 0.0,
             block: int = 256, schedule=None) -> tuple[np.ndarray, np.ndarray]:
    """Stereo copies of x through a BlockProcessor with a constant mask; returns the
    (vocals, instrumental) outputs. ``schedule(t_seconds, params)`` may change keys."""
    from rtsep import _core

    params = _core.Parameters()
    params.key_semitones = key
    params.vocals_key_semitones = vocals_key
    proc = block_processor(ConstantMaskRunner(mask), max_block_samples=block, parameters=params)
    stereo = np.ascontiguousarray(np.stack([x, x]))
    a, b = np.zeros_like(stereo), np.zeros_like(stereo)
    for s in range(0, stereo.shape[1], block):
        if schedule is not None:
            schedule(s / RATE, params)
        e = min(s + block, stereo.shape[1])
        proc.process(stereo[:, s:e], a[:, s:e], b[:, s:e])
    return a, b


def pitch_cents(x: np.ndarray, floor: float = 75.0, ceiling: float = 1000.0) -> np.ndarray:
    """Praat's pitch (parselmouth; autocorrelation, interpolated peaks) in cents re 1 Hz,
    every 10 ms; NaN where Praat hears no voice."""
    import parselmouth

    sound = parselmouth.Sound(x.astype(np.float64), sampling_frequency=RATE)
    f0 = sound.to_pitch(time_step=0.01, pitch_floor=floor, pitch_ceiling=ceiling).selected_array["frequency"]
    return np.where(f0 > 0, 1200.0 * np.log2(np.where(f0 > 0, f0, 1.0)), np.nan)


@pytest.mark.parametrize("lane", ["instrumental", "vocals"])
def test_a_harmonic_tone_lands_within_two_cents(lane):
    x = harmonic_tone(220.0)
    skip = slice(30, -20)  # 10-ms frames away from the ends
    reference = np.nanmedian(pitch_cents(x)[skip])
    errors = {}
    for semitones in SHIFTS:
        if lane == "vocals":
            out = run_core(x, 1.0, vocals_key=semitones)[0][0]
        else:
            out = run_core(x, 0.0, key=semitones)[1][0]
        errors[semitones] = np.nanmedian(pitch_cents(out)[skip]) - reference - 100.0 * semitones
    assert all(abs(e) <= 2.0 for e in errors.values()), errors


def test_a_real_voice_lands_within_two_cents_frame_by_frame():
    import soundfile as sf

    voice, rate = sf.read(ASSETS / "demo_vocals.flac", dtype="float32", always_2d=True)
    assert rate == RATE
    x = np.ascontiguousarray(voice[: 6 * RATE].mean(axis=1))
    latency = Processor("identity").latency_samples
    reference = pitch_cents(x, ceiling=1200.0)
    for semitones in SHIFTS:
        out = run_core(x, 1.0, vocals_key=semitones)[0][0][latency:]
        shifted = pitch_cents(np.concatenate([out, np.zeros(latency, np.float32)]), ceiling=1200.0)
        diff = shifted - reference - 100.0 * semitones
        both = np.isfinite(diff)
        assert both.sum() > 100, f"{both.sum()} frames voiced in both"
        assert abs(np.median(diff[both])) <= 2.0, (semitones, np.median(diff[both]))


def test_zero_semitones_is_bit_identical_and_the_shifter_leaves_the_path():
    rng = np.random.default_rng(4)
    x = (0.3 * rng.standard_normal(RATE)).astype(np.float32)
    plain_v, plain_i = run_core(x, 0.6)
    zero_v, zero_i = run_core(x, 0.6, key=0.0, vocals_key=0.0)
    np.testing.assert_array_equal(zero_v, plain_v)
    np.testing.assert_array_equal(zero_i, plain_i)

    # On for 0.3 s, then off: once the fade and the overlap have passed, exact again.
    def on_then_off(t, params):
        params.key_semitones = params.vocals_key_semitones = 3.0 if 0.2 <= t < 0.5 else 0.0

    v, i = run_core(x, 0.6, schedule=on_then_off)
    settled = int(0.5 * RATE) + 4096
    np.testing.assert_array_equal(v[:, settled:], plain_v[:, settled:])
    np.testing.assert_array_equal(i[:, settled:], plain_i[:, settled:])
    assert np.abs(v[:, int(0.3 * RATE):int(0.45 * RATE)] - plain_v[:, int(0.3 * RATE):int(0.45 * RATE)]).max() > 0.01


def test_the_latency_does_not_move_with_a_key():
    # A tone burst's onset arrives at the same sample with and without a key change
    # (its envelope, not its pitch, marks the time).
    x = np.zeros(RATE, np.float32)
    t = np.arange(RATE // 4) / RATE
    x[RATE // 2: RATE // 2 + t.size] = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    onsets = {}
    for key in (0.0, -5.0, 6.0):
        out = run_core(x, 0.0, key=key)[1][0]
        envelope = np.abs(out) > 0.05
        onsets[key] = int(np.argmax(envelope))
    latency = Processor("identity").latency_samples
    assert abs(onsets[0.0] - (RATE // 2 + latency)) <= 32, onsets
    assert all(abs(onsets[k] - onsets[0.0]) <= 48 for k in onsets), onsets


@pytest.mark.parametrize("lane", ["instrumental", "vocals"])
def test_key_changes_every_250_ms_do_not_click(lane):
    # A 0.5-amplitude sweep from 200 Hz to 2 kHz; the key changes every 250 ms (on,
    # off, up, down, fractions). No sample-to-sample step may exceed the largest the
    # shifted signal itself can have (amplitude x 2 pi f / rate at the top frequency).
    seconds = 6.0
    t = np.arange(int(seconds * RATE)) / RATE
    freq = 200.0 * np.exp(np.log(10.0) * t / seconds)
    x = (0.5 * np.sin(2 * np.pi * np.cumsum(freq) / RATE)).astype(np.float32)
    keys = [0, 3, -2, 5, 0, -5, 1.5, 6, 0, -3, 2.25, 0]

    def every_250_ms(now, params):
        k = keys[int(now / 0.25) % len(keys)]
        if lane == "vocals":
            params.vocals_key_semitones = k
        else:
            params.key_semitones = k

    v, i = run_core(x, 1.0 if lane == "vocals" else 0.0, block=128, schedule=every_250_ms)
    out = (v if lane == "vocals" else i)[0]
    steps = np.abs(np.diff(out[4096:]))
    ceiling = 0.5 * 2 * np.pi * 2000.0 * 2 ** (6 / 12) / RATE
    assert steps.max() <= 1.05 * ceiling, (steps.max(), ceiling)


def test_stereo_image_is_kept():
    # Left and right differ by level and by a delay of a few samples; the shift keeps
    # the level ratio (one rotation for both channels, from their sum).
    x = harmonic_tone(196.0, seconds=1.5)
    left, right = x, 0.5 * np.roll(x, 3)
    from rtsep import _core

    params = _core.Parameters()
    params.key_semitones = 4.0
    proc = block_processor(ConstantMaskRunner(0.0), max_block_samples=256, parameters=params)
    stereo = np.ascontiguousarray(np.stack([left, right]).astype(np.float32))
    a, b = np.zeros_like(stereo), np.zeros_like(stereo)
    for s in range(0, stereo.shape[1], 256):
        proc.process(stereo[:, s:s + 256], a[:, s:s + 256], b[:, s:s + 256])
    steady = b[:, RATE // 2:]
    ratio_db = 20 * np.log10(np.std(steady[1]) / np.std(steady[0]))
    assert abs(ratio_db - 20 * np.log10(0.5)) < 0.5, ratio_db


def test_processor_properties_and_their_errors():
    p = Processor("identity")
    assert p.key_semitones == 0.0 and p.vocals_key_semitones == 0.0
    p.key_semitones = -2.5
    p.vocals_key_semitones = 12
    assert p.key_semitones == -2.5 and p.vocals_key_semitones == 12.0
    for bad in (12.5, -13, float("nan"), "up", None):
        with pytest.raises(ValueError, match="key_semitones"):
            p.key_semitones = bad
    assert p.key_semitones == -2.5
    assert "key_semitones=-2.5" in repr(p)


@pytest.mark.skipif(not MODEL.exists(), reason="the shipped native model is absent")
def test_shipped_model_with_a_key_is_finite_and_keeps_its_level():
    x = harmonic_tone(330.0, seconds=2.0) + 0.05 * np.random.default_rng(1).standard_normal(2 * RATE).astype(np.float32)
    p = Processor(MODEL)
    p.prepare(RATE, 512, 2)
    p.mode = "mix"
    stereo = np.ascontiguousarray(np.stack([x, x]))
    plain = np.concatenate([p.process(stereo[:, s:s + 512])[0] for s in range(0, stereo.shape[1], 512)], axis=1)
    p.reset()
    p.key_semitones = p.vocals_key_semitones = -3.0
    keyed = np.concatenate([p.process(stereo[:, s:s + 512])[0] for s in range(0, stereo.shape[1], 512)], axis=1)
    assert np.isfinite(keyed).all()
    level_db = 20 * np.log10(np.std(keyed[:, RATE // 2:]) / np.std(plain[:, RATE // 2:]))
    assert abs(level_db) < 2.0, level_db


@pytest.mark.parametrize("freq", [41.2, 55.0, 65.4])
@pytest.mark.parametrize("semitones", [-5, 3])
def test_bass_notes_move_too(freq, semitones):
    # A bass note's fundamental sits in the first FFT bins (46.9 Hz apart at n_fft 1024,
    # 48 kHz); found by comparing with Rubber Band (benchmarks/keychange_quality.py): when
    # those bins were not searched for peaks, such a note vanished or turned into noise.
    t = np.arange(2 * RATE) / RATE
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    out = run_core(x, 0.0, key=semitones)[1][0][RATE // 2:]
    power = np.abs(np.fft.rfft(out * np.hanning(out.size))) ** 2
    hz = np.fft.rfftfreq(out.size, 1 / RATE)
    target = freq * 2 ** (semitones / 12)
    share = power[np.abs(hz - target) < 0.06 * target].sum() / power.sum()
    level_db = 20 * np.log10(np.std(out) / np.std(x[RATE // 2:]))
    assert share >= 0.8 and abs(level_db) <= 2.0, (share, level_db)


def vowel(f0: float, seconds: float = 2.0) -> np.ndarray:
    """A sung 'ah': a pulse train at f0 through three formant resonators (700, 1200 and
    2600 Hz)."""
    from scipy.signal import lfilter

    n = int(seconds * RATE)
    x = np.zeros(n)
    x[np.arange(0, n, RATE / f0).astype(int)] = 1.0
    for centre, bandwidth in ((700, 80), (1200, 90), (2600, 120)):
        r = np.exp(-np.pi * bandwidth / RATE)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * centre / RATE), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def spectral_centroid_hz(y: np.ndarray, lo: float = 200.0, hi: float = 5000.0) -> float:
    seg = y[RATE // 2:]
    power = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2
    hz = np.fft.rfftfreq(seg.size, 1 / RATE)
    band = (hz >= lo) & (hz < hi)
    return float((power[band] * hz[band]).sum() / power[band].sum())


@pytest.mark.parametrize("f0", [150.0, 220.0])
@pytest.mark.parametrize("semitones", [-5, 5])
def test_the_vocals_keep_their_formants(f0, semitones):
    # A plain shift moves the vowel's formants, and so its spectral centroid, with the
    # pitch (about 100 cents a semitone); the vocals lane scales each moved partial by
    # the input's envelope, so its centroid moves at most half as far.
    x = vowel(f0)
    reference = spectral_centroid_hz(x)
    kept = spectral_centroid_hz(run_core(x, 1.0, vocals_key=semitones)[0][0])
    plain = spectral_centroid_hz(run_core(x, 0.0, key=semitones)[1][0])
    kept_cents, plain_cents = (1200 * np.log2(c / reference) for c in (kept, plain))
    assert abs(plain_cents) > 70 * abs(semitones), plain_cents  # the plain shift moved them
    assert abs(kept_cents) <= 0.5 * abs(plain_cents), (kept_cents, plain_cents)
