#include "hop_engine.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace rtsep {
namespace {

std::size_t checked_max_block(std::size_t max_block_samples) {
  if (max_block_samples == 0) {
    throw std::invalid_argument("HopEngine: max_block_samples must be >= 1");
  }
  return max_block_samples;
}

}  // namespace

HopEngine::HopEngine(std::size_t n_fft, std::size_t hop_samples, const float* analysis_window,
                     const float* synthesis_window, std::size_t n_channels,
                     std::size_t max_block_samples)
    : hop_(hop_samples),
      n_channels_(n_channels),
      max_block_samples_(checked_max_block(max_block_samples)),
      stft_(n_fft, hop_samples, analysis_window, n_channels),
      istft_(n_fft, hop_samples, synthesis_window, n_channels),
      // Input: at most hop - 1 samples wait between blocks, plus one block.
      input_(n_channels, max_block_samples + hop_samples),
      // Output: at most block + hop - 1 samples wait before a pull, plus one hop
      // being synthesised.
      vocals_out_(n_channels, max_block_samples + 2 * hop_samples),
      instrumental_out_(n_channels, max_block_samples + 2 * hop_samples),
      hop_in_(n_channels * hop_samples, 0.0f),
      frame_(n_channels * (n_fft / 2 + 1)),
      masked_(n_channels * (n_fft / 2 + 1)),
      vocals_hop_(n_channels * hop_samples, 0.0f),
      instrumental_hop_(n_channels * hop_samples, 0.0f),
      instrumental_istft_(n_fft, hop_samples, synthesis_window, n_channels),
      // Each shifter tracks the phase at the centre of the synthesis window's support.
      vocals_shifter_(n_fft, hop_samples, n_channels, n_fft - istft_.support_samples() / 2),
      instrumental_shifter_(n_fft, hop_samples, n_channels, n_fft - istft_.support_samples() / 2),
      vocals_spectrum_(n_channels * (n_fft / 2 + 1)),
      instrumental_spectrum_(n_channels * (n_fft / 2 + 1)),
      shifted_(n_channels * (n_fft / 2 + 1)),
      keyed_tail_length_((istft_.stream_delay_samples() + hop_samples - 1) / hop_samples + 1) {
  reset();
}

void HopEngine::set_key(double vocals_ratio, double instrumental_ratio) noexcept {
  const auto clean = [](double r) {
    if (!(r > 0.0) || !std::isfinite(r)) return 1.0;
    return std::clamp(r, PitchShifter::kMinRatio, PitchShifter::kMaxRatio);
  };
  vocals_key_.target = clean(vocals_ratio);
  instrumental_key_.target = clean(instrumental_ratio);
}

void HopEngine::set_key_fade_frames(std::size_t n_frames) noexcept {
  key_fade_frames_ = std::max<std::size_t>(1, n_frames);
}

float HopEngine::step_lane(KeyLane& lane, PitchShifter& shifter) noexcept {
  const float step = 1.0f / static_cast<float>(key_fade_frames_);
  if (lane.target != 1.0) {
    lane.ratio = lane.target;  // key to key: the shifter's phase carries on
    lane.fade = std::min(1.0f, lane.fade + step);
  } else if (lane.fade > 0.0f) {
    lane.fade = std::max(0.0f, lane.fade - step);  // fading out at the last ratio
    if (lane.fade == 0.0f) shifter.reset();        // the next key starts afresh
  }
  return lane.fade;
}

void HopEngine::blend_shifted(std::complex<float>* spectrum, const KeyLane& lane, float weight,
                              PitchShifter& shifter, bool preserve_formants) noexcept {
  shifter.process(spectrum, shifted_.data(), lane.ratio, preserve_formants);
  const std::size_t n = n_channels_ * stft_.n_bins();
  const float keep = 1.0f - weight;
  for (std::size_t i = 0; i < n; ++i) spectrum[i] = keep * spectrum[i] + weight * shifted_[i];
}

bool HopEngine::push_input(const float* in, std::ptrdiff_t channel_stride,
                           std::size_t n_samples) noexcept {
  if (n_samples > input_.available_write()) return false;
  input_.push_planar(in, channel_stride, n_samples);
  return true;
}

bool HopEngine::analyze() noexcept {
  if (frame_pending_ || input_.available_read() < hop_) return false;
  input_.pop_planar(hop_in_.data(), static_cast<std::ptrdiff_t>(hop_), hop_);
  stft_.analyze_hop(hop_in_.data(), static_cast<std::ptrdiff_t>(hop_), frame_.data());
  frame_pending_ = true;
  return true;
}

bool HopEngine::synthesize(const float* mask, std::ptrdiff_t channel_stride) noexcept {
  if (!frame_pending_ || vocals_out_.available_write() < hop_) return false;
  const std::size_t n_bins = stft_.n_bins();
  std::uint64_t n_bad = 0;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    const float* m = mask + static_cast<std::ptrdiff_t>(c) * channel_stride;
    const std::complex<float>* x = frame_.data() + c * n_bins;
    std::complex<float>* y = masked_.data() + c * n_bins;
    for (std::size_t b = 0; b < n_bins; ++b) {
      const bool finite = std::isfinite(m[b]);
      const float g = finite ? m[b] : 0.0f;
      n_bad += finite ? 0 : 1;
      y[b] = std::complex<float>(x[b].real() * g, x[b].imag() * g);
    }
  }
  n_nonfinite_mask_ += n_bad;
  return finish_synthesis(masked_.data());
}

