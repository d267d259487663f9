"""Segment sampling from stem songs, and the real CC0 stems (``realdata``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rtsep.train.data import RealSongs, build_source
from rtsep.train.data.paths import resolve_data_root
from rtsep.train.data.real import HELDOUT_SONGS, REAL_SUBDIR
from rtsep.train.data.sampler import (Augmentation, CrossSource, SegmentSource, normalise,
                                      random_drive)
from rtsep.train.data.songs import ArraySong, read_segment

SR = 48000
PLAIN = Augmentation(p_no_vocals=0.0, p_remix=0.0, vocals_gain_db=(0.0, 0.0),
                     accompaniment_gain_db=(0.0, 0.0), p_channel_swap=0.0, p_speed=0.0, p_eq=0.0)


def _ramp_song(name="ramp", seconds=6.0, sung_fraction=1.0, seed=0) -> ArraySong:
    """Vocals: a ramp (so a contiguous segment has a constant slope) where sung, else 0."""
    n = int(seconds * SR)
    rng = np.random.default_rng(seed)
    ramp = (np.arange(n, dtype=np.float64) / n * 0.5 + 0.1).astype(np.float32)
    vocals = np.stack([ramp, -ramp])
    vocals[:, int(sung_fraction * n):] = 0.0
    accompaniment = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
    return ArraySong(name, vocals, accompaniment, SR)


def test_cross_source_puts_one_sources_vocals_over_the_others_accompaniment():
    """Vocals from source A (ramps: +/- slope), accompaniment from source B (loud
    noise, quiet in A): every segment is sung, exact, and takes each stem from its side."""
    a = SegmentSource([_ramp_song("a1", seed=1), _ramp_song("a2", seed=2)], SR, 4800, PLAIN, "a")
    quiet = ArraySong("b1", np.zeros((2, 6 * SR), np.float32),
                      np.full((2, 6 * SR), 0.05, np.float32), SR)
    b = SegmentSource([quiet], SR, 4800, PLAIN, "b")
    cross = CrossSource(a, b, "a-over-b")
    rng = np.random.default_rng(0)
    for _ in range(20):
        mix, vocals, accompaniment = cross.sample_stems(rng)
        assert mix.dtype == np.float32 and mix.shape == (2, 4800)
        np.testing.assert_array_equal(mix, vocals + accompaniment)
        assert np.abs(mix).max() <= 1.0
        # Vocals are A's ramps (left rises, right is its negative)...
        assert np.all(np.diff(vocals[0]) > 0) and np.allclose(vocals[1], -vocals[0])
        # ...and the accompaniment is B's constant, not A's noise.
        assert np.ptp(accompaniment) < 1e-6 < accompaniment.max()
    with pytest.raises(ValueError, match="differ"):
        CrossSource(a, SegmentSource([quiet], SR, 2400, PLAIN, "short"))


def test_normalise_keeps_exact_sum_and_peak():
    rng = np.random.default_rng(1)
    v = (3.0 * rng.standard_normal((2, 1000))).astype(np.float32)
    a = (3.0 * rng.standard_normal((2, 1000))).astype(np.float32)
    mix, v2, a2 = normalise(v, a, 0.9 / np.max(np.abs(v + a)))
    assert mix.dtype == np.float32 and mix.flags.c_contiguous
    assert np.array_equal(mix, v2 + a2)
    assert max(np.abs(mix).max(), np.abs(v2).max(), np.abs(a2).max()) <= 1.0


def test_segments_are_contiguous_and_exact():
    src = SegmentSource([_ramp_song()], SR, 4800, PLAIN)
    rng = np.random.default_rng(0)
    for _ in range(20):
        mix, vocals, accompaniment = src.sample_stems(rng)
        assert mix.shape == vocals.shape == (2, 4800) and mix.dtype == np.float32
        assert np.array_equal(mix, vocals + accompaniment)
        assert np.abs(mix).max() <= 1.0
        slope = np.diff(vocals[0].astype(np.float64))
        assert slope.min() > 0  # never zero-padded, never stitched
        assert np.allclose(slope, slope.mean(), rtol=0.1)  # float32 rounding only


def test_speed_change_treats_both_stems_alike():
    song = _ramp_song(seconds=4.0)
    song.accompaniment = song.vocals.copy()
    for rate in (44100, 48000):
        for speed in (0.95, 1.0, 1.05):
            v, a = read_segment(song, 12345, 3000, rate, speed)
            assert v.shape == a.shape == (2, 3000)
            assert np.array_equal(v, a)
            assert np.isfinite(v).all()


def test_resampled_segment_matches_rate():
    # A 1 kHz tone read at 44.1 kHz (from 48 kHz) is still a 1 kHz tone.
    n = SR * 2
    tone = np.sin(2 * np.pi * 1000 * np.arange(n) / SR).astype(np.float32)
    song = ArraySong("tone", np.stack([tone, tone]), np.zeros((2, n), np.float32), SR)
    v, _ = read_segment(song, 1000, 44100, 44100, 1.0)
    spectrum = np.abs(np.fft.rfft(v[0]))
    assert abs(np.argmax(spectrum) - 1000) <= 1


def test_instrumental_segments_and_vocal_segments():
    song = _ramp_song(seconds=8.0, sung_fraction=0.5)
    aug = PLAIN.with_(p_no_vocals=0.3, min_active_fraction=1.0)
    src = SegmentSource([song, _ramp_song("other", 8.0, 0.5, seed=1)], SR, 9600, aug)
    rng = np.random.default_rng(3)
    silent = sung = 0
    for _ in range(60):
        mix, vocals, accompaniment = src.sample_stems(rng)
        if np.abs(vocals).max() == 0.0:
            silent += 1
        elif np.all(np.abs(vocals[0]) > 0):
            sung += 1
    assert 8 <= silent <= 32
    assert sung + silent == 60  # vocal segments are picked where the song sings


def test_sampling_is_deterministic_by_seed():
    aug = Augmentation()  # every augmentation on
    src = SegmentSource([_ramp_song(), _ramp_song("b", seed=2)], 44100, 4000, aug)
    a = [src.sample(np.random.default_rng(11)) for _ in range(3)]
    b = [src.sample(np.random.default_rng(11)) for _ in range(3)]
    for (m1, v1), (m2, v2) in zip(a, b):
        assert np.array_equal(m1, m2) and np.array_equal(v1, v2)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="p_remix"):
        Augmentation(p_remix=1.5)
    with pytest.raises(ValueError, match="shorter than one segment"):
        SegmentSource([_ramp_song(seconds=1.0)], SR, SR * 2)
    with pytest.raises(ValueError, match="kind"):
        build_source(kind="nope")
    with pytest.raises(ValueError, match="split"):
        build_source(kind="real", split="test")
    with pytest.raises(ValueError, match="sample_rate_hz"):
        build_source(kind="real", sample_rate_hz=22050)
    with pytest.raises(ValueError, match="split"):
        RealSongs(split="nope")


# ---------------------------------------------------------------------------------------
# The real stems (../shared/data/real-train)

_REAL = resolve_data_root(None) / REAL_SUBDIR
needs_real = pytest.mark.skipif(not _REAL.is_dir(),
                                reason=f"real stems not found at {_REAL} (set RTSEP_DATA)")


@pytest.mark.realdata
@needs_real
def test_heldout_song_decodes_into_cache(tmp_path):
    held = RealSongs(split="heldout", cache_dir=tmp_path)
    assert [name for name, _, _ in held.songs] == list(HELDOUT_SONGS)
    name, vocals, accompaniment = held.songs[0]
    assert vocals.dtype == np.float32 and vocals.shape == accompaniment.shape
    assert vocals.shape[0] == 2 and vocals.shape[1] > 200 * 48000
    assert (tmp_path / "real" / name / "vocals.npy").is_file()
    again = RealSongs(split="valid", cache_dir=tmp_path)  # from the cache this time
    assert np.array_equal(again.songs[0][1][:, :1000], vocals[:, :1000])


@pytest.mark.realdata
@needs_real
@pytest.mark.parametrize("rate", [44100, 48000])
def test_real_source_segments(rate):
    cache = os.environ.get("RTSEP_TEST_CACHE", "cache")
    train = RealSongs(split="train", cache_dir=cache)
    assert len(train) == 6 and "7-Francium" not in [n for n, _, _ in train.songs]
    src = build_source(kind="real", split="train", sample_rate_hz=rate, segment_samples=rate,
                       seed=0, cache_dir=cache)
    rng = np.random.default_rng(5)
    n_silent = n_sung = 0
    for _ in range(80):
        mix, vocals, accompaniment = src.sample_stems(rng)
        assert mix.shape == (2, rate) and mix.dtype == np.float32
        assert np.array_equal(mix, vocals + accompaniment)
        assert np.isfinite(mix).all() and np.abs(mix).max() <= 1.0
        level = 20 * np.log10(np.sqrt(np.mean(vocals ** 2)) / np.sqrt(np.mean(mix ** 2)) + 1e-12)
        n_silent += level < -40
        n_sung += level > -20
    assert n_sung >= 45 and n_silent >= 1  # expected about 60 sung and 8 silent (p_no_vocals 0.1)
    m1, v1 = src.sample(np.random.default_rng(9))
    m2, v2 = src.sample(np.random.default_rng(9))
    assert np.array_equal(m1, m2) and np.array_equal(v1, v2)


def test_tone_augmentation_changes_each_stem_alone_and_keeps_the_sum_exact():
    song = _ramp_song("eq", seed=3)
    always = PLAIN.with_(p_eq=1.0, eq_gain_db=6.0)
    plain = SegmentSource([song], SR, 9600, PLAIN, "plain")
    eq = SegmentSource([song], SR, 9600, always, "eq")
    changed = 0
    for seed in range(5):
        m0, v0, a0 = plain.sample_stems(np.random.default_rng(seed))
        m1, v1, a1 = eq.sample_stems(np.random.default_rng(seed))
        np.testing.assert_array_equal(m1, v1 + a1)
        assert np.abs(m1).max() <= 1.0 and np.isfinite(m1).all()
        changed += not np.allclose(v1 / np.abs(v1).max(), v0 / np.abs(v0).max(), atol=1e-3)
    assert changed == 5
    with pytest.raises(ValueError, match="p_eq"):
        Augmentation(p_eq=1.5)


def test_drive_adds_harmonics_at_the_same_level_and_keeps_the_sum_exact():
    t = np.arange(SR // 2) / SR
    sine = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    driven = random_drive(sine, np.random.default_rng(0), SR, (12.0, 12.0))
    spec_in, spec_out = (np.abs(np.fft.rfft(x[0])) for x in (sine, driven))
    third = 3 * 440 * len(t) // SR  # bin of the third harmonic (0.5-s signal: 2 Hz bins)
    assert spec_out[third] > 100 * spec_in[third]
    assert np.sqrt(np.mean(driven ** 2)) == pytest.approx(np.sqrt(np.mean(sine ** 2)), rel=1e-3)
    src = SegmentSource([_ramp_song("drive", seed=4)], SR, 9600, PLAIN.with_(p_drive=1.0), "drive")
    for seed in range(3):
        m, v, a = src.sample_stems(np.random.default_rng(seed))
        np.testing.assert_array_equal(m, v + a)
        assert np.abs(m).max() <= 1.0 and np.isfinite(m).all()
    with pytest.raises(ValueError, match="drive_db"):
        Augmentation(drive_db=(10.0, 5.0))


def _write_clip(folder, name, rate, seconds, channels, seed):
    import soundfile as sf

    rng = np.random.default_rng(seed)
    clip = folder / name
    clip.mkdir(parents=True)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (t % 1.0 < 0.7)
    sf.write(clip / "vocals.flac", np.stack([voice] * channels, 1), rate)
    sf.write(clip / "accompaniment.flac", 0.1 * rng.standard_normal((n, channels)), rate)


def test_clip_folder_reads_mono_and_stereo_clips_as_stereo_through_its_cache(tmp_path):
    from rtsep.train.data.clips import ClipFolder

    _write_clip(tmp_path / "set", "a_1", 16000, 3.0, 1, 0)
    _write_clip(tmp_path / "set", "b_1", 16000, 2.0, 1, 1)
    (tmp_path / "set" / "not-a-clip").mkdir()
    folder = ClipFolder(tmp_path / "set", tmp_path / "cache", include=lambda n: n != "b_1")
    assert [s.name for s in folder.stem_songs] == ["a_1"]
    song = folder.stem_songs[0]
    assert song.vocals.shape == (2, 48000) and song.sample_rate_hz == 16000
    np.testing.assert_array_equal(song.vocals[0], song.vocals[1])  # mono as centred stereo
    assert song.content_bandwidth_hz == 8000.0
    again = ClipFolder(tmp_path / "set", tmp_path / "cache")  # both, a_1 from the cache
    assert len(again) == 2 and np.array_equal(again.stem_songs[0].vocals, song.vocals)
    with pytest.raises(ValueError, match="48000 Hz"):
        ClipFolder(tmp_path / "set", tmp_path / "cache2", expect_rate_hz=48000)
    with pytest.raises(FileNotFoundError, match="no clips"):
        ClipFolder(tmp_path / "set", tmp_path / "cache3", include=lambda n: False)


def _band_energy_above(x, rate, hz):
    spec = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / rate)
    return spec[..., f > hz].sum() / spec.sum()


def test_cross_source_band_limits_the_whole_example_to_the_narrower_source():
    """16 kHz vocals (8 kHz of content) over full-band 48 kHz noise: the accompaniment is
    low-passed too, and the example says 8 kHz."""
    n = 6 * 16000
    t = np.arange(n) / 16000
    voice = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    narrow = SegmentSource([ArraySong("v16", voice, np.zeros_like(voice), 16000)], SR, 9600,
                           PLAIN, "narrow")
    wide_noise = (0.1 * np.random.default_rng(0).standard_normal((2, 6 * SR))).astype(np.float32)
    wide = SegmentSource([ArraySong("a48", np.zeros_like(wide_noise), wide_noise, SR)], SR, 9600,
                         PLAIN, "wide")
    ex = CrossSource(narrow, wide, "cross").sample_example(np.random.default_rng(1))
    assert ex.bandwidth_hz == 8000.0
    np.testing.assert_array_equal(ex.mix, ex.vocals + ex.accompaniment)
    assert _band_energy_above(ex.accompaniment, SR, 8500) < 1e-4
    assert _band_energy_above(wide_noise, SR, 8500) > 0.5


def test_natural_segments_carry_the_teacher_scaled_like_the_stems():
    song = _ramp_song("t", seed=5)
    song.teacher = (0.5 * song.vocals).astype(np.float32)  # a teacher that keeps half the voice
    aug = Augmentation(p_no_vocals=0.0, p_natural=1.0, p_channel_swap=0.5, p_eq=1.0, p_speed=1.0)
    src = SegmentSource([song], SR, 4800, aug, "natural")
    for seed in range(6):
        ex = src.sample_example(np.random.default_rng(seed))
        np.testing.assert_array_equal(ex.mix, ex.vocals + ex.accompaniment)
        np.testing.assert_allclose(ex.teacher, 0.5 * ex.vocals, rtol=1e-4, atol=1e-6)
        assert 0.93 * SR / 2 <= ex.bandwidth_hz <= SR / 2  # a slower speed empties the top
    # Without p_natural no segment carries the teacher.
    plain = SegmentSource([song], SR, 4800, aug.with_(p_natural=0.0), "plain")
    assert plain.sample_example(np.random.default_rng(0)).teacher is None


def test_band_limit_augmentation_low_passes_whole_examples_and_says_so():
    """p_band_limit: full-band stems low-passed together at a random cut inside the range,
    the example's bandwidth the cut; off (the default) changes nothing and draws nothing."""
    n = 6 * SR
    rng = np.random.default_rng(0)
    voice = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
    band = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
    song = ArraySong("wide", voice, band, SR)
    aug = PLAIN.with_(p_no_vocals=0.0, p_band_limit=1.0, band_limit_hz=(5000.0, 9000.0))
    src = SegmentSource([song], SR, 9600, aug, "limited")
    for seed in range(4):
        ex = src.sample_example(np.random.default_rng(seed))
        assert 5000.0 <= ex.bandwidth_hz <= 9000.0 and ex.bandwidth_hz == round(ex.bandwidth_hz)
        np.testing.assert_array_equal(ex.mix, ex.vocals + ex.accompaniment)
        for stem in (ex.vocals, ex.accompaniment):
            assert _band_energy_above(stem, SR, ex.bandwidth_hz + 600) < 1e-3  # white noise: 0.7
            assert _band_energy_above(stem, SR, ex.bandwidth_hz - 1500) > 0.01
    plain = SegmentSource([song], SR, 9600, aug.with_(p_band_limit=0.0), "plain")
    default = SegmentSource([song], SR, 9600, PLAIN.with_(p_no_vocals=0.0), "default")
    a = plain.sample_example(np.random.default_rng(3))
    b = default.sample_example(np.random.default_rng(3))
    assert a.bandwidth_hz == b.bandwidth_hz == SR / 2
    np.testing.assert_array_equal(a.mix, b.mix)
    with pytest.raises(ValueError, match="band_limit_hz"):
        PLAIN.with_(band_limit_hz=(9000.0, 5000.0))


