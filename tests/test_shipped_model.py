"""The model in ``models/`` is what its manifest says it is.

A re-ship that forgets a file, a checkout that stores a pointer instead of the weights
(Git LFS), or exports of different weights side by side would all pass the engine tests
that only load one file; these compare every shipped file with the manifest and with each
other.
"""

from __future__ import annotations

import json

import pytest

from rtsep.config import StftGeometry
from rtsep.engine import MODELS_DIR
from rtsep.runtime import inspect
from rtsep.train.ship import sha256

MANIFEST = MODELS_DIR / "manifest.json"

pytestmark = pytest.mark.skipif(not MANIFEST.is_file(), reason="no shipped model in models/")


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def test_every_shipped_file_has_the_size_and_checksum_of_the_manifest():
    files = _manifest()["files"]
    assert {p.rsplit(".", 1)[1] for p in files} == {"onnx", "pt", "rtsepw", "ckpt"}
    for name, entry in files.items():
        path = MODELS_DIR / name
        assert path.is_file(), f"{name} is listed in the manifest but missing"
        assert path.stat().st_size == entry["bytes"], name
        assert sha256(path) == entry["sha256"], name


def test_the_exports_hold_the_same_weights_and_the_manifest_geometry():
    manifest = _manifest()
    name = manifest["name"]
    exports = [inspect(MODELS_DIR / f"{name}{suffix}") for suffix in (".onnx", ".pt", ".rtsepw")]
    sources = {m.metadata["source_weights_sha256"] for m in exports}
    assert len(sources) == 1, "the shipped exports were made from different weights"
    geometry = StftGeometry(n_fft=manifest["geometry"]["n_fft"],
                            hop_samples=manifest["geometry"]["hop_samples"])
    for m in exports:
        assert m.metadata["model_config"] == manifest["config"], m.path.name
        assert m.metadata["n_parameters"] == manifest["parameters"], m.path.name
        assert m.metadata["n_fft"] == geometry.n_fft and m.metadata["hop_samples"] == geometry.hop_samples
        assert sorted(m.metadata["sample_rates_hz"]) == sorted(manifest["sample_rates_hz"])
    for mode, samples in manifest["latency_samples"].items():
        assert geometry.with_mode(mode).latency_samples == samples, mode
