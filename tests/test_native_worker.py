"""The native backend (rtsep._core.NativeModel) and the native live worker thread.

The worker is driven through a real LiveBridge by test "callbacks" (no device):
its output must equal the offline engine on the same runner, delayed by the
bridge's margin, and a stalled worker must make the bridge fall back and catch
up without changing the delay. The bridge's timing record is checked here too.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from rtsep import _core
from rtsep.engine import IdentityRunner, Separator, block_processor, default_model_path
from rtsep.runtime.errors import ModelFileError
from rtsep.runtime import load

RATE_HZ = 48000
BLOCK = 128
MARGIN = BLOCK + 192
RAMP = 48

SHIPPED = default_model_path()
NATIVE = SHIPPED.with_suffix(".rtsepw")
needs_native_model = pytest.mark.skipif(not NATIVE.is_file(), reason=f"{NATIVE} not shipped")


def music(n: int, seed: int = 0) -> np.ndarray:
    """Planar stereo float32 (2, n): a few tones, a sweep and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    x = np.stack([np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * (300 + 400 * t) * t),
                  np.sin(2 * np.pi * 331 * t + 0.5) + 0.3 * np.sin(2 * np.pi * 1250 * t)])
    x += 0.1 * rng.standard_normal((2, n))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@needs_native_model
def test_native_runner_matches_onnx_runtime_step_by_step():
    native = load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ)
    onnx = load(SHIPPED, backend="onnx-cpu", sample_rate_hz=RATE_HZ)
    assert native.backend == "native" and native.path == NATIVE
    assert native.latency_samples == onnx.latency_samples
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(300):
        frame = (rng.standard_normal((2, 513)) + 1j * rng.standard_normal((2, 513))).astype(np.complex64)
        worst = max(worst, float(np.abs(native.step(frame) - onnx.step(frame)).max()))
    assert worst <= 1e-4, worst
    with pytest.raises(ValueError, match="complex64"):
        native.step(np.zeros((2, 513), np.float32))


@needs_native_model
def test_a_native_file_loads_directly_and_rtsep_info_reads_it(capsys):
    from rtsep.cli import main

    runner = load(NATIVE, sample_rate_hz=44100, latency_mode="low")
    assert runner.backend == "native" and runner.latency_samples == 287
    assert main(["info", str(NATIVE)]) == 0
    assert "native" in capsys.readouterr().out


@needs_native_model
@pytest.mark.parametrize("damage", ["flip", "truncate", "magic"])
def test_a_damaged_native_file_is_one_clear_error(tmp_path, damage):
    data = bytearray(NATIVE.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data[:4] = b"XXXX"
    bad = tmp_path / "bad.rtsepw"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as err:
        load(bad, backend="native")
    assert "bad.rtsepw" in str(err.value) and "\n" not in str(err.value)


def make_bridge(processor, mode: str = "vocals"):
    """A worker-mode bridge over ``processor`` (a stereo BlockProcessor)."""
    outputs = [0, 1, 2, 3] if mode == "both" else [0, 1]
    return _core.LiveBridge(processor, 2, len(outputs), [0, 1], outputs, mode, MARGIN, RAMP)


def wait_for(predicate, timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.0005)


def play(bridge, worker, x: np.ndarray, n_out: int, wait=lambda k: True) -> np.ndarray:
    """Device callbacks over planar x; after callback k, wait for the worker if wait(k)."""
    out = np.zeros((x.shape[1], n_out), np.float32)
    fed = 0
    for k, start in enumerate(range(0, x.shape[1], BLOCK)):
        stop = min(start + BLOCK, x.shape[1])
        bridge.process(np.ascontiguousarray(x[:, start:stop].T), out[start:stop])
        fed += stop - start
        if wait(k):
            wait_for(lambda: worker.stats()["n_samples"] >= fed)
    return out.T


@needs_native_model
def test_native_worker_output_equals_the_offline_engine_delayed_by_the_margin():
    runner = load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ)
    bridge = make_bridge(Separator(runner, max_block_samples=4096).block, "both")
    worker = _core.LiveWorker(bridge)
    assert worker.latency_samples == runner.latency_samples
    worker.warm_up(4096, BLOCK)
    worker.start(0)
    try:
        assert worker.running and worker.scheduling == "normal"
        x = music(RATE_HZ)
        out = play(bridge, worker, x, 4)
    finally:
        worker.stop()
    assert not worker.running
    assert bridge.stats()["n_missed_blocks"] == 0
    reference = load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ)
    vocals, instrumental = Separator(reference).process(x)  # delayed by the engine latency
    n = x.shape[1] - MARGIN
    np.testing.assert_allclose(out[0:2, MARGIN:], vocals[:, :n], atol=1e-6, rtol=0)
    np.testing.assert_allclose(out[2:4, MARGIN:], instrumental[:, :n], atol=1e-6, rtol=0)
    assert np.abs(out[0:2]).max() > 1e-3  # the model really ran
    stats = worker.stats()
    assert stats["n_samples"] == x.shape[1] and stats["n_frames"] >= x.shape[1] // 256
    timing = bridge.timing()
    assert timing["n_responses"] == timing["n_callbacks"] == -(-x.shape[1] // BLOCK)
    assert timing["misses"] == []


needs_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux thread affinity and two CPUs")


def warm_worker():
    """A 'both'-mode bridge and a warmed-up native worker on the shipped model (not started)."""
    runner = load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ)
    bridge = make_bridge(Separator(runner, max_block_samples=4096).block, "both")
    worker = _core.LiveWorker(bridge)
    worker.warm_up(4096, BLOCK)
    return bridge, worker


