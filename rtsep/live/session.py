"""A live monitoring session: device stream, native callback, worker, controls.

:func:`run_monitor` is what ``rtsep monitor`` runs:

1. :func:`plan_devices`: find the devices, check the rate (44.1 or 48 kHz run
   natively; other rates are refused, not resampled) and the channel
   selections, and settle the device block;
2. load the model (or the identity test processor) into an
   :class:`rtsep.engine.Separator`;
3. :func:`choose_schedule`: run the model inline in the audio callback (the
   native model, when its measured time per hop fits the device block) or on a
   worker thread;
4. :func:`make_bridge`: the :class:`rtsep._core.LiveBridge` with the fixed
   latency: the engine's inline, ``engine latency + block + safety`` with a worker;
5. :class:`Session`: hand the bridge's native callback to PortAudio
   (``sounddevice._StreamBase`` with a C function pointer, as python-rtmixer
   does), run the worker thread (if any), the optional recorder and MIDI input,
   and print a status line until the duration ends, Ctrl-C or SIGTERM;
6. stop everything and return (and print) a summary.
"""

from __future__ import annotations

import gc
import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rtsep.config import MAX_GAIN_DB, MODES
from rtsep.errors import UserError
from rtsep.live import devices as devmod
from rtsep.live.cpu_latency import CpuLatencyRequest, cpu_steal_times, steal_share
from rtsep.live.worker import CPU_PLACEMENTS

#: Where the model runs: ``inline`` in the audio callback (latency = the engine's),
#: ``worker`` on its own thread (latency + one block + the safety margin), ``auto``:
#: inline when the model is native and its measured p99 time per callback fits
#: INLINE_BUDGET of the block period.
SCHEDULES = ("auto", "inline", "worker")
#: Share of the device block period the model may take in the callback (auto).
INLINE_BUDGET = 0.5
#: Cross-fade to and from the fallback, in ms (at most the safety margin).
FALLBACK_RAMP_MS = 1.0
#: Largest input chunk the worker hands the engine at once (after a stall).
MAX_WORKER_CHUNK_SAMPLES = 4096


#: Safety part of the scheduling margin (device block + safety), ms: two blocks of
#: worker deadline at 128 samples / 48 kHz.
DEFAULT_SAFETY_MS = 4.0
#: SCHED_FIFO priority of the model worker (below JACK's usual 70-95 for its own threads);
#: where the system refuses it, the worker runs at normal priority and the summary says so.
DEFAULT_REALTIME_PRIORITY = 10

@dataclass
class MonitorOptions:
    """Everything ``rtsep monitor`` takes. Channel lists are 0-based here."""

    input: str | None = None
    output: str | None = None
    samplerate_hz: float | None = None
    blocksize: int = 128
    input_channels: list[int] | None = None
    output_channels: list[int] | None = None
    mode: str = "instrumental"
    schedule: str = "worker"
    vocals_gain_db: float = 0.0
    instrumental_gain_db: float = 0.0
    model: str | None = None
    backend: str = "auto"
    latency_mode: str = "default"
    safety_ms: float = DEFAULT_SAFETY_MS
    realtime_priority: int = DEFAULT_REALTIME_PRIORITY
    worker_cpu: str = "pin"  # native worker: share one CPU with the callback's thread, "follow" or "any"
    cpu_dma_latency_us: int | None = None  # PM QoS wake-up latency held while running (None: off)
    midi: str | None = None
    midi_learn: bool = False
    midi_map: str | None = None
    duration_s: float | None = None
    record: str | None = None
    summary_json: str | None = None
    stall_worker_at_s: float | None = None
    stall_ms: float = 300.0
    ready_file: str | None = None
    jack_client_name: str = devmod.DEFAULT_JACK_CLIENT_NAME
    status_interval_s: float = 0.2


@dataclass
class DevicePlan:
    """What the options resolve to on this machine. Channels are 0-based."""

    input: devmod.DeviceInfo
    output: devmod.DeviceInfo
    rate_hz: int
    input_channels: list[int]
    output_channels: list[int]
    block_samples: int       # the device block the latency margin is made for
    stream_blocksize: int    # what PortAudio is asked for (0 = the host's own block)
    notes: list[str] = field(default_factory=list)

    @property
    def n_device_input_channels(self) -> int:
        return max(self.input_channels) + 1

    @property
    def n_device_output_channels(self) -> int:
        return max(self.output_channels) + 1


