"""Turn a ``rtsep bench`` result dict into markdown, JSON and PNG plots.

The plots use matplotlib's object API with the Agg canvas (no global backend
switch). ``update_results_md`` rewrites only the part of ``RESULTS.md``
between :data:`START_MARKER` and :data:`END_MARKER`, keeping other sections.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

START_MARKER = "<!-- bench:start -->"
END_MARKER = "<!-- bench:end -->"
TARGET_SAMPLE_RATE_HZ = "48000"


def public(obj):
    """``obj`` without dict keys that start with ``_`` (raw arrays kept for plots)."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


def write_json(result: dict, path: Path) -> None:
    path.write_text(json.dumps(public(result), indent=1) + "\n", encoding="utf-8")


def _f(value, fmt: str = ".3f", none: str = "—") -> str:
    return none if value is None else format(value, fmt)


def _pct(share) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def markdown(result: dict, plot_names: dict | None = None, image_prefix: str = "") -> str:
    """The results as markdown: one table per part, then the targets.

    ``plot_names``: ``{title: file name}`` of the PNGs, linked as
    ``image_prefix + name``."""
    out = []
    meta = result["meta"]
    nice = f", under nice {meta['niceness']}" if meta.get("niceness") else ""
    out.append(f"Run {meta['created_utc']} on {meta['machine']} ({meta['n_cpus']} CPUs, load "
               f"average {meta['load_average'][0]:.2f} at start{nice}), rtsep "
               f"{meta['rtsep_version']}, {'quick run' if meta['quick'] else 'full run'}: "
               f"`{meta['command']}`.")
    out.append(f"Model: {result['model']['note']} ({result['model']['n_parameters']:,} parameters, "
               f"{result['model']['macs_per_frame'] / 1e6:.2f} M MACs per frame). "
               f"Audio: {result['audio']}.")

    out.append("\n### Algorithmic latency (from the geometry)\n")
    out.append("| latency mode | sample rate | n_fft / hop | latency (samples) | latency (ms) |")
    out.append("|---|---|---|---|---|")
    for r in result["algorithmic_latency"]:
        out.append(f"| {r['latency_mode']} | {r['sample_rate_hz']} Hz | {r['n_fft']} / "
                   f"{r['hop_samples']} | {r['latency_samples']} | {r['latency_ms']:.2f} |")

    jack = result.get("jack_delay")
    if jack is not None:
        out.append("\n### Measured delay through JACK (dummy driver, 48 kHz)\n")
        if jack.get("skipped"):
            out.append(f"Skipped: {jack['skipped']}.")
        else:
            out.append("Probe -> device under test -> probe; the loopback row is the harness's own "
                       "baseline, subtracted from the others. Expected: the engine adds "
                       "`latency_samples`; `rtsep monitor` adds the latency it reports.\n")
            out.append("| block | DUT | mode | measured | baseline | added | expected | agrees | "
                       "xruns |")
            out.append("|---|---|---|---|---|---|---|---|---|")
            for r in jack["rows"]:
                if r.get("skipped"):
                    out.append(f"| {r['block_samples']} | {r['dut']} | {r['latency_mode']} | "
                               f"skipped: {r['skipped']} | | | | | |")
                    continue
                out.append(f"| {r['block_samples']} | {r['dut']} | {r['latency_mode'] or '—'} | "
                           f"{r['measured_samples']} | {r['baseline_samples']} | "
                           f"{r['added_samples']} | {_f(r['expected_samples'], 'd')} | "
                           f"{'yes' if r['agrees'] else 'NO'} | {r['n_xruns']} |")

    comp = result.get("compute_per_hop")
    if comp is not None:
        out.append(f"\n### Compute per hop, whole engine (STFT + model + iSTFT + mix), "
                   f"{comp['n_threads']} thread\n")
        out.append("One `Separator.process_into` call per hop; shares are of the hop period "
                   "(5.33 ms at 48 kHz, 5.80 ms at 44.1 kHz); RTF = mean / hop period. Key: the "
                   "key change (instrumental / vocals semitones; off: the shifters out of the "
                   "path).\n")
        out.append("| backend | mode | key | hops | p50 ms | p99 ms | p99.9 ms | max ms | p99 % hop 48k | "
                   "p99 % hop 44.1k | RTF 48k | model step p50 ms |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in comp["rows"]:
            e = r["engine"]
            out.append(f"| {r['backend']} | {r['latency_mode']} | {r.get('key', 'off')} | {e['n_calls']} | "
                       f"{e['p50_ms']:.3f} | {e['p99_ms']:.3f} | {e['p99_9_ms']:.3f} | "
                       f"{e['max_ms']:.3f} | {_pct(e['per_rate']['48000']['p99_share'])} | "
                       f"{_pct(e['per_rate']['44100']['p99_share'])} | "
                       f"{e['per_rate']['48000']['rtf']:.3f} | {r['model_step']['p50_ms']:.3f} |")
        for name, why in comp["skipped"].items():
            out.append(f"| {name} | — | — | skipped: {why} | | | | | | | | |")

    sched = result.get("deadline_misses")
    if sched is not None:
        out.append("\n### Deadline misses over sustained runs\n")
        if sched.get("runs"):
            first = sched["runs"][0]
            out.append(f"Simulated real-time schedule in-process: {sched['backend']}, "
                       f"{sched['latency_mode']} mode, "
                       f"{first['block_samples']}-frame blocks at {first['sample_rate_hz']} Hz "
                       f"({first['block_period_ms']:.3f} ms period); a device thread woken by "
                       "`time.sleep` to absolute deadlines, a worker thread running the engine. "
                       "A block misses with a margin of M samples when its output was not ready "
                       "M samples after the device thread handed its input over; device "
                       "wake-ups later than a period are counted apart (overruns). "
                       f"{sched['design_margin_samples']} samples is the design margin (block + "
                       "safety).\n")
            margins = sorted(first["misses"], key=int)
            out.append("| load | duration | blocks | " + " | ".join(
                f"misses @ {m} samples ({first['misses'][m]['margin_ms']:.2f} ms)"
                for m in margins) + " | response p99 / max ms | device wake late p99 / max ms | "
                "device overruns |")
            out.append("|---|---|---|" + "---|" * len(margins) + "---|---|---|")
            for run in sched["runs"]:
                cells = " | ".join(f"{run['misses'][m]['n_misses']} "
                                   f"({100 * run['misses'][m]['miss_rate']:.3f}%)" for m in margins)
                out.append(f"| {run['load']} | {run['duration_s']:.0f} s | {run['n_blocks']} | "
                           f"{cells} | {run['response_ms']['p99_ms']:.2f} / "
                           f"{run['response_ms']['max_ms']:.2f} | "
                           f"{run['device_wake_late_ms']['p99_ms']:.2f} / "
                           f"{run['device_wake_late_ms']['max_ms']:.2f} | "
                           f"{run['n_device_overruns']} |")
        if sched.get("monitor_runs"):
            first = sched["monitor_runs"][0]
            server = first.get("jack_server") or {}
            if not server.get("realtime_requested"):
                server_note = "started with --no-realtime"
            else:
                server_note = {True: "realtime (SCHED_FIFO)",
                               False: "realtime asked for, refused by the system",
                               None: "realtime asked for"}[server.get("realtime_active")]
            out.append("\n`rtsep monitor` as a user runs it (backend "
                       f"{first.get('backend')}, worker {(first.get('worker') or {}).get('scheduling')}) "
                       f"on a JACK dummy server, {server_note}, fed the benchmark audio in a loop "
                       "(karaoke output); its own counters from `--summary-json`. *Worker "
                       "response*: from a callback pushing its input to the worker pushing the "
                       "output made from it; a block misses when that exceeds the *deadline* "
                       "while the callbacks keep their rhythm. *Host-timing misses*: misses in a "
                       "callback that came outside 0.5-1.5 periods after the previous one (the "
                       "server stalled, then ran its cycles back to back to catch up: JACK counts "
                       "these as xruns); the rest came with regular callbacks. *Host steal*: "
                       "the share of CPU time the hypervisor took from this machine during the "
                       "run (`/proc/stat`; a quiet VM shows well under 0.1 %).\n")
            out.append("*Inline* runs the model in the callback itself: no worker, no margin "
                       "(the latency is the engine's), no misses to fall back from; a late "
                       "callback is an xrun the host counts, and the response column is then "
                       "each callback's own duration against the block period.\n")
            out.append("| schedule | load | duration | callbacks | misses (blocks) | miss rate | of them at "
                       "host-timing faults | xruns | worker response (inline: callback) p99.9 / max "
                       "(deadline) ms | callback gap max ms | host steal | latency (samples) | "
                       "worker load |")
            out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for run in sched["monitor_runs"]:
                rate = "—" if run["miss_rate"] is None else f"{100 * run['miss_rate']:.3f}%"
                load = (run.get("worker") or {}).get("load")
                t = run.get("timing") or {}
                host = t.get("n_misses_host_irregular")
                share = run.get("host_steal_share")
                steal = "—" if share is None else f"{100 * share:.2f}%"
                resp = (f"{_f(t.get('response_p999_ms'), '.2f')} / {_f(t.get('max_response_ms'), '.2f')} "
                        f"({_f(t.get('deadline_ms'), '.2f')})") if t else "—"
                out.append(f"| {run.get('schedule', 'worker')} | {run['load']} | "
                           f"{run['duration_s']:.0f} s | {run['n_blocks']} | "
                           f"{run['n_misses']} | {rate} | {_f(host, 'd')} | {run['n_xruns']} | "
                           f"{resp} | {_f(t.get('max_callback_gap_ms'), '.1f')} | {steal} | "
                           f"{run['total_latency_samples']} | {_f(load, '.3f')} |")
        for why in sched.get("skipped", []):
            out.append(f"\nSkipped: {why}.")

    alt = result.get("alternatives")
    if alt is not None:
        out.append("\n### The alternatives, same audio, same machine, same run\n")
        out.append("| approach | compute | hop share / RTF (1 core) | latency it needs | "
                   "published vocals SDR |")
        out.append("|---|---|---|---|---|")
        for r in alt["rows"]:
            out.append(f"| {r['approach']} | {r['compute']} | {r['load']} | {r['latency']} | "
                       f"{r['sdr']} |")
        for note in alt.get("notes", []):
            out.append(f"\n{note}")

    targets = result.get("targets")
    if targets:
        out.append("\n### Targets (reported, not asserted)\n")
        for t in targets:
            verdict = {True: "meets", False: "MISSES", None: "not measured"}[t["met"]]
            out.append(f"- {t['target']}: **{verdict}** ({t['value']})")

    if plot_names:
        out.append("")
        for title, name in plot_names.items():
            out.append(f"![{title}]({image_prefix}{name})")
    return "\n".join(out) + "\n"


def update_results_md(path: Path, section: str) -> None:
    """Replace (or append) the ``rtsep bench`` section of ``path``, keeping the rest."""
    body = f"{START_MARKER}\n## Latency and compute (`rtsep bench`)\n\n{section}{END_MARKER}\n"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        start, end = text.find(START_MARKER), text.find(END_MARKER)
        if start != -1 and end != -1 and end > start:
            text = text[:start] + body + text[end + len(END_MARKER):].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + body
    else:
        text = "# rtsep benchmark results\n\n" + body
    path.write_text(text, encoding="utf-8")


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def plot_compute_cdf(result: dict, path: Path) -> bool:
    """Per-hop compute CDF, one line per backend x mode (and the naive window). False if no data."""
    comp = result.get("compute_per_hop") or {}
    series = [(f"{r['backend']} {r['latency_mode']}"
               + ("" if r.get("key", "off") == "off" else f", key {r['key']}"), r.get("_engine_times_s"))
              for r in comp.get("rows", [])]
    for r in (result.get("alternatives") or {}).get("naive", []):
        if r.get("_engine_times_s") is not None:
            series.append((f"naive window {r['window_s']:g} s", r["_engine_times_s"]))
    series = [(name, t) for name, t in series if t is not None and len(t)]
    if not series:
        return False
    fig = _figure(7.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for name, t in series:
        ms = np.sort(np.asarray(t) * 1e3)
        ax.plot(ms, 100.0 * np.arange(1, len(ms) + 1) / len(ms), label=name, linewidth=1.2)
    hop_ms = 1e3 * result["hop_samples"] / 48000
    ax.axvline(hop_ms, color="k", linestyle="--", linewidth=0.8, label=f"hop period {hop_ms:.2f} ms")
    ax.axvline(0.25 * hop_ms, color="g", linestyle=":", linewidth=0.8, label="25% of the hop")
    ax.set_xscale("log")
    ax.set_xlabel("compute per hop, whole engine (ms, log scale)")
    ax.set_ylabel("cumulative share of hops (%)")
    ax.set_title("Per-hop compute, one thread, 48 kHz hop")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return True


def plot_latency_breakdown(result: dict, path: Path) -> bool:
    """Per latency mode at 48 kHz: algorithmic + scheduling margin, beside the measured delays."""
    lat = {r["latency_mode"]: r for r in result["algorithmic_latency"]
           if str(r["sample_rate_hz"]) == TARGET_SAMPLE_RATE_HZ}
    if not lat:
        return False
    margin = result.get("scheduling_margin") or {}
    margin_ms = margin.get("margin_ms")
    jack_rows = [r for r in (result.get("jack_delay") or {}).get("rows", [])
                 if not r.get("skipped") and r["dut"] != "loopback"
                 and r["block_samples"] == margin.get("block_samples", 128)]
    fig = _figure(7.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    modes = list(lat)
    width = 0.25
    for i, mode in enumerate(modes):
        alg_ms = lat[mode]["latency_ms"]
        ax.bar(i - width, alg_ms, width, color="tab:blue", label="algorithmic" if i == 0 else None)
        if margin_ms is not None:
            ax.bar(i - width, margin_ms, width, bottom=alg_ms, color="tab:orange",
                   label=f"scheduling margin ({margin.get('what', '')})" if i == 0 else None)
        for j, dut in enumerate(("engine", "monitor")):
            row = next((r for r in jack_rows if r["dut"] == dut and r["latency_mode"] == mode), None)
            if row is None:
                continue
            ms = 1e3 * row["added_samples"] / 48000
            ax.bar(i + j * width, ms, width, color=("tab:green", "tab:red")[j],
                   label=f"measured in JACK: {dut}" if i == 0 else None)
    ax.set_xticks(range(len(modes)), [f"{m} mode" for m in modes])
    ax.set_ylabel("ms at 48 kHz")
    ax.set_title(f"Latency breakdown ({margin.get('block_samples', 128)}-frame device blocks)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return True


def write_all(result: dict, out_dir: Path, results_md: Path | None = None) -> dict:
    """Write ``bench.json``, ``bench.md`` and the PNGs into ``out_dir``, and the
    section of ``results_md`` if given; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    if plot_compute_cdf(result, out_dir / "compute_per_hop_cdf.png"):
        plots["Per-hop compute CDF"] = "compute_per_hop_cdf.png"
    if plot_latency_breakdown(result, out_dir / "latency_breakdown.png"):
        plots["Latency breakdown"] = "latency_breakdown.png"
    text = markdown(result, plots)
    write_json(result, out_dir / "bench.json")
    (out_dir / "bench.md").write_text(text, encoding="utf-8")
    paths = {"json": out_dir / "bench.json", "markdown": out_dir / "bench.md"}
    paths.update({name: out_dir / name for name in plots.values()})
    if results_md is not None:
        import os

        prefix = os.path.relpath(out_dir.resolve(), results_md.resolve().parent)
        update_results_md(results_md, markdown(result, plots, "" if prefix == "." else prefix + "/"))
        paths["results_md"] = results_md
    return paths
