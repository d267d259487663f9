"""Mask ensembles (several U-Nets run side by side, masks averaged) on every face, and the
native model's AVX2 kernels against its portable loops."""

from __future__ import annotations

import json

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

pytestmark = pytest.mark.torch

# Odd sizes on purpose: channel counts that are not multiples of 4, band counts (188, 94,
# 47) that are not multiples of 8, and a time kernel of 3, so every tail of the AVX2
# convolution runs.
ODD = UNetConfig(n_single_bins=124, channels=(5, 7, 9), gru_hidden=12, time_kernel=3)


def noisy(cfg: UNetConfig, seed: int) -> CausalUNet:
    return random_model(cfg, seed, spread=0.2)


def test_the_mask_is_the_mean_of_the_members_in_sequence_and_step_mode():
    members = [noisy(ODD, s) for s in (1, 2, 3)]
    ens = MaskEnsemble(members).eval()
    frames = check_frames(40, seed=3)
    mean = np.mean([reference_masks(m, frames) for m in members], axis=0)
    assert np.abs(reference_masks(ens, frames) - mean).max() < 1e-6
    state = ens.initial_state()
    assert [n for n, _ in ens.state_shapes()][:2] == ["m0.enc0", "m0.enc1"]
    assert len(state) == 3 * len(members[0].state_shapes())
    with torch.no_grad():
        for k in range(len(frames)):
            frame = torch.from_numpy(frames[k].view(np.float32).reshape(2, -1, 2))[None]
            mask, *state = ens.step(frame, *state)
            assert np.abs(mask[0].numpy() - mean[k]).max() < 1e-5
    with pytest.raises(ValueError, match="2 to"):
        MaskEnsemble(members[:1])
    with pytest.raises(ValueError, match="share one"):
        MaskEnsemble([members[0], noisy(UNetConfig(channels=(4, 4, 4, 4, 4), gru_hidden=8), 0)])


