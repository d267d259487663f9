"""Show an exported model's metadata: latency per mode and sample rate, size,
parameters, state tensors, training notes, and which backends can run it here."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="exported model (.onnx or TorchScript .pt)")
    parser.add_argument("--json", action="store_true",
                        help="print the full metadata as JSON (window values included)")


def _backends(model_file) -> list[str]:
    from rtsep.runtime import SUFFIX_OF_FORMAT, available_backends

    sibling = {fmt: model_file.path.with_suffix(suffix) for fmt, suffix in SUFFIX_OF_FORMAT.items()}
    has = {fmt: model_file.format == fmt or sibling[fmt].is_file() for fmt in SUFFIX_OF_FORMAT}
    status = available_backends(check_torch_cuda=has["torchscript"])
    lines = []
    for name, reason in status.items():
        fmt = "onnx" if name.startswith("onnx") else "torchscript"
        if reason is None and not has[fmt]:
            reason = f"needs a {fmt} export ({sibling[fmt].name} not found)"
        lines.append(f"{name}: {'yes' if reason is None else 'no, ' + reason}")
    return lines


def run(args: argparse.Namespace) -> int:
    from rtsep.runtime import inspect

    mf = inspect(args.model)
    meta = mf.metadata
    if args.json:
        print(json.dumps(meta, indent=1))
        return 0
    rates = meta["sample_rates_hz"]
    state_floats = sum(_prod(s["shape"]) for s in meta["state"])
    gmacs = meta.get("gmacs_per_second", {})
    rows = [
        ("file", f"{mf.path} ({mf.format}, {len(mf.data) / 1e6:.2f} MB)"),
        ("format", f"{meta['format']} v{meta['format_version']}, made by rtsep "
                   f"{meta.get('rtsep_version', '?')}"),
        ("model", f"{meta.get('model_class', '?')}"
                  + (f" of {meta['n_members']} members (mean mask)" if meta.get("n_members", 1) > 1 else "")
                  + f", {meta.get('n_parameters', 0):,} parameters, "
                  f"{meta.get('macs_per_frame', 0) / 1e6:.2f} M MACs per frame ("
                  + ", ".join(f"{v} GMAC/s at {r} Hz" for r, v in gmacs.items()) + ")"),
        ("geometry", f"n_fft {meta['n_fft']}, hop {meta['hop_samples']} samples, "
                     f"{meta['n_bins']} bins, {meta.get('n_channels', 2)} channels"),
        ("sample rates", ", ".join(f"{r} Hz" for r in rates)),
    ]
    for mode, info in meta["latency_modes"].items():
        ms = ", ".join(f"{info['latency_ms'][str(r)]:.2f} ms at {r} Hz" for r in rates)
        rows.append((f"latency {mode}", f"{info['latency_samples']} samples ({ms})"))
    rows.append(("state", f"{len(meta['state'])} tensors, {state_floats:,} floats "
                          f"({state_floats * 4 / 1024:.1f} KiB), initial zeros"))
    for s in meta["state"]:
        rows.append(("", f"{s['name']:<6} {tuple(s['shape'])}"))
    rows.append(("training data", str(meta.get("training_data") or "not recorded")))
    if (meta.get("model_config") or {}).get("calibrated"):
        cal = (meta.get("checkpoint_extra") or {}).get("calibration") or {}
        how = ["per band" if cal.get("per_band", True) else "one for every band"]
        if cal.get("objective"):
            how.append(f"objective {cal['objective']}")
        counts = cal.get("n_excerpts", cal.get("sets"))  # "sets": the shipped K3's key
        if isinstance(counts, dict):
            how.append("fitted on " + ", ".join(f"{n} {k}" for k, n in counts.items()) + " excerpts")
        rows.append(("calibration", f"a scale and bias of the mask's logits ({', '.join(how)})"))
    rows.append(("weights sha256", meta["weights_sha256"]))
    for i, line in enumerate(_backends(mf)):
        rows.append(("backends" if i == 0 else "", line))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
