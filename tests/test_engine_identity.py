"""The block processor without a learned model: identity, fixed and random masks
through the whole machinery (the one hop loop every host runs).

An identity mask must return the input delayed by exactly ``latency_samples`` for
any host block size; for any mask, vocals + instrumental must equal the delayed
input. Also: the engine's step-by-step API, the GIL is released during long native
calls, and the test-only DelayProcessor and the Mixer behave.
"""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from block_support import processor, run_blocks
from rtsep import _core
from rtsep.config import StftGeometry
from rtsep.dsp import HopEngine, Mixer

MODES = ("default", "low")
BLOCK_PATTERNS = {
    "1": [1], "37": [37], "64": [64], "65": [65], "128": [128], "441": [441], "8193": [8193],
    "cycle": [1, 37, 64, 65, 128, 441, 8193],
    "random": [int(n) for n in np.random.default_rng(11).integers(1, 3000, size=40)],
}
TOLERANCE = 1e-5


def _noise(n_channels: int, n_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal((n_channels, n_samples))).astype(np.float32)


def _delayed(x: np.ndarray, n_delay: int) -> np.ndarray:
    out = np.zeros_like(x)
    out[:, n_delay:] = x[:, :x.shape[1] - n_delay]
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pattern", BLOCK_PATTERNS.values(), ids=BLOCK_PATTERNS.keys())
def test_identity_mask_is_a_pure_delay(mode: str, pattern: list[int]) -> None:
    geometry = StftGeometry(latency_mode=mode)
    proc = processor(geometry, max_block_samples=8193)
    n_samples = 6000 if pattern == [1] else 30000
    x = _noise(2, n_samples, seed=1)
    vocals, instrumental = run_blocks(proc, x, pattern)
    assert proc.latency_samples == geometry.latency_samples
    assert np.max(np.abs(vocals - _delayed(x, proc.latency_samples))) <= TOLERANCE
    assert np.max(np.abs(instrumental)) <= TOLERANCE
    assert proc.n_frames_processed == n_samples // geometry.hop_samples


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pattern", [BLOCK_PATTERNS["cycle"], BLOCK_PATTERNS["random"]],
                         ids=["cycle", "random"])
def test_vocals_plus_instrumental_is_the_delayed_input(mode, pattern) -> None:
    geometry = StftGeometry(latency_mode=mode)
    rng = np.random.default_rng(5)

    def random_mask(frame: np.ndarray) -> np.ndarray:
        assert frame.shape == (2, geometry.n_bins) and frame.dtype == np.complex64
        return rng.uniform(0.0, 1.0, frame.shape).astype(np.float32)

    proc = processor(geometry, random_mask, max_block_samples=8193)
    x = _noise(2, 30000, seed=2)
    vocals, instrumental = run_blocks(proc, x, pattern)
    delayed = _delayed(x, proc.latency_samples)
    assert np.max(np.abs(vocals + instrumental - delayed)) <= TOLERANCE
    assert np.max(np.abs(vocals - delayed)) > 0.05, "a random mask must change the vocals"


@pytest.mark.parametrize("mode", MODES)
def test_complex_masks_keep_vocals_plus_instrumental_the_delayed_input(mode) -> None:
    """The engine's complex-mask step (no model uses it yet), driven hop by hop."""
    geometry = StftGeometry(latency_mode=mode)
    engine = HopEngine(geometry, n_channels=2, max_block_samples=256)
    rng = np.random.default_rng(5)
    x = _noise(2, 256 * 60, seed=2)
    vocals, instrumental = np.empty_like(x), np.empty_like(x)
    for pos in range(0, x.shape[1], 256):
        engine.push_input(x[:, pos:pos + 256])
        for _ in range(engine.frames_ready()):
            engine.analyze()
            engine.synthesize((rng.uniform(0.0, 1.0, (2, engine.n_bins))
                               * np.exp(1j * rng.uniform(-np.pi, np.pi, (2, engine.n_bins))))
                              .astype(np.complex64))
        engine.pull(vocals[:, pos:pos + 256], instrumental[:, pos:pos + 256])
    delayed = _delayed(x, engine.latency_samples)
    assert np.max(np.abs(vocals + instrumental - delayed)) <= TOLERANCE
    assert np.max(np.abs(vocals - delayed)) > 0.05


