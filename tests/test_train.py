"""The trainer: runs, logs, checkpoints, resumes where it stopped, and its output exports.

Uses a tiny MUSDB-layout tree written by the test and a tiny model, so it runs in seconds
without ../shared.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch", reason="training needs the train extra (torch)")

from rtsep.model.checkpoint import load_checkpoint  # noqa: E402
from rtsep.model.unet import UNetConfig  # noqa: E402
from rtsep.train.trainer import Trainer, TrainConfig  # noqa: E402

SR = 44100


def _track(folder, seconds, seed):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    folder.mkdir(parents=True)
    stems = {}
    for k, stem in enumerate(("vocals", "drums", "bass", "other")):
        f0 = 220.0 * (k + 1) * (1 + 0.05 * np.sin(2 * np.pi * 0.5 * t))
        x = 0.2 * np.sin(2 * np.pi * np.cumsum(f0) / SR) + 0.01 * rng.standard_normal(n)
        stems[stem] = np.stack([x, 0.7 * x]).astype(np.float32)
        sf.write(folder / f"{stem}.wav", stems[stem].T, SR, subtype="FLOAT")
    sf.write(folder / "mixture.wav", sum(stems.values()).T, SR, subtype="FLOAT")


@pytest.fixture(scope="module")
def musdb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb")
    _track(root / "train" / "A", 4.0, 0)
    _track(root / "train" / "B", 4.0, 1)
    _track(root / "test" / "C", 4.0, 2)
    return root


def _config(musdb_root) -> TrainConfig:
    return TrainConfig(data="musdb", musdb_root=str(musdb_root), sample_rates_hz=(44100,),
                       batch_size=2, segment_frames=24, warmup_frames=4, valid_every=3,
                       n_valid_segments=4, total_steps=20,
                       model=UNetConfig(channels=(4, 4, 4, 4, 4), gru_hidden=8).to_dict())


def test_train_logs_checkpoints_and_resumes(tmp_path, musdb_root):
    run = tmp_path / "run"
    t1 = Trainer(run, _config(musdb_root), cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu")
    t1.train(minutes=5, max_steps=6)
    assert t1.step == 6
    for name in ("last.pt", "best.pt", "log.csv", "curve.png", "summary.json"):
        assert (run / name).exists(), name
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert all(np.isfinite(float(r["valid_loss"])) for r in rows)
    weights_after_6 = {k: v.clone() for k, v in t1.model.state_dict().items()}
    ema_after_6 = {k: v.clone() for k, v in t1.ema.module.state_dict().items()}
    # The moving average trails the raw weights; it is what best.pt holds.
    assert any(not torch.equal(ema_after_6[k], v) for k, v in weights_after_6.items())

    # A new Trainer on the same folder resumes: same weights, step counter and optimizer.
    t2 = Trainer(run, _config(musdb_root), cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu")
    assert t2.step == 6
    for k, v in t2.model.state_dict().items():
        assert torch.equal(v, weights_after_6[k]), k
    assert t2.opt.state_dict()["state"], "optimizer state was not restored"
    for k, v in t2.ema.module.state_dict().items():
        assert torch.equal(v, ema_after_6[k]), f"moving average not restored: {k}"
    t2.train(minutes=5, max_steps=3)
    assert t2.step == 9
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [3, 6, 9]
    changed = any(not torch.equal(v, weights_after_6[k]) for k, v in t2.model.state_dict().items())
    assert changed, "resumed training did not update the weights"

    best, best_meta = load_checkpoint(run / "best.pt")
    if best_meta["train_state"]["step"] == 9:
        for k, v in best.state_dict().items():
            assert torch.equal(v, t2.ema.module.state_dict()[k]), k
    model, meta = load_checkpoint(run / "last.pt")
    assert meta["train_state"]["step"] == 9
    assert meta["extra"]["training_data"] == "musdb"
    assert model.cfg.channels == (4, 4, 4, 4, 4)
    assert not (run / "final.pt").exists()  # the 20-step schedule is not done yet
    t2.train(minutes=5, max_steps=30)  # asked for more: training stops where the schedule ends
    assert t2.step == 20
    final, final_meta = load_checkpoint(run / "final.pt")  # its end: the moving average
    assert final_meta["train_state"]["step"] == 20
    for k, v in final.state_dict().items():
        assert torch.equal(v, t2.ema.module.state_dict()[k]), k


def test_a_schedule_in_minutes_ends_the_run_with_its_final_average(tmp_path, musdb_root):
    """--schedule-minutes: the cosine follows training time, across a resume, and the run
    stops with final.pt (the moving average) once the minutes are spent, however many
    steps that took."""
    import dataclasses

    cfg = dataclasses.replace(_config(musdb_root), schedule_minutes=0.05, total_steps=10**6,
                              valid_every=10**6)
    run = tmp_path / "run"
    t1 = Trainer(run, cfg, cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu")
    assert t1.lr_at(500) == pytest.approx(cfg.lr)  # no training time spent yet: the top
    t1.train(minutes=5, max_steps=2)
    assert t1.step == 2 and not (run / "final.pt").exists() and not t1.schedule_done()
    t2 = Trainer(run, cfg, cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu")
    assert t2.cfg.schedule_minutes == 0.05 and t2.elapsed_s == pytest.approx(t1.elapsed_s)
    t2.train(minutes=5)  # no step limit: the 3 s of training end it
    assert t2.schedule_done() and t2.elapsed_s >= 3.0 and t2.step < 10**6
    assert t2.lr_at(max(t2.step, 200)) == pytest.approx(cfg.lr_min)  # past the 200-step warm-up
    final, meta = load_checkpoint(run / "final.pt")
    assert meta["train_state"]["step"] == t2.step
    for k, v in final.state_dict().items():
        assert torch.equal(v, t2.ema.module.state_dict()[k]), k


def test_several_data_workers_draw_distinct_batches_and_worker_0_repeats_one_worker(tmp_path, musdb_root):
    cfg = _config(musdb_root)
    t = Trainer(tmp_path / "run", cfg, cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu",
                data_workers=3)
    # Worker 0's stream is the one a single worker draws, so one-worker runs are unchanged
    # (drawn here before the workers start, so nothing runs beside it).
    rng = np.random.default_rng([cfg.seed, 0])
    sr = int(rng.choice(cfg.sample_rates_hz))
    first_of_one_worker = t._batch("train", sr, cfg.batch_size, rng).mix
    batches = t._prefetch()
    mixes = [next(batches).mix for _ in range(9)]
    assert all(torch.isfinite(m).all() for m in mixes)
    for i in range(len(mixes)):
        for j in range(i):
            assert not torch.equal(mixes[i], mixes[j]), "two data workers drew the same batch"
    # The workers share one queue, so on a busy machine worker 0's first batch may come
    # after the others' first few; it comes within a bounded number of draws.
    found = any(torch.equal(m, first_of_one_worker) for m in mixes)
    for _ in range(60):
        if found:
            break
        found = torch.equal(next(batches).mix, first_of_one_worker)
    assert found, "worker 0 does not draw what a single worker draws"
    t.train(minutes=5, max_steps=3)
    assert t.step == 3
    with pytest.raises(ValueError, match="at least 1"):
        Trainer(tmp_path / "run2", cfg, cache_dir=str(tmp_path / "cache"), n_threads=1,
                device="cpu", data_workers=0)


def test_filter_invariant_loss_trains_and_picks_best_by_its_validation(tmp_path, musdb_root):
    from dataclasses import replace

    run = tmp_path / "run"
    cfg = replace(_config(musdb_root), fisdr_weight=0.05, select_by="fisdr")
    t = Trainer(run, cfg, cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu")
    t.train(minutes=5, max_steps=6)
    rows = list(csv.DictReader((run / "log.csv").open()))
    fisdr = [float(r["valid_fisdr_db"]) for r in rows]
    assert len(fisdr) == 2 and all(np.isfinite(fisdr))
    _, meta = load_checkpoint(run / "best.pt")
    assert meta["train_state"]["best_sdr_db"] == pytest.approx(max(fisdr), abs=1e-3)
    assert meta["train_state"]["config"]["fisdr_weight"] == 0.05


@pytest.mark.parametrize("frame", [{}, {"n_fft": 2048, "n_single_bins": 256, "band_width_bins": 12}],
                         ids=["default-frame", "2048-frame"])
def test_trained_checkpoint_exports_and_streams(tmp_path, musdb_root, frame):
    """Also for a model with a longer analysis frame (``--model n_fft=2048``): the trainer
    takes its STFT from the model, and every export streams at the same latency (the hop
    and the synthesis window are what set it)."""
    from rtsep.engine import Separator
    from rtsep.model.export import export_checkpoint
    from rtsep.model.export_native import export_native_checkpoint
    from rtsep.runtime import load

    run = tmp_path / "run"
    trainer = Trainer(run, _config(musdb_root), cache_dir=str(tmp_path / "cache"), n_threads=1,
                      device="cpu", model_changes=frame)
    assert trainer.geometry.n_fft == frame.get("n_fft", 1024)
    trainer.train(minutes=5, max_steps=3)
    onnx_path, native_path = tmp_path / "m.onnx", tmp_path / "m.rtsepw"
    meta = export_checkpoint(run / "best.pt", onnx_path, "onnx")
    assert meta["check"]["max_abs_diff"] <= 1e-4
    assert export_native_checkpoint(run / "best.pt", native_path)["check"]["max_abs_diff"] <= 1e-4
    x = (0.1 * np.random.default_rng(3).standard_normal((2, 8000))).astype(np.float32)
    for backend in ("onnx-cpu", "native"):
        runner = load(onnx_path, backend=backend, sample_rate_hz=44100)
        assert runner.latency_samples == 510
        vocals, instrumental = Separator(runner).separate(x, block_samples=333)
        np.testing.assert_allclose(vocals + instrumental, x, atol=1e-5)


def test_snr_term_of_the_loss_is_the_mean_segment_snr_and_skips_silent_vocals():
    import torch

    from rtsep.train.trainer import segment_snr_db, separation_loss

    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(3, 2, 40, 513, 2, generator=gen)
    vocals = 0.5 * mix
    vocals[2] = 0.0  # an instrumental segment: no vocal SNR for it
    mask = torch.full((3, 2, 40, 513), 0.4)
    plain = separation_loss(mask, mix, vocals, 4)
    with_snr = separation_loss(mask, mix, vocals, 4, snr_weight=0.05)
    est_v = mask.unsqueeze(-1) * mix
    sl = slice(4, None)
    snr_v = segment_snr_db(est_v[:, :, sl], vocals[:, :, sl])
    snr_a = segment_snr_db((mix - est_v)[:, :, sl], (mix - vocals)[:, :, sl])
    # mask 0.4 against a true 0.5: vocals SNR 20*log10(0.5/0.1), accompaniment 20*log10(0.5/0.1)
    # where sung; for the silent segment the accompaniment is the mix, estimated at 0.6.
    # error/ref energy 0.04 (vocals), capped: 10 log10(1 / (0.04 + 10^-3))
    assert torch.allclose(snr_v[:2], torch.full((2,), float(10 * np.log10(1 / 0.041))), atol=1e-3)
    assert abs(float(snr_a[2]) - 10 * np.log10(1 / (0.16 + 1e-3))) < 1e-3
    expected = plain - 0.05 * (snr_a.sum() + snr_v[:2].sum()) / 5
    assert torch.allclose(with_snr, expected, atol=1e-5)
    # Gradients flow and are finite, including through the silent segment.
    mask.requires_grad_(True)
    separation_loss(mask, mix, vocals, 4, snr_weight=0.05).backward()
    assert torch.isfinite(mask.grad).all() and mask.grad.abs().sum() > 0


def test_filter_invariant_sdr_forgives_per_bin_gains_but_not_leaks():
    import torch

    from rtsep.train.trainer import segment_fisdr_db, separation_loss, sung_chunks

    gen = torch.Generator().manual_seed(1)
    ref = torch.randn(2, 2, 120, 513, 2, generator=gen)
    other = torch.randn(2, 2, 120, 513, 2, generator=gen)
    g = torch.randn(1, 2, 1, 513, 2, generator=gen)  # a complex gain per channel and bin
    tinted = torch.stack([ref[..., 0] * g[..., 0] - ref[..., 1] * g[..., 1],
                          ref[..., 0] * g[..., 1] + ref[..., 1] * g[..., 0]], -1)
    sdr = segment_fisdr_db(tinted, ref, 2)
    assert sdr.shape == (2, 2) and torch.allclose(sdr, torch.full((2, 2), 30.0), atol=0.05)
    quiet = ref.clone()
    quiet[:, :, 60:] *= 1e-3  # second chunk: vocals 60 dB under the mix
    assert sung_chunks(quiet, quiet + other, 2).tolist() == [[True, False], [True, False]]
    # A leak at -20 dB: about 10 log10(1 / (0.01 + cap 0.001)) = 19.6 (the gain fit absorbs
    # the small part of the leak that correlates with the reference).
    sdr = segment_fisdr_db(ref + 0.1 * other, ref, 2)
    assert ((sdr > 19.3) & (sdr < 20.0)).all()
    # The SNR term, by contrast, punishes the tint.
    from rtsep.train.trainer import segment_snr_db

    assert float(segment_snr_db(tinted, ref).max()) < 10.0
    # In the loss: minus the weight times the mean over accompaniment and sung vocal chunks.
    mix = torch.randn(3, 2, 44, 513, 2, generator=gen)
    vocals = 0.5 * mix
    vocals[2] = 0.0
    mask = torch.full((3, 2, 44, 513), 0.4)
    sl = slice(4, None)
    est_v = mask.unsqueeze(-1) * mix
    sdr_v = segment_fisdr_db(est_v[:, :, sl], vocals[:, :, sl], 2)
    sdr_a = segment_fisdr_db((mix - est_v)[:, :, sl], (mix - vocals)[:, :, sl], 2)
    expected = separation_loss(mask, mix, vocals, 4) - 0.05 * (sdr_a.sum() + sdr_v[:2].sum()) / 10
    assert torch.allclose(separation_loss(mask, mix, vocals, 4, fisdr_weight=0.05), expected, atol=1e-5)
    mask.requires_grad_(True)
    separation_loss(mask, mix, vocals, 4, fisdr_weight=0.05).backward()
    assert torch.isfinite(mask.grad).all() and mask.grad.abs().sum() > 0


def test_augmentation_changes_reach_the_training_source_only(tmp_path, musdb_root):
    from rtsep.commands.train import parse_augmentation
    from rtsep.errors import UserError

    aug = parse_augmentation(["p_drive=0.4", "drive_db=2,9"])
    assert aug == {"p_drive": 0.4, "drive_db": (2.0, 9.0)}
    for bad, message in ((["p_drive"], "NAME=VALUE"), (["loudness=3"], "NAME=VALUE"),
                         (["p_drive=x"], "a number"), (["p_drive=1.5"], "p_drive")):
        with pytest.raises(UserError, match=message):
            parse_augmentation(bad)
    cfg = _config(musdb_root)
    cfg.augmentation = aug
    t = Trainer(tmp_path / "run", cfg, cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu")
    train_aug = t._source("train", SR).source.augmentation
    assert (train_aug.p_drive, train_aug.drive_db) == (0.4, (2.0, 9.0))
    assert t._source("valid", SR).source.augmentation.p_drive == 0.0
    t.train(minutes=5, max_steps=2)
    meta = load_checkpoint(tmp_path / "run" / "last.pt")[1]
    assert meta["train_state"]["config"]["augmentation"]["p_drive"] == 0.4


def test_model_changes_grow_an_initialising_checkpoint(tmp_path, musdb_root):
    """``--model`` on a new run sets the architecture; with ``--init-from`` it grows the
    trained model (same masks at step 0) and training continues from there."""
    from rtsep.commands.train import parse_model_changes
    from rtsep.errors import UserError
    from rtsep.model.export import check_frames, reference_masks

    assert parse_model_changes(["gru_hidden=16", "channels=4,6"], growing=False) == \
        {"gru_hidden": 16, "channels": (4, 6)}
    for bad, growing, message in ((["gru_hidden"], False, "NAME=VALUE"),
                                  (["channels=4,6"], True, "with --init-from"),
                                  (["time_kernel=2,3"], True, "positive integer"),
                                  (["gru_hidden=-4"], False, "positive integer")):
        with pytest.raises(UserError, match=message):
            parse_model_changes(bad, growing=growing)

    small = Trainer(tmp_path / "small", _config(musdb_root), cache_dir=str(tmp_path / "cache"),
                    n_threads=1, device="cpu", model_changes={"gru_hidden": 6})
    assert small.model.cfg.gru_hidden == 6 and small.cfg.model["gru_hidden"] == 6
    small.train(minutes=5, max_steps=2)
    trained, _ = load_checkpoint(tmp_path / "small" / "last.pt")
    grown = Trainer(tmp_path / "grown", _config(musdb_root), cache_dir=str(tmp_path / "cache"),
                    n_threads=1, device="cpu", init_from=str(tmp_path / "small" / "last.pt"),
                    model_changes={"gru_hidden": 12, "time_kernel": 3})
    assert (grown.model.cfg.gru_hidden, grown.model.cfg.time_kernel) == (12, 3)
    frames = check_frames(32, seed=5)
    assert np.abs(reference_masks(grown.model.eval(), frames)
                  - reference_masks(trained, frames)).max() < 1e-5
    grown.train(minutes=5, max_steps=2)
    resumed, meta = load_checkpoint(tmp_path / "grown" / "last.pt")
    assert (resumed.cfg.gru_hidden, resumed.cfg.time_kernel) == (12, 3)
    assert meta["train_state"]["config"]["model"]["gru_hidden"] == 12


def test_soup_averages_checkpoints_of_one_architecture(tmp_path, capsys):
    """The soup's every weight is the mean of its ingredients'; mixing architectures, or a
    corrupt ingredient, is a one-line error that writes nothing."""
    from rtsep.config import StftGeometry
    from rtsep.model.checkpoint import save_checkpoint
    from rtsep.model.unet import CausalUNet
    from rtsep.train.soup import main as soup_main

    cfg = UNetConfig(channels=(4, 4, 4, 4, 4), gru_hidden=8)
    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = CausalUNet(cfg)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
        paths.append(save_checkpoint(tmp_path / f"m{seed}.pt", model, geometry=StftGeometry(),
                                     extra={"training_data": "cross", "train_steps": 10 * (seed + 1)}))
    assert soup_main([str(tmp_path / "soup.pt"), *map(str, paths)]) == 0
    soup, meta = load_checkpoint(tmp_path / "soup.pt")
    ingredients = [load_checkpoint(p)[0].state_dict() for p in paths]
    for name, value in soup.state_dict().items():
        expected = sum(s[name] for s in ingredients) / 3
        assert torch.allclose(value, expected, atol=1e-6), name
    assert soup.state_dict()["gru.weight_hh_l0"].std() < ingredients[0]["gru.weight_hh_l0"].std()
    assert meta["extra"]["soup_of"] == [str(p) for p in paths] and meta["extra"]["train_steps"] == 60

    # Weighted: an interpolation between two checkpoints, every weight (1 - a) x + a y.
    assert soup_main([str(tmp_path / "mix.pt"), str(paths[0]), str(paths[1]), "--weights", "0.7", "0.3"]) == 0
    mix, meta = load_checkpoint(tmp_path / "mix.pt")
    for name, value in mix.state_dict().items():
        expected = 0.7 * ingredients[0][name] + 0.3 * ingredients[1][name]
        assert torch.allclose(value, expected, atol=1e-6), name
    assert meta["extra"]["soup_weights"] == [0.7, 0.3]
    for weights in (["1"], ["-1", "2"], ["0", "0"], ["nan", "1"]):
        capsys.readouterr()
        assert soup_main([str(tmp_path / "bad-mix.pt"), str(paths[0]), str(paths[1]), "--weights", *weights]) == 2
        assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "bad-mix.pt").exists()

    torch.manual_seed(9)
    other = save_checkpoint(tmp_path / "other.pt", CausalUNet(UNetConfig(channels=(4, 4, 4, 4, 4),
                                                                         gru_hidden=6)),
                            geometry=StftGeometry())
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    for bad, message in ((other, "architecture differs"), (tmp_path / "bad.pt", "bad.pt")):
        capsys.readouterr()
        assert soup_main([str(tmp_path / "soup2.pt"), str(paths[0]), str(bad)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert not (tmp_path / "soup2.pt").exists()


def test_licence_notes_follow_the_training_data():
    from rtsep.train.ship import ALBUM, MIR1K, SEEDS, licence_notes

    synth = licence_notes("synth")
    assert ALBUM not in synth["training_data"] and set(SEEDS) <= set(synth["training_data"])
    assert any(e.startswith(ALBUM) for e in synth["evaluation_only_never_trained_on"])
    real = licence_notes("real")
    assert real["training_data"] == [ALBUM]
    for kind in ("cross", "both", "real+synth"):
        notes = licence_notes(kind)
        assert ALBUM in notes["training_data"] and set(SEEDS) <= set(notes["training_data"]), kind
        assert not any(e.startswith(ALBUM) for e in notes["evaluation_only_never_trained_on"]), kind
    assert "musdb-root" in " ".join(licence_notes("musdb")["training_data"])
    every = licence_notes("all", teacher="Spleeter 2-stem")
    assert ALBUM in every["training_data"] and MIR1K in every["training_data"]
    assert every["teacher_not_shipped"] == "Spleeter 2-stem"
    assert MIR1K not in licence_notes("synth")["training_data"]
    assert "teacher_not_shipped" not in licence_notes("synth")


def test_bins_above_an_examples_bandwidth_and_missing_teachers_leave_the_loss_alone():
    import torch

    from rtsep.train.trainer import band_weight, separation_loss

    gen = torch.Generator().manual_seed(2)
    mix = torch.randn(2, 2, 20, 513, 2, generator=gen)
    vocals = 0.5 * mix
    bins = band_weight(torch.tensor([8000.0, 24000.0]), 513, 48000)
    assert bins[0].sum() == 1 + int(8000 / (24000 / 512)) and bins[1].all()
    mask = torch.full((2, 2, 20, 513), 0.4)
    other = mask.clone()
    other[0, :, :, 200:] = 0.9  # above 8 kHz (bin 171) in the band-limited example only
    base = separation_loss(mask, mix, vocals, 2, bin_weight=bins)
    assert torch.allclose(base, separation_loss(other, mix, vocals, 2, bin_weight=bins))
    assert not torch.allclose(separation_loss(mask, mix, vocals, 2),
                              separation_loss(other, mix, vocals, 2))
    # A teacher term counts only where a teacher exists (and below its band).
    teacher = 0.2 * mix
    no_teacher = torch.zeros(2, 513)
    assert torch.allclose(base, separation_loss(mask, mix, vocals, 2, bin_weight=bins, teacher=teacher,
                                                teacher_bins=no_teacher, teacher_weight=1.0))
    one = band_weight(torch.tensor([11025.0, 11025.0]), 513, 48000) * torch.tensor([[0.0], [1.0]])
    with_teacher = separation_loss(mask, mix, vocals, 2, bin_weight=bins, teacher=teacher,
                                   teacher_bins=one, teacher_weight=1.0)
    assert with_teacher > base
    # The teacher's own estimate as the model's output costs nothing in the teacher term.
    exact = torch.full((2, 2, 20, 513), 0.2)
    assert torch.allclose(separation_loss(exact, mix, vocals, 2, bin_weight=bins, teacher=teacher,
                                          teacher_bins=one, teacher_weight=1.0),
                          separation_loss(exact, mix, vocals, 2, bin_weight=bins), atol=1e-6)


def test_power_mask_term_pulls_towards_the_power_ratio_of_the_true_stems():
    import torch

    from rtsep.train.trainer import band_weight, power_ratio_mask, separation_loss

    gen = torch.Generator().manual_seed(3)
    vocals = torch.randn(2, 2, 12, 65, 2, generator=gen)
    accomp = 2.0 * torch.randn(2, 2, 12, 65, 2, generator=gen)
    mix = vocals + accomp
    target = power_ratio_mask(vocals, accomp)
    pv, pa = vocals.pow(2).sum(-1), accomp.pow(2).sum(-1)
    assert torch.allclose(target, pv / (pv + pa), atol=1e-6)
    # Where the voice has three times the accompaniment's amplitude the mask is 0.9, not 0.75.
    v1 = torch.tensor([3.0, 0.0]).expand(1, 1, 1, 1, 2)
    assert torch.allclose(power_ratio_mask(v1, v1 / 3.0), torch.tensor(0.9))
    bins = band_weight(torch.tensor([8000.0, 24000.0]), 65, 48000)
    base = separation_loss(target, mix, vocals, 2, bin_weight=bins)
    # At the target the term is zero; away from it the loss grows by the weighted distance.
    assert torch.allclose(separation_loss(target, mix, vocals, 2, bin_weight=bins,
                                          power_mask_weight=1.0), base, atol=1e-6)
    off = (target + 0.1).clamp(max=1.0)
    assert separation_loss(off, mix, vocals, 2, bin_weight=bins, power_mask_weight=1.0) > \
        separation_loss(off, mix, vocals, 2, bin_weight=bins) + 0.01
    # Bins above a band-limited example's bandwidth do not count in it.
    above = target.clone()
    above[0, :, :, 30:] = 1.0 - above[0, :, :, 30:]
    assert torch.allclose(separation_loss(above, mix, vocals, 2, bin_weight=bins, power_mask_weight=1.0)
                          - separation_loss(above, mix, vocals, 2, bin_weight=bins), torch.tensor(0.0),
                          atol=1e-6)
    mask = off.clone().requires_grad_(True)
    separation_loss(mask, mix, vocals, 2, bin_weight=bins, power_mask_weight=1.0).backward()
    assert torch.isfinite(mask.grad).all() and mask.grad.abs().sum() > 0


def test_compiled_training_steps_match_eager_ones_and_a_failed_compile_trains_on(
        tmp_path, musdb_root, capsys, monkeypatch):
    """``compile_model``: the compiled step's loss and gradients are the eager step's (it
    shares the model's parameters); when ``torch.compile`` fails, training says so in one
    line and goes on eagerly."""
    cfg = _config(musdb_root)
    eager = Trainer(tmp_path / "e", cfg, cache_dir=str(tmp_path / "cache"), n_threads=1, device="cpu")
    comp = Trainer(tmp_path / "c", _config(musdb_root), cache_dir=str(tmp_path / "cache"), n_threads=1,
                   device="cpu", compile_model=True)
    comp.model.load_state_dict(eager.model.state_dict())
    batch = eager._batch("train", 44100, 2, np.random.default_rng(0))
    grads = []
    for t in (eager, comp):
        t.model.zero_grad()
        loss = t._train_loss(batch)
        loss.backward()
        grads.append((float(loss), [p.grad.clone() for p in t.model.parameters()]))
    assert comp._compiled is not None and comp.compile_model
    assert abs(grads[0][0] - grads[1][0]) < 1e-5 * max(1.0, abs(grads[0][0]))
    for ge, gc in zip(grads[0][1], grads[1][1]):
        assert torch.allclose(ge, gc, atol=1e-5, rtol=1e-3)

    def broken(fn, *args, **kwargs):
        def run(*a, **k):
            raise RuntimeError("no C++ compiler here\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    t = Trainer(tmp_path / "b", _config(musdb_root), cache_dir=str(tmp_path / "cache"), n_threads=1,
                device="cpu", compile_model=True)
    capsys.readouterr()
    t.train(minutes=5, max_steps=2)
    err = capsys.readouterr().err
    assert t.step == 2 and not t.compile_model
    assert "train: torch.compile failed (no C++ compiler here); training without it\n" in err
