"""The whole ``rtsep bench`` run: every part, in one process, on one test signal.

Parts (each can be skipped): ``jack`` (measured delay through JACK),
``compute`` (compute per hop per backend and mode), ``schedule`` (deadline
misses of a simulated real-time schedule in-process), ``monitor`` (deadline
misses and xruns of ``rtsep monitor`` on a JACK dummy server), ``loaded`` (the
schedule and monitor runs again with the other cores busy), ``naive``
(sliding-window sequence mode), ``peers`` (HT-Demucs, Open-Unmix).
The algorithmic latency table is always computed (it costs nothing).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rtsep.errors import UserError

PARTS = ("jack", "compute", "schedule", "monitor", "loaded", "naive", "peers")
#: Safety part of the scheduling margin the miss target is judged at: the
#: margin is one device block + this (DESIGN.md: "device block + safety"), the
#: same default as ``rtsep monitor --safety-ms``.
from rtsep.live.options import DEFAULT_SAFETY_MS  # noqa: E402
TARGET_P99_SHARE = 0.25
TARGET_NAIVE_RATIO = 10.0


@dataclass
class BenchOptions:
    """What to run. ``None`` fields take the full or ``quick`` default.

    ``duration_s``: length of each deadline-miss run (default 300 s; quick 4 s).
    ``n_hops``: timed hops per backend and mode (default 20000; quick 1000).
    """

    out_dir: Path = Path("benchmarks/results")
    model: str | None = None
    quick: bool = False
    duration_s: float | None = None
    block_samples: int = 128
    jack_block_sizes: tuple = (64, 128, 256)
    backends: tuple | None = None
    latency_modes: tuple = ("default", "low")
    n_hops: int | None = None
    n_threads: int = 1
    safety_ms: float = DEFAULT_SAFETY_MS
    naive_windows_s: tuple | None = None
    skip: frozenset = field(default_factory=frozenset)
    results_md: Path | None = None
    realtime_server: bool = False
    command: str = "rtsep bench"

    def resolved(self) -> "BenchOptions":
        q = self.quick
        unknown = set(self.skip) - set(PARTS)
        if unknown:
            raise UserError(f"unknown part(s) to skip: {', '.join(sorted(unknown))}; "
                            f"choose from {', '.join(PARTS)}")
        skip = set(self.skip) | ({"monitor", "loaded", "peers"} if q else set())
        duration = self.duration_s if self.duration_s is not None else (4.0 if q else 300.0)
        n_hops = self.n_hops if self.n_hops is not None else (1000 if q else 20000)
        windows = self.naive_windows_s if self.naive_windows_s is not None else (
            (1.0,) if q else (1.0, 2.0))
        if (duration <= 0 or n_hops < 10 or not 1 <= self.block_samples <= 8192
                or self.safety_ms < 0 or self.n_threads < 1):
            raise UserError("--duration must be > 0, --n-hops >= 10, --block-samples in "
                            "[1, 8192], --safety-ms >= 0 and --threads >= 1")
        return BenchOptions(Path(self.out_dir), self.model, q, duration, self.block_samples,
                            tuple(self.jack_block_sizes), self.backends, tuple(self.latency_modes),
                            n_hops, self.n_threads, self.safety_ms, tuple(windows),
                            frozenset(skip), self.results_md, self.command)


def _cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else the platform's machine name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _meta(opts: BenchOptions) -> dict:
    from rtsep import __version__

    return {"rtsep_version": __version__,
            "created_utc": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "machine": _cpu_model(),
            "platform": platform.platform(), "python": platform.python_version(),
            "n_cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
            "niceness": os.nice(0), "quick": opts.quick, "command": opts.command,
            "skipped_parts": sorted(opts.skip)}


def run_bench(options: BenchOptions, log=lambda msg: print(msg, file=sys.stderr)) -> dict:
    """Run the benchmark; returns the result dict (see ``report.markdown`` for its parts).

    Writes nothing; :func:`rtsep.bench.report.write_all` does.
    """
    from rtsep.bench.audio import bench_audio
    from rtsep.bench.latency import algorithmic_latency
    from rtsep.bench.modelsource import RANDOM_TRAINING_NOTE, choose_model
    from rtsep.runtime import inspect

    opts = options.resolved()
    t_start = time.monotonic()
    result: dict = {"meta": _meta(opts)}
    with tempfile.TemporaryDirectory(prefix="rtsep-bench-") as scratch:
        choice = choose_model(opts.model, Path(scratch), log=log)
        meta = inspect(choice.path).metadata
        hop, n_fft, rates = meta["hop_samples"], meta["n_fft"], tuple(meta["sample_rates_hz"])
        rate = max(rates)
        trained = choice.trained and meta.get("training_data") != RANDOM_TRAINING_NOTE
        result["model"] = {"path": str(choice.path), "trained": trained, "note": choice.note,
                           "n_parameters": meta.get("n_parameters", 0),
                           "macs_per_frame": meta.get("macs_per_frame", 0)}
        result["hop_samples"] = hop
        audio, source = bench_audio(int(20 * rate), rate)
        result["audio"] = source
        result["algorithmic_latency"] = algorithmic_latency(n_fft, hop, rates)
        safety = round(opts.safety_ms * 1e-3 * rate)
        result["scheduling_margin"] = {
            "block_samples": opts.block_samples, "safety_samples": safety,
            "margin_samples": opts.block_samples + safety,
            "margin_ms": 1e3 * (opts.block_samples + safety) / rate,
            "what": f"block {opts.block_samples} + safety {safety} samples"}

        if "compute" not in opts.skip:
            from rtsep.bench.compute import compute_per_hop

            result["compute_per_hop"] = compute_per_hop(
                choice.path, audio, backends=opts.backends, latency_modes=opts.latency_modes,
                sample_rates_hz=rates, n_hops=opts.n_hops, n_warmup=min(200, opts.n_hops // 5),
                n_threads=opts.n_threads, log=log)

        if "naive" not in opts.skip:
            result["naive"] = _naive(choice.path, meta, audio, opts, log)

        if "jack" not in opts.skip:
            from rtsep.bench.jackdelay import measure_jack_delays

            result["jack_delay"] = measure_jack_delays(
                (opts.block_samples,) if opts.quick else opts.jack_block_sizes,
                opts.latency_modes, sample_rate_hz=rate,
                stimulus_s=0.3 if opts.quick else 0.6, log=log)
            if result["jack_delay"].get("skipped"):
                log(f"JACK delay: skipped: {result['jack_delay']['skipped']}")

        if not {"schedule", "monitor"} <= opts.skip:
            result["deadline_misses"] = _deadline_misses(choice.path, audio, rate, opts,
                                                         result["scheduling_margin"], log)

        peers = []
        if "peers" not in opts.skip:
            from rtsep.bench.peers import time_peers

            peers = time_peers(n_runs=2, log=log)
        result["peers"] = peers

    result["alternatives"] = _alternatives(result, rate)
    result["targets"] = _targets(result, opts)
    result["meta"]["elapsed_s"] = round(time.monotonic() - t_start, 1)
    return result


def _naive(model_path, meta: dict, audio, opts: BenchOptions, log) -> dict:
    """Sliding-window sequence mode through the same engine, ONNX Runtime, one thread."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return {"skipped": "needs torch to export a sequence-mode graph", "rows": []}
    from rtsep.bench.compute import cdf_points, engine_hop_times
    from rtsep.bench.naive import SlidingWindowRunner, export_sequence_onnx
    from rtsep.bench.timing import summarize
    from rtsep.config import StftGeometry
    from rtsep.engine import Separator

    rates = tuple(meta["sample_rates_hz"])
    rate = max(rates)
    geometry = StftGeometry(meta["n_fft"], meta["hop_samples"], "default")
    rows = []
    for window_s in opts.naive_windows_s:
        n_frames = max(2, round(window_s * rate / geometry.hop_samples))
        log(f"naive: exporting a {n_frames}-frame ({window_s:g} s) sequence-mode graph")
        data, diff = export_sequence_onnx(meta.get("model_config"), n_frames)
        if not diff <= 1e-4:
            rows.append({"window_s": window_s, "n_window_frames": n_frames,
                         "skipped": f"sequence-mode ONNX differs from PyTorch by {diff:.2g}"})
            continue
        runner = SlidingWindowRunner(data, geometry, n_frames, sample_rate_hz=rate,
                                     n_threads=opts.n_threads)
        separator = Separator(runner, max_block_samples=8192)
        # About 8 s of compute per window in a full run; the window sets the cost per call.
        n_calls = 12 if opts.quick else max(40, int(8000 / (40 * window_s)))
        log(f"naive: {n_calls} hops through the engine with a {window_s:g} s window")
        times = engine_hop_times(separator, audio, n_calls, n_warmup=3)
        rows.append({"window_s": window_s, "n_window_frames": n_frames, "backend": runner.backend,
                     "check_max_abs_diff": diff, "latency_samples": separator.latency_samples,
                     "engine": summarize(times, geometry.hop_samples, rates),
                     "engine_cdf": cdf_points(times), "_engine_times_s": times,
                     "weights": "random init, same architecture (cost does not depend on weights)"})
    return {"rows": rows, "n_threads": opts.n_threads}


