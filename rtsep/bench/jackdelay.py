"""Measured end-to-end delay through a real JACK server (dummy driver).

The benchmark starts its own ``jackd`` (dummy driver, no real-time, a unique
server name) per block size, and a probe client with two outputs and two
inputs that plays a seeded stereo noise burst and records what comes back, in
the same process callback, so sent and received samples share one frame
count. The delay is the lag of the cross-correlation peak, to the sample.

Devices under test (DUT), each wired probe out -> DUT in, DUT out -> probe in:

* ``loopback``: a pass-through client (out = in). Its delay is the harness's
  own baseline (JACK's one-period feedback edge in this loop), measured and
  subtracted from the others.
* ``engine``: a client whose process callback runs the streaming engine
  (:class:`rtsep.engine.Separator` with the identity model) on each period;
  it must add exactly ``latency_samples``.
* ``monitor``: ``python -m rtsep monitor`` as a subprocess on the same server
  (``JACK_DEFAULT_SERVER``), worker schedule, identity model, vocals out; its
  added delay must equal the ``total_latency_samples`` of its ``--summary-json``
  (engine + block + safety).
* ``monitor-inline``: the same with ``--schedule inline`` (the callback runs the
  shipped native model, mode ``mix`` at 0 dB: vocals + instrumental = the input);
  its added delay must be the engine's latency alone. Skipped, with the reason,
  when there is no shipped native model.

:func:`monitor_misses` runs the monitor with the real model for a sustained
period, fed by a looping player client, and returns its miss/xrun counters.

The probe is one client (so the graph probe -> DUT -> probe is a cycle, and
JACK delays its feedback edge by one period: that is what the loopback
baseline measures). ``tests/jack_harness.py`` measures the same thing with two
clients and an acyclic graph; it lives in the tests (it needs pytest), hence
this small probe here. The probe's process callback is Python: fine for a
harness on the dummy driver (a late cycle glitches the signal but never shifts
it; the correlation peak's height is reported as a check).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from rtsep.live.cpu_latency import cpu_steal_times, steal_share

MIN_PEAK = 0.5


def jack_unavailable_reason() -> str | None:
    """None if a JACK server can be started here, else why not."""
    if shutil.which("jackd") is None:
        return "jackd not found (apt-get install jackd2)"
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"JACK-Client unavailable ({exc})"
    return None


@contextlib.contextmanager
def _quiet_jack_errors():
    import jack

    jack.set_error_function(lambda msg: None)
    jack.set_info_function(lambda msg: None)
    try:
        yield
    finally:
        jack.set_error_function(None)
        jack.set_info_function(None)


def _any_thread_fifo(pid: int) -> bool | None:
    """Whether any thread of process ``pid`` runs SCHED_FIFO/RR (None where unknowable)."""
    task_dir = Path(f"/proc/{pid}/task")
    if not hasattr(os, "sched_getscheduler") or not task_dir.is_dir():
        return None
    for tid in os.listdir(task_dir):
        try:
            if os.sched_getscheduler(int(tid)) in (os.SCHED_FIFO, os.SCHED_RR):
                return True
        except OSError:
            continue
    return False


class JackServer:
    """A private ``jackd`` with the dummy driver, for a ``with`` block.

    ``name`` is unique per process and block size; ``client(name)`` opens a
    client on it. The server is terminated (by pid) on exit.
    """

    def __init__(self, block_samples: int, sample_rate_hz: int = 48000, start_timeout_s: float = 10.0,
                 realtime: bool = False):
        self.block_samples = block_samples
        self.sample_rate_hz = sample_rate_hz
        self.realtime = bool(realtime)
        #: After start: whether jackd's threads really run SCHED_FIFO (None: unknown here).
        self.realtime_active: bool | None = None
        self.name = f"rtsep-bench-{os.getpid()}-{block_samples}-{uuid.uuid4().hex[:6]}"
        self._timeout_s = start_timeout_s
        self._proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> "JackServer":
        self._log = tempfile.TemporaryFile()
        # Realtime (jackd's own default, as audio users run it) asks for SCHED_FIFO;
        # where the system refuses, jackd goes on without it and realtime_active says so.
        self._proc = subprocess.Popen(
            ["jackd", *(["-R", "-P", "70"] if self.realtime else ["--no-realtime"]), "-n", self.name,
             "-d", "dummy", "-r", str(self.sample_rate_hz), "-p", str(self.block_samples)],
            stdout=self._log, stderr=subprocess.STDOUT)
        end = time.monotonic() + self._timeout_s
        while True:
            try:
                self.client("rtsep-bench-ping").close()
                break
            except Exception:  # noqa: BLE001 - server not up yet
                if self._proc.poll() is not None or time.monotonic() > end:
                    tail = self._log_tail()
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"jackd did not start: {tail}") from None
                time.sleep(0.05)
        self.realtime_active = _any_thread_fifo(self._proc.pid)
        return self

    def log_text(self) -> str:
        """Everything jackd has printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _log_tail(self) -> str:
        lines = self.log_text().strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def client(self, name: str):
        import jack

        with _quiet_jack_errors():
            return jack.Client(name, no_start_server=True, servername=self.name)

    def env(self) -> dict:
        """Environment for a child process that should use this server (and never start one)."""
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1",
                "PYTHONUNBUFFERED": "1"}

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()


