"""Bad input to the core: a clear one-line error or a documented behaviour, never a crash.

Documented choices (see rtsep/dsp.py and csrc/bindings/module.cpp):
* non-float32 audio (or non-complex64 frames) -> TypeError naming the dtype, no conversion;
* wrong ndim / channel count / length -> ValueError with the expected and actual shape;
* rows that are not contiguous -> ValueError suggesting np.ascontiguousarray (row slices
  such as x[:, a:b] are fine);
* read-only output arrays -> ValueError;
* zero-length blocks -> accepted, nothing happens, zero-length results;
* NaN/Inf input samples -> replaced by 0 and counted; NaN/Inf mask values -> 0, counted.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rtsep import _core
from rtsep.config import StftGeometry
from block_support import processor, run_blocks
from rtsep.dsp import HopEngine, StreamingIstft, StreamingStft

GEOMETRY = StftGeometry()
N_BINS = GEOMETRY.n_bins


def _audio(n_channels: int = 2, n_samples: int = 300) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n_channels, n_samples)).astype(np.float32)


def _entry_points():
    """(name, callable taking one planar float32 (2, n) array) for every audio input."""
    engine = HopEngine(GEOMETRY, n_channels=2, max_block_samples=4096)
    proc = processor(GEOMETRY, max_block_samples=4096)
    ring = _core.RingBuffer(2, 4096)
    stft = StreamingStft(GEOMETRY, n_channels=2)
    mixer = _core.Mixer(2, 48000)
    delay = _core._internal.DelayProcessor(2, 10)
    ok = _audio()
    return [
        ("BlockProcessor.process", lambda x: proc.process(x, np.empty(x.shape, np.float32),
                                                          np.empty(x.shape, np.float32))),
        ("HopEngine.push_input", lambda x: engine.push_input(x)),
        ("RingBuffer.push_planar", lambda x: ring.push_planar(x)),
        ("RingBuffer.pop_planar", lambda x: ring.pop_planar(x)),
        ("StreamingStft.process", lambda x: stft.process(x)),
        ("Mixer.process vocals", lambda x: mixer.process(x, ok[:, :x.shape[-1]])),
        ("DelayProcessor.process", lambda x: delay.process(x)),
    ]


ENTRY_IDS = [name for name, _ in _entry_points()]


@pytest.mark.parametrize("index", range(len(ENTRY_IDS)), ids=ENTRY_IDS)
def test_wrong_dtype_is_a_type_error(index: int) -> None:
    _, call = _entry_points()[index]
    with pytest.raises(TypeError, match=r"float32, got float64 \(convert with"):
        call(_audio().astype(np.float64))
    with pytest.raises(TypeError, match="int16"):
        call(_audio().astype(np.int16))


@pytest.mark.parametrize("index", range(len(ENTRY_IDS)), ids=ENTRY_IDS)
def test_wrong_shape_and_channels_are_value_errors(index: int) -> None:
    _, call = _entry_points()[index]
    with pytest.raises(ValueError, match=r"n_channels.*got shape \(3, 300\)"):
        call(_audio(3))
    with pytest.raises(ValueError, match=r"2-D.*got shape \(300,\)"):
        call(_audio(1)[0])


@pytest.mark.parametrize("index", range(len(ENTRY_IDS)), ids=ENTRY_IDS)
def test_non_contiguous_rows_are_value_errors(index: int) -> None:
    _, call = _entry_points()[index]
    with pytest.raises(ValueError, match="np.ascontiguousarray"):
        call(_audio(2, 600)[:, ::2])
    with pytest.raises(ValueError, match="np.ascontiguousarray"):
        call(np.asfortranarray(_audio()))  # e.g. an interleaved (n, 2) buffer transposed


@pytest.mark.parametrize("index", range(len(ENTRY_IDS)), ids=ENTRY_IDS)
def test_zero_length_blocks_are_accepted(index: int) -> None:
    _, call = _entry_points()[index]
    call(np.zeros((2, 0), dtype=np.float32))


def test_not_an_array_is_a_type_error() -> None:
    engine = HopEngine(GEOMETRY)
    out = np.empty((2, 10), np.float32)
    with pytest.raises(TypeError, match="numpy array"):
        processor(GEOMETRY).process([[0.0] * 10, [0.0] * 10], out, out)
    with pytest.raises(TypeError, match="numpy array"):
        engine._core.push_input([[0.0] * 10, [0.0] * 10])


def test_zero_length_results_have_the_right_shape() -> None:
    proc = processor(GEOMETRY)
    vocals, instrumental = run_blocks(proc, np.zeros((2, 0), dtype=np.float32))
    assert vocals.shape == instrumental.shape == (2, 0)
    assert StreamingStft(GEOMETRY).process(np.zeros((2, 0), np.float32)).shape == (0, 2, N_BINS)
    assert StreamingIstft(GEOMETRY).process(np.zeros((0, 2, N_BINS), np.complex64)).shape == (2, 0)
    assert proc.n_frames_processed == 0


def test_nonfinite_input_is_replaced_and_counted() -> None:
    engine = processor(GEOMETRY, max_block_samples=4096)
    x = np.zeros((2, 4096), dtype=np.float32)
    x[0, 100] = np.nan
    x[1, 2000] = np.inf
    x[0, 3000] = -np.inf
    vocals, instrumental = run_blocks(engine, x)
    assert np.all(np.isfinite(vocals)) and np.all(np.isfinite(instrumental))
    assert np.max(np.abs(vocals)) == 0.0  # the bad samples became exact zeros
    assert engine.n_nonfinite_replaced == 3
    stft = StreamingStft(GEOMETRY)
    assert np.all(np.isfinite(stft.process(x)))
    assert stft.n_nonfinite_replaced == 3


def test_nonfinite_mask_values_count_as_zero() -> None:
    mask = np.ones((2, N_BINS), dtype=np.float32)
    mask[1, 7] = np.nan
    engine = processor(GEOMETRY, lambda frame: mask, max_block_samples=4096)
    x = _audio(2, 256)
    vocals, _ = run_blocks(engine, x)
    assert np.all(np.isfinite(vocals))
    assert engine.n_nonfinite_replaced == 1


def test_bad_masks() -> None:
    engine = HopEngine(GEOMETRY, n_channels=2, max_block_samples=4096)
    engine.push_input(_audio(2, 256))
    engine.analyze()
    with pytest.raises(TypeError, match="float32 .*or complex64"):
        engine.synthesize(np.ones((2, N_BINS)))
    with pytest.raises(ValueError, match=r"\(n_channels, n_bins\) = \(2, 513\), got shape \(2, 512\)"):
        engine.synthesize(np.ones((2, 512), dtype=np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        engine.synthesize(1.0)
    engine.synthesize(np.ones((2, N_BINS), dtype=np.complex64))  # the frame is still pending


def test_misuse_of_the_step_api_is_a_clear_runtime_error() -> None:
    engine = HopEngine(GEOMETRY, n_channels=2, max_block_samples=512)
    with pytest.raises(RuntimeError, match="no frame ready"):
        engine.analyze()
    with pytest.raises(RuntimeError, match="no frame pending"):
        engine.synthesize(None)
    with pytest.raises(ValueError, match="exceeds max_block_samples=512"):
        engine.push_input(_audio(2, 513))
    engine.push_input(_audio(2, 512))
    with pytest.raises(RuntimeError, match="do not fit"):
        engine.push_input(_audio(2, 512))
    engine.analyze()
    with pytest.raises(RuntimeError, match="has not been synthesised"):
        engine.analyze()
    engine.synthesize(None)
    out = np.empty((2, 600), dtype=np.float32)
    with pytest.raises(RuntimeError, match="asked for 600 samples, 511 available"):
        engine.pull(out, out.copy())  # hop - 1 primed zeros + one hop
    engine.analyze()
    engine.synthesize(None)
    readonly = np.empty((2, 10), dtype=np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        engine.pull(readonly, np.empty((2, 10), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(2, 10\)"):
        engine.pull(np.empty((2, 10), np.float32), np.empty((2, 11), np.float32))
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        engine.frame[0, 0] = 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_fft=1000), "power of two"),
    (dict(n_fft=8), "power of two"),
    (dict(hop_samples=0), "hop_samples must be >= 1"),
    (dict(hop_samples=2048), r"hop_samples must be in \[1, n_fft"),
    (dict(n_channels=0), "n_channels must be >= 1"),
    (dict(max_block_samples=-5), "max_block_samples must be >= 1"),
    (dict(analysis_window=np.ones(512, np.float32)), r"analysis_window must have shape \(n_fft,\)"),
    (dict(synthesis_window=np.zeros(1024, np.float32)), "all zeros"),
    (dict(synthesis_window=np.r_[np.zeros(1000), np.ones(24)].astype(np.float32)),
     "shorter than the hop"),
])
def test_bad_construction_is_a_value_error(kwargs: dict, match: str) -> None:
    args = dict(n_fft=1024, hop_samples=256, analysis_window=GEOMETRY.analysis_window(),
                synthesis_window=GEOMETRY.synthesis_window(), n_channels=2,
                max_block_samples=1024)
    args.update(kwargs)
    if "n_fft" in kwargs and "analysis_window" not in kwargs:
        args["analysis_window"] = np.ones(args["n_fft"], np.float32)
        args["synthesis_window"] = np.ones(args["n_fft"], np.float32)
    with pytest.raises(ValueError, match=match):
        _core.HopEngine(**args)


def test_bad_frames_for_the_istft() -> None:
    istft = StreamingIstft(GEOMETRY, n_channels=2)
    with pytest.raises(TypeError, match="complex64, got complex128"):
        istft.process(np.zeros((3, 2, N_BINS), np.complex128))
    with pytest.raises(ValueError, match=r"\(n_frames, n_channels, n_bins\)"):
        istft.process(np.zeros((3, 1, N_BINS), np.complex64))
    with pytest.raises(ValueError, match="C-contiguous"):
        istft.process(np.zeros((3, 2, 2 * N_BINS), np.complex64)[:, :, ::2])


def test_interleaved_ring_input_must_be_c_contiguous() -> None:
    ring = _core.RingBuffer(2, 64)
    with pytest.raises(ValueError, match=r"\(n_frames, n_channels\)"):
        ring.push_interleaved(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        ring.push_interleaved(np.zeros((2, 10), np.float32).T)
    with pytest.raises(ValueError, match="read-only"):
        readonly = np.zeros((10, 2), np.float32)
        readonly.flags.writeable = False
        ring.pop_interleaved(readonly)


def test_friendly_import_error_when_the_core_is_missing() -> None:
    code = ("import sys; sys.modules['rtsep._core'] = None\n"
            "try:\n    import rtsep.dsp\nexcept ImportError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert "pip install --no-build-isolation -e ." in result.stdout


def test_nan_masks_never_reach_the_output() -> None:
    """Many hops, so that the masked frames' output (after latency_samples) is
    checked too: every other mask all NaN, the rest with NaN and inf bins."""
    x = _audio(2, 8192)
    n_calls = 0

    def mask_of(frame):
        nonlocal n_calls
        n_calls += 1
        mask = np.full((2, N_BINS), 0.5, dtype=np.float32)
        if n_calls % 2:
            mask[:] = np.nan
        else:
            mask[0, 3], mask[1, 100], mask[1, 200] = np.nan, np.inf, -np.inf
        return mask

    engine = processor(GEOMETRY, mask_of, max_block_samples=8192)
    vocals, instrumental = run_blocks(engine, x)
    assert n_calls == 8192 // GEOMETRY.hop_samples
    assert np.all(np.isfinite(vocals)) and np.all(np.isfinite(instrumental))
    lat = GEOMETRY.latency_samples
    assert np.abs(vocals[:, lat:]).max() > 1e-3  # the finite bins still pass
    np.testing.assert_allclose(vocals[:, lat:] + instrumental[:, lat:], x[:, :-lat], atol=1e-5)
    assert engine.n_nonfinite_replaced == (n_calls // 2) * 2 * N_BINS + (n_calls // 2) * 3


def test_constant_mask_model_refuses_bad_masks() -> None:
    with pytest.raises(ValueError, match="n_bins must be >= 1"):
        _core.ConstantMaskModel(0)
    with pytest.raises(ValueError, match=r"mask must be a C-contiguous float32 array of shape \(2, 513\)"):
        _core.ConstantMaskModel(N_BINS, np.ones((2, 512), np.float32))
    with pytest.raises(ValueError, match="float32"):
        _core.ConstantMaskModel(N_BINS, np.ones((2, N_BINS)))
    with pytest.raises(TypeError, match="numpy array"):
        _core.ConstantMaskModel(N_BINS, 1.0)
    assert _core.ConstantMaskModel(N_BINS).n_bins == N_BINS
