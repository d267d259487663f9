// Plain C++ test of the live path's threads: LiveBridge (device callback, played
// from this thread) + LiveWorker (native worker thread with the native model) +
// a monitoring thread reading the counters, so that the sanitizer build sees the
// real cross-thread traffic. Checks: vocals + instrumental is the input delayed
// by the bridge's total latency, always; no misses while the "device" waits for
// the worker; a stalled worker gives counted, recorded misses and the same
// delay afterwards; stop() joins and can be repeated. Before that, the bridge
// with a worker played from this thread (its processor over a constant mask):
// routing of every mode, NaN/inf input zeroed and counted, and the bypass,
// fallback and gain ramps linear over exactly their stated lengths.
//
// Usage: test_live MODEL.rtsepw     (exit 0: pass; 77: model file missing)
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "live_bridge.hpp"
#include "live_worker.hpp"
#include "native_model.hpp"
#include "stft_windows.hpp"
#include "test_support.hpp"

namespace {

using rtsep_test::check;

constexpr std::size_t kBlock = 128;
constexpr std::size_t kMargin = kBlock + 192;

struct Run {
  std::vector<float> in;   // interleaved stereo
  std::vector<float> out;  // interleaved 4 channels: vocals L, R, instrumental L, R
};

// Play n_blocks callbacks of noise; before each one, wait until the worker has
// caught up unless `late(k)`.
Run play(rtsep::LiveBridge& bridge, rtsep::LiveWorker& worker, std::size_t n_blocks,
         const std::function<bool(std::size_t)>& late) {
  Run r;
  r.out.resize(4 * kBlock * n_blocks);
  r.in = rtsep_test::noise(2 * kBlock * n_blocks, 7, 0.1f);
  std::uint64_t fed = 0;
  for (std::size_t k = 0; k < n_blocks; ++k) {
    bridge.process(r.in.data() + 2 * kBlock * k, r.out.data() + 4 * kBlock * k, kBlock, 0);
    fed += kBlock;
    if (late(k)) continue;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (worker.stats().n_samples < fed && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  return r;
}

// Largest |vocals + instrumental - input delayed by d|.
double sum_error(const Run& r, std::size_t d) {
  double worst = 0.0;
  const std::size_t n = r.in.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t c = 0; c < 2; ++c) {
      const double want = i >= d ? r.in[2 * (i - d) + c] : 0.0;
      const double got = double(r.out[4 * i + c]) + double(r.out[4 * i + 2 + c]);
      worst = std::max(worst, std::fabs(got - want));
    }
  }
  return worst;
}

// ---- the bridge, with a worker played from this thread -----------------------
//
// The bridge's processor runs a constant mask kV: vocals = kV * x and
// instrumental = kI * x, delayed by the engine latency; the "worker" runs it on
// each input chunk at once, so its output plays total_latency_samples() after
// its input, and so does the dry signal (the fallback).

constexpr float kV = 0.75f;
constexpr float kI = 1.0f - kV;
constexpr std::size_t kChunk = 4096;
constexpr std::size_t kFft = 256, kHop = 64;

std::shared_ptr<rtsep::BlockProcessor> constant_mask_processor() {
  rtsep::BlockGeometry g;
  g.n_fft = kFft;
  g.hop_samples = kHop;
  g.analysis_window = rtsep_test::to_float(rtsep_test::analysis_window(kFft, kHop));
  g.synthesis_window = rtsep_test::synthesis_window(kFft, kHop, "default");
  auto model = std::make_shared<rtsep::ConstantMaskModel>(
      kFft / 2 + 1, std::vector<float>(2 * (kFft / 2 + 1), kV));
  return std::make_shared<rtsep::BlockProcessor>(model, g, 48000.0, kChunk, 2);
}

struct ManualWorker {
  rtsep::LiveBridge& bridge;
  std::vector<float> in = std::vector<float>(2 * kChunk);
  std::vector<float> a = std::vector<float>(2 * kChunk);
  std::vector<float> b = std::vector<float>(2 * kChunk);
  std::vector<float> seen;  // every input frame the worker got, interleaved stereo
  void work() {
    std::size_t n;
    while ((n = bridge.pop_input(in.data(), kChunk, kChunk)) > 0) {
      for (std::size_t t = 0; t < n; ++t) {
        for (std::size_t c = 0; c < 2; ++c) seen.push_back(in[c * kChunk + t]);
      }
      const float* rows_in[2] = {in.data(), in.data() + kChunk};
      float* rows_a[2] = {a.data(), a.data() + kChunk};
      float* rows_b[2] = {b.data(), b.data() + kChunk};
      check(bridge.processor()->process(rows_in, rows_a, rows_b, n), "worker chunk fits the processor");
      check(bridge.push_output(a.data(), kChunk, b.data(), kChunk, n) == n, "worker output fits");
    }
  }
};

rtsep::LiveConfig bridge_config(rtsep::LiveMode mode) {
  rtsep::LiveConfig c;
  c.mode = mode;
  const std::size_t n_out = mode == rtsep::LiveMode::kBoth ? 4 : 2;
  c.n_device_output_channels = n_out;
  c.output_channels = n_out == 4 ? std::vector<int>{0, 1, 2, 3} : std::vector<int>{0, 1};
  c.margin_samples = kMargin;
  return c;
}

// Play x (interleaved stereo, whole blocks) through the bridge; control(k) runs
// before block k; the worker works after every block except when late(k).
std::vector<float> play_manual(rtsep::LiveBridge& bridge, ManualWorker& worker,
                               const std::vector<float>& x,
                               const std::function<bool(std::size_t)>& late,
                               const std::function<void(std::size_t)>& control) {
  const std::size_t n_out = bridge.config().n_device_output_channels;
  const std::size_t n_blocks = x.size() / 2 / kBlock;
  std::vector<float> out(n_out * kBlock * n_blocks);
  for (std::size_t k = 0; k < n_blocks; ++k) {
    control(k);
    bridge.process(x.data() + 2 * kBlock * k, out.data() + n_out * kBlock * k, kBlock, 0);
    if (!late(k)) worker.work();
  }
  return out;
}

auto never = [](std::size_t) { return false; };
auto nothing = [](std::size_t) {};

// The routed output of every mode is the right signal: vocals and instrumental
// are not swapped, the mix is their sum, kBoth has vocals first.
void test_routing() {
  const std::vector<float> x = rtsep_test::noise(2 * kBlock * 40, 3, 0.2f);
  struct Case { rtsep::LiveMode mode; float pair0, pair1; const char* name; };
  for (const Case& m : {Case{rtsep::LiveMode::kVocals, kV, kV, "vocals"},
                        Case{rtsep::LiveMode::kInstrumental, kI, kI, "instrumental"},
                        Case{rtsep::LiveMode::kMix, kV + kI, kV + kI, "mix"},
                        Case{rtsep::LiveMode::kBoth, kV, kI, "both"}}) {
    rtsep::LiveBridge bridge(bridge_config(m.mode), constant_mask_processor());
    ManualWorker worker{bridge};
    const std::vector<float> out = play_manual(bridge, worker, x, never, nothing);
    const std::size_t n_out = bridge.config().n_device_output_channels;
    const std::size_t d = bridge.total_latency_samples();
    double worst = 0.0;
    for (std::size_t t = d; t < x.size() / 2; ++t) {
      for (std::size_t ch = 0; ch < n_out; ++ch) {
        const float scale = ch < 2 ? m.pair0 : m.pair1;
        worst = std::max(worst, std::fabs(double(out[n_out * t + ch]) - scale * x[2 * (t - d) + ch % 2]));
      }
    }
    check(worst <= 1e-5, std::string("routing: mode ") + m.name + " plays the right signal (worst " +
                             std::to_string(worst) + ")");
  }
}

// NaN and inf input never reach the worker or the output; they are counted.
void test_nonfinite_input() {
  rtsep::LiveBridge bridge(bridge_config(rtsep::LiveMode::kMix), constant_mask_processor());
  ManualWorker worker{bridge};
  std::vector<float> x = rtsep_test::noise(2 * kBlock * 20, 5, 0.2f);
  const std::size_t bad[] = {2 * 300, 2 * 301 + 1, 2 * 1000, 2 * 2047 + 1};
  x[bad[0]] = NAN;
  x[bad[1]] = INFINITY;
  x[bad[2]] = -INFINITY;
  x[bad[3]] = NAN;
  const std::vector<float> out = play_manual(bridge, worker, x, never, nothing);
  bool finite = true;
  for (float v : out) finite &= std::isfinite(v);
  check(finite, "nonfinite input: the output is finite");
  bool zeroed = worker.seen.size() == x.size();
  for (std::size_t k : bad) zeroed &= zeroed && worker.seen[k] == 0.0f;
  check(zeroed, "nonfinite input: replaced by 0 before the worker sees it");
  check(bridge.stats().n_nonfinite_input == 4, "nonfinite input: counted (" +
                                                   std::to_string(bridge.stats().n_nonfinite_input) + ")");
}

// Samples strictly between lo and hi from index `from` on: the first run of them.
struct Run1 { std::size_t start = 0, length = 0; double min_step = 1e9, max_step = 0.0; };
Run1 transition(const std::vector<float>& out, std::size_t stride, std::size_t from, float lo, float hi) {
  Run1 r;
  std::size_t t = from;
  const std::size_t n = out.size() / stride;
  const float eps = 1e-6f;
  while (t < n && !(out[stride * t] > lo + eps && out[stride * t] < hi - eps)) ++t;
  r.start = t;
  while (t < n && out[stride * t] > lo + eps && out[stride * t] < hi - eps) ++t;
  r.length = t - r.start;
  for (std::size_t u = r.start; u <= t && u < n && u > 0; ++u) {
    const double step = std::fabs(double(out[stride * u]) - out[stride * (u - 1)]);
    r.min_step = std::min(r.min_step, step);
    r.max_step = std::max(r.max_step, step);
  }
  return r;
}

// The bypass cross-fade, the fallback fade and the gain ramp are linear over
// exactly their stated lengths (so each sample-to-sample step is bounded). A
// control acts on the processor's output, so it reaches the device margin
// samples after the callback before which it was set.
void test_ramps() {
  const std::size_t n_blocks = 100;
  const std::vector<float> dc(2 * kBlock * n_blocks, 0.5f);
  const std::size_t ramp_samples = std::size_t(std::lround(rtsep::BlockProcessor::kRampMs * 48.0));
  {  // bypass: instrumental mode, instrumental = kI * dc, dry = dc
    rtsep::LiveBridge bridge(bridge_config(rtsep::LiveMode::kInstrumental), constant_mask_processor());
    check(bridge.processor()->ramp_samples() == ramp_samples, "ramps: one stated length (20 ms)");
    ManualWorker worker{bridge};
    const auto out = play_manual(bridge, worker, dc, never, [&](std::size_t k) {
      if (k == 30) bridge.parameters().set_bypass(true);
      if (k == 70) bridge.parameters().set_bypass(false);
    });
    double worst = 0.0;
    for (std::size_t j = 0; j < ramp_samples + 200; ++j) {
      const double g = std::min(1.0, double(j + 1) / double(ramp_samples));  // dry share
      const double on = (1.0 - g) * kI * 0.5 + g * 0.5;
      const double off = g * kI * 0.5 + (1.0 - g) * 0.5;
      worst = std::max(worst, std::fabs(out[2 * (30 * kBlock + kMargin + j)] - on));
      worst = std::max(worst, std::fabs(out[2 * (70 * kBlock + kMargin + j)] - off));
    }
    check(std::fabs(out[2 * (30 * kBlock + kMargin - 1)] - kI * 0.5) <= 1e-5 && worst <= 2e-5,
          "bypass ramp: linear over exactly " + std::to_string(ramp_samples) + " samples, both ways "
          "(worst error " + std::to_string(worst) + ")");
  }
  {  // fallback: the worker sleeps through 10 blocks
    rtsep::LiveConfig c = bridge_config(rtsep::LiveMode::kInstrumental);
    rtsep::LiveBridge bridge(c, constant_mask_processor());
    ManualWorker worker{bridge};
    // instrumental = kI * dc; the fallback is dc = 0.5.
    const auto out = play_manual(bridge, worker, dc, [](std::size_t k) { return k >= 40 && k < 50; },
                                 nothing);
    const std::size_t ramp = c.fallback_ramp_samples;
    const float wet = kI * 0.5f;
    const Run1 down = transition(out, 2, 40 * kBlock, wet, 0.5f);
    const Run1 up = transition(out, 2, down.start + down.length + 1, wet, 0.5f);
    const double step_out = (0.5 - wet) / double(ramp + 1), step_in = (0.5 - wet) / double(ramp);
    check(down.length == ramp && std::fabs(down.max_step - step_out) <= 1e-5 &&
              std::fabs(down.min_step - step_out) <= 1e-5,
          "fallback fade out: linear over " + std::to_string(ramp) + " samples (got " +
              std::to_string(down.length) + ", steps " + std::to_string(down.min_step) + ".." +
              std::to_string(down.max_step) + ")");
    check(up.length + 1 == ramp && std::fabs(up.max_step - step_in) <= 1e-5 &&
              std::fabs(up.min_step - step_in) <= 1e-5,
          "fallback fade in: linear over " + std::to_string(ramp) + " samples (got " +
              std::to_string(up.length + 1) + ", steps " + std::to_string(up.min_step) + ".." +
              std::to_string(up.max_step) + ")");
    check(bridge.stats().n_miss_events == 1, "fallback: one miss event");
  }
  {  // gain: mix mode, vocals gain 0 dB -> -20 dB
    rtsep::LiveBridge bridge(bridge_config(rtsep::LiveMode::kMix), constant_mask_processor());
    ManualWorker worker{bridge};
    const auto out = play_manual(bridge, worker, dc, never, [&](std::size_t k) {
      if (k == 30) bridge.parameters().set_vocals_gain_db(-20.0f);
    });
    double worst = 0.0;
    for (std::size_t j = 0; j < ramp_samples + 200; ++j) {
      const double g = 1.0 - 0.9 * std::min(1.0, double(j + 1) / double(ramp_samples));
      worst = std::max(worst, std::fabs(out[2 * (30 * kBlock + kMargin + j)] - (g * kV + kI) * 0.5));
    }
    check(worst <= 2e-5, "gain ramp: linear over exactly " + std::to_string(ramp_samples) +
                             " samples (worst error " + std::to_string(worst) + ")");
  }
}

}  // namespace

