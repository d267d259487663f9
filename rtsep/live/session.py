"""A live monitoring session: device stream, native callback, worker, controls.

:func:`run_monitor` is what ``rtsep monitor`` runs:

The parts live by concern: :mod:`rtsep.live.options` (options, plan, defaults),
:mod:`rtsep.live.plan` (devices), :mod:`rtsep.live.schedule` (inline or worker, the
bridge), :mod:`rtsep.live.summary` (the exit summary); this module runs them.

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
from pathlib import Path

from rtsep.errors import UserError
from rtsep.live import devices as devmod
from rtsep.live.cpu_latency import CpuLatencyRequest, cpu_steal_times, steal_share
from rtsep.live.options import MAX_WORKER_CHUNK_SAMPLES, DevicePlan, MonitorOptions, check_options
from rtsep.live.plan import live_backend, plan_devices
from rtsep.live.schedule import choose_schedule, make_bridge, measure_callback_time
from rtsep.live.summary import MonitorSummary, print_summary, timing_summary

def _dbfs(peak: float) -> str:
    return f"{20.0 * math.log10(peak):6.1f}" if peak > 0.0 else "  -inf"


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
            bridge, realtime_priority=opts.realtime_priority, cpu_placement=opts.worker_cpu)
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
        self.controller = MidiController(self.bridge.parameters, midi_map, learn=opts.midi_learn)
        api = choose_api(prefer_jack=devmod.is_jack(self.plan.input))
        self.midi_input = MidiInput(opts.midi, self.controller, api)
        self.summary.midi_port = self.midi_input.port_name

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
            self.summary.cpu_dma_latency = self.cpu_latency.status
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
                Path(self.opts.ready_file).write_text(json.dumps(self.summary.to_dict()) + "\n")
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
                self.summary.device_lost = True
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
              f"{s.model} ({s.backend})", file=log)
        for note in plan.notes:
            print(f"rtsep monitor: {note}", file=log)
        print(f"rtsep monitor: schedule {s.schedule}: {s.schedule_reason}", file=log)
        if self.worker is None:
            print(f"rtsep monitor: latency {s.total_latency_samples} samples "
                  f"({s.total_latency_ms:.2f} ms) = the engine's (the callback runs the model)",
                  file=log)
        else:
            deadline_ms = 1000.0 * s.worker_deadline_blocks * plan.block_samples / plan.rate_hz
            print(f"rtsep monitor: latency {s.total_latency_samples} samples "
                  f"({s.total_latency_ms:.2f} ms) = engine {s.engine_latency_samples} + block "
                  f"{plan.block_samples} + safety {s.safety_samples}; worker deadline "
                  f"{s.worker_deadline_blocks} block(s) ({deadline_ms:.2f} ms)", file=log)
        if self.opts.realtime_priority > 0 and self.worker is not None:
            print(f"rtsep monitor: worker scheduling: {self.worker.scheduling}", file=log)
        if self.cpu_latency is not None and self.opts.cpu_dma_latency_us is not None:
            print(f"rtsep monitor: CPU wake-up latency limit: {self.cpu_latency.status}", file=log)
        if s.key_semitones or s.vocals_key_semitones:
            print(f"rtsep monitor: key: instrumental {s.key_semitones:+g}, vocals "
                  f"{s.vocals_key_semitones:+g} semitones (no extra latency)", file=log)
        if s.strength != 1.0:
            print(f"rtsep monitor: separation strength {s.strength:g}", file=log)
        if self.controller is not None:
            learn = (" (learn: move the vocal level CC, then the instrumental level CC)"
                     if self.controller.learning else "")
            print(f"rtsep monitor: MIDI from {s.midi_port}{learn}", file=log)

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
                f"{s.total_latency_samples} smp ({s.total_latency_ms:.2f} ms)  {where}  "
                f"misses {stats['n_missed_blocks']}  xruns "
                f"{stats['n_xrun_callbacks']}"
                + ("" if self.bridge.on_worker_output else "  [fallback]")
                + ("  [bypass]" if self.bridge.parameters.bypass else ""))

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

    def finish(self) -> MonitorSummary:
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
        s = self.summary
        if self._cpu_times_at_start is not None:
            s.host_steal_share = steal_share(self._cpu_times_at_start, cpu_steal_times())
        s.timing = timing_summary(self.bridge.timing(), self.plan.block_samples, self.plan.rate_hz,
                                  self.bridge.margin_samples, self.bridge.fallback_ramp_samples)
        s.duration_s = 0.0 if self.started_at is None else time.monotonic() - self.started_at
        s.stopped_by = self.stop.reason or "end"
        s.misses, s.xruns, s.stats = stats["n_missed_blocks"], stats["n_xrun_callbacks"], stats
        s.worker = None if w is None else {
            "load": w.load, "max_chunk_load": w.max_chunk_busy_ratio, "n_samples": w.n_samples,
            "scheduling": w.scheduling, "n_cpu_moves": w.n_cpu_moves,
            "n_callback_pins": w.n_callback_pins}
        s.midi = None if c is None else c.stats()
        s.record = None if self.recorder is None else {"path": str(self.recorder.path),
                                                       "n_samples": self.recorder.n_samples}
        return s


def run_monitor(opts: MonitorOptions, log=sys.stderr) -> MonitorSummary:
    """Run live monitoring until the duration, Ctrl-C or SIGTERM; returns the summary."""
    check_options(opts)
    sd = devmod.portaudio(opts.jack_client_name)
    plan = plan_devices(opts, sd)

    from rtsep.engine import Separator

    separator = Separator.from_model(opts.model, backend=live_backend(opts.model, opts.backend, log),
                                     latency_mode=opts.latency_mode, sample_rate_hz=plan.rate_hz,
                                     max_block_samples=MAX_WORKER_CHUNK_SAMPLES)
    runner = separator.runner
    separator.block.parameters.key_semitones = opts.key_semitones
    separator.block.parameters.vocals_key_semitones = opts.vocals_key_semitones
    separator.block.parameters.strength = opts.strength
    separator.reset()  # start in key (no fade in); the schedule is timed with these on
    schedule, why = choose_schedule(opts, separator, plan)
    bridge, timing = make_bridge(opts, plan, separator.block, schedule)
    timing["schedule_reason"] = why
    summary = MonitorSummary(
        input_device=plan.input.to_dict(), output_device=plan.output.to_dict(),
        sample_rate_hz=plan.rate_hz, blocksize=plan.block_samples, mode=opts.mode,
        model=str(getattr(runner, "path", None) or opts.model or "identity"),
        backend=runner.backend, latency_mode=opts.latency_mode,
        input_channels=[c + 1 for c in plan.input_channels],
        output_channels=[c + 1 for c in plan.output_channels], key_semitones=opts.key_semitones,
        vocals_key_semitones=opts.vocals_key_semitones, strength=opts.strength, **timing)
    session = Session(opts, sd, plan, bridge, separator, summary, log)
    session.run()
    summary = session.finish()
    print_summary(summary, log)
    if opts.summary_json:
        try:
            Path(opts.summary_json).write_text(json.dumps(summary.to_dict(), indent=1) + "\n")
        except OSError as exc:
            raise UserError(f"{opts.summary_json}: cannot write the summary ({exc.strerror})") from None
    if summary.device_lost:
        raise UserError("the audio stream stopped by itself (device gone, or the JACK server quit)")
    return summary
