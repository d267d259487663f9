"""Songs as two stems (vocals, accompaniment) that can be read in segments.

Every data source (real stems, synthetic cache, MUSDB) exposes its songs as
:class:`StemSong` objects; :mod:`rtsep.train.data.sampler` draws training
segments from them.
"""

from __future__ import annotations

import math

import numpy as np

from rtsep.train.data.audio import ACTIVITY_HOPS_PER_S, activity_db, resample

#: Input samples read on each side of a resampled segment and then discarded,
#: so that the resampler's edge transient never reaches the returned audio.
RESAMPLE_MARGIN_SAMPLES = 512


class StemSong:
    """A stereo song with a vocals stem and an accompaniment stem.

    Subclasses set ``name``, ``sample_rate_hz``, ``n_samples`` and
    ``activity_db`` (vocal RMS in dBFS per 100 ms hop, ``float32``
    ``(ceil(n_samples / hop),)``, or ``None`` when unknown) and implement
    :meth:`read`.
    """

    name: str
    sample_rate_hz: int
    n_samples: int
    activity_db: np.ndarray | None = None
    #: Highest frequency the recording holds (Hz); None: the full band (Nyquist).
    bandwidth_hz: float | None = None
    #: A teacher's vocals estimate of the song's own mixture, ``float32`` ``(2, n_samples)``,
    #: or None (see :mod:`rtsep.train.teacher`).
    teacher: np.ndarray | None = None

    def read(self, start: int, n: int, vocals: bool = True, accompaniment: bool = True
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Stems over samples ``[start, start + n)``, zero outside the song.

        Returns ``(vocals, accompaniment)``, each ``float32`` ``(2, n)`` or
        ``None`` when not asked for.
        """
        raise NotImplementedError

    def read_teacher(self, start: int, n: int) -> np.ndarray:
        """The teacher's vocals over ``[start, start + n)``, ``float32`` ``(2, n)``."""
        if self.teacher is None:
            raise ValueError(f"{self.name}: no teacher estimate attached")
        return _padded_slice(self.teacher, start, n)

    @property
    def content_bandwidth_hz(self) -> float:
        """Highest frequency with content: ``bandwidth_hz``, at most Nyquist."""
        nyquist = self.sample_rate_hz / 2.0
        return nyquist if self.bandwidth_hz is None else min(float(self.bandwidth_hz), nyquist)

    @property
    def activity_hop_samples(self) -> int:
        return self.sample_rate_hz // ACTIVITY_HOPS_PER_S

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sample_rate_hz

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, {self.sample_rate_hz} Hz, "
                f"{self.seconds:.1f} s)")


def _padded_slice(x: np.ndarray, start: int, n: int) -> np.ndarray:
    """``x[:, start:start + n]`` as a new float32 array, zero-padded outside ``x``."""
    out = np.zeros((x.shape[0], n), dtype=np.float32)
    lo, hi = max(start, 0), min(start + n, x.shape[1])
    if hi > lo:
        out[:, lo - start:hi - start] = x[:, lo:hi]
    return out


class ArraySong(StemSong):
    """A song held as two ``(2, n_samples)`` arrays (in memory or memory-mapped)."""

    def __init__(self, name: str, vocals: np.ndarray, accompaniment: np.ndarray,
                 sample_rate_hz: int, activity: np.ndarray | None = None,
                 bandwidth_hz: float | None = None):
        if vocals.ndim != 2 or vocals.shape[0] != 2:
            raise ValueError(f"{name}: vocals must be (2, n_samples), got {vocals.shape}")
        if vocals.shape != accompaniment.shape:
            raise ValueError(f"{name}: stem shapes differ: {vocals.shape} vs {accompaniment.shape}")
        self.name = name
        self.vocals = vocals
        self.accompaniment = accompaniment
        self.sample_rate_hz = int(sample_rate_hz)
        self.n_samples = int(vocals.shape[1])
        self.bandwidth_hz = bandwidth_hz
        self.activity_db = activity if activity is not None else activity_db(
            np.asarray(vocals), self.sample_rate_hz)

    def read(self, start, n, vocals=True, accompaniment=True):
        return (_padded_slice(self.vocals, start, n) if vocals else None,
                _padded_slice(self.accompaniment, start, n) if accompaniment else None)