def db_to_gain(db: float) -> float:
    if math.isnan(db) or db > MAX_GAIN_DB:
        raise UserError(f"gain {db} dB is out of range (use up to +{MAX_GAIN_DB:g} dB, or -inf for silence)")
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


def _dbfs(peak: float) -> str:
    return f"{20.0 * math.log10(peak):6.1f}" if peak > 0.0 else "  -inf"


def check_options(opts: MonitorOptions) -> None:
    """One-line UserErrors for options that are wrong whatever the devices."""
    if opts.mode not in MODES:
        raise UserError(f"unknown mode {opts.mode!r}; choose {', '.join(MODES)}")
    if opts.schedule not in SCHEDULES:
        raise UserError(f"unknown --schedule {opts.schedule!r}; choose {', '.join(SCHEDULES)}")
    if not 1 <= opts.blocksize <= 8192:
        raise UserError(f"--blocksize must be in 1..8192, got {opts.blocksize}")
    if not 0.0 <= opts.safety_ms <= 200.0:
        raise UserError(f"--safety-ms must be in 0..200, got {opts.safety_ms}")
    if not 0 <= opts.realtime_priority <= 99:
        raise UserError(f"--realtime-priority must be in 0..99, got {opts.realtime_priority}")
    if opts.worker_cpu not in CPU_PLACEMENTS:
        raise UserError(f"--worker-cpu must be pin, follow or any, got {opts.worker_cpu!r}")
    if opts.cpu_dma_latency_us is not None and not 0 <= opts.cpu_dma_latency_us <= 10_000_000:
        raise UserError(f"--cpu-dma-latency must be off or 0..10000000 us, got {opts.cpu_dma_latency_us}")
    if opts.duration_s is not None and opts.duration_s <= 0:
        raise UserError(f"--duration must be > 0, got {opts.duration_s}")
    if opts.midi_learn and opts.midi is None:
        raise UserError("--midi-learn needs --midi PORT")
    db_to_gain(opts.vocals_gain_db)
    db_to_gain(opts.instrumental_gain_db)


