"""Training data for rtsep: real stems, synthetic songs, MUSDB18 (numpy only, no torch).

The trainer's entry points::

    src = build_source(kind="real" | "synth" | "both" | "musdb", split="train" | "valid",
                       sample_rate_hz=44100 | 48000, segment_samples=..., seed=0,
                       cache_dir="cache", data_root=None, musdb_root=None)
    mix, vocals = src.sample(rng)          # float32 (2, segment_samples) each
    heldout_synthetic(n_items, sample_rate_hz, seconds, seed)   # evaluation songs
    RealSongs(data_root, split="train" | "heldout").songs       # (name, vocals, accomp.), 48 kHz

``mix == vocals + accompaniment`` exactly in every segment (the accompaniment
is ``mix - vocals`` up to float32 rounding, or ask ``src.sample_stems(rng)``
for all three), and ``max |mix| <= 1``.
"""

from __future__ import annotations

import os

import numpy as np

from rtsep.train.data.clips import mir1k as mir1k_clips
from rtsep.train.data.real import RealSongs
from rtsep.train.data.sampler import Augmentation, CrossSource, Example, MixedSource, SegmentSource
from rtsep.train.data.synth import heldout_synthetic
from rtsep.train.teacher import attach_teacher

KINDS = ("real", "synth", "both", "cross", "mir1k", "all", "musdb")
#: Training sets that :func:`training_songs` knows.
TRAINING_SETS = ("synth", "cc0", "mir1k")
SPLITS = ("train", "valid")
#: Share of segments drawn from the real songs when ``kind="both"``.
REAL_WEIGHT = 0.4
#: ``kind="cross"``: shares of real songs, synthetic songs, real vocals over synthetic
#: accompaniment and synthetic vocals over real accompaniment.
CROSS_WEIGHTS = (0.3, 0.35, 0.25, 0.1)
#: ``kind="all"``: shares of synthetic songs, MIR-1K clips, CC0 songs, and the cross-source
#: remixes MIR-1K vocals over synthetic / CC0 accompaniment, synthetic / CC0 vocals over
#: MIR-1K backing tracks.
ALL_WEIGHTS = {"synth": 0.25, "mir1k": 0.25, "cc0": 0.10, "mir1k-vocals/synth-accomp": 0.12,
               "mir1k-vocals/cc0-accomp": 0.05, "synth-vocals/mir1k-accomp": 0.13,
               "cc0-vocals/mir1k-accomp": 0.10}


def check_weights(weights: dict) -> dict:
    """``weights`` for ``--data all``, checked: names of :data:`ALL_WEIGHTS`, shares >= 0,
    not all zero once merged with the defaults."""
    unknown = sorted(set(weights) - set(ALL_WEIGHTS))
    if unknown:
        raise ValueError(f"unknown data part(s) {', '.join(unknown)}; choose from {', '.join(ALL_WEIGHTS)}")
    bad = {k: v for k, v in weights.items() if not (float(v) >= 0.0 and np.isfinite(float(v)))}
    if bad:
        raise ValueError(f"data shares must be finite and >= 0, got {bad}")
    if sum({**ALL_WEIGHTS, **weights}.values()) <= 0:
        raise ValueError("at least one data part needs a share above 0")
    return {k: float(v) for k, v in weights.items()}


