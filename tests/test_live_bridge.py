"""LiveBridge (the native device callback) driven block by block, without a device.

A test "worker" runs the bridge's block processor (identity runner) between
callbacks, or is held back to play a late worker. The controls are the
processor's parameters: a change acts on the processor's output, so it reaches
the device margin_samples after the callback before which it was made. Signals
are made in code.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from rtsep import _core
from rtsep.engine import IdentityRunner, Separator

RATE_HZ = 48000
SAFETY = 144
RAMP = 48


def signal(n: int, seed: int = 0, amplitude: float = 0.4) -> np.ndarray:
    """Interleaved stereo float32 (n, 2): two tones plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    x = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 331 * t + 0.5)], axis=1)
    x += 0.05 * rng.standard_normal((n, 2))
    return (amplitude * x / np.abs(x).max()).astype(np.float32)


def max_step(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=0)).max())


class Rig:
    """A bridge over an identity processor, its worker's steps, and a loop that plays
    device callbacks."""

    def __init__(self, mode="vocals", block=128, n_dev_in=2, n_dev_out=2, input_channels=(0, 1),
                 output_channels=None, input_ring_frames=4 * RATE_HZ, record=False, **kwargs):
        self.separator = Separator(IdentityRunner(), max_block_samples=4096)
        if output_channels is None:
            output_channels = [0, 1, 2, 3] if mode == "both" else [0, 1]
        self.bridge = _core.LiveBridge(
            self.separator.block, n_dev_in, n_dev_out, list(input_channels), list(output_channels),
            mode, block + SAFETY, RAMP,
            input_ring_frames=input_ring_frames, record_ring_frames=RATE_HZ * 4 if record else 0,
            **kwargs)
        self.block = block
        self.n_dev_out = n_dev_out
        self._in = np.zeros((2, 4096), np.float32)
        self._a = np.zeros((2, 4096), np.float32)
        self._b = np.zeros((2, 4096), np.float32)

    @property
    def delay(self) -> int:
        return self.bridge.total_latency_samples

    def work(self) -> None:
        """What the worker thread does on a wake-up."""
        while True:
            n = self.bridge.pop_input(self._in)
            if n == 0:
                return
            self.bridge.processor.process(self._in[:, :n], self._a[:, :n], self._b[:, :n])
            assert self.bridge.push_output(self._a[:, :n], self._b[:, :n]) == n

    def run(self, x: np.ndarray, late_blocks=(), before_block=None) -> np.ndarray:
        """Feed interleaved x (n, n_dev_in) in blocks; returns the device output (n, n_dev_out)."""
        out = np.zeros((len(x), self.n_dev_out), np.float32)
        for k, start in enumerate(range(0, len(x), self.block)):
            stop = min(start + self.block, len(x))
            if before_block is not None:
                before_block(k, self.bridge.parameters)
            self.bridge.process(np.ascontiguousarray(x[start:stop]), out[start:stop])
            if k not in late_blocks:
                self.work()
        return out


def delayed(x: np.ndarray, d: int) -> np.ndarray:
    y = np.zeros_like(x)
    y[d:] = x[:len(x) - d]
    return y


@pytest.mark.parametrize("block", [1, 64, 65, 128, 1000, 3000])
def test_identity_output_is_the_input_delayed_by_total_latency(block):
    rig = Rig(mode="vocals", block=block)
    x = signal(24000)
    out = rig.run(x)
    assert rig.delay == rig.separator.latency_samples + block + SAFETY
    np.testing.assert_allclose(out, delayed(x, rig.delay), atol=1e-6, rtol=0)
    stats = rig.bridge.stats()
    assert stats["n_missed_blocks"] == 0 and stats["n_fallback_frames"] == 0
    assert stats["n_frames"] == len(x)


def test_both_mode_pairs_sum_to_the_delayed_input_and_instrumental_is_silent():
    rig = Rig(mode="both", n_dev_out=4)
    x = signal(20000)
    out = rig.run(x)
    ref = delayed(x, rig.delay)
    np.testing.assert_allclose(out[:, 0:2], ref, atol=1e-6, rtol=0)
    assert np.abs(out[:, 2:4]).max() < 1e-6
    np.testing.assert_allclose(out[:, 0:2] + out[:, 2:4], ref, atol=1e-6, rtol=0)


