// Lock-free single-producer / single-consumer ring of multi-channel float32 audio.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace rtsep {

/// SPSC ring of planar float32 audio; one frame = one sample per channel.
///
/// Storage is allocated in the constructor only. Exactly one thread may call the
/// push_* methods (the producer) and exactly one thread the pop_* methods (the
/// consumer); they may be different threads and run concurrently. Nothing here
/// blocks, locks or allocates: a push moves what fits and counts the rest in
/// overflow_frames(); a pop moves what is there, leaves the rest of the caller's
/// buffer untouched and counts the missing frames in underflow_frames().
/// The indices are 64-bit frame counters (never wrap in practice); the write
/// index is published with release and read with acquire, and vice versa.
class RingBuffer {
 public:
  /// n_channels >= 1, capacity_frames >= 1; throws std::invalid_argument otherwise.
  RingBuffer(std::size_t n_channels, std::size_t capacity_frames)
      : n_channels_(n_channels), capacity_frames_(capacity_frames) {
    if (n_channels == 0) throw std::invalid_argument("RingBuffer: n_channels must be >= 1");
    if (capacity_frames == 0) {
      throw std::invalid_argument("RingBuffer: capacity_frames must be >= 1");
    }
    storage_.assign(n_channels * capacity_frames, 0.0f);
  }

  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  std::size_t n_channels() const noexcept { return n_channels_; }
  std::size_t capacity_frames() const noexcept { return capacity_frames_; }

  // ---- producer side -------------------------------------------------------

  /// Push planar audio: channel c starts at data + c * channel_stride (in floats),
  /// samples contiguous. Returns the number of frames moved (<= n_frames).
  std::size_t push_planar(const float* data, std::ptrdiff_t channel_stride,
                          std::size_t n_frames) noexcept {
    return push_with(n_frames, [&](std::size_t at, std::size_t from, std::size_t n) {
      for (std::size_t c = 0; c < n_channels_; ++c) {
        std::memcpy(row(c) + at, data + static_cast<std::ptrdiff_t>(c) * channel_stride + from,
                    n * sizeof(float));
      }
    });
  }

  /// Push planar audio given one pointer per channel.
  std::size_t push_planar(const float* const* channels, std::size_t n_frames) noexcept {
    return push_with(n_frames, [&](std::size_t at, std::size_t from, std::size_t n) {
      for (std::size_t c = 0; c < n_channels_; ++c) {
        std::memcpy(row(c) + at, channels[c] + from, n * sizeof(float));
      }
    });
  }

  /// Push interleaved audio (frame-major: data[i * n_channels + c], as PortAudio).
  std::size_t push_interleaved(const float* data, std::size_t n_frames) noexcept {
    return push_with(n_frames, [&](std::size_t at, std::size_t from, std::size_t n) {
      for (std::size_t c = 0; c < n_channels_; ++c) {
        float* dst = row(c) + at;
        const float* src = data + from * n_channels_ + c;
        for (std::size_t i = 0; i < n; ++i) dst[i] = src[i * n_channels_];
      }
    });
  }

  /// Push n_frames of zeros (e.g. to pre-fill a latency margin).
  std::size_t push_silence(std::size_t n_frames) noexcept {
    return push_with(n_frames, [&](std::size_t at, std::size_t, std::size_t n) {
      for (std::size_t c = 0; c < n_channels_; ++c) std::fill_n(row(c) + at, n, 0.0f);
    });
  }

  // ---- consumer side -------------------------------------------------------

  /// Pop into planar audio (channel c at data + c * channel_stride floats).
  /// Returns the number of frames moved (<= n_frames).
  std::size_t pop_planar(float* data, std::ptrdiff_t channel_stride,
                         std::size_t n_frames) noexcept {
    return pop_with(n_frames, [&](std::size_t at, std::size_t to, std::size_t n) {
      for (std::size_t c = 0; c < n_channels_; ++c) {
        std::memcpy(data + static_cast<std::ptrdiff_t>(c) * channel_stride + to, row(c) + at,
                    n * sizeof(float));
      }
    });
  }

  /// Pop into one buffer per channel.
  std::size_t pop_planar(float* const* channels, std::size_t n_frames) noexcept {
    return pop_with(n_frames, [&](std::size_t at, std::size_t to, std::size_t n) {
      for (std::size_t c = 0; c < n_channels_; ++c) {
        std::memcpy(channels[c] + to, row(c) + at, n * sizeof(float));
      }
    });
  }

  /// Pop into interleaved audio (data[i * n_channels + c]).
  std::size_t pop_interleaved(float* data, std::size_t n_frames) noexcept {
    return pop_with(n_frames, [&](std::size_t at, std::size_t to, std::size_t n) {
      for (std::size_t c = 0; c < n_channels_; ++c) {
        const float* src = row(c) + at;
        float* dst = data + to * n_channels_ + c;
        for (std::size_t i = 0; i < n; ++i) dst[i * n_channels_] = src[i];
      }
    });
  }

  // ---- either side ---------------------------------------------------------

