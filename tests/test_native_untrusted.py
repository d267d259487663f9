"""A native model file is untrusted input: hostile files fail cleanly and cheaply.

Regression inputs from fuzzing the loader (tests/fuzz/): CRC-valid files whose
architecture numbers ask for gigabytes must fail ``rtsep_create`` with
``RTSEP_ERR_MODEL`` and a one-line reason while the process stays under 64 MB of
extra address space (run in a subprocess under ``RLIMIT_AS``), and a file of
finite but huge weights must still give masks in [0, 1] from ``rtsep_model_step``.
The same files are built in memory and fed to ``rtsep_create_from_memory``.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from test_capi import library_path

RTSEP_ERR_MODEL = 3
HUGE = 16_777_219  # 2**24 + 3: a float32 cannot hold it, an int32 can


def tiny_tensors(seed: int = 0) -> dict:
    """Every tensor of a native file for a small random CausalUNet (n_fft 128)."""
    pytest.importorskip("torch", reason="PyTorch (the train extra) builds the model")
    from rtsep.config import StftGeometry
    from rtsep.model.export_native import random_model_tensors
    from rtsep.model.unet import UNetConfig

    cfg = UNetConfig(n_fft=128, n_single_bins=16, band_width_bins=6, channels=(4, 6),
                     time_kernel=2, gru_hidden=8)
    return random_model_tensors(cfg, StftGeometry(128, 32), seed=seed)


def file_bytes(tensors: dict) -> bytes:
    from rtsep.runtime.rtsepw import native_file_bytes

    return native_file_bytes(dict(tensors), {"file_format": "native"})


def create_in_subprocess(path, limit_extra_mb: int = 64) -> tuple[int, str]:
    """rtsep_create(path) in a fresh process whose address space may grow by at most
    ``limit_extra_mb`` after librtsep is loaded; returns (status, message)."""
    code = textwrap.dedent(f"""
        import ctypes, resource, sys
        lib = ctypes.CDLL({str(library_path())!r})
        lib.rtsep_create.restype = ctypes.c_void_p
        lib.rtsep_last_error.restype = ctypes.c_char_p
        lib.rtsep_last_error.argtypes = [ctypes.c_void_p]
        with open("/proc/self/statm") as f:
            vm_bytes = int(f.read().split()[0]) * resource.getpagesize()
        limit = vm_bytes + {limit_extra_mb} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
        status = ctypes.c_int(-1)
        handle = lib.rtsep_create({str(path)!r}.encode(), ctypes.byref(status))
        msg = lib.rtsep_last_error(None).decode()
        print(status.value)
        print(msg)
        sys.exit(0 if handle is None else 1)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"rtsep_create accepted the file or crashed:\n{proc.stdout}{proc.stderr}"
    status, msg = proc.stdout.splitlines()[:2]
    return int(status), msg


