"""rtsep's live key change set beside Rubber Band's offline pitch shift.

What is compared
    rtsep: the phase-vocoder shifter inside the streaming block processor (identity
    phase locking, n_fft 1024, hop 256), on the instrumental lane: a runner whose mask
    is 0 sends the whole input to the instrumental, and ``key_semitones`` shifts it
    (plain shift, no formant correction: the lane used for accompaniment). No
    separation model runs. The input is streamed in ``--block``-sample blocks, followed
    by ``latency_samples`` of zeros, and the output is advanced by ``latency_samples``.

    Rubber Band: the ``rubberband`` command-line tool, offline, ``-p SEMITONES`` with
    its default engine (R2, "faster") and, when the tool offers it, ``--fine`` (R3).
    Its output is aligned to the input by cross-correlating RMS envelopes (16-sample
    hop); the lag found (offline Rubber Band compensates its own delay, so it should
    be 0) is removed and reported. rtsep's residual lag is measured the same way and
    reported, but not removed.

Material
    1. The MUSDB18 preview "Music Delta - 80s Rock": its accompaniment (drums + bass +
       other), 44.1 kHz stereo, 6.8 s (evaluation-only data).
    2. 20 s of the CC0 song 7-Francium's accompaniment (everythingisremixed), 48 kHz
       stereo, from ``--start`` seconds (default 60 s, where the full band plays).
    Each excerpt is scaled to a 0.9 peak; both shifters get the same samples
    (Rubber Band via a 32-bit float WAV).

Measures (per excerpt, per shift in -5, -2, +1, +3, +6 semitones; the first 0.25 s
and last 0.1 s are left out of every measure)
    * Log-spectral distance (dB) between two shifters' outputs: on 128-band mel power
      spectrograms (n_fft 2048, hop 512, mono = mean of channels) in dB, floored at
      80 dB below the input's peak band power; per frame the RMS over bands of the
      difference, averaged over frames. rtsep vs each Rubber Band engine, and the two
      Rubber Band engines against each other as a yardstick of how far two good
      shifts differ. (The input resampled by the pitch ratio is not a reference: it
      changes the tempo.)
    * Chroma check of the pitch: librosa ``chroma_cqt`` (tuning fixed to the input's
      estimate) of the input, rolled by the shift, against the output's chroma: mean
      per-frame cosine similarity over frames where the input is within 50 dB of its
      loudest frame. The floor is the same similarity for the unshifted input against
      itself rolled by the shift (what a shifter that did nothing would score). The
      same check is also made on the bass (C1-C3) and upper (C3-C8) bands alone.
    * Level change: 20 log10(RMS out / RMS in), dB.
    * Max sample-to-sample jump of the output over the input's (a shift up by k
      semitones may legitimately raise it by up to 2^(k/12)).
    * Wall-clock seconds per second of audio: rtsep's block loop (including building
      the processor; the mask-0 runner is stepped from Python once per hop), and the
      ``rubberband`` process (including its start-up and its WAV reading and writing).
    * Low-sine probe: 2-s sines at 41.2, 55, 65.4, 82.4 and 110 Hz (48 kHz) shifted by
      -5 and +3 semitones: level, share of the output energy within 3 Hz of the target
      pitch, largest step over a clean shifted sine's (rtsep and Rubber Band R3).

Outputs: a markdown table on stdout; ``<out>/keychange_quality.json`` with every number;
mel spectrogram PNGs of input, rtsep and Rubber Band (R3 when available) for +3
semitones; with ``--results-md FILE``, the section "## Key change beside Rubber Band"
of FILE is replaced (appended the first time). Progress goes to stderr.

    python benchmarks/keychange_quality.py [--results-md benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHIFTS = (-5, -2, 1, 3, 6)
PNG_SHIFT = 3
SECTION = "## Key change beside Rubber Band"
HEAD_SKIP_S, TAIL_SKIP_S = 0.25, 0.1
MEL = dict(n_fft=2048, hop_length=512, n_mels=128)
FLOOR_DB = 80.0
CHROMA_GATE_DB = 50.0
ENV_HOP, ENV_WIN, MAX_LAG = 16, 256, 4096
#: chroma bands (name, lowest note, octaves): the whole default range split at C3
CHROMA_BANDS = (("bass", "C1", 2), ("upper", "C3", 5))
#: low-sine probe: tones (Hz) at 48 kHz and the shifts they are put through
PROBE_RATE, PROBE_TONES, PROBE_SHIFTS = 48000, (41.2, 55.0, 65.4, 82.4, 110.0), (-5, 3)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fail(message: str) -> None:
    print(f"keychange_quality: {message}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- material

def load_excerpts(root: Path, seconds: float, start: float) -> list[dict]:
    import soundfile as sf

    musdb = root / "real-dev" / "musdb18-preview-80s-rock"
    song = root / "real-train" / "everythingisremixed" / "7-Francium" / "accompaniment.ogg"
    if not musdb.is_dir():
        fail(f"MUSDB preview not found at {musdb} (set RTSEP_DATA to the shared data folder)")
    if not song.is_file():
        fail(f"CC0 song accompaniment not found at {song} (set RTSEP_DATA to the shared data folder)")

    if (musdb / "accompaniment.wav").is_file():
        acc, rate = sf.read(musdb / "accompaniment.wav", dtype="float32", always_2d=True)
        how = "accompaniment.wav"
    else:
        stems = [sf.read(musdb / f"{s}.wav", dtype="float32", always_2d=True) for s in ("drums", "bass", "other")]
        rate = stems[0][1]
        acc = sum(s[0] for s in stems)
        how = "drums + bass + other"
    excerpts = [dict(name="musdb-80s-rock", label="MUSDB 80s Rock accompaniment",
                     source=f"real-dev/musdb18-preview-80s-rock ({how})", rate=int(rate),
                     start_s=0.0, audio=acc.T)]

    rate = sf.info(song).samplerate
    audio, rate = sf.read(song, start=int(start * rate), frames=int(seconds * rate),
                          dtype="float32", always_2d=True)
    if audio.shape[0] < int(seconds * rate) * 0.99:
        fail(f"{song} is shorter than {start + seconds:.0f} s")
    excerpts.append(dict(name="francium", label=f"7-Francium accompaniment, {seconds:.0f} s",
                         source="real-train/everythingisremixed/7-Francium/accompaniment.ogg",
                         rate=int(rate), start_s=float(start), audio=audio.T))
    for e in excerpts:
        x = np.ascontiguousarray(e["audio"], dtype=np.float32)
        e["audio"] = (x * (0.9 / max(1e-9, float(np.abs(x).max())))).astype(np.float32)
        e["seconds"] = x.shape[1] / e["rate"]
    return excerpts


# ---------------------------------------------------------------- shifters

def rtsep_shift(x: np.ndarray, rate: int, semitones: float, block: int) -> tuple[np.ndarray, float, int]:
    """x shifted by rtsep's instrumental lane (mask 0), latency removed."""
    from rtsep import _core
    from rtsep.engine import IdentityRunner, block_processor

    class AllInstrumental(IdentityRunner):
        def __init__(self) -> None:
            super().__init__(sample_rate_hz=rate)
            self._mask = np.zeros_like(self._mask)

    t0 = time.perf_counter()
    params = _core.Parameters()
    params.key_semitones = float(semitones)
    proc = block_processor(AllInstrumental(), max_block_samples=block, n_channels=x.shape[0],
                           parameters=params)
    latency = int(proc.latency_samples)
    n = x.shape[1]
    padded = np.zeros((x.shape[0], n + latency), np.float32)
    padded[:, :n] = x
    vocals, instrumental = np.zeros_like(padded), np.zeros_like(padded)
    for s in range(0, padded.shape[1], block):
        e = min(s + block, padded.shape[1])
        proc.process(padded[:, s:e], vocals[:, s:e], instrumental[:, s:e])
    elapsed = time.perf_counter() - t0
    return instrumental[:, latency:latency + n], elapsed, latency


