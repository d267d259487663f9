"""`rtsep monitor` against a real JACK server (dummy driver, 48 kHz, 128-sample periods).

The monitor runs as a subprocess (`python -m rtsep monitor --input system ...`);
the harness (tests/jack_harness.py) plays into its input ports and records its
output ports plus its own output looped straight back (the baseline path).
Frame 0 of every recording is the frame the test signal started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from jack_harness import RATE_HZ, ROOT, Harness, Monitor, delay_samples, jack_server, make_signal  # noqa: F401
from rtsep.live.cpu_latency import cpu_steal_times, steal_share

pytestmark = pytest.mark.jack

SHIPPED_MODEL = ROOT / "models" / "rtsep-default.onnx"


@pytest.fixture(scope="module")
def harness(jack_server):  # noqa: F811
    h = Harness(jack_server, n_play=2, n_inputs=4)
    yield h
    h.close()


@pytest.fixture(scope="module")
def baseline(harness):
    """The harness's own loopback delay (its output straight back into its input)."""
    x = make_signal(RATE_HZ // 2, seed=7)
    rec, _ = harness.record(x, RATE_HZ // 2 + 2048)
    lag = delay_samples(x[0], rec[0], 2048)
    np.testing.assert_array_equal(rec[0:2, lag:lag + x.shape[1]], x)  # a pure delay
    print(f"harness loopback delay (baseline): {lag} samples")
    return lag


def run_through(harness, jack_server, tmp_path, *args, n_outputs=2, seconds=1.0, seed=1,  # noqa: F811
                signal_=None, during=None):
    """Start a monitor, play a signal through it, stop it. Returns (signal, recording, summary)."""
    x = make_signal(int(seconds * RATE_HZ), seed=seed) if signal_ is None else signal_
    monitor = Monitor(jack_server, tmp_path, *args)
    try:
        rec, _ = harness.record(x, x.shape[1] + 4096, monitor=monitor, n_monitor_outputs=n_outputs,
                                during=during)
    finally:
        summary = monitor.stop()
    return x, rec, summary


def aligned(rec: np.ndarray, delay: int, n: int) -> np.ndarray:
    return rec[:, delay:delay + n]


@pytest.mark.parametrize("schedule", ["worker", "inline"])
def test_delay_is_reported_latency_plus_baseline_exactly(harness, baseline, jack_server, tmp_path,  # noqa: F811
                                                         schedule):
    """The identity model (stepped natively, so it runs in the callback too)."""
    x, rec, summary = run_through(harness, jack_server, tmp_path, "--model", "identity",
                                  "--mode", "vocals", "--schedule", schedule,
                                  "--record", str(tmp_path / "out.wav"))
    total = summary["total_latency_samples"]
    assert summary["schedule"] == schedule
    margin = 128 + summary["safety_samples"] if schedule == "worker" else 0
    assert total == summary["engine_latency_samples"] + margin
    through = delay_samples(x[0], rec[2], 4096)
    print(f"baseline {baseline}, reported total {total}, measured through rtsep {through}")
    assert through == total + baseline
    assert delay_samples(rec[0], rec[2], 4096) == total
    # Identity: the output is the input, delayed, to float precision.
    n = x.shape[1]
    np.testing.assert_allclose(aligned(rec[2:4], total + baseline, n), x, atol=1e-6, rtol=0)
    # --record wrote what was played.
    import soundfile as sf

    played, rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert rate == RATE_HZ and played.shape[1] == 2
    lag = delay_samples(x[0], played[:, 0], len(played) - n)
    np.testing.assert_allclose(played[lag:lag + n].T, x, atol=1e-6, rtol=0)
    assert summary["stats"]["n_callbacks"] > 0 and summary["stopped_by"] == "signal"


NATIVE_MODEL = ROOT / "models" / "rtsep-default.rtsepw"


@pytest.mark.skipif(not NATIVE_MODEL.is_file(), reason="needs the shipped native model")
@pytest.mark.parametrize("latency_mode,engine_latency", [("default", 510), ("low", 287)])
def test_inline_delay_is_the_engine_latency_exactly(harness, baseline, jack_server, tmp_path,  # noqa: F811
                                                    latency_mode, engine_latency):
    """The callback runs the native model itself: no block, no safety margin. In mode
    mix at 0 dB the output is vocals + instrumental = the input, delayed."""
    x, rec, summary = run_through(harness, jack_server, tmp_path, "--model", str(NATIVE_MODEL),
                                  "--backend", "native", "--schedule", "inline", "--mode", "mix",
                                  "--latency", latency_mode)
    assert summary["schedule"] == "inline" and summary["worker"] is None
    assert summary["total_latency_samples"] == summary["engine_latency_samples"] == engine_latency
    through = delay_samples(x[0], rec[2], 4096)
    print(f"inline {latency_mode}: reported {engine_latency}, measured through rtsep "
          f"{through - baseline} (+ baseline {baseline}); xruns {summary['xruns']}")
    assert through == engine_latency + baseline
    n = x.shape[1]
    np.testing.assert_allclose(aligned(rec[2:4], through, n), x, atol=1e-4, rtol=0)
    assert summary["misses"] == 0 and summary["stats"]["n_fallback_frames"] == 0
    timing = summary["timing"]
    assert timing["n_responses"] == summary["stats"]["n_callbacks"] > 0  # callback durations


def envelope(x: np.ndarray, width: int = 32) -> np.ndarray:
    """Short-time energy (moving average of the square over ``width`` samples): what a
    key change keeps (the drum hits' onsets) while it changes the waveform."""
    return np.convolve(x.astype(np.float64) ** 2, np.ones(width) / width, mode="same")


@pytest.mark.skipif(not NATIVE_MODEL.is_file(), reason="needs the shipped native model")
@pytest.mark.parametrize("schedule", ["inline", "worker"])
def test_a_key_change_keeps_the_delay(harness, baseline, jack_server, tmp_path, schedule):  # noqa: F811
    """The same signal through the monitor without and with a key change (band +3, voice
    -2): the waveform delay without one is the reported latency exactly, and the onsets
    (the energy envelope) come out at the same time with one. The waveforms cannot be
    compared: a phase vocoder's output depends on where its frames fall."""
    common = ("--model", str(NATIVE_MODEL), "--backend", "native", "--schedule", schedule,
              "--mode", "mix")
    x, plain, summary = run_through(harness, jack_server, tmp_path, *common)
    _, keyed, key_summary = run_through(harness, jack_server, tmp_path, *common,
                                        "--key-semitones", "3", "--vocals-key-semitones", "-2")
    assert key_summary["key_semitones"] == 3.0 and key_summary["vocals_key_semitones"] == -2.0
    total = summary["total_latency_samples"]
    assert key_summary["total_latency_samples"] == total
    through = delay_samples(x[0], plain[2], 4096)
    assert through == total + baseline  # mix at 0 dB: the input itself, delayed
    ref = envelope(x[0])
    plain_lag = delay_samples(ref, envelope(plain[2]), 4096)
    keyed_lag = delay_samples(ref, envelope(keyed[2]), 4096)
    print(f"{schedule}: reported {total}; waveform delay {through - baseline}; onset delay "
          f"without a key {plain_lag - baseline}, with band +3 / voice -2 {keyed_lag - baseline}")
    assert abs(plain_lag - through) <= 4
    # Within a fifth of a 256-sample hop: the phase vocoders smear onsets by an amount that
    # depends on what the model sends through each (U's mask: up to 16 samples; K3's
    # calibrated one: 20-26, by run); a latency error would show as a hop or more.
    assert abs(keyed_lag - plain_lag) <= 48
    n = x.shape[1]
    shifted = aligned(keyed[2:4], through, n)
    assert np.abs(shifted - x).max() > 0.05  # the key did change the sound


def test_auto_schedule_says_why(harness, jack_server, tmp_path):  # noqa: F811
    """auto with a Python runtime stays on the worker and says why; with the native
    model it measures the callback and says what it measured."""
    onnx = ROOT / "models" / "rtsep-default.onnx"
    if onnx.is_file():
        _, _, summary = run_through(harness, jack_server, tmp_path, "--model", str(onnx),
                                    "--backend", "onnx-cpu", "--schedule", "auto", seconds=0.2)
        assert summary["schedule"] == "worker" and "Python" in summary["schedule_reason"]
    if NATIVE_MODEL.is_file():
        _, _, summary = run_through(harness, jack_server, tmp_path, "--model", str(NATIVE_MODEL),
                                    "--backend", "native", "--schedule", "auto", seconds=0.2)
        assert "measured p99" in summary["schedule_reason"]
        assert summary["schedule"] in ("inline", "worker")
        want = 510 if summary["schedule"] == "inline" else 510 + 128 + summary["safety_samples"]
        assert summary["total_latency_samples"] == want


def test_inline_refuses_a_python_runtime(jack_server, tmp_path):  # noqa: F811
    onnx = ROOT / "models" / "rtsep-default.onnx"
    if not onnx.exists():
        pytest.skip("no shipped ONNX model")
    result = subprocess.run([sys.executable, "-m", "rtsep", "monitor", "--input", "system",
                             "--output", "system", "--model", str(onnx), "--backend", "onnx-cpu",
                             "--schedule", "inline", "--duration", "1"], cwd=ROOT,
                            env=jack_server.env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--schedule inline needs the native model" in result.stderr
    assert "Traceback" not in result.stderr


def segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[0::2], edges[1::2]))


def check_both_pairs(x, vocals, instrumental, summary, ramp):
    """Identity in mode both: the pairs sum to the input; vocals are the input
    except where the fallback played (instrumental = dry there), which the
    summary must have counted. Returns the fallback spans."""
    np.testing.assert_allclose(vocals + instrumental, x, atol=1e-6, rtol=0)
    spans = segments(np.abs(instrumental).max(axis=0) > 1e-5)
    played = np.zeros(x.shape[1], bool)
    for a, b in spans:
        played[a:b] = True
    np.testing.assert_allclose(vocals[:, ~played], x[:, ~played], atol=1e-6, rtol=0)
    stats = summary["stats"]
    assert sum(b - a for a, b in spans) <= stats["n_fallback_frames"] + 2 * ramp * (stats["n_miss_events"] + 1)
    if spans:
        assert stats["n_miss_events"] >= 1
    return spans


def test_both_mode_vocals_plus_instrumental_is_the_delayed_input(harness, baseline, jack_server,  # noqa: F811
                                                                   tmp_path):
    x, rec, summary = run_through(harness, jack_server, tmp_path, "--model", "identity",
                                  "--schedule", "worker", "--mode", "both", n_outputs=4)
    d = summary["total_latency_samples"] + baseline
    n = x.shape[1]
    vocals, instrumental = aligned(rec[2:4], d, n), aligned(rec[4:6], d, n)
    spans = check_both_pairs(x, vocals, instrumental, summary, summary["fallback_ramp_samples"])
    print(f"misses {summary['misses']}, fallback spans {spans}")


def real_model_test(fn):
    """Tests on `real_model`: they need torch (to export one) until a model is shipped."""
    return fn if SHIPPED_MODEL.exists() else pytest.mark.torch(fn)


@pytest.fixture(scope="module")
def real_model(tmp_path_factory):
    """The shipped model, or (without one) a randomly initialised export of the same
    network, so the ONNX path runs even before training has produced a model."""
    if SHIPPED_MODEL.exists():
        return SHIPPED_MODEL
    pytest.importorskip("torch", reason=f"no shipped model at {SHIPPED_MODEL} and no torch to export one")
    import torch

    from rtsep.model.export import export_model
    from rtsep.model.unet import CausalUNet

    torch.manual_seed(0)
    model = CausalUNet().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    path = tmp_path_factory.mktemp("model") / "random.onnx"
    export_model(model, path, "onnx", n_check_frames=10, log=lambda msg: None)
    return path


@real_model_test
@pytest.mark.parametrize("backend", ["onnx-cpu", "auto"])
def test_real_model_vocals_plus_instrumental_is_the_delayed_input(harness, baseline, jack_server,  # noqa: F811
                                                                  tmp_path, real_model, backend):
    x, rec, summary = run_through(harness, jack_server, tmp_path, "--model", str(real_model),
                                  "--backend", backend, "--schedule", "worker", "--mode", "both",
                                  n_outputs=4, seconds=1.5)
    if backend == "auto" and real_model.with_suffix(".rtsepw").is_file():
        # The live default: the native worker thread, no Python between device and model.
        assert summary["backend"] == "native"
        assert "(native thread" in summary["worker"]["scheduling"]
    d = summary["total_latency_samples"] + baseline
    n = x.shape[1]
    vocals, instrumental = aligned(rec[2:4], d, n), aligned(rec[4:6], d, n)
    np.testing.assert_allclose(vocals + instrumental, x, atol=1e-5, rtol=0)
    assert np.abs(vocals - x).max() > 1e-3 and np.abs(vocals).max() > 1e-5  # a real split
    print(f"{real_model.name}: misses {summary['misses']}, worker load {summary['worker']['load']:.3f}")


def test_stalled_worker_falls_back_without_jumps_and_keeps_the_delay(harness, baseline, jack_server,  # noqa: F811
                                                                      tmp_path):
    x, rec, summary = run_through(harness, jack_server, tmp_path, "--model", "identity",
                                  "--schedule", "worker", "--mode", "both", "--stall-worker-at", "1.0",
                                  "--stall-ms", "250",
                                  n_outputs=4, seconds=2.5)
    stats = summary["stats"]
    assert summary["misses"] >= 40 and stats["n_miss_events"] >= 1
    # A 250-ms stall: most of it is played from the fallback (less when the loaded
    # dummy server itself stalls meanwhile, since its callbacks then stop too).
    assert stats["n_fallback_frames"] >= 0.1 * RATE_HZ
    d = summary["total_latency_samples"] + baseline
    n = x.shape[1]
    vocals, instrumental = aligned(rec[2:4], d, n), aligned(rec[4:6], d, n)
    ramp = summary["fallback_ramp_samples"]
    # Fallback: dry input on the instrumental pair, silence on the vocals pair, so
    # the pairs always sum to the delayed input (no gap, no click, no drift), and
    # the vocals are the worker's output, at the same delay, everywhere else.
    spans = check_both_pairs(x, vocals, instrumental, summary, ramp)
    print(f"fallback spans {spans}; stats {stats}")
    longest = max(spans, key=lambda ab: ab[1] - ab[0])
    assert longest[1] - longest[0] >= 0.1 * RATE_HZ, spans
    assert longest[1] < n - RATE_HZ // 2, "no worker output after the stall"
    signal_step = np.abs(np.diff(x, axis=1)).max()
    for pair in (vocals, instrumental):
        assert np.abs(np.diff(pair, axis=1)).max() <= signal_step + np.abs(x).max() / ramp + 1e-6
    assert np.abs(np.diff(vocals + instrumental, axis=1)).max() <= signal_step + 1e-5


@pytest.mark.skipif(not SHIPPED_MODEL.with_suffix(".rtsepw").is_file(), reason="no native model shipped")
def test_stalled_native_worker_falls_back_and_keeps_the_delay(harness, baseline, jack_server,  # noqa: F811
                                                              tmp_path):
    x, rec, summary = run_through(harness, jack_server, tmp_path, "--model", str(SHIPPED_MODEL),
                                  "--schedule", "worker", "--mode", "both", "--stall-worker-at", "1.0",
                                  "--stall-ms", "250",
                                  n_outputs=4, seconds=2.5)
    assert summary["backend"] == "native"
    stats = summary["stats"]
    assert summary["misses"] >= 40 and stats["n_miss_events"] >= 1
    d = summary["total_latency_samples"] + baseline
    n = x.shape[1]
    vocals, instrumental = aligned(rec[2:4], d, n), aligned(rec[4:6], d, n)
    # Vocals + instrumental is the delayed input throughout (the fallback puts the
    # dry input on the instrumental pair and silence on the vocals pair).
    np.testing.assert_allclose(vocals + instrumental, x, atol=1e-5, rtol=0)
    silent = segments(np.abs(vocals).max(axis=0) < 1e-7)
    longest = max(silent, key=lambda ab: ab[1] - ab[0])
    assert longest[1] - longest[0] >= 0.1 * RATE_HZ, silent
    ramp = summary["fallback_ramp_samples"]
    after = vocals[:, longest[1] + ramp:]
    assert after.shape[1] > RATE_HZ // 2 and np.count_nonzero(after) > 0.99 * after.size, \
        "no worker output after the stall"
    signal_step = np.abs(np.diff(x, axis=1)).max()
    assert np.abs(np.diff(vocals, axis=1)).max() <= signal_step + np.abs(x).max() / ramp + 1e-6


# ---- MIDI ------------------------------------------------------------------------------


@pytest.fixture
def midi_out(jack_server):  # noqa: F811
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi has no JACK MIDI")
    port_name = f"rtsep-test-midi-{time.monotonic_ns() % 100000}"
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "rtsep-test")
    out.open_virtual_port(port_name)
    yield out, port_name
    out.close_port()
    out.delete()


