// Micro-benchmark of the streaming core's hot paths (no Python): RealFft
// forward / inverse per transform for n_fft 256..4096, and the BlockProcessor
// over a constant identity mask (stereo, n_fft 1024, default-mode windows): the
// whole block path without a model, per hop for hops 128 and 256. Each figure is the best of n_repeats timed runs,
// which is what survives a busy machine.
//
// Usage: bench_fft [n_repeats (default 15)] [seconds of audio per run (default 1.0)]
#include <algorithm>
#include <chrono>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "block_processor.hpp"
#include "fft.hpp"
#include "mask_model.hpp"
#include "stft_windows.hpp"
#include "test_support.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Keeps the optimiser from dropping work whose results are never read.
volatile float g_sink = 0.0f;

template <class Fn>
double best_seconds(int n_repeats, Fn&& fn) {
  double best = 1e30;
  for (int r = 0; r < n_repeats; ++r) {
    const auto t0 = Clock::now();
    fn();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, dt);
  }
  return best;
}

using rtsep_test::noise;

void bench_real_fft(int n_repeats) {
  std::printf("RealFft, ns per transform (best of %d)\n", n_repeats);
  std::printf("%6s %10s %10s\n", "n_fft", "forward", "inverse");
  // A few different frames in rotation, small enough to stay in L1/L2 as they
  // do in the streaming engine.
  const std::size_t n_frames = 8;
  for (std::size_t n = 256; n <= 4096; n *= 2) {
    rtsep::RealFft fft(n);
    const std::size_t n_bins = n / 2 + 1;
    const std::vector<float> x = noise(n_frames * n, static_cast<unsigned>(n));
    std::vector<std::complex<float>> spec(n_frames * n_bins);
    std::vector<float> back(n_frames * n);
    for (std::size_t f = 0; f < n_frames; ++f) fft.forward(x.data() + f * n, spec.data() + f * n_bins);
    const std::size_t n_calls = std::max<std::size_t>(2000, (4u << 20) / n);
    const double t_fwd = best_seconds(n_repeats, [&] {
      for (std::size_t i = 0; i < n_calls; ++i) {
        const std::size_t f = i % n_frames;
        fft.forward(x.data() + f * n, spec.data() + f * n_bins);
      }
    });
    const double t_inv = best_seconds(n_repeats, [&] {
      for (std::size_t i = 0; i < n_calls; ++i) {
        const std::size_t f = i % n_frames;
        fft.inverse(spec.data() + f * n_bins, back.data() + f * n);
      }
    });
    g_sink = g_sink + spec[1].real() + back[1];
    std::printf("%6zu %10.1f %10.1f\n", n, 1e9 * t_fwd / double(n_calls),
                1e9 * t_inv / double(n_calls));
  }
}

void bench_block_processor(int n_repeats, double seconds) {
  const std::size_t n_fft = 1024;
  const std::size_t max_block = 1024;
  const auto n_samples = static_cast<std::size_t>(seconds * 48000.0);
  const std::vector<float> x = noise(2 * n_samples, 1);
  std::vector<float> vocals(2 * n_samples);
  std::vector<float> instrumental(2 * n_samples);
  std::printf("\nBlockProcessor, constant identity mask, stereo, n_fft %zu, default windows, "
              "us per hop (best of %d)\n", n_fft, n_repeats);
  std::printf("%5s %6s %10s\n", "hop", "block", "us/hop");
  for (std::size_t hop : {128u, 256u}) {
    rtsep::BlockGeometry g;
    g.n_fft = n_fft;
    g.hop_samples = hop;
    g.analysis_window = rtsep_test::to_float(rtsep_test::analysis_window(n_fft, hop));
    g.synthesis_window = rtsep_test::synthesis_window(n_fft, hop, "default");
    rtsep::BlockProcessor proc(std::make_shared<rtsep::ConstantMaskModel>(n_fft / 2 + 1), g, 48000.0,
                               max_block, 2);
    for (std::size_t block : {64u, 256u, 1024u}) {
      // Host blocks of `block` samples, as a host drives it.
      const double t = best_seconds(n_repeats, [&] {
        proc.reset();
        for (std::size_t s = 0; s + block <= n_samples; s += block) {
          const float* in[2] = {x.data() + s, x.data() + n_samples + s};
          float* a[2] = {vocals.data() + s, vocals.data() + n_samples + s};
          float* b[2] = {instrumental.data() + s, instrumental.data() + n_samples + s};
          proc.process(in, a, b, block);
        }
      });
      g_sink = g_sink + vocals[n_samples / 2];
      std::printf("%5zu %6zu %10.3f\n", hop, block, 1e6 * t / double(n_samples / hop));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int n_repeats = argc > 1 ? std::atoi(argv[1]) : 15;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (n_repeats < 1 || !(seconds > 0.0)) {
    std::fprintf(stderr, "usage: bench_fft [n_repeats >= 1] [seconds > 0]\n");
    return 2;
  }
  bench_real_fft(n_repeats);
  bench_block_processor(n_repeats, seconds);
  return 0;
}
