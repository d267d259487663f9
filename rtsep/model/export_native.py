"""Export the U-Net to rtsep's native model format (``.rtsepw``), for the C ABI and LV2 plugin.

The native engine (``csrc/native_model.cpp``) is a dependency-free C++
implementation of :meth:`CausalUNet.step`; it reads its weights from this file,
so hosts that embed ``librtsep`` need neither Python, ONNX Runtime nor LibTorch.

File layout (little-endian; the C++ reader is the reference)::

    char[8]  b"RTSEPNW\\0"
    u32      format version (1)
    u32      n_json_bytes; JSON metadata (the same self-description as the
             ONNX/TorchScript exports, file_format "native")
    u32      n_tensors; per tensor: u16 n_name_bytes, name, u8 dtype
             (1 float32, 2 int32), u8 ndim, u32 dims[ndim], values
    u32      CRC-32 (zlib.crc32) of every byte before it

Tensors: ``config.*`` (architecture and geometry numbers), ``window.analysis``
and ``window.synthesis.<mode>`` (float32 ``(n_fft,)``) and ``weights.<name>``
for every entry of the model's ``state_dict``. The metadata's
``weights_sha256`` is the sha256 of the tensor table (from ``n_tensors`` up to
the CRC).

An export is written to a temporary file, loaded back by ``librtsep`` (through
:class:`NativeStepper`, ctypes), and run step by step over
:data:`rtsep.model.export.N_CHECK_FRAMES` frames; unless every mask value is
within :data:`rtsep.model.export.CHECK_TOLERANCE` of PyTorch sequence mode, the
file is deleted and :class:`ExportCheckError` is raised.
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import json
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from rtsep.config import LATENCY_MODES, StftGeometry
from rtsep.model.errors import ExportCheckError, ModelFileError, OptionError
from rtsep.runtime.modelfile import validate_metadata

MAGIC = b"RTSEPNW\x00"
NATIVE_FORMAT_VERSION = 1
FORMAT_NATIVE = "native"
SUFFIX = ".rtsepw"
CHECKSUM_SCHEME = "sha256 of the tensor table (n_tensors up to the CRC-32 trailer)"
#: FrameNorm's variance epsilon (a literal in rtsep/model/unet.py; the export check
#: would catch a change there that is not mirrored here).
NORM_EPS = 1e-5
_DTYPE_FLOAT32 = 1
_DTYPE_INT32 = 2
#: Environment variable naming the librtsep shared library to use.
LIBRARY_ENV = "RTSEP_LIBRARY"
#: Where ``cmake -S . -B build/embed`` puts the library in a checkout.


def _fail(path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: {what}")


# -- writing -----------------------------------------------------------------------


def _tensor_record(name: str, values: np.ndarray) -> bytes:
    if values.dtype == np.float32:
        code = _DTYPE_FLOAT32
    elif values.dtype == np.int32:
        code = _DTYPE_INT32
    else:
        raise TypeError(f"tensor {name!r}: dtype {values.dtype} is not float32 or int32")
    raw_name = name.encode("ascii")
    head = struct.pack("<H", len(raw_name)) + raw_name + struct.pack("<BB", code, values.ndim)
    head += struct.pack(f"<{values.ndim}I", *values.shape)
    return head + np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes()


def random_model_tensors(cfg, geometry: StftGeometry, seed: int = 0,
                         sample_rates_hz=(44100, 48000), spread: float = 0.1
                         ) -> dict[str, np.ndarray]:
    """Every tensor of a native file for a :class:`CausalUNet` of ``cfg`` initialised with
    ``seed`` and its weights moved by ``spread`` times seeded noise: small, repeatable
    models for tests and fuzz seeds."""
    import torch

    from rtsep.model.unet import CausalUNet

    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CausalUNet(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(spread * torch.randn(p.shape, generator=gen))
    return native_tensors(model, geometry, sample_rates_hz)


def native_tensors(model, geometry: StftGeometry, sample_rates_hz) -> dict[str, np.ndarray]:
    """Every tensor of the native file for ``model`` (a :class:`CausalUNet`), in file order."""
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


def native_file_bytes(tensors: dict[str, np.ndarray], metadata: dict) -> bytes:
    """A native model file holding ``tensors`` (float32 or int32 arrays, in order) and
    ``metadata`` (its checksum fields are filled in here), with its trailing CRC-32."""
    table = struct.pack("<I", len(tensors)) + b"".join(
        _tensor_record(name, values) for name, values in tensors.items())
    metadata["weights_sha256"] = hashlib.sha256(table).hexdigest()
    metadata["weights_checksum_scheme"] = CHECKSUM_SCHEME
    metadata["native_format_version"] = NATIVE_FORMAT_VERSION
    metadata["native_tensors"] = list(tensors)
    meta = json.dumps(metadata).encode("utf-8")
    body = MAGIC + struct.pack("<II", NATIVE_FORMAT_VERSION, len(meta)) + meta + table
    return body + struct.pack("<I", zlib.crc32(body))


# -- reading (Python side: validation, `rtsep info`-style inspection) --------------


class NativeModelFile:
    """A native model file, read and validated in Python (no inference).

    Attributes: ``path``, ``metadata`` (dict, validated like the other export
    formats), ``tensors`` (``{name: float32 or int32 array}``), ``weights_sha256``.
    Raises :class:`ModelFileError` (one line naming the file) on any problem.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise _fail(self.path, "no such native model file")
        data = self.path.read_bytes()
        if not data.startswith(MAGIC):
            raise _fail(self.path, "not an rtsep native model file (bad magic)")
        if len(data) < len(MAGIC) + 16:
            raise _fail(self.path, "truncated file")
        (stored_crc,) = struct.unpack_from("<I", data, len(data) - 4)
        version, n_json = struct.unpack_from("<II", data, len(MAGIC))
        if version > NATIVE_FORMAT_VERSION:
            raise _fail(self.path, f"native format version {version} is newer than this rtsep "
                                   f"reads ({NATIVE_FORMAT_VERSION}); upgrade rtsep")
        if zlib.crc32(data[:-4]) != stored_crc:
            raise _fail(self.path, "checksum mismatch: the file is truncated or corrupted")
        pos = len(MAGIC) + 8
        try:
            self.metadata = json.loads(data[pos: pos + n_json].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _fail(self.path, f"metadata is not valid JSON ({exc})") from None
        table = data[pos + n_json: -4]
        self.weights_sha256 = hashlib.sha256(table).hexdigest()
        self.tensors = self._parse_table(table)
        if not isinstance(self.metadata, dict):
            raise _fail(self.path, "metadata is not a JSON object")
        validate_metadata(self.path, self.metadata)
        if self.metadata.get("file_format") != FORMAT_NATIVE:
            raise _fail(self.path, f"metadata says {self.metadata.get('file_format')!r}, not 'native'")
        if self.metadata["weights_sha256"] != self.weights_sha256:
            raise _fail(self.path, "weights checksum mismatch: the weights do not belong to "
                                   "this metadata")

    def _parse_table(self, table: bytes) -> dict[str, np.ndarray]:
        try:
            (n_tensors,) = struct.unpack_from("<I", table, 0)
            pos = 4
            out = {}
            for _ in range(n_tensors):
                (n_name,) = struct.unpack_from("<H", table, pos)
                name = table[pos + 2: pos + 2 + n_name].decode("ascii")
                pos += 2 + n_name
                code, ndim = struct.unpack_from("<BB", table, pos)
                pos += 2
                shape = struct.unpack_from(f"<{ndim}I", table, pos)
                pos += 4 * ndim
                dtype = {_DTYPE_FLOAT32: "<f4", _DTYPE_INT32: "<i4"}[code]
                n = int(np.prod(shape, dtype=np.int64))
                if pos + 4 * n > len(table):
                    raise ValueError(f"tensor {name!r} runs past the end")
                out[name] = np.frombuffer(table, dtype=dtype, count=n, offset=pos).reshape(shape)
                pos += 4 * n
            if pos != len(table):
                raise ValueError("trailing bytes after the last tensor")
        except (struct.error, KeyError, UnicodeDecodeError, ValueError) as exc:
            raise _fail(self.path, f"corrupt tensor table ({exc})") from None
        return out

    def geometry(self, latency_mode: str = "default") -> StftGeometry:
        return StftGeometry(self.metadata["n_fft"], self.metadata["hop_samples"], latency_mode)

    def __repr__(self) -> str:
        return f"NativeModelFile({str(self.path)!r})"


# -- librtsep through ctypes -----------------------------------------------------------


def find_library(library=None) -> Path | None:
    """Path of the ``librtsep`` shared library, or None if it is not there.

    ``library`` if given, else ``$RTSEP_LIBRARY`` if set, else where
    :func:`rtsep.paths.library_path` finds it (beside the installed ``rtsep._core``,
    else the checkout's ``build/embed``; ``.so``, ``.dylib`` or ``.dll`` by platform).
    """
    if library is None and os.environ.get(LIBRARY_ENV):
        library = os.environ[LIBRARY_ENV]
    if library is not None:
        return Path(library) if Path(library).is_file() else None
    from rtsep.paths import library_path

    return library_path()


_BUILD_HINT = ("build it with `cmake -S . -B build/embed && cmake --build build/embed --target "
               f"rtsep` (or `pip install .`, which installs it), or set {LIBRARY_ENV}")


def load_library(library=None) -> ctypes.CDLL:
    """The ``librtsep`` C ABI, with argument types declared. Raises :class:`OptionError`."""
    path = find_library(library)
    if path is None:
        if library is not None:
            raise OptionError(f"no librtsep at {library}; {_BUILD_HINT}")
        if os.environ.get(LIBRARY_ENV):
            raise OptionError(f"{LIBRARY_ENV}={os.environ[LIBRARY_ENV]} is not a file; {_BUILD_HINT}")
        raise OptionError(f"librtsep (the C ABI) is not built; {_BUILD_HINT}")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise OptionError(f"cannot load {path} ({exc})") from None
    p, u32, f32p = ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_float)
    lib.rtsep_model_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.rtsep_model_open.restype = p
    lib.rtsep_model_n_bins.argtypes = [p]
    lib.rtsep_model_n_bins.restype = u32
    lib.rtsep_model_step.argtypes = [p, f32p, f32p]
    lib.rtsep_model_step.restype = ctypes.c_int
    lib.rtsep_model_reset.argtypes = [p]
    lib.rtsep_model_reset.restype = None
    lib.rtsep_model_close.argtypes = [p]
    lib.rtsep_model_close.restype = None
    lib.rtsep_last_error.argtypes = [p]
    lib.rtsep_last_error.restype = ctypes.c_char_p
    lib.rtsep_version.argtypes = []
    lib.rtsep_version.restype = ctypes.c_char_p
    lib.rtsep_library_path = path
    return lib