def test_late_worker_falls_back_counts_misses_and_keeps_the_delay():
    rig = Rig(mode="both", n_dev_out=4)
    x = signal(48000)
    late = set(range(100, 140))  # the worker sleeps through 40 blocks (107 ms)
    out = rig.run(x, late_blocks=late)
    ref = delayed(x, rig.delay)
    stats = rig.bridge.stats()
    assert stats["n_miss_events"] == 1
    assert 35 <= stats["n_missed_blocks"] <= 45
    # Every frame played from the fallback was made up by discarding one late frame.
    assert stats["n_skipped_frames"] == stats["n_fallback_frames"] > 30 * 128
    # The pairs always sum to the delayed input: no gap, no click, no drift.
    np.testing.assert_allclose(out[:, 0:2] + out[:, 2:4], ref, atol=1e-6, rtol=0)
    # Vocals are the worker's output again after the stall, at the same delay.
    wrong = np.flatnonzero(np.abs(out[:, 0:2] - ref).max(axis=1) > 1e-6)
    assert wrong.size > 0
    assert wrong[0] >= 100 * 128 - RAMP and wrong[-1] < 160 * 128
    np.testing.assert_allclose(out[wrong[-1] + 1:, 0:2], ref[wrong[-1] + 1:], atol=1e-6, rtol=0)
    # The cross-fades are ramps: no step beyond the signal's own plus amplitude / ramp.
    bound = max_step(ref) + np.abs(x).max() / RAMP + 1e-6
    assert max_step(out) <= bound


def test_fallback_is_the_dry_input_at_the_same_delay():
    """Instrumental of the identity is silence; during a stall the dry input plays."""
    rig = Rig(mode="instrumental")
    x = signal(48000)
    out = rig.run(x, late_blocks=set(range(100, 140)))
    ref = delayed(x, rig.delay)
    fallback = np.abs(out).max(axis=1) > 1e-4
    span = np.flatnonzero(fallback)
    assert span.size > 30 * 128
    inner = slice(span[0] + RAMP + 1, span[-1] - RAMP - 1)
    np.testing.assert_allclose(out[inner], ref[inner], atol=1e-6, rtol=0)
    assert np.abs(out[span[-1] + 1:]).max() < 1e-6
    assert max_step(out) <= max_step(ref) + np.abs(x).max() / RAMP + 1e-6


def test_input_ring_overflow_keeps_the_frame_count_and_the_delay():
    rig = Rig(mode="vocals", input_ring_frames=2048)
    x = signal(48000)
    out = rig.run(x, late_blocks=set(range(50, 120)))  # 70 blocks > the input ring
    stats = rig.bridge.stats()
    assert stats["n_input_dropped_frames"] > 0
    ref = delayed(x, rig.delay)
    # Fallback = dry = processed for the identity: exact everywhere, drop or not,
    # except the spot where zeros stood in for the dropped input.
    tail = 140 * 128 + rig.delay + 1024
    np.testing.assert_allclose(out[tail:], ref[tail:], atol=1e-6, rtol=0)
    assert rig.bridge.on_worker_output


def test_gain_changes_are_ramped():
    rig = Rig(mode="mix")
    x = np.full((24000, 2), 0.5, np.float32)
    x[:480] *= np.linspace(0, 1, 480, dtype=np.float32)[:, None]

    def control(k, params):
        if k == 60:
            params.vocals_gain_db = -20.0
        if k == 120:
            params.vocals_muted = True

    out = rig.run(x, before_block=control)
    ramp = round(0.020 * RATE_HZ)  # BlockProcessor.kRampMs
    assert max_step(out) <= max_step(x) + 0.5 / ramp * 1.01 + 1e-6
    assert max_step(out[rig.delay + 480:]) <= 0.5 / ramp * 1.01 + 1e-6  # a 0.45 jump without the ramp
    assert abs(out[110 * 128, 0] - 0.05) < 1e-6
    assert np.abs(out[-100:]).max() < 1e-6  # muted vocals; the instrumental is ~0


def test_bypass_crossfades_to_the_dry_input():
    rig = Rig(mode="instrumental")
    x = signal(30000)

    def control(k, params):
        params.bypass = k >= 80

    out = rig.run(x, before_block=control)
    ref = delayed(x, rig.delay)
    on = 80 * 128 + rig.bridge.margin_samples
    assert np.abs(out[:on]).max() < 1e-6
    ramp = round(0.020 * RATE_HZ)
    np.testing.assert_allclose(out[on + ramp:], ref[on + ramp:], atol=1e-6, rtol=0)
    assert rig.bridge.stats()["n_missed_blocks"] == 0