class SeededSource:
    """A source plus a default generator: ``sample()`` without ``rng`` uses ``seed``."""

    def __init__(self, source, seed: int):
        self.source = source
        self.seed = int(seed)
        self._rng = np.random.default_rng(seed)
        self.sample_rate_hz = source.sample_rate_hz
        self.segment_samples = source.segment_samples

    def sample(self, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mix, vocals)``, ``float32`` ``(2, segment_samples)``."""
        return self.source.sample(self._rng if rng is None else rng)

    def sample_stems(self, rng: np.random.Generator | None = None):
        """``(mix, vocals, accompaniment)``, ``float32`` ``(2, segment_samples)``."""
        return self.source.sample_stems(self._rng if rng is None else rng)

    def sample_example(self, rng: np.random.Generator | None = None) -> Example:
        """An :class:`Example` (stems, bandwidth, teacher estimate when there is one)."""
        return self.source.sample_example(self._rng if rng is None else rng)

    def __repr__(self) -> str:
        return f"{self.source!r} (seed {self.seed})"


def training_songs(set_name: str, data_root: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike = "cache", teacher: bool = False,
                   progress: bool = True) -> list:
    """The training songs of one set (``synth``, ``cc0`` or ``mir1k``) as StemSongs; with
    ``teacher`` each carries the Spleeter teacher's vocals of its own mixture (computed
    once into the cache, see :mod:`rtsep.train.teacher`; ``progress``: show a progress bar
    while it computes)."""
    if set_name == "synth":
        from rtsep.train.data.synth.cache import SynthSongs

        songs = SynthSongs(cache_dir, "train").stem_songs
    elif set_name == "cc0":
        songs = RealSongs(data_root, "train", cache_dir).stem_songs
    elif set_name == "mir1k":
        songs = mir1k_clips(data_root, "train", cache_dir).stem_songs
    else:
        raise ValueError(f"unknown training set {set_name!r}; choose one of {TRAINING_SETS}")
    if teacher:
        attach_teacher(songs, set_name, cache_dir, progress=progress)
    return songs


def build_source(kind: str = "both", split: str = "train", sample_rate_hz: int = 44100,
                 segment_samples: int = 131072, seed: int = 0,
                 cache_dir: str | os.PathLike = "cache",
                 data_root: str | os.PathLike | None = None,
                 musdb_root: str | os.PathLike | None = None,
                 augmentation: Augmentation | None = None,
                 real_weight: float = REAL_WEIGHT, teacher: bool = False,
                 weights: dict | None = None) -> SeededSource:
    """A segment source for training (``split="train"``) or validation (``"valid"``).

    * ``real``: the six training songs of ``<data_root>/real-train`` (valid: the
      held-out ``7-Francium``), decoded once into ``<cache_dir>/real``;
    * ``synth``: songs pre-rendered into ``<cache_dir>/synth/<split>`` by
      ``rtsep make-data``;
    * ``both``: each segment from real (``real_weight``) or synthetic songs;
    * ``cross``: as ``both``, plus segments with the vocals of the real songs
      over synthetic accompaniment and vice versa (:data:`CROSS_WEIGHTS`);
      validation as ``both``;
    * ``mir1k``: the MIR-1K training singers (16 kHz: band-limited examples);
      valid as ``both`` (MIR-1K's dev singers are for evaluation only);
    * ``all``: synthetic songs, MIR-1K, the CC0 songs and cross-source remixes
      between them (:data:`ALL_WEIGHTS`, or ``weights``: a dict naming some of its parts,
      the rest keep their default share; renormalised); valid as ``both``;
    * ``musdb``: ``<musdb_root>/train`` (valid: ``<musdb_root>/test``).

    ``teacher``: training songs carry the Spleeter teacher's estimate of their own mix
    (``synth``, ``real``/``cc0`` and ``mir1k`` songs; cached, see
    :mod:`rtsep.train.teacher`); it reaches segments that keep the song's own mix
    (``Augmentation.p_natural``).

    ``data_root`` defaults to ``../shared/data`` next to the repository (or
    ``$RTSEP_DATA``); ``cache_dir`` is relative to the working directory.
    Training segments are augmented (:class:`Augmentation`); validation
    segments only normalised. ``seed`` seeds ``sample()`` when it is called
    without a generator.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}; choose one of {KINDS}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if sample_rate_hz not in (44100, 48000):
        raise ValueError(f"sample_rate_hz must be 44100 or 48000, got {sample_rate_hz}")
    aug = augmentation or (Augmentation() if split == "train" else Augmentation.validation())

    def make(songs, name):
        return SegmentSource(songs, sample_rate_hz, segment_samples, aug, name=name)

    with_teacher = teacher and split == "train"

    def real():
        songs = RealSongs(data_root, "train" if split == "train" else "valid", cache_dir).stem_songs
        if with_teacher:
            attach_teacher(songs, "cc0", cache_dir)
        return make(songs, f"real/{split}")

    def synth():
        from rtsep.train.data.synth.cache import SynthSongs

        songs = SynthSongs(cache_dir, split).stem_songs
        if with_teacher:
            attach_teacher(songs, "synth", cache_dir)
        return make(songs, f"synth/{split}")

    def mir1k():
        return make(training_songs("mir1k", data_root, cache_dir, with_teacher), "mir1k/train")

    if kind == "real":
        source = real()
    elif kind == "synth":
        source = synth()
    elif kind == "both" or (kind in ("cross", "mir1k", "all") and split != "train"):
        if not 0.0 <= real_weight <= 1.0:
            raise ValueError(f"real_weight must be in [0, 1], got {real_weight}")
        source = MixedSource([real(), synth()], [real_weight, 1.0 - real_weight], name=f"both/{split}")
    elif kind == "cross":
        r, s = real(), synth()
        source = MixedSource([r, s, CrossSource(r, s, "real-vocals/synth-accomp"),
                              CrossSource(s, r, "synth-vocals/real-accomp")],
                             list(CROSS_WEIGHTS), name="cross/train")
    elif kind == "mir1k":
        source = mir1k()
    elif kind == "all":
        r, s, m = real(), synth(), mir1k()
        parts = {"synth": s, "mir1k": m, "cc0": r,
                 "mir1k-vocals/synth-accomp": CrossSource(m, s, "mir1k-vocals/synth-accomp"),
                 "mir1k-vocals/cc0-accomp": CrossSource(m, r, "mir1k-vocals/cc0-accomp"),
                 "synth-vocals/mir1k-accomp": CrossSource(s, m, "synth-vocals/mir1k-accomp"),
                 "cc0-vocals/mir1k-accomp": CrossSource(r, m, "cc0-vocals/mir1k-accomp")}
        share = {**ALL_WEIGHTS, **check_weights(weights or {})}
        source = MixedSource(list(parts.values()), [share[k] for k in parts], name="all/train")
    else:
        from rtsep.train.data.musdb import MusdbSongs

        source = make(MusdbSongs(musdb_root, "train" if split == "train" else "test").stem_songs,
                      f"musdb/{split}")
    return SeededSource(source, seed)


__all__ = ["ALL_WEIGHTS", "check_weights", "Augmentation", "CROSS_WEIGHTS", "Example", "CrossSource", "KINDS", "MixedSource", "RealSongs", "SeededSource", "SegmentSource",
           "build_source", "heldout_synthetic", "TRAINING_SETS", "training_songs"]