def _channels(selected: list[int] | None, n_available: int, n_wanted: int, option: str,
              device: devmod.DeviceInfo) -> list[int]:
    """Validate a 0-based channel selection of n_wanted or n_wanted // 2 channels
    (default: the first n_wanted, or n_wanted // 2 if the device has fewer)."""
    n_half = max(1, n_wanted // 2)
    if selected is None:
        if n_available >= n_wanted:
            return list(range(n_wanted))
        if n_available >= n_half:
            return list(range(n_half))
        raise UserError(f"device {device.index} ({device.name}) has {n_available} channel(s); "
                        f"{option} needs {n_wanted} (pass {option}; see `rtsep devices`)")
    if len(selected) not in (n_wanted, n_half):
        raise UserError(f"{option} takes {n_wanted} or {n_half} channel(s), got {len(selected)}")
    for ch in selected:
        if ch >= n_available:
            raise UserError(f"{option}: channel {ch + 1} does not exist on device {device.index} "
                            f"({device.name}, {n_available} channel(s); see `rtsep devices`)")
    return selected


def plan_devices(opts: MonitorOptions, sd) -> DevicePlan:
    """Resolve devices, rate, channels and block; UserError (with a hint) otherwise."""
    device_list = devmod.list_devices(sd)
    in_dev = devmod.find_device(opts.input, "input", device_list)
    out_dev = devmod.find_device(opts.output, "output", device_list)
    rate_hz = devmod.check_rate(opts.samplerate_hz if opts.samplerate_hz is not None
                                else in_dev.default_samplerate_hz)
    plan = DevicePlan(
        input=in_dev, output=out_dev, rate_hz=rate_hz,
        input_channels=_channels(opts.input_channels, in_dev.n_input_channels, 2,
                                 "--input-channels", in_dev),
        output_channels=_channels(opts.output_channels, out_dev.n_output_channels,
                                  4 if opts.mode == "both" else 2, "--output-channels", out_dev),
        block_samples=opts.blocksize, stream_blocksize=opts.blocksize)
    if devmod.is_jack(in_dev) and devmod.is_jack(out_dev):
        # On JACK the callback takes JACK's period as it comes (PortAudio's
        # "unspecified" block size): a fixed size would add a hidden block of
        # re-buffering delay that no one could account for.
        plan.stream_blocksize = 0
        period = devmod.jack_period_samples()
        if period is not None and period != opts.blocksize:
            plan.notes.append(f"JACK runs {period}-sample periods: block {period}, "
                              f"not {opts.blocksize}")
            plan.block_samples = period
    try:
        sd.check_input_settings(device=in_dev.index, channels=plan.n_device_input_channels,
                                dtype="float32", samplerate=rate_hz)
        sd.check_output_settings(device=out_dev.index, channels=plan.n_device_output_channels,
                                 dtype="float32", samplerate=rate_hz)
    except sd.PortAudioError as exc:
        raise UserError(f"the devices refuse {rate_hz} Hz with {plan.n_device_input_channels} in / "
                        f"{plan.n_device_output_channels} out channels ({exc.args[0]}); "
                        "see `rtsep devices`") from None
    return plan


def make_bridge(opts: MonitorOptions, plan: DevicePlan, engine_latency_samples: int,
                inline_processor=None):
    """The native bridge and its timing: ``(bridge, timing dict)``.

    With ``inline_processor`` (a stereo :class:`rtsep._core.BlockProcessor` over the
    native model) the callback runs it: no margin, the latency is the engine's.
    Otherwise the margin is one device block plus the safety. Worker output arrives
    a device block at a time, and fading to the fallback needs ``ramp`` samples in
    hand, so the worker may deliver a block ``1 + (safety - ramp) // block`` blocks
    after it came in without a miss (``worker_deadline_blocks``).
    """
    from rtsep import _core

    rate, block = plan.rate_hz, plan.block_samples
    if inline_processor is not None:
        safety = ramp = margin = 0
    else:
        safety = round(opts.safety_ms * 1e-3 * rate)
        ramp = max(1, min(round(FALLBACK_RAMP_MS * 1e-3 * rate), safety))
        safety = max(safety, ramp)
        margin = block + safety
    bridge = _core.LiveBridge(
        sample_rate_hz=rate, n_device_input_channels=plan.n_device_input_channels,
        n_device_output_channels=plan.n_device_output_channels,
        input_channels=plan.input_channels, output_channels=plan.output_channels, mode=opts.mode,
        engine_latency_samples=engine_latency_samples, margin_samples=margin,
        fallback_ramp_samples=max(1, ramp),
        max_chunk_frames=max(1024, block) if inline_processor is None else min(max(1024, block), inline_processor.max_block_samples),
        input_ring_frames=4 * rate, record_ring_frames=2 * rate if opts.record else 0,
        inline_processor=inline_processor)
    bridge.vocals_gain = db_to_gain(opts.vocals_gain_db)
    bridge.instrumental_gain = db_to_gain(opts.instrumental_gain_db)
    total = bridge.total_latency_samples
    timing = {
        "schedule": "inline" if inline_processor is not None else "worker",
        "engine_latency_samples": engine_latency_samples, "margin_samples": margin,
        "safety_samples": safety, "fallback_ramp_samples": ramp,
        "worker_deadline_blocks": None if inline_processor is not None else 1 + (safety - ramp) // block,
        "total_latency_samples": total, "total_latency_ms": 1000.0 * total / rate,
    }
    return bridge, timing


def measure_callback_time(separator, block_samples: int, n_callbacks: int = 400) -> float:
    """p99 time (s) of one callback's separation at ``block_samples``: the separator's
    block processor on noise, one device block at a time; then reset."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, block_samples))).astype(np.float32)
    v, i = np.empty_like(x), np.empty_like(x)
    times = []
    for _ in range(n_callbacks):
        t0 = time.perf_counter()
        separator.process_into(x, v, i)
        times.append(time.perf_counter() - t0)
    separator.reset()
    return float(np.percentile(times, 99))


def choose_schedule(opts: MonitorOptions, separator, plan: DevicePlan) -> tuple[str, str]:
    """``(schedule, why)``: ``inline`` or ``worker`` for ``opts.schedule``.

    Inline needs the native model (the callback must not wait for Python). ``auto``
    picks it when the measured p99 time of one callback's separation is at most
    :data:`INLINE_BUDGET` of the block period.
    """
    backend = getattr(separator.runner, "backend", "")
    if backend not in ("native",):
        if opts.schedule == "inline":
            raise UserError(f"--schedule inline needs the native model (a .rtsepw file, --backend "
                            f"native); the {backend} backend runs Python, which the audio callback "
                            "must not wait for")
        return "worker", f"the {backend} backend runs Python, which the audio callback must not wait for"
    if opts.schedule == "worker":
        return "worker", "asked for (--schedule worker)"
    period_s = plan.block_samples / plan.rate_hz
    p99 = measure_callback_time(separator, min(plan.block_samples, MAX_WORKER_CHUNK_SAMPLES))
    share = p99 / period_s
    measured = (f"measured p99 {1e3 * p99:.2f} ms per {plan.block_samples}-sample callback = "
                f"{100 * share:.0f}% of its {1e3 * period_s:.2f} ms period")
    if opts.schedule == "inline":
        return "inline", f"asked for (--schedule inline); {measured}"
    if share <= INLINE_BUDGET:
        return "inline", f"{measured} (inline up to {100 * INLINE_BUDGET:.0f}%)"
    return "worker", f"{measured}: above {100 * INLINE_BUDGET:.0f}%, so a worker thread"


class _Stop:
    """Stop request shared by the signal handler and the main loop."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()


class Session:
    """The running parts: stream, worker, recorder, MIDI; :meth:`run` drives them.

    Build everything (which may raise :class:`UserError`) in the constructor;
    :meth:`run` starts the stream, loops until told to stop, and always stops
    and closes every part, in order (stream first, so no callback runs on a
    bridge that is going away).
    """

    def __init__(self, opts: MonitorOptions, sd, plan: DevicePlan, bridge, separator, summary: dict,
                 log=sys.stderr) -> None:
        from rtsep.live.worker import Worker

        self.opts, self.sd, self.plan, self.bridge, self.summary, self.log = (
            opts, sd, plan, bridge, summary, log)
        self.separator = separator
        # Inline: the callback runs the separator's block processor; no worker thread.
        self.worker = None if bridge.is_inline else Worker(
            bridge, separator, realtime_priority=opts.realtime_priority, cpu_placement=opts.worker_cpu)
        self.stop = _Stop()
        self.controller = self.midi_input = self.recorder = self.stream = None
        self.cpu_latency = None
        self._cpu_times_at_start = None
        self.started_at: float | None = None
        self._map_saved = False
        try:
            self._open_midi()
            if opts.record:
                from rtsep.live.recorder import Recorder

                self.recorder = Recorder(bridge, opts.record, plan.rate_hz)
            self._open_stream()
        except BaseException:
            self.close()
            raise

    # -- setup -------------------------------------------------------------------------

    def _open_midi(self) -> None:
        opts = self.opts
        if opts.midi is None:
            return
        from rtsep.live.midi import MidiController, MidiInput, MidiMap, choose_api

        midi_map = MidiMap.default()
        if opts.midi_map and (Path(opts.midi_map).exists() or not opts.midi_learn):
            midi_map = MidiMap.load(opts.midi_map)
        self.controller = MidiController(self.bridge, midi_map, learn=opts.midi_learn)
        api = choose_api(prefer_jack=devmod.is_jack(self.plan.input))
        self.midi_input = MidiInput(opts.midi, self.controller, api)
        self.summary["midi_port"] = self.midi_input.port_name

    def _open_stream(self) -> None:
        from rtsep import _core

        sd, plan = self.sd, self.plan
        callback = sd._ffi.cast("PaStreamCallback *", _core.live_callback_address())
        userdata = sd._ffi.cast("void *", self.bridge.address)
        try:
            self.stream = sd._StreamBase(
                kind="duplex", samplerate=plan.rate_hz, blocksize=plan.stream_blocksize,
                device=(plan.input.index, plan.output.index),
                channels=(plan.n_device_input_channels, plan.n_device_output_channels),
                dtype="float32", latency="low", callback=callback, userdata=userdata,
                wrap_callback=None)
        except sd.PortAudioError as exc:
            raise UserError(f"cannot open the audio stream ({exc}); see `rtsep devices`") from None

    # -- running -----------------------------------------------------------------------

    def run(self) -> None:
        """Start, print, loop until the duration, SIGTERM or Ctrl-C; then stop everything."""
        previous_handler = None
        try:
            block = min(self.plan.block_samples, MAX_WORKER_CHUNK_SAMPLES)
            if self.worker is not None:
                self.worker.warm_up(block_samples=block)
            else:  # first-use costs out of the first callbacks; reset() clears the stream
                measure_callback_time(self.separator, block, n_callbacks=16)
                self.bridge.reset()
            # A full garbage collection walks every object the model, numpy and the
            # audio libraries made (about 10 ms here) in whichever thread allocates
            # at that moment, often the worker: a late block. Everything loaded so
            # far lives until the end, so move it out of the collector's sight.
            gc.collect()
            gc.freeze()
            self.cpu_latency = CpuLatencyRequest(self.opts.cpu_dma_latency_us)
            self.summary["cpu_dma_latency"] = self.cpu_latency.status
            if self.worker is not None:
                self.worker.start()
            if self.recorder is not None:
                self.recorder.start()
            if threading.current_thread() is threading.main_thread():
                previous_handler = signal.signal(signal.SIGTERM, lambda *_: self.stop.set("signal"))
            self._print_start()
            self._cpu_times_at_start = cpu_steal_times()
            self.stream.start()
            self.started_at = time.monotonic()
            if self.opts.ready_file:
                Path(self.opts.ready_file).write_text(json.dumps(self.summary) + "\n")
            self._loop()
        except KeyboardInterrupt:
            self.stop.set("interrupt")
        finally:
            self.close()
            gc.unfreeze()
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)

    @property
    def device_lost(self) -> bool:
        """The host stopped a started stream by itself (device unplugged, JACK server gone)."""
        return self.started_at is not None and self.stream is not None and not self.stream.active

    def close(self) -> None:
        """Stop and close every part (idempotent)."""
        if self.stream is not None:
            if self.device_lost:
                # PortAudio would wait forever for a callback that will not come
                # (stop, abort and Pa_Terminate at exit alike): leave the stream to the OS.
                import atexit

                atexit.unregister(self.sd._exit_handler)
                self.summary["device_lost"] = True
            else:
                self.stream.stop()
                self.stream.close()
            self.stream = None
        if self.worker is not None:
            self.worker.stop()
        if self.cpu_latency is not None:
            self.cpu_latency.release()
        if self.recorder is not None:
            self.recorder.stop()
        if self.midi_input is not None:
            self.midi_input.close()
            self.midi_input = None

    def _print_start(self) -> None:
        s, plan, log = self.summary, self.plan, self.log
        print(f"rtsep monitor: {plan.input.name} ({plan.input.host_api}) -> {plan.output.name}, "
              f"{plan.rate_hz} Hz, block {plan.block_samples}, mode {self.opts.mode}, model "
              f"{s['model']} ({s['backend']})", file=log)
        for note in plan.notes:
            print(f"rtsep monitor: {note}", file=log)
        print(f"rtsep monitor: schedule {s['schedule']}: {s['schedule_reason']}", file=log)
        if self.worker is None:
            print(f"rtsep monitor: latency {s['total_latency_samples']} samples "
                  f"({s['total_latency_ms']:.2f} ms) = the engine's (the callback runs the model)",
                  file=log)
        else:
            deadline_ms = 1000.0 * s["worker_deadline_blocks"] * plan.block_samples / plan.rate_hz
            print(f"rtsep monitor: latency {s['total_latency_samples']} samples "
                  f"({s['total_latency_ms']:.2f} ms) = engine {s['engine_latency_samples']} + block "
                  f"{plan.block_samples} + safety {s['safety_samples']}; worker deadline "
                  f"{s['worker_deadline_blocks']} block(s) ({deadline_ms:.2f} ms)", file=log)
        if self.opts.realtime_priority > 0 and self.worker is not None:
            print(f"rtsep monitor: worker scheduling: {self.worker.scheduling}", file=log)
        if self.cpu_latency is not None and self.opts.cpu_dma_latency_us is not None:
            print(f"rtsep monitor: CPU wake-up latency limit: {self.cpu_latency.status}", file=log)
        if self.controller is not None:
            learn = (" (learn: move the vocal level CC, then the instrumental level CC)"
                     if self.controller.learning else "")
            print(f"rtsep monitor: MIDI from {s['midi_port']}{learn}", file=log)

    def _loop(self) -> None:
        opts, bridge, worker, log = self.opts, self.bridge, self.worker, self.log
        tty = hasattr(log, "isatty") and log.isatty()
        print_every_s = opts.status_interval_s if tty else 1.0
        stall_pending = opts.stall_worker_at_s is not None
        next_status = self.started_at + print_every_s
        peaks = [0.0, 0.0]
        last = (0.0, 0)  # worker busy seconds and samples at the last status line
        while not self.stop.event.wait(min(0.05, opts.status_interval_s)):
            now = time.monotonic()
            elapsed = now - self.started_at
            if opts.duration_s is not None and elapsed >= opts.duration_s:
                self.stop.set("duration")
                break
            if stall_pending and elapsed >= opts.stall_worker_at_s and worker is not None:
                worker.stall(opts.stall_ms * 1e-3)
                stall_pending = False
                print(f"rtsep monitor: test hook: worker stalled for {opts.stall_ms:g} ms", file=log)
            if worker is not None and not worker.alive:
                self.stop.set("worker failed")
                break
            if self.device_lost:
                self.stop.set("device lost")
                break
            if self.recorder is not None and self.recorder.error is not None:
                self.stop.set("recorder failed")
                break
            self._midi_housekeeping(tty)
            peaks = [max(peaks[0], bridge.take_input_peak()), max(peaks[1], bridge.take_output_peak())]
            if now >= next_status:
                load = None
                if worker is not None:
                    samples = worker.n_samples - last[1]
                    load = (worker.busy_s - last[0]) * self.plan.rate_hz / samples if samples else 0.0
                    last = (worker.busy_s, worker.n_samples)
                line = self._status_line(peaks, load)
                print(("\r" + line + "   ") if tty else line, end="" if tty else "\n", file=log,
                      flush=True)
                peaks = [0.0, 0.0]
                next_status = now + print_every_s
        if tty:
            print(file=log)

    def _status_line(self, peaks: list[float], load: float | None) -> str:
        stats, s = self.bridge.stats(), self.summary
        where = "inline" if load is None else f"worker {100.0 * load:3.0f}%"
        return (f"in {_dbfs(peaks[0])} dBFS  out {_dbfs(peaks[1])} dBFS  latency "
                f"{s['total_latency_samples']} smp ({s['total_latency_ms']:.2f} ms)  {where}  "
                f"misses {stats['n_missed_blocks']}  xruns "
                f"{stats['n_xrun_callbacks']}"
                + ("" if self.bridge.on_worker_output else "  [fallback]")
                + ("  [bypass]" if self.bridge.bypass else ""))

    def _midi_housekeeping(self, tty: bool) -> None:
        """Print MIDI events; save a learned map as soon as learning is done."""
        from rtsep.live.midi import print_events

        c = self.controller
        if c is None:
            return
        if tty and c.events:
            print(file=self.log)
        print_events(c, self.log)
        if self.opts.midi_map and c.learned and not c.learning and not self._map_saved:
            c.map.save(self.opts.midi_map)
            self._map_saved = True
            print(f"rtsep monitor: MIDI map saved to {self.opts.midi_map}", file=self.log)

    # -- the end -----------------------------------------------------------------------

    def finish(self) -> dict:
        """After :meth:`run`: report failures, save the MIDI map, complete the summary."""
        c = self.controller
        if c is not None:
            self._midi_housekeeping(tty=False)
            if self.opts.midi_map and c.learned:
                c.map.save(self.opts.midi_map)  # a partly learned map too
                if not self._map_saved:
                    print(f"rtsep monitor: MIDI map saved to {self.opts.midi_map}", file=self.log)
        for part, thread in (("worker", self.worker), ("recorder", self.recorder)):
            if thread is not None and thread.error is not None:
                err = thread.error
                raise UserError(f"the {part} failed: {type(err).__name__}: {err}") from err
        stats = self.bridge.stats()
        w = self.worker
        if self._cpu_times_at_start is not None:
            self.summary["host_steal_share"] = steal_share(self._cpu_times_at_start, cpu_steal_times())
        self.summary["timing"] = timing_summary(self.bridge.timing(), self.plan.block_samples,
                                                self.plan.rate_hz, self.bridge.margin_samples,
                                                self.bridge.fallback_ramp_samples)
        self.summary.update({
            "duration_s": 0.0 if self.started_at is None else time.monotonic() - self.started_at,
            "stopped_by": self.stop.reason or "end",
            "misses": stats["n_missed_blocks"], "xruns": stats["n_xrun_callbacks"], "stats": stats,
            "worker": None if w is None else {
                "load": w.load, "max_chunk_load": w.max_chunk_busy_ratio, "n_samples": w.n_samples,
                "scheduling": w.scheduling, "n_cpu_moves": w.n_cpu_moves,
                "n_callback_pins": w.n_callback_pins},
            "midi": None if c is None else c.stats(),
            "record": None if self.recorder is None else {"path": str(self.recorder.path),
                                                          "n_samples": self.recorder.n_samples},
        })
        return self.summary


