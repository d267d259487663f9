"""Export the step-mode U-Net to ONNX or TorchScript, with metadata, and check it.

The exported graph is :meth:`CausalUNet.step` with every state tensor an
explicit input and output, fixed shapes, batch 1:

* inputs: ``frame`` float32 ``(1, 2, n_bins, 2)`` (re/im of the stereo STFT
  frame; the float32 view of a complex64 ``(2, n_bins)`` array) and
  ``state_in.<name>`` for each state tensor of :meth:`CausalUNet.state_shapes`;
* outputs: ``mask`` float32 ``(1, 2, n_bins)`` in [0, 1] and ``state_out.<name>``.

The metadata (see :func:`build_metadata`) travels inside the file: ONNX
``metadata_props["rtsep"]`` or the TorchScript extra file ``rtsep.json``, as
JSON. An export is written to a temporary file, loaded back through
:mod:`rtsep.runtime` (which validates the metadata and the weights checksum)
and run step by step over :data:`N_CHECK_FRAMES` frames of a synthetic
music-like spectrogram; unless every mask value is within
:data:`CHECK_TOLERANCE` of PyTorch sequence mode, the file is deleted and
:class:`ExportCheckError` is raised. Only a checked file is renamed into place.
"""

from __future__ import annotations

import copy
import io
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rtsep import __version__
from rtsep.config import LATENCY_MODES, StftGeometry
from rtsep.model.checkpoint import load_checkpoint, state_dict_sha256
from rtsep.runtime.errors import ExportCheckError, ModelFileError, OptionError
from rtsep.model.unet import CausalUNet
from rtsep.offline import stft
from rtsep.runtime.metadata import METADATA_FORMAT, METADATA_FORMAT_VERSION, window_sha256
from rtsep.runtime.modelfile import (FORMAT_ONNX, FORMAT_TORCHSCRIPT, FRAME_INPUT, MASK_OUTPUT,
                                     ONNX_CHECKSUM_SCHEME, ONNX_METADATA_KEY, STATE_IN_PREFIX,
                                     STATE_OUT_PREFIX, TORCHSCRIPT_CHECKSUM_SCHEME,
                                     TORCHSCRIPT_EXTRA_FILE, onnx_weights_sha256, onnx_with_metadata,
                                     torchscript_weights_sha256)

FORMATS = (FORMAT_ONNX, FORMAT_TORCHSCRIPT)
DEFAULT_OPSET = 17
N_CHECK_FRAMES = 300
CHECK_TOLERANCE = 1e-4
_BACKEND_OF = {FORMAT_ONNX: "onnx-cpu", FORMAT_TORCHSCRIPT: "torchscript-cpu"}


class StepModule(nn.Module):
    """``forward(frame, *state) = model.step(frame, *state)``: the graph that is exported."""

    def __init__(self, model: CausalUNet):
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, *state: torch.Tensor):
        return self.model.step(frame, *state)


# -- metadata -----------------------------------------------------------------------


def _window_info(window: np.ndarray, formula: str, description: str) -> dict:
    w = np.asarray(window, dtype=np.float32)
    return {"formula": formula, "description": description, "n_samples": int(w.size),
            "sha256": window_sha256(w), "values": [float(str(v)) for v in w]}


def count_macs_per_frame(model: CausalUNet) -> int:
    """Multiply-accumulates of one step (batch 1): convolutions, linear layers,
    the GRU cell and the two band matrix products; element-wise work not counted."""
    cfg = model.cfg
    total = [0]

    def conv_hook(mod: nn.Conv2d, _inp, out):
        k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        total[0] += out.numel() * k

    def linear_hook(mod: nn.Linear, _inp, out):
        total[0] += out.numel() * mod.in_features

    def gru_hook(mod: nn.GRU, inp, _out):
        n_steps = inp[0].shape[0] * inp[0].shape[1]
        total[0] += n_steps * 3 * mod.hidden_size * (mod.input_size + mod.hidden_size)

    hooks = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, nn.GRU):
            hooks.append(mod.register_forward_hook(gru_hook))
    try:
        with torch.no_grad():
            model.step(torch.zeros(1, cfg.n_channels_audio, cfg.n_bins, 2), *model.initial_state())
    finally:
        for h in hooks:
            h.remove()
    band_products = (cfg.n_features + cfg.n_channels_audio) * cfg.n_bins * cfg.n_bands
    return total[0] + band_products