def dc(seconds: float, level: float = 0.25) -> np.ndarray:
    x = np.full((2, int(seconds * RATE_HZ)), level, np.float32)
    x[:, :480] *= np.linspace(0, 1, 480, dtype=np.float32)
    return x


def scheduled(out, events):
    """A `during` callback that sends each (time_s, message) once, in order."""
    pending = list(events)

    def send(elapsed_s):
        while pending and elapsed_s >= pending[0][0]:
            out.send_message(pending.pop(0)[1])
    return send


def test_midi_sets_the_vocal_level_smoothly_with_pickup_and_toggles_mute(
        harness, baseline, jack_server, tmp_path, midi_out):  # noqa: F811
    out, port = midi_out
    events = [(0.3, [0xB0, 7, 20]),     # far from unity: no pickup, no change
              (0.6, [0xB0, 7, 116]),    # crosses unity: picked up
              (0.9, [0xB0, 7, 64]),     # -27.1 dB
              (1.2, [0x90, 60, 100]),   # vocals muted
              (1.5, [0x90, 60, 100]),   # unmuted
              (1.55, [0xF0, 0x7D, 0x01, 0xF7]),  # sysex: ignored, counted
              (1.6, [0xB0, 7])]         # truncated: ignored, counted
    x = dc(2.0)
    _, rec, summary = run_through(harness, jack_server, tmp_path, "--model", "identity",
                                  "--schedule", "worker", "--mode", "mix", "--midi", port, "--safety-ms", "20", signal_=x,
                                  during=scheduled(out, events))
    d = summary["total_latency_samples"] + baseline
    y = aligned(rec[2:4], d, x.shape[1])[0]
    gain = y / 0.25
    from rtsep.live.midi import cc_to_gain

    level = {"start": gain[int(0.05 * RATE_HZ):int(0.25 * RATE_HZ)],
             "end": gain[int(1.75 * RATE_HZ):int(1.95 * RATE_HZ)]}
    assert np.allclose(level["start"], 1.0, atol=1e-5)
    assert np.allclose(level["end"], cc_to_gain(64), rtol=1e-4, atol=1e-6)
    # Every level the output held for 50 ms is one the map allows, in order.
    held = _plateaus(gain, int(0.05 * RATE_HZ))
    targets = [1.0, cc_to_gain(116), cc_to_gain(64), 0.0, cc_to_gain(64)]
    assert _matches_in_order(held, targets), f"levels held: {held}"
    # Smooth: a 20 ms ramp, never a jump (unsmoothed, 0.25 -> 0.011 in one sample).
    step = np.abs(np.diff(y[1000:])).max()
    assert step <= 0.25 / (0.020 * RATE_HZ) * 1.05, f"step {step}"
    midi = summary["midi"]
    assert midi["n_pickup_waits"] >= 1 and midi["n_applied"] >= 4
    assert midi["n_ignored"] >= 1


