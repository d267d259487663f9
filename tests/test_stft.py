"""Real FFT, streaming STFT and streaming iSTFT against independent numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from rtsep import _core
from rtsep.config import StftGeometry
from rtsep.dsp import StreamingIstft, StreamingStft

FFT_SIZES = [2 ** k for k in range(4, 14)]  # 16 .. 8192
GEOMETRIES = [StftGeometry(1024, 256, "default"), StftGeometry(1024, 256, "low"),
              StftGeometry(512, 128, "default"), StftGeometry(2048, 512, "low")]


def _noise(n_channels: int, n_samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal((n_channels, n_samples))).astype(np.float32)


def _rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def _block_sizes(n_samples: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes, total = [], 0
    while total < n_samples:
        size = int(min(rng.choice([1, 37, 64, 65, 128, 441, 1000]), n_samples - total))
        sizes.append(size)
        total += size
    return sizes


@pytest.mark.parametrize("kernel", ["portable", "avx2"])
@pytest.mark.parametrize("n_fft", FFT_SIZES)
def test_fft_matches_numpy(n_fft: int, kernel: str) -> None:
    if kernel == "avx2" and not _core.RealFft.avx2_supported(n_fft):
        pytest.skip("the avx2 kernel needs an x86-64 CPU with AVX2 and FMA, and n_fft >= 128")
    fft = _core.RealFft(n_fft, kernel=kernel)
    assert fft.kernel == kernel
    x = _noise(8, n_fft, seed=n_fft)
    spec = fft.forward(x)
    assert spec.dtype == np.complex64 and spec.shape == (8, n_fft // 2 + 1)
    assert _rel_err(spec, np.fft.rfft(x.astype(np.float64))) <= 1e-5

    rng = np.random.default_rng(n_fft + 1)
    bins = (rng.standard_normal((8, n_fft // 2 + 1))
            + 1j * rng.standard_normal((8, n_fft // 2 + 1))).astype(np.complex64)
    bins[:, 0].imag = 0.0
    bins[:, -1].imag = 0.0
    assert _rel_err(fft.inverse(bins), np.fft.irfft(bins.astype(np.complex128), n=n_fft)) <= 1e-5
    assert np.max(np.abs(fft.inverse(spec) - x)) <= 1e-5


def test_fft_kernel_choice() -> None:
    for n_fft in FFT_SIZES:
        want = "avx2" if _core.RealFft.avx2_supported(n_fft) else "portable"
        assert _core.RealFft(n_fft).kernel == want
    assert not _core.RealFft.avx2_supported(64)
    with pytest.raises(ValueError, match="n_fft >= 128"):
        _core.RealFft(64, kernel="avx2")
    with pytest.raises(ValueError, match="kernel must be"):
        _core.RealFft(1024, kernel="fast")
    assert "kernel=" in repr(_core.RealFft(1024))


def test_fft_inverse_ignores_imaginary_dc_and_nyquist() -> None:
    fft = _core.RealFft(64)
    spec = fft.forward(_noise(1, 64))
    poked = spec.copy()
    poked[0, 0] += 5j
    poked[0, -1] -= 3j
    np.testing.assert_array_equal(fft.inverse(poked), fft.inverse(spec))


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=repr)
def test_stft_frames_match_numpy_reference(geometry: StftGeometry) -> None:
    n_fft, hop = geometry.n_fft, geometry.hop_samples
    n_frames = 30
    x = _noise(2, n_frames * hop + hop // 3, seed=1)
    stft = StreamingStft(geometry, n_channels=2)
    pieces, pos = [], 0
    for size in _block_sizes(x.shape[1], seed=2):
        pieces.append(stft.process(x[:, pos:pos + size]))
        pos += size
    frames = np.concatenate(pieces)
    assert frames.shape == (n_frames, 2, n_fft // 2 + 1) and frames.dtype == np.complex64
    assert stft.latency_samples == 0

    # Frame k = rfft(window * x[k*hop + hop - n_fft : k*hop + hop]), zeros before the start.
    window = geometry.analysis_window().astype(np.float64)
    padded = np.concatenate([np.zeros((2, n_fft - hop)), x.astype(np.float64)], axis=1)
    reference = np.stack([np.fft.rfft(window * padded[:, k * hop:k * hop + n_fft])
                          for k in range(n_frames)])
    assert _rel_err(frames, reference) <= 1e-5

    # flush(): the zero-padded partial hop, then zero hops while a frame still holds input.
    tail = stft.flush()
    n_tail = 1 + (n_fft - hop + hop // 3 - 1) // hop
    assert tail.shape == (n_tail, 2, n_fft // 2 + 1)
    padded = np.concatenate([padded, np.zeros((2, n_tail * hop + n_fft))], axis=1)
    reference = np.stack([np.fft.rfft(window * padded[:, k * hop:k * hop + n_fft])
                          for k in range(n_frames, n_frames + n_tail)])
    assert _rel_err(tail, reference) <= 1e-5
    assert np.any(padded[:, (n_frames + n_tail - 1) * hop:][:, :n_fft] != 0), "last frame holds input"
    assert stft.flush().shape == (0, 2, n_fft // 2 + 1), "a second flush has nothing to drain"
    assert StreamingStft(geometry, 2).flush().shape[0] == 0


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=repr)
def test_istft_matches_numpy_overlap_add(geometry: StftGeometry) -> None:
    n_fft, hop = geometry.n_fft, geometry.hop_samples
    n_frames, n_bins = 25, n_fft // 2 + 1
    rng = np.random.default_rng(3)
    frames = (rng.standard_normal((n_frames, 2, n_bins))
              + 1j * rng.standard_normal((n_frames, 2, n_bins))).astype(np.complex64)
    frames[..., 0].imag = 0.0
    frames[..., -1].imag = 0.0
    istft = StreamingIstft(geometry, n_channels=2)
    out = np.concatenate([istft.process(frames[:7]), istft.process(frames[7:])], axis=1)

    window = geometry.synthesis_window().astype(np.float64)
    support = n_fft - int(np.flatnonzero(window)[0])
    accumulator = np.zeros((2, n_frames * hop + n_fft))
    for k in range(n_frames):
        accumulator[:, k * hop:k * hop + n_fft] += window * np.fft.irfft(frames[k], n=n_fft)
    start = n_fft - support  # output sample j is accumulator sample j + n_fft - support
    assert istft.latency_samples == support - hop == geometry.stream_delay_samples
    assert _rel_err(out, accumulator[:, start:start + n_frames * hop]) <= 1e-5
    tail = istft.flush()
    assert tail.shape == (2, support - hop)
    np.testing.assert_allclose(tail, accumulator[:, start + n_frames * hop:start + n_frames * hop
                                                 + support - hop], atol=1e-5)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=repr)
def test_stft_istft_round_trip_is_a_pure_delay(geometry: StftGeometry) -> None:
    x = _noise(2, 10_000, seed=4)
    stft, istft = StreamingStft(geometry, 2), StreamingIstft(geometry, 2)
    outputs = [istft.process(stft.process(x[:, a:a + 700])) for a in range(0, x.shape[1], 700)]
    outputs += [istft.process(stft.flush()), istft.flush()]
    y = np.concatenate(outputs, axis=1)
    delay = geometry.stream_delay_samples
    assert y.shape[1] >= x.shape[1] + delay  # flush hands back every input sample
    assert np.max(np.abs(y[:, delay:delay + x.shape[1]] - x)) <= 1e-5
    assert np.max(np.abs(y[:, :delay])) <= 1e-5


def test_reset_restarts_the_stream() -> None:
    geometry = StftGeometry()
    x = _noise(2, 3000, seed=5)
    stft = StreamingStft(geometry, 2)
    first = stft.process(x)
    stft.process(_noise(2, 1234, seed=6))
    stft.reset()
    np.testing.assert_array_equal(stft.process(x), first)
    assert "StreamingStft(geometry=StftGeometry(" in repr(stft)


@pytest.mark.parametrize("n_fft,hop_samples", [(16, 8), (16, 4), (32, 16), (32, 8), (64, 32)])
def test_geometry_refuses_what_it_cannot_window(n_fft: int, hop_samples: int) -> None:
    # The low-latency synthesis window of these would be a numpy error or contain inf.
    for mode in ("default", "low"):
        with pytest.raises(ValueError, match="cannot window"):
            StftGeometry(n_fft, hop_samples, mode)


@pytest.mark.parametrize("n_fft,hop_samples", [(64, 16), (64, 31), (128, 32), (1024, 256), (4096, 64)])
def test_geometry_windows_are_finite_where_accepted(n_fft: int, hop_samples: int) -> None:
    for mode in ("default", "low"):
        g = StftGeometry(n_fft, hop_samples, mode)
        assert np.all(np.isfinite(g.synthesis_window())) and g.latency_samples > hop_samples - 1
