"""The C ABI (librtsep) and its native model engine.

The native C++ model must reproduce PyTorch step by step (<= 1e-4 over 300
frames), the export must refuse a file its engine does not reproduce, a C
program (tests/c/separate_wav.c) separating a WAV through the C ABI must match
the Python processor (ONNX export of the same weights) to <= 1e-4, and the ABI
must keep its contract (errors, latency, parameters, bypass, NaN input).

The C targets are built with CMake into ``build/embed`` (incremental; the first
build takes a few tens of seconds). The helpers here are also used by
tests/test_lv2.py.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / "build" / "embed"
RATE_HZ = 48000
TOLERANCE = 1e-4
LV2_HEADER = Path("/usr/include/lv2/core/lv2.h")


# ---- building the C targets ---------------------------------------------------------


def _run_logged(cmd: list[str], what: str) -> None:
    proc = subprocess.run(["nice", "-n", "10", *cmd], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({' '.join(cmd)}):\n{(proc.stdout + proc.stderr)[-3000:]}")


_built: set[str] = set()


def build_embed(*targets: str) -> Path:
    """Configure ``build/embed`` (C ABI, C tests, and LV2 when its headers exist) and
    build ``targets``; returns the build folder. Skips when cmake is missing."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    if not _built:
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        lv2 = "ON" if LV2_HEADER.exists() else "OFF"
        _run_logged(["cmake", "-S", str(ROOT), "-B", str(BUILD_DIR), *generator,
                     "-DCMAKE_BUILD_TYPE=Release", "-DRTSEP_BUILD_PYTHON=OFF",
                     "-DRTSEP_BUILD_CAPI=ON", "-DRTSEP_BUILD_C_TESTS=ON", f"-DRTSEP_BUILD_LV2={lv2}"],
                    "configuring build/embed")
        _built.add("configured")
    todo = [t for t in targets if t not in _built]
    if todo:
        _run_logged(["cmake", "--build", str(BUILD_DIR), "--parallel", "2",
                     *[arg for t in todo for arg in ("--target", t)]], f"building {', '.join(todo)}")
        _built.update(todo)
    return BUILD_DIR


def library_path() -> Path:
    return build_embed("rtsep") / "librtsep.so"


# ---- models -----------------------------------------------------------------------------


def make_models(folder: Path) -> dict:
    """ONNX and native exports of the same weights: the trained checkpoint
    ``models/rtsep-default.ckpt`` if present, else a seeded random model with every
    parameter perturbed (so masks vary and every layer matters).

    Returns ``{"onnx", "native", "model", "geometry", "rates", "source"}``.
    """
    torch = pytest.importorskip("torch", reason="PyTorch (the train extra) is needed to export")
    from rtsep.config import StftGeometry
    from rtsep.model.export import export_model
    from rtsep.model.export_native import export_native
    from rtsep.model.unet import CausalUNet

    trained = ROOT / "models" / "rtsep-default.ckpt"
    if trained.exists():
        from rtsep.model.checkpoint import load_checkpoint

        model, meta = load_checkpoint(trained)
        geometry = StftGeometry(meta["geometry"]["n_fft"], meta["geometry"]["hop_samples"])
        rates, source = meta["sample_rates_hz"], str(trained)
    else:
        gen = torch.Generator().manual_seed(0)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = CausalUNet().eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
        geometry, rates, source = StftGeometry(model.cfg.n_fft), [44100, 48000], "random"
    quiet = lambda msg: None  # noqa: E731
    onnx_path, native_path = folder / "model.onnx", folder / "model.rtsepw"
    export_model(model, onnx_path, "onnx", geometry=geometry, sample_rates_hz=rates, log=quiet)
    meta = export_native(model, native_path, geometry=geometry, sample_rates_hz=rates,
                         log=quiet)
    return {"onnx": onnx_path, "native": native_path, "model": model, "geometry": geometry,
            "rates": rates, "source": source, "native_meta": meta}


def test_audio(n_samples: int, n_channels: int = 2, seed: int = 3) -> np.ndarray:
    """Music-like float32 (n_channels, n_samples) at 48 kHz (see export.check_audio)."""
    from rtsep.model.export import check_audio

    x = check_audio(n_samples, RATE_HZ, seed=seed)
    return np.ascontiguousarray(x[:n_channels] if n_channels == 2 else x.mean(axis=0, keepdims=True))


