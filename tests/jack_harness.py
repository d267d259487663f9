"""A real JACK server (dummy driver) and a JACK-Client harness for the live tests.

* :class:`JackServer` starts ``jackd --no-realtime -n <unique> -d dummy`` and
  waits until it accepts clients; :func:`jack_server` is the module-scoped
  pytest fixture (skips with the reason when jackd or JACK-Client is missing).
* :class:`Harness` is two JACK clients in this process: a *player* that plays a
  test signal at a scheduled absolute frame time, and a *recorder* that records
  its inputs at absolute frame times. Two clients (not one) keep the graph
  acyclic, player -> rtsep -> recorder, so every client runs once per cycle in
  that order. The recorder also records the player's output directly
  (``ref_*`` ports): that is the baseline path and the exact reference of what
  rtsep received, even if the player misses a cycle.
* :class:`Monitor` runs ``python -m rtsep monitor`` as a subprocess against the
  server and returns its JSON summary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RATE_HZ = 48000
PERIOD = 128


def _missing() -> str | None:
    if shutil.which("jackd") is None:
        return "jackd not found (install jackd2)"
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"JACK-Client unavailable: {exc}"
    return None


class JackServer:
    """jackd with the dummy driver under a unique server name."""

    def __init__(self, log_dir: Path, rate_hz: int = RATE_HZ, period: int = PERIOD,
                 n_capture: int = 2, n_playback: int = 4) -> None:
        self.name = f"rtsep-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rate_hz = rate_hz
        self.period = period
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self._cmd = ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", str(rate_hz),
                     "-p", str(period), "-C", str(n_capture), "-P", str(n_playback)]
        self._proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict:
        """Environment for subprocesses that should use this server (and never start one)."""
        return dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1",
                    PYTHONUNBUFFERED="1")

    def client(self, name: str):
        import jack

        return jack.Client(name, servername=self.name, no_start_server=True)

    def start(self, timeout_s: float = 15.0) -> None:
        import jack

        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(self._cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                      env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"jackd exited with {self._proc.returncode}: {self.log_tail()}")
            try:
                probe = self.client("rtsep-probe")
            except jack.JackError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"jackd did not accept clients in {timeout_s} s: {self.log_tail()}")
                time.sleep(0.1)
                continue
            probe.close()
            return

    def log_tail(self, n_chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if getattr(self, "_log", None):
            self._log.close()


@pytest.fixture(scope="module")
def jack_server(tmp_path_factory):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    server = JackServer(tmp_path_factory.mktemp("jack"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"cannot start jackd with the dummy driver: {exc}")
    yield server
    server.stop()


class Harness:
    """Player and recorder JACK clients (see the module docstring).

    Recorder channels: ``ref_1..n_play`` (the player's output, direct), then
    ``in_1..n_inputs`` (connected to whatever is measured).
    """

    def __init__(self, server: JackServer, n_play: int = 2, n_inputs: int = 4) -> None:
        tag = uuid.uuid4().hex[:4]
        self.server = server
        self.player = server.client(f"player-{tag}")
        self.recorder = server.client(f"recorder-{tag}")
        self.outs = [self.player.outports.register(f"out_{k + 1}") for k in range(n_play)]
        self.refs = [self.recorder.inports.register(f"ref_{k + 1}") for k in range(n_play)]
        self.ins = [self.recorder.inports.register(f"in_{k + 1}") for k in range(n_inputs)]
        self.blocksize = self.player.blocksize
        self._signal: np.ndarray | None = None
        self._start: int | None = None
        self._rec = np.zeros((n_play + n_inputs, 0), dtype=np.float32)
        self._covered = np.zeros(0, dtype=bool)
        self.player.set_process_callback(self._play)
        self.recorder.set_process_callback(self._record)
        self.player.activate()
        self.recorder.activate()
        for out, ref in zip(self.outs, self.refs):
            self.player.connect(out, ref)

    # JACK process callbacks (this process's JACK threads) ----------------------------

    def _play(self, frames: int) -> None:
        signal_, start = self._signal, self._start
        for c, port in enumerate(self.outs):
            buf = port.get_array()
            buf.fill(0.0)
            if signal_ is None or start is None:
                continue
            i0 = self.player.last_frame_time - start
            lo, hi = max(i0, 0), min(i0 + frames, signal_.shape[1])
            if hi > lo:
                buf[lo - i0:hi - i0] = signal_[c, lo:hi]

    def _record(self, frames: int) -> None:
        start = self._start
        if start is None:
            return
        i0 = self.recorder.last_frame_time - start
        lo, hi = max(i0, 0), min(i0 + frames, self._rec.shape[1])
        if hi <= lo:
            return
        for c, port in enumerate(self.refs + self.ins):
            self._rec[c, lo:hi] = port.get_array()[lo - i0:hi - i0]
        self._covered[lo:hi] = True

    # -------------------------------------------------------------------------------

    def connect_monitor(self, client_name: str, n_inputs: int = 2, n_outputs: int = 2,
                        timeout_s: float = 10.0) -> None:
        """Player -> ``client_name:in_*`` and ``client_name:out_*`` -> recorder inputs."""
        deadline = time.monotonic() + timeout_s
        while True:
            ins = self.player.get_ports(f"^{client_name}:in_", is_audio=True, is_input=True)
            outs = self.player.get_ports(f"^{client_name}:out_", is_audio=True, is_output=True)
            if len(ins) >= n_inputs and len(outs) >= n_outputs:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{client_name} ports did not appear: {ins} {outs}")
            time.sleep(0.05)
        ins = sorted(ins, key=lambda p: p.name)[:n_inputs]
        outs = sorted(outs, key=lambda p: p.name)[:n_outputs]
        for src, dst in zip(self.outs, ins):
            self.player.connect(src, dst)
        for src, dst in zip(outs, self.ins):
            self.player.connect(src, dst)

    def play(self, signal_: np.ndarray, n_record: int, timeout_s: float = 30.0,
             on_progress=None) -> tuple[np.ndarray, np.ndarray]:
        """Play ``signal_`` (n_play, n) from a few periods from now; record ``n_record`` frames.

        Returns ``(recording, covered)``: recording float32 (n_play + n_inputs,
        n_record) aligned so that index 0 is the frame the signal started at;
        covered: bool (n_record,), False where the recorder missed a cycle.
        ``on_progress(frames_recorded)`` is called from this thread while waiting.
        """
        self._rec = np.zeros((self._rec.shape[0], n_record), dtype=np.float32)
        self._covered = np.zeros(n_record, dtype=bool)
        self._signal = np.ascontiguousarray(signal_, dtype=np.float32)
        self._start = self.player.frame_time + 8 * self.blocksize
        deadline = time.monotonic() + timeout_s
        while not self._covered[-1]:
            if time.monotonic() > deadline:
                break
            if on_progress is not None:
                on_progress(max(0, self.player.frame_time - self._start))
            time.sleep(0.01)
        rec, covered = self._rec.copy(), self._covered.copy()
        self._start = None
        self._signal = None
        return rec, covered

    def close(self) -> None:
        for client in (self.player, self.recorder):
            client.deactivate()
            client.close()


class Monitor:
    """``python -m rtsep monitor`` against ``server``; call :meth:`stop` to get the summary."""

    def __init__(self, server: JackServer, tmp_path: Path, *args: str, jack_name: str | None = None,
                 ready_timeout_s: float = 30.0) -> None:
        self.jack_name = jack_name or f"rtsep_{uuid.uuid4().hex[:6]}"
        self.summary_path = tmp_path / f"{self.jack_name}-summary.json"
        self.ready_path = tmp_path / f"{self.jack_name}-ready.json"
        self.stderr_path = tmp_path / f"{self.jack_name}-stderr.txt"
        cmd = [sys.executable, "-m", "rtsep", "monitor", "--input", "system", "--output", "system",
               "--jack-name", self.jack_name, "--summary-json", str(self.summary_path),
               "--ready-file", str(self.ready_path), *args]
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=server.env, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr)
        deadline = time.monotonic() + ready_timeout_s
        while not self.ready_path.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"rtsep monitor exited with {self.proc.returncode}:\n{self.stderr()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rtsep monitor not ready after {ready_timeout_s} s:\n{self.stderr()}")
            time.sleep(0.05)
        self.ready = json.loads(self.ready_path.read_text())

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 20.0) -> dict:
        """SIGTERM, wait, and return the exit summary (asserting a clean exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"rtsep monitor ignored SIGTERM:\n{self.stderr()}")
        finally:
            self._stderr.close()
        assert rc == 0, f"rtsep monitor exited with {rc}:\n{self.stderr_path.read_text(errors='replace')}"
        return json.loads(self.summary_path.read_text())

    def wait(self, timeout_s: float = 60.0) -> dict:
        """Wait for a --duration run to end by itself; returns the summary."""
        try:
            rc = self.proc.wait(timeout_s)
        finally:
            self._stderr.close()
        assert rc == 0, f"rtsep monitor exited with {rc}:\n{self.stderr_path.read_text(errors='replace')}"
        return json.loads(self.summary_path.read_text())


# ---- signal analysis --------------------------------------------------------------


def delay_samples(reference: np.ndarray, delayed: np.ndarray, max_lag: int) -> int:
    """Lag in [0, max_lag] maximising the cross-correlation of two 1-D signals."""
    from scipy.signal import correlate

    n = len(reference)
    corr = correlate(delayed[:n + max_lag].astype(np.float64), reference.astype(np.float64),
                     mode="full", method="fft")
    lags = np.arange(-n + 1, len(delayed[:n + max_lag]))
    keep = (lags >= 0) & (lags <= max_lag)
    return int(lags[keep][np.argmax(corr[keep])])


def make_signal(n_samples: int, seed: int = 1, amplitude: float = 0.3) -> np.ndarray:
    """Stereo float32 (2, n): faded seeded noise plus a 220/330 Hz tone, different per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / RATE_HZ
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    tones = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t + 1.0)])
    x = 0.5 * tones + 0.5 * rng.standard_normal((2, n_samples))
    return (amplitude * fade * x / np.abs(x).max()).astype(np.float32)