def test_bypass_and_gain_ramps_are_linear_over_exactly_their_stated_lengths():
    """Bypass and gain ramps (20 ms each, as every face), measured on a constant input: the
    identity's instrumental is 0, the dry input 0.5, so the output is the ramp."""
    x = np.full((40000, 2), 0.5, np.float32)
    bypass_ramp, gain_ramp = round(0.020 * RATE_HZ), round(0.020 * RATE_HZ)
    j = np.arange(bypass_ramp + 300)

    rig = Rig(mode="instrumental")
    m = rig.bridge.margin_samples
    out = rig.run(x, before_block=lambda k, params: setattr(params, "bypass", 100 <= k < 200))
    share = np.minimum((j + 1) / bypass_ramp, 1.0)  # of the dry input
    # (the ramps add a float32 step per sample: a few 1e-6 of rounding)
    np.testing.assert_allclose(out[100 * 128 + m + j, 0], 0.5 * share, atol=2e-5, rtol=0)
    np.testing.assert_allclose(out[200 * 128 + m + j, 0], 0.5 * (1.0 - share), atol=2e-5, rtol=0)
    assert max_step(out) <= 0.5 / bypass_ramp + 5e-6

    rig = Rig(mode="mix")  # vocals = the input: the output is 0.5 * vocals gain
    out = rig.run(x, before_block=lambda k, params: (
        setattr(params, "vocals_gain_db", -20.0) if k == 100 else None))
    j = np.arange(gain_ramp + 300)
    gain = 1.0 - 0.9 * np.minimum((j + 1) / gain_ramp, 1.0)
    np.testing.assert_allclose(out[100 * 128 + m + j, 0], 0.5 * gain, atol=2e-5, rtol=0)
    assert max_step(out[rig.delay + 1:]) <= 0.45 / gain_ramp + 1e-6


def test_fallback_fades_are_linear_over_exactly_the_fallback_ramp():
    x = np.full((48000, 2), 0.5, np.float32)
    rig = Rig(mode="instrumental")  # worker output 0, fallback (dry) 0.5
    out = rig.run(x, late_blocks=set(range(100, 110)))[:, 0]
    inside = np.flatnonzero((out > 1e-6) & (out < 0.5 - 1e-6))
    runs = np.split(inside, np.flatnonzero(np.diff(inside) > 1) + 1)
    assert len(runs) == 2, [(r[0], len(r)) for r in runs]
    down, up = runs
    # Out: the last RAMP worker frames fade, gain (RAMP - m) / (RAMP + 1); in: m / RAMP.
    assert len(down) == RAMP and out[down[-1] + 1] == pytest.approx(0.5, abs=1e-6)
    assert len(up) == RAMP - 1 and abs(out[up[-1] + 1]) < 1e-6
    np.testing.assert_allclose(np.diff(out[down[0] - 1: down[-1] + 2]), 0.5 / (RAMP + 1), atol=1e-6)
    np.testing.assert_allclose(np.diff(out[up[0] - 1: up[-1] + 2]), -0.5 / RAMP, atol=1e-6)


def test_routing_downmix_mono_input_and_record():
    x = signal(12000)
    mono_in = np.ascontiguousarray(np.stack([x[:, 0], 9 * x[:, 1], x[:, 1]], axis=1))
    rig = Rig(mode="vocals", n_dev_in=3, n_dev_out=4, input_channels=(2,), output_channels=(3, 1),
              record=True)
    out = rig.run(mono_in)
    ref = delayed(x[:, 1], rig.delay)
    np.testing.assert_allclose(out[:, 3], ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out[:, 1], ref, atol=1e-6, rtol=0)
    assert np.abs(out[:, [0, 2]]).max() == 0.0
    rec = np.zeros((2, 20000), np.float32)
    n = rig.bridge.pop_record(rec)
    assert n == len(x)
    np.testing.assert_array_equal(rec[:, :n].T, out[:, [3, 1]])

    down = Rig(mode="both", n_dev_out=3, output_channels=(2, 0))
    out = down.run(x)
    np.testing.assert_allclose(out[:, 2], delayed(0.5 * (x[:, 0] + x[:, 1]), down.delay), atol=1e-6)
    assert np.abs(out[:, 0]).max() < 1e-6 and np.abs(out[:, 1]).max() == 0.0


