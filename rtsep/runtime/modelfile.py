"""Exported model files: format detection, embedded metadata, weight checksums.

Reads both export formats without torch or the ``onnx`` package:

* ONNX: a protobuf ``ModelProto``; the metadata is the JSON string under the
  ``metadata_props`` key ``"rtsep"``, and the weights checksum covers the
  serialized ``graph.initializer`` tensors (a small wire-format reader below).
* TorchScript: a zip archive; the metadata is the extra file ``rtsep.json``,
  and the weights checksum covers the archive's ``data.pkl``, ``data/*``,
  ``constants.pkl`` and ``constants/*`` entries.

Every problem is a :class:`ModelFileError` with one line naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

from rtsep.config import StftGeometry
from rtsep.runtime.errors import ModelFileError
from rtsep.runtime.metadata import validate_metadata

ONNX_METADATA_KEY = "rtsep"
TORCHSCRIPT_EXTRA_FILE = "rtsep.json"
FORMAT_ONNX = "onnx"
FORMAT_TORCHSCRIPT = "torchscript"
FORMAT_NATIVE = "native"
_NATIVE_MAGIC = b"RTSEPNW\x00"
ONNX_CHECKSUM_SCHEME = "sha256 of graph.initializer TensorProto bytes, in file order"
TORCHSCRIPT_CHECKSUM_SCHEME = "sha256 of archive entries data.pkl, data/*, constants.pkl, constants/*"
#: Names of the exported step graph's inputs/outputs besides the state tensors.
FRAME_INPUT = "frame"
MASK_OUTPUT = "mask"
STATE_IN_PREFIX = "state_in."
STATE_OUT_PREFIX = "state_out."
_ZIP_MAGIC = b"PK\x03\x04"


# -- protobuf wire format (just enough of ModelProto) -------------------------------


class _WireError(Exception):
    pass


def _read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _WireError("varint too long")


def _iter_fields(buf: memoryview, start: int, end: int):
    """Yield ``(field_number, wire_type, value_or_start, stop)`` of one message."""
    pos = start
    while pos < end:
        key, pos = _read_varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _WireError("field number 0")
        if wire == 0:
            value, pos = _read_varint(buf, pos, end)
            yield field, wire, value, pos
        elif wire == 1:
            pos += 8
            yield field, wire, None, pos
        elif wire == 2:
            n, pos = _read_varint(buf, pos, end)
            if pos + n > end:
                raise _WireError(f"field {field} runs {pos + n - end} bytes past the end")
            yield field, wire, pos, pos + n
            pos += n
        elif wire == 5:
            pos += 4
            yield field, wire, None, pos
        else:
            raise _WireError(f"unsupported wire type {wire}")
    if pos != end:
        raise _WireError("message runs past the end")


def _parse_onnx(path, data: bytes) -> tuple[dict[str, str], str, int]:
    """``(metadata_props, initializer sha256, n_initializers)`` of an ONNX file."""
    buf = memoryview(data)
    props: dict[str, str] = {}
    h = hashlib.sha256()
    n_init = 0
    has_ir_version = has_graph = False
    try:
        for field, wire, a, b in _iter_fields(buf, 0, len(buf)):
            if field == 1 and wire == 0:
                has_ir_version = True
            elif field == 7 and wire == 2:
                has_graph = True
                for gfield, gwire, ga, gb in _iter_fields(buf, a, b):
                    if gfield == 5 and gwire == 2:
                        h.update(buf[ga:gb])
                        n_init += 1
            elif field == 14 and wire == 2:
                key = value = ""
                for efield, ewire, ea, eb in _iter_fields(buf, a, b):
                    if ewire == 2 and efield in (1, 2):
                        text = bytes(buf[ea:eb]).decode("utf-8")
                        key, value = (text, value) if efield == 1 else (key, text)
                props[key] = value
    except (_WireError, UnicodeDecodeError) as exc:
        raise ModelFileError.at(path, f"not a valid ONNX file (truncated or corrupt: {exc})") from None
    if not (has_ir_version and has_graph):
        raise ModelFileError.at(path, "not a valid ONNX file (no ir_version or graph)")
    return props, h.hexdigest(), n_init


def onnx_weights_sha256(data: bytes, path="<bytes>") -> str:
    """Weights checksum of serialized ONNX bytes (see :data:`ONNX_CHECKSUM_SCHEME`)."""
    return _parse_onnx(path, data)[1]


def onnx_with_metadata(data: bytes, props: dict[str, str]) -> bytes:
    """``data`` with ``metadata_props`` entries appended (protobuf merges repeated
    fields in any order, so appending is a valid edit that leaves the graph as is)."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def length_delimited(field: int, payload: bytes) -> bytes:
        return varint(field << 3 | 2) + varint(len(payload)) + payload

    tail = b"".join(
        length_delimited(14, length_delimited(1, k.encode()) + length_delimited(2, v.encode()))
        for k, v in props.items())
    return bytes(data) + tail


def torchscript_weights_sha256(data: bytes, path="<bytes>") -> str:
    """Weights checksum of a TorchScript archive (see :data:`TORCHSCRIPT_CHECKSUM_SCHEME`)."""
    return _torchscript_entries(path, data, need_metadata=False)[1]