class NativeStepper:
    """The native model of ``path`` stepped through librtsep (``rtsep_model_*``).

    ``step(frame)``: ``complex64 (2, n_bins)`` C-contiguous -> mask ``float32
    (2, n_bins)`` (a buffer owned here, overwritten by the next step);
    ``reset()`` zeroes the state. One thread at a time.
    """

    def __init__(self, path, library=None):
        self._handle = None
        self._lib = load_library(library)
        status = ctypes.c_int(0)
        self._handle = self._lib.rtsep_model_open(str(path).encode(), ctypes.byref(status))
        if not self._handle:
            msg = self._lib.rtsep_last_error(None).decode("utf-8", "replace")
            raise ModelFileError(msg)
        self.n_bins = int(self._lib.rtsep_model_n_bins(self._handle))
        self._mask = np.zeros((2, self.n_bins), dtype=np.float32)
        self._mask_ptr = self._mask.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def step(self, frame: np.ndarray) -> np.ndarray:
        if frame.dtype != np.complex64 or frame.shape != (2, self.n_bins) or not frame.flags.c_contiguous:
            raise ValueError(f"frame must be C-contiguous complex64 (2, {self.n_bins}), got "
                             f"{frame.dtype} {frame.shape}")
        self._lib.rtsep_model_step(self._handle, frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                   self._mask_ptr)
        return self._mask

    def reset(self) -> None:
        self._lib.rtsep_model_reset(self._handle)

    def close(self) -> None:
        if self._handle:
            self._lib.rtsep_model_close(self._handle)
            self._handle = None

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()

    def __repr__(self) -> str:
        return f"NativeStepper(n_bins={self.n_bins}, library={str(self._lib.rtsep_library_path)!r})"


