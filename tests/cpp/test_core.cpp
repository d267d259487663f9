// Plain C++ tests of the rtsep core (no framework): ring buffer (single thread
// against a model, and two threads), FFT against a naive DFT, STFT -> iSTFT
// identity with the default and low-latency windows, HopEngine for many block
// sizes, Mixer and DelayLine. Exit status 0 when every check passes.
//
// Usage: test_core [n_stress_frames]   (default 5e6 stereo frames = 1e7 samples)
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "delay_line.hpp"
#include "fft.hpp"
#include "hop_engine.hpp"
#include "mixer.hpp"
#include "ring_buffer.hpp"
#include "stft.hpp"
#include "stft_windows.hpp"
#include "test_support.hpp"

namespace {

using rtsep_test::check;
using rtsep_test::check_close;
using rtsep_test::noise;

using rtsep_test::analysis_window;
using rtsep_test::kPi;
using rtsep_test::synthesis_window;
using rtsep_test::to_float;

// ---------------------------------------------------------------------------

void test_ring_buffer_model() {
  std::mt19937 gen(7);
  const std::size_t n_channels = 3;
  const std::size_t capacity = 37;
  rtsep::RingBuffer ring(n_channels, capacity);
  std::deque<std::vector<float>> model;  // one entry per frame
  std::uint64_t overflow = 0;
  std::uint64_t underflow = 0;
  float next_value = 0.0f;
  std::vector<float> buf(n_channels * 64);
  bool all_ok = true;
  for (int step = 0; step < 20000; ++step) {
    const std::size_t n = gen() % 50;
    const int op = static_cast<int>(gen() % 6);
    if (op <= 2) {  // push: planar strided, planar pointers, interleaved
      const std::size_t n_fit = std::min(n, capacity - model.size());
      std::vector<float> frame(n_channels);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t c = 0; c < n_channels; ++c) {
          const float v = next_value + float(i * n_channels + c);
          if (op == 2) buf[i * n_channels + c] = v; else buf[c * 64 + i] = v;
        }
      }
      std::size_t moved = 0;
      if (op == 0) {
        moved = ring.push_planar(buf.data(), 64, n);
      } else if (op == 1) {
        const float* chans[3] = {buf.data(), buf.data() + 64, buf.data() + 128};
        moved = ring.push_planar(chans, n);
      } else {
        moved = ring.push_interleaved(buf.data(), n);
      }
      all_ok &= moved == n_fit;
      for (std::size_t i = 0; i < n_fit; ++i) {
        for (std::size_t c = 0; c < n_channels; ++c) frame[c] = next_value + float(i * n_channels + c);
        model.push_back(frame);
      }
      overflow += n - n_fit;
      next_value += float(n * n_channels);
    } else if (op == 3) {
      const std::size_t n_fit = std::min(n, capacity - model.size());
      all_ok &= ring.push_silence(n) == n_fit;
      for (std::size_t i = 0; i < n_fit; ++i) model.push_back(std::vector<float>(n_channels, 0.0f));
      overflow += n - n_fit;
    } else {  // pop: planar strided or interleaved
      const std::size_t n_have = std::min(n, model.size());
      std::fill(buf.begin(), buf.end(), -1.0f);
      const std::size_t moved =
          op == 4 ? ring.pop_planar(buf.data(), 64, n) : ring.pop_interleaved(buf.data(), n);
      all_ok &= moved == n_have;
      for (std::size_t i = 0; i < n_have; ++i) {
        for (std::size_t c = 0; c < n_channels; ++c) {
          const float got = op == 4 ? buf[c * 64 + i] : buf[i * n_channels + c];
          all_ok &= got == model.front()[c];
        }
        model.pop_front();
      }
      // What was not there leaves the caller's buffer untouched.
      if (op == 4 && n_have < n) all_ok &= buf[n_have] == -1.0f;
      underflow += n - n_have;
    }
    all_ok &= ring.available_read() == model.size();
    all_ok &= ring.available_write() == capacity - model.size();
  }
  check(all_ok, "ring buffer matches the deque model over 20000 random operations");
  check(ring.overflow_frames() == overflow, "ring overflow_frames counts what did not fit");
  check(ring.underflow_frames() == underflow, "ring underflow_frames counts what was missing");
  ring.reset();
  check(ring.available_read() == 0 && ring.overflow_frames() == 0 && ring.underflow_frames() == 0,
        "ring reset empties and zeroes counters");
}

