// The C ABI (csrc/include/rtsep.h): a thin C shim over rtsep::BlockProcessor
// (csrc/block_processor.hpp) driven by rtsep::NativeModel. See rtsep.h for the
// contract. The hop's model step runs inline, in the calling (audio) thread.
#include "rtsep.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "block_processor.hpp"
#include "native_model.hpp"

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr std::size_t kErrorBytes = 512;
constexpr const char* kLatencyModeNames[2] = {"default", "low"};

static_assert(static_cast<int>(rtsep::Mode::kBoth) == RTSEP_MODE_BOTH &&
                  static_cast<int>(rtsep::Mode::kMix) == RTSEP_MODE_MIX &&
                  static_cast<int>(rtsep::Mode::kVocals) == RTSEP_MODE_VOCALS &&
                  static_cast<int>(rtsep::Mode::kInstrumental) == RTSEP_MODE_INSTRUMENTAL,
              "rtsep::Mode is the C ABI's mode order");

thread_local std::string t_last_error;

void copy_message(char* dst, const char* src) noexcept {
  std::size_t i = 0;
  for (; src[i] != '\0' && i + 1 < kErrorBytes; ++i) dst[i] = src[i];
  dst[i] = '\0';
}

}  // namespace

struct rtsep_processor {
  std::shared_ptr<rtsep::NativeModel> model;
  // Set from any thread, before or after prepare; every BlockProcessor reads them.
  std::shared_ptr<rtsep::Parameters> params = std::make_shared<rtsep::Parameters>();
  std::atomic<int> latency_mode{0};
  std::unique_ptr<rtsep::BlockProcessor> proc;  // null until a successful prepare
  std::size_t n_channels = 0;
  char error[kErrorBytes] = {0};

  void fail(const char* message) noexcept { copy_message(error, message); }

  void silence(float* const* out, std::size_t n) const noexcept {
    if (out == nullptr) return;
    for (std::size_t c = 0; c < n_channels; ++c) {
      if (out[c] != nullptr) std::memset(out[c], 0, n * sizeof(float));
    }
  }
};

struct rtsep_model {
  std::shared_ptr<rtsep::NativeModel> model;
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
  h->proc.reset();
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
  const char* mode_name = kLatencyModeNames[h->latency_mode.load()];
  const rtsep::NativeLatencyMode* mode = h->model->latency_mode(mode_name);
  if (mode == nullptr) {
    h->fail((std::string("the model has no '") + mode_name + "' latency mode").c_str());
    return RTSEP_ERR_UNSUPPORTED;
  }
  try {
    auto proc = std::make_unique<rtsep::BlockProcessor>(h->model, h->model->geometry(mode_name),
                                                        sample_rate_hz, max_block_size, n_channels,
                                                        h->params);
    if (proc->latency_samples() != mode->latency_samples) {
      h->fail("engine latency differs from the model file's (a different rtsep made it)");
      return RTSEP_ERR_MODEL;
    }
    h->proc = std::move(proc);
  } catch (const std::bad_alloc&) {
    h->fail("out of memory");
    return RTSEP_ERR_INTERNAL;
  } catch (const std::exception& e) {
    h->fail(e.what());
    return RTSEP_ERR_INTERNAL;
  }
  h->n_channels = n_channels;
  h->error[0] = '\0';
  return RTSEP_OK;
}

rtsep_status rtsep_process(rtsep_processor* h, const float* const* in, float* const* vocals_out,
                           float* const* instrumental_out, uint32_t n_frames) {
  if (h == nullptr) return RTSEP_ERR_ARGUMENT;
  if (!h->proc) {
    h->fail("rtsep_process before a successful rtsep_prepare");
    return RTSEP_ERR_STATE;
  }
  const std::size_t n = n_frames;
  bool pointers_ok = in != nullptr && vocals_out != nullptr && instrumental_out != nullptr;
  for (std::size_t c = 0; pointers_ok && c < h->n_channels; ++c) {
    pointers_ok = in[c] != nullptr && vocals_out[c] != nullptr && instrumental_out[c] != nullptr;
  }
  if (!pointers_ok || n > h->proc->max_block_samples()) {
    h->silence(vocals_out, n);
    h->silence(instrumental_out, n);
    h->fail(pointers_ok ? "n_frames > max_block_size" : "a NULL channel pointer");
    return RTSEP_ERR_ARGUMENT;
  }
  h->proc->process(in, vocals_out, instrumental_out, n);  // the native model never throws
  return RTSEP_OK;
}

