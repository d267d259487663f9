"""ONNX Runtime on the CPU: the default backend. Never imports torch.

One intra-op and one inter-op thread, sequential execution, no spinning (a
spinning ORT thread would steal the core the audio callback needs), all graph
optimisations. Inputs and outputs are bound once with IOBinding to buffers
allocated here: two state sets A and B and two bindings, A -> B and B -> A,
used alternately, so the state a step writes is the state the next step reads
without a copy. The frame is bound straight from the caller's array (its
float32 view); the binding is refreshed only when the caller's buffer moves.
"""

from __future__ import annotations

import numpy as np

from rtsep.runtime.errors import ModelFileError
from rtsep.runtime.base import Runner
from rtsep.runtime.modelfile import (FRAME_INPUT, MASK_OUTPUT, STATE_IN_PREFIX,
                                     STATE_OUT_PREFIX, ModelFile, check_graph_io)

_FLOAT = "tensor(float)"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def cpu_session_options(n_threads: int = 1):
    """The real-time session options: ``n_threads`` intra-op threads, no spinning."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(n_threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only: ORT warnings would go to stderr at load
    return so


class OnnxCpuRunner(Runner):
    """ONNX Runtime, CPU execution provider. See :class:`Runner` for the interface.

    ``n_threads``: intra-op threads (1 for real time; more only for offline use).
    """

    backend = "onnx-cpu"
    _providers = ("CPUExecutionProvider",)

    def __init__(self, model_file: ModelFile, *, latency_mode: str = "default",
                 sample_rate_hz: int = 48000, n_threads: int = 1):
        super().__init__(model_file, latency_mode=latency_mode, sample_rate_hz=sample_rate_hz)
        import onnxruntime as ort

        self._ort = ort
        try:
            self._session = ort.InferenceSession(model_file.data, cpu_session_options(n_threads),
                                                 providers=list(self._providers))
        except Exception as exc:  # ORT raises its own exception types per failure
            raise ModelFileError(f"{self.path}: ONNX Runtime cannot load the graph "
                                 f"({_first_line(exc)})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        check_graph_io(self.path, self.metadata, [(i.name, i.shape) for i in inputs],
                       [(o.name, o.shape) for o in outputs])
        for arg in (*inputs, *outputs):
            if arg.type != _FLOAT:
                raise ModelFileError(f"{self.path}: graph {arg.name!r} has type {arg.type}, "
                                     "expected float32")
        self._frame_shape_f32 = tuple(self.metadata["frame_shape"])
        self._mask_shape = tuple(self.metadata["mask_shape"])
        self._run_options = ort.RunOptions()
        self._allocate_state()
        self._bindings = [self._make_binding(src, dst) for src, dst in ((0, 1), (1, 0))]
        self._frame_ptrs = [0, 0]
        self._parity = 0
        self.warm_up()

    # -- buffers ------------------------------------------------------------------------
    def _allocate_state(self) -> None:
        self._state = [[np.zeros(shape, dtype=np.float32) for _, shape in self.state_specs]
                       for _ in range(2)]

    def _bind_state(self, binding, src: int, dst: int) -> None:
        for (name, shape), a, b in zip(self.state_specs, self._state[src], self._state[dst]):
            binding.bind_input(STATE_IN_PREFIX + name, "cpu", 0, np.float32, shape,
                               a.ctypes.data)
            binding.bind_output(STATE_OUT_PREFIX + name, "cpu", 0, np.float32, shape,
                                b.ctypes.data)

    def _make_binding(self, src: int, dst: int):
        binding = self._session.io_binding()
        self._bind_state(binding, src, dst)
        binding.bind_output(MASK_OUTPUT, "cpu", 0, np.float32, self._mask_shape,
                            self._mask.ctypes.data)
        return binding

    # -- interface ----------------------------------------------------------------------
    def step(self, frame: np.ndarray) -> np.ndarray:
        self._check_frame(frame)
        parity = self._parity
        binding = self._bindings[parity]
        ptr = frame.ctypes.data
        if ptr != self._frame_ptrs[parity]:
            binding.bind_input(FRAME_INPUT, "cpu", 0, np.float32, self._frame_shape_f32, ptr)
            self._frame_ptrs[parity] = ptr
        self._session.run_with_iobinding(binding, self._run_options)
        self._parity = parity ^ 1
        return self._mask

    def reset(self) -> None:
        for state_set in self._state:
            for a in state_set:
                a.fill(0.0)
        self._parity = 0
