"""A real JACK server (dummy driver) and the harness for the live tests.

* :class:`JackServer` starts ``jackd --no-realtime --sync -n <unique> -d dummy
  -r 48000 -p 128 -C 6 -P 4`` and waits until it accepts clients;
  :func:`jack_server` is the session-scoped pytest fixture (skips with the
  reason when jackd or JACK-Client is missing). ``--sync`` makes each cycle wait
  for every client, so a busy machine slows the simulated clock down instead of
  dropping cycles (which would shift a client's audio by a period and make
  sample-exact checks depend on the machine's load).
* :class:`Harness` plays a test signal into ``rtsep monitor``'s input ports and
  records its output ports. Its audio runs in a native PortAudio callback
  (:class:`rtsep._core._internal.PlayRecord`, in this process): JACK-Client's
  Python process callbacks were tried first and missed cycles under load. Ports
  are connected with ``jack.Client.connect``. The harness's own output is also
  looped straight back into its first inputs: that is the baseline path (one
  JACK period, since the loop feeds a client back into itself) and the
  reference of what was played.
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


def _die_with_parent(cmd: list[str]) -> list[str]:
    """``cmd`` wrapped so that it gets SIGTERM when this (test) process dies, where
    util-linux's setpriv is there: no jackd or monitor outlives a killed test run.
    (preexec_fn would do it in-process, but is unsafe with the JACK threads running.)"""
    if sys.platform.startswith("linux") and shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", "TERM", *cmd]
    return cmd


class JackServer:
    """jackd with the dummy driver under a unique server name."""

    def __init__(self, log_dir: Path, rate_hz: int = RATE_HZ, period: int = PERIOD,
                 n_capture: int = 6, n_playback: int = 4) -> None:
        self.name = f"rtsep-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rate_hz = rate_hz
        self.period = period
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self._cmd = ["jackd", "--no-realtime", "--sync", "-n", self.name, "-d", "dummy", "-r", str(rate_hz),
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
        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(_die_with_parent(self._cmd), stdout=self._log,
                                      stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self._accepts_clients():
            if self._proc.poll() is not None:
                raise RuntimeError(f"jackd exited with {self._proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"jackd did not accept clients in {timeout_s} s: {self.log_tail()}")
            time.sleep(0.1)

    def _accepts_clients(self) -> bool:
        # Asked from a child process: libjack in this process should only ever
        # see the one server the harness uses (a second one can crash it).
        cmd = ["jack_wait", "-c", "-s", self.name] if shutil.which("jack_wait") else ["jack_lsp"]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=10)
        return result.returncode == 0 and "not running" not in result.stdout

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


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """One jackd (dummy driver, 48 kHz, 128-sample periods, 6 in / 4 out) for the session."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    server = JackServer(tmp_path_factory.mktemp("jack"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"cannot start jackd with the dummy driver: {exc}")
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    yield server
    # PortAudio must let go of the server before it stops (its JACK client would
    # abort the process at exit otherwise); it is re-initialised without it after.
    sd = sys.modules.get("sounddevice")
    while sd is not None and sd._initialized:
        sd._terminate()
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if sd is not None:
        sd._initialize()


