// The C ABI (csrc/include/rtsep.h) over the C++ core: HopEngine (STFT, mask,
// overlap-add, fixed latency) driven by NativeModel, then the Mixer stages that
// give the output modes, gains and bypass. See rtsep.h for the contract.
//
// Per block (all buffers allocated in rtsep_prepare):
//   input -> sanitised stereo copy (mono duplicated) -> HopEngine push
//   per ready hop: analyze -> NativeModel::step -> synthesize
//   HopEngine pull -> vocals, instrumental        (delayed by latency_samples)
//   stereo copy -> DelayLine(latency_samples) -> dry
//   Mixer A (v, i) -> out A; Mixer B (v, i) -> out B  (mode and gains)
//   bypass Mixer (out A, dry) -> out A; (out B, dry) -> out B  (cross-fade)
//   out A -> vocals_out, out B -> instrumental_out (mono: the channel average)
// The hop's model step runs inline, in the calling (audio) thread.
#include "rtsep.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "delay_line.hpp"
#include "hop_engine.hpp"
#include "mixer.hpp"
#include "native_model.hpp"

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr float kMinGainDb = -120.0f;
constexpr float kMaxGainDb = 24.0f;
constexpr double kRampMs = 20.0;
constexpr std::size_t kErrorBytes = 512;
constexpr const char* kLatencyModeNames[2] = {"default", "low"};

thread_local std::string t_last_error;

void copy_message(char* dst, const char* src) noexcept {
  std::size_t i = 0;
  for (; src[i] != '\0' && i + 1 < kErrorBytes; ++i) dst[i] = src[i];
  dst[i] = '\0';
}

float db_to_gain(float db) noexcept { return db <= kMinGainDb ? 0.0f : std::pow(10.0f, db / 20.0f); }

}  // namespace

struct rtsep_processor {
  std::unique_ptr<rtsep::NativeModel> model;

  std::atomic<float> vocals_gain_db{0.0f};
  std::atomic<float> instrumental_gain_db{0.0f};
  std::atomic<int> mode{RTSEP_MODE_BOTH};
  std::atomic<int> bypass{0};
  std::atomic<int> latency_mode{0};

  bool prepared = false;
  double sample_rate_hz = 0.0;
  std::size_t max_block = 0;
  std::size_t n_channels = 0;
  std::size_t latency_samples = 0;
  std::unique_ptr<rtsep::HopEngine> engine;
  std::unique_ptr<rtsep::DelayLine> dry_delay;
  std::unique_ptr<rtsep::Mixer> mix_a, mix_b, bypass_a, bypass_b;
  std::vector<float> stereo_in, vocals, instrumental, out_a, out_b, dry;  // (2, max_block)
  std::vector<float> mask;                                                // (2, n_bins)
  std::uint64_t n_nonfinite = 0;

  char error[kErrorBytes] = {0};

  void fail(const char* message) noexcept { copy_message(error, message); }

  // Mode, gains and bypass -> the four mixers' targets (they ramp to them).
  void apply_parameters() noexcept {
    const float g_v = db_to_gain(vocals_gain_db.load(std::memory_order_relaxed));
    const float g_i = db_to_gain(instrumental_gain_db.load(std::memory_order_relaxed));
    const int m = mode.load(std::memory_order_relaxed);
    const bool by = bypass.load(std::memory_order_relaxed) != 0;
    for (rtsep::Mixer* mix : {mix_a.get(), mix_b.get()}) {
      mix->set_vocals_gain(g_v);
      mix->set_instrumental_gain(g_i);
    }
    mix_a->set_vocals_muted(m == RTSEP_MODE_INSTRUMENTAL);
    mix_a->set_instrumental_muted(m == RTSEP_MODE_BOTH || m == RTSEP_MODE_VOCALS);
    mix_b->set_vocals_muted(m == RTSEP_MODE_BOTH || m == RTSEP_MODE_INSTRUMENTAL);
    mix_b->set_instrumental_muted(m == RTSEP_MODE_VOCALS);
    for (rtsep::Mixer* mix : {bypass_a.get(), bypass_b.get()}) {
      mix->set_vocals_muted(by);          // "vocals" = the wet signal
      mix->set_instrumental_muted(!by);   // "instrumental" = the delayed dry input
    }
  }

  void reset_stream() noexcept {
    engine->reset();
    dry_delay->reset();
    model->reset();
    apply_parameters();
    for (rtsep::Mixer* mix : {mix_a.get(), mix_b.get(), bypass_a.get(), bypass_b.get()}) mix->reset();
    n_nonfinite = 0;
  }

  void silence(float* const* out, std::size_t n) const noexcept {
    if (out == nullptr) return;
    for (std::size_t c = 0; c < n_channels; ++c) {
      if (out[c] != nullptr) std::memset(out[c], 0, n * sizeof(float));
    }
  }
};

