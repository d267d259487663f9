"""A source-filter singer: glottal pulses through moving vowel formants.

:func:`sing` renders a list of :class:`~rtsep.train.data.synth.compose.VocalNote`
with a :class:`Voice`:

* pitch: per-note targets with glides between legato notes, onset scoops,
  phrase-end falls, delayed vibrato, slow drift, and per-cycle jitter;
* source: a Rosenberg-like glottal flow pulse (open quotient following the
  loudness), differentiated (lip radiation), generated at twice the sample
  rate and decimated to limit aliasing, with per-cycle shimmer and pulsed
  aspiration noise (breathiness);
* filter: vowel formants F1..F5 (plus weaker higher resonances so the voice
  reaches 20 kHz) scaled by the singer's vocal-tract length, with transitions
  between syllables, consonant loci, and F1 tuned up to f0 for high notes,
  applied frame by frame in the STFT domain;
* consonants: closures and bursts for plosives, band-limited noise for
  fricatives, nasal murmurs and glides before the vowel, optional codas.

All arrays are mono ``float32``; times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: Adult male formant frequencies (Hz) F1..F5 per vowel.
VOWEL_FORMANTS_HZ = {
    "a": (730, 1090, 2440, 3400, 4200), "e": (530, 1840, 2480, 3400, 4200),
    "i": (270, 2290, 3010, 3600, 4300), "o": (570, 840, 2410, 3300, 4100),
    "u": (300, 870, 2240, 3300, 4100), "ae": (660, 1720, 2410, 3400, 4200),
    "uh": (640, 1190, 2390, 3400, 4200), "ih": (390, 1990, 2550, 3500, 4200),
    "oo": (440, 1020, 2240, 3300, 4100),
}
DIPHTHONGS = {"ei": ("e", "i"), "ai": ("a", "i"), "ou": ("o", "u")}
#: F1, F2 loci of consonants (where formants start their move into the vowel).
CONSONANT_LOCI_HZ = {
    "p": (250, 800), "b": (250, 800), "m": (250, 900), "f": (300, 1000), "v": (300, 1000),
    "w": (300, 700), "t": (300, 1800), "d": (300, 1700), "n": (280, 1600), "s": (300, 1800),
    "z": (300, 1800), "l": (350, 1100), "r": (350, 1200), "k": (300, 2200), "g": (300, 2100),
    "sh": (300, 2000), "y": (270, 2300), "h": None, "": None,
}
PLOSIVES = {"p": 1200.0, "t": 5000.0, "k": 2500.0, "b": 900.0, "d": 4000.0, "g": 2200.0}
FRICATIVES = {"s": (4500.0, 11000.0), "z": (4500.0, 10000.0), "sh": (2200.0, 7000.0),
              "f": (1500.0, 12000.0), "v": (1500.0, 9000.0)}
NASALS = ("m", "n")
GLIDES = ("l", "r", "w", "y")
_BW_HZ = np.array([70.0, 90.0, 130.0, 200.0, 260.0])
_LEVEL_DB = np.array([0.0, -5.0, -14.0, -20.0, -25.0])
# Weaker resonances above F5 (scaled by vocal-tract length) so the voice is full band.
_HIGH_RES_HZ = np.array([6200.0, 8200.0, 10500.0, 13500.0])
_HIGH_BW_HZ = np.array([900.0, 1300.0, 1800.0, 2500.0])
_HIGH_LEVEL_DB = np.array([-30.0, -34.0, -38.0, -44.0])


@dataclass(frozen=True)
class Voice:
    """One synthetic singer. Pitches MIDI, ``formant_scale`` relative to an adult male."""

    name: str
    low: int
    high: int
    formant_scale: float
    open_quotient: float = 0.6
    breathiness: float = 0.15
    vibrato_rate_hz: float = 5.5
    vibrato_depth_cents: float = 40.0
    vibrato_delay_s: float = 0.25
    jitter: float = 0.006
    shimmer_db: float = 0.4
    singer_formant_db: float = 0.0
    tilt_db_per_oct: float = 0.0
    scoop_p: float = 0.3


#: Named singers; the synthetic data set holds some out (see ``pools.py``).
VOICE_PRESETS = {
    "bass": Voice("bass", 40, 62, 0.90, 0.55, 0.10, 5.0, 35.0, singer_formant_db=6.0),
    "baritone": Voice("baritone", 45, 67, 0.95, 0.58, 0.12, 5.3, 45.0),
    "tenor-rock": Voice("tenor-rock", 50, 72, 1.0, 0.45, 0.08, 5.8, 25.0, jitter=0.01,
                        shimmer_db=0.8, tilt_db_per_oct=2.0),
    "tenor-pop": Voice("tenor-pop", 50, 71, 1.02, 0.6, 0.2, 5.5, 30.0),
    "tenor-classical": Voice("tenor-classical", 50, 72, 0.98, 0.5, 0.05, 5.9, 70.0,
                             singer_formant_db=10.0),
    "male-soft": Voice("male-soft", 47, 67, 0.97, 0.7, 0.35, 5.0, 20.0, tilt_db_per_oct=-2.0),
    "alto": Voice("alto", 53, 74, 1.12, 0.6, 0.15, 5.5, 45.0),
    "mezzo": Voice("mezzo", 57, 77, 1.15, 0.55, 0.12, 5.7, 55.0, singer_formant_db=5.0),
    "soprano": Voice("soprano", 60, 82, 1.18, 0.5, 0.08, 6.0, 75.0, singer_formant_db=8.0),
    "female-pop": Voice("female-pop", 55, 76, 1.16, 0.62, 0.25, 5.4, 30.0),
    "female-breathy": Voice("female-breathy", 55, 74, 1.14, 0.72, 0.45, 5.0, 20.0,
                            tilt_db_per_oct=-2.5),
    "female-belt": Voice("female-belt", 55, 77, 1.15, 0.45, 0.1, 5.8, 35.0, jitter=0.009,
                         shimmer_db=0.7, tilt_db_per_oct=1.5),
    "child": Voice("child", 60, 79, 1.3, 0.6, 0.2, 5.5, 25.0),
}


def perturb(voice: Voice, rng: np.random.Generator) -> Voice:
    """A random variation of ``voice`` (same register, slightly different timbre)."""
    return replace(
        voice,
        formant_scale=voice.formant_scale * float(rng.uniform(0.96, 1.04)),
        open_quotient=float(np.clip(voice.open_quotient + rng.normal(0, 0.05), 0.35, 0.8)),
        breathiness=float(np.clip(voice.breathiness * rng.uniform(0.6, 1.5), 0.02, 0.6)),
        vibrato_rate_hz=voice.vibrato_rate_hz + float(rng.normal(0, 0.3)),
        vibrato_depth_cents=voice.vibrato_depth_cents * float(rng.uniform(0.6, 1.4)),
        vibrato_delay_s=float(rng.uniform(0.12, 0.4)),
        jitter=voice.jitter * float(rng.uniform(0.6, 1.5)),
        shimmer_db=voice.shimmer_db * float(rng.uniform(0.6, 1.5)),
        tilt_db_per_oct=voice.tilt_db_per_oct + float(rng.normal(0, 1.0)),
        scoop_p=float(rng.uniform(0.1, 0.5)),
    )


# ---------------------------------------------------------------------------------------
# Pitch and loudness contours (control rate)

_CTRL_HZ = 1000


def _smooth_noise(rng, n: int, corner_hz: float, rate_hz: float) -> np.ndarray:
    """Unit-variance low-pass noise of length ``n`` at ``rate_hz`` (one-pole, zero phase-ish)."""
    from scipy.signal import lfilter

    a = np.exp(-2.0 * np.pi * corner_hz / rate_hz)
    x = lfilter([1.0 - a], [1.0, -a], rng.standard_normal(n + 200))[200:]
    return x / (np.std(x) + 1e-12)


def contours(notes, voice: Voice, n_ctrl: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Pitch (MIDI, float) and amplitude (0..1) at :data:`_CTRL_HZ`, each ``(n_ctrl,)``."""
    t = np.arange(n_ctrl) / _CTRL_HZ
    pitch = np.full(n_ctrl, np.nan)
    amp = np.zeros(n_ctrl)
    for k, note in enumerate(notes):
        i0 = max(int(note.start_s * _CTRL_HZ), 0)
        i1 = min(int(note.end_s * _CTRL_HZ), n_ctrl)
        if i1 <= i0:
            continue
        prev = notes[k - 1] if k > 0 else None
        nxt = notes[k + 1] if k + 1 < len(notes) else None
        legato_in = prev is not None and note.start_s - prev.end_s < 0.05
        legato_out = nxt is not None and nxt.start_s - note.end_s < 0.05
        seg_t = t[i0:i1] - max(note.start_s, 0.0)
        dur = note.end_s - note.start_s
        p = np.full(i1 - i0, note.pitch, dtype=np.float64)
        if legato_in and prev.pitch != note.pitch:
            glide = float(rng.uniform(0.03, 0.09))
            w = np.clip(seg_t / glide, 0.0, 1.0)
            w = w * w * (3 - 2 * w)
            p = prev.pitch + (note.pitch - prev.pitch) * w
        elif rng.random() < voice.scoop_p:
            depth = float(rng.uniform(0.3, 1.5))  # semitones below
            p = p - depth * np.exp(-seg_t / float(rng.uniform(0.02, 0.06)))
        if not legato_out and dur > 0.3 and rng.random() < 0.3:
            fall = float(rng.uniform(0.2, 1.0))
            p = p - fall * np.clip((seg_t - (dur - 0.12)) / 0.12, 0.0, 1.0) ** 2
        if dur > voice.vibrato_delay_s + 0.1:
            ramp = np.clip((seg_t - voice.vibrato_delay_s) / 0.25, 0.0, 1.0)
            rate = voice.vibrato_rate_hz * (1 + 0.05 * rng.standard_normal())
            phase = float(rng.uniform(0, 2 * np.pi))
            p = p + ramp * voice.vibrato_depth_cents / 100.0 * np.sin(2 * np.pi * rate * seg_t + phase)
        pitch[i0:i1] = p
        attack = float(rng.uniform(0.02, 0.06)) if not legato_in else 0.01
        release = float(rng.uniform(0.04, 0.1)) if not legato_out else 0.0
        a = np.clip(seg_t / attack, 0, 1)
        if release > 0:
            a = a * np.clip((dur - seg_t) / release, 0, 1)
        swell = 1.0 + float(rng.uniform(-0.15, 0.15)) * seg_t / max(dur, 1e-3)
        amp[i0:i1] = np.maximum(amp[i0:i1], note.velocity * a * swell)
    voiced = ~np.isnan(pitch)
    if voiced.any():  # hold pitch through gaps so the phase never jumps
        idx = np.flatnonzero(voiced)
        pitch = np.interp(np.arange(n_ctrl), idx, pitch[idx])
    else:
        pitch = np.full(n_ctrl, float(voice.low + voice.high) / 2)
    pitch = pitch + 0.08 * _smooth_noise(rng, n_ctrl, 1.5, _CTRL_HZ)
    return pitch, amp


