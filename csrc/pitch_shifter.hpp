// PitchShifter: transposes a stream of STFT frames in place of the inverse STFT's
// input, so a key change costs no latency beyond the engine's.
//
// A phase vocoder with identity phase locking (after Laroche and Dolson's
// "new phase-vocoder techniques for pitch-shifting", 1999), applied frame by frame
// to the engine's own STFT (same analysis window, same hop):
//
//  1. The channels' sum gives one magnitude and one phase per bin; each bin's
//     instantaneous frequency comes from its phase advance since the last frame.
//  2. Peaks (local maxima over +-2 bins, the lowest bins included) split the spectrum into regions, bounded
//     by the lowest bin between two peaks.
//  3. Each region moves by a whole number of bins, the one that lands its peak
//     nearest ratio x (the peak's instantaneous frequency), and every bin of the
//     region is rotated by the same phase, chosen so that the peak's phase at the
//     synthesis window's centre advances by ratio x frequency x hop per frame: the
//     output's frequency is exact even though the move is in whole bins, and the
//     phase relations inside a region (the shape of a partial, a transient's
//     alignment) are kept.
//  4. The rotation is computed once from the sum and applied to every channel, so
//     the channels' phase and level differences (the stereo image) are unchanged.
//  5. With formant preservation on, each moved bin is also scaled by the ratio of
//     the input's spectral envelope at its new and its old bin (the peaks' log
//     magnitudes joined by lines, lightly smoothed), so a shifted voice keeps its
//     vowel colour.
//
// Everything is allocated in the constructor; process() and reset() do not
// allocate, lock or block. Not thread-safe: one thread at a time per object.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rtsep {

class PitchShifter {
 public:
  /// Shift ratios outside [kMinRatio, kMaxRatio] (an octave down or up) are clamped.
  static constexpr double kMinRatio = 0.5;
  static constexpr double kMaxRatio = 2.0;

  /// n_fft: the STFT's frame length (even, >= 16); hop_samples in [1, n_fft];
  /// n_channels >= 1; reference_sample: the frame sample whose phase is tracked
  /// (the centre of the synthesis window's support). Throws std::invalid_argument.
  PitchShifter(std::size_t n_fft, std::size_t hop_samples, std::size_t n_channels,
               std::size_t reference_sample);

  std::size_t n_bins() const noexcept { return n_bins_; }
  std::size_t n_channels() const noexcept { return n_channels_; }

  /// One frame: in and out are (n_channels, n_bins) with a channel stride of
  /// n_bins; out must not alias in. ratio = 2^(semitones / 12).
  void process(const std::complex<float>* in, std::complex<float>* out, double ratio,
               bool preserve_formants) noexcept;

  /// Forget the past frames: the next frame starts the phase tracking afresh.
  void reset() noexcept;

  /// Frames processed since construction or reset().
  std::uint64_t n_frames() const noexcept { return n_frames_; }

 private:
  void find_peaks() noexcept;
  void smooth_log_envelope() noexcept;

  std::size_t n_fft_;
  std::size_t hop_;
  std::size_t n_channels_;
  std::size_t n_bins_;
  double reference_;
  std::vector<float> magnitude_;        // (n_bins) of the channels' sum
  std::vector<double> phase_;           // (n_bins) of the channels' sum
  std::vector<double> previous_phase_;  // (n_bins)
  std::vector<double> peak_phase_;      // (n_bins): output phase of the region's peak, per input bin
  std::vector<double> previous_peak_phase_;
  std::vector<float> log_envelope_;     // (n_bins)
  std::vector<float> scratch_;          // (n_bins + 1): running sums for the envelope
  std::vector<std::uint32_t> peaks_;    // peak bins, ascending (capacity n_bins)
  std::vector<std::uint32_t> bounds_;   // region starts (capacity n_bins + 1)
  std::size_t n_peaks_ = 0;
  std::uint64_t n_frames_ = 0;
};

}  // namespace rtsep