def histogram_percentile(counts: list[int], bin_ms: float, q: float) -> float | None:
    """Upper edge (ms) of the bin holding the ``q``-quantile of a histogram; None if empty."""
    total = sum(counts)
    if total == 0:
        return None
    target, seen = q * total, 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= target:
            return (i + 1) * bin_ms
    return len(counts) * bin_ms


def timing_summary(t: dict, block_samples: int, rate_hz: int, margin_samples: int,
                   ramp_samples: int) -> dict:
    """The bridge's timing (:meth:`LiveBridge.timing`) with percentiles and the deadline.

    ``deadline_ms``: how long after a callback pushed its input the worker may
    deliver the output for it without a miss, at a steady callback rhythm
    (1 + (margin - block - ramp) // block periods). A miss with a normal callback
    gap before it and a response time above the deadline is the worker's; one
    after a host stall (a gap well above the period) or inside a burst of
    callbacks (a gap well below it: the host catching up after a stall, which
    JACK reports as an xrun) is the host's timing. ``misses`` lists the first
    256, each with ``host_irregular`` (gap outside 0.5-1.5 periods);
    ``n_misses_regular_host`` counts those that came with regular host timing.
    """
    period_ms = 1e3 * block_samples / rate_hz
    bin_ms = t["histogram_bin_ms"]
    n_periods = 1 + max(0, margin_samples - block_samples - ramp_samples) // block_samples
    out = {k: v for k, v in t.items() if k != "misses"}
    out.update({
        "period_ms": period_ms,
        "deadline_ms": n_periods * period_ms,
        "response_p50_ms": histogram_percentile(t["response_histogram"], bin_ms, 0.5),
        "response_p99_ms": histogram_percentile(t["response_histogram"], bin_ms, 0.99),
        "response_p999_ms": histogram_percentile(t["response_histogram"], bin_ms, 0.999),
        "callback_gap_p999_ms": histogram_percentile(t["callback_gap_histogram"], bin_ms, 0.999),
        "n_late_callbacks": sum(c for i, c in enumerate(t["callback_gap_histogram"])
                                if i * bin_ms >= 2.0 * period_ms),
        "misses": [dict(m, host_irregular=not 0.5 * period_ms <= m["gap_ms"] <= 1.5 * period_ms)
                   for m in t["misses"]],
    })
    own = [m for m in out["misses"] if not m["host_irregular"]]
    out["n_misses_recorded"] = len(out["misses"])
    out["n_misses_host_irregular"] = len(out["misses"]) - len(own)
    out["n_misses_regular_host"] = len(own)
    return out