def make_stimulus(sample_rate_hz: int, lead_s: float = 0.3, burst_s: float = 0.5,
                  tail_s: float = 0.4, seed: int = 0) -> np.ndarray:
    """Silence, a seeded independent noise burst per channel, silence: ``float32 (2, n)``."""
    rng = np.random.default_rng(seed)
    n_lead, n_burst, n_tail = (int(s * sample_rate_hz) for s in (lead_s, burst_s, tail_s))
    x = np.zeros((2, n_lead + n_burst + n_tail), dtype=np.float32)
    fade = np.minimum(1.0, np.arange(n_burst) / 64.0) * np.minimum(1.0, np.arange(n_burst)[::-1] / 64.0)
    x[:, n_lead:n_lead + n_burst] = 0.25 * rng.standard_normal((2, n_burst)) * fade
    return x


def estimate_delay(sent: np.ndarray, received: np.ndarray, max_lag: int) -> tuple[int, float]:
    """``(lag_samples, peak)`` of ``received`` against ``sent`` (1-D, same length).

    ``peak`` is the correlation at that lag over the sent energy (1.0 for a
    clean delay)."""
    n = len(sent)
    size = 1 << (2 * n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(received, size) * np.conj(np.fft.rfft(sent, size)), size)
    lag = int(np.argmax(xc[:max_lag + 1]))
    return lag, float(xc[lag] / max(float(np.dot(sent, sent)), 1e-20))


class Probe:
    """The measuring client: plays a stimulus on ``out_1/2``, records ``in_1/2``."""

    def __init__(self, server: JackServer, stimulus: np.ndarray):
        self.client = server.client("rtsep-bench-probe")
        self.outs = [self.client.outports.register(f"out_{c + 1}") for c in range(2)]
        self.ins = [self.client.inports.register(f"in_{c + 1}") for c in range(2)]
        self.stimulus = stimulus
        self.recorded = np.zeros_like(stimulus)
        self.n_xruns = 0
        self._pos = -1  # < 0: idle (silence out, nothing recorded)
        n = stimulus.shape[1]

        def process(n_frames: int) -> None:
            pos = self._pos
            if pos < 0 or pos >= n:
                for port in self.outs:
                    port.get_array().fill(0.0)
                return
            stop = min(pos + n_frames, n)
            for c in range(2):
                out = self.outs[c].get_array()
                out[:stop - pos] = stimulus[c, pos:stop]
                out[stop - pos:] = 0.0
                self.recorded[c, pos:stop] = self.ins[c].get_array()[:stop - pos]
            self._pos = pos + n_frames

        def xrun(delay_usecs: float) -> None:
            self.n_xruns += 1

        self.client.set_process_callback(process)
        self.client.set_xrun_callback(xrun)
        self.client.activate()

    def measure(self, max_lag: int, timeout_s: float = 30.0) -> dict:
        """Play the stimulus once; returns the per-channel lags and peaks."""
        self.recorded.fill(0.0)
        n_xruns_before = self.n_xruns
        self._pos = 0
        end = time.monotonic() + timeout_s
        while self._pos < self.stimulus.shape[1]:
            if time.monotonic() > end:
                self._pos = -1
                raise RuntimeError("the JACK server stopped running the probe")
            time.sleep(0.02)
        self._pos = -1
        lags, peaks = zip(*(estimate_delay(self.stimulus[c], self.recorded[c], max_lag)
                            for c in range(2)))
        return {"lag_samples": [int(v) for v in lags], "peak": [round(v, 4) for v in peaks],
                "n_xruns": self.n_xruns - n_xruns_before}

    def wire(self, dut_inputs, dut_outputs) -> None:
        for src, dst in zip(self.outs, dut_inputs):
            self.client.connect(src, dst)
        for src, dst in zip(dut_outputs, self.ins):
            self.client.connect(src, dst)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


