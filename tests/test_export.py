"""Exports: ONNX and TorchScript step graphs reproduce PyTorch, carry complete
metadata, refuse to be written when they do not match, and the CLI commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch (the train extra) is not installed")

from rtsep.config import LATENCY_MODES, StftGeometry  # noqa: E402
from rtsep.model.checkpoint import save_checkpoint, state_dict_sha256  # noqa: E402
from rtsep.runtime.errors import ExportCheckError, ModelFileError, OptionError  # noqa: E402
from rtsep.model.export import (check_frames, export_model, reference_masks,  # noqa: E402
                                run_steps)
from rtsep.model.unet import CausalUNet, UNetConfig  # noqa: E402
from rtsep.runtime import inspect, load  # noqa: E402

pytestmark = pytest.mark.torch

FORMATS = {"onnx": ("onnx-cpu", ".onnx"), "torchscript": ("torchscript-cpu", ".pt")}


def random_model(seed: int = 0) -> CausalUNet:
    from rtsep.model.export_native import random_model as randomised

    return randomised(UNetConfig(), seed)


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture(scope="module")
def exports(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    out = {}
    for fmt, (_, suffix) in FORMATS.items():
        path = folder / f"model{suffix}"
        meta = export_model(model, path, fmt, extra={"training_data": "unit-test noise"},
                            log=lambda msg: None)
        out[fmt] = (path, meta)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("latency_mode", LATENCY_MODES)
def test_export_reproduces_pytorch_step_by_step(model, exports, fmt, latency_mode):
    path, meta = exports[fmt]
    assert meta["check"]["max_abs_diff"] <= 1e-4
    frames = check_frames(300, StftGeometry(latency_mode=latency_mode), seed=11)
    runner = load(path, backend=FORMATS[fmt][0], latency_mode=latency_mode, sample_rate_hz=44100)
    got = run_steps(runner, frames)
    want = reference_masks(model, frames)
    assert want.std() > 0.02  # a constant mask would make this comparison empty
    assert np.max(np.abs(got - want)) <= 1e-4
    assert runner.latency_samples == StftGeometry(latency_mode=latency_mode).latency_samples


@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_is_complete_and_derived(model, exports, fmt):
    path, _ = exports[fmt]
    mf = inspect(path)
    meta = mf.metadata
    assert mf.format == fmt and meta["file_format"] == fmt
    assert meta["format"] == "rtsep-model" and meta["format_version"] == 1
    assert meta["sample_rates_hz"] == [44100, 48000]
    assert (meta["n_fft"], meta["hop_samples"], meta["n_bins"]) == (1024, 256, 513)
    g = StftGeometry()
    np.testing.assert_array_equal(np.float32(meta["analysis_window"]["values"]),
                                  g.analysis_window())
    assert meta["analysis_window"]["formula"].startswith("rtsep.config.analysis_window")
    for mode in LATENCY_MODES:
        gm = g.with_mode(mode)
        info = meta["latency_modes"][mode]
        np.testing.assert_array_equal(np.float32(info["synthesis_window"]["values"]),
                                      gm.synthesis_window())
        assert info["latency_samples"] == gm.latency_samples
        for rate in (44100, 48000):
            assert info["latency_ms"][str(rate)] == pytest.approx(gm.latency_ms(rate), abs=1e-3)
    assert meta["latency_modes"]["low"]["latency_ms"]["48000"] <= 6.0
    assert meta["latency_modes"]["default"]["latency_ms"]["48000"] <= 12.0
    assert [(s["name"], tuple(s["shape"])) for s in meta["state"]] == model.state_shapes()
    assert all(s["initial"] == "zeros" and s["dtype"] == "float32" for s in meta["state"])
    assert meta["model_config"] == model.cfg.to_dict()
    assert meta["n_parameters"] == model.n_parameters()
    assert meta["training_data"] == "unit-test noise"
    assert meta["source_weights_sha256"] == state_dict_sha256(model.state_dict())
    assert meta["weights_sha256"] == mf.weights_sha256
    assert meta["rtsep_version"]


def test_onnx_graph_io_names_and_shapes(exports, model):
    import onnxruntime as ort

    path, _ = exports["onnx"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [n for n, _ in model.state_shapes()]
    assert [(i.name, i.shape) for i in session.get_inputs()] == (
        [("frame", [1, 2, 513, 2])] + [(f"state_in.{n}", list(s)) for n, s in model.state_shapes()])
    assert [o.name for o in session.get_outputs()] == ["mask"] + [f"state_out.{n}" for n in names]
    opsets = {o.domain: o.version for o in _onnx_opsets(path)}
    assert opsets.get("", opsets.get("ai.onnx", 0)) >= 17


def _onnx_opsets(path):
    onnx = pytest.importorskip("onnx")
    return onnx.load(str(path)).opset_import


class DriftingUNet(CausalUNet):
    """Step mode that drifts from sequence mode: what a frozen buffer state does."""

    def step(self, frame, *state):
        mask, *new_state = super().step(frame, *state)
        return (mask * 0.999, *new_state)


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_check_rejects_a_mismatching_graph(tmp_path, fmt):
    bad = DriftingUNet().eval()
    bad.load_state_dict(random_model(1).state_dict())
    out = tmp_path / f"bad{FORMATS[fmt][1]}"
    with pytest.raises(ExportCheckError, match="differs from PyTorch"):
        export_model(bad, out, fmt, n_check_frames=20, log=lambda msg: None)
    assert list(tmp_path.iterdir()) == [], "a failed export must leave no file"


def test_export_rejects_bad_options(tmp_path, model):
    with pytest.raises(OptionError, match="unknown export format"):
        export_model(model, tmp_path / "x.bin", "tflite")
    with pytest.raises(OptionError, match="opset"):
        export_model(model, tmp_path / "x.onnx", "onnx", opset=13)


def test_small_config_exports(tmp_path):
    """The exporter follows the config (no shapes hard-wired to the default model)."""
    cfg = UNetConfig(channels=(8, 16, 24), gru_hidden=32, time_kernel=3)
    with torch.random.fork_rng():
        torch.manual_seed(4)
        small = CausalUNet(cfg).eval()
        with torch.no_grad():
            for p in small.parameters():
                p.add_(0.1 * torch.randn_like(p))
    meta = export_model(small, tmp_path / "small.onnx", "onnx", n_check_frames=60,
                        log=lambda msg: None)
    assert meta["check"]["max_abs_diff"] <= 1e-4
    assert meta["state"][0]["shape"] == [1, 4, 2, cfg.n_bands]


def test_cli_export_and_info(tmp_path, model, capsys):
    from rtsep.cli import main

    ckpt = tmp_path / "last.pt"
    save_checkpoint(ckpt, model, geometry=StftGeometry(), extra={"training_data": "cli test"})
    out = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "--format", "onnx", "-o", str(out),
                 "--check-frames", "40"]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    for mode in LATENCY_MODES:
        g = StftGeometry(latency_mode=mode)
        assert f"{g.latency_samples} samples ({g.latency_ms(44100):.2f} ms at 44100 Hz, " \
               f"{g.latency_ms(48000):.2f} ms at 48000 Hz)" in text
    assert f"{model.n_parameters():,} parameters" in text and "cli test" in text
    assert "onnx-cpu: yes" in text
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["training_data"] == "cli test"
    # A user error is one line on stderr and exit status 2, no traceback.
    assert main(["info", str(tmp_path / "missing.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such model file" in err and "\n" not in err
    with pytest.raises(ModelFileError):
        inspect(ckpt)  # a training checkpoint is not an export
