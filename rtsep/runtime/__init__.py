"""Model runtime: load an exported model and run it one STFT frame at a time.

>>> runner = load("models/rtsep-default.onnx", latency_mode="low", sample_rate_hz=48000)
>>> mask = runner.step(frame)  # frame: complex64 (2, 513) -> mask: float32 (2, 513)

Backends (one module each): ``onnx-cpu`` (ONNX Runtime, one thread),
``onnx-cuda`` (needs ``onnxruntime-gpu``), ``torchscript-cpu`` and
``torchscript-cuda`` (need torch; the latter replays a CUDA graph), and
``native`` (rtsep's own C++ implementation of the step from a ``.rtsepw``
file: no runtime library at all; ``rtsep monitor`` runs it in a native worker
thread). The ONNX and native backends never import torch.

``backend="auto"`` uses a fixed preference order, GPU first, and says on stderr
what it chose and why:

* an ONNX file: ``onnx-cuda`` if ONNX Runtime has the CUDA provider, else
  ``native`` when a native export of the same weights lies beside it (same name,
  ``.rtsepw``; the fastest on a CPU), else ``onnx-cpu``;
* a TorchScript file: ``torchscript-cuda`` if torch sees a GPU, else ``native``
  or ``onnx-cpu`` when such an export lies beside it, else ``torchscript-cpu``;
* a native file: ``native``.

A sibling that cannot serve (other weights, a corrupt file, a build without the
native model, more than one thread asked of ``native``) is skipped with its
reason in that line, and the next backend runs.

A backend of another file format is served from the sibling file with the
same name (``x.onnx`` <-> ``x.pt`` <-> ``x.rtsepw``) when it exists and holds
the same weights.
"""

from __future__ import annotations

import importlib.util
import sys

from rtsep.config import LATENCY_MODES, StftGeometry
from rtsep.runtime.errors import BackendUnavailableError, ModelFileError, OptionError
from rtsep.runtime.base import Runner
from rtsep.runtime.modelfile import FORMAT_NATIVE, FORMAT_ONNX, FORMAT_TORCHSCRIPT, ModelFile

BACKENDS = ("onnx-cpu", "onnx-cuda", "torchscript-cpu", "torchscript-cuda", "native")
SUFFIX_OF_FORMAT = {FORMAT_ONNX: ".onnx", FORMAT_TORCHSCRIPT: ".pt", FORMAT_NATIVE: ".rtsepw"}

__all__ = ["BACKENDS", "ModelFile", "Runner", "available_backends", "load", "inspect"]


def format_of(backend: str) -> str:
    """The model file format a backend runs (onnx, torchscript or native)."""
    if backend == "native":
        return FORMAT_NATIVE
    return FORMAT_ONNX if backend.startswith("onnx") else FORMAT_TORCHSCRIPT


def _runner_class(backend: str):
    if backend == "onnx-cpu":
        from rtsep.runtime.onnx_cpu import OnnxCpuRunner as cls
    elif backend == "onnx-cuda":
        from rtsep.runtime.onnx_cuda import OnnxCudaRunner as cls
    elif backend == "torchscript-cpu":
        from rtsep.runtime.torchscript_cpu import TorchScriptCpuRunner as cls
    elif backend == "native":
        from rtsep.runtime.native import NativeRunner as cls
    else:
        from rtsep.runtime.torchscript_cuda import TorchScriptCudaRunner as cls
    return cls


def inspect(path) -> ModelFile:
    """Read and validate an exported model's file and metadata (no session)."""
    return ModelFile(path)


def available_backends(*, check_torch_cuda: bool = True) -> dict[str, str | None]:
    """``{backend: None if usable here else the reason}``. ``check_torch_cuda``
    imports torch to ask for a GPU; without it, torchscript-cuda reads 'unchecked'."""
    from rtsep.runtime.onnx_cuda import cuda_provider_available

    has_torch = importlib.util.find_spec("torch") is not None
    from rtsep import _core

    status: dict[str, str | None] = {"onnx-cpu": None}
    status["native"] = None if hasattr(_core, "NativeModel") else "this build of rtsep._core lacks it"
    status["onnx-cuda"] = (None if cuda_provider_available()
                           else "needs onnxruntime-gpu with CUDA (pip install 'rtsep[gpu]')")
    status["torchscript-cpu"] = None if has_torch else "needs torch (pip install 'rtsep[train]')"
    if not has_torch:
        status["torchscript-cuda"] = "needs torch with CUDA"
    elif check_torch_cuda:
        from rtsep.runtime.torchscript_cuda import cuda_available

        status["torchscript-cuda"] = None if cuda_available() else "torch sees no CUDA device"
    else:
        status["torchscript-cuda"] = "unchecked (would import torch)"
    return status