bool HopEngine::synthesize_complex(const std::complex<float>* mask,
                                   std::ptrdiff_t channel_stride) noexcept {
  if (!frame_pending_ || vocals_out_.available_write() < hop_) return false;
  const std::size_t n_bins = stft_.n_bins();
  std::uint64_t n_bad = 0;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    const std::complex<float>* m = mask + static_cast<std::ptrdiff_t>(c) * channel_stride;
    const std::complex<float>* x = frame_.data() + c * n_bins;
    std::complex<float>* y = masked_.data() + c * n_bins;
    for (std::size_t b = 0; b < n_bins; ++b) {
      const float mr = m[b].real();
      const float mi = m[b].imag();
      const bool finite = std::isfinite(mr) && std::isfinite(mi);
      n_bad += finite ? 0 : 1;
      const float gr = finite ? mr : 0.0f;
      const float gi = finite ? mi : 0.0f;
      const float xr = x[b].real();
      const float xi = x[b].imag();
      y[b] = std::complex<float>(xr * gr - xi * gi, xr * gi + xi * gr);
    }
  }
  n_nonfinite_mask_ += n_bad;
  return finish_synthesis(masked_.data());
}

bool HopEngine::synthesize_identity() noexcept {
  if (!frame_pending_ || vocals_out_.available_write() < hop_) return false;
  return finish_synthesis(frame_.data());
}

bool HopEngine::finish_synthesis(const std::complex<float>* spectrum) noexcept {
  const auto hop_stride = static_cast<std::ptrdiff_t>(hop_);
  const std::size_t n = n_channels_ * stft_.n_bins();
  // The instrumental spectrum always feeds its own iSTFT, so that it is ready the
  // moment a key is switched on.
  for (std::size_t i = 0; i < n; ++i) instrumental_spectrum_[i] = frame_[i] - spectrum[i];
  const float vocals_weight = step_lane(vocals_key_, vocals_shifter_);
  const float instrumental_weight = step_lane(instrumental_key_, instrumental_shifter_);
  if (vocals_weight > 0.0f || instrumental_weight > 0.0f) {
    keyed_tail_frames_ = keyed_tail_length_;
  } else if (keyed_tail_frames_ > 0) {
    --keyed_tail_frames_;
  }
  if (vocals_weight > 0.0f) {
    std::copy(spectrum, spectrum + n, vocals_spectrum_.begin());
    blend_shifted(vocals_spectrum_.data(), vocals_key_, vocals_weight, vocals_shifter_, true);
    spectrum = vocals_spectrum_.data();
  }
  if (instrumental_weight > 0.0f) {
    blend_shifted(instrumental_spectrum_.data(), instrumental_key_, instrumental_weight,
                  instrumental_shifter_, false);
  }
  istft_.synthesize_hop(spectrum, vocals_hop_.data(), hop_stride);
  instrumental_istft_.synthesize_hop(instrumental_spectrum_.data(), instrumental_hop_.data(),
                                     hop_stride);
  if (keyed_tail_frames_ == 0) {
    // No key change: instrumental = dry - vocals, exactly as without the feature.
    // The iSTFT just emitted input samples [t - support, t - support + hop), where
    // t is the end of the frame, i.e. history positions [n_fft - support, ... + hop).
    const std::size_t dry_offset = stft_.n_fft() - istft_.support_samples();
    for (std::size_t c = 0; c < n_channels_; ++c) {
      const float* dry = stft_.history(c) + dry_offset;
      const float* v = vocals_hop_.data() + c * hop_;
      float* ins = instrumental_hop_.data() + c * hop_;
      for (std::size_t i = 0; i < hop_; ++i) ins[i] = dry[i] - v[i];
    }
  }
  vocals_out_.push_planar(vocals_hop_.data(), hop_stride, hop_);
  instrumental_out_.push_planar(instrumental_hop_.data(), hop_stride, hop_);
  frame_pending_ = false;
  ++n_frames_processed_;
  return true;
}

bool HopEngine::pull(float* vocals, std::ptrdiff_t vocals_stride, float* instrumental,
                     std::ptrdiff_t instrumental_stride, std::size_t n_samples) noexcept {
  if (n_samples > vocals_out_.available_read()) return false;
  vocals_out_.pop_planar(vocals, vocals_stride, n_samples);
  instrumental_out_.pop_planar(instrumental, instrumental_stride, n_samples);
  return true;
}

void HopEngine::reset() noexcept {
  stft_.reset();
  istft_.reset();
  instrumental_istft_.reset();
  vocals_shifter_.reset();
  instrumental_shifter_.reset();
  // A stream starts with the keys already in place (as the gains jump to theirs).
  for (KeyLane* lane : {&vocals_key_, &instrumental_key_}) {
    lane->ratio = lane->target;
    lane->fade = lane->target != 1.0 ? 1.0f : 0.0f;
  }
  keyed_tail_frames_ = (vocals_key_.fade > 0.0f || instrumental_key_.fade > 0.0f) ? keyed_tail_length_ : 0;
  input_.reset();
  vocals_out_.reset();
  instrumental_out_.reset();
  vocals_out_.push_silence(hop_ - 1);
  instrumental_out_.push_silence(hop_ - 1);
  std::fill(frame_.begin(), frame_.end(), std::complex<float>(0.0f, 0.0f));
  frame_pending_ = false;
  n_frames_processed_ = 0;
  n_nonfinite_mask_ = 0;
}

}  // namespace rtsep