struct rtsep_model {
  std::unique_ptr<rtsep::NativeModel> model;
};

namespace {

// A handle around the model that load() returns; the status and the message of a
// failure go to *status and t_last_error.
template <class T, class Load>
T* open_model_with(Load load, rtsep_status* status) {
  auto set = [&](rtsep_status s, const std::string& msg) {
    t_last_error = msg;
    if (status != nullptr) *status = s;
  };
  try {
    auto handle = std::make_unique<T>();
    handle->model = load();
    set(RTSEP_OK, "");
    return handle.release();
  } catch (const rtsep::NativeModelError& e) {
    set(RTSEP_ERR_MODEL, e.what());
  } catch (const std::bad_alloc&) {
    set(RTSEP_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    set(RTSEP_ERR_INTERNAL, e.what());
  }
  return nullptr;
}

template <class T>
T* open_model(const char* model_path, rtsep_status* status) {
  if (model_path == nullptr || *model_path == '\0') {
    t_last_error = "model_path is NULL or empty";
    if (status != nullptr) *status = RTSEP_ERR_ARGUMENT;
    return nullptr;
  }
  return open_model_with<T>([&] { return rtsep::NativeModel::load(model_path); }, status);
}

}  // namespace

extern "C" {

const char* rtsep_version(void) { return kVersion; }

const char* rtsep_status_string(rtsep_status status) {
  switch (status) {
    case RTSEP_OK: return "ok";
    case RTSEP_ERR_ARGUMENT: return "bad argument";
    case RTSEP_ERR_STATE: return "called in the wrong state";
    case RTSEP_ERR_MODEL: return "model file missing, corrupt or not supported";
    case RTSEP_ERR_UNSUPPORTED: return "sample rate or channel count not supported";
    case RTSEP_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* rtsep_last_error(const rtsep_processor* handle) {
  return handle != nullptr ? handle->error : t_last_error.c_str();
}

rtsep_processor* rtsep_create(const char* model_path, rtsep_status* status) {
  return open_model<rtsep_processor>(model_path, status);
}

rtsep_processor* rtsep_create_from_memory(const void* data, size_t n_bytes, rtsep_status* status) {
  if (data == nullptr) {
    t_last_error = "data is NULL";
    if (status != nullptr) *status = RTSEP_ERR_ARGUMENT;
    return nullptr;
  }
  return open_model_with<rtsep_processor>(
      [&] { return rtsep::NativeModel::load_bytes(data, n_bytes, "<model in memory>"); }, status);
}

rtsep_status rtsep_prepare(rtsep_processor* h, double sample_rate_hz, uint32_t max_block_size,
                           uint32_t n_channels) {
  if (h == nullptr) return RTSEP_ERR_ARGUMENT;
  h->prepared = false;
  if (n_channels != 1 && n_channels != 2) {
    h->fail(("n_channels must be 1 or 2, got " + std::to_string(n_channels)).c_str());
    return RTSEP_ERR_UNSUPPORTED;
  }
  if (max_block_size == 0) {
    h->fail("max_block_size must be >= 1");
    return RTSEP_ERR_ARGUMENT;
  }
  if (!h->model->supports_sample_rate(sample_rate_hz)) {
    std::string rates;
    for (int r : h->model->sample_rates_hz()) rates += (rates.empty() ? "" : ", ") + std::to_string(r);
    h->fail(("the model runs at " + rates + " Hz, not " + std::to_string(sample_rate_hz) +
             " Hz (resample, or run the host at a supported rate)").c_str());
    return RTSEP_ERR_UNSUPPORTED;
  }
  const int lm = h->latency_mode.load();
  const rtsep::NativeLatencyMode* mode = h->model->latency_mode(kLatencyModeNames[lm]);
  if (mode == nullptr) {
    h->fail((std::string("the model has no '") + kLatencyModeNames[lm] + "' latency mode").c_str());
    return RTSEP_ERR_UNSUPPORTED;
  }
  try {
    const rtsep::NativeModel& m = *h->model;
    h->engine = std::make_unique<rtsep::HopEngine>(m.n_fft(), m.hop_samples(),
                                                   m.analysis_window().data(),
                                                   mode->synthesis_window.data(), 2, max_block_size);
    if (h->engine->latency_samples() != mode->latency_samples) {
      h->fail("engine latency differs from the model file's (a different rtsep made it)");
      return RTSEP_ERR_MODEL;
    }
    h->latency_samples = mode->latency_samples;
    h->dry_delay = std::make_unique<rtsep::DelayLine>(2, h->latency_samples);
    h->mix_a = std::make_unique<rtsep::Mixer>(2, sample_rate_hz, kRampMs);
    h->mix_b = std::make_unique<rtsep::Mixer>(2, sample_rate_hz, kRampMs);
    h->bypass_a = std::make_unique<rtsep::Mixer>(2, sample_rate_hz, kRampMs);
    h->bypass_b = std::make_unique<rtsep::Mixer>(2, sample_rate_hz, kRampMs);
    const std::size_t n = 2 * static_cast<std::size_t>(max_block_size);
    for (auto* buf : {&h->stereo_in, &h->vocals, &h->instrumental, &h->out_a, &h->out_b, &h->dry}) {
      buf->assign(n, 0.0f);
    }
    h->mask.assign(2 * m.n_bins(), 0.0f);
  } catch (const std::bad_alloc&) {
    h->fail("out of memory");
    return RTSEP_ERR_INTERNAL;
  } catch (const std::exception& e) {
    h->fail(e.what());
    return RTSEP_ERR_INTERNAL;
  }
  h->sample_rate_hz = sample_rate_hz;
  h->max_block = max_block_size;
  h->n_channels = n_channels;
  h->reset_stream();
  h->prepared = true;
  h->error[0] = '\0';
  return RTSEP_OK;
}

rtsep_status rtsep_process(rtsep_processor* h, const float* const* in, float* const* vocals_out,
                           float* const* instrumental_out, uint32_t n_frames) {
  if (h == nullptr) return RTSEP_ERR_ARGUMENT;
  if (!h->prepared) {
    h->fail("rtsep_process before a successful rtsep_prepare");
    return RTSEP_ERR_STATE;
  }
  const std::size_t n = n_frames;
  const std::size_t n_ch = h->n_channels;
  bool pointers_ok = in != nullptr && vocals_out != nullptr && instrumental_out != nullptr;
  for (std::size_t c = 0; pointers_ok && c < n_ch; ++c) {
    pointers_ok = in[c] != nullptr && vocals_out[c] != nullptr && instrumental_out[c] != nullptr;
  }
  if (!pointers_ok || n > h->max_block) {
    h->silence(vocals_out, n);
    h->silence(instrumental_out, n);
    h->fail(pointers_ok ? "n_frames > max_block_size" : "a NULL channel pointer");
    return RTSEP_ERR_ARGUMENT;
  }
  if (n == 0) return RTSEP_OK;
  const auto stride = static_cast<std::ptrdiff_t>(h->max_block);
  float* stereo = h->stereo_in.data();
  // Copy first: the host's outputs may alias its inputs.
  for (std::size_t c = 0; c < 2; ++c) {
    const float* src = in[n_ch == 1 ? 0 : c];
    float* dst = stereo + c * h->max_block;
    const bool count = n_ch == 2 || c == 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float v = src[i];
      if (std::isfinite(v)) {
        dst[i] = v;
      } else {
        dst[i] = 0.0f;
        h->n_nonfinite += count ? 1 : 0;
      }
    }
  }
  rtsep::HopEngine& eng = *h->engine;
  eng.push_input(stereo, stride, n);  // always fits: every block is pulled in full below
  const std::size_t n_bins = eng.n_bins();
  while (eng.frames_ready() > 0) {
    eng.analyze();
    h->model->step(reinterpret_cast<const float*>(eng.frame()), h->mask.data());
    eng.synthesize(h->mask.data(), static_cast<std::ptrdiff_t>(n_bins));
  }
  float* v = h->vocals.data();
  float* a = h->instrumental.data();
  eng.pull(v, stride, a, stride, n);
  h->dry_delay->process(stereo, stride, h->dry.data(), stride, n);
  h->apply_parameters();
  float* oa = h->out_a.data();
  float* ob = h->out_b.data();
  h->mix_a->process(v, stride, a, stride, oa, stride, n);
  h->mix_b->process(v, stride, a, stride, ob, stride, n);
  h->bypass_a->process(oa, stride, h->dry.data(), stride, oa, stride, n);
  h->bypass_b->process(ob, stride, h->dry.data(), stride, ob, stride, n);
  if (n_ch == 2) {
    for (std::size_t c = 0; c < 2; ++c) {
      std::memcpy(vocals_out[c], oa + c * h->max_block, n * sizeof(float));
      std::memcpy(instrumental_out[c], ob + c * h->max_block, n * sizeof(float));
    }
  } else {
    const float* a1 = oa + h->max_block;
    const float* b1 = ob + h->max_block;
    for (std::size_t i = 0; i < n; ++i) {
      vocals_out[0][i] = 0.5f * (oa[i] + a1[i]);
      instrumental_out[0][i] = 0.5f * (ob[i] + b1[i]);
    }
  }
  return RTSEP_OK;
}

rtsep_status rtsep_reset(rtsep_processor* h) {
  if (h == nullptr) return RTSEP_ERR_ARGUMENT;
  if (!h->prepared) {
    h->fail("rtsep_reset before a successful rtsep_prepare");
    return RTSEP_ERR_STATE;
  }
  h->reset_stream();
  return RTSEP_OK;
}

int32_t rtsep_latency_samples(const rtsep_processor* h) {
  if (h == nullptr) return -1;
  if (h->prepared) return static_cast<int32_t>(h->latency_samples);
  const rtsep::NativeLatencyMode* mode = h->model->latency_mode(kLatencyModeNames[h->latency_mode.load()]);
  return mode != nullptr ? static_cast<int32_t>(mode->latency_samples) : -1;
}

rtsep_status rtsep_set_parameter(rtsep_processor* h, rtsep_param param, float value) {
  if (h == nullptr) return RTSEP_ERR_ARGUMENT;
  if (std::isnan(value)) return RTSEP_ERR_ARGUMENT;
  switch (param) {
    case RTSEP_PARAM_VOCALS_GAIN_DB:
    case RTSEP_PARAM_INSTRUMENTAL_GAIN_DB:
      if (value > kMaxGainDb) return RTSEP_ERR_ARGUMENT;  // -inf is fine: silence
      (param == RTSEP_PARAM_VOCALS_GAIN_DB ? h->vocals_gain_db : h->instrumental_gain_db)
          .store(value, std::memory_order_relaxed);
      return RTSEP_OK;
    case RTSEP_PARAM_MODE:
      if (value != std::floor(value) || value < RTSEP_MODE_BOTH || value > RTSEP_MODE_INSTRUMENTAL) {
        return RTSEP_ERR_ARGUMENT;
      }
      h->mode.store(static_cast<int>(value), std::memory_order_relaxed);
      return RTSEP_OK;
    case RTSEP_PARAM_BYPASS:
      if (value != 0.0f && value != 1.0f) return RTSEP_ERR_ARGUMENT;
      h->bypass.store(value != 0.0f ? 1 : 0, std::memory_order_relaxed);
      return RTSEP_OK;
    case RTSEP_PARAM_LATENCY_MODE:
      if (value != 0.0f && value != 1.0f) return RTSEP_ERR_ARGUMENT;
      h->latency_mode.store(static_cast<int>(value), std::memory_order_relaxed);
      return RTSEP_OK;
  }
  return RTSEP_ERR_ARGUMENT;
}

float rtsep_get_parameter(const rtsep_processor* h, rtsep_param param) {
  if (h == nullptr) return std::nanf("");
  switch (param) {
    case RTSEP_PARAM_VOCALS_GAIN_DB: return h->vocals_gain_db.load(std::memory_order_relaxed);
    case RTSEP_PARAM_INSTRUMENTAL_GAIN_DB:
      return h->instrumental_gain_db.load(std::memory_order_relaxed);
    case RTSEP_PARAM_MODE: return static_cast<float>(h->mode.load(std::memory_order_relaxed));
    case RTSEP_PARAM_BYPASS: return static_cast<float>(h->bypass.load(std::memory_order_relaxed));
    case RTSEP_PARAM_LATENCY_MODE:
      return static_cast<float>(h->latency_mode.load(std::memory_order_relaxed));
  }
  return std::nanf("");
}

const char* rtsep_model_metadata_json(const rtsep_processor* h) {
  return h != nullptr ? h->model->metadata_json().c_str() : "";
}

uint64_t rtsep_frames_processed(const rtsep_processor* h) {
  return h != nullptr && h->prepared ? h->engine->n_frames_processed() : 0;
}

uint64_t rtsep_nonfinite_replaced(const rtsep_processor* h) {
  return h != nullptr && h->prepared ? h->n_nonfinite + h->engine->n_nonfinite_replaced() : 0;
}

void rtsep_destroy(rtsep_processor* h) { delete h; }

rtsep_model* rtsep_model_open(const char* model_path, rtsep_status* status) {
  return open_model<rtsep_model>(model_path, status);
}

uint32_t rtsep_model_n_bins(const rtsep_model* m) {
  return m != nullptr ? static_cast<uint32_t>(m->model->n_bins()) : 0;
}

rtsep_status rtsep_model_step(rtsep_model* m, const float* frame, float* mask) {
  if (m == nullptr || frame == nullptr || mask == nullptr) return RTSEP_ERR_ARGUMENT;
  m->model->step(frame, mask);
  return RTSEP_OK;
}

void rtsep_model_reset(rtsep_model* m) {
  if (m != nullptr) m->model->reset();
}

void rtsep_model_close(rtsep_model* m) { delete m; }

}  // extern "C"
