// DelayLine: a pure multi-channel delay, the reference processor for tests.
#pragma once

#include <algorithm>
#include <cstddef>

#include "ring_buffer.hpp"

namespace rtsep {

/// out[t] = in[t - delay_samples] (zeros before the start). Any block size;
/// in and out may be the same buffer. Allocates only in the constructor.
class DelayLine {
 public:
  DelayLine(std::size_t n_channels, std::size_t delay_samples)
      : delay_samples_(delay_samples), ring_(n_channels, delay_samples + kChunk) {
    reset();
  }

  std::size_t n_channels() const noexcept { return ring_.n_channels(); }
  std::size_t latency_samples() const noexcept { return delay_samples_; }

  /// Planar (n_channels, n_samples) in and out, channel strides in floats.
  void process(const float* in, std::ptrdiff_t in_stride, float* out, std::ptrdiff_t out_stride,
               std::size_t n_samples) noexcept {
    std::size_t done = 0;
    while (done < n_samples) {
      // The ring holds exactly delay_samples between calls, so kChunk always fits.
      const std::size_t n = std::min(kChunk, n_samples - done);
      ring_.push_planar(in + done, in_stride, n);
      ring_.pop_planar(out + done, out_stride, n);
      done += n;
    }
  }

  void reset() noexcept {
    ring_.reset();
    ring_.push_silence(delay_samples_);
  }

 private:
  static constexpr std::size_t kChunk = 1024;
  std::size_t delay_samples_;
  RingBuffer ring_;
};

}  // namespace rtsep
