"""ONNX Runtime with the CUDA execution provider (the ``gpu`` extra). Never imports torch.

The state stays on the GPU: two sets of device tensors (``OrtValue``) bound
A -> B and B -> A in two IOBindings used alternately, as on the CPU. The frame
is bound from host memory and the mask to a host buffer; ORT does the two small
copies (4 KB each) inside the run.
"""

from __future__ import annotations

import numpy as np

from rtsep.runtime.errors import BackendUnavailableError
from rtsep.runtime.modelfile import STATE_IN_PREFIX, STATE_OUT_PREFIX, ModelFile
from rtsep.runtime.onnx_cpu import OnnxCpuRunner

CUDA_PROVIDER = "CUDAExecutionProvider"


def cuda_provider_available() -> bool:
    """True when the installed onnxruntime has the CUDA execution provider."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return CUDA_PROVIDER in ort.get_available_providers()


class OnnxCudaRunner(OnnxCpuRunner):
    """ONNX Runtime, CUDA execution provider, device 0. See :class:`Runner`."""

    backend = "onnx-cuda"
    _providers = (CUDA_PROVIDER, "CPUExecutionProvider")  # CPU only for ops CUDA lacks

    def __init__(self, model_file: ModelFile, *, latency_mode: str = "default",
                 sample_rate_hz: int = 48000, n_threads: int = 1):
        if not cuda_provider_available():
            raise BackendUnavailableError(
                "backend onnx-cuda needs onnxruntime-gpu with CUDA (pip install 'rtsep[gpu]'); "
                "this onnxruntime has no CUDAExecutionProvider")
        super().__init__(model_file, latency_mode=latency_mode, sample_rate_hz=sample_rate_hz,
                         n_threads=n_threads)
        if CUDA_PROVIDER not in self._session.get_providers():
            raise BackendUnavailableError("backend onnx-cuda: ONNX Runtime could not start the "
                                          "CUDA execution provider (no GPU or CUDA libraries?)")

    def _allocate_state(self) -> None:
        ort = self._ort
        self._zeros = [np.zeros(shape, dtype=np.float32) for _, shape in self.state_specs]
        self._state = [[ort.OrtValue.ortvalue_from_numpy(z, "cuda", 0) for z in self._zeros]
                       for _ in range(2)]

    def _bind_state(self, binding, src: int, dst: int) -> None:
        for (name, _), a, b in zip(self.state_specs, self._state[src], self._state[dst]):
            binding.bind_ortvalue_input(STATE_IN_PREFIX + name, a)
            binding.bind_ortvalue_output(STATE_OUT_PREFIX + name, b)

    def reset(self) -> None:
        for state_set in self._state:
            for value, zeros in zip(state_set, self._zeros):
                value.update_inplace(zeros)
        self._parity = 0
