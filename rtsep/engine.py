"""The streaming separation engine: core STFT -> model step -> core iSTFT.

:func:`block_processor` makes the one C++ block processor
(``csrc/block_processor.hpp``: fixed-latency block adapter, STFT, mask, overlap-add,
dry delay, mode/gains/bypass) over a :mod:`rtsep.runtime` runner; :class:`Separator`
(``rtsep separate``, evaluation, benchmarks) and :class:`rtsep.Processor` (embedding)
wrap it. Any block size in, the same
number of samples out, delayed by exactly :attr:`Separator.latency_samples`.

Shapes: audio ``float32 (n_channels, n_samples)`` with ``n_channels == 2``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from rtsep.config import StftGeometry
from rtsep.errors import UserError
from rtsep.paths import models_dir

#: Where the shipped model lives: inside the installed package (a wheel), else the
#: checkout's ``models/`` (an editable install); see :mod:`rtsep.paths`.
MODELS_DIR = models_dir()
DEFAULT_MODEL_NAME = "rtsep-default.onnx"
IDENTITY_MODEL = "identity"


def default_model_path() -> Path:
    """The shipped model, ``rtsep-default.onnx`` in :data:`MODELS_DIR`."""
    return MODELS_DIR / DEFAULT_MODEL_NAME


class IdentityRunner:
    """Test processor with the runner interface: mask = 1 (vocals = input).

    Lets the whole machinery run without a trained model.
    """

    backend = "identity"

    def __init__(self, latency_mode: str = "default", sample_rate_hz: int = 48000):
        self.geometry = StftGeometry(latency_mode=latency_mode)
        self.latency_samples = self.geometry.latency_samples
        self.sample_rate_hz = sample_rate_hz
        self.metadata = {"name": "identity", "latency_samples": self.latency_samples}
        self._mask = np.ones((2, self.geometry.n_bins), dtype=np.float32)

    def step(self, frame: np.ndarray) -> np.ndarray:
        return self._mask

    def reset(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}(geometry={self.geometry!r})"


class NativeIdentityRunner(IdentityRunner):
    """The identity stepped natively (``--model identity``): the block processor runs a
    :class:`rtsep._core.ConstantMaskModel`, no Python per hop, real-time safe, so it runs
    in an audio callback too (``--schedule inline``) and is a like-for-like control for
    the native model. (Subclass :class:`IdentityRunner` to override ``step``.)"""

    def __init__(self, latency_mode: str = "default", sample_rate_hz: int = 48000):
        super().__init__(latency_mode, sample_rate_hz)
        from rtsep import _core

        self.native_model = _core.ConstantMaskModel(self.geometry.n_bins)


def load_runner(model: str | Path | None = None, *, backend: str = "auto", latency_mode: str = "default",
                sample_rate_hz: int = 48000):
    """A runner for ``model`` (path, ``"identity"``, or None for the shipped model)."""
    if model is not None and str(model) == IDENTITY_MODEL:
        return NativeIdentityRunner(latency_mode, sample_rate_hz)
    from rtsep import runtime

    path = Path(model) if model is not None else default_model_path()
    if model is None and not path.exists():
        raise UserError(f"the shipped model {path} is missing; pass --model PATH "
                        "(or --model identity to test the machinery)")
    return runtime.load(path, backend=backend, latency_mode=latency_mode, sample_rate_hz=sample_rate_hz)


def block_processor(runner, *, max_block_samples: int, n_channels: int = 2, parameters=None):
    """The one C++ block processor (:class:`rtsep._core.BlockProcessor`) over ``runner``.

    The native runner's C++ model is stepped in C++ (GIL released); any other runner
    (ONNX Runtime, TorchScript, identity) is stepped through its ``step``/``reset``
    with the GIL taken per hop. ``parameters``: a shared :class:`rtsep._core.Parameters`
    (mode, gains, bypass), or None for the defaults (mode both, 0 dB: the separated
    vocals and instrumental themselves).
    """
    from rtsep import _core

    g: StftGeometry = runner.geometry
    model = getattr(runner, "native_model", None) or runner
    proc = _core.BlockProcessor(model, g.n_fft, g.hop_samples, g.analysis_window(),
                                g.synthesis_window(), float(runner.sample_rate_hz),
                                int(max_block_samples), int(n_channels), parameters)
    if proc.latency_samples != runner.latency_samples:
        raise UserError(f"model latency {runner.latency_samples} != engine latency "
                        f"{proc.latency_samples}: mismatched model file")
    return proc


class Separator:
    """Streaming stereo separator: the block processor with its default parameters.

    Args:
        runner: a :mod:`rtsep.runtime` runner (or :class:`IdentityRunner`).
        max_block_samples: the largest block :meth:`process_into` takes
            (preallocated); :meth:`process` splits longer ones.

    ``process(x)`` returns ``(vocals, instrumental)`` for a block of any size,
    delayed by :attr:`latency_samples`; ``vocals + instrumental`` equals the
    delayed input. Not thread-safe: one thread drives one Separator.
    """

    def __init__(self, runner, max_block_samples: int = 8192):
        self.runner = runner
        self.geometry: StftGeometry = runner.geometry
        self.max_block_samples = int(max_block_samples)
        self.block = block_processor(runner, max_block_samples=max_block_samples)

    @classmethod
    def from_model(cls, model=None, *, backend: str = "auto", latency_mode: str = "default",
                   sample_rate_hz: int = 48000, max_block_samples: int = 8192) -> "Separator":
        return cls(load_runner(model, backend=backend, latency_mode=latency_mode,
                               sample_rate_hz=sample_rate_hz), max_block_samples)

    @property
    def latency_samples(self) -> int:
        return self.block.latency_samples

    @property
    def n_frames_processed(self) -> int:
        return self.block.n_frames_processed

    @property
    def n_nonfinite_replaced(self) -> int:
        return self.block.n_nonfinite_replaced

    def process(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block ``float32 (2, n)`` -> ``(vocals, instrumental)``, each ``(2, n)``."""
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2 or x.shape[0] != 2:
            raise ValueError(f"x must be float32 (2, n_samples), got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
        vocals = np.empty(x.shape, dtype=np.float32)
        instr = np.empty(x.shape, dtype=np.float32)
        for s in range(0, x.shape[1], self.max_block_samples):
            e = min(s + self.max_block_samples, x.shape[1])
            self.block.process(x[:, s:e], vocals[:, s:e], instr[:, s:e])
        return vocals, instr

    def process_into(self, x: np.ndarray, vocals_out: np.ndarray, instrumental_out: np.ndarray) -> None:
        """Allocation-free variant: ``x`` ``(2, n <= max_block_samples)`` into the given arrays."""
        self.block.process(x, vocals_out, instrumental_out)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Push ``latency_samples`` of silence; returns the tail."""
        return self.process(np.zeros((2, self.latency_samples), dtype=np.float32))

    def reset(self) -> None:
        """Back to the start of a stream (the model's state too)."""
        self.block.reset()

    def separate(self, x: np.ndarray, block_samples: int = 4096, progress: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Whole signal through the streaming path, latency removed.

        ``x``: ``float32 (2, n_samples)``. Returns ``(vocals, instrumental)``
        time-aligned with ``x`` (same length). Resets the separator first.
        """
        self.reset()
        n = x.shape[1]
        lat = self.latency_samples
        total = n + lat
        block_samples = min(block_samples, self.max_block_samples)
        vocals = np.empty((2, total), dtype=np.float32)
        instr = np.empty((2, total), dtype=np.float32)
        padded = np.zeros((2, total), dtype=np.float32)
        padded[:, :n] = x
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="sample", unit_scale=True, file=sys.stderr, leave=False)
        for s in range(0, total, block_samples):
            e = min(s + block_samples, total)
            self.process_into(padded[:, s:e], vocals[:, s:e], instr[:, s:e])
            if bar is not None:
                bar.update(e - s)
        if bar is not None:
            bar.close()
        return vocals[:, lat:], instr[:, lat:]

    def __repr__(self) -> str:
        return f"Separator(runner={self.runner!r}, latency_samples={self.latency_samples})"


def nearest_model_rate(rate_hz: int, supported: tuple[int, ...] = (44100, 48000)) -> int:
    return min(supported, key=lambda r: abs(r - rate_hz))


def resample_to(x: np.ndarray, rate_hz: int, to_rate_hz: int, n_samples: int | None = None) -> np.ndarray:
    """``x`` ``(n_channels, n)`` resampled with soxr (HQ), as the engine does for a file
    at a rate the model does not run at; ``n_samples``: trim or zero-pad to that length."""
    import soxr

    if to_rate_hz != rate_hz:
        x = np.ascontiguousarray(soxr.resample(x.T, rate_hz, to_rate_hz, quality="HQ").T)
    if n_samples is not None and x.shape[1] != n_samples:
        x = x[:, :n_samples] if x.shape[1] > n_samples else np.pad(
            x, ((0, 0), (0, n_samples - x.shape[1])))
    return x


def separate_array(audio: np.ndarray, rate_hz: int, separators: dict, *, block_samples: int = 4096,
                   progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Separate ``audio`` ``(n_channels, n)`` at ``rate_hz``.

    ``separators``: ``{model_rate_hz: Separator}`` (built on demand by the caller).
    Returns ``(vocals, instrumental)`` with the input's shape.
    """
    work_rate = nearest_model_rate(rate_hz)
    sep = separators[work_rate]
    x = resample_to(audio, rate_hz, work_rate)
    n_ch = x.shape[0]
    vocals = np.zeros_like(x)
    if n_ch == 1:
        v, _ = sep.separate(np.repeat(x, 2, axis=0), block_samples, progress)
        vocals[0] = 0.5 * (v[0] + v[1])
    else:
        for c in range(0, n_ch, 2):
            pair = x[[c, min(c + 1, n_ch - 1)]]
            v, _ = sep.separate(np.ascontiguousarray(pair), block_samples, progress)
            vocals[c] = v[0]
            if c + 1 < n_ch:
                vocals[c + 1] = v[1]
    vocals = resample_to(vocals, work_rate, rate_hz, audio.shape[1])
    # The instrumental is the input minus the vocals: the two sum back to the input.
    return vocals, audio - vocals
