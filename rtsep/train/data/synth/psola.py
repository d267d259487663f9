"""Real voices on new melodies: PSOLA re-pitching with Praat (parselmouth).

Three ways to sing a phrase with a real voice, all formant-preserving
(overlap-add PSOLA changes the pitch, not the spectral envelope):

* :func:`impose_melody`: a seed recording (singing or speech, spliced from
  random excerpts) time-stretched and forced onto the phrase's notes, with
  the same pitch gestures as the synthetic singer (glides, scoops, vibrato);
* :func:`autotune`: a singing seed keeps its own melody, transposed into the
  singer's range and pulled onto the song's scale (vibrato kept);
* :func:`espeak` + :func:`impose_melody`: text spoken by espeak-ng, then sung.

A vocal-tract change (a "gender" change) comes from declaring the seed's
sample rate ``formant_ratio`` times higher before PSOLA: formants scale by the
ratio and PSOLA then sets the pitch absolutely.

Audio is mono; ``float64`` in, ``float32`` out; times in seconds.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np

from rtsep.train.data.audio import resample

_PITCH_FLOOR_HZ = 60.0
_PITCH_CEILING_HZ = 1000.0
_TIME_STEP_S = 0.01


def _praat():
    import parselmouth
    from parselmouth.praat import call

    return parselmouth, call


def excerpt(rng: np.random.Generator, x: np.ndarray, n: int, rate_hz: float,
            min_piece_s: float = 0.6) -> np.ndarray:
    """``n`` samples spliced from random pieces of ``x`` (10 ms cross-fades).

    Pieces are redrawn (a few times) when quieter than a tenth of the seed's RMS.
    """
    x = np.asarray(x, dtype=np.float64)
    fade = int(0.01 * rate_hz)
    rms = float(np.sqrt(np.mean(x ** 2))) + 1e-12
    out = np.zeros(n + fade)
    pos = 0
    while pos < n:
        want = int(min(n - pos + fade, max(min_piece_s * rate_hz, rng.uniform(0.6, 1.0) * len(x))))
        want = min(want, len(x))
        for _ in range(6):
            start = int(rng.integers(0, len(x) - want + 1))
            piece = x[start:start + want].copy()
            if np.sqrt(np.mean(piece ** 2)) > 0.1 * rms:
                break
        if pos > 0 and len(piece) > 2 * fade:
            piece[:fade] *= np.linspace(0.0, 1.0, fade)
            out[pos - fade:pos] *= np.linspace(1.0, 0.0, fade)
            pos -= fade
        m = min(len(piece), len(out) - pos)
        out[pos:pos + m] += piece[:m]
        pos += m
    return out[:n]


def _resynthesise(rng: np.random.Generator, x: np.ndarray, rate_hz: float,
                  point_times_s: np.ndarray, point_f0_hz: np.ndarray, duration_factor: float
                  ) -> tuple[np.ndarray, float]:
    """PSOLA: ``x`` with pitch points (source time axis) and a constant stretch.

    Praat's overlap-add draws random numbers (for unvoiced stretches) from a
    process-global generator; it is seeded from ``rng`` for this call and put
    back to an unpredictable seed afterwards.
    """
    parselmouth, call = _praat()
    from parselmouth.praat import run

    run(f"random_initializeWithSeedUnsafelyButPredictably ({int(rng.integers(1, 2**31))})")
    try:
        return _overlap_add(parselmouth, call, x, rate_hz, point_times_s, point_f0_hz,
                            duration_factor)
    finally:
        run("random_initializeSafelyAndUnpredictably ()")


def _overlap_add(parselmouth, call, x, rate_hz, point_times_s, point_f0_hz, duration_factor):
    snd = parselmouth.Sound(np.asarray(x, dtype=np.float64), sampling_frequency=float(rate_hz))
    manipulation = call(snd, "To Manipulation", _TIME_STEP_S, _PITCH_FLOOR_HZ, _PITCH_CEILING_HZ)
    tier = call("Create PitchTier", "target", 0.0, snd.duration)
    for t, f in zip(point_times_s, point_f0_hz):
        call(tier, "Add point", float(t), float(f))
    call([tier, manipulation], "Replace pitch tier")
    if duration_factor != 1.0:
        dur = call("Create DurationTier", "stretch", 0.0, snd.duration)
        call(dur, "Add point", 0.0, float(duration_factor))
        call([manipulation, dur], "Replace duration tier")
    out = call(manipulation, "Get resynthesis (overlap-add)")
    return out.values[0].astype(np.float64), float(out.sampling_frequency)


def _gate(amp_ctrl: np.ndarray, ctrl_hz: int, n_out: int, out_rate_hz: int) -> np.ndarray:
    """Note-activity gate: the amplitude contour widened by 60 ms and smoothed."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    widened = maximum_filter1d(amp_ctrl, size=int(0.12 * ctrl_hz) | 1)
    smooth = uniform_filter1d(widened, size=int(0.03 * ctrl_hz) | 1)
    t = np.arange(n_out) / out_rate_hz
    return np.interp(t, np.arange(len(smooth)) / ctrl_hz, smooth)


