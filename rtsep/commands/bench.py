"""Measure latency, compute per hop and deadline misses, side by side with the
alternatives (naive sliding window, offline separators), on the same audio in
the same run. Writes bench.json, bench.md and PNG plots to --out; prints the
markdown to stdout and progress to stderr.

Full run (about 25 minutes; give it the machine to itself):
    rtsep bench --results-md benchmarks/RESULTS.md
Smoke run (under a minute): rtsep bench --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse

from rtsep.live.options import DEFAULT_SAFETY_MS
import shlex
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rtsep.bench.suite import PARTS

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--out", default="benchmarks/results",
                        help="folder for bench.json, bench.md and the plots "
                             "(default: benchmarks/results)")
    parser.add_argument("--model", help="exported model (default: the shipped model, else a "
                                        "random-init export, said so in the results)")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run, under 60 s: short runs, no loaded run, no peers")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="length of each deadline-miss run (default 300; --quick 4)")
    parser.add_argument("--block-samples", type=int, default=128,
                        help="device block of the deadline-miss runs (default 128)")
    parser.add_argument("--safety-ms", type=float, default=DEFAULT_SAFETY_MS,
                        help="safety part of the scheduling margin (block + safety) the miss "
                             f"target is judged at; default {DEFAULT_SAFETY_MS:g}, as rtsep "
                             "monitor's")
    parser.add_argument("--n-hops", type=int, help="timed hops per backend and mode "
                                                   "(default 20000; --quick 1000)")
    parser.add_argument("--backends", nargs="+", metavar="NAME",
                        help="backends to time (default: every one available here)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads of the model (default 1)")
    parser.add_argument("--skip", nargs="+", default=[], choices=PARTS, metavar="PART",
                        help=f"parts to leave out: {', '.join(PARTS)}")
    parser.add_argument("--realtime-server", action="store_true",
                        help="run the monitor's JACK dummy server realtime (-R -P 70, as audio "
                             "users run it) instead of --no-realtime")
    parser.add_argument("--results-md", metavar="PATH",
                        help="also rewrite the rtsep bench section of this markdown file "
                             "(e.g. benchmarks/RESULTS.md), keeping its other sections")


def _command_line() -> str:
    """How this run was started, for the results (``rtsep bench ...`` or the script)."""
    words = [shlex.quote(a) for a in sys.argv[1:]]
    if sys.argv[1:2] == ["bench"]:
        return "rtsep " + " ".join(words)
    return " ".join([Path(sys.argv[0]).name] + words)


def run(args: argparse.Namespace) -> int:
    from rtsep.bench import BenchOptions, run_bench, write_all

    options = BenchOptions(
        out_dir=Path(args.out), model=args.model, quick=args.quick, duration_s=args.duration,
        block_samples=args.block_samples, safety_ms=args.safety_ms, n_hops=args.n_hops,
        backends=tuple(args.backends) if args.backends else None, n_threads=args.threads,
        skip=frozenset(args.skip), results_md=Path(args.results_md) if args.results_md else None,
        realtime_server=args.realtime_server, command=_command_line())
    result = run_bench(options)
    paths = write_all(result, options.out_dir, options.results_md)
    print(paths["markdown"].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0
