"""The causal U-Net in PyTorch: exact causality, step mode == sequence mode,
MAC count, and checkpoints (round trip, atomic write, validation errors)."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch (the train extra) is not installed")

from rtsep.config import LATENCY_MODES, StftGeometry  # noqa: E402
from rtsep.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from rtsep.runtime.errors import ModelFileError  # noqa: E402
from rtsep.model.export import (check_frames, count_macs_per_frame, frames_to_spec,  # noqa: E402
                                reference_masks)
from rtsep.model.unet import CausalUNet, UNetConfig  # noqa: E402

pytestmark = pytest.mark.torch


def random_model(seed: int = 0, cfg: UNetConfig = UNetConfig()) -> CausalUNet:
    """A model with every parameter randomised (the head is zero at init, which
    would make the mask a constant 0.5 and every comparison trivial)."""
    from rtsep.model.export_native import random_model as randomised

    return randomised(cfg, seed)


@pytest.fixture(scope="module")
def model() -> CausalUNet:
    return random_model()


def test_mask_is_not_trivial(model):
    mask = reference_masks(model, check_frames(64))
    assert mask.shape == (64, 2, 513) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    assert mask.std() > 0.02, "random weights should give a varied mask"


@pytest.mark.parametrize("t_change", [0, 7, 30])
def test_causality_exact(model, t_change):
    """Changing input frames after t leaves the outputs up to t bit-identical."""
    n_frames = 40
    spec = frames_to_spec(check_frames(n_frames, seed=1))
    altered = spec.clone()
    gen = torch.Generator().manual_seed(2)
    altered[:, :, t_change + 1:] = torch.randn(altered[:, :, t_change + 1:].shape, generator=gen)
    with torch.no_grad():
        y, y_alt = model(spec), model(altered)
    assert torch.equal(y[:, :, : t_change + 1], y_alt[:, :, : t_change + 1])
    # ...and the change does reach the later outputs (the test can fail).
    assert (y[:, :, t_change + 1:] - y_alt[:, :, t_change + 1:]).abs().max() > 1e-3


def test_single_frame_change_affects_only_the_future(model):
    spec = frames_to_spec(check_frames(30, seed=3))
    altered = spec.clone()
    altered[:, :, 12] *= 4.0
    with torch.no_grad():
        y, y_alt = model(spec), model(altered)
    assert torch.equal(y[:, :, :12], y_alt[:, :, :12])
    assert (y[:, :, 12] - y_alt[:, :, 12]).abs().max() > 1e-3


@pytest.mark.parametrize("latency_mode", LATENCY_MODES)
def test_step_mode_equals_sequence_mode(model, latency_mode):
    geometry = StftGeometry(latency_mode=latency_mode)
    frames = check_frames(500, geometry, seed=4)
    want = reference_masks(model, frames)
    state = model.initial_state()
    got = np.empty_like(want)
    with torch.no_grad():
        for k in range(len(frames)):
            x = torch.from_numpy(frames[k].view(np.float32).reshape(1, 2, -1, 2))
            mask, *state = model.step(x, *state)
            got[k] = mask[0].numpy()
    assert np.max(np.abs(got - want)) <= 1e-4


def test_state_shapes_match_step_outputs(model):
    state = model.initial_state()
    with torch.no_grad():
        out = model.step(torch.zeros(1, 2, 513, 2), *state)
    assert [tuple(t.shape) for t in out[1:]] == [s for _, s in model.state_shapes()]
    assert tuple(out[0].shape) == (1, 2, 513)


def test_mac_count_matches_hand_count():
    cfg = UNetConfig()
    model = CausalUNet(cfg)
    k = cfg.time_kernel * 3
    macs = 0
    bands, c_in = cfg.n_bands, cfg.n_features
    enc_bands = []
    for i, c in enumerate(cfg.channels):
        bands = bands if i == 0 else (bands + 1) // 2
        macs += c * bands * c_in * k
        enc_bands.append(bands)
        c_in = c
    flat = cfg.channels[-1] * enc_bands[-1]
    macs += 3 * cfg.gru_hidden * (flat + cfg.gru_hidden) + cfg.gru_hidden * flat
    for i in range(len(cfg.channels) - 1, 0, -1):
        macs += cfg.channels[i - 1] * enc_bands[i - 1] * cfg.channels[i] * k
    macs += cfg.n_channels_audio * enc_bands[0] * cfg.channels[0]  # 1x1 head
    macs += (cfg.n_features + cfg.n_channels_audio) * cfg.n_bins * cfg.n_bands
    assert count_macs_per_frame(model) == macs


# -- checkpoints ----------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    model = random_model(4)  # trained a step below: not the shared fixture
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    loss = model(frames_to_spec(check_frames(8))).mean()
    loss.backward()
    opt.step()
    opt.zero_grad()
    model.eval()
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(path, model, geometry=StftGeometry(), sample_rates_hz=(44100, 48000),
                    train_state={"optimizer": opt.state_dict(), "step": 7, "config": {"a": (1, 2)}},
                    extra={"training_data": "synthetic test"})
    assert sorted(os.listdir(path.parent)) == ["last.pt"], "no temporary file may remain"
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert meta["format"] == "rtsep-checkpoint" and meta["format_version"] == 1
    assert meta["class"] == "CausalUNet" and meta["config"] == model.cfg.to_dict()
    assert meta["geometry"] == {"n_fft": 1024, "hop_samples": 256}
    assert meta["sample_rates_hz"] == [44100, 48000]
    assert meta["extra"] == {"training_data": "synthetic test"}
    assert meta["train_state"]["step"] == 7
    opt2 = torch.optim.AdamW(loaded.parameters(), lr=1e-3)
    opt2.load_state_dict(meta["train_state"]["optimizer"])
    assert "state_dict" not in meta


def test_checkpoint_overwrite_is_atomic(tmp_path, model, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, model, geometry=StftGeometry())
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, random_model(5), geometry=StftGeometry())
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


def _payload(model) -> dict:
    from rtsep.model.checkpoint import state_dict_sha256

    sd = {k: v.clone() for k, v in model.state_dict().items()}
    return {"format": "rtsep-checkpoint", "format_version": 1, "rtsep_version": "0",
            "class": "CausalUNet", "config": model.cfg.to_dict(),
            "geometry": {"n_fft": 1024, "hop_samples": 256}, "sample_rates_hz": [44100, 48000],
            "weights_sha256": state_dict_sha256(sd), "state_dict": sd,
            "train_state": None, "extra": None}


def _edit_missing_key(p):
    del p["state_dict"]["head.weight"]


def _edit_shape(p):
    p["state_dict"]["head.weight"] = torch.zeros(3, 16, 1, 1)


def _edit_nan(p):
    p["state_dict"]["head.bias"][0] = float("nan")


def _edit_weights_only(p):
    p["state_dict"]["head.bias"] += 1.0


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(format="something-else"), "not an rtsep checkpoint"),
    (lambda p: p.update(format_version=9), "newer"),
    (lambda p: p.update({"class": "OtherNet"}), "model class"),
    (lambda p: p["config"].pop("gru_hidden"), "missing ['gru_hidden']"),
    (lambda p: p["config"].update(extra_knob=3), "unknown ['extra_knob']"),
    (lambda p: p.update(geometry={"n_fft": 2048, "hop_samples": 256}), "n_fft 2048"),
    (lambda p: p.update(geometry={"n_fft": 1024, "hop_samples": 0}), "bad STFT geometry"),
    (lambda p: p.update(sample_rates_hz=[]), "sample_rates_hz"),
    (_edit_missing_key, "1 missing"),
    (_edit_shape, "has shape (3, 16, 1, 1)"),
    (_edit_nan, "NaN"),
    (_edit_weights_only, "checksum mismatch"),
])
def test_checkpoint_validation_errors(tmp_path, model, edit, message):
    payload = _payload(model)
    edit(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(ModelFileError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


@pytest.mark.parametrize("content", ["missing", "random", "truncated", "not-a-dict"])
def test_checkpoint_unreadable_files(tmp_path, model, content):
    path = tmp_path / "ck.pt"
    if content == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif content == "truncated":
        save_checkpoint(path, model, geometry=StftGeometry())
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "not-a-dict":
        torch.save([1, 2, 3], path)
    with pytest.raises(ModelFileError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_save_checkpoint_rejects_mismatched_geometry(tmp_path, model):
    with pytest.raises(ValueError, match="n_fft"):
        save_checkpoint(tmp_path / "x.pt", model, geometry=StftGeometry(n_fft=2048, hop_samples=256))


@pytest.mark.parametrize("changes", [{"gru_hidden": 192}, {"time_kernel": 3},
                                     {"gru_hidden": 160, "time_kernel": 4}])
def test_grown_model_computes_the_same_masks(model, changes):
    """Growing the GRU or the conv time kernel keeps every output, in sequence and step
    mode, and the grown model really is bigger and can still learn (non-zero gradients
    reach the new weights)."""
    import dataclasses

    from rtsep.model.grow import grow

    grown = grow(model, dataclasses.replace(model.cfg, **changes))
    assert grown.n_parameters() > model.n_parameters()
    for name, value in changes.items():
        assert getattr(grown.cfg, name) == value
    frames = check_frames(48, seed=3)
    old = reference_masks(model, frames)
    new = reference_masks(grown, frames)  # step mode
    assert np.abs(new - old).max() < 1e-5
    spec = frames_to_spec(frames)
    with torch.no_grad():
        assert torch.allclose(grown(spec), model(spec), atol=1e-5)
    grown.train()
    grown(spec).square().sum().backward()
    if "gru_hidden" in changes:
        h_old = model.cfg.gru_hidden
        assert grown.gru_out.weight.grad[:, h_old:].abs().max() > 0
    if "time_kernel" in changes:
        assert grown.encoders[1].conv.weight.grad[:, :, 0].abs().max() > 0


def test_grow_refuses_what_would_change_the_function(model):
    import dataclasses

    from rtsep.model.grow import grow

    with pytest.raises(ValueError, match="shrink gru_hidden"):
        grow(model, dataclasses.replace(model.cfg, gru_hidden=64))
    with pytest.raises(ValueError, match="cannot change channels"):
        grow(model, dataclasses.replace(model.cfg, channels=(16, 24, 32, 48, 96)))
