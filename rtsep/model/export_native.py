"""Export the U-Net to rtsep's native model format (``.rtsepw``), for the C ABI and LV2 plugin.

The native engine (``csrc/native_model.cpp``) is a dependency-free C++
implementation of :meth:`CausalUNet.step`; it reads its weights from this file,
so hosts that embed ``librtsep`` need neither Python, ONNX Runtime nor LibTorch.

The file format, its reader and its writer: :mod:`rtsep.runtime.rtsepw`.

An export is written to a temporary file, loaded back by the native runtime
(``rtsep.runtime.load(..., backend="native")``: the C++ model the C ABI, the LV2
plugin and ``rtsep monitor`` run), and run step by step over
:data:`rtsep.model.export.N_CHECK_FRAMES` frames; unless every mask value is
within :data:`rtsep.model.export.CHECK_TOLERANCE` of PyTorch sequence mode, the
file is deleted and :class:`ExportCheckError` is raised.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np

from rtsep.config import LATENCY_MODES, StftGeometry
from rtsep.runtime.errors import OptionError
from rtsep.runtime.rtsepw import FORMAT_NATIVE, native_file_bytes

#: FrameNorm's variance epsilon (a literal in rtsep/model/unet.py; the export check
#: would catch a change there that is not mirrored here).
NORM_EPS = 1e-5


def random_model_tensors(cfg, geometry: StftGeometry, seed: int = 0,
                         sample_rates_hz=(44100, 48000), spread: float = 0.1
                         ) -> dict[str, np.ndarray]:
    """Every tensor of a native file for :func:`random_model` ``(cfg, seed, spread)``:
    small, repeatable models for tests and fuzz seeds."""
    return native_tensors(random_model(cfg, seed, spread), geometry, sample_rates_hz)


def random_model(cfg, seed: int = 0, spread: float = 0.1):
    """A :class:`CausalUNet` of ``cfg`` initialised with ``seed`` (the global RNG left as
    it was) and every weight moved by ``spread`` times seeded noise (the head starts at
    zero, which would make every mask a constant 0.5), in eval mode."""
    import torch

    from rtsep.model.unet import CausalUNet

    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CausalUNet(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(spread * torch.randn(p.shape, generator=gen))
    return model


def native_tensors(model, geometry: StftGeometry, sample_rates_hz) -> dict[str, np.ndarray]:
    """Every tensor of the native file for ``model`` (a :class:`CausalUNet`, or a
    :class:`~rtsep.model.ensemble.MaskEnsemble`: ``config.n_members`` and each member's
    weights under ``weights.members.<j>.``), in file order."""
    from rtsep.model import unet

    cfg = model.cfg

    def i32(*values) -> np.ndarray:
        return np.array(values, dtype=np.int32)

    tensors: dict[str, np.ndarray] = {
        "config.n_fft": i32(geometry.n_fft),
        "config.hop_samples": i32(geometry.hop_samples),
        "config.n_bins": i32(cfg.n_bins),
        "config.n_bands": i32(cfg.n_bands),
        "config.n_channels_audio": i32(cfg.n_channels_audio),
        "config.n_features": i32(cfg.n_features),
        "config.time_kernel": i32(cfg.time_kernel),
        "config.gru_hidden": i32(cfg.gru_hidden),
        "config.channels": i32(*cfg.channels),
        "config.sample_rates_hz": i32(*[int(r) for r in sample_rates_hz]),
        "config.mag_exponent": np.array([unet.MAG_EXPONENT], dtype=np.float32),
        "config.eps": np.array([unet.EPS], dtype=np.float32),
        "config.norm_eps": np.array([NORM_EPS], dtype=np.float32),
        "window.analysis": geometry.analysis_window(),
    }
    n_members = int(getattr(model, "n_members", 1))
    if n_members > 1:  # an ensemble: weights under weights.members.<j>.
        tensors["config.n_members"] = i32(n_members)
    for mode in LATENCY_MODES:
        g = geometry.with_mode(mode)
        tensors[f"window.synthesis.{mode}"] = g.synthesis_window()
        tensors[f"config.latency_samples.{mode}"] = i32(g.latency_samples)
    for name, t in model.state_dict().items():
        tensors[f"weights.{name}"] = t.detach().cpu().float().numpy()
    return tensors


def native_bytes(model, metadata: dict, geometry: StftGeometry, sample_rates_hz) -> bytes:
    """Serialize ``model`` with ``metadata`` (``weights_sha256`` is filled in here)."""
    return native_file_bytes(native_tensors(model, geometry, sample_rates_hz), metadata)


# -- export ---------------------------------------------------------------------------


def export_native(model, out_path, *, geometry: StftGeometry = StftGeometry(),
                  sample_rates_hz=(44100, 48000), extra: dict | None = None,
                  n_check_frames: int | None = None, tolerance: float | None = None,
                  log=None) -> dict:
    """Write ``model`` (a :class:`CausalUNet` or a MaskEnsemble) as a native model file
    and check it.

    Returns the metadata plus ``"check": {"n_frames", "max_abs_diff", "backend"}``.
    Raises :class:`ExportCheckError` (and leaves no file) if the native runtime's
    step-by-step masks differ from PyTorch sequence mode by more than ``tolerance``
    anywhere, or if it cannot load the file.
    """
    import torch

    from rtsep.model.export import CHECK_TOLERANCE, N_CHECK_FRAMES, build_metadata, write_checked

    n_check_frames = N_CHECK_FRAMES if n_check_frames is None else int(n_check_frames)
    tolerance = CHECK_TOLERANCE if tolerance is None else float(tolerance)
    if n_check_frames < 1:
        raise OptionError(f"n_check_frames must be >= 1, got {n_check_frames}")
    if geometry.n_fft != model.cfg.n_fft:
        raise OptionError(f"geometry n_fft {geometry.n_fft} != the model's n_fft {model.cfg.n_fft}")
    log = log or (lambda msg: print(msg, file=sys.stderr))
    model = copy.deepcopy(model).float().cpu().eval()
    metadata = build_metadata(model, geometry=geometry, file_format=FORMAT_NATIVE,
                              sample_rates_hz=sample_rates_hz, extra=extra)
    with torch.no_grad():
        data = native_bytes(model, metadata, geometry, metadata["sample_rates_hz"])
    return write_checked(model, out_path, data, metadata, backend="native", geometry=geometry,
                         n_check_frames=n_check_frames, tolerance=tolerance, log=log)


def export_native_checkpoint(checkpoint_path, out_path, **kwargs) -> dict:
    """Load a checkpoint (validated) and :func:`export_native` it with its geometry,
    sample rates and training notes."""
    from rtsep.model.checkpoint import load_checkpoint

    model, meta = load_checkpoint(checkpoint_path)
    geometry = StftGeometry(meta["geometry"]["n_fft"], meta["geometry"]["hop_samples"])
    extra = dict(meta.get("extra") or {})
    extra.setdefault("checkpoint", Path(checkpoint_path).name)
    return export_native(model, out_path, geometry=geometry,
                         sample_rates_hz=meta["sample_rates_hz"], extra=extra, **kwargs)
