"""Real-time safety, proven rather than promised (tests/rt/).

test_rt_safety runs rtsep_process (every output mode, mono and stereo, gain
changes, bypass, NaN input) and the live device callback (every mode, bypass,
the fallback while the native worker stalls) under an LD_PRELOAD shim that counts
every allocation, free and blocking call made on the audio side; any one fails
it. The program first checks that the shim catches a deliberate allocation and
lock, so a shim that silently does nothing fails too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / "build" / "rt"
MODEL = ROOT / "models" / "rtsep-default.rtsepw"


def build() -> Path:
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    for cmd in (["cmake", "-S", str(ROOT / "tests" / "rt"), "-B", str(BUILD_DIR), *generator],
                ["cmake", "--build", str(BUILD_DIR),
                 "--parallel", os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")]):
        proc = subprocess.run(["nice", "-n", "10", *cmd], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return BUILD_DIR


@pytest.mark.slow
@pytest.mark.skipif(not MODEL.exists(), reason="needs the shipped native model")
def test_no_allocation_or_blocking_call_on_the_audio_side() -> None:
    build_dir = build()
    env = dict(os.environ, LD_PRELOAD=str(build_dir / "librt_guard.so"))
    proc = subprocess.run([str(build_dir / "test_rt_safety"), str(MODEL)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failures" in proc.stdout + proc.stderr


def test_the_program_refuses_to_run_without_the_shim() -> None:
    exe = BUILD_DIR / "test_rt_safety"
    if not exe.exists():
        pytest.skip("tests/rt not built yet (the slow test builds it)")
    proc = subprocess.run([str(exe), str(MODEL)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "LD_PRELOAD" in proc.stderr
