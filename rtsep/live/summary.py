"""The monitor's summary (:class:`MonitorSummary`, written by ``--summary-json`` and
``--ready-file`` and read back by the benchmarks), its timing percentiles
(:func:`timing_summary`) and the printed report (:func:`print_summary`)."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class MonitorSummary:
    """What a monitor run is and did. The start-up part is known before the stream
    starts (``--ready-file`` holds it); the rest is filled in at exit."""

    input_device: dict
    output_device: dict
    sample_rate_hz: int
    blocksize: int
    mode: str
    model: str
    backend: str
    latency_mode: str
    input_channels: list
    output_channels: list
    schedule: str                     # inline | worker
    schedule_reason: str
    engine_latency_samples: int
    margin_samples: int               # 0 inline; block + safety with a worker
    safety_samples: int
    fallback_ramp_samples: int
    worker_deadline_blocks: int | None
    total_latency_samples: int        # device input to device output
    total_latency_ms: float
    midi_port: str | None = None
    key_semitones: float = 0.0        # at the start (MIDI may move it: see midi)
    vocals_key_semitones: float = 0.0
    strength: float = 1.0             # at the start (MIDI may move it)
    cpu_dma_latency: str | None = None
    device_lost: bool = False
    duration_s: float = 0.0
    stopped_by: str = ""
    misses: int = 0                   # blocks with any fallback sample (worker late)
    xruns: int = 0                    # callbacks the host flagged
    stats: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    worker: dict | None = None        # None inline
    midi: dict | None = None
    record: dict | None = None
    host_steal_share: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MonitorSummary":
        """From a summary JSON; a field missing from it is an error, extra keys are not."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{k: d[k] for k in names if k in d})

    @classmethod
    def load(cls, path) -> "MonitorSummary":
        return cls.from_dict(json.loads(Path(path).read_text()))


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


def print_summary(s: MonitorSummary, log=sys.stderr) -> None:
    st = s.stats
    print(f"rtsep monitor: stopped after {s.duration_s:.1f} s ({s.stopped_by})", file=log)
    if s.schedule == "inline":
        print(f"  latency {s.total_latency_samples} samples ({s.total_latency_ms:.2f} ms) = the "
              "engine's (inline: the callback runs the model)", file=log)
    else:
        print(f"  latency {s.total_latency_samples} samples ({s.total_latency_ms:.2f} ms) = engine "
              f"{s.engine_latency_samples} + block {s.blocksize} + safety {s.safety_samples}",
              file=log)
    print(f"  misses {s.misses} blocks ({st['n_miss_events']} events, {st['n_fallback_frames']} "
          f"fallback samples), xruns {s.xruns}, input dropped {st['n_input_dropped_frames']}, "
          f"callbacks {st['n_callbacks']}", file=log)
    if s.worker:
        print(f"  worker load {100.0 * s.worker['load']:.1f}% (worst chunk "
              f"{100.0 * s.worker['max_chunk_load']:.0f}%)", file=log)
    steal = s.host_steal_share
    if steal:  # a virtual machine whose hypervisor ran something else on our CPUs
        print(f"  host: the hypervisor took {100.0 * steal:.2f}% of the CPU time (steal)"
              f"{'; misses and xruns then measure the host' if steal > 0.01 else ''}", file=log)
    t = s.timing
    if t and t.get("response_p99_ms") is not None and s.schedule == "inline":
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
    if s.midi:
        m = s.midi
        print(f"  MIDI {m['n_messages']} messages: {m['n_applied']} applied, {m['n_ignored']} ignored "
              f"(malformed), {m['n_unmapped']} unmapped, {m['n_pickup_waits']} waiting for pickup",
              file=log)
    if s.record:
        print(f"  recorded {s.record['n_samples']} samples to {s.record['path']}", file=log)