class SongCollection:
    """A named list of :class:`StemSong` (``stem_songs``), e.g. one split of a set."""

    name: str = "songs"
    stem_songs: list

    @property
    def songs(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, vocals, accompaniment)`` of every song."""
        return [(s.name, s.vocals, s.accompaniment) for s in self.stem_songs]

    def __len__(self) -> int:
        return len(self.stem_songs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self.stem_songs)} songs)"


def input_samples(n_out: int, in_rate_hz: int, out_rate_hz: int, speed: float) -> int:
    """Song samples covered by ``n_out`` output samples played at ``speed``."""
    return int(math.ceil(n_out * in_rate_hz * speed / out_rate_hz))


def read_segment(song: StemSong, start: int, n_out: int, out_rate_hz: int,
                 speed: float = 1.0, vocals: bool = True, accompaniment: bool = True,
                 teacher: bool = False) -> tuple[np.ndarray | None, ...]:
    """Read a segment starting at song sample ``start``, at ``out_rate_hz``, sped up by ``speed``.

    ``speed`` > 1 plays faster and higher (a resample-based tape-speed change).
    All stems go through the same resampler call so they stay sample-aligned.
    Returns ``(vocals, accompaniment)``, each ``float32`` ``(2, n_out)`` or ``None``, and
    with ``teacher`` a third array, the song's teacher estimate over the same samples.
    """
    in_rate = song.sample_rate_hz

    def read(begin, n):
        v, a = song.read(begin, n, vocals, accompaniment)
        return (v, a, song.read_teacher(begin, n)) if teacher else (v, a)

    if speed == 1.0 and in_rate == out_rate_hz:
        return read(start, n_out)
    margin = RESAMPLE_MARGIN_SAMPLES
    n_in = input_samples(n_out, in_rate, out_rate_hz, speed) + 2 * margin + 8
    parts_in = read(start - margin, n_in)
    stems = [s for s in parts_in if s is not None]
    y = resample(np.concatenate(stems), in_rate * speed, out_rate_hz)
    offset = int(round(margin * out_rate_hz / (in_rate * speed)))
    y = y[:, offset:offset + n_out]
    if y.shape[1] < n_out:  # cannot happen with the margins above; guard anyway
        y = np.pad(y, ((0, 0), (0, n_out - y.shape[1])))
    parts = iter(np.split(y, len(stems)))
    return tuple(np.ascontiguousarray(next(parts)) if s is not None else None for s in parts_in)


def segment_bandwidth_hz(song: StemSong, out_rate_hz: int, speed: float = 1.0) -> float:
    """Content bandwidth (Hz) of a segment of ``song`` read at ``out_rate_hz`` and ``speed``."""
    return min(song.content_bandwidth_hz * speed, out_rate_hz / 2.0)


def band_limit(x: np.ndarray, sample_rate_hz: int, bandwidth_hz: float) -> np.ndarray:
    """``x`` ``(C, n)`` with nothing above ``bandwidth_hz``: resampled down to twice that
    rate and back (soxr's steep linear-phase low-pass, no delay); unchanged when the
    band is the whole band."""
    if bandwidth_hz >= sample_rate_hz / 2.0 - 1.0:
        return x
    low = 2.0 * bandwidth_hz
    y = resample(resample(x, sample_rate_hz, low), low, sample_rate_hz)
    n = x.shape[-1]
    return (y[..., :n] if y.shape[-1] >= n else np.pad(y, ((0, 0), (0, n - y.shape[-1])))
            ).astype(np.float32, copy=False)