def _deadline_misses(model_path, audio, rate: int, opts: BenchOptions, result_margin: dict,
                     log) -> dict:
    """Idle, then loaded: the in-process schedule and ``rtsep monitor`` on JACK."""
    from rtsep.bench.compute import usable_backends
    from rtsep.bench.jackdelay import monitor_misses
    from rtsep.bench.schedule import cpu_load, n_other_cores, simulate_schedule
    from rtsep.engine import Separator
    from rtsep.runtime import load

    names, _ = usable_backends(model_path, opts.backends)
    backend = "onnx-cpu" if "onnx-cpu" in names else (names[0] if names else None)
    if backend is None:
        return {"skipped": ["no backend can run the model here"], "runs": [], "monitor_runs": []}
    mode = "default"
    separator = None
    if "schedule" not in opts.skip:
        runner = load(model_path, backend=backend, latency_mode=mode, sample_rate_hz=rate,
                      n_threads=opts.n_threads)
        separator = Separator(runner, max_block_samples=max(8192, opts.block_samples))
    runs, monitor_runs, skipped = [], [], []
    design_margin = result_margin["margin_samples"]
    margins = [m * opts.block_samples for m in (1, 2, 3, 4)] + [design_margin]

    def one_round(load_name: str) -> None:
        if separator is not None:
            log(f"deadline misses ({load_name}): in-process schedule, {opts.duration_s:g} s at "
                f"{opts.block_samples}-frame blocks")
            run = simulate_schedule(separator, audio, block_samples=opts.block_samples,
                                    sample_rate_hz=rate, duration_s=opts.duration_s,
                                    margins_samples=margins)
            runs.append({"load": load_name, **run})
        for schedule in ("worker", "inline") if "monitor" not in opts.skip else ():
            if schedule == "inline" and not Path(model_path).with_suffix(".rtsepw").is_file():
                skipped.append(f"rtsep monitor inline ({load_name}): no native export beside "
                               f"{model_path}")
                continue
            log(f"deadline misses ({load_name}): rtsep monitor on JACK, {schedule}, "
                f"{opts.duration_s:g} s")
            # rtsep monitor's own backend choice (auto: the native model when it has a
            # native export), as a user runs it.
            got = monitor_misses(model_path, audio, duration_s=opts.duration_s,
                                 block_samples=opts.block_samples, sample_rate_hz=rate,
                                 latency_mode=mode, backend=None, schedule=schedule,
                                 realtime_server=opts.realtime_server, log=log)
            if "skipped" in got:
                skipped.append(f"rtsep monitor run ({load_name}, {schedule}): {got['skipped']}")
            else:
                monitor_runs.append({"load": load_name, **got})

    one_round("idle")
    if "loaded" not in opts.skip:
        n_load = n_other_cores()
        n_parts = (separator is not None) + 2 * ("monitor" not in opts.skip)
        with cpu_load(n_load, n_parts * (opts.duration_s + 60)) as what:
            one_round(what)
    else:
        skipped.append("loaded runs skipped" + (" (--quick)" if opts.quick else ""))
    if "schedule" in opts.skip:
        skipped.append("in-process schedule skipped")
    if "monitor" in opts.skip:
        skipped.append("rtsep monitor runs skipped" + (" (--quick)" if opts.quick else ""))
    return {"backend": backend, "latency_mode": mode, "design_margin_samples": design_margin,
            "runs": runs, "monitor_runs": monitor_runs, "skipped": skipped}


