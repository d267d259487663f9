"""The whole streaming path with a real model equals the offline reference.

core STFT (C++ HopEngine) -> exported model (runtime runner, step by step) ->
core mask + iSTFT, fed in host blocks of 1, 64, 65, 128 and 8193 samples, against
PyTorch sequence mode on the whole spectrogram + the offline numpy iSTFT with
the same windows, aligned by ``latency_samples``; for both latency modes.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="making the test export needs PyTorch (train extra)")
dsp = pytest.importorskip("rtsep.dsp", reason="rtsep._core (the C++ core) is not built")

from block_support import run_blocks  # noqa: E402
from rtsep import offline  # noqa: E402
from rtsep.engine import block_processor  # noqa: E402
from rtsep.config import LATENCY_MODES, StftGeometry  # noqa: E402
from rtsep.model.export import check_audio, export_model, reference_masks  # noqa: E402
from rtsep.model.unet import CausalUNet  # noqa: E402
from rtsep.runtime import load  # noqa: E402

pytestmark = pytest.mark.torch

BLOCK_SIZES = (1, 64, 65, 128, 8193)
N_SAMPLES = 160 * 256 + 77  # not a whole number of hops
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def model():
    gen = torch.Generator().manual_seed(7)
    with torch.random.fork_rng():  # the default init draws from the global RNG
        torch.manual_seed(7)
        m = CausalUNet().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return m


@pytest.fixture(scope="module")
def exports(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("streaming")
    paths = {"onnx": folder / "model.onnx", "torchscript": folder / "model.pt"}
    for fmt, path in paths.items():
        export_model(model, path, fmt, n_check_frames=20, log=lambda msg: None)
    return paths


@pytest.fixture(scope="module")
def audio():
    return check_audio(N_SAMPLES, seed=3)


@pytest.fixture(scope="module")
def reference(model, audio):
    """``{mode: (vocals, n_valid)}``: offline vocals, input-aligned, and how many
    leading samples are complete (the rest await frames past the clip's end)."""
    out = {}
    for mode in LATENCY_MODES:
        g = StftGeometry(latency_mode=mode)
        frames = offline.stft(audio, g)
        masks = reference_masks(model, frames)
        assert masks.std() > 0.02, "a near-constant mask would hide errors"
        vocals = offline.istft(frames * masks, g, N_SAMPLES)
        out[mode] = (vocals, len(frames) * g.hop_samples - g.stream_delay_samples)
    return out


def stream(runner, audio: np.ndarray, block_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Feed ``audio`` block by block through the block processor over ``runner``, then
    ``latency_samples`` of silence (the flush)."""
    proc = block_processor(runner, max_block_samples=block_samples)
    assert proc.latency_samples == runner.latency_samples
    x = np.concatenate([audio, np.zeros((2, proc.latency_samples), np.float32)], axis=1)
    return run_blocks(proc, x, [block_samples])


@pytest.mark.parametrize("block_samples", BLOCK_SIZES)
@pytest.mark.parametrize("latency_mode", LATENCY_MODES)
def test_streaming_equals_offline(exports, audio, reference, latency_mode, block_samples):
    runner = load(exports["onnx"], backend="onnx-cpu", latency_mode=latency_mode)
    vocals, instrumental = stream(runner, audio, block_samples)
    latency = runner.latency_samples
    assert vocals.shape == (2, N_SAMPLES + latency)
    want, n_valid = reference[latency_mode]
    got = vocals[:, latency: latency + n_valid]
    assert np.max(np.abs(got - want[:, :n_valid])) <= TOLERANCE
    # instrumental = delayed input - vocals, exactly what the offline path gives too
    got_inst = instrumental[:, latency: latency + n_valid]
    assert np.max(np.abs(got_inst - (audio[:, :n_valid] - want[:, :n_valid]))) <= TOLERANCE
    assert np.max(np.abs(want[:, :n_valid])) > 0.05, "the vocals must not be trivially silent"


@pytest.mark.parametrize("latency_mode", LATENCY_MODES)
def test_streaming_torchscript_equals_offline(exports, audio, reference, latency_mode):
    runner = load(exports["torchscript"], backend="torchscript-cpu", latency_mode=latency_mode)
    vocals, _ = stream(runner, audio, 128)
    want, n_valid = reference[latency_mode]
    latency = runner.latency_samples
    assert np.max(np.abs(vocals[:, latency: latency + n_valid] - want[:, :n_valid])) <= TOLERANCE
