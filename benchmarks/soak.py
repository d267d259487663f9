"""An hour under load: `rtsep monitor` on a JACK dummy server beside its identity control.

Runs `rtsep monitor` (the shipped model, karaoke output, 128-frame blocks, the
--schedule given) on a private JACK server (dummy driver, 48 kHz; --no-realtime, or
realtime with --realtime-server), fed a real song in a loop, for --minutes while
`stress-ng --cpu N` loads the other cores; then the same with `--model identity` as the host-noise control (same
server settings, same load, same length). Records misses, host-reported xruns
(the control's beside them), the worker's or callback's timing and the monitor
process's resident memory every minute, and checks the issue's bar:

* 0 misses;
* xruns no more than the identity control's;
* resident memory flat: max - min under 1 MB after the first minute.

Writes soak.json and soak.png (resident memory per minute, both runs; soak-inline.*
for --schedule inline) to --out and, with --results-md, rewrites that schedule's soak
section of the markdown file (between `<!-- soak:start -->` and `<!-- soak:end -->`;
`soak-inline:` for inline; added at the end if missing).
CI does not run it (two hours by default); --minutes 1 is a smoke run.

    python benchmarks/soak.py --minutes 60 --realtime-server --results-md benchmarks/RESULTS.md
    python benchmarks/soak.py --minutes 60 --realtime-server --schedule inline \
        --results-md benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def stem(schedule: str) -> str:
    """File stem and section marker of a schedule's soak: soak (worker), soak-inline."""
    return "soak" if schedule == "worker" else f"soak-{schedule}"


def markers(schedule: str) -> tuple[str, str]:
    return f"<!-- {stem(schedule)}:start -->", f"<!-- {stem(schedule)}:end -->"
RSS_FLAT_KIB = 1024


def song(rate: int) -> tuple[np.ndarray, str]:
    """A real song (float32 (2, n)) and what it is: the held-out CC0 song, else the bench audio."""
    from rtsep.bench.audio import bench_audio

    try:
        from rtsep.train.data import RealSongs

        _, v, a = RealSongs(split="heldout").songs[0]
        x = np.asarray(v, np.float32) + np.asarray(a, np.float32)
        return (0.5 * x / max(1e-6, float(np.abs(x).max()))).astype(np.float32), \
            "held-out CC0 song 7-Francium, looped"
    except Exception:  # noqa: BLE001 - no ../shared: the benchmark's own audio
        x, what = bench_audio(60 * rate, rate)
        return x, what


def rss_check(rss: list, duration_s: float) -> dict:
    """Resident memory from the first minute to the end of the run (not the exit, where
    the process frees everything): min, max, spread (KiB) and whether flat."""
    later = [kib for t, kib in rss if 60.0 <= t < duration_s and kib is not None]
    if not later:
        return {"n_samples": 0, "flat": None}
    spread = max(later) - min(later)
    return {"n_samples": len(later), "min_kib": min(later), "max_kib": max(later),
            "spread_kib": spread, "flat": spread < RSS_FLAT_KIB}


def run(minutes: float, schedule: str, block: int, log, realtime_server: bool = False,
        safety_ms: float | None = None) -> dict:
    from rtsep.bench.jackdelay import jack_unavailable_reason, monitor_misses
    from rtsep.bench.schedule import cpu_load, n_other_cores
    from rtsep.engine import default_model_path

    reason = jack_unavailable_reason()
    if reason:
        raise SystemExit(f"soak: {reason}")
    rate = 48000
    audio, what = song(rate)
    duration_s = 60.0 * minutes
    model = default_model_path()
    runs = {}
    # The control runs the same schedule: the identity model is stepped natively too.
    for name, model_arg, sched in (("rtsep", model, schedule), ("identity control", "identity", schedule)):
        backend = "native" if sched == "inline" and model_arg != "identity" else None
        with cpu_load(n_other_cores(), duration_s + 120) as load:
            log(f"soak: {name} ({sched}), {minutes:g} min at {block}-frame blocks, load: {load}")
            got = monitor_misses(model_arg, audio, duration_s=duration_s, block_samples=block,
                                 sample_rate_hz=rate, backend=backend, schedule=sched,
                                 realtime_server=realtime_server,
                                 extra_args=() if safety_ms is None else ("--safety-ms", str(safety_ms)),
                                 rss_every_s=60.0, log=log,
                                 progress=lambda s, n=name: log(f"soak: {n}: {s[0] / 60:.0f} min, "
                                                                f"RSS {s[1]} KiB"))
        if "skipped" in got:
            raise SystemExit(f"soak: {name}: {got['skipped']}")
        got["load"] = load
        got["jack_realtime"] = (got.get("jack_server") or {}).get("realtime_active")
        got["rss_check"] = rss_check(got["rss_kib"], duration_s)
        runs[name] = got
    r, c = runs["rtsep"], runs["identity control"]
    verdict = {"zero_misses": r["n_misses"] == 0,
               "xruns_within_control": r["n_xruns"] <= c["n_xruns"],
               "rss_flat": r["rss_check"]["flat"]}
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "minutes": minutes,
            "block_samples": block, "schedule": schedule, "realtime_server": realtime_server,
            "safety_ms": safety_ms,
            "audio": what, "runs": runs,
            "verdict": verdict}


