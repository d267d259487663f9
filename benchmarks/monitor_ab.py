"""Side-by-side sustained `rtsep monitor` runs with different options.

Each variant is a set of extra `rtsep monitor` options; the variants run one
after the other, each on a fresh JACK dummy server (as `rtsep bench` runs its
monitor), for ``--duration`` seconds at 128-frame blocks, ``--repeat`` times,
interleaved (A B A B ...) so that slow changes of the host hit both alike. For
each run it prints the misses, xruns, and the worker response p99.9 / max
against the deadline. Run it on an otherwise idle machine.

    python benchmarks/monitor_ab.py --duration 300 --repeat 2 \\
        --variant "--worker-cpu any" --variant "--worker-cpu follow"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", required=True,
                        help="extra rtsep monitor options, quoted (repeat per variant; '' = defaults)")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per run (default 300)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (default 1)")
    parser.add_argument("--blocksize", type=int, default=128)
    parser.add_argument("--json", help="write every run's numbers here")
    args = parser.parse_args(argv)

    from rtsep.bench.audio import bench_audio
    from rtsep.bench.jackdelay import monitor_misses
    from rtsep.engine import default_model_path

    rate = 48000
    audio, source = bench_audio(20 * rate, rate)
    print(f"audio: {source}; {args.duration:g} s per run at {args.blocksize}-frame blocks", flush=True)
    rows = []
    print("| variant | run | misses | regular-host misses | xruns | response p99.9 / max (deadline) ms | "
          "host steal |")
    print("|---|---|---|---|---|---|---|")
    for k in range(args.repeat):
        for variant in args.variant:
            got = monitor_misses(default_model_path(), audio, duration_s=args.duration,
                                 block_samples=args.blocksize, sample_rate_hz=rate,
                                 extra_args=tuple(shlex.split(variant)))
            if "skipped" in got:
                print(f"skipped: {got['skipped']}", file=sys.stderr)
                return 2
            t = got.get("timing") or {}
            rows.append({"variant": variant, "run": k + 1, "n_misses": got["n_misses"],
                         "n_misses_regular_host": t.get("n_misses_regular_host"),
                         "n_xruns": got["n_xruns"], "response_p999_ms": t.get("response_p999_ms"),
                         "max_response_ms": t.get("max_response_ms"), "deadline_ms": t.get("deadline_ms"),
                         "host_steal_share": got.get("host_steal_share"), "worker": got.get("worker")})
            steal = got.get("host_steal_share")
            print(f"| `{variant or '(defaults)'}` | {k + 1} | {got['n_misses']} | "
                  f"{t.get('n_misses_regular_host')} | {got['n_xruns']} | "
                  f"{t.get('response_p999_ms', float('nan')):.2f} / {t.get('max_response_ms', float('nan')):.2f} "
                  f"({t.get('deadline_ms', float('nan')):.2f}) | "
                  f"{'—' if steal is None else f'{100 * steal:.2f}%'} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
