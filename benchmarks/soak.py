"""An hour under load: `rtsep monitor` on a JACK dummy server beside its identity control.

Runs `rtsep monitor` (the shipped model, karaoke output, 128-frame blocks, the
--schedule given) on a private JACK server (dummy driver, 48 kHz; --no-realtime, or
realtime with --realtime-server), fed a real song in a loop, for --minutes while
`stress-ng --cpu N` loads the other cores, beside the same with `--model identity` as
the host-noise control (same server settings, same load, same length). Records misses,
host-reported xruns (the control's beside them), the worker's or callback's timing and
the monitor process's resident memory every minute, and checks the issue's bar. The two
runs take
turns (--turns, default 6 each: ten-minute turns, rtsep and the control alternating in
ABBA pairs, each turn a fresh monitor on a fresh server, one continuous load), because
this VM's host stalls come and go over hours: two hours run one after the other differed
twenty-fold in xruns. After each turn the finished turns are saved
(<out>/soak.partial.json); --resume carries on after an interruption.

* 0 misses;
* xruns no more than the identity control's;
* resident memory flat: max - min under 1 MB after the first minute, in every process.

Writes soak.json and soak.png (xruns per turn, resident memory per minute; soak-inline.*
for --schedule inline) to --out and, with --results-md, rewrites that schedule's soak
section of the markdown file (between `<!-- soak:start -->` and `<!-- soak:end -->`;
`soak-inline:` for inline; added at the end if missing).
CI does not run it (two hours by default); --minutes 1 --turns 2 is a smoke run.

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


RUNS = ("rtsep", "identity control")


def turn_order(turns: int) -> list[str]:
    """Which run each turn is: model and control alternating in ABBA pairs (rtsep, control,
    control, rtsep, ...), so a drift in the host over the session falls on both alike."""
    seq: list[str] = []
    for k in range(turns):
        seq += list(RUNS if k % 2 == 0 else RUNS[::-1])
    return seq


def merge_turns(turns: list[dict]) -> dict:
    """One run's turns as one record: counters and timing histograms summed, maxima taken,
    percentiles recomputed, misses listed with their turn; memory judged per process (each
    turn is its own ``rtsep monitor``): ``rss_check.spread_kib`` is the largest spread
    within one process after its first minute."""
    from rtsep.live.summary import histogram_percentile

    first = turns[0]
    out = {k: first[k] for k in ("block_samples", "sample_rate_hz", "latency_mode", "backend",
                                 "schedule", "total_latency_samples", "margin_samples", "load",
                                 "jack_realtime")}
    for k in ("duration_s", "n_blocks", "n_misses", "n_xruns"):
        out[k] = sum(t[k] for t in turns)
    out["miss_rate"] = out["n_misses"] / max(1, out["n_blocks"])
    out["worker"] = dict(first.get("worker") or {})
    if out["worker"]:
        out["worker"]["load"] = sum((t["worker"] or {}).get("load", 0.0) * t["duration_s"]
                                    for t in turns) / max(1e-9, out["duration_s"])
        out["worker"]["max_chunk_load"] = max((t["worker"] or {}).get("max_chunk_load", 0.0)
                                              for t in turns)
    sources = [t.get("xrun_sources") for t in turns]
    if all(sources):  # who jackd blamed (runs from before session 14 lack it)
        out["xrun_sources"] = {k: sum(x.get(k, 0) for x in sources)
                               for k in dict.fromkeys(k for x in sources for k in x)}
    timings = [t.get("timing") or {} for t in turns]
    if all(timings):
        tm = {"histogram_bin_ms": timings[0]["histogram_bin_ms"],
              "period_ms": timings[0]["period_ms"], "deadline_ms": timings[0]["deadline_ms"]}
        for key in ("response_histogram", "callback_gap_histogram"):
            width = max(len(x[key]) for x in timings)
            tm[key] = [sum(x[key][i] for x in timings if i < len(x[key])) for i in range(width)]
        for key in ("n_callbacks", "n_responses", "n_response_dropped", "n_late_callbacks",
                    "n_misses_recorded", "n_misses_host_irregular", "n_misses_regular_host"):
            tm[key] = sum(x.get(key, 0) for x in timings)
        for key in ("max_callback_gap_ms", "max_response_ms"):
            tm[key] = max(x[key] for x in timings)
        bin_ms = tm["histogram_bin_ms"]
        for key, hist, q in (("response_p50_ms", "response_histogram", 0.5),
                             ("response_p99_ms", "response_histogram", 0.99),
                             ("response_p999_ms", "response_histogram", 0.999),
                             ("callback_gap_p999_ms", "callback_gap_histogram", 0.999)):
            tm[key] = histogram_percentile(tm[hist], bin_ms, q)
        tm["misses"] = [dict(m, turn=t["turn"]) for t, x in zip(turns, timings)
                        for m in x.get("misses", [])]
        out["timing"] = tm
    checks = [t["rss_check"] for t in turns if t["rss_check"].get("n_samples")]
    out["rss_check"] = ({"n_samples": 0, "flat": None} if not checks else
                        {"n_samples": sum(c["n_samples"] for c in checks),
                         "n_processes": len(checks),
                         "min_kib": min(c["min_kib"] for c in checks),
                         "max_kib": max(c["max_kib"] for c in checks),
                         "spread_kib": max(c["spread_kib"] for c in checks),
                         "flat": all(c["flat"] for c in checks)})
    out["turns"] = [{k: t.get(k) for k in ("turn", "start_s", "duration_s", "n_blocks", "n_misses",
                                          "n_xruns", "xrun_sources", "host_steal_share", "rss_kib",
                                          "rss_check")}
                    | {"max_callback_gap_ms": (t.get("timing") or {}).get("max_callback_gap_ms"),
                       "max_response_ms": (t.get("timing") or {}).get("max_response_ms")}
                    for t in turns]
    return out


def verdict(runs: dict) -> dict:
    r, c = runs["rtsep"], runs["identity control"]
    return {"zero_misses": r["n_misses"] == 0,
            "xruns_within_control": r["n_xruns"] <= c["n_xruns"],
            "rss_flat": r["rss_check"]["flat"]}


def run(minutes: float, schedule: str, block: int, log, realtime_server: bool = False,
        safety_ms: float | None = None, turns: int = 6, checkpoint: Path | None = None) -> dict:
    """Each run gets ``minutes`` in ``turns`` turns of ``minutes / turns``, the two runs'
    turns interleaved (:func:`turn_order`) under one continuous load. After every turn
    the finished turns go to ``checkpoint`` (if given); a later call with the same
    settings carries on from there."""
    from rtsep.bench.jackdelay import jack_unavailable_reason, monitor_misses
    from rtsep.bench.schedule import cpu_load, n_other_cores
    from rtsep.engine import default_model_path

    reason = jack_unavailable_reason()
    if reason:
        raise SystemExit(f"soak: {reason}")
    if turns < 1:
        raise SystemExit(f"soak: --turns must be at least 1, got {turns}")
    rate = 48000
    audio, what = song(rate)
    turn_s = 60.0 * minutes / turns
    model = default_model_path()
    settings = {"minutes": minutes, "turns": turns, "schedule": schedule, "block_samples": block,
                "realtime_server": realtime_server, "safety_ms": safety_ms}
    done: list[dict] = []
    if checkpoint is not None and checkpoint.is_file():
        saved = json.loads(checkpoint.read_text())
        if saved.get("settings") == settings:
            done = saved["turns"]
            log(f"soak: carrying on from {checkpoint} ({len(done)} turns done)")
    order = turn_order(turns)
    started = time.monotonic() - (done[-1]["start_s"] + done[-1]["duration_s"] if done else 0.0)
    remaining_s = (len(order) - len(done)) * (turn_s + 40.0)
    # The control runs the same schedule: the identity model is stepped natively too.
    with cpu_load(n_other_cores(), remaining_s + 120) as load:
        for i in range(len(done), len(order)):
            name = order[i]
            model_arg = model if name == "rtsep" else "identity"
            backend = "native" if schedule == "inline" and name == "rtsep" else None
            log(f"soak: turn {i + 1}/{len(order)}: {name} ({schedule}), {turn_s / 60:g} min at "
                f"{block}-frame blocks, load: {load}")
            start_s = time.monotonic() - started
            got = monitor_misses(model_arg, audio, duration_s=turn_s, block_samples=block,
                                 sample_rate_hz=rate, backend=backend, schedule=schedule,
                                 realtime_server=realtime_server,
                                 extra_args=() if safety_ms is None else ("--safety-ms", str(safety_ms)),
                                 rss_every_s=60.0, log=log,
                                 progress=lambda s, n=name: log(f"soak: {n}: {s[0] / 60:.0f} min, "
                                                                f"RSS {s[1]} KiB"))
            if "skipped" in got:
                raise SystemExit(f"soak: {name}: {got['skipped']}")
            got.update(turn=i, run=name, start_s=round(start_s, 1), load=load,
                       jack_realtime=(got.get("jack_server") or {}).get("realtime_active"),
                       rss_check=rss_check(got["rss_kib"], turn_s))
            got.pop("stats", None)
            done.append(got)
            log(f"soak: turn {i + 1}/{len(order)}: {name}: {got['n_misses']} misses, "
                f"{got['n_xruns']} xruns, RSS spread {got['rss_check'].get('spread_kib')} KiB")
            if checkpoint is not None:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                checkpoint.write_text(json.dumps({"settings": settings, "turns": done}) + "\n")
    runs = {name: merge_turns([t for t in done if t["run"] == name]) for name in RUNS}
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "minutes": minutes,
            "turns": turns, "block_samples": block, "schedule": schedule,
            "realtime_server": realtime_server, "safety_ms": safety_ms,
            "audio": what, "runs": runs, "verdict": verdict(runs)}


def plot(result: dict, path: Path) -> None:
    """Xruns and misses per turn (top) and resident memory per minute (bottom) of both
    runs, on the session's clock; a run without turns (older results) is one turn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_x, ax_m) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                     gridspec_kw={"height_ratios": [1, 1.3]})
    colours = {"rtsep": "tab:blue", "identity control": "tab:orange"}
    turn_s = 60.0 * result["minutes"] / result.get("turns", 1)  # samples after it: the exit
    for name, got in result["runs"].items():
        turns = got.get("turns") or [dict(got, start_s=0.0)]
        colour = colours.get(name)
        for j, t in enumerate(turns):
            t0, length = t["start_s"] / 60.0, t["duration_s"] / 60.0
            ax_x.bar(t0 + length / 2, t["n_xruns"], width=0.9 * length, color=colour, alpha=0.7,
                     label=f"{name}: {got['n_xruns']} xruns, {got['n_misses']} misses"
                     if j == 0 else None)
            if t["n_misses"]:
                ax_x.annotate(f"{t['n_misses']} miss", (t0 + length / 2, t["n_xruns"]),
                              ha="center", va="bottom", fontsize=8, color="tab:red")
            pts = [(t0 + s / 60.0, kib / 1024.0) for s, kib in t["rss_kib"]
                   if kib is not None and s < turn_s]
            if pts:
                ax_m.plot(*zip(*pts), marker="o", ms=3, color=colour,
                          label=name if j == 0 else None)
    ax_x.set_ylabel("xruns per turn")
    ax_x.legend(fontsize=8)
    ax_x.grid(alpha=0.3)
    ax_m.set_xlabel("minutes into the session")
    ax_m.set_ylabel("resident memory (MiB)")
    ax_m.legend(fontsize=8)
    ax_m.grid(alpha=0.3)
    n_turns = result.get("turns", 1)
    ax_x.set_title(f"rtsep monitor beside its identity control, {result['minutes']:g} min each "
                   f"in {n_turns} turn(s) ({result['schedule']}, {result['block_samples']}-frame blocks)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ms(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def markdown(result: dict, png: str) -> str:
    start, end = markers(result["schedule"])
    title = "" if result["schedule"] == "worker" else f", {result['schedule']}"
    n_turns = result.get("turns", 1)
    lines = [start, f"## An hour under load{title} (`python benchmarks/soak.py`)", "",
             f"Run {result['date']}: `rtsep monitor` ({result['schedule']}, "
             f"{result['block_samples']}-frame blocks"
             + (f", --safety-ms {result['safety_ms']:g}" if result.get("safety_ms") is not None else "")
             + ", 48 kHz, JACK dummy server "
             f"{'realtime (-R -P 70)' if result.get('realtime_server') else '--no-realtime'}), "
             f"{result['audio']}, {result['minutes']:g} minutes each"
             + (f" in {n_turns} turns of {result['minutes'] / n_turns:g} minutes, the two runs "
                "alternating (rtsep, control, control, rtsep, ...), each turn a fresh `rtsep "
                "monitor` on a fresh server" if n_turns > 1 else "")
             + ", the other core(s) loaded throughout; the identity model is the host-noise "
             "control.", "",
             "| run | load | misses | xruns | response p99.9 / max ms | resident memory after "
             f"minute 1 ({'min–max, largest spread within one process' if n_turns > 1 else 'min–max, spread'}) |",
             "|---|---|---|---|---|---|"]
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
              ""]
    blamed = {name: got.get("xrun_sources") for name, got in result["runs"].items()}
    if all(blamed.values()):
        lines += ["jackd's own account of its xruns (log lines; one stall often makes several): "
                  + "; ".join(f"{name}: monitor late {b['monitor']}, player late {b['player']}, "
                              f"driver late {b['driver_late']}" for name, b in blamed.items())
                  + ".", ""]
    if n_turns > 1:
        lines += ["| turn | run | minute | misses | xruns | longest callback gap ms | RSS spread KiB |",
                  "|---|---|---|---|---|---|---|"]
        rows = sorted(((t, name) for name, got in result["runs"].items() for t in got["turns"]),
                      key=lambda x: x[0]["turn"])
        for t, name in rows:
            lines.append(f"| {t['turn'] + 1} | {name} | {t['start_s'] / 60:.0f} | {t['n_misses']} | "
                         f"{t['n_xruns']} | {_ms(t.get('max_callback_gap_ms'))} | "
                         f"{t['rss_check'].get('spread_kib', '—')} |")
        lines.append("")
    lines += [f"![xruns per turn and resident memory]({png})", end]
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
    parser.add_argument("--turns", type=int, default=6,
                        help="split each run into this many turns, the two runs alternating "
                             "(default 6: ten-minute turns in an hour; 1: one run after the other)")
    parser.add_argument("--resume", action="store_true",
                        help="carry on from the checkpoint of an interrupted run with the same "
                             "settings (<out>/<stem>.partial.json)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--results-md", help="rewrite the soak section of this markdown file")
    parser.add_argument("--from-json", help="only rewrite the report (and the plot) from this soak.json")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        for got in result["runs"].values():
            if "turns" not in got:  # one turn: judged over the run (older results too)
                got["rss_check"] = rss_check(got["rss_kib"], 60.0 * result["minutes"])
        result["verdict"] = verdict(result["runs"])
    else:
        checkpoint = Path(args.out) / f"{stem(args.schedule)}.partial.json"
        if not args.resume:
            checkpoint.unlink(missing_ok=True)
        result = run(args.minutes, args.schedule, args.blocksize, log, args.realtime_server,
                     args.safety_ms, args.turns, checkpoint)
        checkpoint.unlink(missing_ok=True)
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
