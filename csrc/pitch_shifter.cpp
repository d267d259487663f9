#include "pitch_shifter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace rtsep {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;
// The formant correction of one bin is limited to +-18 dB: where the envelope is
// near zero (a band the input does not have), it must not amplify noise.
constexpr float kMaxLogEnvelopeGain = 2.0794415f;  // ln 8
constexpr float kLogFloor = 1e-12f;

double wrap_phase(double x) noexcept { return std::remainder(x, kTwoPi); }

}  // namespace

PitchShifter::PitchShifter(std::size_t n_fft, std::size_t hop_samples, std::size_t n_channels,
                           std::size_t reference_sample)
    : n_fft_(n_fft),
      hop_(hop_samples),
      n_channels_(n_channels),
      n_bins_(n_fft / 2 + 1),
      reference_(static_cast<double>(reference_sample)) {
  if (n_fft < 16 || n_fft % 2 != 0) throw std::invalid_argument("PitchShifter: n_fft must be even and >= 16");
  if (hop_samples == 0 || hop_samples > n_fft) {
    throw std::invalid_argument("PitchShifter: hop_samples must be in [1, n_fft]");
  }
  if (n_channels == 0) throw std::invalid_argument("PitchShifter: n_channels must be >= 1");
  if (reference_sample >= n_fft) {
    throw std::invalid_argument("PitchShifter: reference_sample must be < n_fft");
  }
  magnitude_.assign(n_bins_, 0.0f);
  phase_.assign(n_bins_, 0.0);
  previous_phase_.assign(n_bins_, 0.0);
  peak_phase_.assign(n_bins_, 0.0);
  previous_peak_phase_.assign(n_bins_, 0.0);
  log_envelope_.assign(n_bins_, 0.0f);
  scratch_.assign(n_bins_ + 1, 0.0f);
  peaks_.assign(n_bins_, 0);
  bounds_.assign(n_bins_ + 1, 0);
  reset();
}

void PitchShifter::reset() noexcept {
  std::fill(previous_phase_.begin(), previous_phase_.end(), 0.0);
  std::fill(previous_peak_phase_.begin(), previous_peak_phase_.end(), 0.0);
  n_frames_ = 0;
}

void PitchShifter::find_peaks() noexcept {
  const std::size_t nb = n_bins_;
  const float* m = magnitude_.data();
  n_peaks_ = 0;
  // Every bin, the lowest ones included (a bass note's partial sits in bin 1 or 2 at
  // n_fft 1024): a neighbour beyond either end does not count against a peak.
  for (std::size_t k = 0; k < nb; ++k) {
    const float v = m[k];
    if (v <= 0.0f) continue;
    const bool left = (k < 1 || v > m[k - 1]) && (k < 2 || v > m[k - 2]);
    const bool right = (k + 1 >= nb || v >= m[k + 1]) && (k + 2 >= nb || v >= m[k + 2]);
    if (left && right) peaks_[n_peaks_++] = static_cast<std::uint32_t>(k);
  }
  if (n_peaks_ == 0) {  // flat or silent: one region around the largest bin
    peaks_[0] = static_cast<std::uint32_t>(std::max_element(m, m + nb) - m);
    n_peaks_ = 1;
  }
  bounds_[0] = 0;
  for (std::size_t i = 1; i < n_peaks_; ++i) {
    std::size_t lowest = peaks_[i - 1] + 1;
    for (std::size_t k = lowest + 1; k < peaks_[i]; ++k) {
      if (m[k] < m[lowest]) lowest = k;
    }
    bounds_[i] = static_cast<std::uint32_t>(lowest);
  }
  bounds_[n_peaks_] = static_cast<std::uint32_t>(nb);
}