rtsep_status rtsep_reset(rtsep_processor* h) {
  if (h == nullptr) return RTSEP_ERR_ARGUMENT;
  if (!h->proc) {
    h->fail("rtsep_reset before a successful rtsep_prepare");
    return RTSEP_ERR_STATE;
  }
  h->proc->reset();
  return RTSEP_OK;
}

int32_t rtsep_latency_samples(const rtsep_processor* h) {
  if (h == nullptr) return -1;
  if (h->proc) return static_cast<int32_t>(h->proc->latency_samples());
  const rtsep::NativeLatencyMode* mode = h->model->latency_mode(kLatencyModeNames[h->latency_mode.load()]);
  return mode != nullptr ? static_cast<int32_t>(mode->latency_samples) : -1;
}

rtsep_status rtsep_set_parameter(rtsep_processor* h, rtsep_param param, float value) {
  if (h == nullptr) return RTSEP_ERR_ARGUMENT;
  if (std::isnan(value)) return RTSEP_ERR_ARGUMENT;
  rtsep::Parameters& p = *h->params;
  bool ok = false;
  switch (param) {
    case RTSEP_PARAM_VOCALS_GAIN_DB: ok = p.set_vocals_gain_db(value); break;
    case RTSEP_PARAM_INSTRUMENTAL_GAIN_DB: ok = p.set_instrumental_gain_db(value); break;
    case RTSEP_PARAM_MODE:
      ok = value == std::floor(value) && value >= 0.0f && value <= 3.0f &&
           p.set_mode(static_cast<int>(value));
      break;
    case RTSEP_PARAM_BYPASS:
      ok = value == 0.0f || value == 1.0f;
      if (ok) p.set_bypass(value != 0.0f);
      break;
    case RTSEP_PARAM_LATENCY_MODE:
      ok = value == 0.0f || value == 1.0f;
      if (ok) h->latency_mode.store(static_cast<int>(value), std::memory_order_relaxed);
      break;
    case RTSEP_PARAM_KEY_SEMITONES: ok = p.set_key_semitones(value); break;
    case RTSEP_PARAM_VOCALS_KEY_SEMITONES: ok = p.set_vocals_key_semitones(value); break;
    case RTSEP_PARAM_STRENGTH: ok = p.set_strength(value); break;
  }
  return ok ? RTSEP_OK : RTSEP_ERR_ARGUMENT;
}

float rtsep_get_parameter(const rtsep_processor* h, rtsep_param param) {
  if (h == nullptr) return std::nanf("");
  const rtsep::Parameters& p = *h->params;
  switch (param) {
    case RTSEP_PARAM_VOCALS_GAIN_DB: return p.vocals_gain_db.load(std::memory_order_relaxed);
    case RTSEP_PARAM_INSTRUMENTAL_GAIN_DB: return p.instrumental_gain_db.load(std::memory_order_relaxed);
    case RTSEP_PARAM_MODE: return static_cast<float>(p.mode.load(std::memory_order_relaxed));
    case RTSEP_PARAM_BYPASS: return p.bypass.load(std::memory_order_relaxed) ? 1.0f : 0.0f;
    case RTSEP_PARAM_LATENCY_MODE:
      return static_cast<float>(h->latency_mode.load(std::memory_order_relaxed));
    case RTSEP_PARAM_KEY_SEMITONES: return p.key_semitones.load(std::memory_order_relaxed);
    case RTSEP_PARAM_VOCALS_KEY_SEMITONES: return p.vocals_key_semitones.load(std::memory_order_relaxed);
    case RTSEP_PARAM_STRENGTH: return p.strength.load(std::memory_order_relaxed);
  }
  return std::nanf("");
}

const char* rtsep_model_metadata_json(const rtsep_processor* h) {
  return h != nullptr ? h->model->metadata_json().c_str() : "";
}

uint64_t rtsep_frames_processed(const rtsep_processor* h) {
  return h != nullptr && h->proc ? h->proc->n_frames_processed() : 0;
}

uint64_t rtsep_nonfinite_replaced(const rtsep_processor* h) {
  return h != nullptr && h->proc ? h->proc->n_nonfinite_replaced() : 0;
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