@needs_native_model
@needs_two_cpus
def test_native_worker_follows_the_callbacks_cpu():
    bridge, worker = warm_worker()
    assert bridge.callback_cpu == -1
    cpus = sorted(os.sched_getaffinity(0))[:2]
    x = music(RATE_HZ)
    half = (x.shape[1] // 2) // BLOCK * BLOCK
    out = np.zeros((x.shape[1], 4), np.float32)
    seen = []

    def callbacks():  # the "device" thread: first half on one CPU, second half on another
        for start in range(0, x.shape[1], BLOCK):
            if start in (0, half):
                if start:
                    seen.append(bridge.callback_cpu)
                os.sched_setaffinity(0, {cpus[start // half]})  # this thread only
            stop = min(start + BLOCK, x.shape[1])
            bridge.process(np.ascontiguousarray(x[:, start:stop].T), out[start:stop])
            wait_for(lambda: worker.stats()["n_samples"] >= stop)
        seen.append(bridge.callback_cpu)

    worker.start(0, True)
    try:
        t = threading.Thread(target=callbacks)
        t.start()
        t.join()
    finally:
        worker.stop()
    assert seen == cpus
    assert worker.stats()["n_cpu_moves"] == 2  # onto the first CPU, then onto the second
    # Moving between CPUs changes nothing in the output.
    out = out.T
    vocals, _ = Separator(load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ)).process(x)
    n = x.shape[1] - MARGIN
    np.testing.assert_allclose(out[0:2, MARGIN:], vocals[:, :n], atol=1e-6, rtol=0)


@needs_native_model
@needs_two_cpus
def test_pinned_worker_binds_the_callback_thread_and_frees_it_at_stop():
    bridge, worker = warm_worker()
    everywhere = os.sched_getaffinity(0)
    x = music(RATE_HZ)[:, :48000]
    out = np.zeros((x.shape[1], 4), np.float32)
    seen = {}
    after_stop = threading.Event()

    def callbacks():
        seen["tid"] = threading.get_native_id()
        for start in range(0, x.shape[1], BLOCK):
            stop = min(start + BLOCK, x.shape[1])
            bridge.process(np.ascontiguousarray(x[:, start:stop].T), out[start:stop])
            wait_for(lambda: worker.stats()["n_samples"] >= stop)
        seen["cpu"] = bridge.callback_cpu
        seen["affinity"] = os.sched_getaffinity(0)
        after_stop.wait(10)
        seen["affinity_after_stop"] = os.sched_getaffinity(0)

    worker.start(0, True, True)
    t = threading.Thread(target=callbacks)
    try:
        t.start()
        wait_for(lambda: "affinity" in seen, timeout_s=30)
    finally:
        worker.stop()
        after_stop.set()
        t.join()
    assert bridge.callback_tid == seen["tid"]
    assert worker.stats()["n_callback_pins"] == 1
    assert seen["affinity"] == {seen["cpu"]}  # the callback thread stayed where it was bound
    assert seen["affinity_after_stop"] == everywhere
    assert worker.stats()["n_cpu_moves"] == 1
    vocals, _ = Separator(load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ)).process(x)
    n = x.shape[1] - MARGIN
    np.testing.assert_allclose(out.T[0:2, MARGIN:], vocals[:, :n], atol=1e-6, rtol=0)


@needs_native_model
def test_stalled_native_worker_falls_back_then_catches_up_at_the_same_delay():
    runner = load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ)
    bridge = make_bridge(Separator(runner, max_block_samples=4096).block, "both")
    worker = _core.LiveWorker(bridge)
    worker.start(0)
    x = music(2 * RATE_HZ, seed=3)
    stall_at, n_stalled = 100, 60  # callbacks played while the worker sleeps

    def wait(k):
        if k == stall_at:
            worker.stall(0.2)
        return not stall_at <= k < stall_at + n_stalled

    try:
        out = play(bridge, worker, x, 4, wait)
    finally:
        worker.stop()
    stats = bridge.stats()
    assert stats["n_missed_blocks"] >= n_stalled - 4 and stats["n_miss_events"] >= 1
    vocals, instrumental = out[0:2], out[2:4]
    dry = np.zeros_like(x)
    dry[:, bridge.total_latency_samples:] = x[:, :x.shape[1] - bridge.total_latency_samples]
    # The pairs always sum to the delayed input: no gap, no jump, no drift.
    np.testing.assert_allclose(vocals + instrumental, dry, atol=1e-5, rtol=0)
    # After the catch-up the worker's output is back, at the unchanged delay.
    reference = Separator(load(SHIPPED, backend="native", sample_rate_hz=RATE_HZ))
    ref_vocals, _ = reference.process(x)
    tail = slice(x.shape[1] - RATE_HZ // 2, x.shape[1])
    shifted = np.zeros_like(ref_vocals)
    shifted[:, MARGIN:] = ref_vocals[:, :x.shape[1] - MARGIN]
    np.testing.assert_allclose(vocals[:, tail], shifted[:, tail], atol=1e-6, rtol=0)
    misses = bridge.timing()["misses"]
    assert misses and misses[0]["callback"] >= stall_at


def test_native_worker_refuses_what_it_cannot_serve():
    if not NATIVE.is_file():
        pytest.skip(f"{NATIVE} not shipped")
    block = Separator(load(NATIVE, sample_rate_hz=RATE_HZ), max_block_samples=4096).block
    with pytest.raises(ValueError, match="runs its processor inline"):
        _core.LiveWorker(inline_bridge(block))
    mono = block_processor(load(NATIVE, sample_rate_hz=RATE_HZ), max_block_samples=4096, n_channels=1)
    with pytest.raises(ValueError, match="must be stereo"):
        make_bridge(mono)
    with pytest.raises(ValueError, match="latency mode"):
        _core.NativeModel(str(NATIVE)).latency_samples("nope")


def inline_bridge(block, mode: str = "both"):
    outputs = [0, 1, 2, 3] if mode == "both" else [0, 1]
    return _core.LiveBridge(block, 2, len(outputs), [0, 1], outputs, mode, 0, inline=True)


@needs_native_model
@pytest.mark.parametrize("latency_mode", ["default", "low"])
def test_inline_bridge_runs_the_model_in_the_callback_at_the_engine_latency(latency_mode):
    runner = load(NATIVE, sample_rate_hz=RATE_HZ, latency_mode=latency_mode)
    bridge = inline_bridge(Separator(runner, max_block_samples=4096).block)
    assert bridge.is_inline and bridge.total_latency_samples == runner.latency_samples
    x = music(RATE_HZ, seed=2)
    out = np.zeros((x.shape[1], 4), np.float32)
    start, k = 0, 0
    while start < x.shape[1]:  # odd block sizes: no hop alignment
        stop = min(start + 100 + (k % 3) * 37, x.shape[1])
        bridge.process(np.ascontiguousarray(x[:, start:stop].T), out[start:stop])
        start, k = stop, k + 1
    reference = Separator(load(NATIVE, sample_rate_hz=RATE_HZ, latency_mode=latency_mode))
    vocals, instrumental = reference.process(x)  # delayed by the engine latency alone
    np.testing.assert_allclose(out.T[0:2], vocals, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out.T[2:4], instrumental, atol=1e-6, rtol=0)
    assert np.abs(out[:, 0:2]).max() > 1e-3
    stats, timing = bridge.stats(), bridge.timing()
    assert stats["n_missed_blocks"] == 0 and stats["n_fallback_frames"] == 0
    assert timing["n_responses"] == timing["n_callbacks"] > 0  # each callback's duration


def test_inline_refuses_a_model_that_runs_python():
    block = Separator(IdentityRunner(), max_block_samples=4096).block
    with pytest.raises(ValueError, match="cannot run in the audio callback"):
        inline_bridge(block)


def test_the_worker_runs_a_python_runner_and_stops_with_its_error():
    class Failing(IdentityRunner):
        n = 0

        def step(self, frame):
            self.n += 1
            if self.n > 40:
                raise RuntimeError("model exploded")
            return super().step(frame)

    separator = Separator(Failing(), max_block_samples=4096)
    bridge = make_bridge(separator.block)
    worker = _core.LiveWorker(bridge)
    worker.start(0)
    try:
        x = music(RATE_HZ // 2, seed=4)
        out = np.zeros((x.shape[1], 2), np.float32)
        for start in range(0, x.shape[1], BLOCK):
            bridge.process(np.ascontiguousarray(x[:, start:start + BLOCK].T), out[start:start + BLOCK])
            time.sleep(0.001)
        wait_for(lambda: not worker.running)
    finally:
        worker.stop()
    assert "model exploded" in worker.error
    assert worker.stats()["n_frames"] == 40  # what ran before the failure was counted


def test_bridge_timing_counts_responses_and_records_each_miss():
    separator = Separator(IdentityRunner(), max_block_samples=4096)
    bridge = make_bridge(separator.block)
    buf = [np.zeros((2, 4096), np.float32) for _ in range(3)]
    x = music(200 * BLOCK, seed=5)
    out = np.zeros((x.shape[1], 2), np.float32)
    late = set(range(50, 56))
    for k in range(200):
        s = slice(k * BLOCK, (k + 1) * BLOCK)
        bridge.process(np.ascontiguousarray(x[:, s].T), out[s])
        if k in late:
            continue
        while (n := bridge.pop_input(buf[0])) > 0:
            bridge.processor.process(buf[0][:, :n], buf[1][:, :n], buf[2][:, :n])
            bridge.push_output(buf[1][:, :n], buf[2][:, :n])
    t = bridge.timing()
    assert t["n_callbacks"] == 200 and t["n_responses"] == 200 and t["n_response_dropped"] == 0
    assert sum(t["response_histogram"]) == 200 and sum(t["callback_gap_histogram"]) == 199
    assert len(t["response_histogram"]) == len(t["callback_gap_histogram"]) == 128
    assert t["max_response_ms"] >= 0 and t["max_callback_gap_ms"] >= 0
    stats = bridge.stats()
    assert len(t["misses"]) == stats["n_miss_events"] >= 1
    first = t["misses"][0]
    assert min(late) <= first["callback"] <= max(late) + 2 and first["n_frames"] == BLOCK
    assert first["available_frames"] < BLOCK + RAMP and first["t_s"] >= 0 and first["gap_ms"] >= 0
