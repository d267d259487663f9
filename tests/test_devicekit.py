"""The GPU-machine kit: parts under the size limit, a check that names what did not
arrive, the data laid out as the trainer reads it, and a short training run from it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from rtsep.train import devicekit as K
from rtsep.train.data.synth.cache import SynthSongs, write_song


def _write(path, audio, rate):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, rate, format="OGG", subtype="VORBIS")


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A data root with two CC0-style songs and two MIR-1K-style clips, and a cache with
    three synthetic songs: tones and noise for accompaniment, a sung-like tone for vocals."""
    root = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)

    def stems(rate, seconds, channels):
        t = np.arange(int(rate * seconds)) / rate
        voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
        vocals = np.tile(voice, (channels, 1)).astype(np.float32)
        chords = 0.1 * np.sin(2 * np.pi * 110 * t) + 0.05 * np.sin(2 * np.pi * 330 * t)
        noise = 0.1 * rng.standard_normal((channels, t.size))  # hard to code: fills the parts
        return vocals, (chords + noise).astype(np.float32)

    data = root / "data"
    for song in ("1-Hydrogen", "7-Francium"):
        v, a = stems(48000, 8.0, 2)
        _write(data / "real-train/everythingisremixed" / song / "vocals.ogg", v, 48000)
        _write(data / "real-train/everythingisremixed" / song / "accompaniment.ogg", a, 48000)
    for clip in ("amy_1_01", "leon_2_03"):
        v, a = stems(16000, 6.0, 1)
        _write(data / "real-train/mir1k" / clip / "vocals.ogg", v, 16000)
        _write(data / "real-train/mir1k" / clip / "accompaniment.ogg", a, 16000)
    cache = root / "cache"
    for split, index in (("train", 0), ("train", 1), ("valid", 0)):
        v, a = stems(44100, 8.0, 2)
        write_song(cache / "synth" / split / f"{index:04d}.npz", v, a, 44100,
                   {"style": "test", "index": index})
    return data, cache


@pytest.fixture
def kit(sources, tmp_path):
    data, cache = sources
    info = K.pack(tmp_path / "kit", data, cache, part_mib=0.3, synth_train=2, synth_valid=1,
                  wheels=False)
    return tmp_path / "kit", info


def test_parts_stay_under_the_limit_and_hold_every_file_once(kit, sources):
    kit_dir, info = kit
    data, _ = sources
    assert info["n_parts"] >= 3 and info["n_parts"] == len(list(kit_dir.glob("p*")))
    seen = []
    for i in range(1, info["n_parts"] + 1):
        listing = json.loads((kit_dir / f"p{i}" / "part.json").read_text())
        assert listing["part"] == i and listing["kit"] == info["kit"]
        assert sum(f["bytes"] for f in listing["files"].values()) <= 0.3 * 2**20
        seen += list(listing["files"])
    real = sorted(f"data/{p.relative_to(data).as_posix()}" for p in data.rglob("*.ogg"))
    assert sorted(f for f in seen if f.startswith("data/")) == real
    assert sorted(f for f in seen if f.startswith("synth/")) == sorted(
        [f"synth/train/{i:04d}/{s}" for i in (0, 1) for s in ("vocals.ogg", "accompaniment.ogg", "meta.json")]
        + [f"synth/valid/0000/{s}" for s in ("vocals.ogg", "accompaniment.ogg", "meta.json")])
    assert len(seen) == len(set(seen))
    assert not (kit_dir / "stage").exists()


def test_a_missing_or_damaged_part_is_named(kit):
    kit_dir, info = kit
    assert len(K.check_kit(kit_dir)) == info["n_parts"]
    shutil.rmtree(kit_dir / "p2")
    with pytest.raises(K.KitError, match=r"1 of \d+ parts missing, 0 damaged; carry .*/p2 again"):
        K.check_kit(kit_dir)
    listing = json.loads((kit_dir / "p1" / "part.json").read_text())
    victim = kit_dir / "p1" / next(iter(listing["files"]))
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(K.KitError, match=r"1 damaged; carry .*/p1 .*/p2 again"):
        K.check_kit(kit_dir)
    with pytest.raises(K.KitError, match="no kit parts"):
        K.check_kit(kit_dir / "nowhere")


def test_the_layout_is_what_the_loaders_read(kit, sources, tmp_path):
    from rtsep.train.data import RealSongs
    from rtsep.train.data.clips import mir1k

    kit_dir, _ = kit
    _, cache = sources
    data_root, cache_dir = K.assemble(K.check_kit(kit_dir), tmp_path / "work")
    assert len(RealSongs(data_root, "train", cache_dir)) == 1
    assert len(mir1k(data_root, "train", cache_dir).stem_songs) == 2
    for split in ("train", "valid"):
        got, want = SynthSongs(cache_dir, split).stem_songs, SynthSongs(cache, split).stem_songs
        assert [s.name for s in got] == [s.name for s in want]
        for g, w in zip(got, want):
            assert g.meta == w.meta and g.sample_rate_hz == w.sample_rate_hz
            for stem in ("vocals", "accompaniment"):
                a, b = np.asarray(getattr(g, stem)), np.asarray(getattr(w, stem))
                assert a.shape == b.shape
                assert np.corrcoef(a[0], b[0])[0, 1] > 0.9  # Vorbis-coded, not another signal
                assert abs(np.std(a) / np.std(b) - 1.0) < 0.05


