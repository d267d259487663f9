"""The C++ core under AddressSanitizer + UndefinedBehaviorSanitizer (tests/cpp/run_sanitized.sh)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "cpp" / "run_sanitized.sh"


def _missing_tool() -> str | None:
    if shutil.which("cmake") is None:
        return "cmake not found"
    if not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
        return "no C++ compiler (c++, g++ or clang++) found"
    if shutil.which("bash") is None:
        return "bash not found"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_missing_tool() is not None, reason=f"needs a C++ toolchain: {_missing_tool()}")
def test_cpp_core_is_clean_under_asan_and_ubsan() -> None:
    result = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, capture_output=True, text=True,
                            timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"run_sanitized.sh failed (exit {result.returncode}):\n{output[-6000:]}"
    assert " 0 failures" in output