  /// Frames ready to pop. Exact on the consumer thread, a lower bound elsewhere.
  std::size_t available_read() const noexcept {
    const std::uint64_t w = write_index_.load(std::memory_order_acquire);
    const std::uint64_t r = read_index_.load(std::memory_order_acquire);
    return static_cast<std::size_t>(w - r);
  }

  /// Free frames. Exact on the producer thread, a lower bound elsewhere.
  std::size_t available_write() const noexcept { return capacity_frames_ - available_read(); }

  /// Frames that did not fit into a push (cumulative).
  std::uint64_t overflow_frames() const noexcept {
    return overflow_frames_.load(std::memory_order_relaxed);
  }
  /// Frames asked of a pop that were not there (cumulative).
  std::uint64_t underflow_frames() const noexcept {
    return underflow_frames_.load(std::memory_order_relaxed);
  }

  /// Empty the ring and zero the counters. Only call it while neither the producer
  /// nor the consumer is inside a push/pop (e.g. with the stream stopped).
  void reset() noexcept {
    write_index_.store(0, std::memory_order_relaxed);
    read_index_.store(0, std::memory_order_relaxed);
    overflow_frames_.store(0, std::memory_order_relaxed);
    underflow_frames_.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }

 private:
  float* row(std::size_t c) noexcept { return storage_.data() + c * capacity_frames_; }

  // copy_in(ring_offset, source_offset, n) copies n frames into the ring.
  template <class CopyIn>
  std::size_t push_with(std::size_t n_frames, CopyIn&& copy_in) noexcept {
    const std::uint64_t w = write_index_.load(std::memory_order_relaxed);
    const std::uint64_t r = read_index_.load(std::memory_order_acquire);
    const std::size_t n_free = capacity_frames_ - static_cast<std::size_t>(w - r);
    const std::size_t n_moved = std::min(n_frames, n_free);
    if (n_moved < n_frames) {
      overflow_frames_.fetch_add(n_frames - n_moved, std::memory_order_relaxed);
    }
    if (n_moved == 0) return 0;
    const std::size_t at = static_cast<std::size_t>(w % capacity_frames_);
    const std::size_t n_first = std::min(n_moved, capacity_frames_ - at);
    copy_in(at, 0, n_first);
    if (n_moved > n_first) copy_in(0, n_first, n_moved - n_first);
    write_index_.store(w + n_moved, std::memory_order_release);
    return n_moved;
  }

  // copy_out(ring_offset, dest_offset, n) copies n frames out of the ring.
  template <class CopyOut>
  std::size_t pop_with(std::size_t n_frames, CopyOut&& copy_out) noexcept {
    const std::uint64_t r = read_index_.load(std::memory_order_relaxed);
    const std::uint64_t w = write_index_.load(std::memory_order_acquire);
    const std::size_t n_ready = static_cast<std::size_t>(w - r);
    const std::size_t n_moved = std::min(n_frames, n_ready);
    if (n_moved < n_frames) {
      underflow_frames_.fetch_add(n_frames - n_moved, std::memory_order_relaxed);
    }
    if (n_moved == 0) return 0;
    const std::size_t at = static_cast<std::size_t>(r % capacity_frames_);
    const std::size_t n_first = std::min(n_moved, capacity_frames_ - at);
    copy_out(at, 0, n_first);
    if (n_moved > n_first) copy_out(0, n_first, n_moved - n_first);
    read_index_.store(r + n_moved, std::memory_order_release);
    return n_moved;
  }

  std::size_t n_channels_;
  std::size_t capacity_frames_;
  std::vector<float> storage_;  // (n_channels, capacity_frames), planar
  alignas(64) std::atomic<std::uint64_t> write_index_{0};
  alignas(64) std::atomic<std::uint64_t> read_index_{0};
  alignas(64) std::atomic<std::uint64_t> overflow_frames_{0};
  alignas(64) std::atomic<std::uint64_t> underflow_frames_{0};
};

/// Counts from ring_stress().
struct RingStressResult {
  std::uint64_t n_pushed_frames = 0;
  std::uint64_t n_popped_frames = 0;
  std::uint64_t n_mismatches = 0;          // popped samples that differ from the expected sequence
  std::uint64_t overflow_frames = 0;       // as counted by the ring
  std::uint64_t underflow_frames = 0;      // as counted by the ring
  std::uint64_t expected_overflow_frames = 0;   // as counted by the producer
  std::uint64_t expected_underflow_frames = 0;  // as counted by the consumer
};

/// Self-test: a producer thread pushes a counter signal (sample i of channel c is
/// (i + c) mod 2^24, exact in float32) in pseudo-random block sizes in
/// [1, max_block_frames], alternating planar and interleaved pushes, retrying what
/// did not fit; a consumer thread pops in other random sizes and checks every
/// sample. Moves n_frames frames. Allocates only before the threads start.
RingStressResult ring_stress(std::size_t n_frames, std::size_t n_channels,
                             std::size_t capacity_frames, std::size_t max_block_frames,
                             std::uint32_t seed);

}  // namespace rtsep
