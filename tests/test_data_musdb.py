"""MUSDB18(-HQ) loader on a tiny tree written by the test."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from rtsep.train.data import build_source
from rtsep.train.data.musdb import MP4_STREAMS, MusdbSongs, MusdbStemTrack

SR = 44100
STEMS = ("vocals", "drums", "bass", "other")


def _write_track(folder, seconds, seed, mono_bass=False):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    stems = {}
    for k, stem in enumerate(STEMS):
        tone = 0.2 * np.sin(2 * np.pi * (220 * (k + 1)) * t)
        x = np.stack([tone, 0.5 * tone]) + 0.01 * rng.standard_normal((2, n))
        if stem == "vocals":
            x[:, : n // 4] = 0.0  # an instrumental intro
        stems[stem] = x.astype(np.float32)
    folder.mkdir(parents=True)
    for stem, x in stems.items():
        data = x[0] if (mono_bass and stem == "bass") else x.T
        sf.write(folder / f"{stem}.wav", data, SR, subtype="FLOAT")
    sf.write(folder / "mixture.wav", sum(stems.values()).T, SR, subtype="FLOAT")
    if mono_bass:
        stems["bass"] = np.stack([stems["bass"][0], stems["bass"][0]])
    return stems


@pytest.fixture(scope="module")
def musdb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb")
    tracks = {"A - One": _write_track(root / "train" / "A - One", 3.0, 0),
              "B - Two": _write_track(root / "train" / "B - Two", 2.5, 1, mono_bass=True),
              "C - Three": _write_track(root / "test" / "C - Three", 2.0, 2)}
    return root, tracks


def test_tracks_read_as_vocals_and_accompaniment(musdb_root):
    root, tracks = musdb_root
    train = MusdbSongs(root, "train")
    assert [s.name for s in train.stem_songs] == ["A - One", "B - Two"]
    for song in train.stem_songs:
        ref = tracks[song.name]
        assert song.sample_rate_hz == SR and song.n_samples == ref["vocals"].shape[1]
        v, a = song.read(1000, 5000)
        assert v.shape == a.shape == (2, 5000) and v.dtype == np.float32
        assert np.array_equal(v, ref["vocals"][:, 1000:6000])
        expected = ref["drums"][:, 1000:6000] + ref["bass"][:, 1000:6000] + ref["other"][:, 1000:6000]
        assert np.allclose(a, expected, atol=1e-6)
        v_end, _ = song.read(song.n_samples - 100, 300)  # zero past the end
        assert np.all(v_end[:, 100:] == 0)
    name, vocals, accompaniment = MusdbSongs(root, "test").songs[0]
    assert name == "C - Three" and vocals.shape == accompaniment.shape == tracks[name]["vocals"].shape


@pytest.mark.parametrize("rate", [44100, 48000])
def test_musdb_source(musdb_root, rate):
    root, _ = musdb_root
    src = build_source(kind="musdb", split="train", sample_rate_hz=rate, segment_samples=rate // 2,
                       seed=0, musdb_root=root)
    rng = np.random.default_rng(0)
    n_silent = 0
    for _ in range(30):
        mix, vocals, accompaniment = src.sample_stems(rng)
        assert mix.shape == vocals.shape == (2, rate // 2) and mix.dtype == np.float32
        assert np.array_equal(mix, vocals + accompaniment)
        assert np.isfinite(mix).all() and np.abs(mix).max() <= 1.0
        n_silent += np.abs(vocals).max() == 0.0
    assert 0 < n_silent < 15
    first, second = (src.sample(np.random.default_rng(4)) for _ in range(2))
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    valid = build_source(kind="musdb", split="valid", sample_rate_hz=rate, segment_samples=rate // 2,
                         musdb_root=root)
    assert [s.name for s in valid.source.songs] == ["C - Three"]


def test_missing_or_empty_trees_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="subset folder not found"):
        MusdbSongs(tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="no MUSDB tracks"):
        MusdbSongs(tmp_path, "train")
    with pytest.raises(ValueError, match="subset"):
        MusdbSongs(tmp_path, "validation")
    with pytest.raises(ValueError, match="musdb_root"):
        build_source(kind="musdb", musdb_root=None)
    incomplete = tmp_path / "train" / "X"
    incomplete.mkdir()
    sf.write(incomplete / "vocals.wav", np.zeros((100, 2), np.float32), SR)
    with pytest.raises(FileNotFoundError, match="lacks"):
        MusdbSongs(tmp_path, "train")


@pytest.mark.skipif(shutil.which("ffmpeg") is not None, reason="ffmpeg present: .stem.mp4 decodes")
def test_stem_mp4_without_ffmpeg_is_a_clear_error(tmp_path):
    path = tmp_path / "train" / "Song.stem.mp4"
    path.parent.mkdir()
    path.write_bytes(b"not really an mp4")
    with pytest.raises(RuntimeError, match="ffmpeg"):
        MusdbStemTrack(path)
    with pytest.raises(RuntimeError, match="ffmpeg"):
        MusdbSongs(tmp_path, "train")


@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                    reason="needs ffmpeg and ffprobe")
def test_stem_mp4_track_decodes_its_streams(tmp_path):
    pytest.importorskip("stempeg")
    stems = _write_track(tmp_path / "src", 2.0, 3)
    out = tmp_path / "train" / "D - Four.stem.mp4"
    out.parent.mkdir()
    order = sorted(MP4_STREAMS, key=MP4_STREAMS.get)  # mixture, drums, bass, other, vocals
    cmd = ["ffmpeg", "-v", "error", "-y"]
    for stem in order:
        cmd += ["-i", str(tmp_path / "src" / f"{stem}.wav")]
    for k in range(len(order)):
        cmd += ["-map", f"{k}:a"]
    subprocess.run(cmd + ["-c:a", "alac", "-sample_fmt", "s32p", str(out)], check=True)
    [song] = MusdbSongs(tmp_path, "train").stem_songs
    assert isinstance(song, MusdbStemTrack)
    assert song.name == "D - Four" and song.sample_rate_hz == SR and song.n_samples == 2 * SR
    v, a = song.read(1000, 5000)
    assert np.allclose(v, stems["vocals"][:, 1000:6000], atol=1e-4)
    expected = stems["drums"] + stems["bass"] + stems["other"]
    assert np.allclose(a, expected[:, 1000:6000], atol=1e-4)
    v_end, _ = song.read(song.n_samples - 100, 300)  # zero past the end
    assert not np.any(v_end[:, 100:])
