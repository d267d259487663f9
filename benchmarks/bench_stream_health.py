"""Long-stream health: does the causal model stay stable over 10 minutes?

Streams ``--minutes`` of music (the held-out CC0 song looped with gain changes
and a silent gap, or seeded synthetic audio when ../shared is absent) through
the streaming engine with the shipped model, and prints per minute: input and
output RMS (dBFS), the vocals/input energy ratio, and the mask's mean and
standard deviation. A healthy model shows no fade to silence and no blow-up:
per-minute numbers stay within a few dB of each other for the same material.

    python benchmarks/bench_stream_health.py [--minutes 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def music(n_samples: int, rate: int) -> tuple[np.ndarray, str]:
    """Test material ``(2, n_samples)`` float32 and a description."""
    try:
        from rtsep.train.data import RealSongs

        songs = RealSongs(split="heldout").songs
        _, v, a = songs[0]
        song = np.asarray(v, dtype=np.float32) + np.asarray(a, dtype=np.float32)
        song /= max(1e-6, float(np.abs(song).max()))
        what = "held-out CC0 song 7-Francium (48 kHz), looped"
    except Exception:  # no ../shared: seeded synthetic material
        from rtsep.train.data import heldout_synthetic

        _, song, _, _ = next(iter(heldout_synthetic(1, rate, 60.0, seed=7)))
        what = "held-out synthetic song, looped"
    reps = -(-n_samples // song.shape[1])
    x = np.tile(song, (1, reps))[:, :n_samples].copy()
    # Level changes every pass and 10 s of silence in minute 5: the state must recover.
    period = song.shape[1]
    for k in range(reps):
        x[:, k * period:(k + 1) * period] *= 10 ** (-6 * (k % 3) / 20)
    s = 5 * 60 * rate
    x[:, s:s + 10 * rate] = 0.0
    return x, what


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--json", help="write the per-minute table as JSON here")
    args = parser.parse_args(argv)

    from rtsep.engine import Separator, load_runner

    rate = 48000
    runner = load_runner(args.model, backend="onnx-cpu", sample_rate_hz=rate)
    stats = {"sum": 0.0, "sq": 0.0, "n": 0}
    inner = runner.step

    def step(frame):
        mask = inner(frame)
        stats["sum"] += float(mask.sum())
        stats["sq"] += float((mask * mask).sum())
        stats["n"] += mask.size
        return mask

    runner.step = step
    sep = Separator(runner)
    n_total = int(args.minutes * 60 * rate)
    x, what = music(n_total, rate)
    block = 128
    minute = 60 * rate
    vocals = np.empty((2, block), dtype=np.float32)
    instr = np.empty((2, block), dtype=np.float32)
    rows = []
    acc = {"in": 0.0, "out_v": 0.0, "out_i": 0.0, "n": 0}
    t0 = time.perf_counter()
    print(f"streaming {args.minutes:g} min of {what} at {rate} Hz in {block}-sample blocks", file=sys.stderr)
    for s in range(0, n_total - block + 1, block):
        sep.process_into(x[:, s:s + block], vocals, instr)
        acc["in"] += float(np.sum(x[:, s:s + block] ** 2))
        acc["out_v"] += float(np.sum(vocals ** 2))
        acc["out_i"] += float(np.sum(instr ** 2))
        acc["n"] += vocals.size
        if (s + block) % minute < block:
            n = max(1, acc["n"])
            mean = stats["sum"] / max(1, stats["n"])
            std = float(np.sqrt(max(0.0, stats["sq"] / max(1, stats["n"]) - mean ** 2)))
            db = lambda e: float(10 * np.log10(e / n + 1e-12))  # noqa: E731
            rows.append({"minute": len(rows) + 1, "input_rms_dbfs": db(acc["in"]),
                         "vocals_rms_dbfs": db(acc["out_v"]), "instrumental_rms_dbfs": db(acc["out_i"]),
                         "vocals_to_input_db": db(acc["out_v"]) - db(acc["in"]),
                         "mask_mean": mean, "mask_std": std,
                         "nonfinite": sep.n_nonfinite_replaced})
            r = rows[-1]
            print(f"min {r['minute']:2d}: in {r['input_rms_dbfs']:6.1f} dBFS  vocals {r['vocals_rms_dbfs']:6.1f}  "
                  f"instr {r['instrumental_rms_dbfs']:6.1f}  vocals/in {r['vocals_to_input_db']:6.1f} dB  "
                  f"mask {r['mask_mean']:.3f}±{r['mask_std']:.3f}", flush=True)
            acc = {"in": 0.0, "out_v": 0.0, "out_i": 0.0, "n": 0}
            stats.update(sum=0.0, sq=0.0, n=0)
    elapsed = time.perf_counter() - t0
    out = {"material": what, "sample_rate_hz": rate, "block_samples": block, "minutes": args.minutes,
           "compute_s": elapsed, "rows": rows}
    print(f"{args.minutes:g} min streamed in {elapsed:.1f} s (RTF {elapsed / (args.minutes * 60):.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