@contextlib.contextmanager
def passthrough_dut(server: JackServer):
    """The harness loopback: a client whose outputs copy its inputs."""
    client = server.client("rtsep-bench-loopback")
    ins = [client.inports.register(f"in_{c + 1}") for c in range(2)]
    outs = [client.outports.register(f"out_{c + 1}") for c in range(2)]

    def process(n_frames: int) -> None:
        for i, o in zip(ins, outs):
            o.get_array()[:] = i.get_array()

    client.set_process_callback(process)
    client.activate()
    try:
        yield ins, outs
    finally:
        client.deactivate()
        client.close()


@contextlib.contextmanager
def engine_dut(server: JackServer, latency_mode: str):
    """The streaming engine (identity model) inside a JACK process callback."""
    from rtsep.engine import IdentityRunner, Separator

    separator = Separator(IdentityRunner(latency_mode, server.sample_rate_hz),
                          max_block_samples=max(8192, server.block_samples))
    n = server.block_samples
    x = np.zeros((2, n), dtype=np.float32)
    vocals = np.zeros((2, n), dtype=np.float32)
    instrumental = np.zeros((2, n), dtype=np.float32)
    client = server.client("rtsep-bench-engine")
    ins = [client.inports.register(f"in_{c + 1}") for c in range(2)]
    outs = [client.outports.register(f"out_{c + 1}") for c in range(2)]

    def process(n_frames: int) -> None:
        for c in range(2):
            x[c, :n_frames] = ins[c].get_array()
        separator.process_into(x[:, :n_frames], vocals[:, :n_frames], instrumental[:, :n_frames])
        for c in range(2):
            outs[c].get_array()[:] = vocals[c, :n_frames]

    client.set_process_callback(process)
    client.activate()
    try:
        yield ins, outs, separator.latency_samples
    finally:
        client.deactivate()
        client.close()


def monitor_command(latency_mode: str, block_samples: int, jack_name: str, summary_path: Path,
                    ready_path: Path, duration_s: float, *, model: str = "identity",
                    output_mode: str = "vocals", backend: str | None = None,
                    schedule: str = "worker") -> list[str]:
    """``rtsep monitor`` on the JACK server (chosen with ``JACK_DEFAULT_SERVER``, see
    :meth:`JackServer.env`), writing its summary JSON and a ready file.

    Default: the identity model playing the vocals (= the input, delayed) on a worker.
    """
    argv = [sys.executable, "-m", "rtsep", "monitor", "--input", "system", "--output", "system",
            "--jack-name", jack_name, "--model", str(model), "--mode", output_mode,
            "--latency", latency_mode, "--blocksize", str(block_samples), "--schedule", schedule,
            "--summary-json", str(summary_path), "--ready-file", str(ready_path),
            "--duration", f"{duration_s:g}"]
    if backend is not None:
        argv += ["--backend", backend]
    return argv


