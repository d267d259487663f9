#include "block_processor.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace rtsep {

namespace {

const BlockGeometry& checked(const BlockGeometry& g, const std::shared_ptr<MaskModel>& model,
                             std::size_t n_channels, std::size_t max_block, double rate) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("BlockProcessor: " + what); };
  if (!model) fail("no model");
  if (n_channels != 1 && n_channels != 2) {
    fail("n_channels must be 1 or 2, got " + std::to_string(n_channels));
  }
  if (max_block == 0) fail("max_block_samples must be >= 1");
  if (!(rate > 0.0) || !std::isfinite(rate)) fail("sample_rate_hz must be > 0");
  if (g.analysis_window.size() != g.n_fft || g.synthesis_window.size() != g.n_fft) {
    fail("windows must have n_fft samples");
  }
  if (model->n_bins() != g.n_fft / 2 + 1) {
    fail("the model has " + std::to_string(model->n_bins()) + " bins, the geometry " +
         std::to_string(g.n_fft / 2 + 1));
  }
  return g;
}

/// Every mask value m > 0 becomes m^exponent (0, negatives and NaN stay as they
/// are: the HopEngine counts and zeroes what is not finite).
void shape_mask(float* mask, std::size_t n, float exponent) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (mask[i] > 0.0f) mask[i] = std::pow(mask[i], exponent);
  }
}

}  // namespace

float Parameters::db_to_gain(float db) noexcept {
  return db <= kMinGainDb ? 0.0f : std::pow(10.0f, db / 20.0f);
}

bool Parameters::set_gain(std::atomic<float>& slot, float db) noexcept {
  if (std::isnan(db) || db > kMaxGainDb) return false;
  slot.store(db, std::memory_order_relaxed);
  return true;
}

double Parameters::semitones_to_ratio(float st) noexcept {
  return std::exp2(static_cast<double>(st) / 12.0);
}

bool Parameters::set_key(std::atomic<float>& slot, float st) noexcept {
  if (!(std::fabs(st) <= kMaxKeySemitones)) return false;  // NaN too
  slot.store(st, std::memory_order_relaxed);
  return true;
}

BlockProcessor::BlockProcessor(std::shared_ptr<MaskModel> model, const BlockGeometry& geometry,
                               double sample_rate_hz, std::size_t max_block_samples,
                               std::size_t n_channels, std::shared_ptr<Parameters> parameters)
    : model_(std::move(model)),
      params_(parameters ? std::move(parameters) : std::make_shared<Parameters>()),
      sample_rate_hz_(sample_rate_hz),
      max_block_(max_block_samples),
      n_channels_(n_channels),
      engine_(checked(geometry, model_, n_channels, max_block_samples, sample_rate_hz).n_fft,
              geometry.hop_samples, geometry.analysis_window.data(),
              geometry.synthesis_window.data(), 2, max_block_samples),
      dry_delay_(2, engine_.latency_samples()),
      mix_a_(2, sample_rate_hz, kRampMs),
      mix_b_(2, sample_rate_hz, kRampMs),
      bypass_a_(2, sample_rate_hz, kRampMs),
      bypass_b_(2, sample_rate_hz, kRampMs),
      stereo_(2 * max_block_samples, 0.0f),
      vocals_(2 * max_block_samples, 0.0f),
      instrumental_(2 * max_block_samples, 0.0f),
      out_a_(2 * max_block_samples, 0.0f),
      out_b_(2 * max_block_samples, 0.0f),
      dry_(2 * max_block_samples, 0.0f),
      mask_(2 * engine_.n_bins(), 0.0f) {
  const double ramp_samples = kRampMs * 1e-3 * sample_rate_hz;
  engine_.set_key_fade_frames(static_cast<std::size_t>(
      std::ceil(ramp_samples / static_cast<double>(engine_.hop_samples()))));
  reset();
}

void BlockProcessor::apply_key() noexcept {
  const Parameters& p = *params_;
  engine_.set_key(Parameters::semitones_to_ratio(p.vocals_key_semitones.load(std::memory_order_relaxed)),
                  Parameters::semitones_to_ratio(p.key_semitones.load(std::memory_order_relaxed)));
}