@pytest.mark.parametrize("geometry", [StftGeometry(512, 128, "default"),
                                      StftGeometry(2048, 512, "low"),
                                      StftGeometry(1024, 200, "default")], ids=repr)
@pytest.mark.parametrize("block_samples", [1, 65, 441, 4096])
def test_other_geometries_fixed_masks_and_block_sizes(geometry, block_samples) -> None:
    """Identity: a pure delay. A fixed mask stepped natively gives the same numbers as
    the same mask from a Python model (the GIL-taking path ONNX Runtime uses)."""
    x = _noise(2, 20000, seed=3)
    vocals, instrumental = run_blocks(processor(geometry, max_block_samples=4096), x,
                                      [block_samples])
    assert np.max(np.abs(vocals - _delayed(x, geometry.latency_samples))) <= TOLERANCE
    assert np.max(np.abs(instrumental)) <= TOLERANCE
    mask = np.random.default_rng(4).uniform(0, 1, (2, geometry.n_bins)).astype(np.float32)
    native = run_blocks(processor(geometry, mask, max_block_samples=4096), x, [block_samples])
    python = run_blocks(processor(geometry, lambda frame: mask, max_block_samples=4096), x,
                        [block_samples])
    np.testing.assert_array_equal(native[0], python[0])
    np.testing.assert_array_equal(native[1], python[1])
    assert np.max(np.abs(native[0] + native[1] - _delayed(x, geometry.latency_samples))) <= TOLERANCE


def test_latency_budget_at_48khz() -> None:
    assert HopEngine(StftGeometry(latency_mode="default")).latency_samples / 48.0 <= 12.0
    assert HopEngine(StftGeometry(latency_mode="low")).latency_samples / 48.0 <= 6.0


def test_flush_returns_the_tail_and_reset_restarts() -> None:
    proc = processor(StftGeometry(), max_block_samples=1024)
    x = _noise(2, 5000, seed=6)
    head = run_blocks(proc, x, [1024])
    tail = run_blocks(proc, np.zeros((2, proc.latency_samples), np.float32), [1024])
    assert tail[0].shape == (2, proc.latency_samples)
    vocals = np.concatenate([head[0], tail[0]], axis=1)[:, proc.latency_samples:]
    assert np.max(np.abs(vocals - x)) <= TOLERANCE
    proc.reset()
    assert proc.n_frames_processed == 0
    again = run_blocks(proc, x, [1024])
    np.testing.assert_array_equal(again[0], head[0])
    assert "HopEngine(" in repr(HopEngine()) and "latency_samples=510" in repr(HopEngine())


def test_step_by_step_api_and_zero_copy_frame_view() -> None:
    engine = HopEngine(StftGeometry(), n_channels=2, max_block_samples=512)
    frame = engine.frame
    assert frame.shape == (2, engine.n_bins) and frame.dtype == np.complex64
    assert not frame.flags.writeable
    x = _noise(2, 512, seed=7)
    engine.push_input(x)
    assert engine.frames_ready() == 2
    analyzed = engine.analyze()
    assert analyzed is frame  # the same preallocated buffer every time
    expected = np.fft.rfft(engine.geometry.analysis_window() * np.concatenate(
        [np.zeros((2, 768)), x[:, :256]], axis=1))
    assert np.max(np.abs(frame - expected)) <= 1e-5 * np.max(np.abs(expected))
    engine.synthesize(None)
    engine.analyze()
    engine.synthesize(np.ones((2, engine.n_bins), dtype=np.float32))
    vocals = np.empty((2, 512), dtype=np.float32)
    instrumental = np.empty((2, 512), dtype=np.float32)
    engine.pull(vocals, instrumental)
    assert np.max(np.abs(vocals - _delayed(x, engine.latency_samples))) <= TOLERANCE