def live_backend(model, backend: str, log=sys.stderr) -> str:
    """``auto`` for live use: ``native`` when the model has a native export beside it
    (the worker is then one C++ thread, no Python between device and model),
    else the runtime's own ``auto`` choice. Other names pass through."""
    from rtsep.engine import IDENTITY_MODEL, default_model_path

    if backend != "auto" or (model is not None and str(model) == IDENTITY_MODEL):
        return backend
    path = Path(model) if model is not None else default_model_path()
    if path.suffix == ".rtsepw" or path.with_suffix(".rtsepw").is_file():
        print("rtsep monitor: backend auto -> native (a native worker thread: no Python between "
              "the device and the model)", file=log)
        return "native"
    return backend


def run_monitor(opts: MonitorOptions, log=sys.stderr) -> dict:
    """Run live monitoring until the duration, Ctrl-C or SIGTERM; returns the summary."""
    check_options(opts)
    sd = devmod.portaudio(opts.jack_client_name)
    plan = plan_devices(opts, sd)

    from rtsep.engine import Separator

    separator = Separator.from_model(opts.model, backend=live_backend(opts.model, opts.backend, log),
                                     latency_mode=opts.latency_mode, sample_rate_hz=plan.rate_hz,
                                     max_block_samples=MAX_WORKER_CHUNK_SAMPLES)
    runner = separator.runner
    schedule, why = choose_schedule(opts, separator, plan)
    bridge, timing = make_bridge(opts, plan, separator.latency_samples,
                                 separator.block if schedule == "inline" else None)
    timing["schedule_reason"] = why
    summary = {
        "input_device": plan.input.to_dict(), "output_device": plan.output.to_dict(),
        "sample_rate_hz": plan.rate_hz, "blocksize": plan.block_samples, "mode": opts.mode,
        "model": str(getattr(runner, "path", None) or opts.model or "identity"),
        "backend": runner.backend, "latency_mode": opts.latency_mode,
        "input_channels": [c + 1 for c in plan.input_channels],
        "output_channels": [c + 1 for c in plan.output_channels], **timing,
    }
    session = Session(opts, sd, plan, bridge, separator, summary, log)
    session.run()
    summary = session.finish()
    print_summary(summary, log)
    if opts.summary_json:
        try:
            Path(opts.summary_json).write_text(json.dumps(summary, indent=1) + "\n")
        except OSError as exc:
            raise UserError(f"{opts.summary_json}: cannot write the summary ({exc.strerror})") from None
    if summary.get("device_lost"):
        raise UserError("the audio stream stopped by itself (device gone, or the JACK server quit)")
    return summary


