// Streaming STFT analysis and overlap-add synthesis for planar float32 audio.
//
// Frame layout: complex64 (n_channels, n_bins), n_bins = n_fft / 2 + 1; a run of
// frames is (n_frames, n_channels, n_bins). Planar audio is passed as a base
// pointer plus a channel stride in floats (samples of a channel contiguous).
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fft.hpp"

namespace rtsep {

/// Streaming STFT. Keeps the last n_fft input samples per channel (zeros at
/// start); every hop new samples it emits one frame rfft(window * last n_fft
/// samples). Frame k covers input samples [k*hop + hop - n_fft, k*hop + hop).
/// Non-finite input samples (NaN, +-Inf) are replaced by 0 as they enter the
/// history and counted in n_nonfinite_replaced().
/// Not thread-safe: one thread at a time per object.
class StreamingStft {
 public:
  /// n_fft: power of two in [16, 65536]; 1 <= hop_samples <= n_fft;
  /// analysis_window: n_fft floats (copied); n_channels >= 1.
  /// Throws std::invalid_argument on bad arguments.
  StreamingStft(std::size_t n_fft, std::size_t hop_samples, const float* analysis_window,
                std::size_t n_channels);

  std::size_t n_fft() const noexcept { return n_fft_; }
  std::size_t hop_samples() const noexcept { return hop_; }
  std::size_t n_bins() const noexcept { return n_fft_ / 2 + 1; }
  std::size_t n_channels() const noexcept { return n_channels_; }
  /// Samples waiting for a complete hop (0 <= n < hop), buffered by process().
  std::size_t n_pending_samples() const noexcept { return n_pending_; }
  /// Frames process() will emit for n_new more input samples.
  std::size_t n_frames_for(std::size_t n_new_samples) const noexcept {
    return (n_pending_ + n_new_samples) / hop_;
  }
  std::uint64_t n_nonfinite_replaced() const noexcept { return n_nonfinite_replaced_; }

  /// Feed exactly one hop: hop_in is planar (n_channels, hop) with the given channel
  /// stride (floats). Writes one frame (n_channels, n_bins) to frame_out.
  /// Bypasses the partial-hop buffer of process(); do not mix the two with a
  /// partial hop pending.
  void analyze_hop(const float* hop_in, std::ptrdiff_t channel_stride,
                   std::complex<float>* frame_out) noexcept;

  /// Feed any number of samples (planar (n_channels, n_samples), channel stride
  /// in floats). Writes n_frames_for(n_samples) frames, (n_frames, n_channels,
  /// n_bins), to frames_out, which must have room for them. Returns that count.
  std::size_t process(const float* in, std::ptrdiff_t channel_stride, std::size_t n_samples,
                      std::complex<float>* frames_out) noexcept;

  /// Frames flush() will emit now.
  std::size_t n_flush_frames() const noexcept;

  /// Drain: zero-pad the partial hop (if any), then feed zero hops, emitting
  /// every frame that still holds a real input sample (n_flush_frames() frames,
  /// (n_frames, n_channels, n_bins)). An inverse STFT fed these frames, then
  /// flushed, has output every input sample. Returns the count.
  std::size_t flush(std::complex<float>* frames_out) noexcept;

  /// The last n_fft (sanitised) input samples of channel c, oldest first.
  const float* history(std::size_t c) const noexcept {
    return history_.data() + c * history_capacity_ + history_start_;
  }

  /// Back to the constructed state (zero history, nothing pending, counter 0).
  void reset() noexcept;

 private:
  std::size_t n_fft_;
  std::size_t hop_;
  std::size_t n_channels_;
  RealFft fft_;
  std::vector<float> window_;     // (n_fft)
  // (n_channels, history_capacity_): the last n_fft samples of channel c are
  // [history_start_, history_start_ + n_fft) of its row. A hop is appended in
  // place; only when the row is full are the newest n_fft - hop samples moved
  // back to its start, every few hops instead of on every one.
  std::vector<float> history_;
  std::size_t history_capacity_;
  std::size_t history_start_ = 0;
  std::vector<float> pending_;    // (n_channels, hop)
  std::size_t n_pending_ = 0;
  // Samples fed after the newest real input sample (flush padding), saturating
  // at n_fft: that sample is in the next frame while age + hop < n_fft.
  std::size_t age_samples_;
  std::uint64_t n_nonfinite_replaced_ = 0;
};

/// Streaming inverse STFT by weighted overlap-add. Per frame: irfft, times the
/// synthesis window, add into an accumulator, emit exactly hop samples.
///
/// support = n_fft - (index of the first non-zero synthesis sample). After frame
/// k, the samples [n_fft - support, n_fft - support + hop) of that frame are
/// complete (later frames start later) and are emitted. With analysis/synthesis
/// windows whose product overlap-adds to one at hop, an unmodified frame stream
/// is reproduced delayed by stream_delay_samples() = support - hop.
/// Not thread-safe: one thread at a time per object.
class StreamingIstft {
 public:
  /// synthesis_window: n_fft floats (copied), not all zero, support >= hop.
  /// Throws std::invalid_argument on bad arguments.
  StreamingIstft(std::size_t n_fft, std::size_t hop_samples, const float* synthesis_window,
                 std::size_t n_channels);

  std::size_t n_fft() const noexcept { return n_fft_; }
  std::size_t hop_samples() const noexcept { return hop_; }
  std::size_t n_bins() const noexcept { return n_fft_ / 2 + 1; }
  std::size_t n_channels() const noexcept { return n_channels_; }
  std::size_t support_samples() const noexcept { return support_; }
  std::size_t stream_delay_samples() const noexcept { return support_ - hop_; }

  /// One frame (n_channels, n_bins) in, hop samples per channel out (planar,
  /// channel stride in floats).
  void synthesize_hop(const std::complex<float>* frame, float* out,
                      std::ptrdiff_t channel_stride) noexcept;

  /// n_frames frames (n_frames, n_channels, n_bins) in; n_frames * hop samples
  /// per channel out.
  void process(const std::complex<float>* frames, std::size_t n_frames, float* out,
               std::ptrdiff_t channel_stride) noexcept;

  /// Emit the stream_delay_samples() samples still in the accumulator (the tail
  /// that later frames would have completed, taking them as zero), then clear it.
  void flush(float* out, std::ptrdiff_t channel_stride) noexcept;

  void reset() noexcept;

 private:
  std::size_t n_fft_;
  std::size_t hop_;
  std::size_t n_channels_;
  std::size_t support_;
  RealFft fft_;
  std::vector<float> window_tail_;   // (support): the non-zero end of the synthesis window
  std::vector<float> time_;          // (n_fft)
  // (n_channels, support - hop): the overlap-add sums still waiting for later
  // frames, i.e. output samples [hop, support) of the frames so far.
  std::vector<float> carry_;
};

/// Number of samples from the first non-zero value of window[0:n] to its end;
/// 0 if all zero.
std::size_t synthesis_support_samples(const float* window, std::size_t n) noexcept;

}  // namespace rtsep
