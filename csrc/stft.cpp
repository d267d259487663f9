#include "stft.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace rtsep {
namespace {

void check_common(std::size_t n_fft, std::size_t hop_samples, const float* window,
                  std::size_t n_channels, const char* who) {
  const std::string prefix(who);
  if (window == nullptr) throw std::invalid_argument(prefix + ": window is null");
  if (n_channels == 0) throw std::invalid_argument(prefix + ": n_channels must be >= 1");
  if (hop_samples == 0 || hop_samples > n_fft) {
    throw std::invalid_argument(prefix + ": hop_samples must be in [1, n_fft=" +
                                std::to_string(n_fft) + "], got " + std::to_string(hop_samples));
  }
}

// dst[i] = src[i], or 0 where src[i] is NaN or +-Inf; returns how many were
// replaced. Tests the exponent bits (all ones: not finite), which vectorises.
std::uint64_t copy_finite(const float* __restrict src, float* __restrict dst,
                          std::size_t n) noexcept {
  std::uint32_t n_bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, src + i, sizeof bits);
    const bool finite = (bits & 0x7f800000u) != 0x7f800000u;
    dst[i] = finite ? src[i] : 0.0f;
    n_bad += finite ? 0u : 1u;
  }
  return n_bad;
}

}  // namespace

std::size_t synthesis_support_samples(const float* window, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (window[i] != 0.0f) return n - i;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// StreamingStft

StreamingStft::StreamingStft(std::size_t n_fft, std::size_t hop_samples,
                             const float* analysis_window, std::size_t n_channels)
    : n_fft_(n_fft),
      hop_(hop_samples),
      n_channels_(n_channels),
      fft_(n_fft),
      // Room for about n_fft more samples (whole hops) after a full window: the
      // move back to the start happens once per that many samples.
      history_capacity_(n_fft + hop_samples * std::max<std::size_t>(1, n_fft / hop_samples)),
      age_samples_(n_fft) {
  check_common(n_fft, hop_samples, analysis_window, n_channels, "StreamingStft");
  window_.assign(analysis_window, analysis_window + n_fft);
  history_.assign(n_channels * history_capacity_, 0.0f);
  pending_.assign(n_channels * hop_samples, 0.0f);
}

void StreamingStft::analyze_hop(const float* hop_in, std::ptrdiff_t channel_stride,
                                std::complex<float>* frame_out) noexcept {
  const std::size_t n_bins = n_fft_ / 2 + 1;
  const std::size_t n_keep = n_fft_ - hop_;
  const bool full = history_start_ + n_fft_ + hop_ > history_capacity_;
  std::uint64_t n_bad = 0;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    float* row = history_.data() + c * history_capacity_;
    if (full) std::memmove(row, row + history_start_ + hop_, n_keep * sizeof(float));
    const std::size_t start = full ? 0 : history_start_ + hop_;
    n_bad += copy_finite(hop_in + static_cast<std::ptrdiff_t>(c) * channel_stride,
                         row + start + n_keep, hop_);
    fft_.forward_windowed(row + start, window_.data(), frame_out + c * n_bins);
  }
  history_start_ = full ? 0 : history_start_ + hop_;
  n_nonfinite_replaced_ += n_bad;
  age_samples_ = 0;
}

std::size_t StreamingStft::process(const float* in, std::ptrdiff_t channel_stride,
                                   std::size_t n_samples,
                                   std::complex<float>* frames_out) noexcept {
  const std::size_t frame_size = n_channels_ * (n_fft_ / 2 + 1);
  std::size_t n_frames = 0;
  std::size_t i = 0;
  while (i < n_samples) {
    if (n_pending_ == 0 && n_samples - i >= hop_) {
      // Whole hop available in the caller's buffer: no copy into pending_.
      analyze_hop(in + i, channel_stride, frames_out + n_frames * frame_size);
      ++n_frames;
      i += hop_;
      continue;
    }
    const std::size_t n_take = std::min(hop_ - n_pending_, n_samples - i);
    for (std::size_t c = 0; c < n_channels_; ++c) {
      std::memcpy(pending_.data() + c * hop_ + n_pending_,
                  in + static_cast<std::ptrdiff_t>(c) * channel_stride + i,
                  n_take * sizeof(float));
    }
    n_pending_ += n_take;
    i += n_take;
    if (n_pending_ == hop_) {
      analyze_hop(pending_.data(), static_cast<std::ptrdiff_t>(hop_),
                  frames_out + n_frames * frame_size);
      ++n_frames;
      n_pending_ = 0;
    }
  }
  return n_frames;
}

std::size_t StreamingStft::n_flush_frames() const noexcept {
  std::size_t age = age_samples_;
  std::size_t n_frames = 0;
  if (n_pending_ > 0) {
    age = hop_ - n_pending_;
    ++n_frames;
  }
  while (age + hop_ < n_fft_) {
    age += hop_;
    ++n_frames;
  }
  return n_frames;
}

