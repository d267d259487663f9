"""Evaluation: the SDR metric, the baselines and the report, on signals made in code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtsep.config import StftGeometry
from rtsep import metrics
from rtsep.train import evaluate as ev

SR = 44100


def _stems(seconds=4.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = 330 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SR) / k for k in range(1, 8))
    voice *= (np.sin(2 * np.pi * 0.5 * t) > -0.3)  # phrases with rests
    beat = np.zeros(n)
    beat[:: SR // 4] = 1.0
    drums = np.convolve(beat, np.exp(-np.arange(2000) / 200) * rng.standard_normal(2000))[:n]
    bass = 0.5 * np.sin(2 * np.pi * 55 * t)
    vocals = 0.1 * np.stack([voice, voice]).astype(np.float32)
    acc = (0.1 * np.stack([drums + bass, 0.8 * drums + bass])).astype(np.float32)
    return vocals, acc


def test_sdr_orders_estimates():
    vocals, acc = _stems()
    perfect = metrics.framewise_sdr_db(vocals, vocals, SR)
    noisy = metrics.framewise_sdr_db(vocals, vocals + 0.3 * acc, SR)
    mixture = metrics.framewise_sdr_db(vocals, vocals + acc, SR)
    assert perfect > 40 and perfect > noisy > mixture
    silent = np.zeros_like(vocals)
    assert np.isnan(metrics.framewise_sdr_db(silent, vocals, SR))


def test_museval_sdr_is_the_windowed_snr_and_counts_level_errors():
    """BSS Eval v4 (images): SDR per window = true-stem energy over (estimate - true)
    energy; the per-frame-filter SDR forgives a level error that v4 counts."""
    vocals, acc = _stems()
    noisy = vocals + 0.3 * acc
    sdr_v, sdr_a = metrics.museval_sdr_db((vocals, acc), (noisy, 0.7 * acc), SR)
    snr = [10 * np.log10(np.sum(vocals[:, s:s + SR] ** 2) / np.sum((0.3 * acc[:, s:s + SR]) ** 2))
           for s in range(0, vocals.shape[1] - SR + 1, SR)]
    assert sdr_v == pytest.approx(float(np.median(snr)), abs=0.05)
    assert sdr_a == pytest.approx(20 * np.log10(1 / 0.3), abs=0.05)
    half, _ = metrics.museval_sdr_db((vocals, acc), (0.5 * vocals, acc + 0.5 * vocals), SR)
    assert half == pytest.approx(20 * np.log10(1 / 0.5), abs=0.05)
    assert metrics.framewise_sdr_db(vocals, 0.5 * vocals, SR) > 40
    # A near-silent reference window (a -100 dBFS hiss instead of digital silence) is
    # skipped like a silent one, not scored at -50 dB.
    hushed = np.zeros_like(vocals)
    hushed[:, SR:] = vocals[:, SR:]
    hushed[:, :SR] = 1e-5 * np.random.default_rng(1).standard_normal((2, SR))
    skipped, _ = metrics.museval_sdr_db((hushed, acc), (hushed + 0.3 * acc, 0.7 * acc), SR)
    assert skipped == pytest.approx(float(np.median(snr[1:])), abs=0.05)
    # An all-zero estimate cannot be decomposed: NaN, not an exception.
    assert np.isnan(metrics.museval_sdr_db((vocals, acc), (np.zeros_like(vocals), vocals + acc), SR)[0])


def test_oracle_beats_repet_beats_nothing():
    vocals, acc = _stems()
    mix = vocals + acc
    geometry = StftGeometry()
    oracle = metrics.framewise_sdr_db(vocals, ev.oracle_irm(mix, vocals, geometry, SR), SR)
    mixture = metrics.framewise_sdr_db(vocals, mix, SR)
    repet = metrics.framewise_sdr_db(vocals, ev.repet_sim(mix, SR), SR)
    assert oracle > 10.0
    assert oracle > repet and oracle > mixture
    assert np.isfinite(repet)


def _tones(rate: int, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """A warbling 1,000-Hz "voice" and a steady 1,040-Hz "accompaniment" at ``rate``."""
    t = np.arange(int(rate * seconds)) / rate
    voice = 0.3 * np.sin(2 * np.pi * 1000.0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    acc = 0.3 * np.sin(2 * np.pi * 1040.0 * t + 1.0)
    return voice[None].astype(np.float32), acc[None].astype(np.float32)


def test_oracle_works_in_the_engines_stft_whatever_the_clips_rate():
    """Two tones 40 Hz apart: the engine's STFT (1,024 samples at 44.1 kHz, 43 Hz a bin)
    cannot part them; at a 16-kHz clip's own rate the same frame length (15.6 Hz a bin)
    could. The oracle of a 16-kHz clip must be the engine's (resampled to 44.1 kHz and
    back), not a finer one the model never gets."""
    geometry = StftGeometry()

    def snr_db(rate: int) -> float:
        voice, acc = _tones(rate)
        est = ev.oracle_irm(voice + acc, voice, geometry, rate)
        assert est.shape == voice.shape
        mid = slice(rate // 2, -rate // 2)
        return float(10 * np.log10(np.sum(voice[:, mid] ** 2)
                                   / np.sum((voice[:, mid] - est[:, mid]) ** 2)))

    at_16k, at_44k = snr_db(16000), snr_db(44100)
    assert at_44k < 10.0  # the tones really are hard to part at the engine's resolution
    assert at_16k == pytest.approx(at_44k, abs=0.5)


def test_score_clip_and_report(tmp_path):
    vocals, acc = _stems()
    mix = vocals + acc
    methods = {"mixture": lambda m, r: m, "truth": lambda m, r: vocals}
    sung = ev.score_clip("sung", "set", mix, vocals, SR, methods)
    assert sung.has_vocals
    assert sung.scores["truth"]["vocals_sdr_db"] > sung.scores["mixture"]["vocals_sdr_db"]
    assert sung.scores["truth"]["vocals_sdr_fbe_db"] > sung.scores["mixture"]["vocals_sdr_fbe_db"]
    assert sung.scores["mixture"]["vocals_sdr_db"] == pytest.approx(
        10 * np.log10(np.sum(vocals ** 2) / np.sum(acc ** 2)), abs=1.5)
    instrumental = ev.score_clip("instr", "set", acc, np.zeros_like(acc), SR,
                                 {"half": lambda m, r: 0.5 * m})
    assert not instrumental.has_vocals
    assert instrumental.scores["half"]["vocal_leak_db"] == pytest.approx(20 * np.log10(0.5), abs=0.01)
    summary = ev.write_report(tmp_path, [sung, instrumental])
    assert summary["set"]["truth"]["n_clips"] == 1
    assert json.loads((tmp_path / "eval.json").read_text())["summary"] == summary
    assert "| set | truth |" in (tmp_path / "eval.md").read_text()


def test_band_recall_finds_the_band_an_estimate_drops():
    vocals, acc = _stems()
    assert all(r == pytest.approx(1.0, abs=1e-6)
               for r in metrics.band_recall(vocals, vocals, SR).values() if np.isfinite(r))
    # Remove 1-2 kHz from the true vocals.
    from scipy.signal import butter, sosfiltfilt

    notch = sosfiltfilt(butter(8, [900, 2100], "bandstop", fs=SR, output="sos"), vocals).astype(np.float32)
    recall = metrics.band_recall(vocals, notch, SR)
    assert recall["1k-2k"] < 0.05
    assert recall["250-500"] == pytest.approx(1.0, abs=0.01)  # the voice's 330-Hz fundamental
    # A leak that does not correlate with the vocals leaves the recall where it was.
    leaky = metrics.band_recall(vocals, notch + acc, SR)
    assert leaky["1k-2k"] < 0.05 and leaky["250-500"] == pytest.approx(1.0, abs=0.02)
    sung = ev.score_clip("sung", "set", vocals + acc, vocals, SR,
                         {"notch": lambda m, r: notch, "truth": lambda m, r: vocals})
    assert sung.scores["notch"]["vocal_recall_by_band"] == pytest.approx(
        metrics.band_recall(vocals, notch, SR), nan_ok=True)
    table = ev.recall_table(ev.summarize([sung]))
    assert "| set | notch |" in table and "| set | truth | " in table


def test_accompaniment_sir_measures_the_voice_left_in_the_instrumental():
    vocals, acc = _stems()
    mix = vocals + acc
    scores = {}
    for kept in (0.5, 0.9):  # the vocal estimate keeps this share of the voice
        est_v = kept * vocals
        scores[kept] = metrics.museval_scores((vocals, acc), (est_v, mix - est_v), SR)
    # Keeping more of the voice leaves less in the instrumental: a higher accompaniment SIR.
    assert scores[0.9]["accompaniment_sir_db"] > scores[0.5]["accompaniment_sir_db"] + 6
    assert set(scores[0.5]) == {"vocals_sdr_db", "accompaniment_sdr_db", "vocals_sir_db",
                                "accompaniment_sir_db"}


def test_leak_on_instrumental_passages_counts_only_windows_without_voice():
    vocals, acc = _stems(seconds=6.0)
    vocals[:, 3 * SR:] = 0.0  # the last three seconds are instrumental
    mix = vocals + acc
    leak = 0.1 * acc  # an estimate that lets 10 % of the band through everywhere
    assert metrics.instrumental_leak_db(mix, vocals, vocals + leak, SR) == pytest.approx(-20.0, abs=0.1)
    # The voice itself (sung windows) never counts as a leak.
    assert metrics.instrumental_leak_db(mix, vocals, vocals, SR) < -150
    assert np.isnan(metrics.instrumental_leak_db(mix, np.ones_like(mix), vocals, SR))


@pytest.mark.realdata
def test_eval_scores_a_baseline_once_for_both_latency_modes_but_the_oracle(tmp_path, monkeypatch):
    """REPET-SIM does not depend on the latency mode: a low-mode eval after a default one
    takes it from the cache; the oracle works in the mode's STFT and is scored again."""
    import argparse

    from rtsep.commands import eval as eval_cmd
    from rtsep.train.data.paths import default_data_root

    if not (default_data_root() / "real-dev" / "musdb18-preview-80s-rock").is_dir():
        pytest.skip("the MUSDB18 clip (../shared/data or $RTSEP_DATA) is absent")
    calls = {"repet-sim": 0, "oracle-irm": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(ev, "repet_sim", counted("repet-sim", ev.repet_sim))
    monkeypatch.setattr(ev, "oracle_irm", counted("oracle-irm", ev.oracle_irm))
    parser = argparse.ArgumentParser()
    eval_cmd.add_arguments(parser)
    summaries = {}
    for latency in ("default", "low", "low"):
        args = parser.parse_args(["--sets", "musdb-clip", "--baselines", "repet-sim,oracle-irm",
                                  "--no-model", "--latency", latency, "--cache-dir",
                                  str(tmp_path / "cache"), "-o", str(tmp_path / latency)])
        summaries[latency] = eval_cmd.evaluate(args)["musdb-clip"]
    assert calls == {"repet-sim": 1, "oracle-irm": 2}
    assert summaries["low"]["repet-sim"] == summaries["default"]["repet-sim"]
    # The low mode's shorter synthesis window costs the oracle something.
    assert (summaries["low"]["oracle-irm"]["vocals_sdr_db"]
            < summaries["default"]["oracle-irm"]["vocals_sdr_db"] - 0.5)