void BlockProcessor::apply_parameters() noexcept {
  const Parameters& p = *params_;
  const float g_v = Parameters::db_to_gain(p.vocals_gain_db.load(std::memory_order_relaxed));
  const float g_i = Parameters::db_to_gain(p.instrumental_gain_db.load(std::memory_order_relaxed));
  const auto m = static_cast<Mode>(p.mode.load(std::memory_order_relaxed));
  const bool by = p.bypass.load(std::memory_order_relaxed);
  for (Mixer* mix : {&mix_a_, &mix_b_}) {
    mix->set_vocals_gain(g_v);
    mix->set_instrumental_gain(g_i);
  }
  const bool v_off = p.vocals_muted.load(std::memory_order_relaxed);
  const bool i_off = p.instrumental_muted.load(std::memory_order_relaxed);
  mix_a_.set_vocals_muted(v_off || m == Mode::kInstrumental);
  mix_a_.set_instrumental_muted(i_off || m == Mode::kBoth || m == Mode::kVocals);
  mix_b_.set_vocals_muted(v_off || m == Mode::kBoth || m == Mode::kInstrumental);
  mix_b_.set_instrumental_muted(i_off || m == Mode::kVocals);
  for (Mixer* mix : {&bypass_a_, &bypass_b_}) {
    mix->set_vocals_muted(by);         // "vocals" input: the processed signal
    mix->set_instrumental_muted(!by);  // "instrumental" input: the delayed dry input
  }
}

void BlockProcessor::reset() {
  apply_key();
  engine_.reset();
  dry_delay_.reset();
  apply_parameters();
  for (Mixer* mix : {&mix_a_, &mix_b_, &bypass_a_, &bypass_b_}) mix->reset();
  n_nonfinite_input_ = 0;
  model_->reset();
}

bool BlockProcessor::process(const float* const* in, float* const* out_a, float* const* out_b,
                             std::size_t n) {
  if (n > max_block_) return false;
  if (n == 0) return true;
  const std::size_t S = max_block_;
  const auto stride = static_cast<std::ptrdiff_t>(S);
  // Copy first: the host's outputs may alias its inputs.
  float* stereo = stereo_.data();
  std::uint64_t n_bad = 0;
  for (std::size_t c = 0; c < 2; ++c) {
    const float* src = in[n_channels_ == 1 ? 0 : c];
    float* dst = stereo + c * S;
    for (std::size_t i = 0; i < n; ++i) {
      const float v = src[i];
      const bool ok = std::isfinite(v);
      dst[i] = ok ? v : 0.0f;
      n_bad += ok ? 0 : 1;
    }
    if (n_channels_ == 1) {  // the same samples: count them once
      std::memcpy(stereo + S, dst, n * sizeof(float));
      break;
    }
  }
  n_nonfinite_input_ += n_bad;

  apply_key();
  engine_.push_input(stereo, stride, n);  // always fits: every block is pulled in full below
  const auto n_bins = static_cast<std::ptrdiff_t>(engine_.n_bins());
  const float exponent = 1.0f / params_->strength.load(std::memory_order_relaxed);
  while (engine_.frames_ready() > 0) {
    engine_.analyze();
    try {
      model_->step(reinterpret_cast<const float*>(engine_.frame()), mask_.data());
    } catch (...) {
      reset();  // the frame is pending and the model's state unknown: start over
      throw;
    }
    if (exponent != 1.0f) shape_mask(mask_.data(), mask_.size(), exponent);
    engine_.synthesize(mask_.data(), n_bins);
  }
  float* v = vocals_.data();
  float* a = instrumental_.data();
  engine_.pull(v, stride, a, stride, n);
  dry_delay_.process(stereo, stride, dry_.data(), stride, n);

  apply_parameters();
  float* oa = out_a_.data();
  float* ob = out_b_.data();
  mix_a_.process(v, stride, a, stride, oa, stride, n);
  mix_b_.process(v, stride, a, stride, ob, stride, n);
  bypass_a_.process(oa, stride, dry_.data(), stride, oa, stride, n);
  bypass_b_.process(ob, stride, dry_.data(), stride, ob, stride, n);
  if (n_channels_ == 2) {
    for (std::size_t c = 0; c < 2; ++c) {
      std::memcpy(out_a[c], oa + c * S, n * sizeof(float));
      std::memcpy(out_b[c], ob + c * S, n * sizeof(float));
    }
  } else {
    const float* a1 = oa + S;
    const float* b1 = ob + S;
    for (std::size_t i = 0; i < n; ++i) {
      out_a[0][i] = 0.5f * (oa[i] + a1[i]);
      out_b[0][i] = 0.5f * (ob[i] + b1[i]);
    }
  }
  return true;
}

}  // namespace rtsep
