// HopEngine: the fixed-latency block adapter around StreamingStft -> mask ->
// StreamingIstft that file mode, live mode and embedding all use.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pitch_shifter.hpp"
#include "ring_buffer.hpp"
#include "stft.hpp"

namespace rtsep {

/// Any host block size in, the same number of samples out, delayed by exactly
/// latency_samples() = stream_delay_samples() + hop - 1.
///
/// Per host block of n samples (n <= max_block_samples):
///   push_input(block);
///   while (frames_ready()) { analyze(); <mask from frame()>; synthesize(mask); }
///   pull(vocals, instrumental, n);   // always succeeds after the loop above
///
/// The output FIFOs start with hop - 1 zeros, which is what makes n samples
/// available after every block whatever n is. vocals = iSTFT(mask * frame);
/// instrumental = dry - vocals, where dry is the (sanitised) input delayed by
/// stream_delay_samples() and taken from the STFT history, so vocals +
/// instrumental equals the delayed input to float rounding for any mask.
///
/// Non-finite input samples are replaced by 0 (they would otherwise poison
/// every frame they touch) and non-finite mask values are treated as 0; both
/// are counted in n_nonfinite_replaced().
///
/// Key change (set_key): each frame's vocals spectrum V = mask * frame and
/// instrumental spectrum I = frame - V can each be transposed by a PitchShifter
/// (the vocals with formant preservation) before their inverse STFTs; a second
/// inverse STFT, with the same synthesis window, turns I into the instrumental
/// then, so the latency is unchanged. Switching a key on or off cross-fades
/// between the plain and the shifted spectrum over key_fade_frames() frames;
/// moving from one key to another is continuous in phase. With both keys at 0
/// semitones (and no fade running) the output is exactly the plain one.
///
/// Everything is allocated in the constructor; push_input, analyze, synthesize*
/// and pull never allocate, lock or block. Methods that can be misused return
/// false and change nothing. Not thread-safe: one thread at a time per object.
class HopEngine {
 public:
  /// Windows: n_fft floats each (copied). Throws std::invalid_argument on bad
  /// geometry (see StreamingStft / StreamingIstft) or max_block_samples == 0.
  HopEngine(std::size_t n_fft, std::size_t hop_samples, const float* analysis_window,
            const float* synthesis_window, std::size_t n_channels, std::size_t max_block_samples);

  std::size_t n_fft() const noexcept { return stft_.n_fft(); }
  std::size_t hop_samples() const noexcept { return hop_; }
  std::size_t n_bins() const noexcept { return stft_.n_bins(); }
  std::size_t n_channels() const noexcept { return n_channels_; }
  std::size_t max_block_samples() const noexcept { return max_block_samples_; }
  std::size_t stream_delay_samples() const noexcept { return istft_.stream_delay_samples(); }
  std::size_t latency_samples() const noexcept { return stream_delay_samples() + hop_ - 1; }

  /// Input samples the next push_input() accepts (>= max_block_samples once all
  /// ready frames are processed).
  std::size_t input_space_samples() const noexcept { return input_.available_write(); }
  /// Samples pull() can deliver now.
  std::size_t output_available_samples() const noexcept { return vocals_out_.available_read(); }
  /// Free room in the output FIFOs (synthesize needs hop_samples()).
  std::size_t output_space_samples() const noexcept { return vocals_out_.available_write(); }
  /// True between analyze() and the matching synthesize*().
  bool frame_pending() const noexcept { return frame_pending_; }

  /// Append planar input (n_channels, n_samples), channel stride in floats.
  /// Returns false (nothing consumed) if n_samples > input_space_samples().
  bool push_input(const float* in, std::ptrdiff_t channel_stride, std::size_t n_samples) noexcept;

  /// Whole hops waiting to be analysed.
  std::size_t frames_ready() const noexcept { return input_.available_read() / hop_; }

  /// Consume one hop and compute its frame into frame(). Returns false if no hop
  /// is ready or the previous frame has not been synthesised yet.
  bool analyze() noexcept;

  /// The current frame, complex64 (n_channels, n_bins); overwritten by analyze().
  const std::complex<float>* frame() const noexcept { return frame_.data(); }
  std::complex<float>* frame_data() noexcept { return frame_.data(); }

