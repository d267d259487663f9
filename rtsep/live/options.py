"""What ``rtsep monitor`` takes (:class:`MonitorOptions`), what it resolves to on this
machine (:class:`DevicePlan`), and the live defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from rtsep.config import MODES, check_gain_db, check_key_semitones, check_strength
from rtsep.errors import UserError
from rtsep.live import devices as devmod
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
    key_semitones: float = 0.0          # the instrumental's key change (MIDI moves it)
    vocals_key_semitones: float = 0.0   # the vocals' (formants kept)
    strength: float = 1.0               # separation strength (MIDI may move it)
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
    checks = {"vocals_gain_db": check_gain_db, "instrumental_gain_db": check_gain_db,
              "key_semitones": check_key_semitones, "vocals_key_semitones": check_key_semitones,
              "strength": check_strength}
    for name, check in checks.items():
        try:
            check(getattr(opts, name), f"--{name.replace('_', '-')}")
        except ValueError as e:
            raise UserError(str(e)) from None