void test_ring_buffer_threads(std::size_t n_frames) {
  const rtsep::RingStressResult r = rtsep::ring_stress(n_frames, 2, 4096, 1024, 12345);
  check(r.n_pushed_frames == n_frames && r.n_popped_frames == n_frames,
        "ring stress moved every frame");
  check(r.n_mismatches == 0, "ring stress: no loss, duplication or reordering (" +
                                 std::to_string(r.n_mismatches) + " mismatches)");
  check(r.overflow_frames == r.expected_overflow_frames, "ring stress overflow count");
  check(r.underflow_frames == r.expected_underflow_frames, "ring stress underflow count");
  std::printf("ring stress: %zu frames x 2 channels, overflow %llu, underflow %llu\n", n_frames,
              static_cast<unsigned long long>(r.overflow_frames),
              static_cast<unsigned long long>(r.underflow_frames));
}

// ---------------------------------------------------------------------------

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

// Naive double-precision DFT of a real signal: bins 0..n/2.
std::vector<std::complex<double>> naive_rdft(const std::vector<float>& x) {
  const std::size_t n = x.size();
  std::vector<double> cos_table(n);
  std::vector<double> sin_table(n);
  for (std::size_t i = 0; i < n; ++i) {
    cos_table[i] = std::cos(2.0 * kPi * double(i) / double(n));
    sin_table[i] = std::sin(2.0 * kPi * double(i) / double(n));
  }
  std::vector<std::complex<double>> spec(n / 2 + 1);
  for (std::size_t k = 0; k <= n / 2; ++k) {
    double re = 0.0;
    double im = 0.0;
    for (std::size_t t = 0; t < n; ++t) {
      const std::size_t idx = (k * t) % n;
      re += double(x[t]) * cos_table[idx];
      im -= double(x[t]) * sin_table[idx];
    }
    spec[k] = {re, im};
  }
  return spec;
}

// Max |got - want| over max |want|.
double rel_err(const std::vector<std::complex<float>>& got,
               const std::vector<std::complex<double>>& want) {
  double max_err = 0.0;
  double max_abs = 0.0;
  for (std::size_t k = 0; k < want.size(); ++k) {
    const std::complex<double> g(got[k].real(), got[k].imag());
    max_err = std::max(max_err, std::abs(g - want[k]));
    max_abs = std::max(max_abs, std::abs(want[k]));
  }
  return max_err / max_abs;
}