def test_stacking_adds_a_second_accompaniment_at_its_gain_and_off_draws_nothing():
    """p_stack: the accompaniment of a sung segment gets a second segment of its source's
    accompaniment, ``stack_gain_db`` below it (independent noise: the level grows by
    sqrt(1 + g^2)); in a cross-source remix from the accompaniment's side. Off (the
    default) leaves every example as it was."""
    n = 6 * SR
    rng = np.random.default_rng(7)

    def noise_song(name, level):
        v = (0.05 * rng.standard_normal((2, n))).astype(np.float32)
        return ArraySong(name, v, (level * rng.standard_normal((2, n))).astype(np.float32), SR)

    def level_ratio(src, seed):
        _, v, a = src.sample_stems(np.random.default_rng(seed))
        return float(np.sqrt(np.mean(a.astype(np.float64) ** 2) / np.mean(v.astype(np.float64) ** 2)))

    g = 10 ** (-6.0 / 20)
    stacked = PLAIN.with_(p_stack=1.0, stack_gain_db=(-6.0, -6.0))
    songs = [noise_song("one", 0.1), noise_song("two", 0.1)]
    for aug_plain, aug_stacked in ((PLAIN, stacked), (PLAIN.with_(p_remix=1.0), stacked.with_(p_remix=1.0))):
        plain = SegmentSource(songs, SR, 9600, aug_plain, "plain")
        more = SegmentSource(songs, SR, 9600, aug_stacked, "stacked")
        for seed in range(3):
            assert level_ratio(more, seed) / level_ratio(plain, seed) == pytest.approx(
                np.sqrt(1 + g * g), rel=0.03)
            m, v, a = more.sample_stems(np.random.default_rng(seed))
            np.testing.assert_array_equal(m, v + a)
    vocal_side = SegmentSource([noise_song("v", 0.1)], SR, 9600, stacked, "v")
    cross = CrossSource(vocal_side, SegmentSource([noise_song("a", 0.2)], SR, 9600, PLAIN, "a"))
    cross_plain = CrossSource(SegmentSource(vocal_side.songs, SR, 9600, PLAIN, "v"), cross.accompaniment_source)
    assert level_ratio(cross, 1) / level_ratio(cross_plain, 1) == pytest.approx(np.sqrt(1 + g * g), rel=0.03)
    a = SegmentSource(songs, SR, 9600, stacked.with_(p_stack=0.0), "off").sample_example(np.random.default_rng(5))
    b = SegmentSource(songs, SR, 9600, PLAIN, "default").sample_example(np.random.default_rng(5))
    np.testing.assert_array_equal(a.mix, b.mix)
    with pytest.raises(ValueError, match="stack_gain_db"):
        PLAIN.with_(stack_gain_db=(0.0, -6.0))
    with pytest.raises(ValueError, match="p_stack"):
        PLAIN.with_(p_stack=1.5)
