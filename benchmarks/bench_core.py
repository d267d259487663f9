"""Benchmark of the C++ streaming core against numpy, in the same process.

1. Streaming STFT -> (identity mask) -> iSTFT, stereo, n_fft 1024, hop 128 and
   256, host blocks of 64/128/256/1024 samples: ns per sample (and per hop) for
   * ``core``: the block processor over a constant identity mask (native), one
     Python call per host block;
   * ``core+py``: the engine's step API driven from Python, one call per step and
     frame (what a Python model loop pays);
   * ``numpy``: a straightforward per-block numpy implementation of the same
     streaming STFT/iSTFT (preallocated, no concatenation per hop);
   and the ratio numpy / core (target >= 10).
2. Real FFT per transform, n_fft 256..4096: the core over a batch of 10,000
   frames vs numpy.fft.rfft of the same batch / 10,000 (float32 and float64
   input), and the ratio core / numpy float32 (target <= 2).

Usage: python benchmarks/bench_core.py [--seconds 2.0] [--repeats 3] [--json PATH]
Prints a plain-text table to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np

from rtsep import _core
from rtsep.bench.timing import best_of
from rtsep.config import StftGeometry
from rtsep.dsp import HopEngine

SAMPLE_RATE_HZ = 48000
N_FFT = 1024
HOPS = (128, 256)
BLOCKS = (64, 128, 256, 1024)
FFT_SIZES = (256, 512, 1024, 2048, 4096)
N_FFT_FRAMES = 10_000


class NumpyStreamingStftIstft:
    """Reference: the same fixed-latency streaming STFT -> mask -> iSTFT in plain numpy.

    Input/output FIFOs as arrays with read/write positions; per hop: shift the
    history, window, rfft, mask, irfft, window, overlap-add, emit one hop.
    """

    def __init__(self, geometry: StftGeometry, n_channels: int, max_block_samples: int) -> None:
        self.n_fft, self.hop = geometry.n_fft, geometry.hop_samples
        self.analysis = geometry.analysis_window().astype(np.float32)
        synthesis = geometry.synthesis_window().astype(np.float32)
        self.support = self.n_fft - int(np.flatnonzero(synthesis)[0])
        self.synthesis_tail = synthesis[self.n_fft - self.support:]
        self.history = np.zeros((n_channels, self.n_fft), np.float32)
        self.accumulator = np.zeros((n_channels, self.support), np.float32)
        capacity = 4 * (max_block_samples + 2 * self.hop)
        self.fifo_in = np.zeros((n_channels, capacity), np.float32)
        self.fifo_out = np.zeros((n_channels, capacity), np.float32)
        self.in_read = self.in_write = 0
        self.out_read, self.out_write = 0, self.hop - 1  # primed with hop - 1 zeros

    def _compact(self) -> None:
        n_in = self.in_write - self.in_read
        self.fifo_in[:, :n_in] = self.fifo_in[:, self.in_read:self.in_write]
        self.in_read, self.in_write = 0, n_in
        n_out = self.out_write - self.out_read
        self.fifo_out[:, :n_out] = self.fifo_out[:, self.out_read:self.out_write]
        self.out_read, self.out_write = 0, n_out

    def process(self, block: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        n = block.shape[1]
        if self.in_write + n > self.fifo_in.shape[1] or self.out_write + n + self.hop > \
                self.fifo_out.shape[1]:
            self._compact()
        self.fifo_in[:, self.in_write:self.in_write + n] = block
        self.in_write += n
        hop, n_fft = self.hop, self.n_fft
        while self.in_write - self.in_read >= hop:
            self.history[:, :n_fft - hop] = self.history[:, hop:]
            self.history[:, n_fft - hop:] = self.fifo_in[:, self.in_read:self.in_read + hop]
            self.in_read += hop
            frame = np.fft.rfft(self.history * self.analysis, axis=-1)
            if mask is not None:
                frame *= mask
            time_frame = np.fft.irfft(frame, n=n_fft, axis=-1)
            self.accumulator += time_frame[:, n_fft - self.support:] * self.synthesis_tail
            self.fifo_out[:, self.out_write:self.out_write + hop] = self.accumulator[:, :hop]
            self.out_write += hop
            self.accumulator[:, :self.support - hop] = self.accumulator[:, hop:]
            self.accumulator[:, self.support - hop:] = 0.0
        out = self.fifo_out[:, self.out_read:self.out_read + n].copy()
        self.out_read += n
        return out


def bench_streaming(seconds: float, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    n_samples = int(seconds * SAMPLE_RATE_HZ)
    x = (0.3 * rng.standard_normal((2, n_samples))).astype(np.float32)
    rows = []
    for hop in HOPS:
        geometry = StftGeometry(N_FFT, hop, "default")
        for block in BLOCKS:
            engine = HopEngine(geometry, n_channels=2, max_block_samples=max(BLOCKS))
            proc = _core.BlockProcessor(_core.ConstantMaskModel(geometry.n_bins), geometry.n_fft,
                                        geometry.hop_samples, geometry.analysis_window(),
                                        geometry.synthesis_window(), float(SAMPLE_RATE_HZ),
                                        max(BLOCKS), 2)
            out_a, out_b = np.empty_like(x), np.empty_like(x)

            def run_core(n: int = n_samples) -> np.ndarray:
                proc.reset()
                for start in range(0, n, block):
                    stop = min(start + block, n)
                    proc.process(x[:, start:stop], out_a[:, start:stop], out_b[:, start:stop])
                return out_a[:, :n]

            def run_core_python() -> None:
                engine.reset()
                v, i = np.empty((2, block), np.float32), np.empty((2, block), np.float32)
                for start in range(0, n_samples - block + 1, block):
                    engine.push_input(x[:, start:start + block])
                    for _ in range(engine.frames_ready()):
                        engine.analyze()
                        engine.synthesize(None)
                    engine.pull(v, i)

            reference = NumpyStreamingStftIstft(geometry, 2, max(BLOCKS))

            def run_numpy() -> None:
                for start in range(0, n_samples, block):
                    reference.process(x[:, start:start + block])

            # Both implementations must agree before their times mean anything.
            core_out = run_core(20000).copy()
            check = NumpyStreamingStftIstft(geometry, 2, max(BLOCKS))
            numpy_out = np.concatenate([check.process(x[:, s:min(s + block, 20000)])
                                        for s in range(0, 20000, block)], axis=1)
            max_diff = float(np.max(np.abs(core_out - numpy_out)))
            if max_diff > 1e-4:
                raise RuntimeError(f"core and numpy reference differ by {max_diff}")

            t_core = best_of(repeats, run_core)
            t_core_py = best_of(repeats, run_core_python)
            t_numpy = best_of(max(1, repeats - 1), run_numpy)
            n_hops = n_samples // hop
            rows.append(dict(
                n_fft=N_FFT, hop_samples=hop, block_samples=block,
                core_ns_per_sample=1e9 * t_core / n_samples,
                core_python_ns_per_sample=1e9 * t_core_py / n_samples,
                numpy_ns_per_sample=1e9 * t_numpy / n_samples,
                core_us_per_hop=1e6 * t_core / n_hops,
                numpy_us_per_hop=1e6 * t_numpy / n_hops,
                ratio_numpy_over_core=t_numpy / t_core,
                max_abs_diff_vs_numpy=max_diff))
    return rows


def bench_fft(repeats: int) -> list[dict]:
    rng = np.random.default_rng(1)
    rows = []
    for n_fft in FFT_SIZES:
        x32 = rng.standard_normal((N_FFT_FRAMES, n_fft)).astype(np.float32)
        x64 = x32.astype(np.float64)
        fft = _core.RealFft(n_fft)
        spec = fft.forward(x32)
        t_core = best_of(repeats, lambda: fft.forward(x32))
        t_core_inv = best_of(repeats, lambda: fft.inverse(spec))
        t_np32 = best_of(repeats, lambda: np.fft.rfft(x32, axis=-1))
        t_np64 = best_of(repeats, lambda: np.fft.rfft(x64, axis=-1))
        t_np_inv = best_of(repeats, lambda: np.fft.irfft(spec, n=n_fft, axis=-1))
        rows.append(dict(
            n_fft=n_fft,
            core_rfft_ns=1e9 * t_core / N_FFT_FRAMES,
            core_irfft_ns=1e9 * t_core_inv / N_FFT_FRAMES,
            numpy_rfft_float32_ns=1e9 * t_np32 / N_FFT_FRAMES,
            numpy_rfft_float64_ns=1e9 * t_np64 / N_FFT_FRAMES,
            numpy_irfft_complex64_ns=1e9 * t_np_inv / N_FFT_FRAMES,
            ratio_core_over_numpy_float32=t_core / t_np32,
            ratio_core_over_numpy_float64=t_core / t_np64))
        del x32, x64, spec
    return rows


def print_tables(streaming: list[dict], ffts: list[dict]) -> None:
    print(f"Streaming STFT -> identity mask -> iSTFT, stereo, n_fft {N_FFT} (ns per sample; "
          "ratio = numpy / core, target >= 10)")
    print(f"{'hop':>5} {'block':>6} {'core':>8} {'core+py':>8} {'numpy':>8} "
          f"{'core us/hop':>12} {'numpy us/hop':>13} {'ratio':>7}")
    for r in streaming:
        print(f"{r['hop_samples']:>5} {r['block_samples']:>6} {r['core_ns_per_sample']:>8.1f} "
              f"{r['core_python_ns_per_sample']:>8.1f} {r['numpy_ns_per_sample']:>8.1f} "
              f"{r['core_us_per_hop']:>12.2f} {r['numpy_us_per_hop']:>13.2f} "
              f"{r['ratio_numpy_over_core']:>7.1f}")
    print()
    print(f"Real FFT, ns per transform (batch of {N_FFT_FRAMES}; ratio = core / numpy float32, "
          "target <= 2)")
    print(f"{'n_fft':>6} {'core rfft':>10} {'core irfft':>11} {'np rfft f32':>12} "
          f"{'np rfft f64':>12} {'np irfft':>9} {'ratio f32':>10} {'ratio f64':>10}")
    for r in ffts:
        print(f"{r['n_fft']:>6} {r['core_rfft_ns']:>10.0f} {r['core_irfft_ns']:>11.0f} "
              f"{r['numpy_rfft_float32_ns']:>12.0f} {r['numpy_rfft_float64_ns']:>12.0f} "
              f"{r['numpy_irfft_complex64_ns']:>9.0f} "
              f"{r['ratio_core_over_numpy_float32']:>10.2f} "
              f"{r['ratio_core_over_numpy_float64']:>10.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="length of the streamed test signal (default 2.0 s at 48 kHz)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.repeats < 1:
        parser.error("--seconds must be > 0 and --repeats >= 1")

    streaming = bench_streaming(args.seconds, args.repeats)
    ffts = bench_fft(args.repeats)
    print_tables(streaming, ffts)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(dict(machine=platform.machine(), processor=platform.processor(),
                           python=sys.version.split()[0], numpy=np.__version__,
                           seconds=args.seconds, repeats=args.repeats,
                           streaming=streaming, fft=ffts), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
