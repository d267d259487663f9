"""rtsep's native model file format (``.rtsepw``): the reader and the writer.

The format the C++ engine reads (``csrc/native_model.cpp``, the reference) and
:mod:`rtsep.model.export_native` writes; it lives in the runtime layer because
inspecting a model file (``rtsep info``, :mod:`rtsep.runtime.modelfile`) needs it
without torch.

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
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np

from rtsep.config import StftGeometry
from rtsep.runtime.errors import ModelFileError
from rtsep.runtime.metadata import validate_metadata

MAGIC = b"RTSEPNW\x00"
NATIVE_FORMAT_VERSION = 1
FORMAT_NATIVE = "native"
SUFFIX = ".rtsepw"
CHECKSUM_SCHEME = "sha256 of the tensor table (n_tensors up to the CRC-32 trailer)"
_DTYPE_FLOAT32 = 1
_DTYPE_INT32 = 2


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


class NativeModelFile:
    """A native model file, read and validated in Python (no inference).

    Attributes: ``path``, ``metadata`` (dict, validated like the other export
    formats), ``tensors`` (``{name: float32 or int32 array}``), ``weights_sha256``.
    Raises :class:`ModelFileError` (one line naming the file) on any problem.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError.at(self.path, "no such native model file")
        data = self.path.read_bytes()
        if not data.startswith(MAGIC):
            raise ModelFileError.at(self.path, "not an rtsep native model file (bad magic)")
        if len(data) < len(MAGIC) + 16:
            raise ModelFileError.at(self.path, "truncated file")
        (stored_crc,) = struct.unpack_from("<I", data, len(data) - 4)
        version, n_json = struct.unpack_from("<II", data, len(MAGIC))
        if version > NATIVE_FORMAT_VERSION:
            raise ModelFileError.at(self.path, f"native format version {version} is newer than this rtsep "
                                               f"reads ({NATIVE_FORMAT_VERSION}); upgrade rtsep")
        if zlib.crc32(data[:-4]) != stored_crc:
            raise ModelFileError.at(self.path, "checksum mismatch: the file is truncated or corrupted")
        pos = len(MAGIC) + 8
        try:
            self.metadata = json.loads(data[pos: pos + n_json].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError.at(self.path, f"metadata is not valid JSON ({exc})") from None
        table = data[pos + n_json: -4]
        self.weights_sha256 = hashlib.sha256(table).hexdigest()
        self.tensors = self._parse_table(table)
        if not isinstance(self.metadata, dict):
            raise ModelFileError.at(self.path, "metadata is not a JSON object")
        validate_metadata(self.path, self.metadata)
        if self.metadata.get("file_format") != FORMAT_NATIVE:
            raise ModelFileError.at(self.path, f"metadata says {self.metadata.get('file_format')!r}, not 'native'")
        if self.metadata["weights_sha256"] != self.weights_sha256:
            raise ModelFileError.at(self.path, "weights checksum mismatch: the weights do not belong to "
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
            raise ModelFileError.at(self.path, f"corrupt tensor table ({exc})") from None
        return out

    def geometry(self, latency_mode: str = "default") -> StftGeometry:
        return StftGeometry(self.metadata["n_fft"], self.metadata["hop_samples"], latency_mode)

    def __repr__(self) -> str:
        return f"NativeModelFile({str(self.path)!r})"
