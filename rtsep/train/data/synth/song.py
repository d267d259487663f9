"""One synthetic song, rendered and mixed: :func:`render_song`.

The vocals stem holds everything sung: the lead (synthetic singer, a real
singing seed forced onto the melody or auto-tuned into key, real or espeak-ng
speech sung onto the melody), its double, breaths, backing vocals (harmony
lines, "ooh" chords, echoes) and the vocal reverb/delay. The accompaniment
stem holds everything else. After the stem effects, a bus compressor and a
limiter act on both stems through one shared gain, so
``mix == vocals + accompaniment`` holds exactly for the returned float32 stems
(the mix is defined as that sum).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace

import numpy as np

from rtsep.train.data.audio import activity_db, db_to_gain, pan_mono, resample
from rtsep.train.data.synth import mixing, psola, samples
from rtsep.train.data.synth.compose import Composition, compose
from rtsep.train.data.synth.fluid import FluidSession
from rtsep.train.data.synth.pools import Pools, check_split, load_native, song_seed_sequence
from rtsep.train.data.synth.singer import VOICE_PRESETS, Voice, perturb, sing

#: Bumped whenever the generator changes what a (split, seed, index) renders.
GENERATOR_VERSION = 2
SECONDS_RANGE = (20.0, 30.0)
TAIL_S = 1.5
P_INSTRUMENTAL_SONG = 0.06
LEAD_TECHNIQUES = ("synth", "seed-melody", "seed-autotune", "speech", "espeak")
_TECHNIQUE_WEIGHTS = {"synth": 0.35, "seed-melody": 0.2, "seed-autotune": 0.12, "speech": 0.18,
                      "espeak": 0.15}


@dataclass
class SynthSong:
    """A rendered song: stems ``float32`` ``(2, n_samples)`` at ``sample_rate_hz``."""

    name: str
    vocals: np.ndarray
    accompaniment: np.ndarray
    sample_rate_hz: int
    meta: dict = field(default_factory=dict)

    @property
    def mix(self) -> np.ndarray:
        """``vocals + accompaniment`` (float32), the song's mixture."""
        return self.vocals + self.accompaniment

    @property
    def seconds(self) -> float:
        return self.vocals.shape[1] / self.sample_rate_hz


@functools.lru_cache(maxsize=8)
def _pools(split: str, data_root: str | None) -> Pools:
    return Pools(split, data_root)


@functools.lru_cache(maxsize=64)
def _median_f0_hz(path: str) -> float:
    """Median pitch of a seed recording (decides whether a formant shift is needed)."""
    import parselmouth

    x, rate = load_native(path)
    pitch = parselmouth.Sound(np.asarray(x), sampling_frequency=rate).to_pitch(0.01, 60, 1000)
    f0 = pitch.selected_array["frequency"]
    return float(np.median(f0[f0 > 0])) if np.any(f0 > 0) else 150.0


def _formant_ratio(rng, seed_f0_hz: float, voice: Voice) -> float:
    """A vocal-tract scaling that moves a seed toward the target singer's register."""
    seed_high = seed_f0_hz > 165.0
    target_high = voice.formant_scale > 1.08
    if seed_high and not target_high:
        return float(rng.uniform(0.82, 0.95))
    if target_high and not seed_high:
        return float(rng.uniform(1.08, 1.2))
    return float(rng.uniform(0.94, 1.06))