# ---------------------------------------------------------------------------------------
# Source


def glottal_source(f0_hz: np.ndarray, open_quotient: np.ndarray, rate_hz: float, voice: Voice,
                   rng) -> tuple[np.ndarray, np.ndarray]:
    """Differentiated glottal flow and the flow itself, per sample of ``f0_hz``.

    ``f0_hz``, ``open_quotient``: ``(n,)`` at ``rate_hz``. Jitter and shimmer vary
    per glottal cycle.
    """
    phase0 = np.cumsum(f0_hz) / rate_hz
    n_cycles = int(phase0[-1]) + 2
    jitter = 1.0 + voice.jitter * rng.standard_normal(n_cycles)
    cycle = phase0.astype(np.int64)
    phase = np.cumsum(f0_hz * jitter[cycle]) / rate_hz
    cycle = phase.astype(np.int64)
    frac = phase - cycle
    oq = np.clip(open_quotient, 0.3, 0.9)
    t_open = oq * 0.7
    t_close = oq * 0.3
    flow = np.where(frac < t_open, 0.5 * (1.0 - np.cos(np.pi * frac / t_open)),
                    np.where(frac < t_open + t_close,
                             np.cos(0.5 * np.pi * (frac - t_open) / t_close), 0.0))
    shimmer = 10.0 ** (voice.shimmer_db * rng.standard_normal(int(cycle[-1]) + 2) / 20.0)
    flow = flow * shimmer[cycle]
    dflow = np.diff(flow, prepend=flow[0]) * (rate_hz / 1000.0)
    return dflow, flow


