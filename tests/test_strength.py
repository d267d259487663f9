"""Separation strength: every mask value m becomes m^(1/strength) before synthesis.

The core is checked against the same processor given the reshaped mask directly (a
Python mask model, so every hop's mask differs), the outputs still sum to the delayed
input, non-finite mask values are still counted and zeroed, and every face refuses a
strength out of range with one line. The C ABI, LV2 and MIDI faces are checked in
their own test files.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from block_support import processor, run_blocks
from rtsep.config import MAX_STRENGTH, MIN_STRENGTH, StftGeometry

GEOMETRY = StftGeometry()
RATE_HZ = 48000


def _audio(n: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t) * (1 + np.sin(2 * np.pi * 1.5 * t))
    return np.ascontiguousarray(np.stack([tone + 0.05 * rng.standard_normal(n),
                                          0.8 * tone + 0.05 * rng.standard_normal(n)])
                                .astype(np.float32))


def _mask_of(frame: np.ndarray) -> np.ndarray:
    """A mask that follows the frame (so every hop differs), with exact 0s and 1s in it."""
    mag = np.abs(frame[..., 0] + 1j * frame[..., 1]) if frame.ndim == 3 else np.abs(frame)
    m = (mag / (mag + np.median(mag) + 1e-9)).astype(np.float32)
    m[:, :8] = 0.0
    m[:, -8:] = 1.0
    return m


@pytest.mark.parametrize("strength", [MIN_STRENGTH, 0.6, 2.0, MAX_STRENGTH])
def test_strength_equals_the_reshaped_mask_and_keeps_the_sum(strength):
    x = _audio(RATE_HZ // 2)
    shaped = processor(GEOMETRY, _mask_of)
    shaped.parameters.strength = strength
    shaped.reset()
    v, i = run_blocks(shaped, x, pattern=(256, 1000, 77))
    exponent = np.float32(1.0 / strength)
    direct = processor(GEOMETRY, lambda f: np.power(_mask_of(f), exponent))
    v_ref, i_ref = run_blocks(direct, x, pattern=(4096,))
    np.testing.assert_allclose(v, v_ref, atol=2e-6)
    np.testing.assert_allclose(i, i_ref, atol=2e-6)
    lat = shaped.latency_samples
    np.testing.assert_allclose((v + i)[:, lat:], x[:, :-lat], atol=2e-6)  # still the input
    plain_v, _ = run_blocks(processor(GEOMETRY, _mask_of), x)
    # Above 1 the vocals take more of the mix, below 1 less.
    ratio = float(np.sum(v ** 2) / np.sum(plain_v ** 2))
    assert (ratio > 1.01) if strength > 1 else (ratio < 0.99)


def test_strength_one_is_the_plain_output_and_bad_values_change_nothing():
    x = _audio(RATE_HZ // 4)
    proc = processor(GEOMETRY, _mask_of)
    assert proc.parameters.strength == 1.0
    plain = run_blocks(proc, x)
    for bad in (0.1, 5.0, float("nan"), float("inf"), 0.0):
        with pytest.raises(ValueError, match=r"strength must be within 0\.25\.\.4"):
            proc.parameters.strength = bad
    assert proc.parameters.strength == 1.0
    proc.reset()
    again = run_blocks(proc, x)
    np.testing.assert_array_equal(plain[0], again[0])
    np.testing.assert_array_equal(plain[1], again[1])


def test_nonfinite_mask_values_are_still_counted_and_zeroed():
    def bad_mask(frame):
        m = _mask_of(frame)
        m[:, 100] = np.nan
        return m

    x = _audio(RATE_HZ // 8)
    proc = processor(GEOMETRY, bad_mask)
    proc.parameters.strength = 3.0
    v, i = run_blocks(proc, x)
    assert np.isfinite(v).all() and np.isfinite(i).all()
    assert proc.n_nonfinite_replaced > 0


def test_a_change_mid_stream_applies_from_the_next_hop():
    x = _audio(RATE_HZ // 4)
    hop = GEOMETRY.hop_samples
    proc = processor(GEOMETRY, _mask_of)
    first = np.empty_like(x), np.empty_like(x)
    n1 = 30 * hop
    proc.process(x[:, :n1], first[0][:, :n1], first[1][:, :n1])
    proc.parameters.strength = 2.0
    for s in range(n1, x.shape[1], 4096):
        e = min(s + 4096, x.shape[1])
        proc.process(x[:, s:e], first[0][:, s:e], first[1][:, s:e])
    plain_v, _ = run_blocks(processor(GEOMETRY, _mask_of), x)
    strong = processor(GEOMETRY, _mask_of)
    strong.parameters.strength = 2.0
    strong_v, _ = run_blocks(strong, x)
    lat = proc.latency_samples
    # Output that only frames before the change shaped is the plain one; once every
    # frame under it came after the change, it is the strong one.
    np.testing.assert_allclose(first[0][:, :n1 - GEOMETRY.n_fft + lat], plain_v[:, :n1 - GEOMETRY.n_fft + lat],
                               atol=1e-6)
    np.testing.assert_allclose(first[0][:, n1 + lat:], strong_v[:, n1 + lat:], atol=1e-6)


def test_processor_property_and_repr():
    from rtsep import Processor

    proc = Processor("identity")
    proc.strength = 2
    assert proc.strength == 2.0 and "strength=2" in repr(proc)
    with pytest.raises(ValueError, match=r"strength: 9 is outside 0\.25\.\.4"):
        proc.strength = 9
    with pytest.raises(ValueError, match="is not a strength"):
        proc.strength = "strong"
    assert proc.strength == 2.0


def _rtsep(*args):
    return subprocess.run([sys.executable, "-m", "rtsep", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("command", ["separate", "monitor", "eval"])
def test_cli_refuses_a_strength_out_of_range_with_one_line(command, tmp_path):
    extra = {"separate": [str(tmp_path / "none.wav")], "monitor": [], "eval": []}[command]
    proc = _rtsep(command, "--strength", "7", *extra)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "argument --strength: 7 is outside 0.25..4" in last, proc.stderr


def test_separate_with_a_strength_matches_the_processor(tmp_path):
    import soundfile as sf

    from rtsep import Processor
    from rtsep.engine import default_model_path

    model = default_model_path()
    if not model.exists():
        pytest.skip(f"no shipped model at {model}")
    x = _audio(RATE_HZ // 2)
    src = tmp_path / "song.wav"
    sf.write(src, x.T, RATE_HZ, subtype="FLOAT")
    for strength in ("1", "2.5"):
        proc = _rtsep("separate", "--strength", strength, "--quiet", "--backend", "onnx-cpu",
                      "-o", str(tmp_path / strength), str(src))
        assert proc.returncode == 0, proc.stderr
    vocals = {s: sf.read(tmp_path / s / "song" / "vocals.wav", dtype="float32")[0].T for s in ("1", "2.5")}
    instr = {s: sf.read(tmp_path / s / "song" / "instrumental.wav", dtype="float32")[0].T
             for s in ("1", "2.5")}
    p = Processor(model, backend="onnx-cpu")
    p.strength = 2.5
    p.prepare(RATE_HZ, 4096, 2)
    lat = p.latency_samples
    padded = np.zeros((2, x.shape[1] + lat), np.float32)
    padded[:, :x.shape[1]] = x
    a, b = np.zeros_like(padded), np.zeros_like(padded)
    for s in range(0, padded.shape[1], 4096):
        p.process(padded[:, s:s + 4096], a[:, s:s + 4096], b[:, s:s + 4096])
    np.testing.assert_allclose(vocals["2.5"], a[:, lat:], atol=1e-5)
    np.testing.assert_allclose(instr["2.5"], b[:, lat:], atol=1e-5)
    # Stronger: the vocals take more of the mix and the instrumental keeps less.
    assert np.sum(vocals["2.5"] ** 2) > 1.02 * np.sum(vocals["1"] ** 2)
    assert np.sum(instr["2.5"] ** 2) < np.sum(instr["1"] ** 2)


@pytest.mark.realdata
def test_eval_scores_each_strength_as_a_method_and_plots_the_trade_off(tmp_path):
    import json

    from rtsep.engine import default_model_path
    from rtsep.train.data.paths import default_data_root

    if not (default_data_root() / "real-dev" / "musdb18-preview-80s-rock").is_dir():
        pytest.skip("the MUSDB18 clip (../shared/data or $RTSEP_DATA) is absent")
    if not default_model_path().exists():
        pytest.skip("no shipped model")
    out = tmp_path / "eval"
    proc = _rtsep("eval", "--sets", "musdb-clip", "--baselines", "", "--strength", "1,2.5",
                  "--cache-dir", str(tmp_path / "cache"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["strength"] == [1.0, 2.5]
    clip = report["summary"]["musdb-clip"]
    assert set(clip) == {"rtsep", "rtsep@2.5"}
    # A stronger mask leaves less of the voice in the instrumental.
    assert clip["rtsep@2.5"]["accompaniment_sir_db"] > clip["rtsep"]["accompaniment_sir_db"] + 0.5
    assert (out / "strength.png").stat().st_size > 10_000 and (out / "eval.png").exists()
    assert "| musdb-clip | rtsep@2.5 |" in (out / "eval.md").read_text()


def test_demo_takes_the_strength(tmp_path):
    import json

    import soundfile as sf

    from rtsep.engine import default_model_path

    if not default_model_path().exists():
        pytest.skip("no shipped model")
    for s in ("1", "2"):
        proc = _rtsep("demo", "--strength", s, "--backend", "onnx-cpu", "-o", str(tmp_path / s))
        assert proc.returncode == 0, proc.stderr
        assert json.loads((tmp_path / s / "result.json").read_text())["strength"] == float(s)
    plain = sf.read(tmp_path / "1" / "instrumental.wav", dtype="float32")[0]
    strong = sf.read(tmp_path / "2" / "instrumental.wav", dtype="float32")[0]
    assert np.sum(strong.astype(np.float64) ** 2) < np.sum(plain.astype(np.float64) ** 2)
