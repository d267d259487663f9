"""Synthetic songs: determinism, exact stems, mixing, cache, held-out set.

Songs are kept short (6-8 s) so the file runs in well under 30 s. Without
../shared/data the generator still runs (singer + FluidSynth only).
"""

from __future__ import annotations

import numpy as np
import pytest

from rtsep.commands import make_data
from rtsep.train.data import build_source, heldout_synthetic
from rtsep.train.data.audio import activity_db
from rtsep.train.data.paths import resolve_data_root
from rtsep.train.data.synth.cache import SynthSongs, read_meta, song_path
from rtsep.train.data.synth.compose import STYLES, compose
from rtsep.train.data.synth.fluid import FluidSession
from rtsep.train.data.synth.mixing import apply_bus, limiter_gain
from rtsep.train.data.synth.pools import Pools, song_seed_sequence
from rtsep.train.data.synth.singer import VOICE_PRESETS, sing
from rtsep.train.data.synth.song import TAIL_S, render_song


@pytest.fixture(scope="module")
def song():
    return render_song("train", seed=7, index=3, sample_rate_hz=44100, seconds=8.0)


def test_song_is_deterministic_and_well_formed(song):
    again = render_song("train", seed=7, index=3, sample_rate_hz=44100, seconds=8.0)
    assert np.array_equal(song.vocals, again.vocals)
    assert np.array_equal(song.accompaniment, again.accompaniment)
    assert song.meta == again.meta
    for stem in (song.vocals, song.accompaniment):
        assert stem.dtype == np.float32 and stem.shape[0] == 2 and stem.flags.c_contiguous
        assert np.isfinite(stem).all()
    mix = song.mix
    assert np.array_equal(mix, song.vocals + song.accompaniment)
    assert np.abs(mix).max() <= 0.98 + 1e-6
    bar_s = song.meta["bar_s"]
    n_bars = sum(s[1] for s in song.meta["sections"])
    assert abs(song.seconds - (n_bars * bar_s + TAIL_S)) < 1e-3
    other = render_song("train", seed=7, index=4, sample_rate_hz=44100, seconds=8.0)
    assert other.vocals.shape != song.vocals.shape or not np.array_equal(other.vocals, song.vocals)


def test_sections_without_vocals_are_quiet():
    for index in range(6):
        s = render_song("train", seed=1, index=index, sample_rate_hz=44100, seconds=14.0)
        if s.meta["vocals"]["technique"] == "none":
            continue
        act = activity_db(s.vocals, 44100)
        loud = np.percentile(act, 95)
        hops_per_bar = s.meta["bar_s"] * 10
        bar = 0
        checked = False
        for name, n_bars, sung in s.meta["sections"]:
            lo, hi = int(bar * hops_per_bar) + 10, int((bar + n_bars) * hops_per_bar)
            if not sung and hi - lo > 5:
                # Only reverb and echo tails of the singing ring on into instrumental bars.
                assert np.median(act[lo:hi]) < loud - 30, (index, name)
                checked = True
            bar += n_bars
        if checked:
            break
    else:
        pytest.fail("no song with an instrumental section")


def test_instrumental_song_and_48k():
    s = render_song("valid", seed=2, index=0, sample_rate_hz=48000, seconds=6.0, instrumental=True)
    assert s.sample_rate_hz == 48000 and not s.vocals.any()
    assert np.abs(s.accompaniment).max() > 0.1
    assert abs(s.seconds - (sum(x[1] for x in s.meta["sections"]) * s.meta["bar_s"] + TAIL_S)) < 1e-3


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        render_song("test")
    with pytest.raises(ValueError, match="sample_rate_hz"):
        render_song("train", sample_rate_hz=22050)
    with pytest.raises(ValueError, match="style"):
        compose(np.random.default_rng(0), 10.0, (55, 70), style="polka")


def test_compositions_cover_styles_and_fit_the_key():
    seen = set()
    for i in range(30):
        c = compose(np.random.default_rng(i), 25.0, (55, 70))
        seen.add(c.style)
        for ph in c.melody:
            for n in ph.notes:
                assert 55 <= n.pitch <= 70 and c.key.in_scale(int(n.pitch))
                assert 0 <= n.start_s < n.end_s <= c.duration_s + 2.0
        assert any(not s.vocals for s in c.sections) or not c.melody
    assert seen == set(STYLES)


