"""A live monitoring session: device stream, native callback, worker, controls.

:func:`run_monitor` is what ``rtsep monitor`` runs:

1. find the devices and check the rate (44.1 or 48 kHz, run natively; other
   rates are refused, not resampled) and the channel selections;
2. load the model (or the identity test processor) into an
   :class:`rtsep.engine.Separator`;
3. build the :class:`rtsep._core.LiveBridge` with the fixed latency
   ``engine latency + block + safety`` and hand its native callback to
   PortAudio (``sounddevice._StreamBase`` with a C function pointer, as
   python-rtmixer does);
4. run the worker thread, the optional recorder and MIDI input, and print a
   status line until the duration ends, Ctrl-C or SIGTERM;
5. stop everything and return (and print) a summary.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rtsep.errors import UserError
from rtsep.live import devices as devmod

MODES = ("vocals", "instrumental", "both", "mix")
#: Cross-fade to and from the fallback, in ms (at most the safety margin).
FALLBACK_RAMP_MS = 1.0


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
    vocal_gain_db: float = 0.0
    instrumental_gain_db: float = 0.0
    model: str | None = None
    backend: str = "auto"
    latency_mode: str = "default"
    safety_ms: float = 3.0
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


def db_to_gain(db: float) -> float:
    if math.isnan(db) or db > 40.0:
        raise UserError(f"gain {db} dB is out of range (use up to +40 dB, or -inf for silence)")
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


def _dbfs(peak: float) -> str:
    return f"{20.0 * math.log10(peak):6.1f}" if peak > 0.0 else "  -inf"


def _check_options(opts: MonitorOptions) -> None:
    if opts.mode not in MODES:
        raise UserError(f"unknown mode {opts.mode!r}; choose {', '.join(MODES)}")
    if not 1 <= opts.blocksize <= 8192:
        raise UserError(f"--blocksize must be in 1..8192, got {opts.blocksize}")
    if not 0.0 <= opts.safety_ms <= 200.0:
        raise UserError(f"--safety-ms must be in 0..200, got {opts.safety_ms}")
    if opts.duration_s is not None and opts.duration_s <= 0:
        raise UserError(f"--duration must be > 0, got {opts.duration_s}")
    if opts.midi_learn and opts.midi is None:
        raise UserError("--midi-learn needs --midi PORT")


def _channels(selected: list[int] | None, n_available: int, n_wanted: int, option: str,
              device: devmod.DeviceInfo, allow_half: bool) -> list[int]:
    """Validate a 0-based channel selection (default: the first n_wanted channels)."""
    if selected is None:
        if n_available >= n_wanted:
            return list(range(n_wanted))
        if allow_half and n_available >= max(1, n_wanted // 2):
            return list(range(max(1, n_wanted // 2)))
        raise UserError(f"device {device.index} ({device.name}) has {n_available} channel(s); "
                        f"{option} needs {n_wanted} (pass {option}; see `rtsep devices`)")
    allowed = (n_wanted, n_wanted // 2) if allow_half else (1, 2)
    if len(selected) not in allowed:
        what = " or ".join(str(a) for a in allowed)
        raise UserError(f"{option} takes {what} channel(s), got {len(selected)}")
    for ch in selected:
        if ch >= n_available:
            raise UserError(f"{option}: channel {ch + 1} does not exist on device {device.index} "
                            f"({device.name}, {n_available} channel(s); see `rtsep devices`)")
    return selected


class _Stop:
    """Stop request shared by the signal handler and the main loop."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()


