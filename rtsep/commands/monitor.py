"""Live separation from an audio input to an output, at a fixed latency.

Default: karaoke (the instrumental) from the default devices at their rate
(44100 or 48000 Hz), 128-sample blocks, with the shipped model. The latency,
printed at start, is the engine's (STFT windows) plus one device block plus
--safety-ms with the model on a worker thread; it never drifts. If the worker is
ever late, the dry input delayed by that same latency plays instead (cross-faded)
and the miss is counted. With --schedule inline (the native model) the audio
callback runs the model itself and the latency is the engine's alone.
Stop with Ctrl-C (or SIGTERM); a summary is printed at exit.
"""

from __future__ import annotations

import argparse

from rtsep.commands.keys import add_key_arguments, add_strength_argument
from rtsep.config import MAX_GAIN_DB, MODES
from rtsep.live.options import DEFAULT_REALTIME_PRIORITY, DEFAULT_SAFETY_MS, SCHEDULES
from rtsep.live.worker import CPU_PLACEMENTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    dev = parser.add_argument_group("devices")
    dev.add_argument("-i", "--input", help="input device: index or name substring (see `rtsep devices`)")
    dev.add_argument("-o", "--output", help="output device: index or name substring")
    dev.add_argument("--samplerate", type=float, help="sample rate in Hz: 44100 or 48000 "
                                                      "(default: the input device's)")
    dev.add_argument("--blocksize", type=int, default=128, help="device block in samples (default 128)")
    dev.add_argument("--input-channels", metavar="LIST",
                     help="1-based input channels, one (mono) or two: e.g. 1,2 (default: 1,2)")
    dev.add_argument("--output-channels", metavar="LIST",
                     help="1-based output channels: two (L,R; four for --mode both: vocals L,R, "
                          "instrumental L,R), or one per pair for a mono downmix (default: 1,2[,3,4])")
    dev.add_argument("--schedule", choices=SCHEDULES, default="worker",
                     help="where the model runs: inline = in the audio callback (native model only; "
                          "the latency is the engine's alone, a late callback is an xrun the host "
                          "counts); worker = on its own thread (latency + one block + --safety-ms, "
                          "a late hop plays the dry input instead); auto = inline when the native "
                          "model's measured p99 time per callback is at most half the block period, "
                          "else worker (the start-up line says why). Default worker")
    dev.add_argument("--safety-ms", type=float, default=DEFAULT_SAFETY_MS,
                     help="scheduling safety added to the latency, in ms (default 4). The model "
                          "may finish a block 1 + floor((safety - 1 ms) / block) blocks after it "
                          "came in: 2 blocks at the defaults")
    dev.add_argument("--realtime-priority", type=int, default=DEFAULT_REALTIME_PRIORITY, metavar="N",
                     help="run the model worker thread SCHED_FIFO at priority N (Linux; needs "
                          "permission, e.g. the audio group's rtprio limit; where refused it runs "
                          f"at normal priority and says so); 0 = normal (default {DEFAULT_REALTIME_PRIORITY})")
    dev.add_argument("--worker-cpu", choices=CPU_PLACEMENTS, default="pin",
                     help="native worker thread: pin = bind the audio callback's thread to the CPU it "
                          "first runs on and run the worker there too, so the callback's wake-up of "
                          "the worker never waits for an idle CPU to come out of a deep idle state "
                          "(the callback thread's affinity is restored at stop); follow = move the "
                          "worker to the CPU the callback last ran on, without binding the callback; "
                          "any = let the scheduler place it (default pin)")
    dev.add_argument("--cpu-dma-latency", type=_cpu_latency, default=None, metavar="USEC|off",
                     help="while running, ask Linux to keep every CPU's wake-up latency under USEC "
                          "(PM QoS /dev/cpu_dma_latency, as cyclictest does): idle CPUs then poll "
                          "instead of sleeping deeply, so the worker wakes on time; costs power. "
                          "Needs write access to the device (root or a udev rule); where refused "
                          "it says so and runs without. Default off: on the 2-vCPU VM of "
                          "benchmarks/RESULTS.md it did not help")
    mix = parser.add_argument_group("output")
    mix.add_argument("--mode", choices=MODES, default="instrumental",
                     help="what to play: instrumental (karaoke, default), vocals, both (vocals on one "
                          "output pair, instrumental on the next) or mix (vocals + instrumental at "
                          "their gains)")
    mix.add_argument("--vocals-gain-db", "--vocal-gain-db", type=float, default=0.0,
                     help=f"vocals gain in dB, at most +{MAX_GAIN_DB:g} (default 0)")
    mix.add_argument("--instrumental-gain-db", type=float, default=0.0,
                     help=f"instrumental gain in dB, at most +{MAX_GAIN_DB:g} (default 0)")
    add_key_arguments(mix)
    add_strength_argument(mix)
    mix.add_argument("--record", metavar="FILE", help="also write the output to this WAV file")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="model file (default: the shipped models/rtsep-default.onnx); "
                                       "'identity' plays the input back through the whole machinery")
    model.add_argument("--backend", default="auto",
                       help="runtime backend: auto (the default: native when the model has a .rtsepw "
                            "export beside it, run in a native worker thread; else ONNX Runtime), "
                            "native, onnx-cpu, onnx-cuda, torchscript-cpu or torchscript-cuda")
    model.add_argument("--latency", choices=("default", "low"), default="default",
                       help="latency mode of the STFT windows")
    midi = parser.add_argument_group("MIDI")
    midi.add_argument("--midi", metavar="PORT",
                      help="MIDI input port: index or name substring (`rtsep devices --midi`); "
                           "default map CC7 vocal level, CC11 instrumental level, note 60 vocal mute, "
                           "62 solo vocals, 64 bypass")
    midi.add_argument("--midi-learn", action="store_true",
                      help="learn: the next CC moved becomes the vocal level, the next different CC "
                           "the instrumental level (saved to --midi-map)")
    midi.add_argument("--midi-map", metavar="FILE", help="MIDI map JSON to load (and to save after learn)")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    run_group.add_argument("--summary-json", metavar="FILE", help="write the exit summary as JSON")
    # Test hooks (hidden): stall the worker to exercise the fallback; signal readiness.
    run_group.add_argument("--stall-worker-at", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    run_group.add_argument("--stall-ms", type=float, default=300.0, help=argparse.SUPPRESS)
    run_group.add_argument("--ready-file", help=argparse.SUPPRESS)
    run_group.add_argument("--jack-name", default="rtsep", help=argparse.SUPPRESS)


def _cpu_latency(text: str) -> int | None:
    if text.strip().lower() == "off":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected microseconds or 'off', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected microseconds >= 0 or 'off', got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from rtsep.live.devices import parse_channels
    from rtsep.live.options import MonitorOptions
    from rtsep.live.session import run_monitor

    opts = MonitorOptions(
        input=args.input, output=args.output, samplerate_hz=args.samplerate,
        blocksize=args.blocksize,
        input_channels=parse_channels(args.input_channels, "--input-channels"),
        output_channels=parse_channels(args.output_channels, "--output-channels"),
        mode=args.mode, schedule=args.schedule, vocals_gain_db=args.vocals_gain_db,
        instrumental_gain_db=args.instrumental_gain_db, key_semitones=args.key_semitones,
        vocals_key_semitones=args.vocals_key_semitones, strength=args.strength, model=args.model,
        backend=args.backend,
        latency_mode=args.latency, safety_ms=args.safety_ms,
        realtime_priority=args.realtime_priority, cpu_dma_latency_us=args.cpu_dma_latency,
        worker_cpu=args.worker_cpu,
        midi=args.midi,
        midi_learn=args.midi_learn, midi_map=args.midi_map, duration_s=args.duration,
        record=args.record, summary_json=args.summary_json,
        stall_worker_at_s=args.stall_worker_at, stall_ms=args.stall_ms,
        ready_file=args.ready_file, jack_client_name=args.jack_name)
    run_monitor(opts)
    return 0