// One kernel at one size against the naive DFT: forward, forward_windowed
// (against the DFT of the windowed signal), inverse of the exact spectrum, and
// inverse(forward(x)) == x. The large sizes use an O(n) check instead of the
// O(n^2) DFT: the spectrum of a sum of bin-centred cosines is known exactly.
void check_fft_kernel(std::size_t n, rtsep::FftKernel kernel) {
  rtsep::RealFft fft(n, kernel);
  const std::string tag = std::string(kernel == rtsep::FftKernel::avx2 ? "avx2" : "portable") +
                          " n=" + std::to_string(n);
  check(fft.kernel() == kernel, "kernel in use is the one asked for, " + tag);
  const std::size_t n_bins = n / 2 + 1;
  std::vector<std::complex<float>> spec(n_bins);
  std::vector<float> back(n);
  std::vector<float> x;
  std::vector<std::complex<double>> want;
  if (n <= 8192) {
    x = noise(n, static_cast<unsigned>(n));
    want = naive_rdft(x);
  } else {
    // x[t] = sum over a few bins b of a_b cos(2 pi b t / n + phi_b): X[b] = n/2 a_b e^(i phi_b)
    // (n a_b cos phi_b for b = 0 and b = n/2), 0 elsewhere.
    const std::size_t bins[] = {0, 1, 3, 77, n / 4 - 1, n / 4, n / 2 - 5, n / 2};
    const double amps[] = {0.1, 0.5, -0.3, 0.25, 0.7, -0.2, 0.4, 0.05};
    const double phases[] = {0.0, 0.3, 1.1, -2.0, 0.5, 2.9, -0.7, 0.0};
    x.assign(n, 0.0f);
    want.assign(n_bins, 0.0);
    std::vector<double> xd(n, 0.0);
    for (std::size_t j = 0; j < 8; ++j) {
      const std::size_t b = bins[j];
      const bool edge = b == 0 || b == n / 2;
      for (std::size_t t = 0; t < n; ++t) {
        xd[t] += amps[j] * std::cos(2.0 * kPi * double((b * t) % n) / double(n) + phases[j]);
      }
      want[b] += (edge ? double(n) * amps[j] * std::cos(phases[j]) : 0.5 * double(n) * amps[j]) *
                 (edge ? std::complex<double>(1.0, 0.0) : std::polar(1.0, phases[j]));
    }
    for (std::size_t t = 0; t < n; ++t) x[t] = static_cast<float>(xd[t]);
  }
  fft.forward(x.data(), spec.data());
  const double err = rel_err(spec, want);
  // float32 input rounding alone gives ~1e-7 relative; the check leaves room for log2 n.
  check(err <= 1e-5, "fft vs naive DFT, " + tag + ", rel err " + sci(err));

  // Windowed: the DFT of w * x, with a window that is not symmetric.
  std::vector<float> w(n);
  std::vector<float> wx(n);
  for (std::size_t t = 0; t < n; ++t) {
    w[t] = static_cast<float>(0.5 + 0.4 * std::sin(0.37 * double(t)) + 0.1 * double(t) / double(n));
    wx[t] = w[t] * x[t];
  }
  std::vector<std::complex<float>> spec_w(n_bins);
  fft.forward_windowed(x.data(), w.data(), spec_w.data());
  std::vector<std::complex<float>> spec_ref(n_bins);
  fft.forward(wx.data(), spec_ref.data());
  double err_w = 0.0;
  if (n <= 8192) {
    err_w = rel_err(spec_w, naive_rdft(wx));
  } else {
    std::vector<std::complex<double>> ref(spec_ref.begin(), spec_ref.end());
    err_w = rel_err(spec_w, ref);
  }
  check(err_w <= 1e-5, "forward_windowed == fft(window * x), " + tag + ", rel err " + sci(err_w));

  // Inverse of the exact spectrum, and the round trip.
  std::vector<std::complex<float>> exact(n_bins);
  for (std::size_t k = 0; k < n_bins; ++k) {
    exact[k] = {static_cast<float>(want[k].real()), static_cast<float>(want[k].imag())};
  }
  // The imaginary parts of bins 0 and n/2 must be ignored.
  exact[0].imag(123.0f);
  exact[n / 2].imag(-77.0f);
  fft.inverse(exact.data(), back.data());
  double max_x = 0.0;
  double max_inv = 0.0;
  for (std::size_t t = 0; t < n; ++t) {
    max_x = std::max(max_x, double(std::fabs(x[t])));
    max_inv = std::max(max_inv, double(std::fabs(back[t] - x[t])));
  }
  check(max_inv <= 1e-5 * max_x, "inverse of the exact spectrum, " + tag + ", rel err " +
                                     sci(max_inv / max_x));
  fft.inverse(spec.data(), back.data());
  double max_back = 0.0;
  for (std::size_t t = 0; t < n; ++t) max_back = std::max(max_back, double(std::fabs(back[t] - x[t])));
  check(max_back <= 1e-5 * max_x, "inverse(forward(x)) == x, " + tag);
}

