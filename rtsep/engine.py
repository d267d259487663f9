"""The streaming separation engine: core STFT -> model step -> core iSTFT.

:class:`Separator` is the one engine behind ``rtsep separate``, evaluation,
the embedding API and the live worker: a C++ :class:`rtsep.dsp.HopEngine`
(fixed-latency block adapter, STFT, mask application, overlap-add) driven by a
:mod:`rtsep.runtime` runner, one hop at a time. Any block size in, the same
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
        return f"IdentityRunner(geometry={self.geometry!r})"


def load_runner(model: str | Path | None = None, *, backend: str = "auto", latency_mode: str = "default",
                sample_rate_hz: int = 48000):
    """A runner for ``model`` (path, ``"identity"``, or None for the shipped model)."""
    if model is not None and str(model) == IDENTITY_MODEL:
        return IdentityRunner(latency_mode, sample_rate_hz)
    from rtsep import runtime

    path = Path(model) if model is not None else default_model_path()
    if model is None and not path.exists():
        raise UserError(f"the shipped model {path} is missing; pass --model PATH "
                        "(or --model identity to test the machinery)")
    return runtime.load(path, backend=backend, latency_mode=latency_mode, sample_rate_hz=sample_rate_hz)


class Separator:
    """Streaming separator with the STYLE lifecycle.

    Args:
        runner: a :mod:`rtsep.runtime` runner (or :class:`IdentityRunner`).
        max_block_samples: the largest block :meth:`process` handles without
            splitting (preallocated).

    ``process(x)`` returns ``(vocals, instrumental)`` for a block of any size,
    delayed by :attr:`latency_samples`; ``vocals + instrumental`` equals the
    delayed input. Not thread-safe: one thread drives one Separator.
    """

    def __init__(self, runner, max_block_samples: int = 8192):
        from rtsep.dsp import HopEngine

        self.runner = runner
        self.geometry: StftGeometry = runner.geometry
        self.engine = HopEngine(self.geometry, n_channels=2, max_block_samples=max_block_samples)
        if self.engine.latency_samples != runner.latency_samples:
            raise UserError(f"model latency {runner.latency_samples} != engine latency "
                            f"{self.engine.latency_samples}: mismatched model file")
        self._mask_fn = runner.step

    @classmethod
    def from_model(cls, model=None, *, backend: str = "auto", latency_mode: str = "default",
                   sample_rate_hz: int = 48000, max_block_samples: int = 8192) -> "Separator":
        return cls(load_runner(model, backend=backend, latency_mode=latency_mode,
                               sample_rate_hz=sample_rate_hz), max_block_samples)

    @property
    def latency_samples(self) -> int:
        return self.engine.latency_samples

    @property
    def n_frames_processed(self) -> int:
        return self.engine.n_frames_processed

    @property
    def n_nonfinite_replaced(self) -> int:
        return self.engine.n_nonfinite_replaced

    def process(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block ``float32 (2, n)`` -> ``(vocals, instrumental)``, each ``(2, n)``."""
        return self.engine.process(x, self._mask_fn)

    def process_into(self, x: np.ndarray, vocals_out: np.ndarray, instrumental_out: np.ndarray) -> None:
        """Allocation-free variant: ``x`` ``(2, n <= max_block_samples)`` into the given arrays."""
        eng = self.engine
        eng.push_input(x)
        for _ in range(eng.frames_ready()):
            eng.synthesize(self._mask_fn(eng.analyze()))
        eng.pull(vocals_out, instrumental_out)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Push ``latency_samples`` of silence; returns the tail."""
        return self.engine.flush(self._mask_fn)

    def reset(self) -> None:
        self.engine.reset()
        self.runner.reset()

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