test_audio.__test__ = False  # a helper, not a test


def processor_stream(model_path, x: np.ndarray, block: int = 4096, rate_hz: int = RATE_HZ,
                     **params) -> tuple:
    """The Python Processor's raw streaming outputs for ``x`` (latency included)."""
    from rtsep.processor import Processor

    proc = Processor(model_path, backend="onnx-cpu")
    for name, value in params.items():
        setattr(proc, name, value)
    proc.prepare(rate_hz, block, x.shape[0])
    a, b = np.zeros_like(x), np.zeros_like(x)
    for s in range(0, x.shape[1], block):
        proc.process(x[:, s:s + block], a[:, s:s + block], b[:, s:s + block])
    return a, b, proc.latency_samples


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("capi-models"))


# ---- a ctypes face of the processor ABI (the tests' view of rtsep.h) --------------------

RTSEP_OK, RTSEP_ERR_ARGUMENT, RTSEP_ERR_STATE, RTSEP_ERR_MODEL, RTSEP_ERR_UNSUPPORTED = 0, 1, 2, 3, 4
PARAM = {"vocals_gain_db": 0, "instrumental_gain_db": 1, "mode": 2, "bypass": 3, "latency_mode": 4,
         "key_semitones": 5, "vocals_key_semitones": 6, "strength": 7}