def _torchscript_entries(path, data: bytes, need_metadata: bool = True) -> tuple[dict, str]:
    """``(metadata dict, weights sha256)`` of a TorchScript zip archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            meta_name = next((n for n in names
                              if n.split("/", 1)[-1] == f"extra/{TORCHSCRIPT_EXTRA_FILE}"), None)
            if meta_name is None and need_metadata:
                raise ModelFileError.at(path, f"TorchScript file without {TORCHSCRIPT_EXTRA_FILE!r} metadata: "
                                              "not an rtsep export")
            meta_text = zf.read(meta_name).decode("utf-8") if meta_name else "{}"
            h = hashlib.sha256()
            for name in sorted(names):
                rel = name.split("/", 1)[-1]
                if rel in ("data.pkl", "constants.pkl") or rel.startswith(("data/", "constants/")):
                    payload = zf.read(name)  # checks the entry's CRC
                    h.update(f"{rel}|{len(payload)}\n".encode())
                    h.update(payload)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, UnicodeDecodeError,
            ValueError, KeyError) as exc:
        raise ModelFileError.at(path, f"not a valid TorchScript file (truncated or corrupt: "
                                      f"{type(exc).__name__}: {exc})") from None
    return _parse_json(path, meta_text), h.hexdigest()


def _parse_json(path, text: str) -> dict:
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError.at(path, f"metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelFileError.at(path, "metadata is not a JSON object")
    return meta


class ModelFile:
    """An exported model file, read and validated (no inference session).

    Attributes: ``path`` (Path), ``data`` (the file's bytes), ``format``
    (``"onnx"``, ``"torchscript"`` or ``"native"``), ``metadata`` (dict, validated),
    ``weights_sha256`` (as recomputed from the file).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise ModelFileError.at(self.path, "no such model file")
        if not self.path.is_file():
            raise ModelFileError.at(self.path, "not a file")
        try:
            self.data = self.path.read_bytes()
        except OSError as exc:
            raise ModelFileError.at(self.path, f"cannot read ({exc.strerror})") from None
        if not self.data:
            raise ModelFileError.at(self.path, "empty file")
        if self.data.startswith(_ZIP_MAGIC):
            self.format = FORMAT_TORCHSCRIPT
            self.metadata, self.weights_sha256 = _torchscript_entries(self.path, self.data)
        elif self.data.startswith(_NATIVE_MAGIC):
            from rtsep.runtime.rtsepw import NativeModelFile  # no torch there

            self.format = FORMAT_NATIVE
            native = NativeModelFile(self.path)
            self.metadata, self.weights_sha256 = native.metadata, native.weights_sha256
        else:
            self.format = FORMAT_ONNX
            props, self.weights_sha256, _ = _parse_onnx(self.path, self.data)
            if ONNX_METADATA_KEY not in props:
                raise ModelFileError.at(self.path, f"ONNX model without {ONNX_METADATA_KEY!r} metadata: "
                                                   "not an rtsep export")
            self.metadata = _parse_json(self.path, props[ONNX_METADATA_KEY])
        validate_metadata(self.path, self.metadata)
        if self.metadata.get("file_format") != self.format:
            raise ModelFileError.at(self.path, f"metadata says {self.metadata.get('file_format')!r} but the "
                                               f"file is {self.format}")
        if self.metadata["weights_sha256"] != self.weights_sha256:
            raise ModelFileError.at(self.path, "weights checksum mismatch: the file is corrupted or its "
                                               "weights do not belong to this metadata")

    def geometry(self, latency_mode: str = "default") -> StftGeometry:
        """The STFT geometry of ``latency_mode`` (checked against the metadata)."""
        if latency_mode not in self.metadata["latency_modes"]:
            raise ModelFileError.at(self.path, f"latency mode {latency_mode!r} not in the model's modes "
                                               f"{sorted(self.metadata['latency_modes'])}")
        return StftGeometry(self.metadata["n_fft"], self.metadata["hop_samples"], latency_mode)

    def check_sample_rate(self, sample_rate_hz: int) -> None:
        rates = self.metadata["sample_rates_hz"]
        if int(sample_rate_hz) not in rates:
            raise ModelFileError.at(self.path, f"model runs at {', '.join(map(str, rates))} Hz, not "
                                               f"{sample_rate_hz} Hz (resample the audio)")

    def state_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        """``[(name, shape), ...]`` of the state tensors, in graph order."""
        return [(s["name"], tuple(s["shape"])) for s in self.metadata["state"]]

    def __repr__(self) -> str:
        return f"ModelFile({str(self.path)!r}, format={self.format!r})"


def check_graph_io(path, meta: dict, inputs: list[tuple[str, list]],
                   outputs: list[tuple[str, list]]) -> None:
    """Compare a graph's ``[(name, shape)]`` inputs/outputs with the metadata."""
    state = [(s["name"], list(s["shape"])) for s in meta["state"]]
    want_in = [(FRAME_INPUT, meta["frame_shape"])] + [(STATE_IN_PREFIX + n, s) for n, s in state]
    want_out = [(MASK_OUTPUT, meta["mask_shape"])] + [(STATE_OUT_PREFIX + n, s) for n, s in state]
    for kind, got, want in (("inputs", inputs, want_in), ("outputs", outputs, want_out)):
        got = [(n, list(s)) for n, s in got]
        if got != want:
            diff = next(((g, w) for g, w in zip(got, want) if g != w), None)
            detail = (f"graph has {diff[0][0]}{diff[0][1]}, metadata says {diff[1][0]}{diff[1][1]}"
                      if diff else f"graph has {len(got)} {kind}, the metadata state implies {len(want)}")
            raise ModelFileError.at(path, f"graph {kind} do not match the metadata state ({detail})")