int main(int argc, char** argv) {
  test_routing();
  test_nonfinite_input();
  test_ramps();
  if (argc < 2 || !std::ifstream(argv[1]).good()) {
    std::fprintf(stderr, "test_live: no model file given or found; the threaded part skipped\n");
    rtsep_test::report("test_live: ");
    return 77;
  }
  auto model = std::shared_ptr<rtsep::NativeModel>(rtsep::NativeModel::load(argv[1]));
  auto processor = [&] {
    return std::make_shared<rtsep::BlockProcessor>(model, model->geometry("default"), 48000.0, 4096, 2);
  };
  const rtsep::LiveConfig cfg = bridge_config(rtsep::LiveMode::kBoth);

  {
    rtsep::LiveConfig inline_cfg = cfg;
    inline_cfg.run_inline = true;
    inline_cfg.margin_samples = 0;
    rtsep::LiveBridge bridge(inline_cfg, processor());
    bool refused = false;
    try {
      rtsep::LiveWorker wrong(bridge);  // the callback runs this bridge's processor
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    check(refused, "a worker for a bridge that runs its processor inline is refused");
  }

  // Two streams, one after the other: steady, then with a stalled worker. A
  // watcher thread reads every counter all along.
  for (int stalled = 0; stalled < 2; ++stalled) {
    rtsep::LiveBridge bridge(cfg, processor());
    const std::size_t d = bridge.total_latency_samples();
    rtsep::LiveWorker worker(bridge);
    worker.warm_up(4096, kBlock);
    std::atomic<bool> watching{true};
    std::atomic<std::uint64_t> max_seen{0};
    std::thread watcher([&] {
      auto t = std::make_unique<rtsep::LiveTiming>();
      while (watching.load()) {
        bridge.timing(t.get());
        const std::uint64_t seen = bridge.stats().n_callbacks + worker.stats().n_frames;
        if (seen > max_seen.load()) max_seen.store(seen);
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    });
    // Under sanitizers: the scheduler's placement, then follow + pin the callback thread.
    worker.start(0, /*follow_callback_cpu=*/stalled == 1, /*pin_callback_thread=*/stalled == 1);
    check(worker.running(), "worker running after start");
    const std::string tag = stalled ? "stalled: " : "steady: ";
    if (stalled) worker.stall(0.15);
    const Run run = play(bridge, worker, 400,
                         [&](std::size_t k) { return stalled && k < 60; });
    const rtsep::LiveStats s = bridge.stats();
    check(sum_error(run, d) <= 1e-5, tag + "vocals + instrumental = input delayed by the latency");
    auto timing = std::make_unique<rtsep::LiveTiming>();
    bridge.timing(timing.get());
    check(timing->n_responses > 0 && timing->max_response_ns > 0, tag + "responses timed");
    check(timing->n_misses_recorded == s.n_miss_events, tag + "each miss event recorded");
    if (!stalled) {
      check(s.n_missed_blocks == 0, "steady: no misses while the device waits");
    } else {
      check(s.n_missed_blocks >= 30 && s.n_miss_events >= 1, "stalled: misses counted");
      // After the catch-up the vocals are the worker's again (not the fallback's silence).
      double tail = 0.0;
      for (std::size_t i = 300 * kBlock; i < 400 * kBlock; ++i) tail += std::fabs(run.out[4 * i]);
      check(tail > 0.0, "stalled: worker output back after the stall");
    }
    worker.stop();
    check(!worker.running(), tag + "stopped");
    worker.stop();  // idempotent
    watching.store(false);
    watcher.join();
    check(max_seen.load() > 0, tag + "the watcher saw the counters move");
  }

  return rtsep_test::report("test_live: ");
}