def test_frame_view_keeps_the_engine_alive() -> None:
    core = HopEngine(StftGeometry())._core
    view = core.frame
    del core
    assert view.base is not None
    assert np.all(view == 0)  # still readable: the view owns a reference to the engine


def test_long_native_call_releases_the_gil() -> None:
    geometry = StftGeometry(4096, 64, "default")
    proc = processor(geometry, n_channels=1, max_block_samples=500_000)
    # Size the call to last about 0.3 s on this machine.
    probe = _noise(1, 50_000, seed=8)
    t0 = time.perf_counter()
    run_blocks(proc, probe, [probe.shape[1]])
    seconds_per_sample = (time.perf_counter() - t0) / probe.shape[1]
    x = _noise(1, int(min(500_000, max(100_000, 0.3 / seconds_per_sample))), seed=8)
    out_a, out_b = np.empty_like(x), np.empty_like(x)
    stamps: list[float] = []  # when the other thread ran, sampled every 256 iterations
    running = threading.Event()
    stop = threading.Event()

    def count() -> None:
        running.set()
        n = 0
        while not stop.is_set():
            n += 1
            if n % 256 == 0:
                stamps.append(time.perf_counter())

    thread = threading.Thread(target=count)
    thread.start()
    running.wait()
    try:
        t0 = time.perf_counter()
        proc.process(x, out_a, out_b)  # one native call: the block processor's hop loop
        t1 = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    # Only progress well inside the call counts: with the GIL held the other thread
    # cannot run there at all (it catches up right after the call returns).
    margin = 0.2 * (t1 - t0)
    inside = sum(t0 + margin < t < t1 - margin for t in stamps)
    assert inside >= 10, f"the other thread ran {inside} times inside a {t1 - t0:.2f} s call"


def test_delay_processor_is_a_pure_delay_for_any_blocks() -> None:
    delay = _core._internal.DelayProcessor(2, 300)
    x = _noise(2, 20000, seed=9)
    pos, out = 0, []
    for size in itertools.cycle(BLOCK_PATTERNS["cycle"]):
        if pos >= x.shape[1]:
            break
        out.append(delay.process(x[:, pos:pos + size]))
        pos += size
    np.testing.assert_array_equal(np.concatenate(out, axis=1), _delayed(x, 300))
    assert delay.latency_samples == 300


def test_mixer_ramps_gains_and_mutes() -> None:
    mixer = Mixer(2, 48000, ramp_ms=20.0)
    assert mixer.ramp_samples == 960
    vocals = np.ones((2, 2000), dtype=np.float32)
    instrumental = np.full((2, 2000), 0.25, dtype=np.float32)
    np.testing.assert_array_equal(mixer.process(vocals, instrumental), 1.25)
    mixer.vocals_gain = 0.0
    out = mixer.process(vocals, instrumental)
    assert np.all(np.diff(out[0]) <= 0), "a gain change ramps, never jumps"
    assert 1.24 < out[0, 0] < 1.25 and out[0, 959] == 0.25 and out[1, 1999] == 0.25
    mixer.instrumental_muted = True
    out = mixer.process(vocals, instrumental)
    assert out[0, 0] > 0 and out[0, 1999] == 0.0
    with pytest.raises(ValueError, match="finite"):
        mixer.vocals_gain = float("nan")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block", [1, 64, 257])
def test_python_latency_equals_the_engines_and_the_measured_impulse_delay(mode, block) -> None:
    """Three independent numbers agree: the Python geometry's latency (from its
    windows), the C++ engine's, and where an impulse comes out."""
    geometry = StftGeometry(latency_mode=mode)
    proc = processor(geometry, max_block_samples=8193)
    x = np.zeros((2, 3000), dtype=np.float32)
    x[:, 1234] = 1.0
    vocals, _ = run_blocks(proc, x, [block])
    measured = int(np.argmax(np.abs(vocals[0]))) - 1234
    assert abs(vocals[0, 1234 + measured] - 1.0) < 1e-4
    assert geometry.latency_samples == proc.latency_samples == measured