@pytest.mark.torch
def test_run_trains_from_the_kit_and_refuses_the_options_it_sets(kit, tmp_path, capsys):
    pytest.importorskip("torch")
    kit_dir, _ = kit
    out = tmp_path / "out"
    assert K.main(["run", "--kit", str(kit_dir), "--out", str(out), "--", "--data-root", "x"]) == 2
    assert "--data-root is set by the kit" in capsys.readouterr().err
    rc = K.main(["run", "--kit", str(kit_dir), "--out", str(out), "--", "--data", "all",
                 "--device", "cpu", "--steps", "2", "--batch-size", "2", "--segment-frames", "48",
                 "--valid-every", "2", "--threads", "1", "--minutes", "2"])
    assert rc == 0
    assert (out / "run" / "last.pt").is_file() and (out / "run" / "best.pt").is_file()
    import csv

    rows = list(csv.DictReader((out / "run" / "log.csv").open()))
    assert rows and int(rows[-1]["step"]) == 2
    assert float(rows[-1]["train_loss"]) > 0 and np.isfinite(float(rows[-1]["valid_sdr_db"]))


def test_teacher_targets_travel_with_their_songs(sources, tmp_path, monkeypatch):
    """--teacher: every training song's cached teacher vocals go into the kit and come out
    of it as the trainer's teacher cache, same shapes, close to the originals, so the
    trainer there never needs Spleeter; a song without a target stops the pack."""
    from rtsep.train import teacher as T
    from rtsep.train.data import training_songs

    data, cache = sources
    with pytest.raises(K.KitError, match="rtsep make-data --teacher"):
        K.pack(tmp_path / "none", data, cache, part_mib=0.3, synth_train=2, synth_valid=1,
               wheels=False, teacher=True)
    rng = np.random.default_rng(1)
    want = {}
    for set_name in ("cc0", "mir1k", "synth"):
        for song in training_songs(set_name, data, cache):
            v = np.asarray(song.vocals, dtype=np.float32)
            # cc0: channels differ and the peak is above the coding headroom (scaled back);
            # mir1k: equal channels (coded mono).
            target = 0.8 * v + (0.0 if set_name == "mir1k" else 0.01 * rng.standard_normal(v.shape))
            if set_name == "cc0":
                target = target * (1.5 / np.abs(target).max())
            target = target.astype(np.float32)
            path = T.teacher_path(cache, set_name, song.name.replace("/", "_"))
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, target)
            want[(set_name, song.name)] = target
    info = K.pack(tmp_path / "kit", data, cache, part_mib=0.3, synth_train=2, synth_valid=1,
                  wheels=False, teacher=True)
    assert info["teacher"] is True
    data_root, cache_dir = K.assemble(K.check_kit(tmp_path / "kit"), tmp_path / "work")

    def no_spleeter():
        raise AssertionError("the kit's teacher cache was incomplete: Spleeter was asked for")

    monkeypatch.setattr(T, "shared_spleeter", no_spleeter)
    n = 0
    for set_name in ("cc0", "mir1k", "synth"):
        for song in training_songs(set_name, data_root, cache_dir, teacher=True):
            ref, got = want[(set_name, song.name)], np.asarray(song.teacher)
            assert got.shape == ref.shape and got.dtype == np.float32
            for ch in range(ref.shape[0]):
                assert np.corrcoef(got[ch], ref[ch])[0, 1] > 0.9
            assert abs(np.std(got) / np.std(ref) - 1.0) < 0.05
            n += 1
    assert n == len(want) == 1 + 2 + 2


def test_long_audio_is_coded_in_chunks(tmp_path):
    """libsndfile 1.2.2 crashes when its Vorbis encoder gets millions of frames in one write
    (a CC0 song's teacher target is 15 M); the kit writes in chunks."""
    n = 4_000_000
    t = np.arange(n, dtype=np.float32) / 44100
    audio = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)])
    K._write_vorbis(tmp_path / "long.ogg", audio, 44100, 0.4)
    back, rate = sf.read(tmp_path / "long.ogg", dtype="float32", always_2d=True)
    assert rate == 44100 and back.shape == (n, 2)
    assert np.corrcoef(back[100000:200000, 1], audio[1, 100000:200000])[0, 1] > 0.99