def run_monitor(opts: MonitorOptions, log=sys.stderr) -> dict:
    """Run live monitoring until the duration, Ctrl-C or SIGTERM; returns the summary."""
    _check_options(opts)
    sd = devmod.portaudio(opts.jack_client_name)
    device_list = devmod.list_devices(sd)
    in_dev = devmod.find_device(opts.input, "input", device_list)
    out_dev = devmod.find_device(opts.output, "output", device_list)
    rate_hz = devmod.check_rate(opts.samplerate_hz if opts.samplerate_hz is not None
                                else in_dev.default_samplerate_hz)
    n_routed = 4 if opts.mode == "both" else 2
    in_channels = _channels(opts.input_channels, in_dev.n_input_channels, 2, "--input-channels",
                            in_dev, allow_half=True)
    out_channels = _channels(opts.output_channels, out_dev.n_output_channels, n_routed,
                             "--output-channels", out_dev, allow_half=True)
    n_dev_in, n_dev_out = max(in_channels) + 1, max(out_channels) + 1
    # On JACK the callback gets JACK's period as is (PortAudio's "unspecified"
    # block size): a fixed size would add a hidden block of re-buffering delay.
    block = opts.blocksize
    stream_blocksize = opts.blocksize
    notes = []
    if devmod.is_jack(in_dev) and devmod.is_jack(out_dev):
        stream_blocksize = 0
        period = devmod.jack_period_samples()
        if period is not None and period != opts.blocksize:
            notes.append(f"JACK runs {period}-sample periods: using block {period}, not {opts.blocksize}")
            block = period
    try:
        sd.check_input_settings(device=in_dev.index, channels=n_dev_in, dtype="float32",
                                samplerate=rate_hz)
        sd.check_output_settings(device=out_dev.index, channels=n_dev_out, dtype="float32",
                                 samplerate=rate_hz)
    except sd.PortAudioError as exc:
        raise UserError(f"the devices refuse {rate_hz} Hz with {n_dev_in} in / {n_dev_out} out "
                        f"channels ({exc.args[0]}); see `rtsep devices`") from None

    from rtsep import _core
    from rtsep.engine import Separator, load_runner

    runner = load_runner(opts.model, backend=opts.backend, latency_mode=opts.latency_mode,
                         sample_rate_hz=rate_hz)
    max_chunk = 4096
    separator = Separator(runner, max_block_samples=max_chunk)

    ramp_samples = max(1, round(FALLBACK_RAMP_MS * 1e-3 * rate_hz))
    safety_samples = round(opts.safety_ms * 1e-3 * rate_hz)
    ramp_samples = max(1, min(ramp_samples, safety_samples))
    safety_samples = max(safety_samples, ramp_samples)
    margin_samples = block + safety_samples
    bridge = _core.LiveBridge(
        sample_rate_hz=rate_hz, n_device_input_channels=n_dev_in,
        n_device_output_channels=n_dev_out, input_channels=in_channels,
        output_channels=out_channels, mode=opts.mode,
        engine_latency_samples=separator.latency_samples, margin_samples=margin_samples,
        fallback_ramp_samples=ramp_samples, max_chunk_frames=max(1024, block),
        input_ring_frames=4 * rate_hz, record_ring_frames=2 * rate_hz if opts.record else 0)
    bridge.vocals_gain = db_to_gain(opts.vocal_gain_db)
    bridge.instrumental_gain = db_to_gain(opts.instrumental_gain_db)

    total = bridge.total_latency_samples
    summary: dict = {
        "input_device": in_dev.to_dict(), "output_device": out_dev.to_dict(),
        "sample_rate_hz": rate_hz, "blocksize": block, "mode": opts.mode,
        "model": str(getattr(runner, "path", None) or opts.model or "identity"),
        "backend": runner.backend, "latency_mode": opts.latency_mode,
        "input_channels": [c + 1 for c in in_channels],
        "output_channels": [c + 1 for c in out_channels],
        "engine_latency_samples": bridge.engine_latency_samples,
        "margin_samples": margin_samples, "safety_samples": safety_samples,
        "fallback_ramp_samples": ramp_samples,
        "total_latency_samples": total, "total_latency_ms": 1000.0 * total / rate_hz,
    }

    from rtsep.live.midi import MidiController, MidiInput, MidiMap, choose_api, print_events
    from rtsep.live.recorder import Recorder
    from rtsep.live.worker import Worker

    controller = midi_input = recorder = stream = None
    worker = Worker(bridge, separator, max_chunk_samples=max_chunk)
    stop = _Stop()
    previous_handler = None
    started_at = None
    try:
        if opts.midi is not None:
            midi_map = MidiMap.default()
            if opts.midi_map and (Path(opts.midi_map).exists() or not opts.midi_learn):
                midi_map = MidiMap.load(opts.midi_map)
            controller = MidiController(bridge, midi_map, learn=opts.midi_learn)
            api = choose_api(prefer_jack="JACK" in in_dev.host_api.upper())
            midi_input = MidiInput(opts.midi, controller, api)
            summary["midi_port"] = midi_input.port_name
        if opts.record:
            recorder = Recorder(bridge, opts.record, rate_hz)
        callback = sd._ffi.cast("PaStreamCallback *", _core.live_callback_address())
        userdata = sd._ffi.cast("void *", bridge.address)
        try:
            stream = sd._StreamBase(
                kind="duplex", samplerate=rate_hz, blocksize=stream_blocksize,
                device=(in_dev.index, out_dev.index), channels=(n_dev_in, n_dev_out),
                dtype="float32", latency="low", callback=callback, userdata=userdata,
                wrap_callback=None)
        except sd.PortAudioError as exc:
            raise UserError(f"cannot open the audio stream ({exc}); see `rtsep devices`") from None
        worker.warm_up(block_samples=min(block, max_chunk))
        worker.start()
        if recorder is not None:
            recorder.start()
        if threading.current_thread() is threading.main_thread():
            previous_handler = signal.signal(signal.SIGTERM, lambda *_: stop.set("signal"))
        print(f"rtsep monitor: {in_dev.name} ({in_dev.host_api}) -> {out_dev.name}, {rate_hz} Hz, "
              f"block {block}, mode {opts.mode}, model {summary['model']} "
              f"({runner.backend})", file=log)
        for note in notes:
            print(f"rtsep monitor: {note}", file=log)
        print(f"rtsep monitor: latency {total} samples ({summary['total_latency_ms']:.2f} ms) = "
              f"engine {bridge.engine_latency_samples} + block {block} + safety "
              f"{safety_samples}", file=log)
        if controller is not None:
            print(f"rtsep monitor: MIDI from {summary['midi_port']}"
                  + (" (learn: move the vocal level CC, then the instrumental level CC)"
                     if controller.learning else ""), file=log)
        stream.start()
        started_at = time.monotonic()
        if opts.ready_file:
            Path(opts.ready_file).write_text(json.dumps(summary) + "\n")
        _main_loop(opts, bridge, worker, recorder, controller, stop, started_at, total, rate_hz, log)
    except KeyboardInterrupt:
        stop.set("interrupt")
    finally:
        if stream is not None:
            stream.stop()
            stream.close()
        worker.stop()
        if recorder is not None:
            recorder.stop()
        if midi_input is not None:
            midi_input.close()
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    if controller is not None:
        print_events(controller, log)
        if opts.midi_map and controller.learned:
            controller.map.save(opts.midi_map)
            print(f"rtsep monitor: MIDI map saved to {opts.midi_map}", file=log)
    for part, thread in (("worker", worker), ("recorder", recorder)):
        if thread is not None and thread.error is not None:
            err = thread.error
            raise UserError(f"the {part} failed: {type(err).__name__}: {err}") from err

    stats = bridge.stats()
    summary.update({
        "duration_s": 0.0 if started_at is None else time.monotonic() - started_at,
        "stopped_by": stop.reason or "end",
        "misses": stats["n_missed_blocks"], "xruns": stats["n_xrun_callbacks"],
        "stats": stats,
        "worker": {"load": worker.load, "max_chunk_load": worker.max_chunk_busy_ratio,
                   "n_samples": worker.n_samples},
        "midi": None if controller is None else controller.stats(),
        "record": None if recorder is None else {"path": str(recorder.path),
                                                  "n_samples": recorder.n_samples},
    })
    _print_summary(summary, log)
    if opts.summary_json:
        try:
            Path(opts.summary_json).write_text(json.dumps(summary, indent=1) + "\n")
        except OSError as exc:
            raise UserError(f"{opts.summary_json}: cannot write the summary ({exc.strerror})") from None
    return summary


