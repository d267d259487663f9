"""Pre-rendered synthetic songs on disk: ``<cache_dir>/synth/<split>/NNNN.npz``.

Each file is an uncompressed ``np.savez`` archive with

* ``vocals``, ``accompaniment``: ``float16`` ``(2, n_samples)``
  (:data:`rtsep.train.data.audio.CACHE_DTYPE`; songs written before session 21 hold
  ``float32`` and read the same);
* ``activity``: vocal RMS per 100 ms hop, dBFS, ``float32``;
* ``sample_rate_hz``: ``int64`` scalar; ``meta``: a JSON string (style, key,
  tempo, sections, vocal technique, singer, seeds, mix settings, ...).

The stems are memory-mapped when read, so sampling a segment touches only
its pages. Song ``i`` of a split is a pure function of (split, seed, i,
sample rate, generator version): rendering is resumable and any number of
worker processes gives the same files.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

from rtsep.train.data.audio import (CACHE_DTYPE, activity_db, npz_memmap, save_atomic,
                                    to_cache_dtype)
from rtsep.train.data.songs import ArraySong, SongCollection
from rtsep.train.data.synth.pools import check_split
from rtsep.train.data.synth.song import GENERATOR_VERSION, render_song


def split_dir(cache_dir: str | os.PathLike, split: str) -> Path:
    return Path(cache_dir) / "synth" / check_split(split)


def song_path(cache_dir: str | os.PathLike, split: str, index: int) -> Path:
    return split_dir(cache_dir, split) / f"{index:04d}.npz"


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON metadata of a cached song (without touching its audio)."""
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["meta"]))


def _up_to_date(path: Path, seed: int, sample_rate_hz: int) -> bool:
    try:
        meta = read_meta(path)
    except (OSError, ValueError, KeyError):
        return False
    return (meta.get("seed") == seed and meta.get("sample_rate_hz") == sample_rate_hz
            and meta.get("generator_version") == GENERATOR_VERSION)


def render_to_cache(cache_dir: str | os.PathLike, split: str, index: int, seed: int = 0,
                    sample_rate_hz: int = 44100, data_root: str | None = None,
                    overwrite: bool = False) -> tuple[Path, float, bool]:
    """Render song ``index`` into the cache unless an up-to-date file exists (one held
    as float32 is rewritten in half precision, :func:`shrink_song`).

    Returns ``(path, seconds spent rendering, whether it was shrunk)`` (0.0 when skipped).
    """
    path = song_path(cache_dir, split, index)
    if not overwrite and path.exists() and _up_to_date(path, seed, sample_rate_hz):
        return path, 0.0, shrink_song(path)
    t0 = time.perf_counter()
    song = render_song(split, seed, index, sample_rate_hz, data_root=data_root)
    write_song(path, song.vocals, song.accompaniment, sample_rate_hz, song.meta)
    return path, time.perf_counter() - t0, False


def write_song(path: str | os.PathLike, vocals: np.ndarray, accompaniment: np.ndarray,
               sample_rate_hz: int, meta: dict) -> None:
    """Write one song in the cache's ``.npz`` form (atomically); stems ``(2, n)``, stored
    in half precision (its activity is measured before rounding)."""
    meta = json.loads(json.dumps(meta, default=float))
    activity = activity_db(np.asarray(vocals, dtype=np.float32), sample_rate_hz)
    vocals = to_cache_dtype(vocals, f"{path}: vocals")
    accompaniment = to_cache_dtype(accompaniment, f"{path}: accompaniment")

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, vocals=vocals, accompaniment=accompaniment,
                     activity=activity,
                     sample_rate_hz=np.int64(sample_rate_hz), meta=np.array(json.dumps(meta)))
    save_atomic(Path(path), write)


def shrink_song(path: str | os.PathLike) -> bool:
    """Rewrite a cached song whose stems are float32 (written before session 21) in the
    cache's half precision; True if it did. Readers holding the old file keep it."""
    with np.load(path, allow_pickle=False) as npz:
        if npz["vocals"].dtype == CACHE_DTYPE:
            return False
        meta = json.loads(str(npz["meta"]))
        write_song(path, npz["vocals"], npz["accompaniment"], int(npz["sample_rate_hz"]), meta)
    return True


def _worker(job) -> tuple[int, float, bool]:
    cache_dir, split, index, seed, sample_rate_hz, data_root, overwrite = job
    _, spent, shrunk = render_to_cache(cache_dir, split, index, seed, sample_rate_hz, data_root,
                                       overwrite)
    return index, spent, shrunk


def render_cache(cache_dir: str | os.PathLike, split: str, n_songs: int, seed: int = 0,
                 sample_rate_hz: int = 44100, jobs: int = 1, data_root: str | None = None,
                 overwrite: bool = False, progress: bool = True, start_index: int = 0) -> dict:
    """Render songs ``start_index .. start_index + n_songs - 1`` of ``split`` into the cache.

    ``jobs`` worker processes (1: in this process). Shows a tqdm bar on stderr
    when ``progress``. Returns ``{"rendered": n, "skipped": n, "shrunk": n (of the
    skipped, rewritten from float32 in half precision), "render_s": total, "wall_s": elapsed}``.
    """
    from tqdm import tqdm

    check_split(split)
    if n_songs < 0 or jobs < 1:
        raise ValueError(f"need n_songs >= 0 and jobs >= 1, got {n_songs}, {jobs}")
    root = str(data_root) if data_root is not None else None
    jobs_list = [(str(cache_dir), split, i, int(seed), int(sample_rate_hz), root, overwrite)
                 for i in range(start_index, start_index + n_songs)]
    stats = {"rendered": 0, "skipped": 0, "shrunk": 0, "render_s": 0.0}
    t0 = time.perf_counter()
    bar = tqdm(total=len(jobs_list), desc=f"synth/{split}", unit="song", disable=not progress,
               file=sys.stderr)
    if jobs == 1:
        results = map(_worker, jobs_list)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(jobs)
        results = pool.imap_unordered(_worker, jobs_list)
    try:
        for _, spent, shrunk in results:
            stats["rendered" if spent > 0 else "skipped"] += 1
            stats["shrunk"] += shrunk
            stats["render_s"] += spent
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    stats["wall_s"] = time.perf_counter() - t0
    return stats


class NpzSong(ArraySong):
    """A cached synthetic song, stems memory-mapped; ``meta`` is its JSON metadata."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with np.load(self.path, allow_pickle=False) as npz:
            self.meta = json.loads(str(npz["meta"]))
            sample_rate_hz = int(npz["sample_rate_hz"])
            activity = np.asarray(npz["activity"], dtype=np.float32)
        super().__init__(f"{self.path.parent.name}/{self.path.stem}",
                         npz_memmap(self.path, "vocals"), npz_memmap(self.path, "accompaniment"),
                         sample_rate_hz, activity)


class SynthSongs(SongCollection):
    """All cached songs of one split: ``stem_songs`` (:class:`NpzSong`), ``songs`` tuples."""

    def __init__(self, cache_dir: str | os.PathLike = "cache", split: str = "train"):
        folder = split_dir(cache_dir, split)
        paths = sorted(folder.glob("[0-9]*.npz"))
        if not paths:
            raise FileNotFoundError(
                f"no pre-rendered synthetic songs in {folder}; render them first, e.g. "
                f"`rtsep make-data --cache-dir {cache_dir}` (or python -m rtsep.commands.make_data)")
        self.split = split
        self.name = f"synth/{split}"
        self.stem_songs = [NpzSong(p) for p in paths]