def test_midi_key_notes_transpose_the_band_live(harness, baseline, jack_server, tmp_path,  # noqa: F811
                                                midi_out):
    """Key up twice (note 67), then back (note 69), through a real JACK MIDI port: a
    220-Hz tone comes out a whole tone up in between, and at 220 Hz before and after."""
    out, port = midi_out
    events = [(0.6, [0x90, 67, 100]), (0.62, [0x90, 67, 100]), (1.4, [0x90, 69, 100])]
    t = np.arange(int(2.0 * RATE_HZ)) / RATE_HZ
    x = np.repeat((0.25 * np.sin(2 * np.pi * 220.0 * t))[None].astype(np.float32), 2, axis=0)
    x[:, :480] *= np.linspace(0, 1, 480, dtype=np.float32)
    _, rec, summary = run_through(harness, jack_server, tmp_path, "--model", "identity",
                                  "--schedule", "worker", "--mode", "mix", "--midi", port, "--vocals-key-semitones", "0",
                                  signal_=x, during=scheduled(out, events))
    assert summary["midi"]["key_move_semitones"] == 0 and summary["midi"]["n_applied"] == 3
    d = summary["total_latency_samples"] + baseline
    y = aligned(rec[2:4], d, x.shape[1])[0]

    def pitch(a: float, b: float) -> float:
        seg = y[int(a * RATE_HZ):int(b * RATE_HZ)]
        spectrum = np.abs(np.fft.rfft(seg * np.hanning(seg.size), 8 * seg.size))
        return float(np.fft.rfftfreq(8 * seg.size, 1 / RATE_HZ)[np.argmax(spectrum)])

    # The identity model sends everything to the vocals: a MIDI key move shifts both lanes.
    assert abs(pitch(0.2, 0.55) - 220.0) < 2.0
    assert abs(pitch(0.8, 1.3) - 220.0 * 2 ** (2 / 12)) < 2.0
    assert abs(pitch(1.6, 1.95) - 220.0) < 2.0