def _sibling(model_file: ModelFile, fmt: str) -> ModelFile | None:
    """The export of the same weights in format ``fmt`` beside ``model_file``, if any."""
    if model_file.format == fmt:
        return model_file
    path = model_file.path.with_suffix(SUFFIX_OF_FORMAT[fmt])
    if not path.is_file():
        return None
    other = ModelFile(path)
    if other.format != fmt:
        raise ModelFileError(f"{path}: expected a {fmt} export, found {other.format}")
    mine = model_file.metadata.get("source_weights_sha256")
    if mine is None or other.metadata.get("source_weights_sha256") != mine:
        raise ModelFileError(f"{path}: holds different weights than {model_file.path}")
    return other


def _auto_order(model_file: ModelFile) -> list[str]:
    """Backends to try, best first; CPU ones only where their file is beside ``model_file``."""
    from rtsep.runtime.onnx_cuda import cuda_provider_available

    if model_file.format == FORMAT_NATIVE:
        return ["native"]
    if model_file.format == FORMAT_ONNX:
        order = ["onnx-cuda"] if cuda_provider_available() else []
    else:
        from rtsep.runtime.torchscript_cuda import cuda_available

        order = ["torchscript-cuda"] if cuda_available() else []
    order += [name for name in ("native", "onnx-cpu", "torchscript-cpu")
              if model_file.path.with_suffix(SUFFIX_OF_FORMAT[format_of(name)]).is_file()]
    return order


def load(path, backend: str = "auto", latency_mode: str = "default", sample_rate_hz: int = 48000,
         *, n_threads: int | None = None, expected_geometry: StftGeometry | None = None) -> Runner:
    """Load an exported model (``.onnx``, TorchScript ``.pt`` or native ``.rtsepw``) and return its :class:`Runner`.

    ``latency_mode``: ``"default"`` or ``"low"`` (same weights; picks the synthesis
    window and so ``runner.latency_samples``). ``sample_rate_hz`` must be one the
    model lists (44100 or 48000). ``n_threads``: intra-op threads (ONNX: default 1;
    TorchScript: default leaves torch's process-wide setting alone).
    ``expected_geometry``: if given, the model's n_fft and hop must equal it.

    Raises :class:`ModelFileError` for a missing/corrupt/mismatched file,
    :class:`OptionError` for a bad option, :class:`BackendUnavailableError` when
    the requested backend cannot run here.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise OptionError(f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS)}")
    if latency_mode not in LATENCY_MODES:
        raise OptionError(f"unknown latency mode {latency_mode!r}; choose one of "
                          f"{', '.join(LATENCY_MODES)}")
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, int) or sample_rate_hz <= 0:
        raise OptionError(f"sample_rate_hz must be a positive int, got {sample_rate_hz!r}")
    model_file = ModelFile(path)
    model_file.check_sample_rate(sample_rate_hz)
    geometry = model_file.geometry(latency_mode)
    if expected_geometry is not None and (
            (expected_geometry.n_fft, expected_geometry.hop_samples)
            != (geometry.n_fft, geometry.hop_samples)):
        raise ModelFileError(f"{model_file.path}: model uses n_fft {geometry.n_fft}, hop "
                             f"{geometry.hop_samples}; expected n_fft {expected_geometry.n_fft}, "
                             f"hop {expected_geometry.hop_samples}")
    kwargs = {"latency_mode": latency_mode, "sample_rate_hz": sample_rate_hz}
    if n_threads is not None:
        kwargs["n_threads"] = n_threads
    if backend != "auto":
        source = _sibling(model_file, format_of(backend))
        if source is None:
            raise ModelFileError(
                f"{model_file.path}: backend {backend} needs a {format_of(backend)} export "
                f"({model_file.path.with_suffix(SUFFIX_OF_FORMAT[format_of(backend)]).name} not found)")
        return _runner_class(backend)(source, **kwargs)
    order = _auto_order(model_file)
    skipped = []
    for name in order:
        if name == "native" and n_threads not in (None, 1):
            skipped.append(f"native: runs one thread, {n_threads} asked")
            continue
        try:
            runner = _runner_class(name)(_sibling(model_file, format_of(name)), **kwargs)
        except BackendUnavailableError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        except ModelFileError as exc:
            if format_of(name) == model_file.format:
                raise  # the file asked for itself is bad: no other backend can run it
            skipped.append(f"{name}: {exc}")
            continue
        note = f"; skipped {'; '.join(skipped)}" if skipped else ""
        print(f"rtsep.runtime: backend auto -> {name} (preference {' > '.join(order)}{note})",
              file=sys.stderr)
        return runner
    raise BackendUnavailableError(f"no backend can run {model_file.path}: {'; '.join(skipped)}")