def test_tiny_model_loads_under_the_same_limit(tmp_path) -> None:
    # The control: the limit leaves room for a real (small) model, so the failures
    # below are the loader's checks, not the limit.
    path = tmp_path / "tiny.rtsepw"
    path.write_bytes(file_bytes(tiny_tensors()))
    code = textwrap.dedent(f"""
        import ctypes, resource
        lib = ctypes.CDLL({str(library_path())!r})
        lib.rtsep_create.restype = ctypes.c_void_p
        with open("/proc/self/statm") as f:
            vm_bytes = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm_bytes + 64 * 2**20, resource.RLIM_INFINITY))
        status = ctypes.c_int(-1)
        assert lib.rtsep_create({str(path)!r}.encode(), ctypes.byref(status)) and status.value == 0
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("key,value", [
    ("config.time_kernel", [HUGE]),
    ("config.time_kernel", [1_000_000]),
    ("config.time_kernel", [60]),             # under the cap: the weight shapes reject it
    ("config.channels", [4, HUGE]),
    ("config.channels", [HUGE, 6]),
    ("config.gru_hidden", [HUGE]),
    ("config.channels", [4] * 40),            # more layers than the cap
    ("config.n_fft", [2**30]),
], ids=lambda v: str(v)[:24])
def test_hostile_architecture_numbers_fail_as_model_errors_without_allocating(tmp_path, key, value):
    tensors = tiny_tensors()
    tensors[key] = np.array(value, dtype=np.int32)
    path = tmp_path / "hostile.rtsepw"
    path.write_bytes(file_bytes(tensors))
    status, msg = create_in_subprocess(path)
    assert status == RTSEP_ERR_MODEL, msg
    assert str(path) in msg and "\n" not in msg
    name = key.split(".")[1]
    assert name in msg or "shape" in msg or "n_bins" in msg, msg


def _lib():
    lib = ctypes.CDLL(str(library_path()))
    lib.rtsep_create_from_memory.restype = ctypes.c_void_p
    lib.rtsep_create_from_memory.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
    lib.rtsep_destroy.argtypes = [ctypes.c_void_p]
    lib.rtsep_last_error.restype = ctypes.c_char_p
    lib.rtsep_last_error.argtypes = [ctypes.c_void_p]
    lib.rtsep_latency_samples.argtypes = [ctypes.c_void_p]
    return lib


def test_create_from_memory_matches_the_file_loader() -> None:
    lib = _lib()
    data = file_bytes(tiny_tensors())
    status = ctypes.c_int(-1)
    handle = lib.rtsep_create_from_memory(data, len(data), ctypes.byref(status))
    assert handle and status.value == 0
    assert lib.rtsep_latency_samples(handle) == int(tiny_tensors()["config.latency_samples.default"][0])
    lib.rtsep_destroy(handle)
    for bad in (data[:-1], data[:100], data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], b""):
        handle = lib.rtsep_create_from_memory(bad, len(bad), ctypes.byref(status))
        assert not handle and status.value == RTSEP_ERR_MODEL
        assert lib.rtsep_last_error(None).decode().startswith("<model in memory>: ")


def test_huge_finite_weights_still_give_masks_in_unit_range(tmp_path) -> None:
    from capi_ctypes import NativeStepper

    tensors = tiny_tensors()
    for name, t in tensors.items():
        if name.startswith("weights.") and "band_" not in name:
            tensors[name] = np.full_like(t, 1.26e38)
    path = tmp_path / "huge.rtsepw"
    path.write_bytes(file_bytes(tensors))
    stepper = NativeStepper(path, library_path())
    rng = np.random.default_rng(0)
    for _ in range(8):
        frame = (rng.standard_normal((2, stepper.n_bins)) +
                 1j * rng.standard_normal((2, stepper.n_bins))).astype(np.complex64)
        mask = stepper.step(frame)
        assert np.all(np.isfinite(mask)), "rtsep_model_step returned a non-finite mask"
        assert mask.min() >= 0.0 and mask.max() <= 1.0
    stepper.close()


@pytest.mark.parametrize("name,scale", [
    ("window.analysis", 1e30),            # reconstructs with the other, but overflows
    ("window.synthesis.default", 1e30),
    ("window.synthesis.low", 2.0),        # finite and small, but output twice as loud
    ("window.analysis", 0.5),
])
def test_windows_that_do_not_reconstruct_or_overflow_are_refused(name, scale) -> None:
    # Found by fuzz_model: a CRC-valid file with scaled windows loaded and gave
    # non-finite (or absurdly loud) output from a [-1, 1] input.
    lib = _lib()
    tensors = tiny_tensors()
    tensors[name] = (tensors[name] * np.float32(scale)).astype(np.float32)
    if name == "window.analysis" and scale > 1:  # keep the pair's product: only the range is wrong
        for mode in ("default", "low"):
            tensors[f"window.synthesis.{mode}"] = (tensors[f"window.synthesis.{mode}"] / np.float32(scale)
                                                   ).astype(np.float32)
    data = file_bytes(tensors)
    status = ctypes.c_int(-1)
    assert not lib.rtsep_create_from_memory(data, len(data), ctypes.byref(status))
    msg = lib.rtsep_last_error(None).decode()
    assert status.value == RTSEP_ERR_MODEL and "window" in msg and "\n" not in msg, msg