# ---------------------------------------------------------------------------------------
# Formant envelopes


def _vowel_formants(vowel: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) formants F1..F5 (Hz) of ``vowel``; a diphthong moves between two."""
    a, b = DIPHTHONGS.get(vowel, (vowel, vowel))
    fa = np.asarray(VOWEL_FORMANTS_HZ.get(a, VOWEL_FORMANTS_HZ["a"]), dtype=np.float64) * scale
    fb = np.asarray(VOWEL_FORMANTS_HZ.get(b, VOWEL_FORMANTS_HZ["a"]), dtype=np.float64) * scale
    return fa, fb


def formant_tracks(notes, voice: Voice, times_s: np.ndarray, f0_at: np.ndarray
                   ) -> np.ndarray:
    """Formants F1..F5 (Hz) at ``times_s``: ``(len(times_s), 5)``.

    Control points: consonant locus at the syllable start, the vowel target
    shortly after, the (diphthong) end target before the note ends; linear in
    between. F1 is raised to follow f0 (``f0_at``) on high notes.
    """
    pts_t, pts_f = [], []
    scale = voice.formant_scale
    for note in notes:
        fa, fb = _vowel_formants(note.vowel, scale)
        dur = note.end_s - note.start_s
        locus = CONSONANT_LOCI_HZ.get(note.onset)
        if note.new_syllable and locus is not None:
            fl = fa.copy()
            fl[0] = 0.5 * fa[0] + 0.5 * locus[0] * scale
            fl[1] = 0.5 * fa[1] + 0.5 * locus[1] * scale
            if note.onset == "r":
                fl[2] = 1700.0 * scale
            pts_t.append(note.start_s)
            pts_f.append(fl)
        pts_t.append(note.start_s + min(0.07, 0.3 * dur))
        pts_f.append(fa)
        pts_t.append(max(note.end_s - min(0.05, 0.2 * dur), note.start_s + min(0.08, 0.3 * dur)))
        pts_f.append(fb)
    if not pts_t:
        return np.tile(VOWEL_FORMANTS_HZ["a"], (len(times_s), 1)) * scale
    order = np.argsort(pts_t, kind="stable")
    pts_t = np.asarray(pts_t)[order]
    pts_f = np.asarray(pts_f)[order]
    tracks = np.stack([np.interp(times_s, pts_t, pts_f[:, k]) for k in range(5)], axis=1)
    tracks[:, 0] = np.maximum(tracks[:, 0], 1.1 * f0_at)  # F1 tuning on high notes
    tracks[:, 1] = np.maximum(tracks[:, 1], tracks[:, 0] + 250.0)
    return tracks


def envelope(freqs_hz: np.ndarray, formants_hz: np.ndarray, voice: Voice, nasal: np.ndarray
             ) -> np.ndarray:
    """Magnitude envelope ``(n_frames, n_bins)`` from formants ``(n_frames, 5)``.

    A sum of peak-normalised resonances (parallel formant model) with fixed
    relative levels, a singer's-formant boost near 3 kHz, weaker resonances
    above F5, and a spectral tilt. ``nasal`` ``(n_frames,)`` 0..1 dims the
    upper formants (nasal murmur).
    """
    f = freqs_hz[None, :]
    level = 10.0 ** (_LEVEL_DB / 20.0)
    out = np.zeros((formants_hz.shape[0], freqs_hz.size))
    bw = _BW_HZ * (1.0 + 0.8 * voice.breathiness)
    for k in range(5):
        gain = level[k] * (1.0 - 0.85 * nasal[:, None]) if k > 0 else level[k]
        if k in (2, 3, 4) and voice.singer_formant_db:
            gain = gain * 10.0 ** (voice.singer_formant_db / 20.0)
        fk = formants_hz[:, k:k + 1]
        out += gain / np.sqrt(1.0 + ((f - fk) / (0.5 * bw[k])) ** 2)
    high = _HIGH_RES_HZ * voice.formant_scale
    for fk, bk, lk in zip(high, _HIGH_BW_HZ, _HIGH_LEVEL_DB):
        out += 10.0 ** (lk / 20.0) / np.sqrt(1.0 + ((f - fk) / (0.5 * bk)) ** 2)
    octaves = np.log2(np.maximum(freqs_hz, 50.0) / 500.0)
    out *= 10.0 ** (voice.tilt_db_per_oct * octaves / 20.0)[None, :]
    out[:, freqs_hz < 60.0] *= 0.1
    return out


# ---------------------------------------------------------------------------------------
# STFT helper


def _stft_filter(x: np.ndarray, gains_at, n_fft: int, hop: int) -> np.ndarray:
    """Filter ``x`` by per-frame magnitude gains: ``gains_at(frame_times_samples)`` ->
    ``(n_frames, n_fft // 2 + 1)``. sqrt-Hann analysis/synthesis, overlap-add."""
    n = len(x)
    win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))
    n_frames = (n + n_fft) // hop + 1
    padded = np.zeros((n_frames - 1) * hop + n_fft)
    padded[n_fft // 2:n_fft // 2 + n] = x
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    spec = np.fft.rfft(padded[idx] * win, axis=1)
    centers = hop * np.arange(n_frames)  # frame k is centred on x[k * hop]
    spec *= gains_at(centers)
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * win
    out = np.zeros_like(padded)
    _overlap_add(out, frames, hop)
    norm = np.sum(win ** 2) / hop
    return out[n_fft // 2:n_fft // 2 + n] / norm


def _overlap_add(out: np.ndarray, frames: np.ndarray, hop: int) -> None:
    n_fft = frames.shape[1]
    ratio = n_fft // hop
    for r in range(ratio):  # frames r, r+ratio, ... do not overlap each other
        block = frames[r::ratio]
        start = r * hop
        flat = block.reshape(-1)
        out[start:start + flat.size] += flat[: max(0, min(flat.size, out.size - start))]


# ---------------------------------------------------------------------------------------


def _lift(track: np.ndarray, lo: int, hi: int, value) -> None:
    """``track[lo:hi] = max(track[lo:hi], value)`` in place (clipped to the track)."""
    seg = track[lo:hi]
    if isinstance(value, np.ndarray):
        m = min(seg.size, value.size)
        seg[:m] = np.maximum(seg[:m], value[:m])
    else:
        np.maximum(seg, value, out=seg)


def _butter_noise(rng, n: int, band_hz: tuple[float, float], rate_hz: int) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    lo, hi = band_hz
    hi = min(hi, 0.45 * rate_hz)
    sos = butter(4, [lo, hi], btype="bandpass", fs=rate_hz, output="sos")
    y = sosfilt(sos, rng.standard_normal(n))
    return y / (np.std(y) + 1e-12)


def sing(notes, voice: Voice, sample_rate_hz: int, n_samples: int, rng: np.random.Generator
         ) -> np.ndarray:
    """Render ``notes`` with ``voice``: mono ``float32`` ``(n_samples,)``, peak 0.9.

    Silence outside the notes (and their consonants). Runs of notes separated
    by more than a breath are rendered separately (faster, and the rests are
    exactly silent).
    """
    sr = sample_rate_hz
    out = np.zeros(n_samples, dtype=np.float64)
    notes = sorted((n for n in notes if n.start_s < n_samples / sr), key=lambda n: n.start_s)
    groups: list[list] = []
    for note in notes:
        if groups and note.start_s - max(n.end_s for n in groups[-1]) < 0.3:
            groups[-1].append(note)
        else:
            groups.append([note])
    margin_s = 0.3
    for group in groups:
        t0 = max(group[0].start_s - margin_s, 0.0)
        t1 = min(max(n.end_s for n in group) + margin_s, n_samples / sr)
        i0, i1 = int(round(t0 * sr)), int(round(t1 * sr))
        t0 = i0 / sr
        local = [replace(n, start_s=n.start_s - t0, end_s=min(n.end_s, t1) - t0) for n in group]
        chunk = _sing_chunk(local, voice, sr, i1 - i0, rng)
        out[i0:i1] += chunk * float(np.mean([n.velocity for n in group]))
    top = np.max(np.abs(out))
    return (out / top * 0.9 if top > 0 else out).astype(np.float32)


def _sing_chunk(notes, voice: Voice, sr: int, n_samples: int, rng) -> np.ndarray:
    """One run of notes (times relative to the chunk): float64 ``(n_samples,)``, peak 1."""
    n_ctrl = int(np.ceil(n_samples / sr * _CTRL_HZ)) + 2
    pitch, amp = contours(notes, voice, n_ctrl, rng)

    # Consonant timing: closures dip the voicing, murmurs/glides extend it before the vowel.
    t_ctrl = np.arange(n_ctrl) / _CTRL_HZ
    nasal = np.zeros(n_ctrl)
    gates: dict[str, np.ndarray] = {}  # "burst-<c>" / "fric-<c>": noise gate per consonant
    aspiration = np.zeros(n_ctrl)

    def gate(name: str) -> np.ndarray:
        return gates.setdefault(name, np.zeros(n_ctrl))

    def ms(lo_s: float, hi_s: float) -> int:
        return int(rng.uniform(lo_s, hi_s) * _CTRL_HZ)

    for k, note in enumerate(notes):
        if not note.new_syllable:
            continue
        c = note.onset
        i0 = max(int(note.start_s * _CTRL_HZ), 0)
        if c in PLOSIVES:
            lo = max(i0 - ms(0.03, 0.06), 0)
            if c in ("p", "t", "k"):
                amp[lo:i0 + 5] *= np.linspace(1.0, 0.0, len(amp[lo:i0 + 5])) ** 2
            else:
                amp[lo:i0 + 5] *= 0.3
            _lift(gate("burst-" + c), i0, i0 + int(0.012 * _CTRL_HZ), np.linspace(1.0, 0.2, 12))
            if c in ("p", "t", "k"):  # aspiration before the voicing starts
                n_asp = ms(0.02, 0.05)
                _lift(aspiration, i0, i0 + n_asp, 0.8)
                amp[i0:i0 + n_asp] *= np.linspace(0.0, 1.0, len(amp[i0:i0 + n_asp]))
        elif c in FRICATIVES:
            lo = max(i0 - ms(0.06, 0.13), 0)
            _lift(gate("fric-" + c), lo, i0 + 10, np.sin(np.linspace(0, np.pi, i0 + 10 - lo)) ** 0.7)
            if c in ("s", "sh", "f"):  # unvoiced: the voice stops under the fricative
                amp[lo:i0] *= 0.05
            else:
                amp[lo:i0] = np.maximum(amp[lo:i0], 0.25 * note.velocity)
        elif c == "h":
            lo = max(i0 - ms(0.05, 0.1), 0)
            _lift(aspiration, lo, i0 + 15, 1.0)
            amp[lo:i0] *= 0.1
        elif c in NASALS or c in GLIDES:
            prev_end = int(notes[k - 1].end_s * _CTRL_HZ) if k > 0 else 0
            lo = max(i0 - ms(0.05, 0.09), prev_end - 20, 0)
            amp[lo:i0] = np.maximum(amp[lo:i0], (0.45 if c in NASALS else 0.6) * note.velocity)
            pitch[lo:i0] = note.pitch
            if c in NASALS:
                nasal[lo:i0 + 10] = 1.0
    for note in notes:
        if not note.coda:
            continue
        i1 = int(note.end_s * _CTRL_HZ)
        length = ms(0.06, 0.12)
        if note.coda in FRICATIVES:
            _lift(gate("fric-" + note.coda), i1, i1 + length, np.linspace(1.0, 0.0, length))
        elif note.coda in PLOSIVES:
            at = i1 + length // 2
            _lift(gate("burst-" + note.coda), at, at + 12, 0.7)
        else:  # nasal or liquid coda: a short murmur after the vowel
            _lift(amp, i1, i1 + length, 0.4 * note.velocity * np.linspace(1.0, 0.0, length))
            nasal[i1:i1 + length] = 1.0 if note.coda in NASALS else 0.0

    # Source at twice the rate, then decimate.
    os_rate = 2 * sr
    n_os = 2 * n_samples
    t_os = np.arange(n_os) / os_rate
    midi_os = np.interp(t_os, t_ctrl, pitch)
    f0_os = 440.0 * 2.0 ** ((midi_os - 69.0) / 12.0)
    amp_os = np.interp(t_os, t_ctrl, amp)
    oq_os = voice.open_quotient + 0.18 * (0.75 - np.clip(amp_os, 0, 1))
    dflow, flow = glottal_source(f0_os, oq_os, os_rate, voice, rng)
    src_os = dflow / (np.max(np.abs(dflow)) + 1e-12) * amp_os
    breath = rng.standard_normal(n_os) * (0.25 + flow / (flow.max() + 1e-12))
    breath_gain = 0.5 * voice.breathiness
    asp_os = np.interp(t_os, t_ctrl, aspiration)
    src_os = src_os + breath * (breath_gain * amp_os + 0.6 * asp_os)
    from rtsep.train.data.audio import resample

    src = resample(src_os.astype(np.float32), os_rate, sr).astype(np.float64)[:n_samples]
    if src.size < n_samples:
        src = np.pad(src, (0, n_samples - src.size))

    # Vocal tract.
    n_fft = 1024 if sr <= 48000 else 2048
    hop = n_fft // 4
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    f0_ctrl = 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)

    def gains_at(centers):
        times = np.clip(centers, 0, n_samples - 1) / sr
        formants = formant_tracks(notes, voice, times, np.interp(times, t_ctrl, f0_ctrl))
        return envelope(freqs, formants, voice, np.interp(times, t_ctrl, nasal))

    voiced = _stft_filter(src, gains_at, n_fft, hop)

    # Consonant noise, each class through its own band.
    t_s = np.arange(n_samples) / sr
    noise = np.zeros(n_samples)
    for name, gate in gates.items():
        kind, c = name.split("-", 1)
        g = np.interp(t_s, t_ctrl, gate)
        if kind == "burst":
            center = PLOSIVES[c] * voice.formant_scale
            band = (max(center / 2.5, 200.0), min(center * 2.5, 0.45 * sr))
            level = 0.5 if c in "ptk" else 0.25
        else:
            band = tuple(b * (0.9 + 0.1 * voice.formant_scale) for b in FRICATIVES[c])
            level = {"s": 0.3, "z": 0.2, "sh": 0.35, "f": 0.08, "v": 0.06}[c]
        noise += level * g * _butter_noise(rng, n_samples, band, sr)
    y = voiced / (np.max(np.abs(voiced)) + 1e-12) + noise
    fade = min(256, n_samples // 4)
    y[:fade] *= np.linspace(0.0, 1.0, fade)
    y[n_samples - fade:] *= np.linspace(1.0, 0.0, fade)
    return y / (np.max(np.abs(y)) + 1e-12)