void PitchShifter::smooth_log_envelope() noexcept {
  // The spectral envelope: the log magnitudes of the spectral peaks (for a voice, its
  // harmonics) joined by straight lines, then a short moving average (+-2 bins at n_fft
  // 1024). It follows the partials, not the troughs between them, and keeps formants a
  // few hundred hertz apart (a vowel's first two), which a smoothing of the log magnitude
  // wide enough to remove the harmonics would blur away.
  const std::size_t nb = n_bins_;
  float* env = log_envelope_.data();
  const auto log_peak = [&](std::size_t i) { return std::log(magnitude_[peaks_[i]] + kLogFloor); };
  std::size_t k = 0;
  for (; k <= peaks_[0] && k < nb; ++k) env[k] = log_peak(0);
  for (std::size_t i = 0; i + 1 < n_peaks_; ++i) {
    const float a = log_peak(i);
    const float b = log_peak(i + 1);
    const float span = static_cast<float>(peaks_[i + 1] - peaks_[i]);
    for (; k <= peaks_[i + 1]; ++k) env[k] = a + (b - a) * static_cast<float>(k - peaks_[i]) / span;
  }
  for (; k < nb; ++k) env[k] = log_peak(n_peaks_ - 1);
  const std::size_t half_width = std::max<std::size_t>(1, n_fft_ / 512);
  float* sum = scratch_.data();  // sum[k] = env[0] + ... + env[k - 1]
  sum[0] = 0.0f;
  for (std::size_t j = 0; j < nb; ++j) sum[j + 1] = sum[j] + env[j];
  for (std::size_t j = 0; j < nb; ++j) {
    const std::size_t lo = j > half_width ? j - half_width : 0;
    const std::size_t hi = std::min(nb, j + half_width + 1);
    env[j] = (sum[hi] - sum[lo]) / static_cast<float>(hi - lo);
  }
}

void PitchShifter::process(const std::complex<float>* in, std::complex<float>* out, double ratio,
                           bool preserve_formants) noexcept {
  const std::size_t nb = n_bins_;
  if (!(ratio >= kMinRatio)) ratio = kMinRatio;  // NaN too
  if (ratio > kMaxRatio) ratio = kMaxRatio;
  for (std::size_t k = 0; k < nb; ++k) {
    std::complex<float> s = in[k];
    for (std::size_t c = 1; c < n_channels_; ++c) s += in[c * nb + k];
    magnitude_[k] = std::abs(s);
    phase_[k] = std::atan2(static_cast<double>(s.imag()), static_cast<double>(s.real()));
  }
  std::fill(out, out + n_channels_ * nb, std::complex<float>(0.0f, 0.0f));
  find_peaks();
  if (preserve_formants) smooth_log_envelope();

  const double bin_width = kTwoPi / static_cast<double>(n_fft_);
  const double hop = static_cast<double>(hop_);
  const auto last_bin = static_cast<std::ptrdiff_t>(nb) - 1;
  for (std::size_t i = 0; i < n_peaks_; ++i) {
    const std::size_t p = peaks_[i];
    double omega = bin_width * static_cast<double>(p);  // rad per sample
    if (n_frames_ > 0) {
      omega += wrap_phase(phase_[p] - previous_phase_[p] - omega * hop) / hop;
    }
    const auto move = static_cast<std::ptrdiff_t>(
        std::lround(ratio * omega / bin_width - static_cast<double>(p)));
    // The peak's output phase at the reference sample: advanced from the phase of
    // the previous frame's region that held this bin, or (first frame) its input phase.
    const double target_phase =
        n_frames_ > 0 ? wrap_phase(previous_peak_phase_[p] + ratio * omega * hop)
                      : wrap_phase(phase_[p] + omega * reference_);
    const double rotation =
        target_phase - phase_[p] - (omega + bin_width * static_cast<double>(move)) * reference_;
    const std::complex<float> turn(static_cast<float>(std::cos(rotation)),
                                   static_cast<float>(std::sin(rotation)));
    const std::size_t lo = bounds_[i];
    const std::size_t hi = bounds_[i + 1];
    for (std::size_t k = lo; k < hi; ++k) {
      peak_phase_[k] = target_phase;
      const std::ptrdiff_t q = static_cast<std::ptrdiff_t>(k) + move;
      if (q < 0 || q > last_bin) continue;
      std::complex<float> factor = turn;
      if (preserve_formants) {
        const float d = std::clamp(log_envelope_[static_cast<std::size_t>(q)] - log_envelope_[k],
                                   -kMaxLogEnvelopeGain, kMaxLogEnvelopeGain);
        factor *= std::exp(d);
      }
      for (std::size_t c = 0; c < n_channels_; ++c) {
        out[c * nb + static_cast<std::size_t>(q)] += in[c * nb + k] * factor;
      }
    }
  }
  previous_phase_.swap(phase_);
  previous_peak_phase_.swap(peak_phase_);
  ++n_frames_;
}

}  // namespace rtsep
