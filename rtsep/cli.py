"""rtsep command line: dispatches to ``rtsep.commands.<name>`` modules.

Each command module has ``add_arguments(parser)`` and ``run(args) -> int``.
Logs go to stderr, results to stdout. Errors a user can fix are raised as
:class:`rtsep.errors.UserError` and printed as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: (command, module, one-line help)
COMMANDS = (
    ("separate", "separate", "separate files into vocals and instrumental (streaming engine)"),
    ("monitor", "monitor", "live separation from an audio input to an output"),
    ("devices", "devices", "list audio devices"),
    ("info", "info", "show a model's metadata and latency"),
    ("export", "export", "export a checkpoint to ONNX or TorchScript"),
    ("train", "train", "train the separation model (resumable)"),
    ("eval", "eval", "evaluate separation quality (SDR) on the streaming engine"),
    ("make-data", "make_data", "pre-render synthetic training mixtures"),
    ("bench", "bench", "measure latency, compute per hop and deadline misses"),
    ("demo", "demo", "separate the bundled clip through the streaming engine"),
    ("lv2", "lv2", "install or remove the LV2 plugin bundle for plugin hosts"),
    ("paths", "paths", "print where librtsep, rtsep.h, the LV2 bundle and the models are"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtsep", description="Real-time singing-voice separation.")
    from rtsep import __version__

    parser.add_argument("--version", action="version", version=f"rtsep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        try:
            mod = importlib.import_module(f"rtsep.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("rtsep.commands"):
                continue  # command not present in this build
            raise
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rtsep.errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"rtsep {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
