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
    : n_fft_(n_fft), hop_(hop_samples), n_channels_(n_channels), fft_(n_fft), age_samples_(n_fft) {
  check_common(n_fft, hop_samples, analysis_window, n_channels, "StreamingStft");
  window_.assign(analysis_window, analysis_window + n_fft);
  history_.assign(n_channels * n_fft, 0.0f);
  windowed_.assign(n_fft, 0.0f);
  pending_.assign(n_channels * hop_samples, 0.0f);
}

void StreamingStft::analyze_hop(const float* hop_in, std::ptrdiff_t channel_stride,
                                std::complex<float>* frame_out) noexcept {
  const std::size_t n_bins = n_fft_ / 2 + 1;
  const std::size_t n_keep = n_fft_ - hop_;
  std::uint64_t n_bad = 0;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    float* h = history_.data() + c * n_fft_;
    std::memmove(h, h + hop_, n_keep * sizeof(float));
    const float* src = hop_in + static_cast<std::ptrdiff_t>(c) * channel_stride;
    float* dst = h + n_keep;
    for (std::size_t i = 0; i < hop_; ++i) {
      const float v = src[i];
      const bool finite = std::isfinite(v);
      dst[i] = finite ? v : 0.0f;
      n_bad += finite ? 0 : 1;
    }
    const float* w = window_.data();
    float* xw = windowed_.data();
    for (std::size_t i = 0; i < n_fft_; ++i) xw[i] = h[i] * w[i];
    fft_.forward(xw, frame_out + c * n_bins);
  }
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
  accumulator_.assign(n_channels * support_, 0.0f);
}

void StreamingIstft::synthesize_hop(const std::complex<float>* frame, float* out,
                                    std::ptrdiff_t channel_stride) noexcept {
  const std::size_t n_bins = n_fft_ / 2 + 1;
  const std::size_t offset = n_fft_ - support_;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    fft_.inverse(frame + c * n_bins, time_.data());
    float* acc = accumulator_.data() + c * support_;
    const float* t = time_.data() + offset;
    const float* w = window_tail_.data();
    for (std::size_t i = 0; i < support_; ++i) acc[i] += t[i] * w[i];
    std::memcpy(out + static_cast<std::ptrdiff_t>(c) * channel_stride, acc, hop_ * sizeof(float));
    std::memmove(acc, acc + hop_, (support_ - hop_) * sizeof(float));
    std::fill(acc + (support_ - hop_), acc + support_, 0.0f);
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
  const std::size_t n_tail = support_ - hop_;
  for (std::size_t c = 0; c < n_channels_; ++c) {
    float* acc = accumulator_.data() + c * support_;
    std::memcpy(out + static_cast<std::ptrdiff_t>(c) * channel_stride, acc, n_tail * sizeof(float));
    std::fill(acc, acc + support_, 0.0f);
  }
}

void StreamingIstft::reset() noexcept {
  std::fill(accumulator_.begin(), accumulator_.end(), 0.0f);
}

}  // namespace rtsep
