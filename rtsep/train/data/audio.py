"""Small audio helpers shared by the data pipeline (numpy/soxr/soundfile only).

Audio is ``float32`` of shape ``(n_channels, n_samples)`` unless a docstring says
otherwise; gains are linear unless the name ends in ``_db``.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

#: Hop of the vocal-activity envelope: one value per 100 ms.
ACTIVITY_HOPS_PER_S = 10
#: Floor of every dB envelope (digital silence maps here, not to -inf).
SILENCE_DB = -120.0


#: Stems and teacher estimates in the training cache (synthetic songs, Spleeter's
#: vocals) are stored in half precision: each sample is rounded to 2^-11 of itself
#: (about -66 dB, far below any separation error a model makes), and 720 songs with
#: their teacher take 10 GB of disk and page cache instead of 21 (measured in session 21;
#: training speed on the 2-core machine was unchanged). Readers get float32.
CACHE_DTYPE = np.float16


def to_cache_dtype(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as :data:`CACHE_DTYPE`; a ValueError naming ``what`` if it holds NaN/Inf or
    exceeds half precision's range (a cache would silently hold Inf otherwise)."""
    x = np.asarray(x, dtype=np.float32)
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{what}: holds NaN or Inf; not cached")
    top, peak = float(np.finfo(CACHE_DTYPE).max), float(np.abs(x).max()) if x.size else 0.0
    if peak >= top:
        raise ValueError(f"{what}: peak {peak:.4g} is beyond half precision ({top:.0f}); not cached")
    return x.astype(CACHE_DTYPE)


def db_to_gain(value_db: float | np.ndarray) -> float | np.ndarray:
    """Linear amplitude gain for ``value_db`` decibels."""
    out = np.power(10.0, np.asarray(value_db, dtype=np.float64) / 20.0)
    return float(out) if out.ndim == 0 else out


def peak(x: np.ndarray) -> float:
    """Largest absolute sample value (0.0 for an empty array)."""
    return float(np.max(np.abs(x))) if x.size else 0.0


def rms(x: np.ndarray) -> float:
    """Root-mean-square level over every sample, in float64."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def resample(x: np.ndarray, in_rate_hz: float, out_rate_hz: float) -> np.ndarray:
    """Resample ``x`` of shape ``(n_channels, n)`` or ``(n,)`` with soxr (HQ).

    Returns ``float32`` with the same number of dimensions; a no-op copy when
    the rates are equal.
    """
    x = np.asarray(x, dtype=np.float32)
    if in_rate_hz == out_rate_hz:
        return x.copy()
    import soxr

    if x.ndim == 1:
        return soxr.resample(x, float(in_rate_hz), float(out_rate_hz)).astype(np.float32)
    y = soxr.resample(np.ascontiguousarray(x.T), float(in_rate_hz), float(out_rate_hz))
    return np.ascontiguousarray(y.T, dtype=np.float32)


def read_audio(path: str | os.PathLike, sample_rate_hz: int | None = None,
               mono: bool = False, start: int = 0, stop: int | None = None
               ) -> tuple[np.ndarray, int]:
    """Read a sound file as ``float32`` ``(n_channels, n_samples)``.

    ``start``/``stop`` are frame indices at the file's rate. With ``mono`` the
    channels are averaged to shape ``(1, n)``; with ``sample_rate_hz`` the audio
    is resampled. Returns ``(audio, rate_hz)``.
    """
    import soundfile as sf

    data, rate = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    audio = np.ascontiguousarray(data.T)
    if mono and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
    if sample_rate_hz is not None and sample_rate_hz != rate:
        audio = resample(audio, rate, sample_rate_hz)
        rate = sample_rate_hz
    return audio, int(rate)


def pan_mono(x: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan of mono ``x`` ``(n,)`` to ``(2, n)``; ``pan`` in [-1, 1] (L..R)."""
    angle = (np.clip(pan, -1.0, 1.0) + 1.0) * np.pi / 4.0
    x = np.asarray(x, dtype=np.float32)
    return np.stack([x * np.float32(np.cos(angle)), x * np.float32(np.sin(angle))])


def activity_db(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """RMS level per 100 ms hop, ``float32`` ``(ceil(n / hop),)`` in dBFS.

    ``x`` is ``(n_channels, n_samples)``; the mean square is taken over channels
    and the hop; silence maps to :data:`SILENCE_DB`.
    """
    hop = sample_rate_hz // ACTIVITY_HOPS_PER_S
    n = x.shape[-1]
    n_hops = -(-n // hop)
    power = np.zeros(n_hops * hop, dtype=np.float64)
    power[:n] = np.mean(np.square(x, dtype=np.float64), axis=0) if x.ndim == 2 else np.square(x)
    ms = power.reshape(n_hops, hop).mean(axis=1)
    # The last hop may be partial: average over its real samples only.
    tail = n - (n_hops - 1) * hop
    ms[-1] *= hop / tail
    return np.maximum(10.0 * np.log10(ms + 1e-30), SILENCE_DB).astype(np.float32)


def save_atomic(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path`` (safe with parallel workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` to ``path`` through a temporary file."""
    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, array)
    save_atomic(path, write)


def npz_memmap(path: str | os.PathLike, name: str) -> np.ndarray:
    """Memory-map member ``name`` of an *uncompressed* ``.npz`` (``np.savez``).

    Reading a short segment then touches only its pages instead of decoding
    the whole member. Falls back to a full load for compressed archives.
    """
    path = str(path)
    member = name + ".npy"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        stored = info.compress_type == zipfile.ZIP_STORED
    if not stored:
        with np.load(path) as npz:
            return npz[name]
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: corrupt zip member {member}")
        n_name = int.from_bytes(local[26:28], "little")
        n_extra = int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + n_name + n_extra)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")
