"""Where rtsep's non-Python files are: the shipped model, librtsep, rtsep.h, the LV2 bundle.

A wheel (``pip install rtsep-*.whl``, ``pip install .``, or a build from the sdist)
installs them inside the package, beside ``rtsep._core``::

    rtsep/models/           rtsep-default.onnx, rtsep-default.rtsepw, manifest.json, MODEL_CARD.md
    rtsep/librtsep.so       the C ABI (librtsep.dylib on macOS, rtsep.dll on Windows)
    rtsep/include/rtsep.h   its header
    rtsep/lv2/rtsep.lv2/    the LV2 plugin, without a model (``rtsep lv2 install`` adds it)

An editable install in a checkout (``pip install -e .``) has no ``rtsep/models``: the
repository's ``models/`` is used, so a re-trained model is picked up without
reinstalling. Each function falls back to the checkout's files (``models/``,
``csrc/include``, ``build/embed``) where the package has none.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The package folder (the source folder in an editable install).
PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root when running from a checkout.
CHECKOUT_DIR = PACKAGE_DIR.parent
#: Where ``cmake -S . -B build/embed`` builds the C ABI and the plugin in a checkout.
CHECKOUT_BUILD = CHECKOUT_DIR / "build" / "embed"
#: The C ABI's file name on this platform.
LIBRARY_NAME = {"win32": "rtsep.dll", "darwin": "librtsep.dylib"}.get(sys.platform, "librtsep.so")
LV2_BUNDLE_NAME = "rtsep.lv2"
#: The plugin's URI (csrc/lv2/manifest.ttl.in).
LV2_URI = "urn:rtsep:lv2:separator"


def models_dir() -> Path:
    """The shipped model's folder: the package's ``models/`` in a wheel, else the
    checkout's ``models/``."""
    installed = PACKAGE_DIR / "models"
    return installed if installed.is_dir() else CHECKOUT_DIR / "models"


def native_dir() -> Path | None:
    """The folder the build installed ``rtsep._core`` (and librtsep, the header and the
    LV2 bundle) into; None when ``_core`` is not built. In an editable install that is
    site-packages, not the source folder."""
    try:
        from rtsep import _core
    except ImportError:
        return None
    return Path(_core.__file__).resolve().parent


def _first(*candidates: Path | None) -> Path | None:
    return next((c for c in candidates if c is not None and c.exists()), None)


def library_path() -> Path | None:
    """``librtsep`` (the C ABI): installed with the package, else ``build/embed``."""
    built = native_dir()
    return _first(built / LIBRARY_NAME if built else None, CHECKOUT_BUILD / LIBRARY_NAME)


def header_path() -> Path | None:
    """``rtsep.h``: installed with the package, else the checkout's ``csrc/include``."""
    built = native_dir()
    return _first(built / "include" / "rtsep.h" if built else None,
                  CHECKOUT_DIR / "csrc" / "include" / "rtsep.h")


def lv2_bundle_dir() -> Path | None:
    """The plugin bundle as built (``manifest.ttl``, ``rtsep.ttl``, the binary; no model):
    installed with the package, else ``build/embed/rtsep.lv2``."""
    built = native_dir()
    for bundle in (built / "lv2" / LV2_BUNDLE_NAME if built else None, CHECKOUT_BUILD / LV2_BUNDLE_NAME):
        if bundle is not None and (bundle / "manifest.ttl").is_file():
            return bundle
    return None


def default_lv2_prefix() -> Path:
    """The per-user LV2 folder hosts search by default (lilv's LV2_PATH defaults)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Audio" / "Plug-Ins" / "LV2"
    if sys.platform == "win32":
        import os

        return Path(os.environ.get("APPDATA", Path.home())) / "LV2"
    return Path.home() / ".lv2"