def test_meters_nonfinite_input_and_xrun_flags():
    rig = Rig(mode="vocals")
    x = signal(4096)
    x[1000, 0] = np.nan
    x[1001, 1] = np.inf
    out = np.zeros_like(x)
    rig.bridge.process(x[:2048], out[:2048], 0x2 | 0x4)
    rig.bridge.process(x[2048:], out[2048:], 0)
    stats = rig.bridge.stats()
    assert stats["n_nonfinite_input"] == 2
    assert stats["n_xrun_callbacks"] == 1
    assert stats["n_input_overflow"] == 1 and stats["n_output_underflow"] == 1
    assert np.isfinite(out).all()
    assert abs(rig.bridge.take_input_peak() - np.nanmax(np.abs(np.where(np.isfinite(x), x, 0)))) < 1e-7
    assert rig.bridge.take_input_peak() == 0.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_channels=[2]), "input channel 3 does not exist"),
    (dict(input_channels=[0, 1, 1]), r"1 \(mono\) or 2"),
    (dict(output_channels=[0, 0]), "used twice"),
    (dict(output_channels=[0, 1, 2]), "output_channels needs 2"),
    (dict(margin_samples=10), "margin_samples must be >= fallback_ramp_samples"),
    (dict(mode="karaoke"), "unknown mode"),
])
def test_bad_configuration_is_a_clear_value_error(kwargs, message):
    args = dict(processor=Separator(IdentityRunner()).block, n_device_input_channels=2,
                n_device_output_channels=2, input_channels=[0, 1], output_channels=[0, 1],
                mode="vocals", margin_samples=272)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        _core.LiveBridge(**args)


def test_buffers_are_checked():
    rig = Rig()
    with pytest.raises(TypeError, match="float32"):
        rig.bridge.process(np.zeros((128, 2)), np.zeros((128, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(n_frames, 2\)"):
        rig.bridge.process(np.zeros((128, 3), np.float32), np.zeros((128, 2), np.float32))
    with pytest.raises(ValueError, match="same number of frames"):
        rig.bridge.process(np.zeros((128, 2), np.float32), np.zeros((127, 2), np.float32))
    with pytest.raises(ValueError, match="same number of frames"):
        rig.bridge.push_output(np.zeros((2, 10), np.float32), np.zeros((2, 11), np.float32))
    assert rig.bridge.wait_for_input(0.001) is False


# The native callbacks, called the way PortAudio calls them.
PA_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong,
                               ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p)


def call_native(address: int, user_data: int, inp, out: np.ndarray, flags: int = 0) -> int:
    return PA_CALLBACK(address)(None if inp is None else inp.ctypes.data, out.ctypes.data,
                                len(out), None, flags, user_data)


def test_native_live_callback_is_the_bridge():
    rig = Rig(mode="vocals")
    x = signal(8192)
    out = np.zeros_like(x)
    callback = _core.live_callback_address()
    for start in range(0, len(x), 128):
        block_in = np.ascontiguousarray(x[start:start + 128])
        block_out = np.zeros_like(block_in)
        assert call_native(callback, rig.bridge.address, block_in, block_out) == 0  # paContinue
        out[start:start + 128] = block_out
        rig.work()
    np.testing.assert_allclose(out, delayed(x, rig.delay), atol=1e-6, rtol=0)
    assert rig.bridge.stats()["n_callbacks"] == len(x) // 128


def test_play_record_instrument_plays_and_records_in_step():
    play = np.arange(2 * 300, dtype=np.float32).reshape(2, 300)
    pr = _core._internal.PlayRecord(3, 2, play, 3, 400)
    callback = _core._internal.play_record_callback_address()
    inp = np.arange(3 * 128, dtype=np.float32).reshape(128, 3) + 1000
    out = np.zeros((128, 2), np.float32)
    call_native(callback, pr.address, inp, out)
    assert pr.n_recorded == 0 and not out.any()  # not armed: silence, nothing recorded
    pr.arm()
    played = []
    for k in range(4):
        call_native(callback, pr.address, inp + 1000 * k, out, flags=0x4 if k == 2 else 0)
        played.append(out.copy())
    assert pr.done and pr.n_recorded == 400
    np.testing.assert_array_equal(np.concatenate(played)[:300].T, play)
    assert not np.concatenate(played)[300:].any()
    rec = pr.recording()
    assert rec.shape == (3, 400)
    np.testing.assert_array_equal(rec[:, :128], inp.T)
    np.testing.assert_array_equal(rec[:, 256:384], (inp + 2000).T)
    assert pr.xrun_positions() == [256]
