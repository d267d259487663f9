"""TorchScript on the CPU (needs torch).

Threads: torch's intra-op thread count is process-wide, so this runner leaves
it alone unless ``n_threads`` is given, in which case it calls
``torch.set_num_threads(n_threads)`` once, in the constructor, and says so on
stderr. Grad mode is switched off per step with ``torch.inference_mode()``
(thread-local), never globally.

Buffers: the frame is copied (4 KB) into a preallocated input tensor (the
engine's frame view is read-only, which ``torch.from_numpy`` would warn about,
and a fixed input spares a tensor object per step); the mask is copied into
the runner's preallocated buffer. TorchScript allocates its output tensors
itself, so the new state is kept by reference (no copy) rather than written
into preallocated buffers.
"""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np

from rtsep.runtime.errors import ModelFileError
from rtsep.runtime.base import Runner
from rtsep.runtime.modelfile import ModelFile


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


class TorchScriptCpuRunner(Runner):
    """TorchScript step graph on the CPU. See :class:`Runner` for the interface."""

    backend = "torchscript-cpu"
    _device = "cpu"

    def __init__(self, model_file: ModelFile, *, latency_mode: str = "default",
                 sample_rate_hz: int = 48000, n_threads: int | None = None):
        super().__init__(model_file, latency_mode=latency_mode, sample_rate_hz=sample_rate_hz)
        import torch

        self._torch = torch
        if n_threads is not None and torch.get_num_threads() != n_threads:
            print(f"rtsep.runtime: torch.set_num_threads({n_threads}) (process-wide)",
                  file=sys.stderr)
            torch.set_num_threads(int(n_threads))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates jit
                self._module = torch.jit.load(io.BytesIO(model_file.data),
                                              map_location=self._device)
        except Exception as exc:  # torch raises RuntimeError/ValueError/... for bad archives
            raise ModelFileError(f"{self.path}: torch.jit.load cannot load it "
                                 f"({_first_line(exc)})") from None
        self._module.eval()
        self._frame_shape_f32 = tuple(self.metadata["frame_shape"])
        self._zero_state = [torch.zeros(shape, device=self._device) for _, shape in self.state_specs]
        self._check_graph()
        self._setup()
        self.warm_up()

    def _check_graph(self) -> None:
        """Run one zero step and compare the outputs with the metadata."""
        torch = self._torch
        frame = torch.zeros(self._frame_shape_f32, device=self._device)
        try:
            with torch.inference_mode():
                out = self._module(frame, *self._zero_state)
        except Exception as exc:
            raise ModelFileError(f"{self.path}: the graph rejects the metadata's frame/state "
                                 f"shapes ({_first_line(exc)})") from None
        want = [tuple(self.metadata["mask_shape"])] + [shape for _, shape in self.state_specs]
        got = [tuple(t.shape) for t in out] if isinstance(out, (tuple, list)) else [None]
        if got != want:
            raise ModelFileError(f"{self.path}: graph outputs {got[:3]}... do not match the "
                                 f"metadata state {want[:3]}...")

    def _setup(self) -> None:
        self._frame_np = np.zeros(self._frame_shape_f32, dtype=np.float32)
        self._frame_as_complex = self._frame_np.view(np.complex64).reshape(self._frame_shape)
        self._frame_t = self._torch.from_numpy(self._frame_np)
        self._mask_t = self._torch.from_numpy(self._mask)
        self._state = list(self._zero_state)

    def step(self, frame: np.ndarray) -> np.ndarray:
        self._check_frame(frame)
        torch = self._torch
        np.copyto(self._frame_as_complex, frame)
        with torch.inference_mode():
            out = self._module(self._frame_t, *self._state)
            self._mask_t.copy_(out[0][0])
        self._state = list(out[1:])
        return self._mask

    def reset(self) -> None:
        self._state = list(self._zero_state)