# -- export ---------------------------------------------------------------------------


def export_native(model, out_path, *, geometry: StftGeometry = StftGeometry(),
                  sample_rates_hz=(44100, 48000), extra: dict | None = None,
                  n_check_frames: int | None = None, tolerance: float | None = None,
                  library=None, log=None) -> dict:
    """Write ``model`` (a :class:`CausalUNet`) as a native model file and check it.

    Returns the metadata plus ``"check": {"n_frames", "max_abs_diff", "backend"}``.
    Raises :class:`ExportCheckError` (and leaves no file) if librtsep's step-by-step
    masks differ from PyTorch sequence mode by more than ``tolerance`` anywhere,
    or if librtsep cannot be loaded to check (the error says how to build it).
    """
    import torch

    from rtsep.model.export import (CHECK_TOLERANCE, N_CHECK_FRAMES, build_metadata,
                                    check_frames, reference_masks, run_steps)

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
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        try:
            NativeModelFile(tmp)
            stepper = NativeStepper(tmp, library)
        except (ModelFileError, OptionError) as exc:
            raise ExportCheckError(f"{out_path}: cannot check the native export ({exc}); "
                                   "not written") from None
        frames = check_frames(n_check_frames, geometry)
        got = run_steps(stepper, frames)
        stepper.close()
        want = reference_masks(model, frames)
        diff = float(np.max(np.abs(got - want)))
        if not diff <= tolerance:  # also catches NaN
            raise ExportCheckError(f"{out_path}: native model differs from PyTorch by {diff:.3g} > "
                                   f"{tolerance:g} over {n_check_frames} frames; not written")
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    log(f"exported {out_path} (native, {len(data) / 1e6:.2f} MB, {metadata['n_parameters']} "
        f"parameters); step-by-step check through librtsep over {n_check_frames} frames: "
        f"max |diff| {diff:.2e} <= {tolerance:g}")
    metadata["check"] = {"n_frames": n_check_frames, "max_abs_diff": diff, "backend": "native"}
    return metadata


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
