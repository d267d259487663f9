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

import json
import os
from pathlib import Path

import numpy as np

from rtsep.train.data.audio import activity_db, read_audio, save_atomic, save_npy_atomic
from rtsep.train.data.paths import require_dir, resolve_data_root
from rtsep.train.data.songs import ArraySong

REAL_SUBDIR = Path("real-train") / "everythingisremixed"
HELDOUT_SONGS = ("7-Francium",)
REAL_SAMPLE_RATE_HZ = 48000
STEMS = ("vocals", "accompaniment")
SPLITS = ("train", "valid", "heldout")


def _fingerprint(paths: list[Path]) -> dict:
    return {p.name: [p.stat().st_size, int(p.stat().st_mtime)] for p in paths}


def _decode_to_cache(song_dir: Path, cache: Path) -> None:
    """Decode both stems of one song into ``cache`` (npy + activity + fingerprint)."""
    sources = [song_dir / f"{stem}.ogg" for stem in STEMS]
    stems = []
    for path in sources:
        audio, rate = read_audio(path)
        if rate != REAL_SAMPLE_RATE_HZ or audio.shape[0] != 2:
            raise ValueError(f"{path}: expected 48 kHz stereo, got {rate} Hz x {audio.shape[0]}")
        stems.append(audio)
    n = min(s.shape[1] for s in stems)  # lossy decoders may differ by a few samples
    for stem, audio in zip(STEMS, stems):
        save_npy_atomic(cache / f"{stem}.npy", np.ascontiguousarray(audio[:, :n]))
    save_npy_atomic(cache / "activity.npy", activity_db(stems[0][:, :n], REAL_SAMPLE_RATE_HZ))

    def write(tmp):
        Path(tmp).write_text(json.dumps(_fingerprint(sources)))
    save_atomic(cache / "source.json", write)


def _cached(song_dir: Path, cache: Path) -> bool:
    try:
        stored = json.loads((cache / "source.json").read_text())
    except (OSError, ValueError):
        return False
    sources = [song_dir / f"{stem}.ogg" for stem in STEMS]
    return stored == json.loads(json.dumps(_fingerprint(sources))) and all(
        (cache / f"{name}.npy").exists() for name in (*STEMS, "activity"))


class RealSongs:
    """The real stem songs of one split, decoded through the cache.

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
        folder = require_dir(resolve_data_root(data_root) / REAL_SUBDIR, "real stems folder")
        song_dirs = sorted(d for d in folder.iterdir() if (d / "vocals.ogg").is_file())
        if split == "train":
            song_dirs = [d for d in song_dirs if d.name not in HELDOUT_SONGS]
        else:
            song_dirs = [d for d in song_dirs if d.name in HELDOUT_SONGS]
        if not song_dirs:
            raise FileNotFoundError(f"no {split} songs (<song>/vocals.ogg) under {folder}")
        self.split = split
        self.stem_songs: list[ArraySong] = []
        for song_dir in song_dirs:
            cache = Path(cache_dir) / "real" / song_dir.name
            if not _cached(song_dir, cache):
                _decode_to_cache(song_dir, cache)
            vocals, accompaniment = (np.load(cache / f"{stem}.npy", mmap_mode="r") for stem in STEMS)
            self.stem_songs.append(ArraySong(song_dir.name, vocals, accompaniment,
                                             REAL_SAMPLE_RATE_HZ, np.load(cache / "activity.npy")))

    @property
    def songs(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(s.name, s.vocals, s.accompaniment) for s in self.stem_songs]

    def __len__(self) -> int:
        return len(self.stem_songs)

    def __repr__(self) -> str:
        return f"RealSongs({self.split!r}, {[s.name for s in self.stem_songs]})"