def impose_melody(rng: np.random.Generator, source: np.ndarray, source_rate_hz: int, notes,
                  voice, out_rate_hz: int, n_out: int, stretch: float = 1.0,
                  formant_ratio: float = 1.0) -> np.ndarray:
    """Sing ``notes`` (times relative to the output start) with a real voice.

    ``source``: mono seed audio; ``stretch`` > 1 slows the seed down (speech
    becomes more sung); ``voice``: a :class:`~rtsep.train.data.synth.singer.Voice`
    for the pitch gestures. Returns mono ``float32`` ``(n_out,)``, peak 1 (or silence).
    """
    from rtsep.train.data.synth.singer import _CTRL_HZ, contours

    if not notes:
        return np.zeros(n_out, dtype=np.float32)
    n_ctrl = int(np.ceil(n_out / out_rate_hz * _CTRL_HZ)) + 2
    pitch, amp = contours(notes, voice, n_ctrl, rng)
    rate = source_rate_hz * formant_ratio  # declared rate: formants scale by the ratio
    out_s = n_out / out_rate_hz
    n_src = int(np.ceil((out_s / stretch + 0.2) * rate))
    x = excerpt(rng, source, n_src, rate)
    step = _CTRL_HZ // 100  # a pitch point every 10 ms of output
    t_out = np.arange(0, n_ctrl, step) / _CTRL_HZ
    f0 = 440.0 * 2.0 ** ((pitch[::step] - 69.0) / 12.0)
    y, y_rate = _resynthesise(rng, x, rate, t_out / stretch, f0, stretch)
    y = resample(y.astype(np.float32), y_rate, out_rate_hz)[:n_out]
    if y.size < n_out:
        y = np.pad(y, (0, n_out - y.size))
    y = y * _gate(amp, _CTRL_HZ, n_out, out_rate_hz)
    top = np.max(np.abs(y))
    return (y / top if top > 0 else y).astype(np.float32)


def autotune(rng: np.random.Generator, source: np.ndarray, source_rate_hz: int, key,
             center_midi: float, out_rate_hz: int, n_out: int, strength: float = 0.8,
             stretch: float = 1.0, formant_ratio: float = 1.0) -> np.ndarray:
    """A spliced excerpt of a singing seed, its own melody moved into key.

    Transposed (whole semitones) so its median pitch lands near ``center_midi``,
    then each voiced frame's slowly varying pitch is pulled ``strength`` of the
    way onto the nearest scale note of ``key`` (faster wiggles such as vibrato
    stay). Returns mono ``float32`` ``(n_out,)``, peak 1.
    """
    from scipy.ndimage import median_filter

    parselmouth, _ = _praat()
    rate = source_rate_hz * formant_ratio
    out_s = n_out / out_rate_hz
    x = excerpt(rng, source, int(np.ceil((out_s / stretch + 0.2) * rate)), rate)
    snd = parselmouth.Sound(x, sampling_frequency=rate)
    pitch = snd.to_pitch(_TIME_STEP_S, _PITCH_FLOOR_HZ, _PITCH_CEILING_HZ)
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs()
    voiced = f0 > 0
    if voiced.sum() < 5:
        y = x
        y_rate = rate
    else:
        midi = np.where(voiced, 69.0 + 12.0 * np.log2(np.maximum(f0, 1.0) / 440.0), np.nan)
        shift = float(np.round(center_midi - np.nanmedian(midi)))
        midi = midi + shift
        filled = np.interp(np.arange(len(midi)), np.flatnonzero(voiced), midi[voiced])
        slow = median_filter(filled, size=9, mode="nearest")
        scale = key.scale_pitches(int(np.nanmin(midi)) - 2, int(np.nanmax(midi)) + 2)
        target = scale[np.argmin(np.abs(slow[:, None] - scale[None, :]), axis=1)]
        new = filled + strength * (target - slow)
        keep = voiced
        y, y_rate = _resynthesise(rng, x, rate, times[keep], 440.0 * 2.0 ** ((new[keep] - 69.0) / 12.0),
                                  stretch)
    y = resample(np.asarray(y, dtype=np.float32), y_rate, out_rate_hz)[:n_out]
    if y.size < n_out:
        y = np.pad(y, (0, n_out - y.size))
    fade = min(int(0.02 * out_rate_hz), n_out // 4)
    y[:fade] *= np.linspace(0, 1, fade)
    y[n_out - fade:] *= np.linspace(1, 0, fade)
    top = np.max(np.abs(y))
    return (y / top if top > 0 else y).astype(np.float32)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak(text: str, voice: str, words_per_minute: int = 140, pitch: int = 50
           ) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng with ``voice`` (e.g. ``"en-us+f3"``): mono float64, rate."""
    import soundfile as sf

    if not espeak_available():
        raise RuntimeError("espeak-ng not found on PATH (apt-get install espeak-ng)")
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(int(words_per_minute)),
                           "-p", str(int(pitch)), "--stdout", text],
                          capture_output=True, timeout=30, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {proc.stderr.decode()[:200]}")
    data, rate = sf.read(io.BytesIO(proc.stdout), dtype="float64", always_2d=True)
    return data[:, 0], int(rate)
