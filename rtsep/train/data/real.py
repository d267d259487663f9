"""Real songs with real stems: ``<data root>/real-train/everythingisremixed``.

Seven 48 kHz stereo songs (CC0), each as ``vocals.ogg`` and
``accompaniment.ogg``. ``7-Francium`` is held out (split ``"valid"`` or
``"heldout"``); the other six are the training split. Ogg decoding is slow, so
each stem is decoded once into ``<cache_dir>/real/<song>/<stem>.npy``
(``float32`` ``(2, n_samples)``) and memory-mapped after that.

Several songs' stems sum above full scale; segments are normalised when
sampled (see :mod:`rtsep.train.data.sampler`), songs are returned as stored.
"""

from __future__ import annotations

import os
from pathlib import Path

from rtsep.train.data.clips import ClipFolder
from rtsep.train.data.paths import resolve_data_root

REAL_SUBDIR = Path("real-train") / "everythingisremixed"
HELDOUT_SONGS = ("7-Francium",)
REAL_SAMPLE_RATE_HZ = 48000
SPLITS = ("train", "valid", "heldout")


class RealSongs(ClipFolder):
    """The real stem songs of one split, decoded through the cache (a :class:`ClipFolder`).

    ``songs``: list of ``(name, vocals, accompaniment)``, each stem ``float32``
    ``(2, n_samples)`` at 48 kHz (memory-mapped, read-only).
    ``stem_songs``: the same as :class:`~rtsep.train.data.songs.ArraySong`
    objects (with vocal activity) for segment sampling.
    """

    sample_rate_hz = REAL_SAMPLE_RATE_HZ

    def __init__(self, data_root: str | os.PathLike | None = None, split: str = "train",
                 cache_dir: str | os.PathLike = "cache"):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        train = split == "train"
        super().__init__(resolve_data_root(data_root) / REAL_SUBDIR, Path(cache_dir) / "real",
                         include=lambda name: (name not in HELDOUT_SONGS) == train,
                         expect_rate_hz=REAL_SAMPLE_RATE_HZ, name=f"cc0/{split}")
        self.split = split