def _wait_for_ports(probe: Probe, client_name: str, proc: subprocess.Popen, timeout_s: float):
    """``client_name``'s first two audio inputs and outputs: ``(inputs, outputs)``,
    or ``(None, None)`` if they do not appear in time or the process exits."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        ins = probe.client.get_ports(f"^{client_name}:", is_audio=True, is_input=True)
        outs = probe.client.get_ports(f"^{client_name}:", is_audio=True, is_output=True)
        if len(ins) >= 2 and len(outs) >= 2:
            return (sorted(ins, key=lambda p: p.name)[:2], sorted(outs, key=lambda p: p.name)[:2])
        time.sleep(0.05)
    return None, None


def _stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the monitor writes its summary on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _measure_monitor(server: JackServer, probe: Probe, latency_mode: str, max_lag: int,
                     stimulus_s: float, schedule: str = "worker") -> dict:
    model, output_mode, backend = "identity", "vocals", None
    if schedule == "inline":  # the callback runs the native model; mix = the input, delayed
        from rtsep.paths import models_dir

        native = models_dir() / "rtsep-default.rtsepw"
        if not native.is_file():
            return {"skipped": f"no shipped native model at {native}"}
        model, output_mode, backend = str(native), "mix", "native"
    with tempfile.TemporaryDirectory(prefix="rtsep-bench-monitor-") as tmp:
        jack_name = f"rtsep-bench-monitor-{os.getpid()}"
        summary_path, ready_path = Path(tmp) / "summary.json", Path(tmp) / "ready.json"
        stderr_path = Path(tmp) / "stderr.txt"
        argv = monitor_command(latency_mode, server.block_samples, jack_name, summary_path,
                               ready_path, duration_s=stimulus_s + 60.0, model=model,
                               output_mode=output_mode, backend=backend, schedule=schedule)
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(argv, env=server.env(), stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                end = time.monotonic() + 30.0
                while not ready_path.exists() and proc.poll() is None and time.monotonic() < end:
                    time.sleep(0.05)
                ins, outs = _wait_for_ports(probe, jack_name, proc, timeout_s=10.0)
                if ins is None:
                    _stop_process(proc)
                    return {"skipped": "rtsep monitor did not start on the JACK server: "
                                       + _last_line(stderr_path)}
                for port in ins + outs:  # drop its auto-connections to system:*
                    for other in probe.client.get_all_connections(port):
                        if port.is_input:
                            probe.client.disconnect(other, port)
                        else:
                            probe.client.disconnect(port, other)
                probe.wire(ins, outs)
                time.sleep(0.3)
                result = probe.measure(max_lag)
            finally:
                _stop_process(proc)
        if not summary_path.is_file():
            return {"skipped": f"rtsep monitor wrote no summary JSON (exit {proc.returncode}: "
                               f"{_last_line(stderr_path)})"}
        from rtsep.live.summary import MonitorSummary

        summary = MonitorSummary.load(summary_path)
        result.update({"summary": summary.to_dict(), "schedule": summary.schedule,
                       "reported_latency_samples": summary.total_latency_samples,
                       "n_misses": summary.misses, "monitor_n_xruns": summary.xruns})
        return result


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no message"
    return lines[-1] if lines else "no message"


def measure_jack_delays(block_sizes=(64, 128, 256), latency_modes=("default", "low"),
                        sample_rate_hz: int = 48000, stimulus_s: float = 0.5,
                        include_monitor: bool = True, schedules=("worker", "inline"),
                        log=lambda msg: None) -> dict:
    """Measure the baseline, the engine and ``rtsep monitor`` (each of ``schedules``)
    at each block size.

    Returns ``{"skipped": reason or None, "sample_rate_hz", "rows": [...]}``,
    one row per (block size, DUT, latency mode) with ``measured_samples`` (the
    probe's lag, both channels equal), ``baseline_samples``, ``added_samples``
    (measured - baseline), ``expected_samples`` and ``agrees`` (added ==
    expected, to the sample).
    """
    reason = jack_unavailable_reason()
    if reason:
        return {"skipped": reason, "rows": []}
    rows = []
    stimulus = make_stimulus(sample_rate_hz, burst_s=stimulus_s)
    max_lag = sample_rate_hz // 4
    for block in block_sizes:
        log(f"JACK delay: dummy driver, {block}-frame blocks")
        try:
            with JackServer(block, sample_rate_hz) as server:
                _measure_block(server, stimulus, latency_modes, max_lag, stimulus_s,
                               schedules if include_monitor else (), rows, log)
        except RuntimeError as exc:  # jackd failed to start, or stopped running the probe
            rows.append({"block_samples": block, "dut": "loopback", "latency_mode": None,
                         "skipped": str(exc).splitlines()[0]})
    return {"skipped": None, "sample_rate_hz": sample_rate_hz, "rows": rows}


def _measure_block(server: JackServer, stimulus: np.ndarray, latency_modes, max_lag: int,
                   stimulus_s: float, schedules, rows: list, log) -> None:
    """Baseline, engine and monitor rows (one per schedule) for one server."""
    block = server.block_samples
    probe = Probe(server, stimulus)
    try:
        with passthrough_dut(server) as (ins, outs):
            probe.wire(ins, outs)
            base = probe.measure(max_lag)
        baseline = base["lag_samples"][0]
        rows.append(_row(block, "loopback", None, base, baseline, 0))
        for mode in latency_modes:
            with engine_dut(server, mode) as (ins, outs, latency):
                probe.wire(ins, outs)
                got = probe.measure(max_lag)
            rows.append(_row(block, "engine", mode, got, baseline, latency))
            for schedule in schedules:
                dut = "monitor" if schedule == "worker" else f"monitor-{schedule}"
                got = _measure_monitor(server, probe, mode, max_lag, stimulus_s, schedule)
                if "skipped" in got:
                    rows.append({"block_samples": block, "dut": dut, "latency_mode": mode,
                                 "skipped": got["skipped"]})
                    log(f"JACK delay: {dut} skipped: {got['skipped']}")
                    continue
                rows.append(_row(block, dut, mode, got, baseline, got["reported_latency_samples"],
                                 extra={"schedule": got["schedule"], "n_misses": got["n_misses"],
                                        "monitor_n_xruns": got["monitor_n_xruns"],
                                        "engine_latency_samples": latency}))
    finally:
        probe.close()


def _row(block: int, dut: str, mode, got: dict, baseline: int, expected, extra=None) -> dict:
    lags = got["lag_samples"]
    measured = lags[0]
    added = measured - baseline
    ok_signal = lags[0] == lags[1] and min(got["peak"]) >= MIN_PEAK
    row = {"block_samples": block, "dut": dut, "latency_mode": mode,
           "measured_samples": measured, "baseline_samples": baseline,
           "added_samples": added, "expected_samples": expected,
           "agrees": bool(ok_signal and expected is not None and added == int(expected)),
           "peak": got["peak"], "lag_samples_per_channel": lags, "n_xruns": got["n_xruns"]}
    if dut == "loopback":
        row["agrees"] = bool(ok_signal)
    row.update(extra or {})
    return row


class Player:
    """A client that plays ``audio`` (``float32 (2, n)``) on ``out_1/2`` in a loop."""

    def __init__(self, server: JackServer, audio: np.ndarray):
        self.client = server.client("rtsep-bench-player")
        self.name = self.client.name  # the name JACK gave it (kept: a closed client has none)
        self.outs = [self.client.outports.register(f"out_{c + 1}") for c in range(2)]
        n = audio.shape[1]
        # Doubled so that any period is one contiguous slice.
        looped = np.ascontiguousarray(np.concatenate([audio, audio], axis=1), dtype=np.float32)
        pos = [0]

        def process(n_frames: int) -> None:
            p = pos[0]
            for c in range(2):
                self.outs[c].get_array()[:] = looped[c, p:p + n_frames]
            pos[0] = (p + n_frames) % n

        self.client.set_process_callback(process)
        self.client.activate()

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


_LATE_CLIENT = re.compile(r"JackEngine::XRun: client = (\S+) was not finished")
_LATE_DRIVER = re.compile(r"JackTimedDriver::Process XRun")


def xrun_sources(log_text: str, roles: dict[str, str]) -> dict:
    """Who jackd (jack2, the dummy driver) blamed for its xruns, from its log.

    jack2 names a client that had not finished its cycle when the next began
    (``JackEngine::XRun: client = NAME was not finished``) and reports the timed
    driver itself waking late (``JackTimedDriver::Process XRun``). ``roles`` maps
    client names to what they are here (e.g. the monitor, the player); other
    clients are counted under ``other``. One host stall often makes several of these
    lines, so they count lines, not xrun callbacks.
    """
    got = {"driver_late": len(_LATE_DRIVER.findall(log_text)), "other": 0}
    got.update({role: 0 for role in roles.values()})
    for name in _LATE_CLIENT.findall(log_text):
        role = roles.get(name.rstrip(","))
        got[role if role is not None else "other"] += 1
    return got


def resident_kib(pid: int) -> int | None:
    """Resident memory of process ``pid`` in KiB (Linux ``/proc``), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def monitor_misses(model_path, audio: np.ndarray, *, duration_s: float, block_samples: int = 128,
                   sample_rate_hz: int = 48000, latency_mode: str = "default",
                   backend: str | None = None, realtime_server: bool = False,
                   schedule: str = "worker", extra_args: tuple[str, ...] = (),
                   rss_every_s: float | None = None, progress=None,
                   log=lambda msg: None) -> dict:
    """Run ``rtsep monitor`` (karaoke output, ``model_path``) on a private JACK
    server for ``duration_s``, fed ``audio`` in a loop; returns its summary counters.
    ``extra_args``: more ``rtsep monitor`` options (e.g. ``("--worker-cpu", "any")``).

    ``realtime_server``: start jackd realtime (``-R -P 70``; it falls back to normal
    scheduling where the system refuses), as audio users run it. Off by default
    (``--no-realtime``, the setting the developers' guide gives for this machine);
    without real-time scheduling the dummy server's own thread loses the CPU to any
    busy thread, so its xruns measure the host more than rtsep.

    ``rss_every_s``: also sample the monitor's resident memory (``/proc/PID/status``
    VmRSS, KiB) that often, from its start (``rss``: ``[(seconds, KiB), ...]``;
    ``progress`` is called with each sample).

    Returns ``{"skipped": reason}`` or a dict with ``duration_s``, ``n_blocks``,
    ``n_misses``, ``miss_rate``, ``n_xruns``, ``total_latency_samples``,
    ``margin_samples``, ``worker``, the monitor's ``stats`` and ``timing``
    (callback gaps, worker response times, each miss), ``jack_server``
    (whether it ran realtime) and ``xrun_sources`` (:func:`xrun_sources`: the
    monitor, the player feeding it, the driver).
    """
    reason = jack_unavailable_reason()
    if reason:
        return {"skipped": reason}
    if audio.shape[1] < block_samples:
        raise ValueError("audio shorter than one block")
    with JackServer(block_samples, sample_rate_hz, realtime=realtime_server) as server, \
            tempfile.TemporaryDirectory(prefix="rtsep-bench-monitor-") as tmp:
        server_realtime = server.realtime_active
        jack_name = f"rtsep-bench-monitor-{os.getpid()}"
        summary_path, ready_path = Path(tmp) / "summary.json", Path(tmp) / "ready.json"
        stderr_path = Path(tmp) / "stderr.txt"
        argv = monitor_command(latency_mode, block_samples, jack_name, summary_path, ready_path,
                               duration_s, model=str(model_path), output_mode="instrumental",
                               backend=backend, schedule=schedule) + list(extra_args)
        rss: list[tuple[float, int | None]] = []
        player = Player(server, audio)
        cpu_before = cpu_steal_times()
        try:
            with open(stderr_path, "wb") as stderr:
                proc = subprocess.Popen(argv, env=server.env(), stdout=subprocess.DEVNULL,
                                        stderr=stderr)
                try:
                    end = time.monotonic() + 30.0
                    while not ready_path.exists() and proc.poll() is None and time.monotonic() < end:
                        time.sleep(0.05)
                    ins = player.client.get_ports(f"^{jack_name}:", is_audio=True, is_input=True)
                    if len(ins) < 2:
                        return {"skipped": "rtsep monitor did not start on the JACK server: "
                                           + _last_line(stderr_path)}
                    for port in sorted(ins, key=lambda p: p.name)[:2]:
                        for other in player.client.get_all_connections(port):
                            player.client.disconnect(other, port)
                    for src, dst in zip(player.outs, sorted(ins, key=lambda p: p.name)[:2]):
                        player.client.connect(src, dst)
                    log(f"monitor on JACK: {duration_s:g} s at {block_samples}-frame blocks")
                    started = time.monotonic()
                    while proc.poll() is None and time.monotonic() - started < duration_s + 60.0:
                        if rss_every_s and time.monotonic() - started >= len(rss) * rss_every_s:
                            rss.append((round(time.monotonic() - started, 1), resident_kib(proc.pid)))
                            if progress is not None:
                                progress(rss[-1])
                        time.sleep(0.2)
                finally:
                    _stop_process(proc)
        finally:
            player.close()
        host_steal = steal_share(cpu_before, cpu_steal_times())
        blamed = xrun_sources(server.log_text(), {jack_name: "monitor",
                                                  player.name: "player"})
        if not summary_path.is_file():
            return {"skipped": f"rtsep monitor wrote no summary JSON (exit {proc.returncode}: "
                               f"{_last_line(stderr_path)})"}
        from rtsep.live.summary import MonitorSummary

        summary = MonitorSummary.load(summary_path)
    ran_s = summary.duration_s or duration_s
    n_blocks = int(summary.stats.get("n_callbacks") or max(1, int(ran_s * sample_rate_hz) // block_samples))
    return {"duration_s": ran_s, "n_blocks": n_blocks, "block_samples": block_samples,
            "sample_rate_hz": sample_rate_hz, "latency_mode": latency_mode,
            "backend": summary.backend, "schedule": summary.schedule, "n_misses": summary.misses,
            "miss_rate": summary.misses / n_blocks, "n_xruns": summary.xruns,
            "total_latency_samples": summary.total_latency_samples,
            "margin_samples": summary.margin_samples, "worker": summary.worker,
            "stats": summary.stats, "timing": summary.timing,
            "host_steal_share": host_steal, "rss_kib": rss, "xrun_sources": blamed,
            "jack_server": {"realtime_requested": realtime_server, "realtime_active": server_realtime}}
