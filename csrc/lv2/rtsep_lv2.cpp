// rtsep.lv2: the rtsep separator as an LV2 plugin, a thin adapter over the C ABI.
//
// Ports (see rtsep.ttl): stereo in; two stereo outputs, A and B, whose content
// the mode port selects exactly as RTSEP_PARAM_MODE does (both: A = vocals,
// B = instrumental; mix / vocals / instrumental: A = B = that signal); vocals
// and instrumental gains in dB, mode, bypass; the latency as an output control
// port (lv2:designation lv2:latency), constant for the plugin's life; the
// instrumental's and the vocals' key change in semitones (ports 11 and 12, after
// the latency so that the older ports keep their indices; the latency does not move);
// the separation strength (port 13, RTSEP_PARAM_STRENGTH).
//
// Threads: the model is loaded from <bundle>/model.rtsepw and the engine is
// allocated in instantiate() (not the audio thread). run() does the hop
// processing inline: each hop's model step (about 3.4 M multiply-adds for the
// default model; well under a millisecond on a desktop core, against a hop of
// 5.3 ms at 48 kHz) runs in the run() call that completes the hop. There is no
// worker thread, so there is no deadline miss to fall back from and the
// latency is the algorithmic one; the cost is that the CPU load is bursty: a
// host block shorter than a hop carries a whole hop's compute every few blocks.
// run() never allocates, locks or logs.
#include <lv2/core/lv2.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "rtsep.h"