def build_metadata(model: CausalUNet, *, geometry: StftGeometry, file_format: str,
                   sample_rates_hz=(44100, 48000), extra: dict | None = None,
                   source_weights_sha256: str | None = None) -> dict:
    """The self-description embedded in an export (``weights_sha256`` is added
    by the exporter once the file's weights are serialized).

    Latencies come from :class:`StftGeometry` for each latency mode; nothing
    is typed in. JSON-serializable; sample-rate keys are strings.
    """
    cfg = model.cfg
    rates = [int(r) for r in sample_rates_hz]
    modes = {}
    for mode in LATENCY_MODES:
        g = geometry.with_mode(mode)
        modes[mode] = {
            "synthesis_window": _window_info(
                g.synthesis_window(), f"rtsep.config.synthesis_window(n_fft, hop, {mode!r})",
                "analysis*synthesis overlap-adds to one at the hop; "
                + ("Hann product over the last 2*hop samples" if mode == "default" else
                   "flat product over the last hop+taper samples with raised-cosine tapers")),
            "stream_delay_samples": g.stream_delay_samples,
            "latency_samples": g.latency_samples,
            "latency_ms": {str(r): round(g.latency_ms(r), 4) for r in rates},
        }
    macs = count_macs_per_frame(model)
    extra = dict(extra or {})
    return {
        "format": METADATA_FORMAT,
        "format_version": METADATA_FORMAT_VERSION,
        "file_format": file_format,
        "rtsep_version": __version__,
        "model_class": type(model).__name__,
        "model_config": cfg.to_dict(),
        "n_members": int(getattr(model, "n_members", 1)),
        "n_parameters": model.n_parameters(),
        "macs_per_frame": macs,
        "gmacs_per_second": {str(r): round(macs * r / geometry.hop_samples / 1e9, 4) for r in rates},
        "sample_rates_hz": rates,
        "n_fft": geometry.n_fft,
        "hop_samples": geometry.hop_samples,
        "n_bins": geometry.n_bins,
        "n_channels": cfg.n_channels_audio,
        "frame_shape": [1, cfg.n_channels_audio, cfg.n_bins, 2],
        "frame_layout": "float32 view of complex64 (n_channels, n_bins): [..., 0] real, [..., 1] imag",
        "mask_shape": [1, cfg.n_channels_audio, cfg.n_bins],
        "mask_meaning": "vocal magnitude mask in [0, 1] per channel and bin; "
                        "instrumental = mixture - vocals",
        "analysis_window": _window_info(
            geometry.analysis_window(), "rtsep.config.analysis_window(n_fft, hop)",
            "sqrt-Hann rise over n_fft-hop samples, sqrt-Hann fall over the last hop samples"),
        "frame_convention": "frame k covers input samples [k*hop + hop - n_fft, k*hop + hop)",
        "latency_modes": modes,
        "state": [{"name": name, "input": STATE_IN_PREFIX + name, "output": STATE_OUT_PREFIX + name,
                   "shape": list(shape), "dtype": "float32", "initial": "zeros"}
                  for name, shape in model.state_shapes(1)],
        "inputs": [FRAME_INPUT] + [STATE_IN_PREFIX + n for n, _ in model.state_shapes(1)],
        "outputs": [MASK_OUTPUT] + [STATE_OUT_PREFIX + n for n, _ in model.state_shapes(1)],
        "training_data": extra.get("training_data"),
        "checkpoint_extra": json.loads(json.dumps(extra, default=str)),
        "source_weights_sha256": source_weights_sha256 or state_dict_sha256(model.state_dict()),
        "weights_checksum_scheme": (ONNX_CHECKSUM_SCHEME if file_format == FORMAT_ONNX
                                    else TORCHSCRIPT_CHECKSUM_SCHEME),
    }


# -- check signal -------------------------------------------------------------------


