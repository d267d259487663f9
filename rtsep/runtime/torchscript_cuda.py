"""TorchScript on a CUDA GPU with one captured CUDA graph (needs torch with CUDA).

Shapes are fixed (batch 1), so the whole step is captured once as a CUDA graph
over static device tensors: the frame, the state, and the graph's outputs.
The captured graph ends by copying the new state into the static state
tensors (a device-side copy of ~100 KB, inside the same replay), so one replay
is one launch. Per step: the frame goes host -> pinned buffer -> device, the
graph replays, the mask comes back to a pinned host buffer (the returned array),
and the runner waits for the stream.
"""

from __future__ import annotations

import numpy as np

from rtsep.runtime.errors import BackendUnavailableError
from rtsep.runtime.modelfile import ModelFile
from rtsep.runtime.torchscript_cpu import TorchScriptCpuRunner


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device (imports torch)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class TorchScriptCudaRunner(TorchScriptCpuRunner):
    """TorchScript step graph replayed as a CUDA graph on device 0. See :class:`Runner`."""

    backend = "torchscript-cuda"
    _device = "cuda"
    _n_warmup_steps = 3  # the profiling executor specialises during the first runs

    def __init__(self, model_file: ModelFile, *, latency_mode: str = "default",
                 sample_rate_hz: int = 48000, n_threads: int | None = None):
        if not cuda_available():
            raise BackendUnavailableError("backend torchscript-cuda needs torch with a CUDA "
                                          "device; none is available")
        super().__init__(model_file, latency_mode=latency_mode, sample_rate_hz=sample_rate_hz,
                         n_threads=n_threads)

    def _setup(self) -> None:
        torch = self._torch
        self._frame_host = torch.zeros(self._frame_shape_f32, pin_memory=True)
        self._frame_host_c = self._frame_host.numpy().view(np.complex64).reshape(self._frame_shape)
        self._mask_host = torch.zeros((2, self.n_bins), pin_memory=True)
        self._mask = self._mask_host.numpy()
        self._frame_dev = torch.zeros(self._frame_shape_f32, device="cuda")
        self._state_dev = [torch.zeros_like(z) for z in self._zero_state]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(self._n_warmup_steps):
                self._module(self._frame_dev, *self._state_dev)
        torch.cuda.current_stream().wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self._graph):
            out = self._module(self._frame_dev, *self._state_dev)
            for static, new in zip(self._state_dev, out[1:]):
                static.copy_(new)
            self._mask_dev = out[0][0]
        self._stream = torch.cuda.current_stream()
        self.reset()

    def step(self, frame: np.ndarray) -> np.ndarray:
        self._check_frame(frame)
        np.copyto(self._frame_host_c, frame)
        self._frame_dev.copy_(self._frame_host, non_blocking=True)
        self._graph.replay()
        self._mask_host.copy_(self._mask_dev, non_blocking=True)
        self._stream.synchronize()
        return self._mask

    def reset(self) -> None:
        for s in self._state_dev:
            s.zero_()
        self._torch.cuda.synchronize()