class CProcessor:
    """rtsep_* through ctypes, planar numpy in and out."""

    def __init__(self, model_path):
        lib = ctypes.CDLL(str(library_path()))
        p, fpp = ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_float))
        sig = {
            "rtsep_create": ([ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)], p),
            "rtsep_prepare": ([p, ctypes.c_double, ctypes.c_uint32, ctypes.c_uint32], ctypes.c_int),
            "rtsep_process": ([p, fpp, fpp, fpp, ctypes.c_uint32], ctypes.c_int),
            "rtsep_reset": ([p], ctypes.c_int),
            "rtsep_latency_samples": ([p], ctypes.c_int32),
            "rtsep_set_parameter": ([p, ctypes.c_int, ctypes.c_float], ctypes.c_int),
            "rtsep_get_parameter": ([p, ctypes.c_int], ctypes.c_float),
            "rtsep_last_error": ([p], ctypes.c_char_p),
            "rtsep_model_metadata_json": ([p], ctypes.c_char_p),
            "rtsep_frames_processed": ([p], ctypes.c_uint64),
            "rtsep_nonfinite_replaced": ([p], ctypes.c_uint64),
            "rtsep_destroy": ([p], None),
        }
        for name, (args, res) in sig.items():
            getattr(lib, name).argtypes = args
            getattr(lib, name).restype = res
        self.lib = lib
        status = ctypes.c_int(-1)
        self.h = lib.rtsep_create(str(model_path).encode(), ctypes.byref(status))
        self.create_status = status.value
        self.create_error = lib.rtsep_last_error(None).decode()

    @staticmethod
    def _ptrs(a: np.ndarray):
        rows = (ctypes.POINTER(ctypes.c_float) * a.shape[0])()
        for c in range(a.shape[0]):
            rows[c] = a[c].ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        return rows

    def prepare(self, rate_hz, max_block, n_channels) -> int:
        return self.lib.rtsep_prepare(self.h, rate_hz, max_block, n_channels)

    def process(self, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
        return self.lib.rtsep_process(self.h, self._ptrs(x), self._ptrs(a), self._ptrs(b), x.shape[1])

    def stream(self, x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.zeros_like(x), np.zeros_like(x)
        for s in range(0, x.shape[1], block):
            assert self.process(x[:, s:s + block], a[:, s:s + block], b[:, s:s + block]) == RTSEP_OK
        return a, b

    def set(self, name: str, value: float) -> int:
        return self.lib.rtsep_set_parameter(self.h, PARAM[name], value)

    def get(self, name: str) -> float:
        return self.lib.rtsep_get_parameter(self.h, PARAM[name])

    @property
    def latency_samples(self) -> int:
        return self.lib.rtsep_latency_samples(self.h)

    @property
    def error(self) -> str:
        return self.lib.rtsep_last_error(self.h).decode()

    def close(self) -> None:
        if self.h:
            self.lib.rtsep_destroy(self.h)
            self.h = None


@pytest.fixture
def cproc(models):
    proc = CProcessor(models["native"])
    assert proc.h, proc.create_error
    yield proc
    proc.close()


# ---- the native model -----------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("seed", [11, 12])
def test_native_model_reproduces_pytorch_step_by_step(models, seed):
    from rtsep.model.export import check_frames, reference_masks, run_steps
    from capi_ctypes import NativeStepper

    assert models["native_meta"]["check"]["max_abs_diff"] <= TOLERANCE
    frames = check_frames(300, models["geometry"], seed=seed)
    want = reference_masks(models["model"], frames)
    assert want.std() > 0.02, "a near-constant mask would make the comparison empty"
    stepper = NativeStepper(models["native"], library_path())
    got = run_steps(stepper, frames)
    assert np.max(np.abs(got - want)) <= TOLERANCE
    again = run_steps(stepper, frames)  # run_steps resets first: state fully cleared
    np.testing.assert_array_equal(again, got)


@pytest.mark.torch
def test_native_export_refuses_a_file_its_engine_does_not_reproduce(models, tmp_path, monkeypatch):
    from rtsep.model import export_native as en
    from rtsep.runtime.errors import ExportCheckError

    monkeypatch.setattr(en, "NORM_EPS", 0.5)  # the file now disagrees with PyTorch's FrameNorm
    out = tmp_path / "bad.rtsepw"
    with pytest.raises(ExportCheckError, match="differs from PyTorch"):
        en.export_native(models["model"], out, geometry=models["geometry"],
                         sample_rates_hz=models["rates"], n_check_frames=30,
                         log=lambda m: None)
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.torch
def test_native_file_metadata_is_complete(models):
    from rtsep.runtime.rtsepw import NativeModelFile

    f = NativeModelFile(models["native"])
    meta = f.metadata
    assert meta["file_format"] == "native" and meta["sample_rates_hz"] == models["rates"]
    for mode in ("default", "low"):
        want = models["geometry"].with_mode(mode).latency_samples
        assert f.tensors[f"config.latency_samples.{mode}"][0] == want
        assert meta["latency_modes"][mode]["latency_samples"] == want
    assert list(f.tensors["config.channels"]) == list(models["model"].cfg.channels)
    c = CProcessor(models["native"])
    assert c.lib.rtsep_model_metadata_json(c.h).decode() == \
        json.dumps(meta)  # the C side hands hosts the same metadata
    c.close()


@pytest.mark.torch
@pytest.mark.parametrize("damage", ["flip", "truncate", "magic", "missing"])
def test_damaged_native_files_fail_with_one_line(models, tmp_path, damage):
    from rtsep.runtime.errors import ModelFileError
    from rtsep.runtime.rtsepw import NativeModelFile

    data = bytearray(models["native"].read_bytes())
    path = tmp_path / "damaged.rtsepw"
    expect = {"flip": "checksum mismatch", "truncate": "checksum mismatch|truncated",
              "magic": "not an rtsep native model file", "missing": "cannot open|no such"}[damage]
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) - 1000]
    elif damage == "magic":
        data[:4] = b"ONNX"
    if damage != "missing":
        path.write_bytes(bytes(data))
    c = CProcessor(path)
    assert not c.h and c.create_status == RTSEP_ERR_MODEL
    assert str(path) in c.create_error and "\n" not in c.create_error
    assert re.search(expect, c.create_error), c.create_error
    with pytest.raises(ModelFileError):
        NativeModelFile(path)


# ---- the C program ----------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("n_channels,block,subtype,rate_hz", [
    (2, 1, "FLOAT", 48000), (2, 65, "FLOAT", 48000), (2, 8193, "FLOAT", 48000),
    (2, 512, "PCM_16", 48000), (1, 128, "FLOAT", 48000), (2, 256, "FLOAT", 44100)])