def check_audio(n_samples: int, sample_rate_hz: int = 48000, seed: int = 0) -> np.ndarray:
    """Seeded music-like stereo test signal, ``float32 (2, n_samples)``, peak <= 1.

    Two harmonic voices with gliding pitch and vibrato, panned apart, plus
    coloured noise, all under level envelopes that step over ~60 dB, with an
    exact-silence gap in the middle (exercises the model's small-magnitude path).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate_hz

    def envelope(n_steps: int) -> np.ndarray:
        levels_db = rng.uniform(-60.0, 0.0, n_steps)
        idx = np.minimum((t * n_steps / max(t[-1], 1e-9)).astype(int), n_steps - 1)
        env = 10.0 ** (levels_db[idx] / 20.0)
        kernel = np.hanning(257)
        return np.convolve(env, kernel / kernel.sum(), mode="same")

    out = np.zeros((2, n_samples))
    for f_lo, f_hi, pan in ((110.0, 330.0, 0.5), (196.0, 880.0, 0.2)):
        f0 = f_lo * (f_hi / f_lo) ** (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
        f0 *= 1.0 + 0.01 * np.sin(2 * np.pi * 5.5 * t)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate_hz
        voice = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k
                    for k in range(1, 16) if k * f_hi < sample_rate_hz / 2)
        voice *= envelope(12)
        out[0] += np.sqrt(1.0 - pan) * voice
        out[1] += np.sqrt(pan) * voice
    noise = np.cumsum(rng.standard_normal((2, n_samples)), axis=1) * 0.02
    noise -= np.mean(noise, axis=1, keepdims=True)
    noise += rng.standard_normal((2, n_samples)) * 0.3
    out += noise * envelope(20)
    mid = n_samples // 2
    out[:, mid: mid + n_samples // 20] = 0.0
    return (out / max(np.max(np.abs(out)), 1e-9)).astype(np.float32)


def check_frames(n_frames: int = N_CHECK_FRAMES, geometry: StftGeometry = StftGeometry(),
                 seed: int = 0) -> np.ndarray:
    """STFT of :func:`check_audio`: ``complex64 (n_frames, 2, n_bins)``, C-contiguous."""
    audio = check_audio(n_frames * geometry.hop_samples, seed=seed)
    return np.ascontiguousarray(stft(audio, geometry))


def frames_to_spec(frames: np.ndarray) -> torch.Tensor:
    """``complex64 (n_frames, 2, n_bins)`` -> sequence-mode input ``(1, 2, n_frames, n_bins, 2)``."""
    per_channel = np.ascontiguousarray(frames.transpose(1, 0, 2))
    return torch.from_numpy(per_channel.view(np.float32).reshape(*per_channel.shape, 2))[None]


def reference_masks(model: CausalUNet, frames: np.ndarray) -> np.ndarray:
    """PyTorch sequence mode over ``frames``: ``float32 (n_frames, 2, n_bins)``."""
    with torch.no_grad():
        mask = model(frames_to_spec(frames))[0]  # (2, T, n_bins)
    return mask.permute(1, 0, 2).contiguous().numpy()


def run_steps(runner, frames: np.ndarray) -> np.ndarray:
    """A runtime runner over ``frames`` one by one: ``float32 (n_frames, 2, n_bins)``."""
    out = np.empty((len(frames), 2, frames.shape[-1]), dtype=np.float32)
    runner.reset()
    for k in range(len(frames)):
        out[k] = runner.step(frames[k])
    return out


# -- export -------------------------------------------------------------------------


def _example_inputs(model: CausalUNet) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    frame = torch.randn(1, model.cfg.n_channels_audio, model.cfg.n_bins, 2, generator=gen)
    return (frame, *model.initial_state(1))


def _onnx_bytes(model: CausalUNet, metadata: dict, opset: int) -> bytes:
    names = [n for n, _ in model.state_shapes(1)]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation, GRU batch-size note
        torch.onnx.export(StepModule(model).eval(), _example_inputs(model), buf,
                          input_names=[FRAME_INPUT] + [STATE_IN_PREFIX + n for n in names],
                          output_names=[MASK_OUTPUT] + [STATE_OUT_PREFIX + n for n in names],
                          opset_version=opset, do_constant_folding=True, dynamo=False)
    data = buf.getvalue()
    metadata["weights_sha256"] = onnx_weights_sha256(data)
    metadata["onnx_opset"] = opset
    return onnx_with_metadata(data, {ONNX_METADATA_KEY: json.dumps(metadata)})


def _torchscript_bytes(model: CausalUNet, metadata: dict) -> bytes:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(StepModule(model).eval(), _example_inputs(model),
                                 check_trace=False, _store_inputs=False)

    def save(meta: dict) -> bytes:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates jit
            torch.jit.save(traced, buf, _extra_files={TORCHSCRIPT_EXTRA_FILE: json.dumps(meta)})
        return buf.getvalue()

    metadata["weights_sha256"] = torchscript_weights_sha256(save({}))
    metadata["torch_version"] = torch.__version__
    data = save(metadata)
    if torchscript_weights_sha256(data) != metadata["weights_sha256"]:
        raise ExportCheckError("TorchScript serialization is not deterministic; cannot checksum")
    return data


def export_model(model: CausalUNet, out_path, file_format: str = FORMAT_ONNX, *,
                 geometry: StftGeometry = StftGeometry(), sample_rates_hz=(44100, 48000),
                 extra: dict | None = None, opset: int = DEFAULT_OPSET,
                 n_check_frames: int = N_CHECK_FRAMES, tolerance: float = CHECK_TOLERANCE,
                 log=None) -> dict:
    """Export ``model``'s step graph to ``out_path`` and check it; returns the metadata
    plus ``"check": {"n_frames", "max_abs_diff", "backend"}``.

    Raises :class:`ExportCheckError` (and leaves no file) if the exported model
    differs from PyTorch sequence mode by more than ``tolerance`` on any mask value.
    """
    if file_format not in FORMATS:
        raise OptionError(f"unknown export format {file_format!r}; choose one of {', '.join(FORMATS)}")
    if opset < 17:
        raise OptionError(f"ONNX opset must be >= 17, got {opset}")
    if n_check_frames < 1:
        raise OptionError(f"n_check_frames must be >= 1, got {n_check_frames}")
    log = log or (lambda msg: print(msg, file=sys.stderr))
    model = copy.deepcopy(model).float().cpu().eval()  # leave the caller's model as it was
    metadata = build_metadata(model, geometry=geometry, file_format=file_format,
                              sample_rates_hz=sample_rates_hz, extra=extra)
    data = (_onnx_bytes(model, metadata, opset) if file_format == FORMAT_ONNX
            else _torchscript_bytes(model, metadata))
    return write_checked(model, out_path, data, metadata, backend=_BACKEND_OF[file_format],
                         geometry=geometry, n_check_frames=n_check_frames, tolerance=tolerance,
                         log=log)


def write_checked(model: CausalUNet, out_path, data: bytes, metadata: dict, *, backend: str,
                  geometry: StftGeometry, n_check_frames: int, tolerance: float, log) -> dict:
    """The one checked writer of every export format: ``data`` goes to a temporary file
    beside ``out_path``, is loaded back by ``backend`` (the runtime a user will run it
    with) and stepped over ``n_check_frames`` frames against PyTorch sequence mode; only
    if every mask value is within ``tolerance`` is it renamed into place. Otherwise
    :class:`ExportCheckError` and no file. Returns ``metadata`` plus its ``"check"``."""
    from rtsep.runtime import load

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = {"onnx-cpu": ".onnx", "torchscript-cpu": ".pt", "native": ".rtsepw"}[backend]
    tmp = out_path.with_name(f".{out_path.stem}.{os.getpid()}.tmp{suffix}")
    what = metadata["file_format"]
    try:
        tmp.write_bytes(data)
        frames = check_frames(n_check_frames, geometry)
        try:
            runner = load(tmp, backend=backend, latency_mode=geometry.latency_mode,
                          sample_rate_hz=int(metadata["sample_rates_hz"][-1]))
            got = run_steps(runner, frames)
            del runner
        except (ModelFileError, OptionError) as exc:
            raise ExportCheckError(f"{out_path}: the exported file does not load back "
                                   f"({exc}); not written") from None
        diff = float(np.max(np.abs(got - reference_masks(model, frames))))
        if not diff <= tolerance:  # also catches NaN
            raise ExportCheckError(f"{out_path}: exported {what} model differs from PyTorch "
                                   f"by {diff:.3g} > {tolerance:g} over {n_check_frames} frames; "
                                   "not written")
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    log(f"exported {out_path} ({what}, {len(data) / 1e6:.2f} MB, {metadata['n_parameters']} "
        f"parameters); step-by-step check through {backend} over {n_check_frames} frames: "
        f"max |diff| {diff:.2e} <= {tolerance:g}")
    metadata["check"] = {"n_frames": n_check_frames, "max_abs_diff": diff, "backend": backend}
    return metadata


def export_checkpoint(checkpoint_path, out_path, file_format: str = FORMAT_ONNX, **kwargs) -> dict:
    """Load a checkpoint (validated) and :func:`export_model` it with its geometry,
    sample rates and training notes."""
    model, meta = load_checkpoint(checkpoint_path)
    geometry = StftGeometry(meta["geometry"]["n_fft"], meta["geometry"]["hop_samples"])
    extra = dict(meta.get("extra") or {})
    extra.setdefault("checkpoint", Path(checkpoint_path).name)
    return export_model(model, out_path, file_format, geometry=geometry,
                        sample_rates_hz=meta["sample_rates_hz"], extra=extra, **kwargs)
