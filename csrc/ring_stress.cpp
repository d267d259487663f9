#include <thread>

#include "ring_buffer.hpp"

namespace rtsep {
namespace {

constexpr std::uint64_t kCounterModulus = std::uint64_t{1} << 24;  // exact in float32

// xorshift32: a tiny deterministic generator that does not allocate.
std::uint32_t next_random(std::uint32_t& state) noexcept {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

float counter_value(std::uint64_t frame, std::size_t channel) noexcept {
  return static_cast<float>((frame + channel) % kCounterModulus);
}

}  // namespace

RingStressResult ring_stress(std::size_t n_frames, std::size_t n_channels,
                             std::size_t capacity_frames, std::size_t max_block_frames,
                             std::uint32_t seed) {
  if (max_block_frames == 0) throw std::invalid_argument("ring_stress: max_block_frames must be >= 1");
  RingBuffer ring(n_channels, capacity_frames);
  RingStressResult result;
  std::vector<float> producer_block(n_channels * max_block_frames);
  std::vector<float> consumer_block(n_channels * max_block_frames);
  const std::uint32_t seed_nonzero = seed == 0 ? 0x9E3779B9u : seed;

  std::thread producer([&] {
    std::uint32_t rng = seed_nonzero;
    std::uint64_t next_frame = 0;
    std::uint64_t expected_overflow = 0;
    while (next_frame < n_frames) {
      std::size_t n = 1 + next_random(rng) % max_block_frames;
      n = static_cast<std::size_t>(std::min<std::uint64_t>(n, n_frames - next_frame));
      const bool interleaved = (next_random(rng) & 1u) != 0;
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t c = 0; c < n_channels; ++c) {
          const float v = counter_value(next_frame + i, c);
          if (interleaved) {
            producer_block[i * n_channels + c] = v;
          } else {
            producer_block[c * n + i] = v;
          }
        }
      }
      const std::size_t n_moved = interleaved
                                      ? ring.push_interleaved(producer_block.data(), n)
                                      : ring.push_planar(producer_block.data(),
                                                         static_cast<std::ptrdiff_t>(n), n);
      expected_overflow += n - n_moved;
      next_frame += n_moved;  // what did not fit is regenerated next time round
      if (n_moved == 0) std::this_thread::yield();
    }
    result.n_pushed_frames = next_frame;
    result.expected_overflow_frames = expected_overflow;
  });

  std::thread consumer([&] {
    std::uint32_t rng = seed_nonzero ^ 0xA5A5A5A5u;
    if (rng == 0) rng = 1;
    std::uint64_t next_frame = 0;
    std::uint64_t expected_underflow = 0;
    std::uint64_t n_mismatches = 0;
    while (next_frame < n_frames) {
      std::size_t n = 1 + next_random(rng) % max_block_frames;
      n = static_cast<std::size_t>(std::min<std::uint64_t>(n, n_frames - next_frame));
      const bool interleaved = (next_random(rng) & 1u) != 0;
      const std::size_t n_moved =
          interleaved ? ring.pop_interleaved(consumer_block.data(), n)
                      : ring.pop_planar(consumer_block.data(), static_cast<std::ptrdiff_t>(n), n);
      expected_underflow += n - n_moved;
      for (std::size_t i = 0; i < n_moved; ++i) {
        for (std::size_t c = 0; c < n_channels; ++c) {
          const float got = interleaved ? consumer_block[i * n_channels + c]
                                        : consumer_block[c * n + i];
          if (got != counter_value(next_frame + i, c)) ++n_mismatches;
        }
      }
      next_frame += n_moved;
      if (n_moved == 0) std::this_thread::yield();
    }
    result.n_popped_frames = next_frame;
    result.expected_underflow_frames = expected_underflow;
    result.n_mismatches = n_mismatches;
  });

  producer.join();
  consumer.join();
  result.overflow_frames = ring.overflow_frames();
  result.underflow_frames = ring.underflow_frames();
  return result;
}

}  // namespace rtsep