def _main_loop(opts, bridge, worker, recorder, controller, stop, started_at, total, rate_hz, log):
    from rtsep.live.midi import print_events

    tty = hasattr(log, "isatty") and log.isatty()
    print_every_s = opts.status_interval_s if tty else 1.0
    stalled = opts.stall_worker_at_s is None
    next_status = started_at + print_every_s
    in_peak = out_peak = 0.0
    last_busy, last_samples = 0.0, 0
    while not stop.event.wait(min(0.05, opts.status_interval_s)):
        now = time.monotonic()
        elapsed = now - started_at
        if opts.duration_s is not None and elapsed >= opts.duration_s:
            stop.set("duration")
            break
        if not stalled and elapsed >= opts.stall_worker_at_s:
            worker.stall(opts.stall_ms * 1e-3)
            stalled = True
            print(f"rtsep monitor: test hook: worker stalled for {opts.stall_ms:g} ms", file=log)
        if not worker.alive:
            stop.set("worker failed")
            break
        if recorder is not None and recorder.error is not None:
            stop.set("recorder failed")
            break
        if controller is not None:
            if tty and controller.events:
                print(file=log)
            print_events(controller, log)
        in_peak = max(in_peak, bridge.take_input_peak())
        out_peak = max(out_peak, bridge.take_output_peak())
        if now >= next_status:
            stats = bridge.stats()
            d_samples = worker.n_samples - last_samples
            load = (worker.busy_s - last_busy) * rate_hz / d_samples if d_samples else 0.0
            last_busy, last_samples = worker.busy_s, worker.n_samples
            line = (f"in {_dbfs(in_peak)} dBFS  out {_dbfs(out_peak)} dBFS  latency {total} smp "
                    f"({1000.0 * total / rate_hz:.2f} ms)  worker {100.0 * load:3.0f}%  "
                    f"misses {stats['n_missed_blocks']}  xruns {stats['n_xrun_callbacks']}"
                    + ("" if bridge.on_worker_output else "  [fallback]")
                    + ("  [bypass]" if bridge.bypass else ""))
            print(("\r" + line + "   ") if tty else line, end="" if tty else "\n", file=log, flush=True)
            in_peak = out_peak = 0.0
            next_status = now + print_every_s
    if tty:
        print(file=log)