void test_fft() {
  for (std::size_t n = 16; n <= 65536; n *= 2) {
    check_fft_kernel(n, rtsep::FftKernel::portable);
    if (rtsep::RealFft::avx2_supported(n)) check_fft_kernel(n, rtsep::FftKernel::avx2);
    const rtsep::RealFft automatic(n);
    check(automatic.kernel() ==
              (rtsep::RealFft::avx2_supported(n) ? rtsep::FftKernel::avx2 : rtsep::FftKernel::portable),
          "automatic picks avx2 exactly where it is supported, n=" + std::to_string(n));
  }
  std::printf("fft: avx2 kernel %s on this machine\n",
              rtsep::RealFft::avx2_supported(1024) ? "tested" : "not available (portable only)");
  for (std::size_t bad_n : {std::size_t(1000), std::size_t(8), std::size_t(131072)}) {
    bool threw = false;
    try {
      rtsep::RealFft bad(bad_n);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    check(threw, "RealFft rejects n_fft=" + std::to_string(bad_n));
  }
  bool threw = false;
  try {
    rtsep::RealFft small(64, rtsep::FftKernel::avx2);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  check(threw, "RealFft(64, avx2) is refused (the avx2 kernel needs n_fft >= 128)");
}

// ---------------------------------------------------------------------------

void test_stft_frames_and_identity(std::size_t n_fft, std::size_t hop, const std::string& mode) {
  const std::size_t n_channels = 2;
  const std::vector<float> wa = to_float(analysis_window(n_fft, hop));
  const std::vector<float> ws = synthesis_window(n_fft, hop, mode);
  rtsep::StreamingStft stft(n_fft, hop, wa.data(), n_channels);
  rtsep::StreamingIstft istft(n_fft, hop, ws.data(), n_channels);
  const std::size_t support = rtsep::synthesis_support_samples(ws.data(), n_fft);
  // default: the Hann product is exactly 0 at its first sample, so 2 hop - 1.
  const std::size_t expect_support = mode == "default" ? 2 * hop - 1 : hop + 32;
  const std::string tag = " (" + mode + ", n_fft=" + std::to_string(n_fft) + ")";
  check(support == expect_support, "synthesis support" + tag);
  check(istft.stream_delay_samples() == support - hop, "stream delay = support - hop" + tag);

  const std::size_t n_frames = 40;
  const std::size_t n = n_frames * hop;
  const std::vector<float> x = noise(n_channels * n, 99);  // planar (2, n)
  const std::size_t n_bins = n_fft / 2 + 1;
  std::vector<std::complex<float>> frames(n_frames * n_channels * n_bins);
  // Feed in uneven pieces to exercise the partial-hop buffer.
  std::size_t done = 0;
  std::size_t produced = 0;
  std::size_t piece = 1;
  while (done < n) {
    const std::size_t m = std::min(piece, n - done);
    produced += stft.process(x.data() + done, static_cast<std::ptrdiff_t>(n), m,
                             frames.data() + produced * n_channels * n_bins);
    done += m;
    piece = piece * 3 % 997 + 1;
  }
  check(produced == n_frames, "one frame per hop" + tag);

  // Frame k = rfft(window * x[k*hop + hop - n_fft, k*hop + hop)), zeros before 0.
  rtsep::RealFft fft(n_fft);
  std::vector<float> seg(n_fft);
  std::vector<std::complex<float>> ref(n_bins);
  double max_err = 0.0;
  double max_abs = 0.0;
  for (std::size_t k = 0; k < n_frames; k += 7) {
    for (std::size_t c = 0; c < n_channels; ++c) {
      for (std::size_t i = 0; i < n_fft; ++i) {
        const long t = long(k * hop + hop) - long(n_fft) + long(i);
        seg[i] = t < 0 ? 0.0f : x[c * n + std::size_t(t)] * wa[i];
      }
      fft.forward(seg.data(), ref.data());
      for (std::size_t b = 0; b < n_bins; ++b) {
        max_err = std::max(max_err, double(std::abs(ref[b] - frames[(k * n_channels + c) * n_bins + b])));
        max_abs = std::max(max_abs, double(std::abs(ref[b])));
      }
    }
  }
  check(max_err <= 1e-5 * max_abs, "stft frame k covers [k*hop + hop - n_fft, k*hop + hop)" + tag);

  std::vector<float> y(n_channels * n);
  istft.process(frames.data(), n_frames, y.data(), static_cast<std::ptrdiff_t>(n));
  const std::size_t delay = istft.stream_delay_samples();
  double max_diff = 0.0;
  for (std::size_t c = 0; c < n_channels; ++c) {
    for (std::size_t t = 0; t < n; ++t) {
      const float want = t < delay ? 0.0f : x[c * n + t - delay];
      max_diff = std::max(max_diff, double(std::fabs(y[c * n + t] - want)));
    }
  }
  check(max_diff <= 1e-5, "stft -> istft == input delayed by support - hop" + tag + ", err " +
                              std::to_string(max_diff));
}

// ---------------------------------------------------------------------------

void test_hop_engine(std::size_t n_fft, std::size_t hop, const std::string& mode) {
  const std::size_t n_channels = 2;
  const std::size_t max_block = 8193;
  const std::vector<float> wa = to_float(analysis_window(n_fft, hop));
  const std::vector<float> ws = synthesis_window(n_fft, hop, mode);
  rtsep::HopEngine engine(n_fft, hop, wa.data(), ws.data(), n_channels, max_block);
  const std::size_t support = rtsep::synthesis_support_samples(ws.data(), n_fft);
  const std::size_t latency = engine.latency_samples();
  const std::string tag = " (" + mode + ", n_fft=" + std::to_string(n_fft) + ")";
  check(latency == support - 1, "latency = support - 1" + tag);

  const std::size_t n = 30000;
  const std::vector<float> x = noise(n_channels * n, 5);
  std::vector<float> vocals(n_channels * n);
  std::vector<float> instrumental(n_channels * n);
  const auto stride = static_cast<std::ptrdiff_t>(n);
  const std::vector<std::vector<std::size_t>> patterns = {
      {1}, {37}, {64}, {65}, {128}, {441}, {8193}, {1, 37, 64, 65, 128, 441, 8193}};
  for (const auto& pattern : patterns) {
    engine.reset();
    std::size_t done = 0;
    std::size_t i_block = 0;
    bool ok = true;
    while (done < n) {
      const std::size_t m = std::min(pattern[i_block++ % pattern.size()], n - done);
      ok &= engine.push_input(x.data() + done, stride, m);
      while (engine.frames_ready() > 0) {
        ok &= engine.analyze();
        ok &= engine.synthesize_identity();
      }
      ok &= engine.pull(vocals.data() + done, stride, instrumental.data() + done, stride, m);
      done += m;
    }
    double max_diff = 0.0;
    double max_instr = 0.0;
    for (std::size_t c = 0; c < n_channels; ++c) {
      for (std::size_t t = 0; t < n; ++t) {
        const float want = t < latency ? 0.0f : x[c * n + t - latency];
        max_diff = std::max(max_diff, double(std::fabs(vocals[c * n + t] - want)));
        max_instr = std::max(max_instr, double(std::fabs(instrumental[c * n + t])));
      }
    }
    std::string sizes;
    for (std::size_t s : pattern) sizes += std::to_string(s) + ",";
    check(ok, "engine calls succeed for blocks {" + sizes + "}" + tag);
    check(max_diff <= 1e-5, "identity engine == input delayed by latency for blocks {" + sizes +
                                "}" + tag + ", err " + std::to_string(max_diff));
    check(max_instr <= 1e-5, "identity engine instrumental ~ 0 for blocks {" + sizes + "}" + tag);
  }

  // Random real mask: vocals + instrumental == delayed input, whatever the mask.
  engine.reset();
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> mask(n_channels * engine.n_bins());
  std::size_t done = 0;
  while (done < n) {
    const std::size_t m = std::min<std::size_t>(1 + gen() % 700, n - done);
    engine.push_input(x.data() + done, stride, m);
    while (engine.frames_ready() > 0) {
      engine.analyze();
      for (float& g : mask) g = unit(gen);
      engine.synthesize(mask.data(), static_cast<std::ptrdiff_t>(engine.n_bins()));
    }
    engine.pull(vocals.data() + done, stride, instrumental.data() + done, stride, m);
    done += m;
  }
  double max_sum = 0.0;
  for (std::size_t c = 0; c < n_channels; ++c) {
    for (std::size_t t = 0; t < n; ++t) {
      const float want = t < latency ? 0.0f : x[c * n + t - latency];
      max_sum = std::max(max_sum, double(std::fabs(vocals[c * n + t] + instrumental[c * n + t] - want)));
    }
  }
  check(max_sum <= 1e-5, "vocals + instrumental == delayed input for a random mask" + tag);
}

void test_hop_engine_misuse_and_nonfinite() {
  const std::size_t n_fft = 512;
  const std::size_t hop = 128;
  const std::vector<float> wa = to_float(analysis_window(n_fft, hop));
  const std::vector<float> ws = synthesis_window(n_fft, hop, "default");
  rtsep::HopEngine engine(n_fft, hop, wa.data(), ws.data(), 1, 256);
  check(!engine.analyze(), "analyze with no hop ready returns false");
  check(!engine.synthesize_identity(), "synthesize with no frame pending returns false");
  std::vector<float> x(256, 0.5f);
  x[3] = std::nanf("");
  x[200] = INFINITY;
  check(engine.push_input(x.data(), 256, 256), "push one block");
  check(!engine.push_input(x.data(), 256, 256), "second block without processing does not fit");
  check(engine.analyze(), "analyze");
  check(!engine.analyze(), "analyze twice without synthesize returns false");
  std::vector<float> mask(engine.n_bins(), 1.0f);
  mask[10] = std::nanf("");
  check(engine.synthesize(mask.data(), 0), "synthesize with a NaN in the mask");
  check(engine.analyze() && engine.synthesize_identity(), "second frame");
  // Room for the over-long pull below, so that an engine that wrongly accepts it
  // fails the check instead of writing past the buffers.
  std::vector<float> v(256 + hop);
  std::vector<float> ins(256 + hop);
  check(!engine.pull(v.data(), 256 + hop, ins.data(), 256 + hop, 256 + hop),
        "pull more than available fails");
  check(engine.pull(v.data(), 256 + hop, ins.data(), 256 + hop, 256), "pull one block");
  bool finite = true;
  for (std::size_t i = 0; i < 256; ++i) finite &= std::isfinite(v[i]) && std::isfinite(ins[i]);
  check(finite, "non-finite input never reaches the output");
  check(engine.n_nonfinite_replaced() == 3, "2 input samples + 1 mask value counted, got " +
                                                std::to_string(engine.n_nonfinite_replaced()));
  check(engine.n_frames_processed() == 2, "frames counted");
}

// ---------------------------------------------------------------------------

void test_mixer() {
  const double sample_rate_hz = 48000.0;
  rtsep::Mixer mixer(1, sample_rate_hz, 20.0);
  check(mixer.ramp_samples() == 960, "20 ms ramp at 48 kHz = 960 samples");
  std::vector<float> ones(2000, 1.0f);
  std::vector<float> zeros(2000, 0.0f);
  std::vector<float> out(2000);
  mixer.process(ones.data(), 0, zeros.data(), 0, out.data(), 0, 100);
  check(out[0] == 1.0f && out[99] == 1.0f, "unity gain at start");
  mixer.set_vocals_gain(0.0f);
  mixer.process(ones.data(), 0, zeros.data(), 0, out.data(), 0, 2000);
  bool monotonic = true;
  for (std::size_t i = 1; i < 2000; ++i) monotonic &= out[i] <= out[i - 1];
  check(monotonic, "gain ramps down monotonically");
  check(out[0] < 1.0f && out[0] > 0.99f, "ramp starts at the old gain");
  check_close(out[479], 0.5, 2e-3, "half way through the ramp");
  check(out[959] == 0.0f && out[1999] == 0.0f, "ramp ends exactly at the target");
  check(!mixer.set_vocals_gain(NAN), "NaN gain rejected");
  mixer.set_vocals_gain(1.0f);
  mixer.set_vocals_muted(true);
  mixer.process(ones.data(), 0, zeros.data(), 0, out.data(), 0, 2000);
  check(out[1999] == 0.0f, "mute acts as gain 0");
  mixer.set_vocals_muted(false);
  mixer.reset();
  mixer.process(ones.data(), 0, ones.data(), 0, out.data(), 0, 10);
  check(out[0] == 2.0f, "reset jumps to the target; both sources add");
}

void test_delay_line() {
  rtsep::DelayLine delay(2, 300);
  const std::size_t n = 5000;
  const std::vector<float> x = noise(2 * n, 11);
  std::vector<float> y(2 * n);
  std::size_t done = 0;
  std::size_t piece = 1;
  while (done < n) {
    const std::size_t m = std::min(piece, n - done);
    delay.process(x.data() + done, static_cast<std::ptrdiff_t>(n), y.data() + done,
                  static_cast<std::ptrdiff_t>(n), m);
    done += m;
    piece = piece * 5 % 3001 + 1;
  }
  bool ok = true;
  for (std::size_t c = 0; c < 2; ++c) {
    for (std::size_t t = 0; t < n; ++t) ok &= y[c * n + t] == (t < 300 ? 0.0f : x[c * n + t - 300]);
  }
  check(ok, "delay line delays by exactly 300 samples for uneven blocks");
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n_stress_frames =
      argc > 1 ? static_cast<std::size_t>(std::strtoull(argv[1], nullptr, 10)) : 5000000;
  test_ring_buffer_model();
  test_ring_buffer_threads(n_stress_frames);
  test_fft();
  for (const char* mode : {"default", "low"}) {
    test_stft_frames_and_identity(1024, 256, mode);
    test_stft_frames_and_identity(512, 128, mode);
    test_hop_engine(1024, 256, mode);
  }
  test_hop_engine_misuse_and_nonfinite();
  test_mixer();
  test_delay_line();
  return rtsep_test::report("");
}
