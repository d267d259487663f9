// Plain C++ test of the live path's threads: LiveBridge (device callback, played
// from this thread) + LiveWorker (native worker thread with the native model) +
// a monitoring thread reading the counters, so that the sanitizer build sees the
// real cross-thread traffic. Checks: vocals + instrumental is the input delayed
// by the bridge's total latency, always; no misses while the "device" waits for
// the worker; a stalled worker gives counted, recorded misses and the same
// delay afterwards; stop() joins and can be repeated.
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::ifstream(argv[1]).good()) {
    std::fprintf(stderr, "test_live: no model file given or found; skipped\n");
    return 77;
  }
  auto model = std::shared_ptr<rtsep::NativeModel>(rtsep::NativeModel::load(argv[1]));
  rtsep::LiveConfig cfg;
  cfg.sample_rate_hz = 48000.0;
  cfg.n_device_output_channels = 4;
  cfg.output_channels = {0, 1, 2, 3};
  cfg.mode = rtsep::LiveMode::kBoth;
  cfg.engine_latency_samples = model->latency_mode("default")->latency_samples;
  cfg.margin_samples = kMargin;

  {
    rtsep::LiveBridge bridge(cfg);
    bool refused = false;
    try {
      rtsep::LiveWorker wrong(bridge, model, "no-such-mode");
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    check(refused, "an unknown latency mode is refused");
  }

  // Two streams, one after the other: steady, then with a stalled worker. A
  // watcher thread reads every counter all along.
  for (int stalled = 0; stalled < 2; ++stalled) {
    rtsep::LiveBridge bridge(cfg);
    const std::size_t d = bridge.total_latency_samples();
    rtsep::LiveWorker worker(bridge, model, "default", 4096);
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