def _f_ms(value) -> str:
    return "—" if value is None else f"{value:.2f} ms"


def _row_ms(summary: dict) -> str:
    return f"p50 {summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms per hop"


def _alternatives(result: dict, rate: int) -> dict:
    """Side-by-side rows: rtsep streaming, naive sliding windows, offline separators."""
    from rtsep.bench.naive import latency_to_keep_up

    key = str(rate)
    alg = {r["latency_mode"]: r for r in result["algorithmic_latency"] if r["sample_rate_hz"] == rate}
    alg_ms = alg["default"]["latency_ms"]
    hop_ms = alg["default"]["hop_period_ms"]
    margin_ms = result["scheduling_margin"]["margin_ms"]
    rows, notes = [], []
    comp = result.get("compute_per_hop") or {}
    stream = next((r for r in comp.get("rows", [])
                   if r["backend"] == "onnx-cpu" and r["latency_mode"] == "default"
                   and r.get("key", "off") == "off"), None)
    if stream is None and comp.get("rows"):
        stream = comp["rows"][0]
    if stream is not None:
        e = stream["engine"]
        need = latency_to_keep_up(e["p99_ms"], hop_ms, alg_ms)
        rows.append({"approach": f"rtsep streaming ({stream['backend']}, default mode)",
                     "compute": _row_ms(e),
                     "load": f"{100 * e['per_rate'][key]['p99_share']:.1f}% (p99) / RTF "
                             f"{e['per_rate'][key]['rtf']:.3f}",
                     "latency": f"{alg_ms:.2f} ms algorithmic + {margin_ms:.2f} ms scheduling "
                                f"margin = {alg_ms + margin_ms:.2f} ms",
                     "sdr": "see RESULTS.md quality section (not published)",
                     "needs": need})
    naive_rows = (result.get("naive") or {}).get("rows", [])
    for r in naive_rows:
        if r.get("skipped"):
            rows.append({"approach": f"naive sliding window {r['window_s']:g} s",
                         "compute": f"skipped: {r['skipped']}", "load": "—", "latency": "—",
                         "sdr": "—"})
            continue
        e = r["engine"]
        need = latency_to_keep_up(e["p99_ms"], hop_ms, alg_ms)
        r["needs"] = need
        ratio = (e["p50_ms"] / stream["engine"]["p50_ms"]) if stream is not None else None
        r["ratio_p50_vs_streaming"] = ratio
        keep = ("keeps up every hop" if need["keeps_up_every_hop"] else
                f"cannot run every hop; batching {need['hops_per_run']} hops per run needs "
                f"{need['needed_latency_ms']:.1f} ms")
        rows.append({"approach": f"naive: sequence mode over the last {r['window_s']:g} s "
                                 f"({r['n_window_frames']} frames) every hop, ONNX Runtime",
                     "compute": _row_ms(e) + (f" ({ratio:.0f}x streaming p50)" if ratio else ""),
                     "load": f"{100 * e['per_rate'][key]['p99_share']:.0f}% (p99) / RTF "
                             f"{e['per_rate'][key]['rtf']:.2f}",
                     "latency": f"same {alg_ms:.2f} ms algorithmic; {keep}",
                     "sdr": "—"})
    if naive_rows:
        notes.append("Naive rows: the same engine (STFT, mask, iSTFT) around a sequence-mode ONNX "
                     "graph of the same architecture with a fixed window (random weights); both "
                     "sides ONNX Runtime, one thread. 'needs' = algorithmic latency + (k - 1) hops "
                     "+ one run, with k = ceil(p99 run time / hop) hops batched per run.")
    for p in result.get("peers") or []:
        pub = p.get("published") or {}
        sdr = (f"{pub['vocals_sdr_db']:.2f} dB (published)" if "vocals_sdr_db" in pub else "—")
        forced = (f"≥ {p['forced_latency_ms']:.0f} ms ({p['forced_latency_samples']} samples at "
                  f"{p.get('sample_rate_hz', 0) / 1000:g} kHz): "
                  f"{p.get('forced_latency_why', '')}") if "forced_latency_ms" in p else "—"
        if p.get("skipped"):
            rows.append({"approach": p.get("name", p["key"]), "compute": p["skipped"],
                         "load": "—", "latency": forced, "sdr": sdr})
            continue
        unit = "segment" if "seconds_per_segment" in p else "excerpt"
        secs = min(p.get("seconds_per_segment") or p.get("seconds_per_excerpt"))
        rtf_extra = (f" ({p['rtf_with_overlap']:.2f} with demucs' 25% overlap)"
                     if "rtf_with_overlap" in p else "")
        rows.append({"approach": f"{p['name']}, {p['n_parameters'] / 1e6:.1f} M parameters",
                     "compute": f"{secs:.2f} s per {p.get('segment_s', p.get('excerpt_s')):g}-s "
                                f"{unit}",
                     "load": f"RTF {p['rtf']:.2f}{rtf_extra}"
                             + (f"; published RTF {pub['rtf_one_core']}" if "rtf_one_core" in pub
                                else ""),
                     "latency": forced, "sdr": sdr})
    if result.get("peers"):
        notes.append("Offline separators: architectures with random weights, one thread "
                     "(`torch.set_num_threads(1)`), timed on the same audio; SDRs are the "
                     "published MUSDB18 figures, not measured here: "
                     + "; ".join(f"{p.get('name', p['key'])}: {p['published']['source']}"
                                 for p in result["peers"] if p.get("published")))
    return {"rows": rows, "naive": naive_rows, "notes": notes}


