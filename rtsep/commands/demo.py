"""Separate the bundled demo clip through the streaming engine, block by block.

The clip (``rtsep/assets/demo_*.flac``) is 12 s of a real song, with its true
vocals and accompaniment, so the demo can score itself: "7-Francium" by
Software-Entwicklungskit (CC0), the album's song that training never sees. It
runs the same engine as live monitoring (128-sample host blocks by default),
then prints the latency, the real-time factor, the vocals SDR against the truth
and how far the original voice lies below the instrumental (accompaniment SIR),
and writes the stems and a spectrogram PNG. Needs no sound card.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rtsep.commands.keys import add_strength_argument

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--outdir", default="rtsep-demo", help="output folder (default: rtsep-demo)")
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--latency", choices=("default", "low"), default="default")
    parser.add_argument("--block-size", type=int, default=128, help="host block size in samples")
    add_strength_argument(parser)


def load_demo_clip() -> tuple[np.ndarray, np.ndarray, int]:
    """``(vocals, accompaniment, rate_hz)``, float32 ``(2, n)`` each."""
    import soundfile as sf

    v, rate = sf.read(str(ASSETS / "demo_vocals.flac"), dtype="float32", always_2d=True)
    a, rate_a = sf.read(str(ASSETS / "demo_accompaniment.flac"), dtype="float32", always_2d=True)
    assert rate == rate_a and v.shape == a.shape
    return np.ascontiguousarray(v.T), np.ascontiguousarray(a.T), int(rate)


def run(args: argparse.Namespace) -> int:
    import soundfile as sf

    from rtsep.engine import Separator
    from rtsep.metrics import museval_scores
    from rtsep.train.evaluate import save_spectrograms

    vocals, accompaniment, rate = load_demo_clip()
    mix = vocals + accompaniment
    sep = Separator.from_model(args.model, backend=args.backend, latency_mode=args.latency,
                               sample_rate_hz=rate, max_block_samples=max(8192, args.block_size))
    sep.block.parameters.strength = args.strength
    lat = sep.latency_samples
    print(f"model: {sep.runner!r}")
    if args.strength != 1.0:
        print(f"separation strength: {args.strength:g}")
    print(f"latency: {lat} samples = {1000.0 * lat / rate:.2f} ms at {rate} Hz ({args.latency} mode)")
    t0 = time.perf_counter()
    est_v, est_a = sep.separate(mix, block_samples=args.block_size, progress=True)
    elapsed = time.perf_counter() - t0
    audio_s = mix.shape[1] / rate
    scores = {"vocals_sdr_db": float("nan"), "accompaniment_sdr_db": float("nan"),
              "accompaniment_sir_db": float("nan"), "mixture_as_vocals_sdr_db": float("nan")}
    try:
        scores.update({k: v for k, v in museval_scores((vocals, accompaniment), (est_v, est_a),
                                                       rate).items() if k in scores})
        scores["mixture_as_vocals_sdr_db"] = museval_scores(
            (vocals, accompaniment), (mix, mix), rate)["vocals_sdr_db"]
    except ImportError as exc:  # museval (train extra) and its ffmpeg
        print(f"BSS Eval v4 unavailable ({str(exc).splitlines()[0]}): install 'rtsep[train]' "
              "and ffmpeg to score the demo")
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    sf.write(out / "mixture.wav", mix.T, rate, subtype="FLOAT")
    sf.write(out / "vocals.wav", est_v.T, rate, subtype="FLOAT")
    sf.write(out / "instrumental.wav", est_a.T, rate, subtype="FLOAT")
    save_spectrograms(out / "spectrograms.png", mix, vocals, est_v, rate,
                      "rtsep demo: 7-Francium (CC0), 12 s")
    result = {"latency_samples": lat, "latency_ms": 1000.0 * lat / rate, "sample_rate_hz": rate,
              "block_samples": args.block_size, "strength": args.strength, "audio_s": audio_s, "compute_s": elapsed,
              "real_time_factor": elapsed / audio_s, **scores,
              "n_nonfinite_replaced": sep.n_nonfinite_replaced}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(f"separated {audio_s:.1f} s in {elapsed:.2f} s (real-time factor {elapsed / audio_s:.3f}) "
          f"with {args.block_size}-sample blocks")
    print(f"real song (7-Francium, CC0, never trained on): vocals SDR {scores['vocals_sdr_db']:.2f} dB "
          f"(mixture as estimate: {scores['mixture_as_vocals_sdr_db']:.2f} dB), instrumental SDR "
          f"{scores['accompaniment_sdr_db']:.2f} dB; the original voice is "
          f"{scores['accompaniment_sir_db']:.1f} dB below the instrumental (accompaniment SIR; "
          "BSS Eval v4, museval)")
    print(f"wrote {out}/vocals.wav, instrumental.wav, spectrograms.png, result.json")
    return 0
