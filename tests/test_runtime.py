"""The model runtime: runner interface, buffers, backend choice, and every way a
model file can be wrong (each a one-line ModelFileError, never a crash)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import rtsep
from rtsep.config import LATENCY_MODES, StftGeometry
from rtsep.runtime.errors import BackendUnavailableError, ModelFileError, OptionError
from rtsep.runtime import BACKENDS, available_backends, load

from alloc_support import peak_bytes

torch = pytest.importorskip("torch", reason="making test exports needs PyTorch (the train extra)")

from rtsep.model.export import (check_frames, export_model, reference_masks,  # noqa: E402
                                run_steps)
from rtsep.model.unet import CausalUNet  # noqa: E402

pytestmark = pytest.mark.torch
REPO_ROOT = Path(rtsep.__file__).resolve().parents[1]


def random_model(seed: int = 0) -> CausalUNet:
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # the default init draws from the global RNG
        torch.manual_seed(seed)
        model = CausalUNet().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """``{"onnx": path, "torchscript": path}``: siblings model.onnx / model.pt."""
    folder = tmp_path_factory.mktemp("runtime")
    paths = {"onnx": folder / "model.onnx", "torchscript": folder / "model.pt"}
    for fmt, path in paths.items():
        export_model(model, path, fmt, n_check_frames=30, log=lambda msg: None)
    return paths


@pytest.fixture(scope="module")
def frames():
    return check_frames(120, seed=5)


def assert_one_line(exc: BaseException, path=None, fragment: str | None = None) -> None:
    text = str(exc)
    assert "\n" not in text, text
    if path is not None:
        assert str(path) in text, text
    if fragment is not None:
        assert fragment in text, text


# -- interface ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["onnx-cpu", "torchscript-cpu"])
def test_runner_interface(exported, model, frames, backend):
    runner = load(exported["onnx"], backend=backend, latency_mode="low", sample_rate_hz=44100)
    assert runner.backend == backend
    assert runner.geometry == StftGeometry(latency_mode="low")
    assert runner.latency_samples == StftGeometry(latency_mode="low").latency_samples
    assert runner.metadata["n_fft"] == 1024 and runner.sample_rate_hz == 44100
    assert backend in repr(runner) and "latency_samples=" in repr(runner)
    first = runner.step(frames[0])
    second = runner.step(frames[1])
    assert first is second, "the mask is a view into one preallocated buffer"
    assert second.dtype == np.float32 and second.shape == (2, 513)
    got = run_steps(runner, frames)
    assert np.max(np.abs(got - reference_masks(model, frames))) <= 1e-4
    assert np.array_equal(run_steps(runner, frames), got), "reset() must restart the stream"


def test_onnx_frame_buffer_may_move_or_stay(exported, frames):
    """The engine may hand a new array each hop or refill one buffer: same result."""
    runner = load(exported["onnx"], backend="onnx-cpu")
    moving = run_steps(runner, frames)
    runner.reset()
    buf = np.zeros((2, 513), dtype=np.complex64)
    fixed = np.empty_like(moving)
    for k in range(len(frames)):
        buf[...] = frames[k]
        fixed[k] = runner.step(buf)
    assert np.array_equal(moving, fixed)


@pytest.mark.parametrize("bad", [
    np.zeros((2, 513), dtype=np.complex128),
    np.zeros((2, 1026), dtype=np.float32),
    np.zeros((1, 513), dtype=np.complex64),
    np.asfortranarray(np.zeros((2, 513), dtype=np.complex64)),
    np.zeros((2, 1026), dtype=np.complex64)[:, ::2],
    [[0j] * 513] * 2,
])
def test_bad_frames_raise(exported, bad):
    runner = load(exported["onnx"], backend="onnx-cpu")
    with pytest.raises(ValueError, match="complex64 array of shape") as info:
        runner.step(bad)
    assert_one_line(info.value)


def test_onnx_step_allocates_no_arrays(exported, frames):
    runner = load(exported["onnx"], backend="onnx-cpu")
    runner.step(frames[0])

    def hundred_steps():
        for k in range(100):
            runner.step(frames[k])

    peak, current = peak_bytes(hundred_steps)
    # A frame or mask sized array is >= 4104 bytes; a few small Python objects are not.
    assert peak < 2048, peak
    assert current < 1024, current


def test_onnx_backend_never_imports_torch(exported, tmp_path):
    alone = tmp_path / "only.onnx"
    shutil.copy(exported["onnx"], alone)  # no sibling .pt: nothing could pull torch in
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from rtsep.runtime import load
        for backend in ("onnx-cpu", "auto"):
            runner = load({str(alone)!r}, backend=backend, latency_mode="low")
            for _ in range(3):
                mask = runner.step(np.zeros((2, 513), dtype=np.complex64))
            runner.reset()
        from rtsep.commands import info
        info.run(type("Args", (), {{"model": {str(alone)!r}, "json": False}})())
        assert mask.shape == (2, 513)
        print("torch loaded:", "torch" in sys.modules)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "torch loaded: False" in proc.stdout
    assert "backend auto -> onnx-cpu" in proc.stderr


# -- backend choice --------------------------------------------------------------------


def test_auto_says_what_it_chose(exported, capsys):
    runner = load(exported["onnx"])
    assert runner.backend in BACKENDS
    assert f"backend auto -> {runner.backend}" in capsys.readouterr().err


def test_auto_prefers_a_native_sibling_on_a_cpu_and_skips_one_that_cannot_serve(
        model, exported, frames, tmp_path, capsys):
    from rtsep.model.export_native import export_native

    shutil.copy(exported["onnx"], tmp_path / "m.onnx")
    native = tmp_path / "m.rtsepw"
    export_native(model, native, log=lambda msg: None)
    first = "onnx-cuda" if available_backends()["onnx-cuda"] is None else "native"
    capsys.readouterr()
    runner = load(tmp_path / "m.onnx", latency_mode="low")
    assert runner.backend == first and f"backend auto -> {first}" in capsys.readouterr().err
    onnx = load(tmp_path / "m.onnx", backend="onnx-cpu", latency_mode="low")
    for k in range(40):
        np.testing.assert_allclose(runner.step(frames[k]), onnx.step(frames[k]), atol=1e-4)
    if first != "native":
        return
    # What the native backend cannot do, the next backend does, and the line says why.
    assert load(tmp_path / "m.onnx", n_threads=2).backend == "onnx-cpu"
    assert "skipped native: runs one thread, 2 asked" in capsys.readouterr().err
    export_native(random_model(3), native, log=lambda msg: None)
    assert load(tmp_path / "m.onnx").backend == "onnx-cpu"
    assert "holds different weights" in capsys.readouterr().err
    native.write_bytes(b"RTSEPNW\x00" + bytes(100))
    assert load(tmp_path / "m.onnx").backend == "onnx-cpu"
    err = capsys.readouterr().err
    assert "skipped native:" in err and str(native) in err
    # The file asked for itself being bad is an error, not a fallback.
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        load(tmp_path / "m.onnx")


def test_backend_of_other_format_uses_the_sibling(exported):
    runner = load(exported["torchscript"], backend="onnx-cpu")
    assert runner.backend == "onnx-cpu" and runner.path == exported["onnx"]


def test_sibling_with_other_weights_is_refused(exported, tmp_path):
    shutil.copy(exported["onnx"], tmp_path / "m.onnx")
    export_model(random_model(3), tmp_path / "m.pt", "torchscript", n_check_frames=10,
                 log=lambda msg: None)
    with pytest.raises(ModelFileError, match="different weights") as info:
        load(tmp_path / "m.onnx", backend="torchscript-cpu")
    assert_one_line(info.value)


def test_missing_sibling_is_a_clear_error(exported, tmp_path):
    shutil.copy(exported["onnx"], tmp_path / "m.onnx")
    with pytest.raises(ModelFileError, match="needs a torchscript export") as info:
        load(tmp_path / "m.onnx", backend="torchscript-cpu")
    assert_one_line(info.value, tmp_path / "m.onnx")


def test_unavailable_gpu_backends_say_why(exported):
    status = available_backends()
    assert status["onnx-cpu"] is None
    if status["onnx-cuda"] is not None:
        with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu") as info:
            load(exported["onnx"], backend="onnx-cuda")
        assert_one_line(info.value)
    if status["torchscript-cuda"] is not None:
        with pytest.raises(BackendUnavailableError, match="CUDA") as info:
            load(exported["onnx"], backend="torchscript-cuda")
        assert_one_line(info.value)


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["onnx-cuda", "torchscript-cuda"])
def test_gpu_backends_reproduce_pytorch(exported, model, frames, backend):
    reason = available_backends()[backend]
    if reason is not None:
        pytest.skip(f"{backend}: {reason}")
    runner = load(exported["onnx"], backend=backend)
    got = run_steps(runner, frames)
    assert np.max(np.abs(got - reference_masks(model, frames))) <= 1e-4
    assert runner.step(frames[0]) is runner.step(frames[1])


@pytest.mark.parametrize("kwargs, fragment", [
    ({"backend": "tensorrt"}, "unknown backend"),
    ({"latency_mode": "ultra"}, "unknown latency mode"),
    ({"sample_rate_hz": 48000.0}, "positive int"),
])
def test_bad_options(exported, kwargs, fragment):
    with pytest.raises(OptionError, match=fragment) as info:
        load(exported["onnx"], **kwargs)
    assert_one_line(info.value)


# -- broken and mismatched files ----------------------------------------------------------


def _set_onnx_metadata(src: Path, dst: Path, edit) -> None:
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(src))
    for prop in proto.metadata_props:
        if prop.key == "rtsep":
            meta = json.loads(prop.value)
            edit(meta)
            prop.value = json.dumps(meta)
    onnx.save(proto, str(dst))


def _rewrite_zip(src: Path, dst: Path, edit_entry) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item, edit_entry(item.filename, zin.read(item.filename)))


def _edit_ts_metadata(edit):
    def entry(name, data):
        if name.endswith("extra/rtsep.json"):
            meta = json.loads(data)
            edit(meta)
            return json.dumps(meta).encode()
        return data
    return entry


def _flip_ts_weight(name, data):
    if name.endswith("/data/0"):
        arr = bytearray(data)
        arr[len(arr) // 2] ^= 0x40
        return bytes(arr)
    return data


def _other_onnx_model(dst: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), str(dst), dynamo=False)


def _edit_onnx_weight(src: Path, dst: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    proto = onnx.load(str(src))
    init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    arr = numpy_helper.to_array(init).copy()
    arr.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(proto, str(dst))


def _shape_of(name):
    def edit(meta):
        next(s for s in meta["state"] if s["name"] == name)["shape"][-1] //= 2
    return edit


CASES = {
    # name: (source format, how to make the file from the good export, message fragment)
    "missing": ("onnx", None, "no such model file"),
    "empty": ("onnx", lambda src, dst: dst.write_bytes(b""), "empty file"),
    "random-bytes": ("onnx", lambda src, dst: dst.write_bytes(
        np.random.default_rng(1).bytes(100_000)), "not a valid ONNX file"),
    "random-zip-bytes": ("torchscript", lambda src, dst: dst.write_bytes(
        b"PK\x03\x04" + np.random.default_rng(2).bytes(100_000)), "not a valid TorchScript file"),
    "truncated-onnx": ("onnx", lambda src, dst: dst.write_bytes(
        src.read_bytes()[: src.stat().st_size // 2]), "truncated"),
    "truncated-torchscript": ("torchscript", lambda src, dst: dst.write_bytes(
        src.read_bytes()[: src.stat().st_size // 2]), "truncated"),
    "other-onnx-model": ("onnx", lambda src, dst: _other_onnx_model(dst), "not an rtsep export"),
    "training-checkpoint": ("torchscript", lambda src, dst: torch.save(
        {"state_dict": {}}, dst), "not an rtsep export"),
    "onnx-weight-edited": ("onnx", _edit_onnx_weight, "weights checksum mismatch"),
    "onnx-byte-flipped": ("onnx", lambda src, dst: dst.write_bytes(
        _flip(src.read_bytes(), 0.6)), None),
    "torchscript-weight-flipped": ("torchscript", lambda src, dst: _rewrite_zip(
        src, dst, _flip_ts_weight), "weights checksum mismatch"),
    "onnx-state-shape": ("onnx", lambda src, dst: _set_onnx_metadata(
        src, dst, _shape_of("enc2")), "graph inputs do not match the metadata state"),
    "onnx-state-missing": ("onnx", lambda src, dst: _set_onnx_metadata(
        src, dst, lambda m: m["state"].pop()), "do not match the metadata state"),
    "torchscript-state-shape": ("torchscript", lambda src, dst: _rewrite_zip(
        src, dst, _edit_ts_metadata(_shape_of("enc2"))), "the graph rejects"),
    "geometry-n-fft": ("onnx", lambda src, dst: _set_onnx_metadata(
        src, dst, lambda m: m.update(n_fft=2048)), "n_bins"),
    "geometry-hop": ("onnx", lambda src, dst: _set_onnx_metadata(
        src, dst, lambda m: m.update(hop_samples=128)), "analysis window does not match"),
    "latency-typed-in": ("onnx", lambda src, dst: _set_onnx_metadata(
        src, dst, lambda m: m["latency_modes"]["low"].update(latency_samples=100)),
        "the windows give"),
    "newer-format": ("onnx", lambda src, dst: _set_onnx_metadata(
        src, dst, lambda m: m.update(format_version=99)), "newer"),
    "checksum-field": ("torchscript", lambda src, dst: _rewrite_zip(
        src, dst, _edit_ts_metadata(lambda m: m.update(weights_sha256="0" * 64))),
        "weights checksum mismatch"),
    "format-field-lies": ("onnx", lambda src, dst: _set_onnx_metadata(
        src, dst, lambda m: m.update(file_format="torchscript")), "metadata says"),
}


def _flip(data: bytes, where: float) -> bytes:
    arr = bytearray(data)
    arr[int(len(arr) * where)] ^= 0xFF
    return bytes(arr)


@pytest.mark.parametrize("case", CASES)
def test_broken_or_mismatched_files(exported, tmp_path, case):
    fmt, make, fragment = CASES[case]
    path = tmp_path / f"broken{'.onnx' if fmt == 'onnx' else '.pt'}"
    if make is not None:
        make(exported[fmt], path)
    backend = "onnx-cpu" if fmt == "onnx" else "torchscript-cpu"
    with pytest.raises(ModelFileError) as info:
        load(path, backend=backend)
    assert_one_line(info.value, path, fragment)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("rate", [22050, 96000])
def test_wrong_sample_rate(exported, rate):
    with pytest.raises(ModelFileError, match="44100, 48000 Hz") as info:
        load(exported["onnx"], sample_rate_hz=rate)
    assert_one_line(info.value, exported["onnx"], f"not {rate} Hz")


def test_expected_geometry_mismatch(exported):
    with pytest.raises(ModelFileError, match="expected n_fft 2048") as info:
        load(exported["onnx"], expected_geometry=StftGeometry(n_fft=2048, hop_samples=256))
    assert_one_line(info.value, exported["onnx"])
    runner = load(exported["onnx"], backend="onnx-cpu", expected_geometry=StftGeometry())
    assert runner.geometry.n_fft == 1024


@pytest.mark.parametrize("mode", LATENCY_MODES)
def test_latency_per_mode(exported, mode):
    runner = load(exported["onnx"], backend="onnx-cpu", latency_mode=mode, sample_rate_hz=48000)
    g = StftGeometry(latency_mode=mode)
    assert runner.latency_samples == g.latency_samples
    assert runner.latency_ms == pytest.approx(g.latency_ms(48000))
    np.testing.assert_array_equal(runner.geometry.synthesis_window(), g.synthesis_window())