def plot(result: dict, path: Path) -> None:
    """Resident memory per minute of both runs (the exit sample left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, got in result["runs"].items():
        pts = [(t / 60.0, kib / 1024.0) for t, kib in got["rss_kib"]
               if kib is not None and t < 60.0 * result["minutes"]]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3,
                    label=f"{name}: {got['n_misses']} misses, {got['n_xruns']} xruns")
    ax.set_xlabel("minutes")
    ax.set_ylabel("resident memory (MiB)")
    ax.set_title(f"rtsep monitor, {result['minutes']:g} min under load "
                 f"({result['schedule']}, {result['block_samples']}-frame blocks)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ms(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def markdown(result: dict, png: str) -> str:
    start, end = markers(result["schedule"])
    title = "" if result["schedule"] == "worker" else f", {result['schedule']}"
    lines = [start, f"## An hour under load{title} (`python benchmarks/soak.py`)", "",
             f"Run {result['date']}: `rtsep monitor` ({result['schedule']}, "
             f"{result['block_samples']}-frame blocks"
             + (f", --safety-ms {result['safety_ms']:g}" if result.get("safety_ms") is not None else "")
             + ", 48 kHz, JACK dummy server "
             f"{'realtime (-R -P 70)' if result.get('realtime_server') else '--no-realtime'}), "
             f"{result['audio']}, {result['minutes']:g} minutes each, the other core(s) loaded; "
             "the identity model is the host-noise control.", "",
             "| run | load | misses | xruns | response p99.9 / max ms | resident memory after "
             "minute 1 (min–max, spread) |", "|---|---|---|---|---|---|"]
    for name, got in result["runs"].items():
        t, rc = got.get("timing") or {}, got["rss_check"]
        mem = ("—" if not rc.get("n_samples") else
               f"{rc['min_kib'] / 1024:.1f}–{rc['max_kib'] / 1024:.1f} MiB ({rc['spread_kib']} KiB)")
        lines.append(f"| {name} | {got['load']} | {got['n_misses']} | {got['n_xruns']} | "
                     f"{_ms(t.get('response_p999_ms'))} / {_ms(t.get('max_response_ms'))} | {mem} |")
    v = result["verdict"]
    lines += ["", f"0 misses: {'yes' if v['zero_misses'] else 'no'}; xruns within the control's: "
                  f"{'yes' if v['xruns_within_control'] else 'no'}; resident memory flat (spread "
                  f"< 1 MB): {'yes' if v['rss_flat'] else 'no' if v['rss_flat'] is False else 'not measured'}.",
              "", f"![resident memory]({png})", end]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of each run (default 60)")
    parser.add_argument("--schedule", choices=("worker", "inline"), default="worker")
    parser.add_argument("--blocksize", type=int, default=128)
    parser.add_argument("--realtime-server", action="store_true",
                        help="start jackd realtime (-R -P 70, as audio users run it) instead of "
                             "--no-realtime")
    parser.add_argument("--safety-ms", type=float,
                        help="the monitor's --safety-ms in both runs (worker; default: its own)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--results-md", help="rewrite the soak section of this markdown file")
    parser.add_argument("--from-json", help="only rewrite the report (and the plot) from this soak.json")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        for got in result["runs"].values():
            got["rss_check"] = rss_check(got["rss_kib"], 60.0 * result["minutes"])
        r, c = result["runs"]["rtsep"], result["runs"]["identity control"]
        result["verdict"].update(xruns_within_control=r["n_xruns"] <= c["n_xruns"],
                                 rss_flat=r["rss_check"]["flat"])
    else:
        result = run(args.minutes, args.schedule, args.blocksize, log, args.realtime_server,
                     args.safety_ms)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = stem(result["schedule"])
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, out / f"{name}.png")
    text = markdown(result, f"results/{name}.png")
    start, end = markers(result["schedule"])
    print(text)
    if args.results_md:
        md = Path(args.results_md)
        old = md.read_text() if md.exists() else ""
        if start in old and end in old:
            new = old[:old.index(start)] + text + old[old.index(end) + len(end) + 1:]
        else:
            new = old.rstrip("\n") + "\n\n" + text
        md.write_text(new)
    v = result["verdict"]
    return 0 if v["zero_misses"] and v["xruns_within_control"] and v["rss_flat"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
