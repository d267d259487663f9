"""The LV2 plugin (csrc/lv2): ``rtsep lv2 install`` writes a bundle that describes
itself, lv2apply runs it to the same output as the Python processor, and under a
real JACK server (jalv) its delay equals the latency it reports.

The bundle is the one the package ships (``rtsep/lv2/rtsep.lv2``, built with the
wheel; in a checkout whose install predates that, ``build/embed``), installed with
``rtsep lv2 install --prefix <tmp> --model <test model>`` into a temporary LV2_PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from test_capi import LV2_HEADER, RATE_HZ, build_embed, make_models, processor_stream, test_audio

URI = "urn:rtsep:lv2:separator"
TOLERANCE = 1e-4

pytestmark = pytest.mark.torch  # the test model is exported from PyTorch


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: lilv-utils / jalv / sordi)")


def _rtsep(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtsep", *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


@pytest.fixture(scope="module")
def lv2(tmp_path_factory):
    """``{"path": LV2_PATH, "bundle": .../rtsep.lv2, "models": make_models(...)}``."""
    from rtsep.paths import lv2_bundle_dir

    if lv2_bundle_dir() is None:  # an editable install built before the wheel had the plugin
        if not LV2_HEADER.exists():
            pytest.skip("no plugin built with the package, and build/embed builds it only with "
                        "the LV2 headers (apt-get install lv2-dev)")
        build_embed("rtsep_lv2")
    models = make_models(tmp_path_factory.mktemp("lv2-models"))
    prefix = tmp_path_factory.mktemp("lv2-path")
    proc = _rtsep("lv2", "install", "--prefix", str(prefix), "--model", str(models["native"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bundle = prefix / "rtsep.lv2"
    assert proc.stdout.strip() == str(bundle)
    return {"path": prefix, "bundle": bundle, "models": models}


def _env(lv2) -> dict:
    return dict(os.environ, LV2_PATH=str(lv2["path"]))


def test_bundle_is_complete_and_described(lv2):
    _need("lv2info")
    assert sorted(p.name for p in lv2["bundle"].iterdir()) == \
        ["manifest.ttl", "model.rtsepw", "rtsep.so", "rtsep.ttl"]
    out = subprocess.run(["lv2info", URI], capture_output=True, text=True, env=_env(lv2)).stdout
    assert "Has latency:       yes, reported by port 10" in out
    assert len(re.findall(r"^\s+Port \d+:", out, flags=re.M)) == 14
    assert "Symbol:      key\n" in out and "Symbol:      vocals_key\n" in out
    assert "Symbol:      strength\n" in out
    assert "Designation: http://lv2plug.in/ns/lv2core#latency" in out


def test_lv2ls_lists_the_installed_bundle(lv2):
    _need("lv2ls")
    out = subprocess.run(["lv2ls"], capture_output=True, text=True, env=_env(lv2)).stdout
    assert URI in out.split()
    assert (lv2["bundle"] / "model.rtsepw").read_bytes() == lv2["models"]["native"].read_bytes()


def test_install_and_uninstall_the_shipped_model(tmp_path):
    from rtsep.paths import models_dir

    _need("lv2ls")
    shipped = models_dir() / "rtsep-default.rtsepw"
    if not shipped.is_file():
        pytest.skip(f"no shipped native model at {shipped}")
    env = dict(os.environ, LV2_PATH=str(tmp_path))
    assert _rtsep("lv2", "install", "--prefix", str(tmp_path)).returncode == 0
    assert (tmp_path / "rtsep.lv2" / "model.rtsepw").read_bytes() == shipped.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtsep.lv2"]  # no staging left over
    assert URI in subprocess.run(["lv2ls"], capture_output=True, text=True, env=env).stdout
    assert _rtsep("lv2", "install", "--prefix", str(tmp_path)).returncode == 0  # replaces itself
    proc = _rtsep("lv2", "uninstall", "--prefix", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "rtsep.lv2").exists()
    assert URI not in subprocess.run(["lv2ls"], capture_output=True, text=True, env=env).stdout
    proc = _rtsep("lv2", "uninstall", "--prefix", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip() == f"rtsep lv2: error: no rtsep.lv2 in {tmp_path}"


def test_install_refuses_bad_input(tmp_path):
    foreign = tmp_path / "foreign" / "rtsep.lv2"
    foreign.mkdir(parents=True)
    (foreign / "manifest.ttl").write_text("<urn:someone:else> a <http://lv2plug.in/ns/lv2core#Plugin> .\n")
    for args, message in [
        (("install", "--prefix", str(foreign.parent)), "is not rtsep's plugin bundle; not replacing it"),
        (("uninstall", "--prefix", str(foreign.parent)), "is not rtsep's plugin bundle; not removing it"),
        (("install", "--prefix", str(tmp_path), "--model", str(tmp_path / "none.rtsepw")), "is missing"),
    ]:
        proc = _rtsep("lv2", *args)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert (foreign / "manifest.ttl").exists()


def test_ttl_validates_against_the_lv2_spec(lv2):
    _need("lv2_validate")
    _need("sord_validate")
    files = [str(lv2["bundle"] / "manifest.ttl"), str(lv2["bundle"] / "rtsep.ttl")]
    proc = subprocess.run(["lv2_validate", *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Found 0 errors" in proc.stdout + proc.stderr, \
        (proc.stdout + proc.stderr)[-3000:]


@pytest.mark.parametrize("controls", [{}, {"mode": 1, "vocals_gain": -6.0}, {"mode": 3},
                                      {"key": -3.0, "vocals_key": 2.0}, {"mode": 3, "strength": 2.5}])
def test_lv2apply_matches_the_python_processor(lv2, tmp_path, controls):
    import soundfile as sf

    _need("lv2apply")
    x = test_audio(RATE_HZ // 2)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x.T, RATE_HZ, subtype="FLOAT")
    args = [a for sym, val in controls.items() for a in ("-c", sym, str(val))]
    proc = subprocess.run(["lv2apply", "-i", str(src), "-o", str(dst), *args, URI],
                          capture_output=True, text=True, env=_env(lv2), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = sf.read(dst, dtype="float32", always_2d=True)[0].T
    assert out.shape == (4, x.shape[1])  # out A L/R, out B L/R, the latency included

    names = {"mode": "mode", "vocals_gain": "vocals_gain_db", "key": "key_semitones",
             "vocals_key": "vocals_key_semitones", "strength": "strength"}
    modes = ("both", "mix", "vocals", "instrumental")
    params = {names[k]: (modes[v] if k == "mode" else v) for k, v in controls.items()}
    a, b, latency = processor_stream(lv2["models"]["onnx"], x, **params)
    assert np.abs(a).max() > 1e-4  # not silent
    assert np.max(np.abs(out[0:2] - a)) <= TOLERANCE
    assert np.max(np.abs(out[2:4] - b)) <= TOLERANCE
    if not controls:  # latency-aligned, against `rtsep separate`
        from rtsep.engine import separate_array
        from rtsep.engine import Separator, load_runner

        seps = {RATE_HZ: Separator(load_runner(lv2["models"]["onnx"], backend="onnx-cpu"))}
        vocals, accompaniment = separate_array(x, RATE_HZ, seps)
        n = x.shape[1] - latency
        assert np.max(np.abs(out[0:2, latency:] - vocals[:, :n])) <= TOLERANCE
        assert np.max(np.abs(out[2:4, latency:] - accompaniment[:, :n])) <= TOLERANCE


@pytest.mark.realdata
def test_lv2apply_on_a_real_mixture_at_44k1(lv2, tmp_path):
    import soundfile as sf

    _need("lv2apply")
    from rtsep.train.data.paths import default_data_root

    src = default_data_root() / "real-dev" / "musdb18-preview-80s-rock" / "mixture.wav"
    if not src.exists():
        pytest.skip(f"real data not found at {src} (../shared/data or $RTSEP_DATA is absent)")
    x, rate = sf.read(src, dtype="float32", always_2d=True)
    assert rate == 44100
    x = np.ascontiguousarray(x[: 3 * rate].T)  # 3 s keep the test short
    sf.write(tmp_path / "in.wav", x.T, rate, subtype="FLOAT")
    proc = subprocess.run(["lv2apply", "-i", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"),
                           URI], capture_output=True, text=True, env=_env(lv2), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)[0].T
    a, b, _ = processor_stream(lv2["models"]["onnx"], x, rate_hz=rate)
    assert np.max(np.abs(out[0:2] - a)) <= TOLERANCE
    assert np.max(np.abs(out[2:4] - b)) <= TOLERANCE


def test_plugin_refuses_a_missing_model(lv2, tmp_path):
    import soundfile as sf

    _need("lv2apply")
    bundle = tmp_path / "rtsep.lv2"
    shutil.copytree(lv2["bundle"], bundle)
    (bundle / "model.rtsepw").unlink()
    sf.write(tmp_path / "in.wav", np.zeros((64, 2), np.float32), RATE_HZ, subtype="FLOAT")
    proc = subprocess.run(["lv2apply", "-i", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav"),
                           URI], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, LV2_PATH=str(tmp_path)))
    assert proc.returncode != 0
    assert "rtsep.lv2: cannot load the model" in proc.stderr and "model.rtsepw" in proc.stderr


class _PlayRecord:
    """Two JACK-Client clients in this process: a player whose output feeds the
    plugin and (directly) the recorder's reference port, and a recorder of the
    plugin's four outputs, all at absolute JACK frame times. Two clients keep
    the graph acyclic (player -> plugin -> recorder: each runs once per cycle
    in that order); the direct reference path is the harness's own baseline."""

    def __init__(self, server, signal_: np.ndarray, n_record: int):
        tag = uuid.uuid4().hex[:4]
        self.player = server.client(f"lv2-player-{tag}")
        self.recorder = server.client(f"lv2-recorder-{tag}")
        self.outs = [self.player.outports.register(f"out_{c}") for c in "lr"]
        self.ins = [self.recorder.inports.register(n) for n in
                    ("ref_l", "ref_r", "a_l", "a_r", "b_l", "b_r")]
        self.signal = signal_
        self.rec = np.zeros((len(self.ins), n_record), dtype=np.float32)
        self.covered = np.zeros(n_record, dtype=bool)
        self.start = None
        self.player.set_process_callback(self._play)
        self.recorder.set_process_callback(self._record)

    def _play(self, frames: int) -> None:
        i0 = None if self.start is None else self.player.last_frame_time - self.start
        for c, port in enumerate(self.outs):
            buf = port.get_array()
            buf.fill(0.0)
            if i0 is not None:
                lo, hi = max(i0, 0), min(i0 + frames, self.signal.shape[1])
                if hi > lo:
                    buf[lo - i0:hi - i0] = self.signal[c, lo:hi]

    def _record(self, frames: int) -> None:
        if self.start is None:
            return
        i0 = self.recorder.last_frame_time - self.start
        lo, hi = max(i0, 0), min(i0 + frames, self.rec.shape[1])
        if hi > lo:
            for c, port in enumerate(self.ins):
                self.rec[c, lo:hi] = port.get_array()[lo - i0:hi - i0]
            self.covered[lo:hi] = True

    def run(self, plugin: str, timeout_s: float) -> None:
        import jack

        self.player.activate()
        self.recorder.activate()
        deadline = time.monotonic() + timeout_s
        while len(self.player.get_ports(f"^{plugin}:", is_audio=True)) < 6:
            assert time.monotonic() < deadline, f"{plugin}'s ports did not appear"
            time.sleep(0.05)
        # jalv registers its ports before it activates; JACK refuses connections to an
        # inactive client's ports, so the first connection is retried until it activates.
        while True:
            try:
                self.player.connect(self.outs[0], f"{plugin}:in_l")
                break
            except jack.JackError:
                assert time.monotonic() < deadline, f"{plugin}'s ports never accepted a connection"
                time.sleep(0.05)
        for c, side in enumerate("lr"):
            if c:
                self.player.connect(self.outs[c], f"{plugin}:in_{side}")
            self.player.connect(self.outs[c], self.ins[c])
            for k, out in enumerate(("a", "b")):
                self.player.connect(f"{plugin}:out_{out}_{side}", self.ins[2 + 2 * k + c])
        self.start = self.player.frame_time + 8 * self.player.blocksize
        while not self.covered[-1] and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        for client in (self.player, self.recorder):
            client.deactivate()
            client.close()