class Harness:
    """The test instrument: a native play/record PortAudio client plus JACK-Client wiring.

    Audio runs in :class:`rtsep._core._internal.PlayRecord`'s native callback
    (no Python, no GIL, so a busy machine does not make it miss cycles); the
    connections are made with a JACK-Client client. Recording channels:
    ``0 .. n_play-1`` are the harness's own output looped straight back (the
    baseline path, and the reference of what was played), then ``n_inputs``
    channels for what is measured.
    """

    def __init__(self, server: JackServer, n_play: int = 2, n_inputs: int = 4) -> None:
        self.server = server
        self.n_play = n_play
        self.n_inputs = n_inputs
        self.sd = _portaudio_on(server)
        devices = [d for d in self.sd.query_devices()
                   if "JACK" in self.sd.query_hostapis(d["hostapi"])["name"].upper()]
        if not devices:
            raise RuntimeError("PortAudio sees no JACK device")
        self.device = devices[0]
        if self.device["max_input_channels"] < n_play + n_inputs:
            raise RuntimeError(f"JACK device has {self.device['max_input_channels']} inputs; "
                               f"the harness needs {n_play + n_inputs}")
        self.connector = server.client(f"connector-{uuid.uuid4().hex[:4]}")

    def record(self, signal_: np.ndarray, n_record: int, monitor: "Monitor | None" = None,
               n_monitor_outputs: int = 2, timeout_s: float = 60.0,
               during=None) -> tuple[np.ndarray, list[int]]:
        """Play ``signal_`` (float32 (n_play, n)) and record ``n_record`` frames.

        With ``monitor``, the harness output also feeds the monitor's inputs and
        its first ``n_monitor_outputs`` outputs feed the harness inputs. Returns
        ``(recording, xrun_positions)``: recording float32 (n_play + n_inputs,
        n_record), frame 0 = the frame the signal started; xrun_positions: the
        recording positions of callbacks that carried xrun flags.
        ``during(elapsed_s)`` is called about every 10 ms while recording.
        """
        from rtsep import _core
        from rtsep.live.devices import portaudio_jack_client_name

        sd = self.sd
        n_in = self.n_play + self.n_inputs
        play_record = _core._internal.PlayRecord(n_in, self.n_play, np.ascontiguousarray(signal_, np.float32),
                                                 n_in, n_record)
        callback = sd._ffi.cast("PaStreamCallback *", _core._internal.play_record_callback_address())
        stream = sd._StreamBase(kind="duplex", samplerate=self.server.rate_hz, blocksize=0,
                                device=(self.device["index"], self.device["index"]),
                                channels=(n_in, self.n_play), dtype="float32", callback=callback,
                                userdata=sd._ffi.cast("void *", play_record.address),
                                wrap_callback=None)
        name = portaudio_jack_client_name()
        try:
            stream.start()
            connect = self.connector.connect
            # PortAudio numbers a client's ports on across streams: take this stream's.
            ins = self._ports(name, is_input=True)[-n_in:]
            outs = self._ports(name, is_output=True)[-self.n_play:]
            for k in range(self.n_play):
                connect(outs[k], ins[k])
            if monitor is not None:
                mon_ins = self._ports(monitor.jack_name, is_input=True)
                mon_outs = self._ports(monitor.jack_name, is_output=True)
                for k in range(self.n_play):
                    connect(outs[k], mon_ins[k])
                for k in range(n_monitor_outputs):
                    connect(mon_outs[k], ins[self.n_play + k])
            time.sleep(0.1)  # a few cycles with every connection in place
            play_record.arm()
            started = time.monotonic()
            while not play_record.done:
                elapsed = time.monotonic() - started
                if elapsed > timeout_s:
                    raise RuntimeError(f"recording incomplete after {timeout_s} s "
                                       f"({play_record.n_recorded} of {n_record} frames)")
                if during is not None:
                    during(elapsed)
                time.sleep(0.01)
        finally:
            stream.stop()
            stream.close()
        return play_record.recording(), list(play_record.xrun_positions())

    def _ports(self, client_name: str, **kind) -> list[str]:
        ports = self.connector.get_ports(f"^{client_name}:", is_audio=True, **kind)
        return sorted((p.name for p in ports), key=lambda n: int(n.rsplit("_", 1)[1]))

    def close(self) -> None:
        self.connector.close()


def _portaudio_on(server: JackServer):
    """sounddevice with PortAudio (re)initialised on ``server``'s JACK."""
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    from rtsep.live.devices import portaudio

    sd = portaudio("rtsep_harness")
    sd._terminate()
    sd._initialize()
    return sd


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
        self.proc = subprocess.Popen(_die_with_parent(cmd), cwd=ROOT, env=server.env,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)
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
        if not self._stderr.closed:
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
    """A synthetic stereo mixture, float32 (2, n), peak ``amplitude``, 10 ms fades.

    "Voice": a centred harmonic tone at 220 Hz with 5.5 Hz vibrato and a
    syllable-like envelope; "band": an A-minor chord of decaying harmonic tones
    panned left and right, plus seeded noise bursts as drums. Channels differ.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / RATE_HZ
    phase = 2 * np.pi * 220 * t + (220 * 0.01 / 5.5) * np.sin(2 * np.pi * 5.5 * t)
    voice = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)
    beat = (t * 2.0) % 1.0  # two notes / hits per second
    chord = [sum(np.sin(2 * np.pi * f * k * t) / k ** 1.5 for k in range(1, 4)) * np.exp(-3 * beat)
             for f in (110.0, 130.81, 164.81)]
    drums = rng.standard_normal(n_samples) * np.exp(-40 * ((t * 4.0) % 1.0))
    left = 0.5 * voice + 0.35 * (chord[0] + 0.6 * chord[1]) + 0.25 * drums
    right = 0.5 * voice + 0.35 * (chord[2] + 0.4 * chord[1]) + 0.25 * np.roll(drums, 37)
    x = np.stack([left, right])
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    return (amplitude * fade * x / np.abs(x).max()).astype(np.float32)
