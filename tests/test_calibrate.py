"""The mask calibration (a per-band affine map of the logits, rtsep.train.calibrate): the
fit, the calibrated model on every face, and files written before it existed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch (the train extra) is not installed")

from rtsep import _core  # noqa: E402
from rtsep.config import StftGeometry  # noqa: E402
from rtsep.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from rtsep.model.ensemble import MaskEnsemble  # noqa: E402
from rtsep.model.export import check_frames, export_model, reference_masks, run_steps  # noqa: E402
from rtsep.model.export_native import export_native, native_tensors, random_model  # noqa: E402
from rtsep.model.unet import CausalUNet, UNetConfig  # noqa: E402
from rtsep.runtime import load  # noqa: E402
from rtsep.runtime.rtsepw import native_file_bytes  # noqa: E402
from rtsep.train.calibrate import ExcerptStats, calibrated, fit  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = UNetConfig(n_single_bins=124, channels=(5, 7, 9), gru_hidden=12, time_kernel=3)


def _map(n_bands: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 1.5 * torch.rand(n_bands, generator=g), torch.randn(n_bands, generator=g)


def test_calibrated_mask_is_the_mapped_logits_and_maps_compose():
    base = random_model(SMALL, 1, spread=0.2).eval()
    assert "band_logit_scale" not in base.state_dict()  # an uncalibrated model is unchanged
    scale, bias = _map(SMALL.n_bands, 2)
    model = calibrated(base, scale, bias).eval()
    assert model.cfg.calibrated and not base.cfg.calibrated
    spec = torch.randn(1, 2, 30, SMALL.n_bins, 2)
    with torch.no_grad():
        z = base.head(base.decode(spec))
        want = torch.sigmoid(torch.matmul(z * scale + bias, base.band_expand))
        assert torch.allclose(model(spec), want, atol=1e-6)
        assert not torch.allclose(model(spec), base(spec), atol=1e-3)
        # The identity map changes nothing; a second map applies after the first.
        same = calibrated(base, torch.ones(SMALL.n_bands), torch.zeros(SMALL.n_bands))
        assert torch.allclose(same(spec), base(spec), atol=1e-7)
        s2, b2 = _map(SMALL.n_bands, 3)
        twice = calibrated(model, s2, b2)
        assert torch.allclose(twice(spec), torch.sigmoid(torch.matmul(
            (z * scale + bias) * s2 + b2, base.band_expand)), atol=1e-6)
    with pytest.raises(ValueError, match="not finite"):
        calibrated(base, scale * float("nan"), bias)


def test_fit_recovers_a_known_map_per_band_and_globally():
    """Vocals that are exactly ``sigmoid(a z + c)`` of the mixture in every band: the fit
    finds a and c, and the error falls to nothing; one global pair is a compromise."""
    g = torch.Generator().manual_seed(0)
    n_bands = 6
    a_true = torch.tensor([0.6, 1.0, 1.5, 2.0, 1.2, 0.8])
    c_true = torch.tensor([0.5, -0.3, 0.0, 0.8, -1.0, 0.2])
    sets = {}
    for name in ("one", "two"):
        items = []
        for _ in range(4):
            z = 2.0 * torch.randn(2, 200, n_bands, generator=g)
            p = torch.rand(2, 200, n_bands, generator=g) + 0.1
            m = torch.sigmoid(a_true * z + c_true)
            items.append(ExcerptStats(z, p, m * p, float((m * m * p).sum())))
        sets[name] = items
    scale, bias, report = fit(sets, n_iter=600, lr=0.05, objective="mean")
    assert torch.allclose(scale, a_true, atol=0.05) and torch.allclose(bias, c_true, atol=0.05)
    assert all(report["error_db_after"][k] < report["error_db_before"][k] - 10 for k in sets)
    l_scale, l_bias, l_report = fit(sets, n_iter=600, lr=0.05, objective="log")
    assert torch.allclose(l_scale, a_true, atol=0.05) and torch.allclose(l_bias, c_true, atol=0.05)
    assert all(l_report["error_db_after"][k] < l_report["error_db_before"][k] - 10 for k in sets)
    with pytest.raises(ValueError, match="objective"):
        fit(sets, objective="median")
    g_scale, g_bias, g_report = fit(sets, per_band=False, n_iter=300)
    assert torch.all(g_scale == g_scale[0]) and torch.all(g_bias == g_bias[0])
    for k in sets:
        assert report["error_db_after"][k] < g_report["error_db_after"][k] \
            < g_report["error_db_before"][k]


def test_calibrated_model_on_every_face(tmp_path, capsys):
    """Checkpoint round trip, then ONNX, TorchScript and the native model (alone and in an
    ensemble), each checked step by step against PyTorch by the exporter and here."""
    model = calibrated(random_model(SMALL, 4, spread=0.2), *_map(SMALL.n_bands, 5)).eval()
    path = save_checkpoint(tmp_path / "k.ckpt", model, geometry=StftGeometry())
    back, meta = load_checkpoint(path)
    assert back.cfg.calibrated and meta["config"]["calibrated"] is True
    assert torch.equal(back.band_logit_bias, model.band_logit_bias)
    frames = check_frames(50, seed=6)
    other = calibrated(random_model(SMALL, 7, spread=0.2), *_map(SMALL.n_bands, 10)).eval()
    for net, tag in ((model, "single"), (MaskEnsemble([model, other]), "ens")):
        want = reference_masks(net, frames)
        for fmt, backend, suffix in (("onnx", "onnx-cpu", ".onnx"), ("torchscript", "torchscript-cpu", ".pt"),
                                     ("native", "native", ".rtsepw")):
            out = tmp_path / f"{tag}{suffix}"
            if fmt == "native":
                export_native(net, out, n_check_frames=50, log=lambda msg: None)
            else:
                export_model(net, out, fmt, n_check_frames=50, log=lambda msg: None)
            got = run_steps(load(out, backend=backend, latency_mode="default", sample_rate_hz=48000), frames)
            assert np.abs(got - want).max() < 1e-4, (tag, fmt)
    from rtsep.cli import main as cli_main

    capsys.readouterr()
    assert cli_main(["info", str(tmp_path / "single.onnx")]) == 0
    assert "calibration" in capsys.readouterr().out


def test_files_without_the_calibration_still_load_and_half_a_map_is_refused(tmp_path):
    base = random_model(SMALL, 8, spread=0.2)
    path = save_checkpoint(tmp_path / "old.ckpt", base, geometry=StftGeometry())
    payload = torch.load(path, weights_only=True)
    del payload["config"]["calibrated"]  # as written before the field existed
    torch.save(payload, path)
    model, _ = load_checkpoint(path)
    assert isinstance(model, CausalUNet) and not model.cfg.calibrated

    good = native_tensors(calibrated(base, *_map(SMALL.n_bands, 9)), StftGeometry(), (44100, 48000))
    meta = {"file_format": "native"}
    for drop in ("weights.band_logit_scale", "weights.band_logit_bias"):
        bad = tmp_path / "bad.rtsepw"
        bad.write_bytes(native_file_bytes({k: v for k, v in good.items() if k != drop}, meta))
        with pytest.raises(ValueError, match="come together"):
            _core.NativeModel(str(bad))
    wrong = dict(good, **{"weights.band_logit_bias": np.zeros(3, np.float32)})
    bad.write_bytes(native_file_bytes(wrong, meta))
    with pytest.raises(ValueError, match="band_logit_bias' has shape"):
        _core.NativeModel(str(bad))