@pytest.mark.jack
@pytest.mark.slow
def test_jalv_delay_equals_the_reported_latency(lv2, tmp_path):
    if os.environ.get("RTSEP_JALV_CHILD") != "1":
        # libjack keeps process-wide state: JACK clients that earlier tests opened in this
        # process (on other servers) make this one's ports never appear, and closing them can
        # crash the interpreter. Run the test in a fresh interpreter.
        node = f"{Path(__file__).resolve()}::test_jalv_delay_equals_the_reported_latency"
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", node],
                              env={**os.environ, "RTSEP_JALV_CHILD": "1"}, capture_output=True,
                              text=True, timeout=600)
        tail = (proc.stdout + proc.stderr)[-3000:]
        if proc.returncode == 0 and " skipped" in proc.stdout and " passed" not in proc.stdout:
            pytest.skip(f"in a fresh interpreter: {tail.strip().splitlines()[-2:]}")
        assert proc.returncode == 0, tail
        return
    _need("jalv")
    _need("jackd")
    pytest.importorskip("jack", reason="JACK-Client is not installed")
    from jack_harness import JackServer, delay_samples, make_signal

    server = JackServer(tmp_path, period=256)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"cannot start jackd with the dummy driver: {exc}")
    name = f"rtsep_lv2_{uuid.uuid4().hex[:6]}"
    jalv = subprocess.Popen(["jalv", "-n", name, "-x", URI], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(server.env, LV2_PATH=str(lv2["path"])))
    signal = make_signal(RATE_HZ)
    harness = None
    out = ""
    try:
        harness = _PlayRecord(server, signal, RATE_HZ + 4096)
        try:
            harness.run(name, timeout_s=60.0)
        except AssertionError as exc:  # say why: jalv's own output
            jalv.kill()
            raise AssertionError(f"{exc}; jalv exit {jalv.wait()}, output: {jalv.stdout.read()[-2000:]!r}")
        jalv.stdin.write("monitors\n")  # jalv's console prints the output control ports
        jalv.stdin.flush()
        time.sleep(0.5)
    finally:
        if harness is not None:
            harness.close()
        try:
            out, _ = jalv.communicate(timeout=20)  # closes stdin: jalv exits
        except subprocess.TimeoutExpired:
            jalv.kill()
            out, _ = jalv.communicate()
        server.stop()
    assert harness.covered.all(), "the recorder missed JACK cycles"
    reported = re.search(r"latency = (\d+(?:\.\d+)?)", out)
    assert reported, f"jalv did not print the latency port:\n{out[-2000:]}"
    latency = int(float(reported.group(1)))
    assert latency == lv2["models"]["geometry"].latency_samples

    rec = harness.rec
    baseline = delay_samples(signal[0], rec[0], max_lag=2048)  # the harness's own path
    summed = rec[2:4] + rec[4:6]  # A + B = vocals + instrumental = the delayed input
    measured = delay_samples(signal[0], summed[0], max_lag=4096) - baseline
    assert measured == latency, f"measured {measured}, plugin reports {latency} (baseline {baseline})"
    start = baseline + latency
    np.testing.assert_allclose(summed[:, start:start + signal.shape[1]], signal, atol=1e-5)