def _targets(result: dict, opts: BenchOptions) -> list[dict]:
    targets = []
    comp = result.get("compute_per_hop") or {}
    keyed = [r for r in comp.get("rows", []) if r.get("key", "off") != "off"]
    for r in keyed:
        share = r["engine"]["per_rate"]["48000"]["p99_share"]
        targets.append({"target": f"p99 compute per hop with a key change ({r['key']}) <= 25% of "
                                  f"the hop period ({r['backend']}, {comp['n_threads']} thread, 48 kHz)",
                        "met": share <= TARGET_P99_SHARE, "value": f"{100 * share:.1f}%"})
    onnx = [r for r in comp.get("rows", []) if r["backend"] == "onnx-cpu" and r.get("key", "off") == "off"]
    if onnx:
        worst = max(r["engine"]["per_rate"]["48000"]["p99_share"] for r in onnx)
        targets.append({"target": f"p99 compute per hop <= 25% of the hop period (onnx-cpu, "
                                  f"{comp['n_threads']} thread, whole engine, 48 kHz)",
                        "met": worst <= TARGET_P99_SHARE, "value": f"{100 * worst:.1f}%"})
    else:
        targets.append({"target": "p99 compute per hop <= 25% of the hop period", "met": None,
                        "value": "onnx-cpu not timed"})
    runs = (result.get("deadline_misses") or {}).get("monitor_runs", [])
    if not any(r["load"] == "idle" and r.get("n_misses") is not None for r in runs):
        targets.append({"target": "0 deadline misses in 5 minutes idle (rtsep monitor on JACK)",
                        "met": None, "value": "not run"})
    for mon in runs:
        if mon.get("n_misses") is None:
            continue
        where = "idle" if mon["load"] == "idle" else f"loaded ({mon['load']})"
        if mon.get("schedule") == "inline":  # no misses inline: a late callback is an xrun
            t = mon.get("timing") or {}
            targets.append({"target": f"rtsep monitor inline on JACK, {where}, over "
                                      f"{mon['duration_s']:.0f} s: callbacks within the period",
                            "met": None,
                            "value": f"{mon['n_xruns']} xruns (host-reported) in {mon['n_blocks']} "
                                     f"blocks; callback p99.9 <= {_f_ms(t.get('response_p999_ms'))}, "
                                     f"max {_f_ms(t.get('max_response_ms'))} of a "
                                     f"{_f_ms(t.get('period_ms'))} period"})
            continue
        targets.append({"target": f"0 misses of rtsep monitor on JACK, {where}, over "
                                  f"{mon['duration_s']:.0f} s (its own margin, "
                                  f"{mon['margin_samples']} samples)",
                        "met": mon["n_misses"] == 0,
                        "value": f"{mon['n_misses']} missed blocks, {mon['n_xruns']} xruns in "
                                 f"{mon['n_blocks']} blocks"
                                 + ("" if mon["duration_s"] >= 299 else
                                    "; target is for 5 minutes")})
        t = mon.get("timing") or {}
        events = (mon.get("stats") or {}).get("n_miss_events")
        if t.get("n_misses_regular_host") is not None and t["n_misses_recorded"] == events:
            own = t["n_misses_regular_host"]
            targets.append({"target": f"... {where}: 0 miss events with regular host timing (the "
                                      "engine's own: worker past its deadline while the callbacks "
                                      "kept their rhythm)",
                            "met": own == 0,
                            "value": f"{own} of {events} miss events; the other "
                                     f"{events - own} came in callbacks outside 0.5-1.5 periods "
                                     f"(host stalls and catch-up bursts); worker response max "
                                     f"{t['max_response_ms']:.2f} ms, deadline "
                                     f"{t['deadline_ms']:.2f} ms"})
    naive = [r for r in (result.get("naive") or {}).get("rows", []) if r.get("ratio_p50_vs_streaming")]
    if naive:
        worst = min(r["ratio_p50_vs_streaming"] for r in naive)
        targets.append({"target": "streaming compute per hop >= 10x below the naive sliding "
                                  "window at the same latency (p50)",
                        "met": worst >= TARGET_NAIVE_RATIO, "value": f"{worst:.0f}x (shortest "
                                                                     "window)"})
    else:
        targets.append({"target": "streaming >= 10x below the naive sliding window", "met": None,
                        "value": "not run"})
    return targets