def _choose_technique(rng, pools: Pools) -> str:
    usable = {"synth": True, "seed-melody": bool(pools.singing),
              "seed-autotune": bool(pools.singing),
              "speech": bool(pools.speech or pools.ljspeech),
              "espeak": psola.espeak_available()}
    names = [t for t in LEAD_TECHNIQUES if usable[t]]
    w = np.array([_TECHNIQUE_WEIGHTS[t] for t in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _local(notes, t0: float):
    return [replace(n, start_s=n.start_s - t0, end_s=n.end_s - t0) for n in notes]


def _place(out: np.ndarray, y: np.ndarray, start: int) -> None:
    lo = max(start, 0)
    seg = y[lo - start: lo - start + len(out) - lo]
    out[lo:lo + len(seg)] += seg


def _breath(rng, sample_rate_hz: int, seconds: float) -> np.ndarray:
    """An inhale: band-passed noise with a rise-fall envelope, mono float32, peak 1."""
    from scipy.signal import butter, sosfilt

    n = int(seconds * sample_rate_hz)
    lo, hi = float(rng.uniform(400, 900)), float(rng.uniform(4000, min(9000, 0.45 * sample_rate_hz)))
    noise = sosfilt(butter(2, [lo, hi], btype="bandpass", fs=sample_rate_hz, output="sos"),
                    rng.standard_normal(n))
    env = np.sin(np.linspace(0, np.pi, n)) ** 1.5
    y = noise * env
    return (y / (np.max(np.abs(y)) + 1e-12)).astype(np.float32)


class _VocalRenderer:
    """Renders vocal lines for one song with one technique and one seed source."""

    def __init__(self, rng, technique: str, pools: Pools, voice: Voice, comp: Composition,
                 sample_rate_hz: int, n_samples: int):
        self.rng, self.technique, self.voice, self.comp = rng, technique, voice, comp
        self.sr, self.n = sample_rate_hz, n_samples
        self.meta: dict = {"technique": technique, "singer": voice.name}
        self.source = None
        if technique in ("seed-melody", "seed-autotune"):
            path = pools.singing[int(rng.integers(len(pools.singing)))]
            self.source = load_native(str(path))
            self.meta["seed"] = path.stem
            self.formant_ratio = _formant_ratio(rng, _median_f0_hz(str(path)), voice)
        elif technique == "speech":
            options = list(pools.speech) + list(pools.ljspeech)
            path = options[int(rng.integers(len(options)))]
            self.source = load_native(str(path))
            self.meta["seed"] = path.stem
            self.formant_ratio = _formant_ratio(rng, _median_f0_hz(str(path)), voice)
        elif technique == "espeak":
            self.espeak_voice = pools.espeak_voice(rng)
            self.meta["espeak_voice"] = self.espeak_voice
            female = self.espeak_voice.split("+")[1].startswith("f")
            self.formant_ratio = _formant_ratio(rng, 200.0 if female else 120.0, voice)
        else:
            self.formant_ratio = 1.0
        self.stretch = {"seed-melody": (0.85, 1.2), "seed-autotune": (0.9, 1.1), "speech": (1.2, 1.9),
                        "espeak": (1.1, 1.6)}.get(technique, (1.0, 1.0))
        if technique != "synth":
            self.meta["formant_ratio"] = round(self.formant_ratio, 3)

    def line(self, phrases, voice: Voice | None = None) -> np.ndarray:
        """Mono ``float32`` ``(n_samples,)`` of a monophonic list of phrases, peak <= 1."""
        voice = voice or self.voice
        rng, sr = self.rng, self.sr
        if self.technique == "synth":
            notes = [note for ph in phrases for note in ph.notes]
            return sing(notes, voice, sr, self.n, rng)
        out = np.zeros(self.n, dtype=np.float32)
        for ph in phrases:
            t0 = max(ph.start_s - 0.15, 0.0)
            t1 = min(ph.end_s + 0.25, self.n / sr)
            n_out = int((t1 - t0) * sr)
            if n_out <= 0:
                continue
            stretch = float(rng.uniform(*self.stretch))
            if self.technique == "seed-autotune":
                center = float(np.mean([note.pitch for note in ph.notes]))
                y = psola.autotune(rng, self.source[0], self.source[1], self.comp.key, center, sr,
                                   n_out, float(rng.uniform(0.6, 1.0)), stretch, self.formant_ratio)
            else:
                if self.technique == "espeak":
                    text = " ".join(ph.words) or "la la"
                    source = psola.espeak(text, self.espeak_voice, int(rng.integers(110, 170)),
                                          int(rng.integers(30, 70)))
                else:
                    source = self.source
                y = psola.impose_melody(rng, source[0], source[1], _local(ph.notes, t0), voice, sr,
                                        n_out, stretch, self.formant_ratio)
            velocity = float(np.mean([note.velocity for note in ph.notes]))
            _place(out, y * velocity, int(t0 * sr))
        top = float(np.max(np.abs(out)))
        return out / top if top > 0 else out


def _render_vocals(rng, comp: Composition, technique: str, pools: Pools, voice: Voice,
                   sample_rate_hz: int, n_samples: int) -> tuple[np.ndarray, dict]:
    sr = sample_rate_hz
    stereo = np.zeros((2, n_samples), dtype=np.float32)
    if not comp.melody:
        return stereo, {"technique": "none"}
    renderer = _VocalRenderer(rng, technique, pools, voice, comp, sr, n_samples)
    meta = renderer.meta
    lead = renderer.line(comp.melody)
    # Breaths before phrases that follow a rest.
    prev_end = 0.0
    for ph in comp.melody:
        gap = ph.start_s - prev_end
        if gap > 0.5 and rng.random() < 0.5:
            dur = float(min(rng.uniform(0.2, 0.45), gap - 0.1))
            b = _breath(rng, sr, dur) * db_to_gain(float(rng.uniform(-32, -20)))
            _place(lead, b, int((ph.start_s - dur - 0.03) * sr))
        prev_end = ph.end_s
    lead = mixing.process(lead[None, :].repeat(2, axis=0), mixing.vocal_chain(rng, sr, comp.tempo_bpm),
                          sr)[0]
    pan = float(rng.normal(0.0, 0.05)) if rng.random() < 0.9 else float(rng.choice([-1, 1]) *
                                                                          rng.uniform(0.2, 0.5))
    stereo += pan_mono(lead, pan)
    meta["lead_pan"] = round(pan, 3)
    if rng.random() < 0.25:  # a double: detuned, delayed, quieter, opposite side
        cents = float(rng.uniform(-12, 12))
        double = resample(lead, sr * 2 ** (cents / 1200), sr)[:n_samples]
        delay = int(rng.uniform(0.012, 0.035) * sr)
        shifted = np.zeros(n_samples, dtype=np.float32)
        shifted[delay:delay + len(double)] = double[: n_samples - delay]
        stereo += pan_mono(shifted * db_to_gain(float(rng.uniform(-10, -5))),
                           -np.sign(pan or 1.0) * float(rng.uniform(0.2, 0.6)))
        meta["double"] = True
    backing_names = []
    for name, phrases in comp.backing:
        if technique == "synth" or name == "ooh":
            presets = [v for v in VOICE_PRESETS.values()
                       if v.name in pools.voice_presets() and abs(v.low - voice.low) <= 8]
            bvoice = perturb(presets[int(rng.integers(len(presets)))] if presets else voice, rng)
            if technique != "synth":
                saved, renderer.technique = renderer.technique, "synth"
                y = renderer.line(phrases, bvoice)
                renderer.technique = saved
            else:
                y = renderer.line(phrases, bvoice)
        else:
            y = renderer.line(phrases)
        y = mixing.process(y[None, :].repeat(2, axis=0), mixing.vocal_chain(rng, sr, comp.tempo_bpm),
                           sr)[0]
        stereo += pan_mono(y * db_to_gain(float(rng.uniform(-14, -6))),
                           float(rng.choice([-1, 1]) * rng.uniform(0.25, 0.8)))
        backing_names.append(name)
    meta["backing"] = backing_names
    if rng.random() < 0.85:
        amount = float(rng.uniform(0.04, 0.3))
        stereo = mixing.process(stereo, [mixing.reverb(rng, amount)], sr)
        meta["reverb_wet"] = round(amount, 3)
    return stereo, meta


def _render_accompaniment(rng, comp: Composition, pools: Pools, sample_rate_hz: int,
                          n_samples: int) -> tuple[np.ndarray, dict]:
    sr = sample_rate_hz
    modes = ["gm", "samples", "both"] if pools.available else ["gm"]
    weights = np.array([0.55, 0.2, 0.25][: len(modes)])
    drum_mode = modes[int(rng.choice(len(modes), p=weights / weights.sum()))]
    meta: dict = {"drums": drum_mode, "parts": [], "layers": []}
    use_sampler = pools.available and bool(pools.instrument_notes) and rng.random() < 0.35
    stems: list[tuple[str, np.ndarray]] = []
    with FluidSession(sr) as session:
        for part in comp.parts:
            inst = part.instrument
            if not inst.notes:
                continue
            if part.role == "drums" and drum_mode == "samples":
                continue
            if part.role == "lead" and use_sampler:
                continue
            audio = session.render(inst, n_samples, part.pan)
            if part.role in ("comp", "keys", "pad", "arp") and rng.random() < 0.3:
                audio = mixing.stereo_widen(audio.mean(axis=0), rng, sr, float(rng.uniform(0.5, 1.0)))
            stems.append((part.role, audio * db_to_gain(part.level_db + float(rng.uniform(-3, 3)))))
            meta["parts"].append([part.role, int(inst.program)])
    drum_part = next((p.instrument for p in comp.parts if p.role == "drums"), None)
    if drum_mode != "gm" and drum_part is not None:
        kit = samples.drum_kit_layer(rng, pools, drum_part, sr, n_samples)
        if kit is not None:
            stems.append(("drums", kit * db_to_gain(-6.0 if drum_mode == "both" else 0.0)))
            meta["layers"].append("sample-kit")
    lead_part = next((p.instrument for p in comp.parts if p.role == "lead"), None)
    if use_sampler and lead_part is not None:
        layer = samples.sampler_layer(rng, pools, lead_part, sr, n_samples)
        if layer is not None:
            stems.append(("lead", layer * db_to_gain(-4.0)))
            meta["layers"].append("sampler-lead")
    if pools.available and rng.random() < 0.3:
        layer = samples.loop_layer(rng, pools, comp, sr, n_samples)
        if layer is not None:
            stems.append(("drums", layer * db_to_gain(float(rng.uniform(-12, -4)))))
            meta["layers"].append("loop")
    if pools.available and rng.random() < 0.35:
        layer = samples.phrase_layer(rng, pools, comp, sr, n_samples)
        if layer is not None:
            stems.append(("lead", layer * db_to_gain(float(rng.uniform(-12, -4)))))
            meta["layers"].append("phrase")
    acc = np.zeros((2, n_samples), dtype=np.float32)
    wet = np.zeros((2, n_samples), dtype=np.float32)
    for role, audio in stems:
        peak_level = float(np.max(np.abs(audio)))
        if peak_level <= 0:
            continue
        processed = mixing.process(audio, mixing.instrument_chain(rng, role, sr), sr)
        acc += processed
        if role not in ("drums", "bass"):
            wet += processed
    if rng.random() < 0.7:
        amount = float(rng.uniform(0.05, 0.25))
        board = [mixing.reverb(rng, amount)]
        acc += mixing.process(wet, board, sr) - wet
        meta["reverb_wet"] = round(amount, 3)
    return acc, meta


def render_song(split: str = "train", seed: int = 0, index: int = 0, sample_rate_hz: int = 44100,
                seconds: float | None = None, data_root: str | os.PathLike | None = None,
                instrumental: bool | None = None) -> SynthSong:
    """Render song ``index`` of ``split`` under ``seed``: deterministic for these arguments.

    ``seconds``: target length (whole bars, plus a 1.5 s tail), drawn from
    20-30 s when ``None``; ``instrumental``: force a song with or without
    singing (``None``: 6% of songs have none). Seed material is drawn from the
    split's pools only (see :mod:`rtsep.train.data.synth.pools`).
    """
    check_split(split)
    if sample_rate_hz not in (44100, 48000):
        raise ValueError(f"sample_rate_hz must be 44100 or 48000, got {sample_rate_hz}")
    root = str(data_root) if data_root is not None else None
    pools = _pools(split, root)
    ss = song_seed_sequence(split, seed, index)
    rng_comp, rng_vox, rng_acc, rng_mix = (np.random.default_rng(s) for s in ss.spawn(4))
    if seconds is None:
        seconds = float(rng_comp.uniform(*SECONDS_RANGE))
    if instrumental is None:
        instrumental = bool(rng_comp.random() < P_INSTRUMENTAL_SONG)
    presets = pools.voice_presets()
    voice = perturb(VOICE_PRESETS[presets[int(rng_vox.integers(len(presets)))]], rng_vox)
    span = int(rng_vox.integers(11, 16))
    low = int(rng_vox.integers(voice.low, max(voice.low + 1, voice.high - span + 1)))
    comp = compose(rng_comp, seconds, (low, min(low + span, voice.high)), instrumental=instrumental)
    technique = _choose_technique(rng_vox, pools)
    sr = sample_rate_hz
    n = int(round((comp.duration_s + TAIL_S) * sr))

    vocals, vmeta = _render_vocals(rng_vox, comp, technique, pools, voice, sr, n)
    acc, ameta = _render_accompaniment(rng_acc, comp, pools, sr, n)

    # Vocal level relative to the accompaniment, measured where the lead sings.
    meta: dict = {}
    v_act = activity_db(vocals, sr)
    if np.max(v_act) > -100:
        loud = v_act > np.max(v_act) - 30
        a_act = activity_db(acc, sr)
        v_db = 10 * np.log10(np.mean(10 ** (v_act[loud] / 10)))
        a_db = 10 * np.log10(np.mean(10 ** (a_act[loud[: len(a_act)]] / 10)) + 1e-12)
        target = float(rng_mix.uniform(-6.0, 4.0))
        vocals = vocals * np.float32(db_to_gain(target - (v_db - a_db)))
        meta["vocal_to_accompaniment_db"] = round(target, 2)
    vocals, acc, bus = mixing.apply_bus(vocals.astype(np.float32), acc.astype(np.float32), sr,
                                        rng_mix, drive_db=float(rng_mix.uniform(0.0, 8.0)))
    # Fade the tail so the song ends in silence.
    fade = int(0.5 * sr)
    ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
    vocals[:, -fade:] *= ramp
    acc[:, -fade:] *= ramp
    meta.update({
        "generator_version": GENERATOR_VERSION, "split": split, "seed": int(seed),
        "index": int(index), "sample_rate_hz": sr, "style": comp.style, "key": str(comp.key),
        "tempo_bpm": round(comp.tempo_bpm, 2), "beats_per_bar": comp.beats_per_bar,
        "sections": [[s.name, s.n_bars, s.vocals] for s in comp.sections],
        "bar_s": round(comp.bar_s, 4), "vocals": vmeta, "accompaniment": ameta, "bus": bus,
        "seed_data": pools.available,
    })
    name = f"synth-{split}-{seed}-{index:04d}"
    return SynthSong(name, np.ascontiguousarray(vocals, dtype=np.float32),
                     np.ascontiguousarray(acc, dtype=np.float32), sr, meta)