def test_singer_renders_pitch():
    from rtsep.train.data.synth.compose import VocalNote

    note = VocalNote(0.2, 1.2, 57.0, 0.8, "", "a")  # A3 = 220 Hz
    voice = VOICE_PRESETS["tenor-pop"]
    y = sing([note], voice, 44100, 44100 * 2, np.random.default_rng(0))
    assert y.dtype == np.float32 and np.abs(y).max() == pytest.approx(0.9, abs=1e-6)
    assert not y[: int(0.05 * 44100)].any() and not y[int(1.6 * 44100):].any()
    seg = y[int(0.5 * 44100):int(0.9 * 44100)].astype(np.float64)
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    freqs = np.fft.rfftfreq(seg.size, 1 / 44100)
    harmonic = [spec[np.abs(freqs - k * 220) < 15].max() for k in (1, 2, 3)]
    between = spec[np.abs(freqs - 330) < 15].max()  # 1.5 x f0: no harmonic there
    assert max(harmonic) > 30 * between


def test_fluidsynth_render_is_deterministic():
    c = compose(np.random.default_rng(5), 6.0, (55, 70))
    n = int(c.duration_s * 44100)
    with FluidSession(44100) as s:
        first = [s.render(p.instrument, n, p.pan) for p in c.parts]
    with FluidSession(44100) as s:
        second = [s.render(p.instrument, n, p.pan) for p in c.parts]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert max(np.abs(a).max() for a in first) > 0.01


def test_bus_gain_keeps_the_sum_exact_and_limits():
    rng = np.random.default_rng(0)
    v = (0.5 * rng.standard_normal((2, 44100))).astype(np.float32)
    a = (0.5 * rng.standard_normal((2, 44100))).astype(np.float32)
    a[:, 20000] = 8.0
    v2, a2, info = apply_bus(v, a, 44100, rng, drive_db=6.0, ceiling=0.9)
    assert np.abs(v2 + a2).max() <= 0.9 + 1e-6
    # One shared gain: the ratio of processed to raw is the same in both stems.
    g_v = v2[0, ::97] / v[0, ::97]
    g_a = a2[0, ::97] / a[0, ::97]
    assert np.allclose(g_v, g_a, rtol=1e-5)
    g = limiter_gain(v + a, 44100, ceiling=0.5)
    assert np.all(np.abs((v + a) * g) <= 0.5 + 1e-9) and g.max() <= 1.0


_SEEDS = resolve_data_root(None) / "seeds"
needs_seeds = pytest.mark.skipif(not _SEEDS.is_dir(),
                                 reason=f"seed audio not found at {_SEEDS} (set RTSEP_DATA)")


@pytest.mark.realdata
@needs_seeds
def test_heldout_pools_are_disjoint():
    train, valid = Pools("train"), Pools("valid")
    def files(p):
        return set(p.singing + p.speech + p.ljspeech + p.instrument_notes + p.instrument_phrases
                   + p.instrument_perc + [f for v in p.sonic.values() for f in v])
    assert files(train) and files(valid) and not files(train) & files(valid)
    assert "carnatic" in {f.stem for f in valid.singing}
    assert not set(train.voice_presets()) & set(valid.voice_presets())
    a = song_seed_sequence("train", 0, 5).generate_state(4)
    b = song_seed_sequence("valid", 0, 5).generate_state(4)
    assert not np.array_equal(a, b)


def test_heldout_synthetic_items():
    items = list(heldout_synthetic(2, 44100, 6.0, seed=0))
    assert len(items) == 2 and items[0][0] != items[1][0]
    for name, mix, vocals, accompaniment in items:
        assert name.startswith("synth-heldout-")
        assert mix.shape == vocals.shape == accompaniment.shape == (2, 6 * 44100)
        assert mix.dtype == np.float32 and np.array_equal(mix, vocals + accompaniment)
        assert np.abs(mix).max() <= 1.0


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    args = ["--n-train", "2", "--n-valid", "1", "--cache-dir", str(root), "--seed", "3",
            "--no-progress"]
    assert make_data.main(args) == 0
    return root


def test_make_data_writes_and_resumes(cache_dir, capsys):
    paths = [song_path(cache_dir, "train", i) for i in (0, 1)] + [song_path(cache_dir, "valid", 0)]
    assert all(p.is_file() for p in paths)
    meta = read_meta(paths[0])
    assert meta["seed"] == 3 and meta["split"] == "train" and meta["sample_rate_hz"] == 44100
    stamp = paths[0].stat().st_mtime_ns
    assert make_data.main(["--n-train", "2", "--n-valid", "0", "--cache-dir", str(cache_dir),
                           "--seed", "3", "--no-progress"]) == 0
    assert paths[0].stat().st_mtime_ns == stamp
    assert "0 rendered, 2 up to date" in capsys.readouterr().out
    assert make_data.main(["--n-train", "-1", "--cache-dir", str(cache_dir)]) == 2


