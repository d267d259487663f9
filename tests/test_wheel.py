"""What a user installs: the sdist, a wheel built from it (``.ci/build-wheel``), installed
into a fresh virtual environment outside the repository.

One build and one venv serve every test here (module fixture): the wheel carries the
shipped model, the C ABI with its header and the LV2 plugin; `pip install` pulls no
torch; `rtsep demo`, `rtsep separate`, `rtsep.Processor()`, `rtsep monitor --model
identity` (under a dummy JACK server) and the plugin (`rtsep lv2 install`, lv2ls,
lv2apply) work from another folder; `rtsep paths --pkg-config` links a C client.
The venv's dependencies come from pip (its cache, or the index) like a user's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RATE_HZ = 48000


def _run(cmd, *, cwd, env=None, timeout=900, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}"
    return proc


def _clean_env(**extra) -> dict:
    """The environment without anything that would point Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """``{"dir", "bin", "python", "wheel", "sdist", "work"}``: built, installed, outside the repo."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    env = _clean_env(CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2"))
    _run(["bash", ROOT / ".ci" / "build-wheel", dist], cwd=ROOT, env=env, timeout=1800)
    wheels, sdists = sorted(dist.glob("rtsep-*.whl")), sorted(dist.glob("rtsep-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    vdir = base / "venv"
    _run([sys.executable, "-m", "venv", vdir], cwd=base)
    bindir = vdir / ("Scripts" if sys.platform == "win32" else "bin")
    _run([bindir / "python", "-m", "pip", "install", "-q", wheels[0]], cwd=base, env=_clean_env(),
         timeout=1800)
    work = base / "work"  # the user's folder: neither the repository nor the venv
    work.mkdir()
    return {"dir": vdir, "bin": bindir, "python": bindir / "python", "wheel": wheels[0],
            "sdist": sdists[0], "work": work}


def test_the_wheel_carries_what_inference_needs(venv):
    names = set(zipfile.ZipFile(venv["wheel"]).namelist())
    lib = {"linux": "rtsep/librtsep.so", "darwin": "rtsep/librtsep.dylib"}.get(sys.platform, "rtsep/rtsep.dll")
    for name in ("rtsep/models/rtsep-default.onnx", "rtsep/models/rtsep-default.rtsepw",
                 "rtsep/models/manifest.json", "rtsep/models/MODEL_CARD.md", lib,
                 "rtsep/include/rtsep.h", "rtsep/lv2/rtsep.lv2/manifest.ttl", "rtsep/lv2/rtsep.lv2/rtsep.ttl",
                 "rtsep/assets/demo_vocals.flac"):
        assert name in names, name
    # The model files are byte copies of the repository's.
    with zipfile.ZipFile(venv["wheel"]) as wheel:
        for name in ("rtsep-default.onnx", "rtsep-default.rtsepw"):
            assert wheel.read(f"rtsep/models/{name}") == (ROOT / "models" / name).read_bytes(), name
    # torch-only files stay in the repository.
    assert not [n for n in names if n.endswith((".pt", ".ckpt"))]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux is a Linux tag")
def test_the_wheel_has_a_manylinux_tag(venv):
    assert "manylinux_" in venv["wheel"].name
    out = _run([sys.executable, "-m", "auditwheel", "show", venv["wheel"]], cwd=venv["work"]).stdout
    assert 'is consistent with the following platform tag: "manylinux_' in " ".join(out.split()), out


def test_pip_install_pulls_no_torch(venv):
    out = _run([venv["python"], "-m", "pip", "list", "--format=json"], cwd=venv["work"]).stdout
    names = {p["name"].lower() for p in json.loads(out)}
    assert "rtsep" in names and "onnxruntime" in names
    assert not names & {"torch", "onnx", "librosa", "museval"}, sorted(names)


def test_processor_loads_the_shipped_model_from_the_package(venv):
    code = ("import rtsep, rtsep.engine; p = rtsep.Processor(); "
            "print(rtsep.engine.default_model_path()); print(p.latency_samples)")
    out = _run([venv["python"], "-c", code], cwd=venv["work"], env=_clean_env()).stdout.split()
    assert Path(out[0]).is_relative_to(venv["dir"]) and Path(out[0]).is_file()
    assert out[1] == "510"


def test_demo_runs(venv):
    import soundfile as sf

    proc = _run([venv["bin"] / "rtsep", "demo", "--outdir", "demo"], cwd=venv["work"], env=_clean_env())
    result = json.loads((venv["work"] / "demo" / "result.json").read_text())
    assert result["latency_samples"] == 510 and 0.0 < result["real_time_factor"] < 1.0, proc.stdout
    stems = {n: sf.read(venv["work"] / "demo" / f"{n}.wav", dtype="float32")[0]
             for n in ("mixture", "vocals", "instrumental")}
    assert np.abs(stems["vocals"]).max() > 1e-3
    np.testing.assert_allclose(stems["vocals"] + stems["instrumental"], stems["mixture"], atol=1e-4)


def _song(n_samples: int) -> np.ndarray:
    t = np.arange(n_samples) / RATE_HZ
    rng = np.random.default_rng(7)
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3.0 * t))
    return np.stack([tone + 0.05 * rng.standard_normal(n_samples),
                     0.8 * tone + 0.05 * rng.standard_normal(n_samples)]).astype(np.float32)


def test_separate_writes_stems_that_sum_to_the_input(venv):
    import soundfile as sf

    x = _song(RATE_HZ)
    sf.write(venv["work"] / "song.wav", x.T, RATE_HZ, subtype="FLOAT")
    _run([venv["bin"] / "rtsep", "separate", "song.wav", "-o", "sep"], cwd=venv["work"], env=_clean_env())
    v, rate = sf.read(venv["work"] / "sep" / "song" / "vocals.wav", dtype="float32", always_2d=True)
    a, _ = sf.read(venv["work"] / "sep" / "song" / "instrumental.wav", dtype="float32", always_2d=True)
    assert rate == RATE_HZ and v.shape == x.T.shape
    assert np.abs(v).max() > 1e-3
    np.testing.assert_allclose(v + a, x.T, atol=1e-5)


def test_lv2_install_then_lv2apply_equals_the_processor(venv):
    import soundfile as sf

    for tool in ("lv2ls", "lv2apply"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: lilv-utils)")
    prefix = venv["work"] / "lv2"
    _run([venv["bin"] / "rtsep", "lv2", "install", "--prefix", prefix], cwd=venv["work"], env=_clean_env())
    env = _clean_env(LV2_PATH=str(prefix))
    assert "urn:rtsep:lv2:separator" in _run(["lv2ls"], cwd=venv["work"], env=env).stdout.split()
    x = _song(RATE_HZ // 2)
    sf.write(venv["work"] / "in.wav", x.T, RATE_HZ, subtype="FLOAT")
    _run(["lv2apply", "-i", "in.wav", "-o", "out.wav", "-c", "mode", "0", "urn:rtsep:lv2:separator"],
         cwd=venv["work"], env=env, timeout=300)
    # The same stream through the venv's rtsep.Processor and the shipped ONNX model.
    code = ("import numpy as np, soundfile as sf, rtsep; x = sf.read('in.wav', dtype='float32')[0].T.copy(); "
            "p = rtsep.Processor(backend='onnx-cpu'); p.prepare(48000, 512, 2); "
            "out = [np.concatenate(o, axis=1) for o in zip(*(p.process(x[:, i:i + 512]) "
            "for i in range(0, x.shape[1], 512)))]; np.save('ref.npy', np.concatenate(out))")
    _run([venv["python"], "-c", code], cwd=venv["work"], env=_clean_env())
    ref = np.load(venv["work"] / "ref.npy")
    out = sf.read(venv["work"] / "out.wav", dtype="float32", always_2d=True)[0].T
    assert out.shape == ref.shape == (4, x.shape[1])
    assert np.abs(ref).max() > 1e-3
    assert np.max(np.abs(out - ref)) <= 1e-4
    _run([venv["bin"] / "rtsep", "lv2", "uninstall", "--prefix", prefix], cwd=venv["work"], env=_clean_env())
    assert not (prefix / "rtsep.lv2").exists()


def test_pkg_config_links_a_c_client(venv):
    import soundfile as sf

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or shutil.which("pkg-config") is None:
        pytest.skip("needs a C compiler and pkg-config")
    work = venv["work"]
    pc = _run([venv["bin"] / "rtsep", "paths", "--pkg-config"], cwd=work, env=_clean_env()).stdout
    (work / "pc").mkdir(exist_ok=True)
    (work / "pc" / "rtsep.pc").write_text(pc)
    flags = _run(["pkg-config", "--cflags", "--libs", "rtsep"], cwd=work,
                 env=_clean_env(PKG_CONFIG_PATH=str(work / "pc"))).stdout.split()
    _run([cc, "-O1", "-o", "separate_wav", ROOT / "tests" / "c" / "separate_wav.c", *flags, "-lm"], cwd=work)
    model = Path(_run([venv["python"], "-c", "import rtsep.paths as p; print(p.models_dir())"], cwd=work,
                      env=_clean_env()).stdout.strip()) / "rtsep-default.rtsepw"
    sf.write(work / "c-in.wav", _song(RATE_HZ // 4).T, RATE_HZ, subtype="FLOAT")
    _run([work / "separate_wav", model, "c-in.wav", "c-v.wav", "c-i.wav"], cwd=work, env=_clean_env())
    v = sf.read(work / "c-v.wav", dtype="float32")[0]
    assert v.shape == (RATE_HZ // 4, 2) and np.abs(v).max() > 1e-3


def test_monitor_identity_under_jack(venv, tmp_path):
    from jack_harness import JackServer, _missing

    reason = _missing()
    if reason:
        pytest.skip(reason)
    server = JackServer(tmp_path, period=256)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"cannot start jackd with the dummy driver: {exc}")
    try:
        summary = venv["work"] / "monitor.json"
        env = {k: v for k, v in server.env.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
        _run([venv["bin"] / "rtsep", "monitor", "--input", "system", "--output", "system", "--model",
              "identity", "--duration", "2", "--summary-json", summary], cwd=venv["work"], env=env, timeout=120)
    finally:
        server.stop()
    result = json.loads(summary.read_text())
    assert result["stopped_by"] == "duration", result
    assert result["stats"]["n_callbacks"] > 0 and result["duration_s"] >= 1.5
    margin = 0 if result["schedule"] == "inline" else 256 + result["safety_samples"]
    assert result["total_latency_samples"] == result["engine_latency_samples"] + margin
