"""rtsep's own C++ step (``rtsep._core.NativeModel``) from a native ``.rtsepw`` file.

No runtime library: the same code the C API and the LV2 plugin run. The step
releases the GIL. ``rtsep monitor`` does not step it from Python at all: it
hands :attr:`NativeRunner.native_model` to a native worker thread
(``rtsep._core.LiveWorker``), so no Python sits between the device and the model.
"""

from __future__ import annotations

import numpy as np

from rtsep.runtime.errors import ModelFileError
from rtsep.runtime.base import Runner
from rtsep.runtime.modelfile import ModelFile


class NativeRunner(Runner):
    """The native model. See :class:`Runner` for the interface.

    ``n_threads`` is accepted for a uniform interface and must be 1 (the native
    step is single-threaded).
    """

    backend = "native"

    def __init__(self, model_file: ModelFile, *, latency_mode: str = "default",
                 sample_rate_hz: int = 48000, n_threads: int = 1):
        super().__init__(model_file, latency_mode=latency_mode, sample_rate_hz=sample_rate_hz)
        if int(n_threads) != 1:
            raise ModelFileError(f"{model_file.path}: the native backend runs one thread, "
                                 f"not {n_threads}")
        from rtsep import _core

        try:
            self.native_model = _core.NativeModel(str(model_file.path))
        except ValueError as exc:  # NativeModelError: one line naming the file
            raise ModelFileError(str(exc)) from None
        native_latency = self.native_model.latency_samples(latency_mode)
        if native_latency != self.geometry.latency_samples:
            raise ModelFileError(f"{model_file.path}: latency {native_latency} in the file, "
                                 f"{self.geometry.latency_samples} by this rtsep's geometry")

    def step(self, frame: np.ndarray) -> np.ndarray:
        self._check_frame(frame)
        self.native_model.step(frame, self._mask)
        return self._mask

    def reset(self) -> None:
        self.native_model.reset()
