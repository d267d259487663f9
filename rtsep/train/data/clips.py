"""Folders of clips with true stems: ``<folder>/<clip>/{vocals,accompaniment}.<ext>``.

One loader for every such set: the CC0 album in ``real-train/everythingisremixed``
(48 kHz stereo songs), MIR-1K in ``real-train/mir1k`` (16 kHz mono clips by
amateur singers over karaoke backing tracks), and any folder a user lays out the
same way. Decoding Ogg is slow, so each clip's stems are decoded once into
``<cache_root>/<clip>/{vocals,accompaniment,activity}.npy`` (``float32``; stems
``(2, n_samples)`` at the clip's own rate, mono as centred stereo) and
memory-mapped after that; a fingerprint of the sources tells a stale cache.

A clip's content bandwidth is its Nyquist frequency (MIR-1K: 8 kHz), so the
trainer can leave the empty bins above it out of the loss rather than teach the
model that voices have no highs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from rtsep.train.data.audio import activity_db, read_audio, save_atomic, save_npy_atomic
from rtsep.train.data.paths import require_dir, resolve_data_root
from rtsep.train.data.songs import ArraySong, SongCollection

STEMS = ("vocals", "accompaniment")
#: MIR-1K training clips (13 singers) under the data root.
MIR1K_SUBDIR = Path("real-train") / "mir1k"
#: MIR-1K development clips (2 other singers): evaluation only, never training.
MIR1K_DEV_SUBDIR = Path("real-dev") / "mir1k"


def _fingerprint(paths: list[Path]) -> dict:
    return {p.name: [p.stat().st_size, int(p.stat().st_mtime)] for p in paths}


def _stem_paths(clip_dir: Path) -> list[Path]:
    out = []
    for stem in STEMS:
        found = sorted(clip_dir.glob(f"{stem}.*"))
        if not found:
            raise FileNotFoundError(f"{clip_dir}: no {stem}.* file")
        out.append(found[0])
    return out


def _decode(clip_dir: Path, cache: Path, expect_rate_hz: int | None) -> None:
    """Decode both stems of one clip into ``cache`` (npy + activity + fingerprint)."""
    sources = _stem_paths(clip_dir)
    stems, rate = [], None
    for path in sources:
        audio, r = read_audio(path)
        if expect_rate_hz is not None and r != expect_rate_hz:
            raise ValueError(f"{path}: expected {expect_rate_hz} Hz, got {r} Hz")
        if audio.shape[0] not in (1, 2):
            raise ValueError(f"{path}: expected mono or stereo, got {audio.shape[0]} channels")
        if rate is not None and r != rate:
            raise ValueError(f"{clip_dir}: stems at different rates ({rate} and {r} Hz)")
        rate = r
        stems.append(np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio)
    n = min(s.shape[1] for s in stems)  # lossy decoders may differ by a few samples
    for stem, audio in zip(STEMS, stems):
        save_npy_atomic(cache / f"{stem}.npy", np.ascontiguousarray(audio[:, :n]))
    save_npy_atomic(cache / "activity.npy", activity_db(stems[0][:, :n], rate))

    def write(tmp):
        Path(tmp).write_text(json.dumps({"sources": _fingerprint(sources), "sample_rate_hz": rate}))
    save_atomic(cache / "source.json", write)


def _cached_rate(clip_dir: Path, cache: Path) -> int | None:
    """The cached clip's rate when its cache is up to date, else None."""
    try:
        stored = json.loads((cache / "source.json").read_text())
        sources = _stem_paths(clip_dir)
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("sources") != json.loads(
            json.dumps(_fingerprint(sources))):
        return None
    if not all((cache / f"{name}.npy").exists() for name in (*STEMS, "activity")):
        return None
    return int(stored["sample_rate_hz"])


class ClipFolder(SongCollection):
    """The clips of one folder as :class:`~rtsep.train.data.songs.ArraySong` objects.

    ``folder``: holds ``<clip>/vocals.*`` and ``<clip>/accompaniment.*``;
    ``cache_root``: where decoded stems go; ``include``: keeps a clip by name;
    ``expect_rate_hz``: refuse clips at another rate. ``stem_songs``: the clips,
    each stem ``float32`` ``(2, n_samples)`` memory-mapped, at the clip's own rate.
    """

    def __init__(self, folder: str | os.PathLike, cache_root: str | os.PathLike,
                 include: Callable[[str], bool] | None = None, expect_rate_hz: int | None = None,
                 name: str | None = None, progress: bool = False):
        folder = require_dir(Path(folder), "clip folder")
        clip_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and any(d.glob("vocals.*")))
        if include is not None:
            clip_dirs = [d for d in clip_dirs if include(d.name)]
        if not clip_dirs:
            raise FileNotFoundError(f"no clips (<clip>/vocals.*) under {folder}")
        self.name = name or folder.name
        self.stem_songs: list[ArraySong] = []
        todo = [d for d in clip_dirs if _cached_rate(d, Path(cache_root) / d.name) is None]
        if todo:
            from tqdm import tqdm

            for d in tqdm(todo, desc=f"decoding {self.name}", unit="clip", file=sys.stderr,
                          disable=not progress or len(todo) < 20):
                _decode(d, Path(cache_root) / d.name, expect_rate_hz)
        for d in clip_dirs:
            cache = Path(cache_root) / d.name
            rate = _cached_rate(d, cache)
            vocals, accompaniment = (np.load(cache / f"{s}.npy", mmap_mode="r") for s in STEMS)
            self.stem_songs.append(ArraySong(d.name, vocals, accompaniment, rate,
                                             np.load(cache / "activity.npy")))



def mir1k(data_root: str | os.PathLike | None = None, split: str = "train",
          cache_dir: str | os.PathLike = "cache") -> ClipFolder:
    """MIR-1K: ``split="train"`` (13 singers, ``real-train/mir1k``) or ``"dev"`` (2 other
    singers, ``real-dev/mir1k``, evaluation only). 16 kHz, mono as centred stereo."""
    sub = {"train": MIR1K_SUBDIR, "dev": MIR1K_DEV_SUBDIR}.get(split)
    if sub is None:
        raise ValueError(f"unknown MIR-1K split {split!r}; choose 'train' or 'dev'")
    return ClipFolder(resolve_data_root(data_root) / sub, Path(cache_dir) / f"mir1k-{split}",
                      expect_rate_hz=16000, name=f"mir1k/{split}", progress=True)