def _plateaus(gain: np.ndarray, min_len: int) -> list[float]:
    """Values the signal holds (within 1e-5) for at least min_len samples, in order."""
    out = []
    start = 0
    for i in range(1, len(gain) + 1):
        if i == len(gain) or abs(gain[i] - gain[start]) > 1e-5:
            if i - start >= min_len and (not out or abs(out[-1] - gain[start]) > 1e-4):
                out.append(float(gain[start]))
            start = i
    return out


def _matches_in_order(held: list[float], targets: list[float]) -> bool:
    return len(held) == len(targets) and all(abs(h - t) <= 1e-4 + 1e-4 * t for h, t in zip(held, targets))


def test_midi_learn_assigns_ccs_and_saves_the_map(harness, baseline, jack_server, tmp_path,  # noqa: F811
                                                   midi_out):
    out, port = midi_out
    map_path = tmp_path / "learned.json"
    events = [(0.2, [0xB0, 21, 0]), (0.3, [0xB0, 21, 4]), (0.4, [0xB0, 22, 9]),
              (0.6, [0xB0, 21, 115]), (0.8, [0xB0, 21, 1])]
    x = dc(1.3)
    _, rec, summary = run_through(harness, jack_server, tmp_path, "--model", "identity",
                                  "--schedule", "worker", "--mode", "mix", "--midi", port, "--midi-learn", "--midi-map",
                                  str(map_path), "--safety-ms", "20", signal_=x,
                                  during=scheduled(out, events))
    saved = json.loads(map_path.read_text())
    assert saved["cc"] == {"21": "vocals_level", "22": "instrumental_level", "14": "key", "15": "strength"}
    assert saved["notes"] == {"60": "vocals_mute", "62": "vocals_solo", "64": "bypass",
                              "65": "key_down", "67": "key_up", "69": "key_reset"}
    assert summary["midi"]["learned"] == {"21": "vocals_level", "22": "instrumental_level"}
    d = summary["total_latency_samples"] + baseline
    y = aligned(rec[2:4], d, x.shape[1])[0]
    assert np.allclose(y[-RATE_HZ // 10:] / 0.25, 1e-3, rtol=1e-3)  # CC 21 at 1 = -60 dB


# ---- file mode agrees with live ---------------------------------------------------------


@real_model_test
def test_separate_on_a_file_equals_the_live_output(harness, jack_server, tmp_path, real_model):  # noqa: F811
    """`rtsep separate` on exactly what the live engine heard gives what it played.

    The live run records its output from its first callback (--record, mode
    both); vocals + instrumental there is its input delayed by the total latency,
    so that input is known sample for sample, silence before the test signal
    included. `rtsep separate` on it must reproduce the live vocals and
    instrumental (its output is time-aligned with its input).
    """
    sf = pytest.importorskip("soundfile")
    try:
        import rtsep.commands.separate  # noqa: F401
    except ImportError:
        pytest.skip("rtsep separate is not in this build")
    played_path = tmp_path / "played.wav"
    _, _, summary = run_through(harness, jack_server, tmp_path, "--model", str(real_model),
                                "--backend", "onnx-cpu", "--mode", "both", "--safety-ms", "20",
                                "--record", str(played_path), n_outputs=4, seconds=1.0, seed=3)
    if summary["misses"]:
        pytest.skip(f"the live worker missed {summary['misses']} blocks on this machine; "
                    "its output is the fallback there, not the model's")
    played, _ = sf.read(played_path, dtype="float32", always_2d=True)
    live_vocals, live_instr = played[:, 0:2].T, played[:, 2:4].T
    d = summary["total_latency_samples"]
    heard = (live_vocals + live_instr)[:, d:]
    wav = tmp_path / "heard.wav"
    sf.write(wav, heard.T, RATE_HZ, subtype="FLOAT")
    result = subprocess.run([sys.executable, "-m", "rtsep", "separate", str(wav), "-o",
                             str(tmp_path / "sep"), "--model", str(real_model), "--backend",
                             "onnx-cpu", "--quiet"], cwd=ROOT, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr
    vocals_file = next((tmp_path / "sep").rglob("vocals.wav"))
    file_vocals, _ = sf.read(vocals_file, dtype="float32", always_2d=True)
    file_instr, _ = sf.read(vocals_file.with_name("instrumental.wav"), dtype="float32",
                            always_2d=True)
    n = heard.shape[1]
    assert np.abs(heard).max() > 0.1  # the test signal is in there
    np.testing.assert_allclose(file_vocals.T, live_vocals[:, d:d + n], atol=1e-4, rtol=0)
    np.testing.assert_allclose(file_instr.T, live_instr[:, d:d + n], atol=1e-4, rtol=0)


# ---- errors and devices ---------------------------------------------------------------


def run_cli(jack_server, *args, timeout=60):  # noqa: F811
    return subprocess.run([sys.executable, "-m", "rtsep", *args], cwd=ROOT, env=jack_server.env,
                          capture_output=True, text=True, timeout=timeout)


def test_devices_lists_the_jack_system_device(jack_server):  # noqa: F811
    result = run_cli(jack_server, "devices", "--json")
    assert result.returncode == 0, result.stderr
    audio = json.loads(result.stdout)["audio"]
    jack_devices = [d for d in audio if "JACK" in d["host_api"]]
    assert jack_devices and jack_devices[0]["name"] == "system"
    assert jack_devices[0]["n_input_channels"] == 6 and jack_devices[0]["n_output_channels"] == 4
    assert jack_devices[0]["default_samplerate_hz"] == RATE_HZ
    text = run_cli(jack_server, "devices")
    assert "system" in text.stdout and "JACK" in text.stdout


@pytest.mark.parametrize("args, message", [
    (["--input", "99"], "no audio device with index 99"),
    (["--input", "no-such-card"], "no input device matches 'no-such-card'"),
    (["--samplerate", "22050"], "sample rate 22050 Hz is not supported"),
    (["--samplerate", "44100"], "refuse 44100 Hz"),
    (["--input-channels", "9"], "channel 9 does not exist"),
    (["--output-channels", "1,2,3"], "takes 2 or 1 channel"),
    (["--model", "/nonexistent/model.onnx"], "model.onnx"),
    (["--midi", "no-such-port"], "no MIDI input port matches"),
    (["--worker-cpu", "nowhere"], "--worker-cpu: invalid choice"),
    (["--cpu-dma-latency", "soon"], "expected microseconds or 'off'"),
])
def test_bad_options_are_one_line_errors(jack_server, args, message):  # noqa: F811
    result = run_cli(jack_server, "monitor", "--model", "identity", "--duration", "1", *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("rtsep monitor: error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_duration_ends_the_run_with_a_summary(jack_server, tmp_path):  # noqa: F811
    summary_path = tmp_path / "s.json"
    result = run_cli(jack_server, "monitor", "--input", "system", "--model", "identity",
                     "--duration", "0.5", "--latency", "low", "--summary-json", str(summary_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["stopped_by"] == "duration" and summary["latency_mode"] == "low"
    assert summary["total_latency_samples"] < 511 + 128 + 144
    assert "latency" in result.stderr and "misses" in result.stderr
    if os.path.exists("/proc/stat"):  # the host's share of the CPU time during the run
        assert 0.0 <= summary["host_steal_share"] < 1.0


def test_server_going_away_ends_the_run_with_an_error(jack_server, tmp_path):  # noqa: F811
    """A JACK server that quits mid-run: summary, one-line error, exit 2, no hang.
    (Its own server; jack_server only makes it skip where JACK is missing.)"""
    from jack_harness import JackServer

    server = JackServer(tmp_path)
    server.start()
    try:
        monitor = Monitor(server, tmp_path, "--model", "identity", "--schedule", "worker",
                          "--duration", "20")
        time.sleep(0.5)
    finally:
        server.stop()
    try:
        rc = monitor.proc.wait(15)
    except subprocess.TimeoutExpired:
        monitor.proc.kill()
        raise AssertionError("rtsep monitor hung after the server quit")
    err = monitor.stderr()
    assert rc == 2, err
    assert "stopped by itself" in err.splitlines()[-1]
    assert json.loads(monitor.summary_path.read_text())["stopped_by"] == "device lost"


#: Above this share of CPU time taken by the hypervisor (steal) during a run, its
#: timing measures the host, not the engine (quiet VM here: about 0.05 %).
MAX_STEAL_SHARE = 0.01


def sixty_seconds(jack_server, tmp_path, *args):  # noqa: F811
    model = str(SHIPPED_MODEL) if SHIPPED_MODEL.exists() else "identity"
    before = cpu_steal_times()
    monitor = Monitor(jack_server, tmp_path, "--model", model, "--schedule", "worker",
                      "--mode", "instrumental", "--duration", "60", *args)
    summary = monitor.wait(timeout_s=120)
    share = steal_share(before, cpu_steal_times()) or 0.0
    print(f"60 s with {model} {' '.join(args)}: misses {summary['misses']}, xruns {summary['xruns']}, "
          f"worker load {summary['worker']['load']:.3f}, worst chunk "
          f"{summary['worker']['max_chunk_load']:.3f}, scheduling {summary['worker']['scheduling']}, "
          f"hypervisor steal {100 * share:.2f} % of CPU time")
    t = summary["timing"]
    print(f"  worker response max {t['max_response_ms']:.2f} ms (deadline {t['deadline_ms']:.2f} ms), "
          f"callback gap max {t['max_callback_gap_ms']:.2f} ms; misses with regular host timing "
          f"{t['n_misses_regular_host']} of {t['n_misses_recorded']} recorded")
    assert t["n_callbacks"] == summary["stats"]["n_callbacks"] > 0
    assert summary["worker"]["n_samples"] > 0
    if summary["backend"] == "native" and not set(args) & {"any", "follow"}:
        # By default the native worker shares one CPU with the callback's thread, bound once.
        assert "pinned with the callback's thread" in summary["worker"]["scheduling"]
        assert summary["worker"]["n_callback_pins"] >= 1
        assert summary["worker"]["n_cpu_moves"] >= 1
    if share > MAX_STEAL_SHARE:
        pytest.skip(f"the hypervisor took {100 * share:.1f} % of the CPU time during the run "
                    f"(steal; {summary['xruns']} JACK xruns): its misses measure the host, not rtsep")
    # Start-up (model load, stream start) is part of --duration: allow a few seconds.
    assert summary["stats"]["n_frames"] >= 55 * RATE_HZ
    return summary


#: Blocks in a 60-s run at 128 samples / 48 kHz.
N_BLOCKS_60S = 60 * RATE_HZ // 128


@pytest.mark.slow
def test_sixty_seconds_at_128_samples_with_the_default_realtime_worker(jack_server, tmp_path):  # noqa: F811
    """Default options (worker at SCHED_FIFO where allowed), idle machine, 60 s.

    The goal is zero misses, and it is what `rtsep bench` reports, with each miss told apart
    as the engine's (late worker, regular callbacks) or the host's (the JACK dummy server
    stalling and then running its cycles back to back). A test must not flake, so it asserts
    what a working engine always achieves here, also while the host is noisy: at most 0.1 %
    of blocks missed with regular callbacks and 0.5 % in all (a stalled or slow worker
    misses far more); the timing record is printed.
    """
    load_1min = os.getloadavg()[0]
    if load_1min > (os.cpu_count() or 1):
        pytest.skip(f"the machine is not idle (1-minute load {load_1min:.1f} on {os.cpu_count()} "
                    "CPUs); misses here measure the other processes")
    summary = sixty_seconds(jack_server, tmp_path)
    # The engine's own misses (worker late while the callbacks kept their rhythm). Misses
    # in host stalls are printed, not asserted: on a shared VM the host sometimes stalls
    # the whole guest for tens of ms, hundreds of times a minute (JACK counts xruns), and
    # no engine can be on time through that.
    assert summary["timing"]["n_misses_regular_host"] <= N_BLOCKS_60S // 1000, summary["timing"]
    assert summary["misses"] <= N_BLOCKS_60S // 200, summary["misses"]


@pytest.mark.slow
def test_sixty_seconds_with_a_normal_priority_worker(jack_server, tmp_path):  # noqa: F811
    """--realtime-priority 0: a busy machine may cost a few blocks, never a steady stream."""
    summary = sixty_seconds(jack_server, tmp_path, "--realtime-priority", "0")
    assert summary["worker"]["scheduling"].startswith("normal")
    assert summary["misses"] <= N_BLOCKS_60S // 200, summary["misses"]


@pytest.mark.skipif(not NATIVE_MODEL.is_file(), reason="needs the shipped native model")
def test_strength_live_keeps_the_delay_and_the_sum(harness, baseline, jack_server, tmp_path):  # noqa: F811
    """--strength through the live path: the mix at 0 dB is still the input itself at the
    reported latency, and the instrumental keeps less of the input than without it."""
    common = ("--model", str(NATIVE_MODEL), "--backend", "native", "--schedule", "inline")
    x, mixed, summary = run_through(harness, jack_server, tmp_path, *common, "--mode", "mix",
                                    "--strength", "3")
    assert summary["strength"] == 3.0
    total = summary["total_latency_samples"]
    n = x.shape[1]
    np.testing.assert_allclose(aligned(mixed[2:4], total + baseline, n), x, atol=1e-4, rtol=0)
    _, plain, plain_summary = run_through(harness, jack_server, tmp_path, *common, "--mode", "instrumental")
    _, strong, _ = run_through(harness, jack_server, tmp_path, *common, "--mode", "instrumental",
                               "--strength", "3")
    assert plain_summary["total_latency_samples"] == total
    p = aligned(plain[2:4], total + baseline, n)
    s = aligned(strong[2:4], total + baseline, n)
    assert np.sum(s.astype(np.float64) ** 2) < 0.98 * np.sum(p.astype(np.float64) ** 2)