def test_cache_holds_half_precision_and_shrinks_old_float32_songs(cache_dir, tmp_path, capsys):
    import json

    from rtsep.train.data.audio import to_cache_dtype
    from rtsep.train.data.synth.cache import NpzSong, shrink_song

    path = song_path(cache_dir, "train", 0)
    song = NpzSong(path)
    assert song.vocals.dtype == song.accompaniment.dtype == np.float16
    v, a = song.read(1000, 4410)
    assert v.dtype == a.dtype == np.float32 and np.abs(a).max() > 0
    # A song written as float32 (before the cache went half) reads the same and is
    # rewritten in half precision, its metadata and activity kept, within 2^-11 of itself.
    old = tmp_path / "0000.npz"
    v32, a32 = (np.asarray(x, dtype=np.float32) * np.float32(1.0001) for x in (song.vocals, song.accompaniment))
    np.savez(old, vocals=v32, accompaniment=a32, activity=song.activity_db,
             sample_rate_hz=np.int64(song.sample_rate_hz), meta=np.array(json.dumps(song.meta)))
    assert NpzSong(old).vocals.dtype == np.float32
    assert shrink_song(old) and not shrink_song(old)
    new = NpzSong(old)
    assert new.vocals.dtype == np.float16 and new.meta == song.meta
    np.testing.assert_allclose(np.asarray(new.vocals, dtype=np.float32), v32, rtol=2 ** -11, atol=1e-7)
    np.testing.assert_allclose(new.activity_db, song.activity_db, atol=0.01)
    # make-data finds a float32 song of the cache up to date and rewrites it in half precision.
    import os

    as32 = tmp_path / "as32.npz"
    np.savez(as32, vocals=np.asarray(song.vocals, dtype=np.float32),
             accompaniment=np.asarray(song.accompaniment, dtype=np.float32), activity=song.activity_db,
             sample_rate_hz=np.int64(song.sample_rate_hz), meta=np.array(json.dumps(song.meta)))
    os.replace(as32, path)
    assert make_data.main(["--n-train", "1", "--n-valid", "0", "--cache-dir", str(cache_dir),
                           "--seed", "3", "--no-progress"]) == 0
    assert "1 up to date (1 rewritten in half precision)" in capsys.readouterr().out
    again = NpzSong(path)
    assert again.vocals.dtype == np.float16 and np.array_equal(again.vocals, song.vocals)
    # What half precision cannot hold is refused, not cached as Inf.
    for bad, msg in ((np.array([[1.0, np.nan]]), "NaN"), (np.array([[7e4, 0.0]]), "beyond half")):
        with pytest.raises(ValueError, match=msg):
            to_cache_dtype(bad, "x")


@pytest.mark.parametrize("rate", [44100, 48000])
def test_synth_source_segments(cache_dir, rate):
    songs = SynthSongs(cache_dir, "train")
    assert len(songs) == 2
    src = build_source(kind="synth", split="train", sample_rate_hz=rate, segment_samples=rate,
                       seed=0, cache_dir=cache_dir)
    rng = np.random.default_rng(1)
    n_silent = n_sung = 0
    for _ in range(80):
        mix, vocals, accompaniment = src.sample_stems(rng)
        assert mix.shape == vocals.shape == (2, rate) and mix.dtype == np.float32
        assert np.array_equal(mix, vocals + accompaniment)
        assert np.isfinite(mix).all() and np.abs(mix).max() <= 1.0
        v_rms = np.sqrt(np.mean(vocals.astype(np.float64) ** 2))
        m_rms = np.sqrt(np.mean(mix.astype(np.float64) ** 2))
        n_silent += v_rms < 1e-3 * m_rms
        n_sung += v_rms > 0.05 * m_rms
    assert n_sung >= 50 and n_silent >= 1  # p_no_vocals 0.1: about 8 silent expected
    a = build_source(kind="synth", split="train", sample_rate_hz=rate, segment_samples=rate,
                     cache_dir=cache_dir, seed=4)
    m1, v1 = a.sample()
    b = build_source(kind="synth", split="train", sample_rate_hz=rate, segment_samples=rate,
                     cache_dir=cache_dir, seed=4)
    m2, v2 = b.sample()
    assert np.array_equal(m1, m2) and np.array_equal(v1, v2)
    valid = build_source(kind="synth", split="valid", sample_rate_hz=rate, segment_samples=rate,
                         cache_dir=cache_dir)
    mix, vocals = valid.sample(np.random.default_rng(0))
    assert mix.shape == (2, rate)


def test_missing_cache_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="make-data"):
        build_source(kind="synth", cache_dir=tmp_path)
