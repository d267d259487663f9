"""Export a training checkpoint to ONNX, TorchScript or rtsep's native format (step
graph, explicit state, metadata inside), checked step by step against PyTorch
before it is written. The native format (.rtsepw) is what the C ABI (librtsep)
and the LV2 plugin load."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="training checkpoint (.pt from rtsep train)")
    parser.add_argument("--format", choices=("onnx", "torchscript", "native"), default="onnx",
                        help="export format (default: onnx; native: .rtsepw for librtsep and "
                             "the LV2 plugin, checked through the native runtime)")
    parser.add_argument("-o", "--output", required=True,
                        help="output file (.onnx or .pt by convention; an ONNX and a TorchScript "
                             "export of the same weights side by side, x.onnx and x.pt, let "
                             "--backend pick either)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--check-frames", type=int, default=300,
                        help="frames of the step-by-step check against PyTorch (default 300)")


def run(args: argparse.Namespace) -> int:
    from rtsep.model.export import export_checkpoint

    checkpoint, out = Path(args.checkpoint), Path(args.output)
    if out.resolve() == checkpoint.resolve():
        from rtsep.errors import UserError

        raise UserError(f"output {out} would overwrite the checkpoint; choose another -o")
    if args.format == "native":
        from rtsep.model.export_native import export_native_checkpoint

        meta = export_native_checkpoint(checkpoint, out, n_check_frames=args.check_frames)
    else:
        meta = export_checkpoint(checkpoint, out, args.format, opset=args.opset,
                                 n_check_frames=args.check_frames)
    modes = ", ".join(f"{mode} {info['latency_samples']} samples"
                      for mode, info in meta["latency_modes"].items())
    print(f"{out}: {args.format}, {meta['n_parameters']} parameters, latency {modes}; "
          f"check max |diff| {meta['check']['max_abs_diff']:.2e}")
    return 0