def test_separate_wav_in_c_matches_the_python_processor(models, tmp_path, n_channels, block, subtype,
                                                        rate_hz):
    import soundfile as sf

    exe = build_embed("separate_wav") / "separate_wav"
    x = test_audio(RATE_HZ // 2, n_channels)
    src = tmp_path / "in.wav"
    sf.write(src, x.T, rate_hz, subtype=subtype)
    x = np.ascontiguousarray(sf.read(src, dtype="float32", always_2d=True)[0].T)  # as quantised
    out_v, out_i = tmp_path / "vocals.wav", tmp_path / "instrumental.wav"
    proc = subprocess.run([str(exe), str(models["native"]), str(src), str(out_v), str(out_i), str(block)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    c_vocals = sf.read(out_v, dtype="float32", always_2d=True)[0].T
    c_instr = sf.read(out_i, dtype="float32", always_2d=True)[0].T
    assert c_vocals.shape == x.shape

    n = x.shape[1]
    padded = np.zeros((n_channels, n + 2048), dtype=np.float32)
    padded[:, :n] = x
    a, b, latency = processor_stream(models["onnx"], padded, rate_hz=rate_hz)
    assert f"latency_samples {latency}" in proc.stdout
    py_vocals, py_instr = a[:, latency:latency + n], b[:, latency:latency + n]
    assert np.abs(py_vocals).max() > 1e-4 and np.abs(py_instr).max() > 1e-4  # neither output silent
    assert np.max(np.abs(c_vocals - py_vocals)) <= TOLERANCE
    assert np.max(np.abs(c_instr - py_instr)) <= TOLERANCE


# ---- the ABI contract -------------------------------------------------------------------


@pytest.mark.torch
def test_prepare_refuses_what_it_cannot_run(cproc):
    assert cproc.process(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32),
                         np.zeros((2, 4), np.float32)) == RTSEP_ERR_STATE
    assert "before a successful rtsep_prepare" in cproc.error
    assert cproc.prepare(RATE_HZ, 256, 3) == RTSEP_ERR_UNSUPPORTED
    assert "n_channels must be 1 or 2, got 3" in cproc.error
    assert cproc.prepare(22050, 256, 2) == RTSEP_ERR_UNSUPPORTED
    assert "not 22050" in cproc.error and "48000" in cproc.error
    assert cproc.prepare(RATE_HZ, 0, 2) == RTSEP_ERR_ARGUMENT
    assert cproc.prepare(RATE_HZ, 256, 2) == RTSEP_OK and cproc.error == ""
    big = np.ones((2, 300), np.float32)
    a, b = np.full_like(big, 7.0), np.full_like(big, 7.0)
    assert cproc.process(big, a, b) == RTSEP_ERR_ARGUMENT
    assert "n_frames > max_block_size" in cproc.error
    assert not a.any() and not b.any()  # silence, not garbage


@pytest.mark.torch
def test_parameters_are_range_checked(cproc):
    assert cproc.set("vocals_gain_db", -6.0) == RTSEP_OK and cproc.get("vocals_gain_db") == -6.0
    assert cproc.set("vocals_gain_db", 30.0) == RTSEP_ERR_ARGUMENT
    assert cproc.set("instrumental_gain_db", float("nan")) == RTSEP_ERR_ARGUMENT
    assert cproc.set("instrumental_gain_db", float("-inf")) == RTSEP_OK
    assert cproc.set("mode", 4) == RTSEP_ERR_ARGUMENT and cproc.set("mode", 1.5) == RTSEP_ERR_ARGUMENT
    assert cproc.set("bypass", 0.5) == RTSEP_ERR_ARGUMENT
    assert cproc.lib.rtsep_set_parameter(cproc.h, 99, 0.0) == RTSEP_ERR_ARGUMENT
    assert np.isnan(cproc.lib.rtsep_get_parameter(cproc.h, 99))
    assert cproc.get("vocals_gain_db") == -6.0  # refused values change nothing
    for key in ("key_semitones", "vocals_key_semitones"):
        assert cproc.get(key) == 0.0
        assert cproc.set(key, -2.5) == RTSEP_OK and cproc.get(key) == -2.5
        for bad in (12.01, -13.0, float("nan"), float("inf")):
            assert cproc.set(key, bad) == RTSEP_ERR_ARGUMENT
        assert cproc.get(key) == -2.5
        assert cproc.set(key, 0.0) == RTSEP_OK
    assert cproc.get("strength") == 1.0
    assert cproc.set("strength", 0.25) == RTSEP_OK and cproc.set("strength", 4.0) == RTSEP_OK
    for bad in (0.2, 4.5, 0.0, -1.0, float("nan"), float("inf")):
        assert cproc.set("strength", bad) == RTSEP_ERR_ARGUMENT
    assert cproc.get("strength") == 4.0
    assert cproc.set("strength", 1.0) == RTSEP_OK


@pytest.mark.torch
def test_a_key_change_through_the_c_abi_keeps_the_latency_and_matches_python(cproc, models):
    # The same key through the C ABI (native model) and rtsep.Processor (ONNX): same
    # latency, same output to the backends' tolerance; 0 again: the plain output.
    x = test_audio(RATE_HZ // 2)
    cproc.set("key_semitones", 3.0)
    cproc.set("vocals_key_semitones", -2.0)
    assert cproc.prepare(RATE_HZ, 256, 2) == RTSEP_OK
    latency = cproc.latency_samples
    a, b = cproc.stream(x, 256)
    pa, pb, p_latency = processor_stream(models["onnx"], x, block=256, key_semitones=3.0,
                                         vocals_key_semitones=-2.0)
    assert p_latency == latency
    assert np.max(np.abs(a - pa)) <= 1e-3 and np.max(np.abs(b - pb)) <= 1e-3
    plain_a, plain_b, _ = processor_stream(models["onnx"], x, block=256)
    assert np.max(np.abs(b - plain_b)) > 0.01  # the key did change the instrumental


@pytest.mark.torch
def test_strength_through_the_c_abi_matches_python(cproc, models):
    x = test_audio(RATE_HZ // 2)
    cproc.set("strength", 2.5)
    assert cproc.prepare(RATE_HZ, 256, 2) == RTSEP_OK
    a, b = cproc.stream(x, 256)
    cproc.set("strength", 1.0)
    pa, pb, _ = processor_stream(models["onnx"], x, block=256, strength=2.5)
    assert np.max(np.abs(a - pa)) <= 1e-3 and np.max(np.abs(b - pb)) <= 1e-3
    plain_a, plain_b, _ = processor_stream(models["onnx"], x, block=256)
    assert np.max(np.abs(b - plain_b)) > 0.01  # the strength did change the instrumental


@pytest.mark.torch
def test_latency_follows_the_latency_mode_at_prepare(cproc, models):
    g = models["geometry"]
    low = g.with_mode("low").latency_samples
    assert cproc.latency_samples == g.with_mode("default").latency_samples
    assert cproc.set("latency_mode", 1) == RTSEP_OK
    assert cproc.latency_samples == low  # what prepare will use
    cproc.set("mode", 1)  # mix: A = B = vocals + instrumental = the delayed input
    assert cproc.prepare(RATE_HZ, 128, 2) == RTSEP_OK
    assert cproc.latency_samples == low < g.with_mode("default").latency_samples
    x = test_audio(6000)
    a, b = cproc.stream(x, 100)
    np.testing.assert_allclose(a[:, low:], x[:, :-low], atol=2e-6)
    np.testing.assert_array_equal(a, b)
    assert cproc.set("latency_mode", 0) == RTSEP_OK
    assert cproc.latency_samples == low  # the prepared stream keeps its latency until prepare


def _ramp_gains(n: int, ramp_samples: int) -> np.ndarray:
    """The Mixer's linear ramp from 0 to 1: the gain of each of the first n samples."""
    return np.minimum(np.arange(1, n + 1) / ramp_samples, 1.0).astype(np.float32)


@pytest.mark.torch
def test_modes_and_gains(cproc):
    x = test_audio(24000)
    cproc.prepare(RATE_HZ, 256, 2)
    vocals, instrumental = cproc.stream(x, 256)
    g = 10.0 ** (-6.0 / 20.0)
    cases = {  # (mode, vocals dB, instrumental dB) -> expected (A, B)
        (1, 0.0, 0.0): (vocals + instrumental, vocals + instrumental),
        (2, -6.0, 0.0): (g * vocals, g * vocals),
        (3, 0.0, -6.0): (g * instrumental, g * instrumental),
        (0, -6.0, -120.0): (g * vocals, 0.0 * instrumental),
    }
    for (mode, v_db, i_db), (want_a, want_b) in cases.items():
        cproc.set("mode", mode)
        cproc.set("vocals_gain_db", v_db)
        cproc.set("instrumental_gain_db", i_db)
        cproc.prepare(RATE_HZ, 256, 2)  # parameters set before prepare apply without a ramp
        a, b = cproc.stream(x, 256)
        np.testing.assert_allclose(a, want_a, atol=1e-6, err_msg=str((mode, v_db, i_db)))
        np.testing.assert_allclose(b, want_b, atol=1e-6, err_msg=str((mode, v_db, i_db)))


@pytest.mark.torch
def test_bypass_cross_fades_to_the_delayed_input_without_changing_the_latency(cproc):
    x = test_audio(24000)
    cproc.prepare(RATE_HZ, 256, 2)
    vocals, _ = cproc.stream(x, 256)
    lat = cproc.latency_samples
    dry = np.zeros_like(x)
    dry[:, lat:] = x[:, :-lat]
    cproc.lib.rtsep_reset(cproc.h)
    split = 12000
    a1, _ = cproc.stream(x[:, :split], 256)
    cproc.set("bypass", 1)  # from another thread in a host: applied at the next block
    a2, b2 = cproc.stream(x[:, split:], 256)
    assert cproc.latency_samples == lat
    np.testing.assert_array_equal(a1, vocals[:, :split])
    ramp = _ramp_gains(a2.shape[1], int(round(0.02 * RATE_HZ)))
    want = (1.0 - ramp) * vocals[:, split:] + ramp * dry[:, split:]  # a linear cross-fade, no step
    np.testing.assert_allclose(a2, want, atol=1e-5)
    np.testing.assert_array_equal(a2[:, 960:], dry[:, split + 960:])  # then exactly the dry input
    np.testing.assert_array_equal(b2[:, 960:], dry[:, split + 960:])


@pytest.mark.torch
def test_nonfinite_input_is_replaced_and_counted(cproc):
    cproc.prepare(RATE_HZ, 512, 1)
    x = test_audio(4096, 1)
    x[0, 100], x[0, 2000] = np.nan, np.inf
    a, b = cproc.stream(x, 512)
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert cproc.lib.rtsep_nonfinite_replaced(cproc.h) == 2
    assert cproc.lib.rtsep_frames_processed(cproc.h) == 4096 // 256
    assert cproc.lib.rtsep_reset(cproc.h) == RTSEP_OK
    assert cproc.lib.rtsep_nonfinite_replaced(cproc.h) == 0


@pytest.mark.torch
def test_reset_restarts_the_stream(cproc):
    x = test_audio(8000)
    cproc.prepare(RATE_HZ, 333, 2)
    first = cproc.stream(x, 333)
    cproc.stream(x[:, ::-1].copy(), 333)
    assert cproc.lib.rtsep_reset(cproc.h) == RTSEP_OK
    again = cproc.stream(x, 333)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


@pytest.mark.torch
def test_export_command_writes_a_checked_native_file(models, tmp_path):
    import sys

    from rtsep.model.checkpoint import save_checkpoint
    from rtsep.runtime.rtsepw import NativeModelFile

    ckpt = save_checkpoint(tmp_path / "ckpt.pt", models["model"], geometry=models["geometry"],
                           sample_rates_hz=models["rates"])
    out = tmp_path / "exported.rtsepw"
    # The check runs through the native runtime (no librtsep, no ctypes): none is needed.
    env = dict(os.environ, RTSEP_LIBRARY=str(tmp_path / "missing.so"))
    proc = subprocess.run([sys.executable, "-m", "rtsep", "export", str(ckpt), "--format", "native",
                           "-o", str(out), "--check-frames", "50"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "native" in proc.stdout and "check max |diff|" in proc.stdout
    assert NativeModelFile(out).metadata["source_weights_sha256"] == \
        NativeModelFile(models["native"]).metadata["source_weights_sha256"]


def test_missing_library_gives_a_build_hint(tmp_path):
    from rtsep.runtime.errors import OptionError
    from capi_ctypes import load_library

    with pytest.raises(OptionError, match="no librtsep at .*cmake -S . -B build/embed"):
        load_library(tmp_path / "nope.so")


def test_library_exports_only_the_abi():
    lib = library_path()
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    abi = {n for n in names if n.startswith("rtsep_")}
    header = (ROOT / "csrc" / "include" / "rtsep.h").read_text()
    assert abi and all(f" {n}(" in header for n in abi)
    assert not any("rtsep" in n and not n.startswith("rtsep_") for n in names)  # no C++ core symbols