def _print_summary(s: dict, log) -> None:
    st = s["stats"]
    print(f"rtsep monitor: stopped after {s['duration_s']:.1f} s ({s['stopped_by']})", file=log)
    print(f"  latency {s['total_latency_samples']} samples ({s['total_latency_ms']:.2f} ms) = engine "
          f"{s['engine_latency_samples']} + block {s['blocksize']} + safety {s['safety_samples']}",
          file=log)
    print(f"  misses {s['misses']} blocks ({st['n_miss_events']} events, {st['n_fallback_frames']} "
          f"fallback samples), xruns {s['xruns']}, input dropped {st['n_input_dropped_frames']}, "
          f"callbacks {st['n_callbacks']}", file=log)
    print(f"  worker load {100.0 * s['worker']['load']:.1f}% (worst chunk "
          f"{100.0 * s['worker']['max_chunk_load']:.0f}%)", file=log)
    if s.get("midi"):
        m = s["midi"]
        print(f"  MIDI {m['n_messages']} messages: {m['n_applied']} applied, {m['n_ignored']} ignored "
              f"(malformed), {m['n_unmapped']} unmapped, {m['n_pickup_waits']} waiting for pickup",
              file=log)
    if s.get("record"):
        print(f"  recorded {s['record']['n_samples']} samples to {s['record']['path']}", file=log)
