"""The C++ is portable: operating-system calls only in csrc/platform.{hpp,cpp}, x86
intrinsics only in the AVX2 kernel, and the core, the C ABI and the LV2 plugin
cross-compile and link for macOS (arm64, x86-64) and Windows (x86-64) with Zig
(`.ci/cross-compile`; the ziglang package of the test extra)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "cross-compile"


def _cross(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_no_system_calls_outside_the_platform_layer():
    proc = _cross("--check-only")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("line, kind", [
    ("static int f() { return sched_setaffinity(0, 0, nullptr); }", "system call 'sched_setaffinity('"),
    ("static int g() { return ::sched_getcpu(); }", "system call 'sched_getcpu('"),
    ("#include <pthread.h>", "system header '#include <pthread.h>'"),
    ('static const char* h = "/proc/stat";', "system file"),
    ("static int k(int x) { return x == SCHED_FIFO; }", "system type or constant 'SCHED_FIFO'"),
    ("#include <immintrin.h>", "x86-only intrinsic"),
])
def test_the_scan_catches_a_non_portable_line(tmp_path, line, kind):
    source = tmp_path / "csrc"
    shutil.copytree(ROOT / "csrc", source)
    worker = source / "live_worker.cpp"
    text = worker.read_text()
    # Comments and strings that name the same things do not count.
    content = (text + "\n// sched_setaffinity(0) in a comment\n"
               "static const char* s = \"sched_getcpu() in a string\";\n" + line + "\n")
    worker.write_text(content)
    proc = _cross("--check-only", "--source-dir", str(source))
    assert proc.returncode == 1
    n_lines = content.splitlines().index(line) + 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"cross-compile: non-portable: csrc/live_worker.cpp:{n_lines}: {kind}"), lines


@pytest.mark.slow
def test_core_capi_and_plugin_cross_compile_for_macos_and_windows(tmp_path_factory):
    """Compile only: the first link per target builds Zig's libc++ (tens of minutes on a
    loaded 2-core machine), too long for CI; `.ci/cross-compile` without --no-link links."""
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("needs Zig: pip install ziglang (the test extra has it)")
    build = tmp_path_factory.mktemp("build-cross")
    proc = _cross("--build-dir", str(build), "--no-link", "--targets", "aarch64-macos",
                  "x86_64-windows-gnu", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]
    # Mach-O 64-bit objects for arm64 macOS, COFF objects for x86-64 Windows.
    magic = {"aarch64-macos": b"\xcf\xfa\xed\xfe", "x86_64-windows-gnu": b"\x64\x86"}
    for target, head in magic.items():
        objects = sorted((build / target).glob("*.o"))
        names = {o.stem for o in objects}
        assert {"capi", "native_model", "platform", "rtsep_lv2"} <= names, (target, names)
        for obj in objects:
            assert obj.read_bytes().startswith(head), (target, obj.name)
