"""Install or remove the LV2 plugin bundle ``rtsep.lv2`` for plugin hosts.

``rtsep lv2 install`` copies the plugin built with this package (its binary and
Turtle files) and the shipped native model (``rtsep-default.rtsepw``, as
``model.rtsepw``) into ``PREFIX/rtsep.lv2``; the default prefix is the per-user LV2
folder hosts search (``~/.lv2``; ``~/Library/Audio/Plug-Ins/LV2`` on macOS,
``%APPDATA%\\LV2`` on Windows). ``rtsep lv2 uninstall`` removes that bundle again.
Afterwards ``lv2ls`` lists ``urn:rtsep:lv2:separator`` (with ``LV2_PATH=PREFIX``
for a prefix hosts do not search).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from rtsep.errors import UserError

NATIVE_MODEL_NAME = "rtsep-default.rtsepw"
BUNDLE_MODEL_NAME = "model.rtsepw"  # what csrc/lv2/rtsep_lv2.cpp loads from its bundle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "uninstall"))
    parser.add_argument("--prefix", type=Path, help="LV2 folder that gets rtsep.lv2/ (default: the "
                        "per-user one, ~/.lv2 on Linux)")
    parser.add_argument("--model", type=Path, help="native model to put in the bundle (default: the "
                        "shipped rtsep-default.rtsepw; `rtsep export --format native` makes one)")


def _is_ours(bundle: Path) -> bool:
    from rtsep.paths import LV2_URI

    manifest = bundle / "manifest.ttl"
    return manifest.is_file() and LV2_URI in manifest.read_text(errors="replace")


def install(prefix: Path, model: Path | None = None) -> Path:
    """Write ``prefix/rtsep.lv2`` (replacing an earlier rtsep bundle there); returns it."""
    from rtsep import runtime
    from rtsep.paths import LV2_BUNDLE_NAME, lv2_bundle_dir, models_dir

    built = lv2_bundle_dir()
    if built is None:
        raise UserError("this rtsep was built without the LV2 plugin (CMake option RTSEP_BUILD_LV2); "
                        "reinstall it with `pip install .` from the repository")
    model = model if model is not None else models_dir() / NATIVE_MODEL_NAME
    if not model.is_file():
        raise UserError(f"the native model {model} is missing; pass --model FILE.rtsepw")
    if runtime.inspect(model).format != "native":  # also validates it (one-line errors)
        raise UserError(f"{model} is not a native .rtsepw model (the plugin runs only those)")
    dest = prefix / LV2_BUNDLE_NAME
    if dest.exists() and not _is_ours(dest):
        raise UserError(f"{dest} exists and is not rtsep's plugin bundle; not replacing it")
    prefix.mkdir(parents=True, exist_ok=True)
    # Assemble beside the destination, then swap it in: a host never sees half a bundle.
    staging = Path(tempfile.mkdtemp(prefix=".rtsep.lv2-", dir=prefix))
    staging.chmod(0o755)  # mkdtemp makes it private; hosts of other users read it too
    try:
        for item in built.iterdir():
            if item.is_file() and item.name != BUNDLE_MODEL_NAME:
                shutil.copy2(item, staging / item.name)
        shutil.copyfile(model, staging / BUNDLE_MODEL_NAME)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def uninstall(prefix: Path) -> Path:
    """Remove ``prefix/rtsep.lv2`` (only if it is rtsep's bundle); returns its path."""
    from rtsep.paths import LV2_BUNDLE_NAME

    dest = prefix / LV2_BUNDLE_NAME
    if not dest.exists():
        raise UserError(f"no {LV2_BUNDLE_NAME} in {prefix}")
    if not _is_ours(dest):
        raise UserError(f"{dest} is not rtsep's plugin bundle; not removing it")
    shutil.rmtree(dest)
    return dest


def run(args: argparse.Namespace) -> int:
    import sys

    from rtsep.paths import LV2_URI, default_lv2_prefix

    prefix = (args.prefix if args.prefix is not None else default_lv2_prefix()).expanduser()
    if args.action == "install":
        dest = install(prefix, args.model)
        print(dest)
        print(f"installed {LV2_URI}; hosts that do not search {prefix} need LV2_PATH={prefix}",
              file=sys.stderr)
    else:
        if args.model is not None:
            raise UserError("--model goes with install, not uninstall")
        print(uninstall(prefix))
    return 0
