"""Training checkpoints of the causal U-Net: save atomically, load with validation.

A checkpoint is a ``torch.save`` file holding one dict::

    {"format": "rtsep-checkpoint", "format_version": 1, "rtsep_version": str,
     "class": "CausalUNet" | "MaskEnsemble", "config": UNetConfig.to_dict(),
     "n_members": int (MaskEnsemble only: members sharing the config),
     "geometry": {"n_fft": int, "hop_samples": int},
     "sample_rates_hz": [int, ...], "weights_sha256": str,
     "state_dict": {name: float32 tensor}, "train_state": dict | None,
     "extra": dict | None}

It is read back with ``torch.load(weights_only=True)``, so ``train_state`` and
``extra`` may hold only tensors and plain Python containers/numbers/strings
(an optimizer ``state_dict()`` qualifies; a legacy ``np.random.get_state()``
tuple does not: store ``np.random.Generator.bit_generator.state`` instead).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import torch

from rtsep import __version__
from rtsep.config import StftGeometry
from rtsep.runtime.errors import ModelFileError
from rtsep.runtime.metadata import check_format_version
from rtsep.model.unet import OPTIONAL_FIELDS, CausalUNet, UNetConfig

CHECKPOINT_FORMAT = "rtsep-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
MODEL_CLASS = "CausalUNet"
ENSEMBLE_CLASS = "MaskEnsemble"


def state_dict_sha256(state_dict: dict) -> str:
    """sha256 over a state dict: name, dtype, shape and raw bytes of each tensor,
    in sorted name order. Identifies a set of weights across file formats."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{str(t.dtype)}|{tuple(t.shape)}\n".encode())
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16
            t = t.to(torch.float32)
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, model: "CausalUNet | MaskEnsemble", *,
                    geometry: StftGeometry, sample_rates_hz=(44100, 48000),
                    train_state: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write ``model`` and its description to ``path`` atomically; returns the path.

    The file is written to a temporary name in the same folder, flushed to disk,
    then renamed over ``path``, so a crash never leaves a half-written checkpoint.
    ``train_state`` (optimizer/step/RNG, for resuming) and ``extra`` (e.g.
    ``{"training_data": ...}``, copied into exports) must be ``weights_only``-loadable.
    """
    from rtsep.model.ensemble import MaskEnsemble

    if not isinstance(model, (CausalUNet, MaskEnsemble)):
        raise TypeError(f"save_checkpoint expects a CausalUNet or MaskEnsemble, "
                        f"got {type(model).__name__}")
    if geometry.n_fft != model.cfg.n_fft:
        raise ValueError(f"geometry n_fft {geometry.n_fft} does not match the model's "
                         f"n_fft {model.cfg.n_fft}")
    rates = [int(r) for r in sample_rates_hz]
    if not rates or any(r <= 0 for r in rates):
        raise ValueError(f"sample_rates_hz must be positive integers, got {sample_rates_hz!r}")
    state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "rtsep_version": __version__,
        "class": ENSEMBLE_CLASS if isinstance(model, MaskEnsemble) else MODEL_CLASS,
        "config": model.cfg.to_dict(),
        **({"n_members": model.n_members} if isinstance(model, MaskEnsemble) else {}),
        "geometry": {"n_fft": int(geometry.n_fft), "hop_samples": int(geometry.hop_samples)},
        "sample_rates_hz": rates,
        "weights_sha256": state_dict_sha256(state_dict),
        "state_dict": state_dict,
        "train_state": train_state,
        "extra": extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _check_config(path, raw) -> UNetConfig:
    if not isinstance(raw, dict):
        raise ModelFileError.at(path, f"'config' must be a dict, got {type(raw).__name__}")
    fields = {f.name for f in dataclasses.fields(UNetConfig)}
    # Fields added after files were written take their default when absent.
    missing = sorted(fields - set(raw) - set(OPTIONAL_FIELDS))
    unknown = sorted(set(raw) - fields)
    if missing or unknown:
        raise ModelFileError.at(path, f"model config does not match UNetConfig (missing {missing}, "
                                      f"unknown {unknown})")
    try:
        return UNetConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ModelFileError.at(path, f"bad model config ({_first_line(exc)})") from None


def _check_geometry(path, raw, cfg: UNetConfig) -> StftGeometry:
    if not isinstance(raw, dict) or set(raw) < {"n_fft", "hop_samples"}:
        raise ModelFileError.at(path, "'geometry' must be a dict with n_fft and hop_samples")
    try:
        geometry = StftGeometry(int(raw["n_fft"]), int(raw["hop_samples"]))
    except (TypeError, ValueError) as exc:
        raise ModelFileError.at(path, f"bad STFT geometry ({_first_line(exc)})") from None
    if geometry.n_fft != cfg.n_fft:
        raise ModelFileError.at(path, f"geometry n_fft {geometry.n_fft} does not match the model "
                                      f"config n_fft {cfg.n_fft}")
    return geometry


def _check_state_dict(path, state_dict, model) -> None:
    if not isinstance(state_dict, dict):
        raise ModelFileError.at(path, "'state_dict' is missing or not a dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unknown = sorted(set(state_dict) - set(expected))
    if missing or unknown:
        raise ModelFileError.at(path, f"weights do not match the model config: {len(missing)} missing "
                                      f"(e.g. {missing[:3]}), {len(unknown)} unexpected (e.g. {unknown[:3]})")
    for name, ref in expected.items():
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            raise ModelFileError.at(path, f"weight {name!r} is a {type(t).__name__}, not a tensor")
        if tuple(t.shape) != tuple(ref.shape):
            raise ModelFileError.at(path, f"weight {name!r} has shape {tuple(t.shape)}, the model config "
                                          f"needs {tuple(ref.shape)}")
        if not t.is_floating_point():
            raise ModelFileError.at(path, f"weight {name!r} has dtype {t.dtype}, expected floating point")
        if not bool(torch.isfinite(t).all()):
            raise ModelFileError.at(path, f"weight {name!r} contains NaN or inf (diverged training?)")


def load_checkpoint(path: str | os.PathLike) -> tuple["CausalUNet | MaskEnsemble", dict]:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Returns ``(model, meta)``: the :class:`CausalUNet` (or
    :class:`~rtsep.model.ensemble.MaskEnsemble`) on CPU in eval mode, and
    the checkpoint dict without ``state_dict`` (plain values, as stored; the
    architecture is ``model.cfg``). Raises :class:`ModelFileError` (one line)
    naming the file and the problem on anything missing, unreadable or inconsistent.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError.at(path, "no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable files
        raise ModelFileError.at(path, f"not a readable torch checkpoint ({_first_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError.at(path, f"not an rtsep checkpoint (no format {CHECKPOINT_FORMAT!r} marker)")
    check_format_version(path, payload.get("format_version"), CHECKPOINT_FORMAT_VERSION, "checkpoint")
    from rtsep.model.ensemble import MAX_MEMBERS, MaskEnsemble

    cls = payload.get("class")
    if cls not in (MODEL_CLASS, ENSEMBLE_CLASS):
        raise ModelFileError.at(path, f"model class {cls!r} is not {MODEL_CLASS!r} or {ENSEMBLE_CLASS!r}")
    n_members = payload.get("n_members")
    if cls == ENSEMBLE_CLASS and not (isinstance(n_members, int) and 2 <= n_members <= MAX_MEMBERS):
        raise ModelFileError.at(path, f"bad n_members {n_members!r} for an ensemble (2 to {MAX_MEMBERS})")
    cfg = _check_config(path, payload.get("config"))
    geometry = _check_geometry(path, payload.get("geometry"), cfg)
    rates = payload.get("sample_rates_hz")
    if (not isinstance(rates, (list, tuple)) or not rates
            or not all(isinstance(r, int) and r > 0 for r in rates)):
        raise ModelFileError.at(path, f"bad sample_rates_hz {rates!r}")
    try:
        model = CausalUNet(cfg) if cls == MODEL_CLASS else MaskEnsemble.empty(cfg, n_members)
    except Exception as exc:
        raise ModelFileError.at(path, f"cannot build the model from its config ({_first_line(exc)})") from None
    state_dict = payload.get("state_dict")
    _check_state_dict(path, state_dict, model)
    digest = payload.get("weights_sha256")
    if digest is not None and digest != state_dict_sha256(state_dict):
        raise ModelFileError.at(path, "weights checksum mismatch (file corrupted or edited)")
    model.load_state_dict({k: v.to(torch.float32) for k, v in state_dict.items()})
    model.eval()
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["config"] = cfg.to_dict()
    meta["geometry"] = {"n_fft": geometry.n_fft, "hop_samples": geometry.hop_samples}
    meta["sample_rates_hz"] = [int(r) for r in rates]
    if meta.get("weights_sha256") is None:
        meta["weights_sha256"] = state_dict_sha256(model.state_dict())
    return model, meta