def test_soup_ensemble_checkpoint_and_every_export(tmp_path, capsys):
    """``python -m rtsep.train.soup --ensemble`` keeps the members' weights apart; the
    checkpoint loads back as an ensemble and exports to ONNX, TorchScript and the native
    format, each checked step by step against PyTorch by the exporter and here."""
    from rtsep.train.soup import main as soup_main

    paths = [save_checkpoint(tmp_path / f"m{s}.pt", noisy(ODD, s), geometry=StftGeometry(),
                             extra={"training_data": "noise", "train_steps": 5, "teacher": "t"})
             for s in (1, 2)]
    assert soup_main([str(tmp_path / "ens.ckpt"), *map(str, paths), "--ensemble"]) == 0
    ens, meta = load_checkpoint(tmp_path / "ens.ckpt")
    assert isinstance(ens, MaskEnsemble) and ens.n_members == 2 and meta["n_members"] == 2
    for j, p in enumerate(paths):
        member = load_checkpoint(p)[0].state_dict()
        for name, value in ens.members[j].state_dict().items():
            assert torch.equal(value, member[name]), name
    assert meta["extra"]["ensemble_of"] == [str(p) for p in paths]
    assert meta["extra"]["train_steps"] == 10 and meta["extra"]["teacher"] == "t"

    frames = check_frames(60, seed=8)
    want = reference_masks(ens, frames)
    for fmt, backend, suffix in (("onnx", "onnx-cpu", ".onnx"), ("torchscript", "torchscript-cpu", ".pt"),
                                 ("native", "native", ".rtsepw")):
        out = tmp_path / f"ens{suffix}"
        if fmt == "native":
            em = export_native(ens, out, n_check_frames=60, log=lambda msg: None)
        else:
            em = export_model(ens, out, fmt, n_check_frames=60, log=lambda msg: None)
        assert em["n_members"] == 2 and em["model_class"] == "MaskEnsemble"
        got = run_steps(load(out, backend=backend, latency_mode="default", sample_rate_hz=48000), frames)
        assert np.abs(got - want).max() < 1e-4, fmt
    native = _core.NativeModel(str(tmp_path / "ens.rtsepw"))
    assert native.n_members == 2
    from rtsep.cli import main as cli_main

    capsys.readouterr()
    assert cli_main(["info", str(tmp_path / "ens.onnx")]) == 0
    assert "MaskEnsemble of 2 members (mean mask)" in capsys.readouterr().out
    assert native.macs_per_step == 2 * _core.NativeModel(str(_native_of(tmp_path, paths[0]))).macs_per_step

    # Refused, one line each, nothing written: an ensemble as an ingredient, one checkpoint.
    for args, message in (([str(tmp_path / "ens.ckpt"), str(paths[0])], "is an ensemble already"),
                          ([str(paths[0])], "needs 2 to")):
        capsys.readouterr()
        assert soup_main([str(tmp_path / "bad.pt"), *args, "--ensemble"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and not (tmp_path / "bad.pt").exists()


def _native_of(tmp_path, checkpoint):
    out = tmp_path / "single.rtsepw"
    export_native(load_checkpoint(checkpoint)[0], out, n_check_frames=5, log=lambda msg: None)
    return out


def test_native_reader_refuses_bad_ensemble_files(tmp_path):
    ens = MaskEnsemble([noisy(ODD, 1), noisy(ODD, 2)])
    good = native_tensors(ens, StftGeometry(), (44100, 48000))
    meta = {"file_format": "native"}

    def refused(tensors: dict, message: str) -> None:
        path = tmp_path / "bad.rtsepw"
        path.write_bytes(native_file_bytes(tensors, meta))
        with pytest.raises(ValueError, match=message):
            _core.NativeModel(str(path))

    assert int(good["config.n_members"][0]) == 2
    path = tmp_path / "good.rtsepw"
    path.write_bytes(native_file_bytes(dict(good), meta))
    assert _core.NativeModel(str(path)).n_members == 2
    for n, message in ((1, "n_members must be >= 2"), (9, "above this rtsep's limit")):
        refused({**good, "config.n_members": np.array([n], np.int32)}, message)
    refused({k: v for k, v in good.items() if k != "config.n_members"}, "missing tensor 'weights.band_pool'")
    pool = good["weights.members.1.band_pool"].copy()
    pool[0, 0] += 0.5
    refused({**good, "weights.members.1.band_pool": pool}, "band matrices differ")
    refused({k: v for k, v in good.items() if k != "weights.members.1.head.bias"},
            "missing tensor 'weights.members.1.head.bias'")
    refused({**good, "weights.members.2.head.bias": good["weights.members.1.head.bias"]},
            "unexpected tensor 'weights.members.2.head.bias'")


@pytest.mark.skipif(not _core.NativeModel.__dict__.get("use_avx2"), reason="old extension")
@pytest.mark.parametrize("cfg", [UNetConfig(), ODD], ids=["default", "odd"])
def test_avx2_kernels_match_the_portable_loops(tmp_path, cfg):
    path = tmp_path / "m.rtsepw"
    export_native(noisy(cfg, 4), path, n_check_frames=5, log=lambda msg: None)
    frames = check_frames(200, seed=2)
    masks = {}
    for on in (False, True):
        model = _core.NativeModel(str(path))
        if model.use_avx2(on) != on:
            pytest.skip("this CPU has no AVX2 + FMA")
        out = np.empty((len(frames), 2, model.n_bins), np.float32)
        for k in range(len(frames)):
            model.step(frames[k], out[k])
        masks[on] = out
    assert np.abs(masks[True] - masks[False]).max() < 1e-5
    # Not a mask that a broken kernel could match trivially: it moves between frames.
    assert masks[True].std(axis=0).mean() > 1e-3
    assert json.loads(_core.NativeModel(str(path)).metadata_json)["n_members"] == 1
