"""Separation quality: SDR of the streaming engine beside baselines.

Metric (``vocals_sdr_db``, ``accompaniment_sdr_db``): BSS Eval v4 SDR with
``museval`` — the MUSDB18 / SiSEC 2018 convention: the "images" variant with
time-invariant 512-tap filters, on 1-s windows, median over the windows where no
reference or estimate is silent. In that variant the SDR of a window is the
energy of the true stem over the energy of (estimate - true stem): a level or
tone error counts as distortion. A second number per stem (``*_sdr_fbe_db``) is
``fast_bss_eval``'s SDR computed afresh on every 1-s frame with its own 512-tap
filter (the "sources" variant, as BSS Eval v3 did framewise): it forgives any
per-frame filtering of the true stem and counts only what the estimate holds
that such a filter cannot explain. rtsep reported this second number as its
SDR until session 5. Estimates from the streaming engine are aligned by its
reported latency before scoring. For pieces whose vocals are silent
(instrumental), SDR is undefined; we report the vocal estimate's energy
relative to the mixture instead (``vocal_leak_db``: lower is better).

Baselines on the same clips:
* ``mixture``: the mixture itself as the vocal estimate (the floor);
* ``repet-sim``: REPET-SIM (nearest-neighbour median filtering of the
  spectrogram with librosa, then soft masks), per channel;
* ``oracle-irm``: the ideal amplitude-ratio mask ``|V| / (|V| + |A|)`` from the
  true stems, in the engine's own STFT: the model's geometry at the rate the
  model runs at (a 16-kHz clip is resampled to 44.1 kHz and back, as the engine
  does). What a magnitude mask reaches knowing the stems; not an upper bound (a
  power-ratio or binary mask scores higher on some sets);
* ``spleeter``: Deezer's Spleeter 2-stem (offline, whole-clip context, 93-ms
  windows; :mod:`rtsep.train.teacher`): what a user gets when latency does not
  matter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from rtsep import offline
from rtsep.config import StftGeometry
from rtsep.metrics import (RECALL_BANDS_HZ, band_label, band_recall, energy_db, framewise_sdr_db,
                           instrumental_leak_db, museval_scores)

SILENCE_DB = -60.0


def repet_sim(mix: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """REPET-SIM vocal estimate of ``mix`` ``(n_channels, n_samples)``."""
    import librosa

    out = np.zeros_like(mix)
    n_fft, hop = 2048, 512
    for c in range(mix.shape[0]):
        spec = librosa.stft(mix[c], n_fft=n_fft, hop_length=hop)
        mag = np.abs(spec)
        width = int(librosa.time_to_frames(2.0, sr=sample_rate_hz, hop_length=hop))
        width = max(1, min(width, (mag.shape[1] - 1) // 2 - 1))  # short clips
        rep = librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=width)
        rep = np.minimum(mag, rep)
        fg = librosa.util.softmask(mag - rep, 10.0 * rep, power=2)
        out[c] = librosa.istft(fg * spec, hop_length=hop, length=mix.shape[1])
    return out.astype(np.float32)


def oracle_irm(mix: np.ndarray, vocals: np.ndarray, geometry: StftGeometry,
               sample_rate_hz: int) -> np.ndarray:
    """Ideal ratio mask estimate in the engine's STFT (time-aligned with the input).

    The mask is computed at the rate the model would run ``mix`` at
    (:func:`rtsep.engine.nearest_model_rate`), with ``geometry``: the STFT's
    resolution in Hz and ms is the engine's, not that of the clip's own rate (at
    16 kHz a 1024-sample frame is 64 ms; the engine's is 23 ms)."""
    from rtsep.engine import nearest_model_rate, resample_to

    work_rate = nearest_model_rate(sample_rate_hz)
    mix_w = resample_to(mix, sample_rate_hz, work_rate)
    vocals_w = resample_to(vocals, sample_rate_hz, work_rate)
    v = offline.stft(vocals_w, geometry)
    a = offline.stft(mix_w - vocals_w, geometry)
    mask = np.abs(v) / (np.abs(v) + np.abs(a) + 1e-8)
    est = offline.istft(offline.stft(mix_w, geometry) * mask, geometry, mix_w.shape[1])
    return resample_to(est, work_rate, sample_rate_hz, mix.shape[1])


@dataclass
class ClipResult:
    name: str
    set_name: str
    sample_rate_hz: int
    has_vocals: bool
    scores: dict = field(default_factory=dict)  # method -> {"vocals_sdr_db", "accompaniment_sdr_db"} or leak


def score_clip(name: str, set_name: str, mix: np.ndarray, vocals: np.ndarray, sample_rate_hz: int,
               methods: dict[str, Callable[[np.ndarray, int], np.ndarray]]) -> ClipResult:
    """Score every method's vocal estimate (accompaniment = mix - vocals estimate)."""
    has_vocals = energy_db(vocals) - energy_db(mix) > SILENCE_DB
    res = ClipResult(name, set_name, sample_rate_hz, bool(has_vocals))
    acc = mix - vocals
    for method, fn in methods.items():
        est_v = fn(mix, sample_rate_hz)
        # The mixture baseline estimates both stems with the mixture itself.
        est_a = mix if method == "mixture" else mix - est_v
        if has_vocals:
            res.scores[method] = {
                **museval_scores((vocals, acc), (est_v, est_a), sample_rate_hz),
                "instrumental_leak_db": instrumental_leak_db(mix, vocals, est_v, sample_rate_hz),
                "vocals_sdr_fbe_db": framewise_sdr_db(vocals, est_v, sample_rate_hz),
                "accompaniment_sdr_fbe_db": framewise_sdr_db(acc, est_a, sample_rate_hz),
                "vocal_recall_by_band": band_recall(vocals, est_v, sample_rate_hz),
            }
        else:  # no vocals to score: the leak, and the accompaniment by the per-frame SDR
            res.scores[method] = {"vocal_leak_db": energy_db(est_v) - energy_db(mix),
                                  "accompaniment_sdr_fbe_db": framewise_sdr_db(acc, est_a, sample_rate_hz)}
    return res


def summarize(results: Iterable[ClipResult]) -> dict:
    """Median per (set, method) over the clips that have vocals; leak over the rest."""
    keys = ("vocals_sdr_db", "accompaniment_sdr_db", "vocals_sdr_fbe_db", "accompaniment_sdr_fbe_db",
            "vocal_leak_db", "vocals_sir_db", "accompaniment_sir_db", "instrumental_leak_db")
    table: dict = {}
    for r in results:
        for method, sc in r.scores.items():
            cell = table.setdefault(r.set_name, {}).setdefault(method, {k: [] for k in keys + ("recall",)})
            for k in keys:
                if k in sc:
                    cell[k].append(sc[k])
            if "vocal_recall_by_band" in sc:
                cell["recall"].append(sc["vocal_recall_by_band"])
    out: dict = {}
    for set_name, methods in table.items():
        for method, cell in methods.items():
            med = lambda v: (float(np.nanmedian(v)) if len(v) and not np.all(np.isnan(v))  # noqa: E731
                             else None)
            recall = {band: med([r[band] for r in cell["recall"]]) for band in
                      (cell["recall"][0] if cell["recall"] else {})}
            out.setdefault(set_name, {})[method] = {
                **{k: med(cell[k]) for k in keys},
                "n_clips": len(cell["accompaniment_sdr_fbe_db"]), "vocal_recall_by_band": recall}
    return out


def markdown_table(summary: dict) -> str:
    lines = ["| set | method | vocals SDR (dB) | accompaniment SDR (dB) | accompaniment SIR (dB) "
             "| leak on instrumental passages (dB) | vocals SDR, per-frame filter (dB) "
             "| accompaniment SDR, per-frame filter (dB) | vocal leak on instrumentals (dB) | clips |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v: "–" if v is None or np.isnan(v) else f"{v:.2f}"  # noqa: E731
    for set_name, methods in summary.items():
        for method, m in methods.items():
            lines.append(f"| {set_name} | {method} | {fmt(m['vocals_sdr_db'])} | {fmt(m['accompaniment_sdr_db'])} "
                         f"| {fmt(m.get('accompaniment_sir_db'))} | {fmt(m.get('instrumental_leak_db'))} "
                         f"| {fmt(m['vocals_sdr_fbe_db'])} | {fmt(m['accompaniment_sdr_fbe_db'])} "
                         f"| {fmt(m['vocal_leak_db'])} | {m['n_clips']} |")
    return "\n".join(lines)


def recall_table(summary: dict) -> str:
    """Markdown: median vocal recall per band (:func:`band_recall`) per set and method."""
    bands = [band_label(lo, hi) for lo, hi in RECALL_BANDS_HZ]
    lines = ["| set | method | " + " | ".join(f"{b} Hz" for b in bands) + " |",
             "|---|---|" + "---:|" * len(bands)]
    for set_name, methods in summary.items():
        for method, m in methods.items():
            recall = m.get("vocal_recall_by_band") or {}
            if method == "mixture" or not recall:
                continue
            cells = ["–" if recall.get(b) is None or np.isnan(recall[b]) else f"{recall[b]:.2f}"
                     for b in bands]
            lines.append(f"| {set_name} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_summary(summary: dict, path: Path) -> None:
    """Bar charts per set: median vocals SDR and accompaniment SIR of every method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s, methods in summary.items()
            if any(m.get("vocals_sdr_db") is not None for m in methods.values())]
    if not sets:
        return
    methods = sorted({m for s in sets for m in summary[s]},
                     key=lambda m: (m != "rtsep", m))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / max(1, len(methods))
    for ax, key, label in ((axes[0], "vocals_sdr_db", "vocals SDR (dB)"),
                           (axes[1], "accompaniment_sir_db", "accompaniment SIR (dB): voice left in")):
        for k, method in enumerate(methods):
            vals = [summary[s].get(method, {}).get(key) for s in sets]
            vals = [np.nan if v is None else v for v in vals]
            ax.bar(np.arange(len(sets)) + k * width, vals, width, label=method)
        ax.set_xticks(np.arange(len(sets)) + 0.4 - width / 2, sets, rotation=20, fontsize=8)
        ax.set_ylabel(label), ax.grid(axis="y", alpha=0.3), ax.axhline(0, color="k", lw=0.5)
    axes[0].legend(fontsize=8)
    fig.suptitle("rtsep eval: medians per set (BSS Eval v4)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_strength(summary: dict, methods: dict[str, float], path: Path) -> None:
    """Line plots per set of the median vocals SDR, accompaniment SDR and accompaniment SIR
    against the separation strength; ``methods``: the method name of each strength."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(methods.items(), key=lambda kv: kv[1])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharex=True)
    for ax, key, label in ((axes[0], "vocals_sdr_db", "vocals SDR (dB)"),
                           (axes[1], "accompaniment_sdr_db", "accompaniment SDR (dB)"),
                           (axes[2], "accompaniment_sir_db", "accompaniment SIR (dB): voice left in")):
        for set_name, by_method in summary.items():
            pts = [(s, by_method.get(m, {}).get(key)) for m, s in order]
            pts = [(s, v) for s, v in pts if v is not None and not np.isnan(v)]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=set_name)
        ax.set_xscale("log", base=2)
        ax.set_xticks([s for _, s in order], [f"{s:g}" for _, s in order])
        ax.set_xlabel("separation strength"), ax.set_ylabel(label), ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8)
    fig.suptitle("rtsep eval: what the separation strength trades (medians per set, BSS Eval v4)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_spectrograms(path: Path, mix: np.ndarray, vocals: np.ndarray, est: np.ndarray,
                      sample_rate_hz: int, title: str) -> None:
    """PNG with mixture / true vocals / estimate spectrograms (left channel, first 10 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft as sp_stft

    n = min(mix.shape[1], 10 * sample_rate_hz)
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for ax, (label, x) in zip(axes, (("mixture", mix), ("true vocals", vocals), ("rtsep vocals", est))):
        f, t, z = sp_stft(x[0, :n], fs=sample_rate_hz, nperseg=2048, noverlap=1536)
        ax.pcolormesh(t, f / 1000, 20 * np.log10(np.abs(z) + 1e-6), vmin=-100, vmax=-20, shading="auto",
                      cmap="magma")
        ax.set_ylabel("kHz"), ax.set_ylim(0, 12), ax.set_title(label, fontsize=9)
    axes[-1].set_xlabel("s")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(out_dir: Path, results: list[ClipResult], extra: dict | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    payload = {"summary": summary, "clips": [r.__dict__ for r in results], **(extra or {})}
    (out_dir / "eval.json").write_text(json.dumps(payload, indent=1))
    (out_dir / "eval.md").write_text(
        "SDR and SIR: BSS Eval v4 (museval, 1-s windows, median over windows, then over clips); "
        "accompaniment SIR: how far the voice left in the instrumental lies below it; leak on "
        "instrumental passages: the vocal estimate's energy relative to the mixture over the 1-s "
        "windows of sung clips where the true vocals are 40 dB down; "
        "'per-frame filter': fast_bss_eval's SDR with a 512-tap filter fitted in every 1-s frame "
        "(forgives level and tone errors).\n\n"
        + markdown_table(summary) + "\n\nVocal recall by band (median over sung clips; the share of "
        "the true vocals the estimate keeps, 1 = all; see `band_recall`):\n\n"
        + recall_table(summary) + "\n")
    return summary
