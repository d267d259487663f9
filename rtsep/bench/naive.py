"""The naive alternative: re-run the offline (sequence-mode) model every hop.

Instead of carrying the convolution and GRU state from frame to frame, the
naive streamer keeps the last ``n_window_frames`` STFT frames and runs
:meth:`CausalUNet.forward` over all of them at every hop, keeping only the
newest frame's mask, so the GRU and the convolutions see a window of context.
Its algorithmic latency is the same as the streaming engine's; its compute per
hop is the window's, not one frame's.

For fairness both sides run in ONNX Runtime on one thread: the sequence-mode
graph is exported with a fixed window length (needs torch), and
:class:`SlidingWindowRunner` has the runner interface, so the same
:class:`rtsep.engine.Separator` (STFT, mask, iSTFT) drives it.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np

from rtsep.config import StftGeometry

SPEC_INPUT = "spec"
MASK_OUTPUT = "mask"


def export_sequence_onnx(model_config: dict | None, n_window_frames: int, seed: int = 0
                         ) -> tuple[bytes, float]:
    """Sequence-mode ONNX graph of a random-init CausalUNet with ``model_config``.

    Input ``spec`` ``float32 (1, 2, n_window_frames, n_bins, 2)``, output ``mask``
    ``float32 (1, 2, n_window_frames, n_bins)``. Returns ``(onnx_bytes,
    max_abs_diff)``, the difference between ONNX Runtime and PyTorch on a
    random input (the graph is only used if it is within 1e-4). The mask head is
    randomised too, so the check compares real outputs, not a constant.
    """
    import onnxruntime as ort
    import torch

    from rtsep.model.unet import CausalUNet, UNetConfig

    torch.manual_seed(seed)
    cfg = UNetConfig.from_dict(model_config) if model_config else UNetConfig()
    model = CausalUNet(cfg).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)
    example = torch.randn(1, cfg.n_channels_audio, n_window_frames, cfg.n_bins, 2)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buf, input_names=[SPEC_INPUT],
                          output_names=[MASK_OUTPUT], opset_version=17,
                          do_constant_folding=True, dynamo=False)
        want = model(example).numpy()
    data = buf.getvalue()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run([MASK_OUTPUT], {SPEC_INPUT: example.numpy()})[0]
    return data, float(np.max(np.abs(got - want)))


class SlidingWindowRunner:
    """Runner interface over a fixed-window sequence-mode ONNX graph.

    ``step(frame)``: frame ``complex64 (2, n_bins)`` is appended to a window
    of the last ``n_window_frames`` frames (zeros before the start), the whole
    window runs through the graph, and the newest frame's mask ``float32
    (2, n_bins)`` is returned (a view, overwritten by the next step). Window
    buffers are preallocated (two, used alternately, so shifting never
    overlaps); ONNX Runtime allocates its output per call, which is small
    against the window's compute.
    """

    backend = "naive-onnx-cpu"

    def __init__(self, onnx_bytes: bytes, geometry: StftGeometry, n_window_frames: int, *,
                 sample_rate_hz: int = 48000, n_threads: int = 1):
        import onnxruntime as ort

        self.geometry = geometry
        self.sample_rate_hz = sample_rate_hz
        self.n_window_frames = n_window_frames
        self.metadata = {"name": f"naive sliding window ({n_window_frames} frames)"}
        options = ort.SessionOptions()
        options.intra_op_num_threads = n_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        n_bins = geometry.n_bins
        self._windows = [np.zeros((1, 2, n_window_frames, n_bins, 2), dtype=np.float32)
                         for _ in range(2)]
        self._current = 0
        self._mask = np.zeros((2, n_bins), dtype=np.float32)

    @property
    def latency_samples(self) -> int:
        return self.geometry.latency_samples

    def step(self, frame: np.ndarray) -> np.ndarray:
        src = self._windows[self._current]
        dst = self._windows[1 - self._current]
        dst[:, :, :-1] = src[:, :, 1:]
        dst[0, :, -1] = frame.view(np.float32).reshape(2, -1, 2)
        self._current = 1 - self._current
        mask = self._session.run([MASK_OUTPUT], {SPEC_INPUT: dst})[0]
        self._mask[...] = mask[0, :, -1]
        return self._mask

    def reset(self) -> None:
        for w in self._windows:
            w.fill(0.0)

    def __repr__(self) -> str:
        return (f"SlidingWindowRunner(n_window_frames={self.n_window_frames}, "
                f"geometry={self.geometry!r})")


def latency_to_keep_up(compute_ms: float, hop_period_ms: float, algorithmic_ms: float) -> dict:
    """Latency an approach needs so that it keeps up, given its compute per run.

    A run that takes longer than a hop cannot be repeated every hop; the best
    one can do is to batch ``k = ceil(compute / hop)`` hops per run (the window
    ends at the newest hop and the last ``k`` masks are kept), which adds
    ``(k - 1)`` hops of waiting plus the run itself before the output exists.
    Returns ``{"hops_per_run", "keeps_up_every_hop", "extra_ms", "needed_latency_ms"}``.
    """
    k = max(1, math.ceil(compute_ms / hop_period_ms))
    extra_ms = (k - 1) * hop_period_ms + compute_ms
    return {"hops_per_run": k, "keeps_up_every_hop": k == 1, "extra_ms": extra_ms,
            "needed_latency_ms": algorithmic_ms + extra_ms}
