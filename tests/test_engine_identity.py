"""HopEngine without a model: identity and random masks through the whole machinery.

An identity mask must return the input delayed by exactly ``latency_samples`` for
any host block size; for any mask, vocals + instrumental must equal the delayed
input. Also: the GIL is released during long native calls, and the test-only
DelayProcessor and the Mixer behave.
"""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

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


def _run_blocks(engine: HopEngine, x: np.ndarray, pattern: list[int],
                mask_fn=None) -> tuple[np.ndarray, np.ndarray]:
    vocals, instrumental, pos = [], [], 0
    for size in itertools.cycle(pattern):
        if pos >= x.shape[1]:
            break
        v, i = engine.process(x[:, pos:pos + size], mask_fn)
        assert v.shape == i.shape == (x.shape[0], min(size, x.shape[1] - pos))
        vocals.append(v)
        instrumental.append(i)
        pos += size
    return np.concatenate(vocals, axis=1), np.concatenate(instrumental, axis=1)


def _delayed(x: np.ndarray, n_delay: int) -> np.ndarray:
    out = np.zeros_like(x)
    out[:, n_delay:] = x[:, :x.shape[1] - n_delay]
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pattern", BLOCK_PATTERNS.values(), ids=BLOCK_PATTERNS.keys())
def test_identity_mask_is_a_pure_delay(mode: str, pattern: list[int]) -> None:
    geometry = StftGeometry(latency_mode=mode)
    engine = HopEngine(geometry, n_channels=2, max_block_samples=8193)
    n_samples = 6000 if pattern == [1] else 30000
    x = _noise(2, n_samples, seed=1)
    ones = _core._internal.identity_mask(2, engine.n_bins)
    vocals, instrumental = _run_blocks(engine, x, pattern, lambda frame: ones)
    assert engine.latency_samples == geometry.latency_samples
    assert np.max(np.abs(vocals - _delayed(x, engine.latency_samples))) <= TOLERANCE
    assert np.max(np.abs(instrumental)) <= TOLERANCE
    assert engine.n_frames_processed == n_samples // geometry.hop_samples


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pattern", [BLOCK_PATTERNS["cycle"], BLOCK_PATTERNS["random"]],
                         ids=["cycle", "random"])
@pytest.mark.parametrize("mask_dtype", [np.float32, np.complex64])
def test_vocals_plus_instrumental_is_the_delayed_input(mode, pattern, mask_dtype) -> None:
    engine = HopEngine(StftGeometry(latency_mode=mode), n_channels=2, max_block_samples=8193)
    rng = np.random.default_rng(5)

    def random_mask(frame: np.ndarray) -> np.ndarray:
        assert frame.shape == (2, engine.n_bins) and frame.dtype == np.complex64
        mask = rng.uniform(0.0, 1.0, frame.shape)
        if mask_dtype is np.complex64:
            mask = mask * np.exp(1j * rng.uniform(-np.pi, np.pi, frame.shape))
        return mask.astype(mask_dtype)

    x = _noise(2, 30000, seed=2)
    vocals, instrumental = _run_blocks(engine, x, pattern, random_mask)
    delayed = _delayed(x, engine.latency_samples)
    assert np.max(np.abs(vocals + instrumental - delayed)) <= TOLERANCE
    assert np.max(np.abs(vocals - delayed)) > 0.05, "a random mask must change the vocals"


@pytest.mark.parametrize("geometry", [StftGeometry(512, 128, "default"),
                                      StftGeometry(2048, 512, "low"),
                                      StftGeometry(1024, 200, "default")], ids=repr)
@pytest.mark.parametrize("block_samples", [1, 65, 441, 4096])
def test_native_block_loop_matches_and_is_exact(geometry, block_samples) -> None:
    engine = HopEngine(geometry, n_channels=2, max_block_samples=4096)
    x = _noise(2, 20000, seed=3)
    vocals, instrumental = engine._core.process_fixed_mask(x, None, block_samples)
    assert np.max(np.abs(vocals - _delayed(x, geometry.latency_samples))) <= TOLERANCE
    assert np.max(np.abs(instrumental)) <= TOLERANCE
    # Same numbers as the per-frame Python path with a fixed mask.
    mask = np.random.default_rng(4).uniform(0, 1, (2, engine.n_bins)).astype(np.float32)
    engine.reset()
    native = engine._core.process_fixed_mask(x, mask, block_samples)
    engine.reset()
    python = _run_blocks(engine, x, [block_samples], lambda frame: mask)
    np.testing.assert_array_equal(native[0], python[0])
    np.testing.assert_array_equal(native[1], python[1])


def test_latency_budget_at_48khz() -> None:
    assert HopEngine(StftGeometry(latency_mode="default")).latency_samples / 48.0 <= 12.0
    assert HopEngine(StftGeometry(latency_mode="low")).latency_samples / 48.0 <= 6.0


def test_flush_returns_the_tail_and_reset_restarts() -> None:
    engine = HopEngine(StftGeometry(), n_channels=2, max_block_samples=1024)
    x = _noise(2, 5000, seed=6)
    head = engine.process(x)
    tail = engine.flush()
    assert tail[0].shape == (2, engine.latency_samples)
    vocals = np.concatenate([head[0], tail[0]], axis=1)[:, engine.latency_samples:]
    assert np.max(np.abs(vocals - x)) <= TOLERANCE
    engine.reset()
    assert engine.n_frames_processed == 0
    again = engine.process(x)
    np.testing.assert_array_equal(again[0], head[0])
    assert "latency_samples=510" in repr(engine)


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
    engine = HopEngine(geometry, n_channels=1, max_block_samples=8192)
    # Size the call to last about 0.3 s on this machine.
    probe = _noise(1, 50_000, seed=8)
    t0 = time.perf_counter()
    engine._core.process_fixed_mask(probe)
    seconds_per_sample = (time.perf_counter() - t0) / probe.shape[1]
    x = _noise(1, int(min(8_000_000, max(100_000, 0.3 / seconds_per_sample))), seed=8)
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
        engine._core.process_fixed_mask(x)
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
    engine = HopEngine(geometry, n_channels=2, max_block_samples=8193)
    x = np.zeros((2, 3000), dtype=np.float32)
    x[:, 1234] = 1.0
    ones = _core._internal.identity_mask(2, engine.n_bins)
    vocals, _ = _run_blocks(engine, x, [block], lambda frame: ones)
    measured = int(np.argmax(np.abs(vocals[0]))) - 1234
    assert abs(vocals[0, 1234 + measured] - 1.0) < 1e-4
    assert geometry.latency_samples == engine.latency_samples == measured