  /// vocals_frame = mask * frame; mask is real (n_channels, n_bins), channel
  /// stride in floats. Returns false if no frame is pending or the output FIFOs
  /// are full (pull first).
  bool synthesize(const float* mask, std::ptrdiff_t channel_stride) noexcept;
  /// As synthesize() with a complex mask (n_channels, n_bins), stride in complex values.
  bool synthesize_complex(const std::complex<float>* mask, std::ptrdiff_t channel_stride) noexcept;
  /// As synthesize() with mask = 1 (vocals = delayed input, instrumental ~ 0).
  bool synthesize_identity() noexcept;

  /// Pop n_samples of vocals and instrumental (planar, channel strides in floats).
  /// Returns false (nothing moved) if n_samples > output_available_samples().
  bool pull(float* vocals, std::ptrdiff_t vocals_stride, float* instrumental,
            std::ptrdiff_t instrumental_stride, std::size_t n_samples) noexcept;

  /// Transposition targets as frequency ratios (2^(semitones / 12)); 1 = off.
  /// Takes effect from the next frame (see the class comment).
  void set_key(double vocals_ratio, double instrumental_ratio) noexcept;
  /// Frames a key switches on or off over (>= 1).
  void set_key_fade_frames(std::size_t n_frames) noexcept;
  std::size_t key_fade_frames() const noexcept { return key_fade_frames_; }
  /// True while a key change shapes the output (a key on, or a fade or its tail running).
  bool key_active() const noexcept { return keyed_tail_frames_ > 0; }

  std::uint64_t n_frames_processed() const noexcept { return n_frames_processed_; }
  std::uint64_t n_nonfinite_replaced() const noexcept {
    return stft_.n_nonfinite_replaced() + n_nonfinite_mask_;
  }

  /// Back to the constructed state: history, FIFOs (re-primed with hop - 1 zeros)
  /// and counters cleared.
  void reset() noexcept;

 private:
  // One transposition lane (vocals or instrumental): target, the ratio in use and
  // the weight of the shifted spectrum, stepped once per frame.
  struct KeyLane {
    double target = 1.0;
    double ratio = 1.0;
    float fade = 0.0f;
  };
  // Moves the lane one frame on; returns the shifted spectrum's weight.
  float step_lane(KeyLane& lane, PitchShifter& shifter) noexcept;
  // spectrum = (1 - weight) spectrum + weight shift(spectrum), in place.
  void blend_shifted(std::complex<float>* spectrum, const KeyLane& lane, float weight,
                     PitchShifter& shifter, bool preserve_formants) noexcept;
  // iSTFT of spectrum (n_channels, n_bins), dry/instrumental, FIFOs.
  bool finish_synthesis(const std::complex<float>* spectrum) noexcept;

  std::size_t hop_;
  std::size_t n_channels_;
  std::size_t max_block_samples_;
  StreamingStft stft_;
  StreamingIstft istft_;
  RingBuffer input_;
  RingBuffer vocals_out_;
  RingBuffer instrumental_out_;
  std::vector<float> hop_in_;                  // (n_channels, hop)
  std::vector<std::complex<float>> frame_;     // (n_channels, n_bins)
  std::vector<std::complex<float>> masked_;    // (n_channels, n_bins)
  std::vector<float> vocals_hop_;              // (n_channels, hop)
  std::vector<float> instrumental_hop_;        // (n_channels, hop)
  // Key change: the instrumental's own inverse STFT (fed every frame, so it is
  // ready the moment a key is switched on), the shifters and their buffers.
  StreamingIstft instrumental_istft_;
  PitchShifter vocals_shifter_;
  PitchShifter instrumental_shifter_;
  std::vector<std::complex<float>> vocals_spectrum_;        // (n_channels, n_bins)
  std::vector<std::complex<float>> instrumental_spectrum_;  // (n_channels, n_bins)
  std::vector<std::complex<float>> shifted_;                // (n_channels, n_bins)
  KeyLane vocals_key_;
  KeyLane instrumental_key_;
  std::size_t key_fade_frames_ = 1;
  // Frames the keyed path stays on after both lanes went quiet: the inverse STFT
  // still holds shifted samples in its overlap for that long.
  std::size_t keyed_tail_frames_ = 0;
  std::size_t keyed_tail_length_ = 1;
  bool frame_pending_ = false;
  std::uint64_t n_frames_processed_ = 0;
  std::uint64_t n_nonfinite_mask_ = 0;
};

}  // namespace rtsep