std::size_t StreamingStft::flush(std::complex<float>* frames_out) noexcept {
  const std::size_t frame_size = n_channels_ * (n_fft_ / 2 + 1);
  const std::size_t n_frames = n_flush_frames();
  std::size_t age = age_samples_;
  if (n_pending_ > 0) age = hop_ - n_pending_;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    std::fill(pending_.begin() + static_cast<std::ptrdiff_t>(c * hop_ + n_pending_),
              pending_.begin() + static_cast<std::ptrdiff_t>((c + 1) * hop_), 0.0f);
  }
  for (std::size_t f = 0; f < n_frames; ++f) {
    analyze_hop(pending_.data(), static_cast<std::ptrdiff_t>(hop_), frames_out + f * frame_size);
    if (f == 0 && n_pending_ > 0) {
      std::fill(pending_.begin(), pending_.end(), 0.0f);
    } else {
      age += hop_;
    }
  }
  n_pending_ = 0;
  age_samples_ = std::min(age, n_fft_);
  return n_frames;
}

void StreamingStft::reset() noexcept {
  std::fill(history_.begin(), history_.end(), 0.0f);
  history_start_ = 0;
  std::fill(pending_.begin(), pending_.end(), 0.0f);
  n_pending_ = 0;
  age_samples_ = n_fft_;
  n_nonfinite_replaced_ = 0;
}

// ---------------------------------------------------------------------------
// StreamingIstft

StreamingIstft::StreamingIstft(std::size_t n_fft, std::size_t hop_samples,
                               const float* synthesis_window, std::size_t n_channels)
    : n_fft_(n_fft), hop_(hop_samples), n_channels_(n_channels), support_(0), fft_(n_fft) {
  check_common(n_fft, hop_samples, synthesis_window, n_channels, "StreamingIstft");
  support_ = synthesis_support_samples(synthesis_window, n_fft);
  if (support_ == 0) throw std::invalid_argument("StreamingIstft: synthesis window is all zeros");
  if (support_ < hop_samples) {
    throw std::invalid_argument(
        "StreamingIstft: synthesis window support (" + std::to_string(support_) +
        " samples) is shorter than the hop (" + std::to_string(hop_samples) +
        "): overlap-add would leave gaps");
  }
  window_tail_.assign(synthesis_window + (n_fft - support_), synthesis_window + n_fft);
  time_.assign(n_fft, 0.0f);
  carry_.assign(n_channels * (support_ - hop_), 0.0f);
}

void StreamingIstft::synthesize_hop(const std::complex<float>* frame, float* out,
                                    std::ptrdiff_t channel_stride) noexcept {
  const std::size_t n_bins = n_fft_ / 2 + 1;
  const std::size_t n_carry = support_ - hop_;
  const std::size_t n_out_carried = std::min(hop_, n_carry);
  const float* t = time_.data() + (n_fft_ - support_);
  const float* w = window_tail_.data();
  for (std::size_t c = 0; c < n_channels_; ++c) {
    fft_.inverse(frame + c * n_bins, time_.data());
    float* carry = carry_.data() + c * n_carry;
    float* y = out + static_cast<std::ptrdiff_t>(c) * channel_stride;
    // Overlap-add in one pass: the first hop samples of (carry + windowed
    // frame) go out, the rest becomes the new carry (moved down by hop).
    for (std::size_t i = 0; i < n_out_carried; ++i) y[i] = carry[i] + t[i] * w[i];
    for (std::size_t i = n_out_carried; i < hop_; ++i) y[i] = t[i] * w[i];
    const std::size_t n_still_carried = n_carry > hop_ ? n_carry - hop_ : 0;
    for (std::size_t i = 0; i < n_still_carried; ++i) {
      carry[i] = carry[i + hop_] + t[i + hop_] * w[i + hop_];
    }
    for (std::size_t i = n_still_carried; i < n_carry; ++i) carry[i] = t[i + hop_] * w[i + hop_];
  }
}

void StreamingIstft::process(const std::complex<float>* frames, std::size_t n_frames, float* out,
                             std::ptrdiff_t channel_stride) noexcept {
  const std::size_t frame_size = n_channels_ * (n_fft_ / 2 + 1);
  for (std::size_t f = 0; f < n_frames; ++f) {
    synthesize_hop(frames + f * frame_size, out + f * hop_, channel_stride);
  }
}

void StreamingIstft::flush(float* out, std::ptrdiff_t channel_stride) noexcept {
  const std::size_t n_carry = support_ - hop_;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    float* carry = carry_.data() + c * n_carry;
    std::memcpy(out + static_cast<std::ptrdiff_t>(c) * channel_stride, carry,
                n_carry * sizeof(float));
    std::fill(carry, carry + n_carry, 0.0f);
  }
}

void StreamingIstft::reset() noexcept { std::fill(carry_.begin(), carry_.end(), 0.0f); }

}  // namespace rtsep
