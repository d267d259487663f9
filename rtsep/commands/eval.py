"""Evaluate separation quality (SDR) of the streaming engine beside baselines.

Sets (each skipped with a message when its data is absent):

* ``synthetic``: held-out synthetic songs (singers, seeds and MIDI never used
  in training);
* ``heldout-song``: the held-out CC0 song (7-Francium), cut into 30-s clips;
* ``mir1k-dev``: the 96 MIR-1K clips of the two development singers (16 kHz
  mono, separated as centred stereo after resampling to 44.1 kHz and back);
* ``musdb-clip``: the MUSDB18 7-s preview in ``../shared/data/real-dev``;
* ``medleydb``: 13 MedleyDB Music Delta pieces (3 instrumental: vocal leak is
  reported for those instead of SDR).

Estimates come from the streaming engine (block by block, latency removed),
never the offline path. SDR: BSS Eval v4 (museval) and, beside it, the
per-frame-filter SDR of fast_bss_eval (see :mod:`rtsep.train.evaluate`). Writes
``eval.md``, ``eval.json`` and spectrogram PNGs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from rtsep.commands.keys import strengths

SETS = ("synthetic", "heldout-song", "mir1k-dev", "musdb-clip", "medleydb")
BASELINES = ("mixture", "repet-sim", "oracle-irm", "spleeter")
#: Baselines whose estimate depends on the latency mode (cached per mode).
BY_LATENCY_MODE = ("oracle-irm",)


#: Bumped whenever score_clip's metrics or a baseline change, so cached baseline scores are recomputed.
BASELINE_CACHE_VERSION = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--backend", default="onnx-cpu")
    parser.add_argument("--latency", choices=("default", "low"), default="default")
    parser.add_argument("--strength", type=strengths, default=(1.0,), metavar="S[,S...]",
                        help="separation strength(s) to run the model at (default 1; see rtsep "
                             "separate --help); several, e.g. 1,2,3: each is a method of its own "
                             "(rtsep@2, ...; 1 is plain rtsep) and strength.png plots the trade-off")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma list of {SETS}")
    parser.add_argument("--baselines", default=",".join(BASELINES),
                        help=f"comma list of baselines to score beside the model, of {BASELINES} "
                             "('' for none; spleeter needs the train extra)")
    parser.add_argument("--no-model", action="store_true", help="score the baselines only")
    parser.add_argument("--n-synthetic", type=int, default=8, help="held-out synthetic songs")
    parser.add_argument("--clip-seconds", type=float, default=30.0, help="clip length for the held-out song")
    parser.add_argument("--data-root", help="real audio folder (default ../shared/data or $RTSEP_DATA)")
    parser.add_argument("--cache-dir", default="cache")
    parser.add_argument("-o", "--outdir", default="eval-results")


def hash_audio(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()[:16]


def _read_pair(folder: Path, ext: str) -> tuple[np.ndarray, np.ndarray, int]:
    import soundfile as sf

    v, rate = sf.read(str(folder / f"vocals.{ext}"), dtype="float32", always_2d=True)
    a, _ = sf.read(str(folder / f"accompaniment.{ext}"), dtype="float32", always_2d=True)
    n = min(len(v), len(a))
    return np.ascontiguousarray(v[:n].T), np.ascontiguousarray(a[:n].T), int(rate)


def iter_clips(set_name: str, args) -> "list[tuple[str, np.ndarray, np.ndarray, int]]":
    """``(name, vocals, accompaniment, rate)`` for a set; raises FileNotFoundError when absent."""
    from rtsep.train.data.paths import resolve_data_root

    root = resolve_data_root(args.data_root)
    if set_name == "synthetic":
        from rtsep.train.data import heldout_synthetic

        return [(name, v, a, 44100) for name, _mix, v, a in
                heldout_synthetic(args.n_synthetic, 44100, 20.0, seed=1)]
    if set_name == "heldout-song":
        from rtsep.train.data import RealSongs

        songs = RealSongs(root, split="heldout", cache_dir=args.cache_dir).songs
        clips = []
        n_clip = int(args.clip_seconds * 48000)
        for name, v, a in songs:
            for k, s in enumerate(range(0, v.shape[1] - n_clip + 1, n_clip)):
                clips.append((f"{name}@{k * args.clip_seconds:.0f}s", np.array(v[:, s:s + n_clip]),
                              np.array(a[:, s:s + n_clip]), 48000))
        return clips
    if set_name == "mir1k-dev":
        from rtsep.train.data.clips import mir1k

        return [(s.name, np.array(s.vocals), np.array(s.accompaniment), s.sample_rate_hz)
                for s in mir1k(root, "dev", args.cache_dir).stem_songs]
    if set_name == "musdb-clip":
        folder = root / "real-dev" / "musdb18-preview-80s-rock"
        if not folder.is_dir():
            raise FileNotFoundError(folder)
        import soundfile as sf

        v, rate = sf.read(str(folder / "vocals.wav"), dtype="float32", always_2d=True)
        mix, _ = sf.read(str(folder / "mixture.wav"), dtype="float32", always_2d=True)
        # Score against the real mixture: accompaniment = mixture - vocals.
        return [("80s-rock", np.ascontiguousarray(v.T), np.ascontiguousarray((mix - v).T), int(rate))]
    if set_name == "medleydb":
        folder = root / "real-dev" / "medleydb-musicdelta"
        if not folder.is_dir():
            raise FileNotFoundError(folder)
        return [(d.name, *_read_pair(d, "ogg")) for d in sorted(folder.iterdir()) if d.is_dir()]
    raise ValueError(f"unknown set {set_name!r}")


def evaluate(args) -> dict:
    from rtsep.engine import nearest_model_rate, separate_array
    from rtsep.config import StftGeometry
    from rtsep.engine import Separator
    from rtsep.train import evaluate as ev

    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    separators: dict = {}

    def model_fn(mix: np.ndarray, rate: int, strength: float = args.strength[0]) -> np.ndarray:
        work_rate = nearest_model_rate(rate)
        seps = separators.setdefault(strength, {})
        if work_rate not in seps:
            sep = Separator.from_model(args.model, backend=args.backend, latency_mode=args.latency,
                                       sample_rate_hz=work_rate)
            sep.block.parameters.strength = strength
            seps[work_rate] = sep
        return separate_array(mix, rate, seps, block_samples=4096)[0]

    model_methods = {method_name(s): (lambda m, r, s=s: model_fn(m, r, s)) for s in args.strength}

    geometry = StftGeometry(latency_mode=args.latency)
    results = []
    cache_path = Path(args.cache_dir) / "eval-baselines.json"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for set_name in [s for s in args.sets.split(",") if s]:
        try:
            clips = iter_clips(set_name, args)
        except (FileNotFoundError, OSError) as exc:
            print(f"eval: skipping {set_name}: data not found ({exc})", file=sys.stderr)
            continue
        for i, (name, vocals, acc, rate) in enumerate(clips):
            mix = vocals + acc
            baselines = [b for b in args.baselines.split(",") if b]
            methods = {} if args.no_model else model_methods
            base_methods = {}
            if "mixture" in baselines:
                base_methods["mixture"] = lambda m, r: m
            if "repet-sim" in baselines:
                base_methods["repet-sim"] = ev.repet_sim
            if "oracle-irm" in baselines:
                base_methods["oracle-irm"] = lambda m, r, v=vocals: ev.oracle_irm(m, v, geometry, r)
            if "spleeter" in baselines:
                from rtsep.train.teacher import spleeter_vocals

                base_methods["spleeter"] = spleeter_vocals
            res = ev.score_clip(name, set_name, mix, vocals, rate, methods)
            # Baselines do not depend on the model: scored once per clip and cached, and
            # once for both latency modes but the oracle's (the mode's STFT).
            key = f"{set_name}/{name}/{hash_audio(mix)}/v{BASELINE_CACHE_VERSION}"
            slot = {k: f"{k}@{args.latency}" if k in BY_LATENCY_MODE else k for k in base_methods}
            todo = {k: f for k, f in base_methods.items() if slot[k] not in cache.get(key, {})}
            if todo:
                scores = ev.score_clip(name, set_name, mix, vocals, rate, todo).scores
                cache.setdefault(key, {}).update({slot[k]: v for k, v in scores.items()})
                cache_path.write_text(json.dumps(cache))
            res.scores.update({k: cache[key][slot[k]] for k in base_methods})
            results.append(res)
            print(f"{set_name}/{name}: " + ", ".join(
                f"{k} {v.get('vocals_sdr_db', v.get('vocal_leak_db')):.2f}" for k, v in res.scores.items()),
                file=sys.stderr)
            if not args.no_model and (i == 0 or name in ("Beatles", "80s-rock")):
                est = model_fn(mix, rate)
                safe = name.replace("/", "_").replace("@", "_")
                ev.save_spectrograms(out / f"spec-{set_name}-{safe}.png", mix, vocals, est, rate,
                                     f"{set_name}: {name}")
    first = next(iter(separators.values()), {})
    runner_meta = next(iter(first.values())).runner.metadata if first else {}
    summary = ev.write_report(out, results, {"model": str(args.model or "shipped"),
                                             "latency_mode": args.latency,
                                             "strength": list(args.strength),
                                             "model_metadata_version": runner_meta.get("rtsep_version")})
    ev.plot_summary(summary, out / "eval.png")
    if len(args.strength) > 1:
        ev.plot_strength(summary, {method_name(s): s for s in args.strength}, out / "strength.png")
    return summary


def method_name(strength: float) -> str:
    """The method a strength's scores go under: ``rtsep`` at 1, ``rtsep@2`` at 2."""
    return "rtsep" if strength == 1.0 else f"rtsep@{strength:g}"


def run(args: argparse.Namespace) -> int:
    from rtsep.train.evaluate import markdown_table

    summary = evaluate(args)
    print(markdown_table(summary))
    return 0
