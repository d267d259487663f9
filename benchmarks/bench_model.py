"""Per-step compute time of the exported model on every backend present.

For each backend and latency mode: the time of ``runner.step(frame)`` (the
whole call, as the engine's worker makes it) over a realistic frame sequence:
p50 / p99 / p99.9 / max in ms, the same as a share of the hop period
(``hop / sample_rate``) at each sample rate, and the real-time factor (mean
step time / hop period). Also the parameter count and the MACs per second of
audio (counted per layer at export, stored in the model's metadata).

The latency mode changes only the synthesis window, so both modes run the same
graph; they are timed separately anyway, as the engine would load them.

Uses ``models/rtsep-default.onnx`` (and its ``.pt`` sibling) when present;
otherwise exports a randomly initialised checkpoint to a temporary folder
(same architecture, so the same cost). Target: onnx-cpu with one thread,
p99 <= 25 % of the hop period at 48 kHz.

    nice -n 10 python benchmarks/bench_model.py [--model PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from rtsep.bench.modelsource import make_random_export
from rtsep.bench.timing import summarize, time_steps

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "models" / "rtsep-default.onnx"
TARGET_SHARE_OF_HOP = 0.25
TARGET_SAMPLE_RATE_HZ = 48000


def bench_frames(n_frames: int, n_fft: int, hop_samples: int) -> np.ndarray:
    """A music-like frame sequence, complex64 ``(n_frames, 2, n_bins)`` (no torch needed)."""
    from rtsep.config import StftGeometry
    from rtsep.offline import stft

    rng = np.random.default_rng(0)
    n = n_frames * hop_samples
    t = np.arange(n) / 48000.0
    tone = sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in range(1, 12))
    x = np.stack([tone + 0.1 * rng.standard_normal(n), 0.8 * tone + 0.1 * rng.standard_normal(n)])
    x *= 0.3 / np.max(np.abs(x))
    return np.ascontiguousarray(stft(x.astype(np.float32), StftGeometry(n_fft, hop_samples)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help=f"exported model (default {DEFAULT_MODEL.name} if present, "
                                        "else a random-init export)")
    parser.add_argument("--backends", nargs="*", help="backends to time (default: all available)")
    parser.add_argument("--latency-modes", nargs="*", default=["default", "low"])
    parser.add_argument("--n-steps", type=int, default=3000, help="timed steps per run")
    parser.add_argument("--n-warmup", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    from rtsep.runtime import available_backends, inspect, load

    tmp = None
    if args.model:
        model_path = Path(args.model)
    elif DEFAULT_MODEL.is_file():
        model_path = DEFAULT_MODEL
    else:
        tmp = tempfile.TemporaryDirectory(prefix="rtsep-bench-")
        print("no trained model in models/; exporting a randomly initialised one", file=sys.stderr)
        model_path = make_random_export(Path(tmp.name))
    meta = inspect(model_path).metadata
    rates = meta["sample_rates_hz"]
    hop = meta["hop_samples"]
    status = available_backends()
    backends = args.backends or [b for b, why in status.items() if why is None]
    frames = bench_frames(500, meta["n_fft"], hop)

    results = []
    for backend in backends:
        if status.get(backend) is not None:
            print(f"skip {backend}: {status[backend]}", file=sys.stderr)
            continue
        for mode in args.latency_modes:
            try:
                runner = load(model_path, backend=backend, latency_mode=mode,
                              sample_rate_hz=rates[-1], n_threads=args.threads)
            except Exception as exc:  # report and go on with the other backends
                print(f"skip {backend}: {exc}", file=sys.stderr)
                break
            times = time_steps(runner, frames, args.n_steps, args.n_warmup)
            row = summarize(times, hop, rates)
            row.update(backend=backend, latency_mode=mode, latency_samples=runner.latency_samples,
                       gc_enabled=gc.isenabled())
            results.append(row)
            del runner

    report = {
        "model": str(model_path), "trained": tmp is None,
        "n_parameters": meta["n_parameters"], "macs_per_frame": meta["macs_per_frame"],
        "gmacs_per_second": meta["gmacs_per_second"], "hop_samples": hop,
        "threads": args.threads, "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(), "results": results,
    }
    print_table(report, rates)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if tmp is not None:
        tmp.cleanup()
    return 0


def print_table(report: dict, rates) -> None:
    gmacs = ", ".join(f"{v} GMAC/s at {r} Hz" for r, v in report["gmacs_per_second"].items())
    print(f"model {report['model']} ({'trained' if report['trained'] else 'random init'}): "
          f"{report['n_parameters']:,} parameters, {report['macs_per_frame'] / 1e6:.2f} M MACs "
          f"per frame ({gmacs}); {report['threads']} thread(s)")
    head = (f"{'backend':<17}{'mode':<8}{'p50 ms':>8}{'p99 ms':>8}{'p99.9 ms':>9}{'max ms':>8}"
            + "".join(f"{'p99 %hop@' + str(r // 1000) + 'k':>14}{'RTF@' + str(r // 1000) + 'k':>9}"
                      for r in rates))
    print(head)
    print("-" * len(head))
    for row in report["results"]:
        line = (f"{row['backend']:<17}{row['latency_mode']:<8}{row['p50_ms']:>8.3f}"
                f"{row['p99_ms']:>8.3f}{row['p99_9_ms']:>9.3f}{row['max_ms']:>8.3f}")
        for r in rates:
            pr = row["per_rate"][str(r)]
            line += f"{100 * pr['p99_share']:>13.1f}%{pr['rtf']:>9.3f}"
        print(line)
    target = [row for row in report["results"] if row["backend"] == "onnx-cpu"]
    key = str(TARGET_SAMPLE_RATE_HZ)
    if target and key in target[0]["per_rate"]:
        worst = max(row["per_rate"][key]["p99_share"] for row in target)
        limit_ms = TARGET_SHARE_OF_HOP * target[0]["per_rate"][key]["hop_period_ms"]
        verdict = "meets" if worst <= TARGET_SHARE_OF_HOP else "MISSES"
        print(f"target (onnx-cpu, {report['threads']} thread, p99 <= 25% of the hop at 48 kHz = "
              f"{limit_ms:.2f} ms): {verdict} ({100 * worst:.1f}%)")


if __name__ == "__main__":
    sys.exit(main())