def print_summary(s: dict, log=sys.stderr) -> None:
    st = s["stats"]
    print(f"rtsep monitor: stopped after {s['duration_s']:.1f} s ({s['stopped_by']})", file=log)
    if s["schedule"] == "inline":
        print(f"  latency {s['total_latency_samples']} samples ({s['total_latency_ms']:.2f} ms) = the "
              "engine's (inline: the callback runs the model)", file=log)
    else:
        print(f"  latency {s['total_latency_samples']} samples ({s['total_latency_ms']:.2f} ms) = engine "
              f"{s['engine_latency_samples']} + block {s['blocksize']} + safety {s['safety_samples']}",
              file=log)
    print(f"  misses {s['misses']} blocks ({st['n_miss_events']} events, {st['n_fallback_frames']} "
          f"fallback samples), xruns {s['xruns']}, input dropped {st['n_input_dropped_frames']}, "
          f"callbacks {st['n_callbacks']}", file=log)
    if s.get("worker"):
        print(f"  worker load {100.0 * s['worker']['load']:.1f}% (worst chunk "
              f"{100.0 * s['worker']['max_chunk_load']:.0f}%)", file=log)
    steal = s.get("host_steal_share")
    if steal:  # a virtual machine whose hypervisor ran something else on our CPUs
        print(f"  host: the hypervisor took {100.0 * steal:.2f}% of the CPU time (steal)"
              f"{'; misses and xruns then measure the host' if steal > 0.01 else ''}", file=log)
    t = s.get("timing")
    if t and t.get("response_p99_ms") is not None and s["schedule"] == "inline":
        print(f"  callback duration p50 <= {t['response_p50_ms']:.2f} ms, p99.9 <= "
              f"{t['response_p999_ms']:.2f} ms, max {t['max_response_ms']:.2f} ms (period "
              f"{t['period_ms']:.2f} ms); callback gap max {t['max_callback_gap_ms']:.2f} ms "
              f"({t['n_late_callbacks']} callbacks >= 2 periods late)", file=log)
    elif t and t.get("response_p99_ms") is not None:
        print(f"  worker response p50 <= {t['response_p50_ms']:.2f} ms, p99.9 <= "
              f"{t['response_p999_ms']:.2f} ms, max {t['max_response_ms']:.2f} ms (deadline "
              f"{t['deadline_ms']:.2f} ms); callback gap max {t['max_callback_gap_ms']:.2f} ms "
              f"(period {t['period_ms']:.2f} ms, {t['n_late_callbacks']} callbacks >= 2 periods late)",
              file=log)
        for m in t["misses"][:5]:
            print(f"  miss at {m['t_s']:.2f} s: {m['gap_ms']:.2f} ms since the previous callback"
                  f"{' (irregular host timing)' if m['host_irregular'] else ''}, "
                  f"{m['available_frames']} worker samples waiting", file=log)
    if s.get("midi"):
        m = s["midi"]
        print(f"  MIDI {m['n_messages']} messages: {m['n_applied']} applied, {m['n_ignored']} ignored "
              f"(malformed), {m['n_unmapped']} unmapped, {m['n_pickup_waits']} waiting for pickup",
              file=log)
    if s.get("record"):
        print(f"  recorded {s['record']['n_samples']} samples to {s['record']['path']}", file=log)
