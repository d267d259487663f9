"""Which seed material each synthetic split may use, and seeded random streams.

The held-out synthetic set (split ``"valid"``) never shares a singer, a seed
recording or a random stream with the training set (split ``"train"``):

* seed singing: ``carnatic.wav`` is held out; ``vocadito_1``, ``singing-female``,
  ``vignesh``, ``soprano-E4`` (and the speech seeds ``speech-female``/``speech-male``)
  are training only;
* LJ Speech: clips ``LJ001-0025`` .. ``LJ001-0032`` are held out, the other 24 train;
* instrument seeds: ``sax-phrase-short``, ``cello-double-2``, ``violin-B3`` and
  ``mridangam`` are held out;
* Sonic Pi samples: within each category (kick, snare, hat, loop, ...), sorted by
  name, every fifth sample (index 4, 9, ...) is held out;
* synthetic singers: presets ``baritone``, ``mezzo`` and ``female-breathy`` are
  held out (see :data:`~rtsep.train.data.synth.singer.VOICE_PRESETS`);
* espeak-ng: training uses en-us/en-gb/en-029/en-gb-scotland with variants
  m1-m4, f1-f3; the held-out set uses en-gb-x-rp with m6, m7, f4, f5;
* random streams: every song's generator is seeded from
  ``SeedSequence([seed, index], spawn_key=(split code,))`` with split codes
  train=0, valid=1, so no composition, mix or voice choice is shared.

Without the real-data folder, only the source-filter singer and FluidSynth
are used (the seed-based vocal and sample layers are skipped).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np

from rtsep.train.data.paths import resolve_data_root

SPLIT_CODES = {"train": 0, "valid": 1}
SINGING_SEEDS = {"train": ("vocadito_1", "singing-female", "vignesh", "soprano-E4"),
                 "valid": ("carnatic",)}
SPEECH_SEEDS = {"train": ("speech-female", "speech-male"), "valid": ()}
LJSPEECH_HELDOUT = tuple(f"LJ001-{k:04d}" for k in range(25, 33))
INSTRUMENT_HELDOUT = ("sax-phrase-short", "cello-double-2", "violin-B3", "mridangam")
VOICE_HELDOUT = ("baritone", "mezzo", "female-breathy")
ESPEAK_VOICES = {
    "train": (("en-us", "en-gb", "en-029", "en-gb-scotland"),
              ("m1", "m2", "m3", "m4", "f1", "f2", "f3")),
    "valid": (("en-gb-x-rp",), ("m6", "m7", "f4", "f5")),
}
#: Instrument seeds that are single notes (name ends in the pitch) vs. phrases.
INSTRUMENT_NOTES = {"flute-A4": 69, "oboe-A4": 69, "trumpet-A4": 69, "violin-B3": 59,
                    "organ-C3": 48, "vibraphone-C6": 84}
INSTRUMENT_PERCUSSION = ("bendir", "mridangam")

# Sonic Pi sample categories by name.
SONIC_CATEGORIES = {
    "kick": r"^(bd_|drum_bass_|drum_heavy_kick|elec_(hollow|soft)_kick)",
    "snare": r"^(sn_|drum_snare_|elec_(filt|hi|lo|mid)?_?snare|elec_snare)",
    "hat": r"^(hat_|drum_cymbal_(closed|pedal))",
    "cymbal": r"^(drum_cymbal_(open|hard|soft)|drum_splash|ride_|elec_cymbal)",
    "tom": r"^(drum_tom_|elec_fuzz_tom)",
    "perc": r"^(perc_|tabla_|drum_cowbell|elec_(wood|tick|triangle|pop|blip|plip|twip|ping|flip))",
    "loop": r"^(loop_|arovane_beat_)",
    "bass": r"^(bass_|glitch_bass_)",
    "ambient": r"^ambi_(?!choir)",  # the choir pad is voice-like: never accompaniment
    "guitar": r"^guit_",
    "fx": r"^(elec_(beep|bell|blup|bong|chime|twang)|glitch_perc|vinyl_|misc_cineboom|drum_roll)",
}


def check_split(split: str) -> str:
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown synthetic split {split!r}; choose one of {tuple(SPLIT_CODES)}")
    return split


def song_seed_sequence(split: str, seed: int, index: int) -> np.random.SeedSequence:
    """The root of all randomness of song ``index`` of ``split`` under ``seed``."""
    return np.random.SeedSequence([int(seed), int(index)], spawn_key=(SPLIT_CODES[check_split(split)],))


@functools.lru_cache(maxsize=512)
def load_mono(path: str, sample_rate_hz: int) -> np.ndarray:
    """A seed file as mono ``float32`` ``(n,)`` at ``sample_rate_hz`` (cached per process).

    Treat the result as read-only.
    """
    from rtsep.train.data.audio import read_audio

    audio, _ = read_audio(path, sample_rate_hz, mono=True)
    out = audio[0]
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=64)
def load_native(path: str) -> tuple[np.ndarray, int]:
    """A seed file as mono ``float64`` at its own rate (for Praat), cached per process."""
    from rtsep.train.data.audio import read_audio

    audio, rate = read_audio(path, mono=True)
    out = audio[0].astype(np.float64)
    out.setflags(write=False)
    return out, rate


class Pools:
    """Seed files available to one split (empty lists when the data folder is absent)."""

    def __init__(self, split: str, data_root: str | os.PathLike | None = None):
        self.split = check_split(split)
        root = resolve_data_root(data_root) / "seeds"
        self.available = root.is_dir()
        self.root = root
        held = split == "valid"
        if not self.available:
            self.singing, self.speech, self.ljspeech = [], [], []
            self.instrument_notes, self.instrument_phrases, self.instrument_perc = [], [], []
            self.sonic: dict[str, list[Path]] = {c: [] for c in SONIC_CATEGORIES}
            return
        sing_dir = root / "singing"
        self.singing = [sing_dir / f"{n}.wav" for n in SINGING_SEEDS[split]
                        if (sing_dir / f"{n}.wav").is_file()]
        self.speech = [sing_dir / f"{n}.wav" for n in SPEECH_SEEDS[split]
                       if (sing_dir / f"{n}.wav").is_file()]
        lj = sorted((root / "speech-ljspeech").glob("*.wav"))
        self.ljspeech = [p for p in lj if (p.stem in LJSPEECH_HELDOUT) == held]
        inst = sorted((root / "instruments").glob("*.wav"))
        inst = [p for p in inst if (p.stem in INSTRUMENT_HELDOUT) == held]
        self.instrument_notes = [p for p in inst if p.stem in INSTRUMENT_NOTES]
        self.instrument_perc = [p for p in inst if p.stem in INSTRUMENT_PERCUSSION]
        self.instrument_phrases = [p for p in inst if p.stem not in INSTRUMENT_NOTES
                                   and p.stem not in INSTRUMENT_PERCUSSION]
        samples = sorted((root / "sonic-pi-samples").glob("*.flac"))
        self.sonic = {}
        for category, pattern in SONIC_CATEGORIES.items():
            members = [p for p in samples if re.match(pattern, p.stem)]
            self.sonic[category] = [p for i, p in enumerate(members) if (i % 5 == 4) == held]

    def espeak_voice(self, rng: np.random.Generator) -> str:
        langs, variants = ESPEAK_VOICES[self.split]
        return f"{langs[int(rng.integers(len(langs)))]}+{variants[int(rng.integers(len(variants)))]}"

    def voice_presets(self) -> list[str]:
        from rtsep.train.data.synth.singer import VOICE_PRESETS

        held = self.split == "valid"
        return [name for name in VOICE_PRESETS if (name in VOICE_HELDOUT) == held]

    def __repr__(self) -> str:
        return (f"Pools({self.split!r}, singing={len(self.singing)}, speech={len(self.speech)}, "
                f"ljspeech={len(self.ljspeech)}, instruments={len(self.instrument_notes)}"
                f"+{len(self.instrument_phrases)}+{len(self.instrument_perc)}, "
                f"sonic={sum(len(v) for v in self.sonic.values())})")
