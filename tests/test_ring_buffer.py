"""RingBuffer: behaviour against a plain deque model, and two threads moving 1e7 samples."""

from __future__ import annotations

import collections
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtsep import _core

OPS = ("push_planar", "push_interleaved", "pop_planar", "pop_interleaved")


@settings(max_examples=150, deadline=None)
@given(
    n_channels=st.integers(1, 3),
    capacity_frames=st.integers(1, 40),
    ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 50)), max_size=60),
)
def test_matches_deque_model(n_channels: int, capacity_frames: int, ops) -> None:
    ring = _core.RingBuffer(n_channels, capacity_frames)
    model: collections.deque = collections.deque()  # one tuple per frame
    overflow = underflow = 0
    next_value = 0.0
    for op, n in ops:
        if op.startswith("push"):
            block = next_value + np.arange(n_channels * n, dtype=np.float32).reshape(n_channels, n)
            next_value += n_channels * n
            arg = block if op == "push_planar" else np.ascontiguousarray(block.T)
            moved = getattr(ring, op)(arg)
            n_fit = min(n, capacity_frames - len(model))
            assert moved == n_fit
            model.extend(tuple(block[:, i]) for i in range(n_fit))
            overflow += n - n_fit
        else:
            shape = (n_channels, n) if op == "pop_planar" else (n, n_channels)
            out = np.full(shape, -1.0, dtype=np.float32)
            moved = getattr(ring, op)(out)
            n_have = min(n, len(model))
            assert moved == n_have
            planar = out if op == "pop_planar" else out.T
            for i in range(n_have):
                assert tuple(planar[:, i]) == model.popleft()
            assert np.all(planar[:, n_have:] == -1.0), "a short pop must not touch the rest"
            underflow += n - n_have
        assert ring.available_read() == len(model)
        assert ring.available_write() == capacity_frames - len(model)
    assert ring.overflow_frames == overflow
    assert ring.underflow_frames == underflow


def test_row_strided_views_are_used_without_copy() -> None:
    ring = _core.RingBuffer(2, 100)
    wide = np.arange(2 * 50, dtype=np.float32).reshape(2, 50)
    assert ring.push_planar(wide[:, 10:30]) == 20
    out = np.zeros((2, 60), dtype=np.float32)
    assert ring.pop_planar(out[:, 5:25]) == 20
    np.testing.assert_array_equal(out[:, 5:25], wide[:, 10:30])
    assert np.all(out[:, :5] == 0) and np.all(out[:, 25:] == 0)


def test_reset_empties_and_zeroes_counters() -> None:
    ring = _core.RingBuffer(1, 8)
    ring.push_planar(np.ones((1, 12), dtype=np.float32))
    ring.pop_planar(np.zeros((1, 10), dtype=np.float32))
    assert ring.overflow_frames == 4 and ring.underflow_frames == 2
    ring.reset()
    assert ring.available_read() == 0 and ring.available_write() == 8
    assert ring.overflow_frames == 0 and ring.underflow_frames == 0
    assert repr(ring) == "RingBuffer(n_channels=1, capacity_frames=8)"


def test_native_producer_consumer_threads_move_1e7_samples() -> None:
    n_frames = 5_000_000  # x 2 channels = 1e7 samples
    result = _core._internal.ring_stress(n_frames, n_channels=2, capacity_frames=4096,
                                         max_block_frames=1024, seed=7)
    assert result["n_pushed_frames"] == n_frames
    assert result["n_popped_frames"] == n_frames
    assert result["n_mismatches"] == 0
    assert result["overflow_frames"] == result["expected_overflow_frames"]
    assert result["underflow_frames"] == result["expected_underflow_frames"]


def test_python_threads_move_1e7_samples_with_the_gil_released() -> None:
    n_channels, n_frames, block = 2, 5_000_000, 4096
    ring = _core.RingBuffer(n_channels, 16384)
    # Counter signal, exact in float32 (< 2**24): sample t of channel c is t + c.
    source = np.arange(n_frames, dtype=np.float32)[None, :] + np.arange(n_channels,
                                                                         dtype=np.float32)[:, None]
    sink = np.full_like(source, -1.0)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            pos = 0
            while pos < n_frames:
                pos += ring.push_planar(source[:, pos:pos + block])
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    def consume() -> None:
        try:
            pos = 0
            while pos < n_frames:
                pos += ring.pop_planar(sink[:, pos:min(pos + block, n_frames)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "producer/consumer did not finish"
    assert not errors, errors
    np.testing.assert_array_equal(sink, source)


@pytest.mark.parametrize("bad", [0, -3])
def test_rejects_non_positive_sizes(bad: int) -> None:
    with pytest.raises(ValueError, match="capacity_frames must be >= 1"):
        _core.RingBuffer(2, bad)
    with pytest.raises(ValueError, match="n_channels must be >= 1"):
        _core.RingBuffer(bad, 16)