def rubberband_engines() -> list[tuple[str, list[str], str]]:
    """(key, extra flags, description) for the default engine and R3 if offered."""
    helptext = subprocess.run(["rubberband", "--help"], capture_output=True, text=True)
    text = helptext.stdout + helptext.stderr
    engines = [("R2", [], "default engine (R2, --fast)")]
    if "--fine" in text:
        engines.append(("R3", ["--fine"], "R3 engine (--fine)"))
    return engines


def rubberband_shift(wav_in: Path, wav_out: Path, semitones: float, flags: list[str]) -> tuple[np.ndarray, float]:
    import soundfile as sf

    cmd = ["rubberband", "-q", "-p", f"{semitones:g}", *flags, str(wav_in), str(wav_out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        fail(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    y, _ = sf.read(wav_out, dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.T), elapsed


# ---------------------------------------------------------------- alignment

def envelope(x: np.ndarray) -> np.ndarray:
    """RMS envelope of the channel mean, ENV_WIN window every ENV_HOP samples."""
    power = np.concatenate([[0.0], np.cumsum(x.mean(axis=0).astype(np.float64) ** 2)])
    starts = np.arange(0, x.shape[1] - ENV_WIN, ENV_HOP)
    return np.sqrt((power[starts + ENV_WIN] - power[starts]) / ENV_WIN)


def lag_samples(reference: np.ndarray, out: np.ndarray) -> int:
    """How many samples ``out`` lags ``reference`` (envelope cross-correlation)."""
    a, b = envelope(reference), envelope(out)
    n = min(a.size, b.size)
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    max_k = MAX_LAG // ENV_HOP
    best, best_k = -np.inf, 0
    for k in range(-max_k, max_k + 1):
        score = np.dot(a[max(0, -k):n - max(0, k)], b[max(0, k):n - max(0, -k)])
        if score > best:
            best, best_k = score, k
    return best_k * ENV_HOP


def shift_in_time(out: np.ndarray, lag: int, n: int) -> np.ndarray:
    """Advance ``out`` by ``lag`` samples (delay if negative), length n."""
    y = np.zeros((out.shape[0], n), np.float32)
    if lag >= 0:
        part = out[:, lag:lag + n]
        y[:, :part.shape[1]] = part
    else:
        part = out[:, :n + lag]
        y[:, -lag:-lag + part.shape[1]] = part
    return y


# ---------------------------------------------------------------- measures

class Measures:
    """Per-excerpt state: the input's spectra and chroma, computed once."""

    def __init__(self, x: np.ndarray, rate: int):
        import librosa

        self.librosa = librosa
        self.rate = rate
        self.region = slice(int(HEAD_SKIP_S * rate), x.shape[1] - int(TAIL_SKIP_S * rate))
        self.x = x[:, self.region]
        mono = self.x.mean(axis=0)
        mel = librosa.feature.melspectrogram(y=mono, sr=rate, **MEL)
        self.floor = float(mel.max()) * 10 ** (-FLOOR_DB / 10)
        self.mel_in = self.mel_db(self.x)
        self.tuning = float(librosa.estimate_tuning(y=mono, sr=rate))
        self.chroma_in = self.chroma(self.x)
        self.band_in = {b: self.chroma(self.x, band=b) for b, _, _ in CHROMA_BANDS}
        rms = librosa.feature.rms(y=mono, frame_length=2048, hop_length=MEL["hop_length"])[0]
        rms_db = 20 * np.log10(np.maximum(rms, 1e-12))
        n = min(rms_db.size, self.chroma_in.shape[1])
        self.gate = np.zeros(self.chroma_in.shape[1], bool)
        self.gate[:n] = rms_db[:n] > rms_db.max() - CHROMA_GATE_DB
        self.rms_in = float(np.sqrt(np.mean(self.x.astype(np.float64) ** 2)))
        self.jump_in = float(np.abs(np.diff(self.x, axis=1)).max())

    def mel_db(self, y: np.ndarray) -> np.ndarray:
        mel = self.librosa.feature.melspectrogram(y=y.mean(axis=0), sr=self.rate, **MEL)
        return 10 * np.log10(np.maximum(mel, self.floor))

    def chroma(self, y: np.ndarray, band: str | None = None) -> np.ndarray:
        extra = {}
        if band is not None:
            _, note, octaves = next(b for b in CHROMA_BANDS if b[0] == band)
            extra = dict(fmin=self.librosa.note_to_hz(note), n_octaves=octaves)
        return self.librosa.feature.chroma_cqt(y=y.mean(axis=0), sr=self.rate,
                                               hop_length=MEL["hop_length"], tuning=self.tuning, **extra)

    def chroma_similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        n = min(a.shape[1], b.shape[1])
        a, b, gate = a[:, :n], b[:, :n], self.gate[:n]
        cos = (a * b).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-12)
        return float(cos[gate].mean())

    def floor_similarity(self, semitones: int) -> dict:
        out = {"all": self.chroma_similarity(self.chroma_in, np.roll(self.chroma_in, semitones, axis=0))}
        for b, c in self.band_in.items():
            out[b] = self.chroma_similarity(c, np.roll(c, semitones, axis=0))
        return out

    def of_output(self, y_full: np.ndarray, semitones: int) -> dict:
        y = y_full[:, self.region]
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        return dict(
            mel_db=self.mel_db(y),
            chroma_cos=self.chroma_similarity(np.roll(self.chroma_in, semitones, axis=0), self.chroma(y)),
            chroma_cos_bands={b: self.chroma_similarity(np.roll(c, semitones, axis=0), self.chroma(y, band=b))
                              for b, c in self.band_in.items()},
            level_db=20 * np.log10(max(rms, 1e-12) / self.rms_in),
            max_jump_ratio=float(np.abs(np.diff(y, axis=1)).max()) / self.jump_in,
        )


def lsd_db(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.shape[1], b.shape[1])
    return float(np.mean(np.sqrt(np.mean((a[:, :n] - b[:, :n]) ** 2, axis=0))))


def tone_measures(x: np.ndarray, y: np.ndarray, rate: int, target_hz: float) -> dict:
    """A shifted sine's steady part (0.5 s in to 0.1 s before the end): level, the share
    of its energy within 3 Hz of the target, and its largest step over a clean sine's."""
    part = slice(rate // 2, x.shape[1] - rate // 10)
    seg, ref = y[0, part].astype(np.float64), x[0, part].astype(np.float64)
    power = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2
    freqs = np.fft.rfftfreq(seg.size, 1 / rate)
    amplitude = float(np.abs(x).max())
    return dict(level_db=20 * np.log10(max(seg.std(), 1e-12) / ref.std()),
                at_target=float(power[np.abs(freqs - target_hz) <= 3.0].sum() / max(power.sum(), 1e-30)),
                max_step_ratio=float(np.abs(np.diff(seg)).max()) / (amplitude * 2 * np.pi * target_hz / rate))


def low_tone_probe(engines: list, tmp: Path, block: int) -> list[dict]:
    """2-s stereo sines (0.5 peak) at PROBE_TONES through rtsep and the reference engine."""
    import soundfile as sf

    rate = PROBE_RATE
    ref_key, ref_flags, _ = engines[-1]
    t = np.arange(2 * rate) / rate
    rows = []
    for f0 in PROBE_TONES:
        x = np.repeat((0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)[None], 2, axis=0)
        wav = tmp / "tone.wav"
        sf.write(wav, x.T, rate, subtype="FLOAT")
        for k in PROBE_SHIFTS:
            target = f0 * 2 ** (k / 12)
            y, _, _ = rtsep_shift(x, rate, k, block)
            raw, _ = rubberband_shift(wav, tmp / "tone-out.wav", k, ref_flags)
            rows.append(dict(tone_hz=f0, semitones=k, target_hz=target,
                             rtsep=tone_measures(x, y, rate, target),
                             **{ref_key: tone_measures(x, shift_in_time(raw, 0, x.shape[1]), rate, target)}))
    return rows


# ---------------------------------------------------------------- figures

def save_png(path: Path, excerpt: dict, panels: list[tuple[str, np.ndarray]], seconds: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import librosa.display
    import matplotlib.pyplot as plt

    rate = excerpt["rate"]
    top = max(float(p.max()) for _, p in panels)
    frames = int(seconds * rate / MEL["hop_length"])
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 6), sharex=True)
    for ax, (title, mel) in zip(axes, panels):
        image = librosa.display.specshow(mel[:, :frames] - top, sr=rate, hop_length=MEL["hop_length"],
                                         x_axis="time", y_axis="mel", ax=ax, vmin=-FLOOR_DB, vmax=0,
                                         cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("Hz", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel(f"seconds (from {HEAD_SKIP_S:g} s into the excerpt)", fontsize=8)
    fig.colorbar(image, ax=axes, format="%+.0f dB", shrink=0.8)
    fig.suptitle(f"{excerpt['label']}: +{PNG_SHIFT} semitones (mel power, dB re the loudest)", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=80)
    plt.close(fig)
    buffer.seek(0)
    from PIL import Image  # matplotlib's own dependency: a 128-colour palette keeps the file small

    Image.open(buffer).convert("RGB").quantize(colors=128).save(path, optimize=True)


# ---------------------------------------------------------------- report

def fmt_shift(k: int) -> str:
    return f"{k:+d}"


def tables(result: dict) -> str:
    engines = result["rubberband"]["engines"]
    keys = [e["key"] for e in engines]
    lsd_cols = [f"LSD rtsep↔{k}" for k in keys] + ([f"LSD {keys[0]}↔{keys[1]}"] if len(keys) > 1 else [])
    names = ["rtsep", *keys]
    head = (["excerpt", "shift", *lsd_cols]
            + [f"chroma {n}" for n in names] + ["chroma floor",
               "level dB " + " / ".join(names), "max jump × " + " / ".join(names)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in result["cases"]:
        s = case["shifters"]
        lsd = [case["lsd_db"][f"rtsep~{k}"] for k in keys] + ([case["lsd_db"][f"{keys[0]}~{keys[1]}"]] if len(keys) > 1 else [])
        row = ([case["excerpt"], fmt_shift(case["semitones"])] + [f"{v:.2f}" for v in lsd]
               + [f"{s[n]['chroma_cos']:.3f}" for n in names] + [f"{case['chroma_floor']:.3f}",
                  " / ".join(f"{s[n]['level_db']:+.2f}" for n in names),
                  " / ".join(f"{s[n]['max_jump_ratio']:.2f}" for n in names)])
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| excerpt | audio s | " + " | ".join(f"{n} s per audio s" for n in names) + " |",
              "|" + "---|" * (2 + len(names))]
    for e in result["excerpts"]:
        cases = [c for c in result["cases"] if c["excerpt"] == e["name"]]
        per = [np.mean([c["shifters"][n]["seconds"] for c in cases]) / e["seconds"] for n in names]
        lines.append(f"| {e['name']} | {e['seconds']:.1f} | " + " | ".join(f"{v:.3f}" for v in per) + " |")
    if result.get("low_tone_probe"):
        ref = keys[-1]
        lines += ["", "| sine Hz | shift | " + " | ".join(f"{n} {m}" for n in ("rtsep", ref)
                                                       for m in ("level dB", "energy at target", "max step ×")) + " |",
                  "|" + "---|" * 8]
        for r in result["low_tone_probe"]:
            lines.append(f"| {r['tone_hz']:g} | {fmt_shift(r['semitones'])} | " + " | ".join(
                f"{r[n]['level_db']:+.1f} | {r[n]['at_target']:.2f} | {r[n]['max_step_ratio']:.1f}" for n in ("rtsep", ref)) + " |")
    return "\n".join(lines)


def findings(result: dict) -> list[str]:
    """Plain statements computed from the numbers (no claim beyond them)."""
    keys = [e["key"] for e in result["rubberband"]["engines"]]
    ref = keys[-1]
    cases = result["cases"]
    out = []
    r_cos = [c["shifters"]["rtsep"]["chroma_cos"] for c in cases]
    b_cos = [c["shifters"][ref]["chroma_cos"] for c in cases]
    floors = [c["chroma_floor"] for c in cases]
    out.append(f"Chroma similarity to the rolled input: rtsep {min(r_cos):.3f}–{max(r_cos):.3f}, "
               f"Rubber Band {ref} {min(b_cos):.3f}–{max(b_cos):.3f}, against an unshifted floor of "
               f"{min(floors):.3f}–{max(floors):.3f}.")
    gaps = [(c["shifters"][ref]["chroma_cos"] - c["shifters"]["rtsep"]["chroma_cos"], c) for c in cases]
    worst_gap, worst = max(gaps, key=lambda g: g[0])
    out.append(f"Largest chroma shortfall of rtsep against {ref}: {worst_gap:+.3f} "
               f"({worst['excerpt']}, {fmt_shift(worst['semitones'])}).")
    below = [c for c in cases if c["shifters"]["rtsep"]["chroma_cos"] <= c["chroma_floor"]]
    if below:
        out.append("rtsep's chroma similarity is at or below the unshifted floor in: " + "; ".join(
            f"{c['excerpt']} {fmt_shift(c['semitones'])} ({c['shifters']['rtsep']['chroma_cos']:.3f} vs "
            f"floor {c['chroma_floor']:.3f})" for c in below) + ".")
    for band, note, octaves in CHROMA_BANDS:
        top = f"{note[0]}{int(note[1:]) + octaves}"
        vals = {n: [c["shifters"][n]["chroma_cos_bands"][band] for c in cases] for n in ("rtsep", ref)}
        fl = [c["chroma_floor_bands"][band] for c in cases]
        out.append(f"Chroma of the {band} band alone ({note}–{top}): rtsep {min(vals['rtsep']):.3f}–"
                   f"{max(vals['rtsep']):.3f}, {ref} {min(vals[ref]):.3f}–{max(vals[ref]):.3f}, "
                   f"floor {min(fl):.3f}–{max(fl):.3f}.")
    probe = result.get("low_tone_probe") or []
    if probe:
        bad = [r for r in probe if r["rtsep"]["at_target"] < 0.5]
        good = [r for r in probe if r["rtsep"]["at_target"] >= 0.5]
        spacing = PROBE_RATE / 1024
        if bad:
            out.append(f"Low sines at {PROBE_RATE} Hz (rtsep's STFT bins are {spacing:.1f} Hz apart): for "
                       f"{', '.join(f'{f:g}' for f in sorted({r['tone_hz'] for r in bad}))} Hz rtsep leaves at most "
                       f"{max(r['rtsep']['at_target'] for r in bad):.2f} of the output energy within 3 Hz of the "
                       f"target (level {min(r['rtsep']['level_db'] for r in bad):+.1f} to "
                       f"{max(r['rtsep']['level_db'] for r in bad):+.1f} dB, steps up to "
                       f"{max(r['rtsep']['max_step_ratio'] for r in bad):.0f}× a clean shifted sine's)"
                       + (f", against at least {min(r['rtsep']['at_target'] for r in good):.2f} at "
                          f"{', '.join(f'{f:g}' for f in sorted({r['tone_hz'] for r in good}))} Hz" if good else "")
                       + f"; Rubber Band {ref}: {min(r[ref]['at_target'] for r in probe):.2f}–"
                       f"{max(r[ref]['at_target'] for r in probe):.2f} at every tone.")
        else:
            out.append(f"Low sines: rtsep keeps at least {min(r['rtsep']['at_target'] for r in probe):.2f} of the "
                       f"energy within 3 Hz of the target at every tone ({', '.join(f'{f:g}' for f in PROBE_TONES)} Hz).")
    lsd_r = [c["lsd_db"][f"rtsep~{ref}"] for c in cases]
    out.append(f"Log-spectral distance rtsep↔{ref}: {min(lsd_r):.2f}–{max(lsd_r):.2f} dB"
               + (f"; {keys[0]}↔{keys[1]} (two Rubber Band engines): "
                  f"{min(c['lsd_db'][f'{keys[0]}~{keys[1]}'] for c in cases):.2f}–"
                  f"{max(c['lsd_db'][f'{keys[0]}~{keys[1]}'] for c in cases):.2f} dB." if len(keys) > 1 else "."))
    levels = {n: [c["shifters"][n]["level_db"] for c in cases] for n in ["rtsep", *keys]}
    out.append("Level change (dB): " + "; ".join(f"{n} {min(v):+.2f} to {max(v):+.2f}" for n, v in levels.items()) + ".")
    lags = {n: sorted({c["shifters"][n]["lag_samples"] for c in cases}) for n in ["rtsep", *keys]}
    out.append("Envelope lags found (samples; Rubber Band's removed, rtsep's only reported): "
               + "; ".join(f"{n} {v}" for n, v in lags.items()) + ".")
    return out


def section(result: dict, md_path: Path, json_path: Path, pngs: list[Path]) -> str:
    engines = result["rubberband"]["engines"]
    keys = [e["key"] for e in engines]
    lines = [SECTION, "",
             "`python benchmarks/keychange_quality.py --results-md benchmarks/RESULTS.md` "
             f"(numbers: `{os.path.relpath(json_path, md_path.parent)}`).", "",
             "rtsep's streaming key change (instrumental lane: a mask-0 runner sends the whole "
             f"input to the instrumental, `key_semitones` shifts it; {result['block']}-sample blocks, "
             "latency removed; no separation model) beside Rubber Band "
             f"{result['rubberband']['version']} offline (`rubberband -p N`: "
             + ", ".join(f"{e['key']} = {e['description']}" for e in engines) + "). "
             "Material: accompaniment stems scaled to 0.9 peak: "
             + "; ".join(f"{e['label']} ({e['rate']} Hz, {e['seconds']:.1f} s"
                         + (f" from {e['start_s']:.0f} s" if e["start_s"] else "") + ")"
                         for e in result["excerpts"]) + ". "
             f"The first {HEAD_SKIP_S:g} s and last {TAIL_SKIP_S:g} s are left out of every measure. "
             "Rubber Band's output is aligned by cross-correlating RMS envelopes (16-sample steps).", "",
             f"- **LSD**: log-spectral distance between two outputs, dB: 128-band mel power "
             f"(n_fft 2048, hop 512, mono), floored {FLOOR_DB:g} dB under the input's peak, RMS over "
             "bands per frame, mean over frames. There is no true shifted signal to compare with "
             "(resampling the input would change its tempo), so this only says how far the shifters "
             f"are from each other" + (f"; {keys[0]}↔{keys[1]} shows how far two Rubber Band engines are." if len(keys) > 1 else "."),
             "- **chroma**: mean cosine similarity of the output's chroma (librosa `chroma_cqt`, tuning "
             "fixed to the input's) with the input's chroma rolled by the shift, over frames within "
             f"{CHROMA_GATE_DB:g} dB of the loudest; **floor**: the unshifted input against itself "
             "rolled (a shifter that did nothing). The JSON also holds the same check for the bass "
             "(C1–C3) and upper (C3–C8) bands alone, summarised below.",
             "- **level**: 20 log10(RMS out / RMS in). **max jump**: the largest sample-to-sample "
             "step of the output over the input's (a shift up by k semitones may raise it up to "
             "2^(k/12) legitimately).",
             "- **time**: wall clock per second of audio on this machine (one of its two cores busy "
             "with another process): rtsep's block loop, its mask-0 runner stepped from Python once "
             "per hop; Rubber Band's whole process, start-up and WAV I/O included. Rubber Band is "
             "offline (whole file, look-ahead) and rtsep real time with no added latency, so this "
             "is not a like-for-like cost comparison.",
             "- **low sines** (last table): 2-s sines, 0.5 peak, 48 kHz, shifted -5 and +3: level, "
             "share of the output's energy within 3 Hz of the target pitch (steady part), and largest "
             f"step over a clean shifted sine's; rtsep beside Rubber Band {keys[-1]}. Added because the "
             "music numbers pointed at the bass.", "",
             tables(result), "",
             "What the numbers show:", ""]
    lines += [f"- {s}" for s in findings(result)]
    lines += ["",
              "What they do not show: how either shift sounds (no listening test), transient smearing "
              "or phasiness beyond what a mel spectrogram and chroma reveal, behaviour on vocals "
              "(the formant-keeping vocals lane is not measured here), or on fractional shifts; the "
              "chroma check tests pitch classes only (not octave or cents), and its cosine is high "
              "even for the floor on tonal material, so only the gap between output and floor means "
              "much. Two excerpts are a small sample.", ""]
    lines += [f"![{p.stem}]({os.path.relpath(p, md_path.parent)})" for p in pngs]
    return "\n".join(lines) + "\n"


def write_section(md_path: Path, body: str) -> None:
    text = md_path.read_text() if md_path.exists() else ""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        new = (text.rstrip("\n") + "\n\n" if text.strip() else "") + body
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + body + ("\n" + tail if tail else "")
    md_path.write_text(new)


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="real-data folder (default: rtsep's default data root, $RTSEP_DATA)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "keychange",
                        help="folder for the JSON and PNGs (default: %(default)s)")
    parser.add_argument("--results-md", type=Path, default=None,
                        help="markdown file whose key-change section is replaced (appended if absent)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the CC0 song excerpt")
    parser.add_argument("--start", type=float, default=60.0, help="start of the CC0 song excerpt, seconds")
    parser.add_argument("--block", type=int, default=256, help="rtsep block size in samples")
    parser.add_argument("--png-seconds", type=float, default=6.0, help="seconds shown in each PNG")
    args = parser.parse_args(argv)

    from rtsep.train.data.paths import default_data_root

    root = args.data if args.data is not None else default_data_root()
    if not root.is_dir():
        fail(f"real-data folder not found at {root} (set RTSEP_DATA or pass --data)")
    if shutil.which("rubberband") is None:
        fail("the rubberband command-line tool is not installed (Debian: rubberband-cli)")
    version = subprocess.run(["rubberband", "-V"], capture_output=True, text=True)
    rb_version = (version.stdout + version.stderr).strip().splitlines()[0]
    engines = rubberband_engines()
    log(f"Rubber Band {rb_version}: " + ", ".join(e[2] for e in engines))

    excerpts = load_excerpts(root, args.seconds, args.start)
    args.out.mkdir(parents=True, exist_ok=True)
    result = dict(rubberband=dict(version=rb_version, engines=[dict(key=k, flags=f, description=d) for k, f, d in engines]),
                  block=args.block, shifts=list(SHIFTS), excerpts=[], cases=[])
    json_path = args.out / "keychange_quality.json"
    pngs = []
    with tempfile.TemporaryDirectory(prefix="keychange-") as tmp:
        import soundfile as sf

        tmp = Path(tmp)
        for ex in excerpts:
            x, rate = ex["audio"], ex["rate"]
            log(f"{ex['name']}: {ex['seconds']:.1f} s at {rate} Hz; analysing the input")
            measures = Measures(x, rate)
            wav_in = tmp / f"{ex['name']}.wav"
            sf.write(wav_in, x.T, rate, subtype="FLOAT")
            result["excerpts"].append({k: v for k, v in ex.items() if k != "audio"})
            for k in SHIFTS:
                log(f"  {fmt_shift(k)} semitones: rtsep, " + ", ".join(f"Rubber Band {e[0]}" for e in engines))
                outputs, shifters = {}, {}
                y, seconds, latency = rtsep_shift(x, rate, k, args.block)
                outputs["rtsep"] = y
                shifters["rtsep"] = dict(seconds=seconds, latency_removed=latency,
                                         lag_samples=lag_samples(x, y))
                for key, flags, _ in engines:
                    raw, seconds = rubberband_shift(wav_in, tmp / "out.wav", k, flags)
                    lag = lag_samples(x, raw)
                    outputs[key] = shift_in_time(raw, lag, x.shape[1])
                    shifters[key] = dict(seconds=seconds, lag_samples=lag, raw_length=int(raw.shape[1]))
                mels = {}
                for name, y in outputs.items():
                    m = measures.of_output(y, k)
                    mels[name] = m.pop("mel_db")
                    shifters[name].update(m)
                    shifters[name]["seconds_per_audio_second"] = shifters[name]["seconds"] / ex["seconds"]
                names = list(outputs)
                lsd = {f"{a}~{b}": lsd_db(mels[a], mels[b]) for i, a in enumerate(names) for b in names[i + 1:]}
                floors = measures.floor_similarity(k)
                result["cases"].append(dict(excerpt=ex["name"], semitones=k,
                                            chroma_floor=floors.pop("all"), chroma_floor_bands=floors,
                                            lsd_db=lsd, shifters=shifters))
                if k == PNG_SHIFT:
                    ref = engines[-1][0]
                    png = args.out / f"keychange_{ex['name']}_{fmt_shift(k)}.png"
                    save_png(png, ex, [("input", measures.mel_in), (f"rtsep (streaming, {fmt_shift(k)})", mels["rtsep"]),
                                       (f"Rubber Band {ref} (offline, {fmt_shift(k)})", mels[ref])], args.png_seconds)
                    pngs.append(png)

        log(f"low-sine probe: {len(PROBE_TONES)} tones x {len(PROBE_SHIFTS)} shifts")
        result["low_tone_probe"] = low_tone_probe(engines, tmp, args.block)

    json_path.write_text(json.dumps(result, indent=1) + "\n")
    print(tables(result))
    print()
    for line in findings(result):
        print(f"- {line}")
    log(f"wrote {json_path} and {len(pngs)} PNGs")
    if args.results_md is not None:
        write_section(args.results_md, section(result, args.results_md, json_path, pngs))
        log(f"updated the section '{SECTION}' of {args.results_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
