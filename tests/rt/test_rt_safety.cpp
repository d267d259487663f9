// Real-time safety, proven: under the rt_guard shim (tests/rt/rt_guard.cpp,
// LD_PRELOAD), no allocation, free or blocking call may happen inside
// rtsep_process after rtsep_prepare (every output mode, mono and stereo, key changes, gains
// changing, bypass on and off, NaN input) nor inside the live device callback
// LiveBridge::process with the native worker thread running (every mode, bypass,
// and the fallback while the worker stalls). The guard is first shown to work: an
// allocation inside it must be caught.
//
// Usage: LD_PRELOAD=librt_guard.so test_rt_safety MODEL.rtsepw
//        (exit 0: pass; 1: a violation or a failed check; 2: not under the shim)
#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "live_bridge.hpp"
#include "live_worker.hpp"
#include "native_model.hpp"
#include "rtsep.h"
#include "../cpp/test_support.hpp"

namespace {

using rtsep_test::check;

using BeginFn = void (*)();
using EndFn = unsigned long (*)(const char**);
BeginFn guard_begin = nullptr;
EndFn guard_end = nullptr;

// Runs f() guarded; checks that nothing was caught.
template <class F>
void guarded(const std::string& what, F&& f) {
  guard_begin();
  f();
  const char* first = nullptr;
  const unsigned long n = guard_end(&first);
  check(n == 0, what + ": no allocation or blocking call on the audio side (caught " +
                    std::to_string(n) + (first ? std::string(", first: ") + first : std::string()) + ")");
}

void test_capi(const char* model_path) {
  rtsep_status status;
  rtsep_processor* p = rtsep_create(model_path, &status);
  check(p != nullptr, "rtsep_create");
  if (p == nullptr) return;
  const uint32_t block = 256;
  std::vector<float> in(2 * block), voc(2 * block), ins(2 * block);
  const std::vector<float> noise = rtsep_test::noise(2 * block * 64, 11, 0.2f);
  for (uint32_t n_ch = 1; n_ch <= 2; ++n_ch) {
    for (int mode = 0; mode < 4; ++mode) {
      for (int bypass = 0; bypass < 2; ++bypass) {
        rtsep_set_parameter(p, RTSEP_PARAM_MODE, float(mode));
        rtsep_set_parameter(p, RTSEP_PARAM_BYPASS, 0.0f);
        check(rtsep_prepare(p, 48000.0, block, n_ch) == RTSEP_OK, "rtsep_prepare");
        const float* in_ptr[2] = {in.data(), in.data() + block};
        float* voc_ptr[2] = {voc.data(), voc.data() + block};
        float* ins_ptr[2] = {ins.data(), ins.data() + block};
        const std::string tag = "rtsep_process: " + std::to_string(n_ch) + " ch, mode " +
                                std::to_string(mode) + (bypass ? ", bypass toggled" : "");
        guarded(tag, [&] {
          for (int b = 0; b < 48; ++b) {
            std::copy(noise.begin() + 2 * block * (b % 64), noise.begin() + 2 * block * (b % 64 + 1),
                      in.begin());
            if (b == 5) in[7] = NAN;
            if (b == 10) rtsep_set_parameter(p, RTSEP_PARAM_VOCALS_GAIN_DB, -6.0f);
            if (b == 12) rtsep_set_parameter(p, RTSEP_PARAM_INSTRUMENTAL_GAIN_DB, -130.0f);
            if (bypass && b == 16) rtsep_set_parameter(p, RTSEP_PARAM_BYPASS, 1.0f);
            if (bypass && b == 32) rtsep_set_parameter(p, RTSEP_PARAM_BYPASS, 0.0f);
            // Key changes: on (fade in), key to key, off (fade out and tail), vocals too.
            if (b == 14) rtsep_set_parameter(p, RTSEP_PARAM_KEY_SEMITONES, 3.0f);
            if (b == 20) rtsep_set_parameter(p, RTSEP_PARAM_VOCALS_KEY_SEMITONES, -2.5f);
            if (b == 26) rtsep_set_parameter(p, RTSEP_PARAM_KEY_SEMITONES, -5.0f);
            if (b == 34) rtsep_set_parameter(p, RTSEP_PARAM_KEY_SEMITONES, 0.0f);
            if (b == 40) rtsep_set_parameter(p, RTSEP_PARAM_VOCALS_KEY_SEMITONES, 0.0f);
            if (rtsep_process(p, in_ptr, voc_ptr, ins_ptr, b % 3 == 0 ? block : 97) != RTSEP_OK) {
              std::abort();
            }
          }
          rtsep_reset(p);
        });
        rtsep_set_parameter(p, RTSEP_PARAM_VOCALS_GAIN_DB, 0.0f);
        rtsep_set_parameter(p, RTSEP_PARAM_INSTRUMENTAL_GAIN_DB, 0.0f);
      }
    }
  }
  rtsep_destroy(p);
}

// A live configuration for `mode` (0..3); margin 0: inline.
rtsep::LiveConfig live_config(int mode, std::size_t margin_samples) {
  rtsep::LiveConfig cfg;
  cfg.mode = static_cast<rtsep::LiveMode>(mode);
  const bool both = cfg.mode == rtsep::LiveMode::kBoth;
  cfg.n_device_output_channels = both ? 4 : 2;
  cfg.output_channels = both ? std::vector<int>{0, 1, 2, 3} : std::vector<int>{0, 1};
  cfg.run_inline = margin_samples == 0;
  cfg.margin_samples = margin_samples;
  cfg.record_ring_frames = 48000;
  return cfg;
}

void test_live(const char* model_path) {
  auto model = std::shared_ptr<rtsep::NativeModel>(rtsep::NativeModel::load(model_path));
  const std::size_t block = 128;
  for (int mode = 0; mode < 4; ++mode) {
    const rtsep::LiveConfig cfg = live_config(mode, block + 192);
    rtsep::LiveBridge bridge(
        cfg, std::make_shared<rtsep::BlockProcessor>(model, model->geometry("default"), 48000.0, 4096, 2));
    rtsep::LiveWorker worker(bridge);
    worker.warm_up(4096, block);
    worker.start(0);
    const std::vector<float> x = rtsep_test::noise(2 * block * 200, 5, 0.2f);
    std::vector<float> out(cfg.n_device_output_channels * block);
    auto play = [&](std::size_t k0, std::size_t k1, bool wait) {
      for (std::size_t k = k0; k < k1; ++k) {
        if (k == 40) bridge.parameters().set_bypass(true);
        if (k == 70) bridge.parameters().set_bypass(false);
        if (k == 80) bridge.parameters().set_vocals_gain_db(-6.0f);
        if (k == 90) bridge.parameters().instrumental_muted.store(true);
        bridge.process(x.data() + 2 * block * (k % 200), out.data(), block, 0);
        // The worker's pace: a device period, or (stalled) none at all.
        if (wait) std::this_thread::sleep_for(std::chrono::microseconds(2667));
      }
    };
    play(0, 5, true);  // the callback thread's own first-use costs (thread-locals)
    worker.stall(0.2);  // the fallback: misses while the worker sleeps
    const std::string tag = std::string("live callback: mode ") + std::to_string(mode);
    guard_begin();
    play(5, 120, false);
    for (std::size_t k = 120; k < 200; ++k) {
      bridge.process(x.data() + 2 * block * k, out.data(), block, 0);
      guard_end(nullptr);  // the sleep between callbacks is not the callback's
      std::this_thread::sleep_for(std::chrono::microseconds(2667));
      guard_begin();
    }
    const char* first = nullptr;
    const unsigned long n = guard_end(&first);
    check(n == 0, tag + " (bypass, gains, fallback): no allocation or blocking call (caught " +
                      std::to_string(n) + (first ? std::string(", first: ") + first : std::string()) + ")");
    check(bridge.stats().n_miss_events >= 1, tag + ": the fallback was exercised");
    worker.stop();
  }
}

// The callback running the model itself (inline): every mode, bypass and gains.
void test_inline(const char* model_path) {
  auto model = std::shared_ptr<rtsep::NativeModel>(rtsep::NativeModel::load(model_path));
  const std::size_t block = 128;
  for (int mode = 0; mode < 4; ++mode) {
    const rtsep::LiveConfig cfg = live_config(mode, 0);
    auto proc = std::make_shared<rtsep::BlockProcessor>(model, model->geometry("default"), 48000.0,
                                                        4096, 2);
    rtsep::LiveBridge bridge(cfg, proc);
    const std::vector<float> x = rtsep_test::noise(2 * block * 200, 6, 0.2f);
    std::vector<float> out(cfg.n_device_output_channels * block);
    for (std::size_t k = 0; k < 5; ++k) bridge.process(x.data() + 2 * block * k, out.data(), block, 0);
    guard_begin();
    for (std::size_t k = 5; k < 200; ++k) {
      if (k == 40) proc->parameters().set_bypass(true);
      if (k == 70) proc->parameters().set_bypass(false);
      if (k == 80) proc->parameters().set_vocals_gain_db(-6.0f);
      if (k == 85) proc->parameters().vocals_muted.store(true);
      if (k == 90) proc->parameters().set_key_semitones(2.0f);  // the key change, on and off
      if (k == 120) proc->parameters().set_vocals_key_semitones(-3.0f);
      if (k == 150) proc->parameters().set_key_semitones(0.0f);
      if (k == 170) proc->parameters().set_vocals_key_semitones(0.0f);
      if (k == 175) proc->parameters().set_strength(2.5f);  // the mask reshaped per hop
      bridge.process(x.data() + 2 * block * k, out.data(), block, 0);
    }
    const char* first = nullptr;
    const unsigned long n = guard_end(&first);
    check(n == 0, std::string("inline callback: mode ") + std::to_string(mode) +
                      " (the model in the callback, bypass, gains, key changes, strength): no allocation or blocking call "
                      "(caught " + std::to_string(n) + (first ? std::string(", first: ") + first : std::string()) + ")");
    check(proc->n_frames_processed() >= 195 * block / 256, "inline callback: the model ran");
  }
}

}  // namespace

int main(int argc, char** argv) {
  guard_begin = reinterpret_cast<BeginFn>(dlsym(RTLD_DEFAULT, "rt_guard_begin"));
  guard_end = reinterpret_cast<EndFn>(dlsym(RTLD_DEFAULT, "rt_guard_end"));
  if (guard_begin == nullptr || guard_end == nullptr) {
    std::fprintf(stderr, "test_rt_safety: run under LD_PRELOAD=librt_guard.so\n");
    return 2;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: test_rt_safety MODEL.rtsepw\n");
    return 2;
  }
  {  // The guard works: it catches an allocation, a free and a lock.
    guard_begin();
    auto* v = new std::vector<float>(16);
    delete v;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    const char* first = nullptr;
    const unsigned long n = guard_end(&first);
    check(n >= 5, "the guard catches new, delete and a mutex lock (caught " + std::to_string(n) + ")");
  }
  test_capi(argv[1]);
  test_live(argv[1]);
  test_inline(argv[1]);
  return rtsep_test::report("test_rt_safety: ");
}
