"""Accompaniment layers from real recordings placed on the song's grid.

* a sampled drum kit (Sonic Pi kick/snare/hat/cymbal/tom hits) playing the
  song's drum part, instead of or on top of the General MIDI kit;
* drum and percussion loops (Sonic Pi loops, the bendir and mridangam
  recordings) resampled to a whole number of beats and repeated;
* a sampler playing the lead part (or fills) with real single-note recordings
  (flute, oboe, trumpet, violin, organ, vibraphone), pitch-shifted by resampling;
* real instrument phrases (cello, sax, orchestra, piano, guitar) and ambient
  beds or effects dropped into the arrangement.

Every function returns ``float32`` ``(2, n_samples)`` stems (already panned).
"""

from __future__ import annotations

import numpy as np

from rtsep.train.data.audio import pan_mono, resample
from rtsep.train.data.synth.pools import INSTRUMENT_NOTES, Pools, load_mono

_GM_TO_CATEGORY = {35: "kick", 36: "kick", 37: "snare", 38: "snare", 39: "snare", 40: "snare",
                   42: "hat", 44: "hat", 46: "hat", 49: "cymbal", 51: "cymbal", 41: "tom",
                   43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom"}


def _add(out: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add mono ``x`` into ``out`` ``(n,)`` at ``start`` (clipped to the buffer)."""
    if start >= out.shape[-1]:
        return
    lo = max(start, 0)
    seg = x[lo - start: lo - start + out.shape[-1] - lo]
    out[lo:lo + seg.size] += gain * seg


def _pick(rng, items):
    return items[int(rng.integers(len(items)))] if items else None


def _shift(x: np.ndarray, semitones: float, sample_rate_hz: int) -> np.ndarray:
    """Resample-based pitch (and speed) change of mono ``x``."""
    if abs(semitones) < 1e-6:
        return x
    return resample(x, sample_rate_hz * 2.0 ** (semitones / 12.0), sample_rate_hz)


def drum_kit_layer(rng, pools: Pools, drums, sample_rate_hz: int, n_samples: int) -> np.ndarray | None:
    """The GM drum part ``drums`` (``pretty_midi.Instrument``) played on sampled hits."""
    kit = {c: _pick(rng, pools.sonic.get(c, [])) for c in ("kick", "snare", "hat", "cymbal", "tom")}
    if kit["kick"] is None or kit["snare"] is None:
        return None
    sounds = {c: load_mono(str(p), sample_rate_hz) for c, p in kit.items() if p is not None}
    pans = {"kick": 0.0, "snare": float(rng.uniform(-0.1, 0.1)), "hat": float(rng.uniform(-0.5, 0.5)),
            "cymbal": float(rng.uniform(-0.6, 0.6)), "tom": float(rng.uniform(-0.4, 0.4))}
    tracks = {c: np.zeros(n_samples, dtype=np.float32) for c in sounds}
    for note in drums.notes:
        c = _GM_TO_CATEGORY.get(note.pitch)
        if c in sounds:
            _add(tracks[c], sounds[c], int(note.start * sample_rate_hz), note.velocity / 127.0)
    out = np.zeros((2, n_samples), dtype=np.float32)
    for c, track in tracks.items():
        level = {"hat": 0.5, "cymbal": 0.5, "tom": 0.8}.get(c, 1.0)
        out += level * pan_mono(track, pans[c])
    return out


def loop_layer(rng, pools: Pools, comp, sample_rate_hz: int, n_samples: int) -> np.ndarray | None:
    """A drum/percussion loop stretched to whole beats, repeated over energetic sections."""
    candidates = pools.sonic.get("loop", []) + pools.instrument_perc
    path = _pick(rng, candidates)
    if path is None:
        return None
    x = load_mono(str(path), sample_rate_hz)
    beat = comp.beat_s * sample_rate_hz
    n_beats = min((b for b in (1, 2, 4, 8, 16)), key=lambda b: abs(np.log(len(x) / (b * beat))))
    target = int(round(n_beats * beat))
    x = resample(x, sample_rate_hz * target / len(x), sample_rate_hz)[:target]
    fade = min(64, target // 4)
    x = x.copy()
    x[-fade:] *= np.linspace(1, 0, fade)
    track = np.zeros(n_samples, dtype=np.float32)
    min_energy = float(rng.uniform(0.3, 0.8))
    for sec in comp.sections:
        if sec.energy < min_energy:
            continue
        start = int(round(sec.start_bar * comp.bar_s * sample_rate_hz))
        end = int(round((sec.start_bar + sec.n_bars) * comp.bar_s * sample_rate_hz))
        for pos in range(start, end, target):
            _add(track, x[: end - pos], pos)
    return pan_mono(track, float(rng.uniform(-0.3, 0.3)))


def sampler_layer(rng, pools: Pools, part, sample_rate_hz: int, n_samples: int) -> np.ndarray | None:
    """Play ``part``'s notes (``pretty_midi.Instrument``) on a real single-note recording."""
    path = _pick(rng, pools.instrument_notes)
    if path is None or not part.notes:
        return None
    base = INSTRUMENT_NOTES[path.stem]
    x = load_mono(str(path), sample_rate_hz)
    onset = int(np.argmax(np.abs(x) > 0.1 * np.max(np.abs(x))))  # skip leading silence
    x = x[max(0, onset - int(0.005 * sample_rate_hz)):]
    octave = 12 * int(np.round((base - np.median([n.pitch for n in part.notes])) / 12))
    cache: dict[int, np.ndarray] = {}
    track = np.zeros(n_samples, dtype=np.float32)
    fade = int(0.04 * sample_rate_hz)
    for note in part.notes:
        semis = int(np.clip(note.pitch + octave - base, -12, 12))
        if semis not in cache:
            cache[semis] = _shift(x, semis, sample_rate_hz)
        y = cache[semis]
        length = min(len(y), int((note.end - note.start) * sample_rate_hz) + fade)
        seg = y[:length].copy()
        if length > fade:
            seg[-fade:] *= np.linspace(1, 0, fade)
        _add(track, seg, int(note.start * sample_rate_hz), note.velocity / 127.0)
    return pan_mono(track, float(rng.uniform(-0.5, 0.5)))


def phrase_layer(rng, pools: Pools, comp, sample_rate_hz: int, n_samples: int) -> np.ndarray | None:
    """A real instrument phrase (or guitar/ambient/fx sample) placed once or twice."""
    options = list(pools.instrument_phrases) + list(pools.sonic.get("guitar", [])) + \
        list(pools.sonic.get("ambient", [])) + list(pools.sonic.get("fx", []))
    path = _pick(rng, options)
    if path is None:
        return None
    x = load_mono(str(path), sample_rate_hz)
    x = _shift(x, float(rng.integers(-2, 3)), sample_rate_hz)
    if path.stem.startswith("guit_e"):  # guitar samples are in E: move them to the key
        x = _shift(x, ((comp.key.tonic_pc - 4 + 6) % 12) - 6, sample_rate_hz)
    track = np.zeros(n_samples, dtype=np.float32)
    starts = [s for s in comp.sections if not s.vocals] or comp.sections
    for _ in range(int(rng.integers(1, 3))):
        sec = _pick(rng, starts)
        start = int(sec.start_bar * comp.bar_s * sample_rate_hz)
        length = min(len(x), int(sec.n_bars * comp.bar_s * sample_rate_hz) + sample_rate_hz)
        seg = x[:length].copy()
        fade = min(int(0.1 * sample_rate_hz), length // 4)
        seg[-fade:] *= np.linspace(1, 0, fade)
        _add(track, seg, start)
    return pan_mono(track, float(rng.uniform(-0.7, 0.7)))
