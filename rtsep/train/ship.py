"""Turn a trained checkpoint into the shipped model files in ``models/``.

``python -m rtsep.train.ship CHECKPOINT [--eval-json EVAL] [--name rtsep-default]`` writes:

* ``models/<name>.onnx``, ``models/<name>.pt`` (TorchScript) and
  ``models/<name>.rtsepw`` (native, for librtsep and the LV2 plugin), as
  ``rtsep export`` makes them (each checks itself step by step against PyTorch);
* ``models/<name>.ckpt`` — the checkpoint without optimizer state, for fine-tuning;
* ``models/manifest.json`` — every file's size and sha256, the model's latency per
  mode, its evaluation summary, and the licence notes of its training data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

ALBUM = "Software-Entwicklungskit, 'Everything is Free' stems (ichbinsoftware/everythingisremixed), CC0 1.0"
SEEDS = [
    "vocadito (Bittner, Pasalo, Bosch, Meseguer-Brocal, Rubinstein, 2021), CC BY 4.0",
    "freesound.org pack 13038 by xserra (singing, speech and instrument seeds), CC BY 4.0",
    "LJ Speech (Keith Ito), public domain",
    "Sonic Pi samples, CC0",
    "FluidR3_GM soundfont (Frank Wen), MIT",
]
MIR1K = ("MIR-1K training singers (C.-L. Hsu and J.-S. R. Jang, MIR Lab; no formal licence, "
         "distributed openly for research): research use")
EVALUATION_ONLY = [
    "MUSDB18 preview 'Music Delta - 80s Rock', CC BY-NC-SA",
    "MedleyDB Music Delta pieces via MDB Drums, CC BY-NC-SA 4.0",
    "MIR-1K development singers jmzen and khair (research use)",
]


def licence_notes(training_data: str, teacher: str | None = None) -> dict:
    """What the model was trained on, by ``rtsep train --data`` kind (``a+b`` for a soup of
    runs on several): the CC0 album's stems for real, both, cross and all; the seeds inside the
    synthetic songs for synth, both, cross and all; MIR-1K for mir1k and all; a user's own
    stems for musdb. ``teacher``: the teacher whose estimates were a training target."""
    kinds = set(str(training_data).split("+"))
    trained = []
    if kinds & {"real", "both", "cross", "all"}:
        trained.append(ALBUM)
    if kinds & {"synth", "both", "cross", "all"}:
        trained += SEEDS
    if kinds & {"mir1k", "all"}:
        trained.append(MIR1K)
    if "musdb" in kinds:
        trained.append("the MUSDB18-layout stems given with --musdb-root (their own licence)")
    evaluation = list(EVALUATION_ONLY)
    if ALBUM not in trained:
        evaluation.append(ALBUM + " (its song 7-Francium, the held-out evaluation song)")
    notes = {"code": "MIT (rtsep)", "training_data": trained,
             "evaluation_only_never_trained_on": evaluation}
    if teacher:
        notes["teacher_not_shipped"] = teacher
    return notes


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ship(checkpoint: Path, name: str = "rtsep-default", eval_json: Path | None = None,
         out_dir: Path = MODELS_DIR) -> dict:
    import torch

    from rtsep.model.checkpoint import load_checkpoint, save_checkpoint
    from rtsep.model.export import export_checkpoint

    out_dir.mkdir(parents=True, exist_ok=True)
    model, meta = load_checkpoint(checkpoint)
    from rtsep.config import StftGeometry

    geometry = StftGeometry(n_fft=meta["geometry"]["n_fft"], hop_samples=meta["geometry"]["hop_samples"])
    ckpt_out = out_dir / f"{name}.ckpt"
    save_checkpoint(ckpt_out, model, geometry=geometry, sample_rates_hz=tuple(meta["sample_rates_hz"]),
                    extra=meta.get("extra"))
    export_checkpoint(ckpt_out, out_dir / f"{name}.onnx", "onnx")
    export_checkpoint(ckpt_out, out_dir / f"{name}.pt", "torchscript")
    from rtsep.model.export_native import export_native_checkpoint

    export_native_checkpoint(ckpt_out, out_dir / f"{name}.rtsepw")
    files = {}
    for suffix in (".onnx", ".pt", ".rtsepw", ".ckpt"):
        p = out_dir / f"{name}{suffix}"
        files[p.name] = {"bytes": p.stat().st_size, "sha256": sha256(p)}
    manifest = {
        "name": name,
        "files": files,
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": model.cfg.to_dict(),
        "n_members": int(getattr(model, "n_members", 1)),  # a mask ensemble runs several
        "geometry": geometry.to_dict(),
        "latency_samples": {m: geometry.with_mode(m).latency_samples for m in ("default", "low")},
        "latency_ms_48k": {m: round(geometry.with_mode(m).latency_ms(48000), 3) for m in ("default", "low")},
        "sample_rates_hz": list(meta["sample_rates_hz"]),
        "training": meta.get("extra") or {},
        "licences": licence_notes((meta.get("extra") or {}).get("training_data", "cross"),
                                  (meta.get("extra") or {}).get("teacher")),
        "torch_version": torch.__version__,
    }
    if eval_json and Path(eval_json).exists():
        manifest["evaluation"] = json.loads(Path(eval_json).read_text())["summary"]
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", default="rtsep-default")
    parser.add_argument("--eval-json", type=Path)
    parser.add_argument("--out-dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)
    m = ship(args.checkpoint, args.name, args.eval_json, args.out_dir)
    print(json.dumps(m["files"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
