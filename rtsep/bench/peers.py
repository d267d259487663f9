"""Offline separators' architectures, timed with random weights on one core.

* HT-Demucs (``demucs.htdemucs.HTDemucs``, default arguments, 7.8-s segment,
  4 sources): one forward pass over a segment of the benchmark audio.
* Open-Unmix (``openunmix``): its 4 target models (UMX-HQ sizes) plus the
  Wiener-filter separator over the same segment. ``openunmix`` imports
  ``torchaudio`` at import time; where no torchaudio matches the installed
  torch it cannot be imported, and the row says so.

They are optional (the ``bench`` extra); an absent package gives a row that
says "not installed". Each row carries the latency the method's window or
segment forces and its published MUSDB18 vocals SDR, labelled "published".

Run in a subprocess by :func:`time_peers` (``python -m rtsep.bench.peers``) so
``torch.set_num_threads(1)`` and the models' memory stay out of the caller.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from fractions import Fraction

#: Published figures quoted beside the measurements (not measured here).
PUBLISHED = {
    "htdemucs": {
        "vocals_sdr_db": 8.93,
        "source": "Rouard, Massa, Defossez, 'Hybrid Transformers for Music Source Separation', "
                  "ICASSP 2023 (arXiv:2211.08553), Table 1: HT Demucs trained with 800 extra "
                  "songs, MUSDB18-HQ test, median SDR (9.20 dB after per-source fine-tuning)",
        "rtf_one_core": 1.49,
        "rtf_source": "same paper, Table 2: 7.8 s segment, depth 5, dim 384, one core of an "
                      "Intel Xeon at 2.2 GHz",
    },
    "openunmix": {
        "vocals_sdr_db": 6.32,
        "source": "Stoter, Uhlich, Liutkus, Mitsufuji, 'Open-Unmix - A Reference Implementation "
                  "for Music Source Separation', JOSS 2019: UMX, MUSDB18 test, median SDR",
    },
}
HTDEMUCS_SEGMENT_S = Fraction(39, 5)  # 7.8 s, the released htdemucs segment
HTDEMUCS_SAMPLE_RATE_HZ = 44100
OPENUNMIX_N_FFT = 4096
OPENUNMIX_HOP_SAMPLES = 1024
OPENUNMIX_SAMPLE_RATE_HZ = 44100


def _torch_version() -> str:
    try:
        import torch
    except ImportError:
        return "(not installed)"
    return torch.__version__


def _timed_runs(fn, n_runs: int) -> list[float]:
    fn()  # warm-up (allocations, first-call paths)
    times = []
    for _ in range(n_runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def time_htdemucs(n_runs: int) -> dict:
    """Seconds per forward pass of HT-Demucs over one 7.8-s segment, one thread."""
    segment_s = float(HTDEMUCS_SEGMENT_S)
    row = {"name": "HT-Demucs (random weights)", "key": "htdemucs",
           "segment_s": segment_s, "sample_rate_hz": HTDEMUCS_SAMPLE_RATE_HZ,
           "forced_latency_samples": int(HTDEMUCS_SEGMENT_S * HTDEMUCS_SAMPLE_RATE_HZ),
           "forced_latency_ms": 1e3 * segment_s,
           "forced_latency_why": "a segment's output exists only once the whole 7.8-s segment "
                                 "has arrived (plus its compute)",
           "published": PUBLISHED["htdemucs"]}
    try:
        import torch
        from demucs.htdemucs import HTDemucs
    except ImportError as exc:
        row["skipped"] = f"not installed ({exc.name or exc}; pip install demucs --no-deps einops julius)"
        return row
    from rtsep.bench.audio import bench_audio

    torch.set_num_threads(1)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=HTDEMUCS_SEGMENT_S).eval()
    n = int(HTDEMUCS_SEGMENT_S * HTDEMUCS_SAMPLE_RATE_HZ)
    x, source = bench_audio(n, HTDEMUCS_SAMPLE_RATE_HZ)
    mix = torch.from_numpy(x)[None]
    with torch.no_grad():
        times = _timed_runs(lambda: model(mix), n_runs)
    best = min(times)
    row.update({"n_parameters": sum(p.numel() for p in model.parameters()), "n_runs": n_runs,
                "seconds_per_segment": times, "audio": source,
                "rtf": best / segment_s,
                # apply_model splits with 25 % overlap: 1 / 0.75 segments per segment of audio
                "rtf_with_overlap": best / segment_s / 0.75,
                "latency_with_compute_ms": 1e3 * (segment_s + best),
                "threads": torch.get_num_threads()})
    return row


def time_openunmix(n_runs: int) -> dict:
    """Seconds for Open-Unmix (4 targets + Wiener filter) over a 7.8-s excerpt, one thread."""
    row = {"name": "Open-Unmix UMX-HQ (random weights)", "key": "openunmix",
           "sample_rate_hz": OPENUNMIX_SAMPLE_RATE_HZ,
           "forced_latency_samples": OPENUNMIX_N_FFT,
           "forced_latency_ms": 1e3 * OPENUNMIX_N_FFT / OPENUNMIX_SAMPLE_RATE_HZ,
           "forced_latency_why": "its 4096-sample STFT window (hop 1024) alone; the released "
                                 "models' bidirectional LSTM needs the whole excerpt",
           "published": PUBLISHED["openunmix"]}
    try:
        import torch
        from openunmix.model import OpenUnmix, Separator
    except ImportError as exc:
        name = getattr(exc, "name", None) or str(exc)
        row["skipped"] = (f"not installed ({name}; openunmix imports torchaudio, which needs a "
                          f"build matching torch {_torch_version()})")
        return row
    except Exception as exc:  # noqa: BLE001 - e.g. a torchaudio built for another torch
        row["skipped"] = (f"failed to import ({str(exc).splitlines()[0]}; torchaudio must match "
                          f"torch {_torch_version()})")
        return row
    from rtsep.bench.audio import bench_audio

    torch.set_num_threads(1)
    n_bins = OPENUNMIX_N_FFT // 2 + 1
    targets = {name: OpenUnmix(nb_bins=n_bins, nb_channels=2, hidden_size=512, max_bin=1487).eval()
               for name in ("vocals", "drums", "bass", "other")}
    separator = Separator(targets, niter=1, n_fft=OPENUNMIX_N_FFT, n_hop=OPENUNMIX_HOP_SAMPLES,
                          nb_channels=2, sample_rate=float(OPENUNMIX_SAMPLE_RATE_HZ)).eval()
    excerpt_s = float(HTDEMUCS_SEGMENT_S)
    x, source = bench_audio(int(excerpt_s * OPENUNMIX_SAMPLE_RATE_HZ), OPENUNMIX_SAMPLE_RATE_HZ)
    mix = torch.from_numpy(x)[None]
    with torch.no_grad():
        times = _timed_runs(lambda: separator(mix), n_runs)
    best = min(times)
    row.update({"n_parameters": sum(p.numel() for p in separator.parameters()), "n_runs": n_runs,
                "excerpt_s": excerpt_s, "seconds_per_excerpt": times, "audio": source,
                "rtf": best / excerpt_s, "threads": torch.get_num_threads()})
    return row


def time_peers(n_runs: int = 2, timeout_s: float = 900.0, log=lambda msg: None) -> list[dict]:
    """Run :func:`time_htdemucs` and :func:`time_openunmix` in a child process.

    Returns their rows; a child that fails or times out gives rows with ``skipped``.
    """
    log(f"peers: HT-Demucs and Open-Unmix, random weights, 1 thread, {n_runs} run(s) each")
    argv = [sys.executable, "-m", "rtsep.bench.peers", "--n-runs", str(n_runs)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return [{"key": k, "name": k, "skipped": f"timed out after {timeout_s:g} s",
                 "published": PUBLISHED[k]} for k in PUBLISHED]
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return [{"key": k, "name": k, "skipped": f"failed: {last}", "published": PUBLISHED[k]}
                for k in PUBLISHED]
    return json.loads(done.stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="time offline separators (JSON to stdout)")
    parser.add_argument("--n-runs", type=int, default=2)
    args = parser.parse_args(argv)
    rows = [time_htdemucs(args.n_runs), time_openunmix(args.n_runs)]
    json.dump(rows, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