namespace {

constexpr const char* kUri = "urn:rtsep:lv2:separator";
constexpr const char* kModelFile = "model.rtsepw";
// Blocks longer than this are processed in pieces (LV2 sets no upper bound).
constexpr std::uint32_t kChunkSamples = 4096;

enum Port : std::uint32_t {
  kInL = 0,
  kInR,
  kOutAL,
  kOutAR,
  kOutBL,
  kOutBR,
  kVocalsGain,
  kInstrumentalGain,
  kMode,
  kBypass,
  kLatency,
  kKey,
  kVocalsKey,
  kStrength,
  kNumPorts
};

struct Plugin {
  rtsep_processor* processor = nullptr;
  const float* in[2] = {nullptr, nullptr};
  float* out_a[2] = {nullptr, nullptr};
  float* out_b[2] = {nullptr, nullptr};
  const float* vocals_gain = nullptr;
  const float* instrumental_gain = nullptr;
  const float* mode = nullptr;
  const float* bypass = nullptr;
  float* latency = nullptr;
  const float* key = nullptr;
  const float* vocals_key = nullptr;
  const float* strength = nullptr;
};

LV2_Handle instantiate(const LV2_Descriptor*, double sample_rate_hz, const char* bundle_path,
                       const LV2_Feature* const*) {
  std::string path = bundle_path != nullptr ? bundle_path : "";
  if (!path.empty() && path.back() != '/') path += '/';
  path += kModelFile;
  rtsep_status status;
  rtsep_processor* p = rtsep_create(path.c_str(), &status);
  if (p == nullptr) {
    std::fprintf(stderr, "rtsep.lv2: cannot load the model: %s\n", rtsep_last_error(nullptr));
    return nullptr;
  }
  status = rtsep_prepare(p, sample_rate_hz, kChunkSamples, 2);
  if (status != RTSEP_OK) {
    std::fprintf(stderr, "rtsep.lv2: %s\n", rtsep_last_error(p));
    rtsep_destroy(p);
    return nullptr;
  }
  auto* plugin = new Plugin;
  plugin->processor = p;
  return plugin;
}

void connect_port(LV2_Handle handle, std::uint32_t port, void* data) {
  auto* p = static_cast<Plugin*>(handle);
  switch (port) {
    case kInL: p->in[0] = static_cast<const float*>(data); break;
    case kInR: p->in[1] = static_cast<const float*>(data); break;
    case kOutAL: p->out_a[0] = static_cast<float*>(data); break;
    case kOutAR: p->out_a[1] = static_cast<float*>(data); break;
    case kOutBL: p->out_b[0] = static_cast<float*>(data); break;
    case kOutBR: p->out_b[1] = static_cast<float*>(data); break;
    case kVocalsGain: p->vocals_gain = static_cast<const float*>(data); break;
    case kInstrumentalGain: p->instrumental_gain = static_cast<const float*>(data); break;
    case kMode: p->mode = static_cast<const float*>(data); break;
    case kBypass: p->bypass = static_cast<const float*>(data); break;
    case kLatency: p->latency = static_cast<float*>(data); break;
    case kKey: p->key = static_cast<const float*>(data); break;
    case kVocalsKey: p->vocals_key = static_cast<const float*>(data); break;
    case kStrength: p->strength = static_cast<const float*>(data); break;
    default: break;
  }
}

// Control values -> parameters (atomic stores; the engine ramps every change).
void read_controls(Plugin* p) {
  rtsep_processor* h = p->processor;
  if (p->vocals_gain != nullptr && std::isfinite(*p->vocals_gain)) {
    rtsep_set_parameter(h, RTSEP_PARAM_VOCALS_GAIN_DB, std::fmin(*p->vocals_gain, 24.0f));
  }
  if (p->instrumental_gain != nullptr && std::isfinite(*p->instrumental_gain)) {
    rtsep_set_parameter(h, RTSEP_PARAM_INSTRUMENTAL_GAIN_DB, std::fmin(*p->instrumental_gain, 24.0f));
  }
  if (p->mode != nullptr && std::isfinite(*p->mode)) {
    const float m = std::fmin(std::fmax(std::nearbyint(*p->mode), 0.0f), 3.0f);
    rtsep_set_parameter(h, RTSEP_PARAM_MODE, m);
  }
  if (p->bypass != nullptr) rtsep_set_parameter(h, RTSEP_PARAM_BYPASS, *p->bypass > 0.5f ? 1.0f : 0.0f);
  if (p->key != nullptr && std::isfinite(*p->key)) {
    rtsep_set_parameter(h, RTSEP_PARAM_KEY_SEMITONES, std::fmin(std::fmax(*p->key, -12.0f), 12.0f));
  }
  if (p->vocals_key != nullptr && std::isfinite(*p->vocals_key)) {
    rtsep_set_parameter(h, RTSEP_PARAM_VOCALS_KEY_SEMITONES,
                        std::fmin(std::fmax(*p->vocals_key, -12.0f), 12.0f));
  }
  if (p->strength != nullptr && std::isfinite(*p->strength)) {
    rtsep_set_parameter(h, RTSEP_PARAM_STRENGTH, std::fmin(std::fmax(*p->strength, 0.25f), 4.0f));
  }
}

// A new stream: the control values connected so far apply at once (no ramp
// from the defaults); later changes are ramped.
void activate(LV2_Handle handle) {
  auto* p = static_cast<Plugin*>(handle);
  read_controls(p);
  rtsep_reset(p->processor);
}

void run(LV2_Handle handle, std::uint32_t n_samples) {
  auto* p = static_cast<Plugin*>(handle);
  if (p->latency != nullptr) *p->latency = static_cast<float>(rtsep_latency_samples(p->processor));
  read_controls(p);
  for (int c = 0; c < 2; ++c) {
    if (p->in[c] == nullptr || p->out_a[c] == nullptr || p->out_b[c] == nullptr) return;
  }
  for (std::uint32_t done = 0; done < n_samples;) {
    const std::uint32_t n = n_samples - done < kChunkSamples ? n_samples - done : kChunkSamples;
    const float* in[2] = {p->in[0] + done, p->in[1] + done};
    float* a[2] = {p->out_a[0] + done, p->out_a[1] + done};
    float* b[2] = {p->out_b[0] + done, p->out_b[1] + done};
    rtsep_process(p->processor, in, a, b, n);
    done += n;
  }
}

void deactivate(LV2_Handle) {}

void cleanup(LV2_Handle handle) {
  auto* p = static_cast<Plugin*>(handle);
  rtsep_destroy(p->processor);
  delete p;
}

const void* extension_data(const char*) { return nullptr; }

const LV2_Descriptor kDescriptor = {kUri,       instantiate, connect_port, activate, run,
                                    deactivate, cleanup,     extension_data};

}  // namespace

extern "C" LV2_SYMBOL_EXPORT const LV2_Descriptor* lv2_descriptor(std::uint32_t index) {
  return index == 0 ? &kDescriptor : nullptr;
}
