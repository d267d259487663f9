"""The self-description every rtsep export carries (ONNX, TorchScript and ``.rtsepw``
alike): its format name and version, and the check of its consistency against this
rtsep's window formulas and latency derivation. Read by :mod:`rtsep.runtime.modelfile`
and :mod:`rtsep.runtime.rtsepw`, written by the exporters."""

from __future__ import annotations

import hashlib

import numpy as np

from rtsep.config import LATENCY_MODES, StftGeometry
from rtsep.runtime.errors import ModelFileError

METADATA_FORMAT = "rtsep-model"
METADATA_FORMAT_VERSION = 1


def window_sha256(window: np.ndarray) -> str:
    """sha256 of a window's ``float32`` little-endian bytes."""
    return hashlib.sha256(np.asarray(window, dtype="<f4").tobytes()).hexdigest()


def check_format_version(path, version, newest: int, what: str) -> None:
    """A file's ``format_version``: an int from 1 to ``newest`` (this rtsep's), else one
    :class:`ModelFileError` line (``what``: the kind of file, e.g. "model")."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError.at(path, f"bad {what} format_version {version!r}")
    if version > newest:
        raise ModelFileError.at(path, f"{what} format_version {version} is newer than this rtsep reads "
                                      f"({newest}); upgrade rtsep")


def _require(path, meta: dict, key: str, kind, what: str = ""):
    value = meta.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ModelFileError.at(path, f"metadata field {key!r} missing or not {what or kind.__name__}")
    return value


def validate_metadata(path, meta: dict) -> None:
    """Check an export's metadata for internal consistency and against this
    rtsep's window formulas and latency derivation. Raises :class:`ModelFileError`."""
    if meta.get("format") != METADATA_FORMAT:
        raise ModelFileError.at(path, f"metadata format {meta.get('format')!r} is not {METADATA_FORMAT!r}")
    check_format_version(path, meta.get("format_version"), METADATA_FORMAT_VERSION, "model")
    rates = _require(path, meta, "sample_rates_hz", list)
    if not rates or not all(isinstance(r, int) and r > 0 for r in rates):
        raise ModelFileError.at(path, f"bad sample_rates_hz {rates!r}")
    n_fft = _require(path, meta, "n_fft", int)
    hop = _require(path, meta, "hop_samples", int)
    try:
        base = StftGeometry(n_fft, hop)
    except ValueError as exc:
        raise ModelFileError.at(path, f"bad STFT geometry in metadata ({exc})") from None
    if meta.get("n_bins") != base.n_bins:
        raise ModelFileError.at(path, f"metadata n_bins {meta.get('n_bins')!r} != n_fft // 2 + 1 = {base.n_bins}")
    window = _require(path, meta, "analysis_window", dict)
    if window.get("sha256") != window_sha256(base.analysis_window()):
        raise ModelFileError.at(path, f"analysis window does not match rtsep's formula for n_fft {n_fft}, "
                                      f"hop {hop} (made with a different rtsep?)")
    modes = _require(path, meta, "latency_modes", dict)
    if not modes:
        raise ModelFileError.at(path, "metadata lists no latency modes")
    for mode, info in modes.items():
        if mode not in LATENCY_MODES:
            raise ModelFileError.at(path, f"unknown latency mode {mode!r} in metadata")
        geometry = base.with_mode(mode)
        if not isinstance(info, dict):
            raise ModelFileError.at(path, f"metadata for latency mode {mode!r} is not an object")
        synth = info.get("synthesis_window")
        if not isinstance(synth, dict) or synth.get("sha256") != window_sha256(
                geometry.synthesis_window()):
            raise ModelFileError.at(path, f"synthesis window of mode {mode!r} does not match rtsep's formula")
        if info.get("latency_samples") != geometry.latency_samples:
            raise ModelFileError.at(path, f"metadata latency of mode {mode!r} is {info.get('latency_samples')!r} "
                                          f"samples but the windows give {geometry.latency_samples}")
    state = _require(path, meta, "state", list)
    for entry in state:
        if (not isinstance(entry, dict) or not isinstance(entry.get("name"), str)
                or not isinstance(entry.get("shape"), list)
                or not all(isinstance(d, int) and d > 0 for d in entry["shape"])
                or entry.get("dtype") != "float32" or entry.get("initial") != "zeros"):
            raise ModelFileError.at(path, f"bad state entry in metadata: {str(entry)[:80]}")
    frame = _require(path, meta, "frame_shape", list)
    if frame != [1, 2, base.n_bins, 2]:
        raise ModelFileError.at(path, f"metadata frame_shape {frame} != [1, 2, {base.n_bins}, 2]")
    if meta.get("mask_shape") != [1, 2, base.n_bins]:
        raise ModelFileError.at(path, f"metadata mask_shape {meta.get('mask_shape')} != [1, 2, {base.n_bins}]")
    _require(path, meta, "weights_sha256", str, "a checksum string")
