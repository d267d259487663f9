"""MUSDB18 / MUSDB18-HQ loader: vocals = vocals, accompaniment = drums + bass + other.

Layouts understood, under ``<root>/<subset>/`` with ``subset`` ``train`` or ``test``:

* MUSDB18-HQ (or ``musdbconvert`` output): ``<track>/{mixture,vocals,drums,bass,other}.wav``
  (``mixture.wav`` is not used: the mix is made by summing the stems, so it equals
  ``vocals + accompaniment`` exactly);
* MUSDB18: ``<track>.stem.mp4`` (streams mixture, drums, bass, other, vocals), which
  needs ``stempeg`` and the ``ffmpeg``/``ffprobe`` programs.

WAV stems are read lazily, segment by segment, so the whole set never has to fit
in memory. Vocal activity is not precomputed; the sampler redraws vocal segments
whose vocals are inaudible.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from rtsep.train.data.songs import StemSong

SUBSETS = ("train", "test")
ACCOMPANIMENT_STEMS = ("drums", "bass", "other")
#: Stream index of each stem in a MUSDB18 ``.stem.mp4``.
MP4_STREAMS = {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4}


def _stereo(x: np.ndarray) -> np.ndarray:
    """``(n, n_channels)`` file frames -> ``float32`` ``(2, n)``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    return np.ascontiguousarray(x[:, :2].T)


class MusdbWavTrack(StemSong):
    """One MUSDB18-HQ track folder, read segment by segment with soundfile."""

    def __init__(self, folder: str | os.PathLike):
        import soundfile as sf

        self.folder = Path(folder)
        self.name = self.folder.name
        self.paths = {s: self.folder / f"{s}.wav" for s in ("vocals", *ACCOMPANIMENT_STEMS)}
        missing = [p.name for p in self.paths.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"MUSDB track {self.folder} lacks {', '.join(missing)}")
        infos = {s: sf.info(str(p)) for s, p in self.paths.items()}
        rates = {i.samplerate for i in infos.values()}
        if len(rates) != 1:
            raise ValueError(f"MUSDB track {self.folder}: stems have different rates {sorted(rates)}")
        self.sample_rate_hz = int(rates.pop())
        self.n_samples = int(min(i.frames for i in infos.values()))
        self.activity_db = None

    def _read_stem(self, stem: str, start: int, n: int) -> np.ndarray:
        import soundfile as sf

        out = np.zeros((2, n), dtype=np.float32)
        lo, hi = max(start, 0), min(start + n, self.n_samples)
        if hi > lo:
            data, _ = sf.read(str(self.paths[stem]), start=lo, stop=hi, dtype="float32",
                              always_2d=True)
            out[:, lo - start:hi - start] = _stereo(data)
        return out

    def read(self, start, n, vocals=True, accompaniment=True):
        v = self._read_stem("vocals", start, n) if vocals else None
        a = None
        if accompaniment:
            a = self._read_stem(ACCOMPANIMENT_STEMS[0], start, n)
            for stem in ACCOMPANIMENT_STEMS[1:]:
                a += self._read_stem(stem, start, n)
        return v, a


def _require_stempeg():
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise RuntimeError("reading MUSDB18 .stem.mp4 needs ffmpeg and ffprobe on PATH (and "
                           "stempeg); install them or convert the set to WAV (musdbconvert)")
    try:
        import stempeg
    except ImportError as exc:
        raise RuntimeError("reading MUSDB18 .stem.mp4 needs the stempeg package "
                           "(pip install stempeg), or convert the set to WAV") from exc
    return stempeg


class MusdbStemTrack(StemSong):
    """One MUSDB18 ``.stem.mp4`` track, decoded per segment through stempeg/ffmpeg."""

    def __init__(self, path: str | os.PathLike):
        self._stempeg = _require_stempeg()
        self.path = Path(path)
        self.name = self.path.name[: -len(".stem.mp4")]
        self._info = self._stempeg.Info(str(self.path))
        self.sample_rate_hz = int(self._info.sample_rate(0))
        self.n_samples = int(min(self._info.samples(k) for k in range(self._info.nb_audio_streams)))
        self.activity_db = None

    def read(self, start, n, vocals=True, accompaniment=True):
        lo, hi = max(start, 0), min(start + n, self.n_samples)
        v = np.zeros((2, n), dtype=np.float32) if vocals else None
        a = np.zeros((2, n), dtype=np.float32) if accompaniment else None
        if hi <= lo:
            return v, a
        stems, _ = self._stempeg.read_stems(
            str(self.path), start=lo / self.sample_rate_hz, duration=(hi - lo) / self.sample_rate_hz,
            info=self._info, dtype=np.float32, always_3d=True)
        m = min(hi - lo, stems.shape[1])
        if vocals:
            v[:, lo - start:lo - start + m] = _stereo(stems[MP4_STREAMS["vocals"], :m])
        if accompaniment:
            for stem in ACCOMPANIMENT_STEMS:
                a[:, lo - start:lo - start + m] += _stereo(stems[MP4_STREAMS[stem], :m])
        return v, a


class MusdbSongs:
    """The tracks of one MUSDB subset (``"train"`` or ``"test"``) as stem songs.

    ``stem_songs``: list of :class:`~rtsep.train.data.songs.StemSong`;
    ``tracks``: optional list of track names to keep.
    """

    def __init__(self, root: str | os.PathLike, subset: str = "train",
                 tracks: list[str] | None = None):
        if subset not in SUBSETS:
            raise ValueError(f"unknown MUSDB subset {subset!r}; choose one of {SUBSETS}")
        if root is None:
            raise ValueError("MUSDB needs a root folder (musdb_root=... / --musdb-root)")
        folder = Path(root) / subset
        if not folder.is_dir():
            raise FileNotFoundError(f"MUSDB subset folder not found: {folder} "
                                    f"(expected <root>/{{train,test}}/<track>/vocals.wav)")
        songs: list[StemSong] = []
        for entry in sorted(folder.iterdir()):
            if tracks is not None and entry.name.removesuffix(".stem.mp4") not in tracks:
                continue
            if entry.is_dir() and (entry / "vocals.wav").is_file():
                songs.append(MusdbWavTrack(entry))
            elif entry.is_file() and entry.name.endswith(".stem.mp4"):
                songs.append(MusdbStemTrack(entry))
        if not songs:
            raise FileNotFoundError(f"no MUSDB tracks (<track>/vocals.wav or <track>.stem.mp4) "
                                    f"in {folder}")
        self.subset = subset
        self.stem_songs = songs

    @property
    def songs(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Whole tracks as ``(name, vocals, accompaniment)``, ``float32`` ``(2, n)`` (loads audio)."""
        out = []
        for s in self.stem_songs:
            v, a = s.read(0, s.n_samples)
            out.append((s.name, v, a))
        return out

    def __len__(self) -> int:
        return len(self.stem_songs)

    def __repr__(self) -> str:
        return f"MusdbSongs({self.subset!r}, {len(self.stem_songs)} tracks)"
