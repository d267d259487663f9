"""rtsep.Processor, the Python embedding API: same output as `rtsep separate` for
any block size, a fixed latency, click-free parameters, bypass, mono, no
allocation in the filling variant, and clear errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rtsep.processor import Processor

from alloc_support import peak_bytes

RATE_HZ = 48000
BLOCKS = [1, 64, 65, 128, 8193]


def _audio(n_samples: int, n_channels: int = 2, seed: int = 3) -> np.ndarray:
    from rtsep.model.export import check_audio

    x = check_audio(n_samples, RATE_HZ, seed=seed)
    return np.ascontiguousarray(x if n_channels == 2 else x.mean(axis=0, keepdims=True))


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    """An ONNX model: the trained one if shipped, else a perturbed random export (torch)."""
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "models" / "rtsep-default.onnx"
    if shipped.exists():
        return shipped
    torch = pytest.importorskip("torch", reason="PyTorch is needed to export a test model")
    from rtsep.model.export import export_model
    from rtsep.model.unet import CausalUNet

    gen = torch.Generator().manual_seed(1)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        model = CausalUNet().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    path = tmp_path_factory.mktemp("processor") / "model.onnx"
    export_model(model, path, "onnx", log=lambda msg: None)
    return path


def _stream(proc: Processor, x: np.ndarray, block: int, fill: bool = True):
    """Raw streaming outputs (latency included) for x, block by block."""
    a, b = np.zeros_like(x), np.zeros_like(x)
    for s in range(0, x.shape[1], block):
        if fill:
            out = proc.process(x[:, s:s + block], a[:, s:s + block], b[:, s:s + block])
            assert np.shares_memory(out[0], a) and np.shares_memory(out[1], b)
        else:
            a[:, s:s + block], b[:, s:s + block] = proc.process(x[:, s:s + block])
    return a, b


def _separate(model, x: np.ndarray):
    from rtsep.engine import separate_array
    from rtsep.engine import Separator, load_runner

    seps = {RATE_HZ: Separator(load_runner(model, backend="onnx-cpu" if model != "identity" else "auto",
                                           sample_rate_hz=RATE_HZ))}
    return separate_array(x, RATE_HZ, seps)


@pytest.mark.parametrize("block", BLOCKS)
def test_output_equals_rtsep_separate(onnx_model, block):
    x = _audio(RATE_HZ // 2)
    proc = Processor(onnx_model, backend="onnx-cpu")
    proc.prepare(RATE_HZ, block, 2)
    lat = proc.latency_samples
    padded = np.zeros((2, x.shape[1] + lat), dtype=np.float32)
    padded[:, :x.shape[1]] = x
    a, b = _stream(proc, padded, block, fill=block != 65)  # 65: the allocating variant
    vocals, accompaniment = _separate(onnx_model, x)
    # A real mask: not silent, not the constant 0.5 of an untrained head (model-independent bounds).
    assert np.abs(vocals).max() > 1e-4 and np.abs(vocals - 0.5 * x).max() > 0.01
    np.testing.assert_allclose(a[:, lat:], vocals, atol=1e-6)
    np.testing.assert_allclose(b[:, lat:], accompaniment, atol=1e-5)


@pytest.mark.parametrize("block", [64, 1000])
def test_mono_equals_rtsep_separate(onnx_model, block):
    x = _audio(12000, n_channels=1)
    proc = Processor(onnx_model, backend="onnx-cpu")
    proc.prepare(RATE_HZ, block, 1)
    lat = proc.latency_samples
    padded = np.zeros((1, x.shape[1] + lat), dtype=np.float32)
    padded[:, :x.shape[1]] = x
    a, b = _stream(proc, padded, block)
    vocals, accompaniment = _separate(onnx_model, x)
    np.testing.assert_allclose(a[:, lat:], vocals, atol=1e-6)
    np.testing.assert_allclose(b[:, lat:], accompaniment, atol=1e-5)


@pytest.mark.parametrize("latency_mode", ["default", "low"])
def test_identity_is_a_pure_delay_for_mixed_block_sizes(latency_mode):
    from rtsep.config import StftGeometry

    proc = Processor("identity", latency_mode=latency_mode)
    assert proc.latency_samples == StftGeometry(latency_mode=latency_mode).latency_samples
    proc.prepare(RATE_HZ, 8193, 2)
    proc.mode = "mix"
    x = _audio(20000)
    out, pos = np.zeros_like(x), 0
    for size in [1, 64, 65, 128, 8193, 3, 441] * 10:
        if pos >= x.shape[1]:
            break
        proc.process(x[:, pos:pos + size], out[:, pos:pos + size], out[:, pos:pos + size].copy())
        pos += size
    lat = proc.latency_samples
    np.testing.assert_allclose(out[:, lat:], x[:, :-lat], atol=2e-6)


def test_filling_variant_does_not_allocate_audio(onnx_model):
    proc = Processor(onnx_model, backend="onnx-cpu")
    block = 2048
    proc.prepare(RATE_HZ, block, 2)
    x = _audio(block * 12)
    a, b = np.zeros((2, block), np.float32), np.zeros((2, block), np.float32)
    proc.process(x[:, :block], a, b)  # warm up
    peaks = {}
    for fill in (True, False):
        def blocks(fill=fill):
            for s in range(block, x.shape[1], block):
                if fill:
                    proc.process(x[:, s:s + block], a, b)
                else:
                    proc.process(x[:, s:s + block])
        peaks[fill] = peak_bytes(blocks)[0]
    audio_bytes = 2 * block * 4
    assert peaks[False] >= 2 * audio_bytes  # the measurement sees the allocating variant
    assert peaks[True] < audio_bytes // 4, peaks


def test_parameters_before_prepare_apply_without_a_ramp(onnx_model):
    x = _audio(9000)
    ref = Processor(onnx_model, backend="onnx-cpu")
    ref.prepare(RATE_HZ, 512, 2)
    vocals, instrumental = _stream(ref, x, 512)
    g = 10.0 ** (-6.0 / 20.0)
    cases = {
        ("mix", 0.0, 0.0): (vocals + instrumental, vocals + instrumental),
        ("vocals", -6.0, 0.0): (g * vocals, g * vocals),
        ("instrumental", 0.0, -6.0): (g * instrumental, g * instrumental),
        ("both", -6.0, float("-inf")): (g * vocals, 0.0 * instrumental),
    }
    for (mode, v_db, i_db), (want_a, want_b) in cases.items():
        proc = Processor(onnx_model, backend="onnx-cpu")
        proc.mode, proc.vocals_gain_db, proc.instrumental_gain_db = mode, v_db, i_db
        proc.prepare(RATE_HZ, 512, 2)
        a, b = _stream(proc, x, 512)
        np.testing.assert_allclose(a, want_a, atol=1e-6, err_msg=mode)
        np.testing.assert_allclose(b, want_b, atol=1e-6, err_msg=mode)


def test_changes_mid_stream_ramp_and_bypass_keeps_the_latency(onnx_model):
    x = _audio(24000)
    proc = Processor(onnx_model, backend="onnx-cpu")
    proc.prepare(RATE_HZ, 256, 2)
    vocals, instrumental = _stream(proc, x, 256)
    lat = proc.latency_samples
    dry = np.zeros_like(x)
    dry[:, lat:] = x[:, :-lat]
    ramp_samples = int(round(0.02 * RATE_HZ))

    proc.reset()
    split = 9000
    _stream(proc, x[:, :split], 256)
    proc.vocals_gain_db = -6.0  # could come from another thread: applied at the next block
    a, _ = _stream(proc, x[:, split:], 256)
    g = np.float32(10.0 ** (-6.0 / 20.0))
    ramp = np.minimum(np.arange(1, a.shape[1] + 1) / ramp_samples, 1.0).astype(np.float32)
    np.testing.assert_allclose(a, (1.0 + (g - 1.0) * ramp) * vocals[:, split:], atol=1e-5)

    proc.reset()
    proc.vocals_gain_db = 0.0
    _stream(proc, x[:, :split], 256)
    proc.bypass = True
    a, b = _stream(proc, x[:, split:], 256)
    assert proc.latency_samples == lat
    want = (1.0 - ramp) * vocals[:, split:] + ramp * dry[:, split:]
    np.testing.assert_allclose(a, want, atol=1e-5)  # a linear cross-fade, no step
    np.testing.assert_array_equal(a[:, ramp_samples:], dry[:, split + ramp_samples:])
    np.testing.assert_array_equal(b[:, ramp_samples:], dry[:, split + ramp_samples:])


def test_reset_restarts_and_nonfinite_input_is_counted(onnx_model):
    x = _audio(6000)
    proc = Processor(onnx_model, backend="onnx-cpu")
    proc.prepare(RATE_HZ, 700, 2)
    first = _stream(proc, x, 700)
    bad = x.copy()
    bad[0, 10], bad[1, 3000] = np.nan, -np.inf
    a, b = _stream(proc, bad, 700)
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert proc.n_nonfinite_replaced == 2
    proc.reset()
    assert proc.n_nonfinite_replaced == 0 and proc.n_frames_processed == 0
    again = _stream(proc, x, 700)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


def test_clear_errors():
    proc = Processor("identity")
    with pytest.raises(RuntimeError, match="before prepare"):
        proc.process(np.zeros((2, 8), np.float32))
    with pytest.raises(ValueError, match="n_channels must be 1 .* or 2 .*got 6"):
        proc.prepare(RATE_HZ, 512, 6)
    with pytest.raises(ValueError, match="max_block_size must be a positive int"):
        proc.prepare(RATE_HZ, 0, 2)
    proc.prepare(RATE_HZ, 512, 2)
    with pytest.raises(TypeError, match="float32"):
        proc.process(np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r"shape \(2, n_samples\)"):
        proc.process(np.zeros((1, 8), np.float32))
    with pytest.raises(ValueError, match="513 samples > max_block_size 512"):
        proc.process(np.zeros((2, 513), np.float32))
    with pytest.raises(ValueError, match="vocals_out must be a writeable float32"):
        proc.process(np.zeros((2, 8), np.float32), np.zeros((2, 9), np.float32),
                     np.zeros((2, 8), np.float32))
    with pytest.raises(ValueError, match="mode must be one of both, mix, vocals, instrumental"):
        proc.mode = "karaoke"
    with pytest.raises(ValueError, match="<= 24 dB"):
        proc.vocals_gain_db = 40
    assert proc.mode == "both" and proc.vocals_gain_db == 0.0  # refused values change nothing
    v, i = proc.process(np.zeros((2, 0), np.float32))
    assert v.shape == i.shape == (2, 0)


def test_unsupported_sample_rate_and_missing_model(onnx_model, tmp_path):
    from rtsep.errors import UserError

    proc = Processor(onnx_model, backend="onnx-cpu")
    with pytest.raises(UserError, match="not 22050 Hz"):
        proc.prepare(22050, 512, 2)
    with pytest.raises(UserError, match="no such model file"):
        Processor(tmp_path / "missing.onnx")


def test_rtsep_exports_processor_lazily():
    code = ("import sys, rtsep; assert 'rtsep.processor' not in sys.modules; "
            "assert rtsep.Processor.__module__ == 'rtsep.processor'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pedalboard_style_chain(onnx_model):
    pedalboard = pytest.importorskip("pedalboard", reason="pedalboard is not installed")
    pre = pedalboard.Pedalboard([pedalboard.HighpassFilter(80)])
    post = pedalboard.Pedalboard([pedalboard.Gain(-3.0)])
    proc = Processor(onnx_model, backend="onnx-cpu")
    proc.prepare(RATE_HZ, 4096, 2)
    x = _audio(16384)
    outs = []
    for s in range(0, x.shape[1], 4096):
        vocals, instrumental = proc.process(pre(x[:, s:s + 4096], RATE_HZ, reset=False))
        outs.append(post(instrumental, RATE_HZ, reset=False))
    out = np.concatenate(outs, axis=1)
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out).max() > 0.01


def test_native_export_gives_the_onnx_output(onnx_model):
    """Processor on the .rtsepw export beside the ONNX model (the native backend) =
    Processor on the ONNX model, to float tolerance."""
    native = onnx_model.with_suffix(".rtsepw")
    if not native.is_file():
        pytest.skip(f"no native export beside {onnx_model.name}")
    x = _audio(RATE_HZ // 2)
    outputs = []
    for model, backend in ((native, "auto"), (onnx_model, "onnx-cpu")):
        proc = Processor(model, backend=backend)
        proc.prepare(RATE_HZ, 441, 2)
        outputs.append(_stream(proc, x, 441))
    for got, want in zip(*outputs):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    assert np.abs(outputs[0][0]).max() > 1e-5  # the model ran (not silence, whatever its weights)
