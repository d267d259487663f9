// BlockProcessor: the one engine every host drives. Host blocks in, two output
// blocks out, delayed by exactly latency_samples():
//
//   input (1 or 2 planar channels; NaN/Inf -> 0, counted; mono -> both model channels)
//     -> HopEngine push; per ready hop: analyze -> MaskModel::step -> mask^(1/strength)
//        -> synthesize
//     -> HopEngine pull: vocals V, instrumental I           (delayed by latency_samples)
//   input -> DelayLine(latency_samples) -> dry D
//     (a key change transposes V and/or I inside the HopEngine, before its inverse STFTs)
//   out A = Mixer_A(V, I), out B = Mixer_B(V, I)             (mode and gains, see Mode)
//   out A = Bypass_A(out A, D), out B = Bypass_B(out B, D)   (cross-fade to the dry input)
//   mono: each output is the channel average
//
// Every change of gain, mode or bypass ramps linearly over kRampMs, so none clicks;
// a key switched on or off cross-fades over the same time (in whole hops).
// The C ABI (csrc/capi.cpp), rtsep.Processor, rtsep separate and the live path
// (callback inline or worker thread) all run this object.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "delay_line.hpp"
#include "hop_engine.hpp"
#include "mask_model.hpp"
#include "mixer.hpp"

namespace rtsep {

/// What the two outputs carry, in the C ABI's order (RTSEP_MODE_*).
enum class Mode : int {
  kBoth = 0,          ///< A = g_v * V, B = g_i * I
  kMix = 1,           ///< A = B = g_v * V + g_i * I
  kVocals = 2,        ///< A = B = g_v * V
  kInstrumental = 3,  ///< A = B = g_i * I
};

/// The user's parameters, shared between the thread that sets them (any) and the
/// audio thread that reads them once per block. Each field is one atomic.
struct Parameters {
  static constexpr float kMinGainDb = -120.0f;  ///< at or below: silence
  static constexpr float kMaxGainDb = 24.0f;    ///< above: refused

  std::atomic<float> vocals_gain_db{0.0f};
  std::atomic<float> instrumental_gain_db{0.0f};
  std::atomic<int> mode{static_cast<int>(Mode::kBoth)};
  std::atomic<bool> bypass{false};
  /// Mutes (a live control: MIDI mute and solo): a muted source's gain ramps to 0
  /// and back to its gain when unmuted; the gains themselves are kept.
  std::atomic<bool> vocals_muted{false};
  std::atomic<bool> instrumental_muted{false};
  /// Key change, semitones (fractional: cents), in [-kMaxKeySemitones, kMaxKeySemitones];
  /// 0 leaves the output exactly as without it.
  static constexpr float kMaxKeySemitones = 12.0f;
  std::atomic<float> key_semitones{0.0f};         ///< the instrumental's
  std::atomic<float> vocals_key_semitones{0.0f};  ///< the vocals' (formants kept)
  /// Separation strength s in [kMinStrength, kMaxStrength]: every mask value m in
  /// (0, 1) becomes m^(1/s) before synthesis. 1 (default): the model's mask as it is;
  /// above 1, more of what the model is unsure of goes to the vocals, so less voice
  /// is left in the instrumental (and more of the instrumental goes with it); below 1,
  /// the reverse. 0 and 1 stay where they are, so the outputs still sum to the input.
  static constexpr float kMinStrength = 0.25f;
  static constexpr float kMaxStrength = 4.0f;
  std::atomic<float> strength{1.0f};

  /// false (nothing changed) for NaN or above kMaxGainDb; -inf is silence.
  bool set_vocals_gain_db(float db) noexcept { return set_gain(vocals_gain_db, db); }
  bool set_instrumental_gain_db(float db) noexcept { return set_gain(instrumental_gain_db, db); }
  /// false for a value that is not a Mode.
  bool set_mode(int m) noexcept {
    if (m < 0 || m > 3) return false;
    mode.store(m, std::memory_order_relaxed);
    return true;
  }
  void set_bypass(bool on) noexcept { bypass.store(on, std::memory_order_relaxed); }
  /// false (nothing changed) for NaN or a key outside +-kMaxKeySemitones.
  bool set_key_semitones(float st) noexcept { return set_key(key_semitones, st); }
  bool set_vocals_key_semitones(float st) noexcept { return set_key(vocals_key_semitones, st); }
  static double semitones_to_ratio(float st) noexcept;
  /// false (nothing changed) for NaN or a strength outside [kMinStrength, kMaxStrength].
  bool set_strength(float s) noexcept {
    if (!(s >= kMinStrength && s <= kMaxStrength)) return false;
    strength.store(s, std::memory_order_relaxed);
    return true;
  }

  static float db_to_gain(float db) noexcept;

 private:
  static bool set_gain(std::atomic<float>& slot, float db) noexcept;
  static bool set_key(std::atomic<float>& slot, float st) noexcept;
};

/// See the file comment. Everything is allocated in the constructor; process()
/// and reset() do not allocate, lock or block (the model's step aside). Not
/// thread-safe apart from the Parameters: one thread at a time drives it.
class BlockProcessor {
 public:
  static constexpr double kRampMs = 20.0;

  /// Throws std::invalid_argument (geometry, n_channels not 1 or 2,
  /// max_block_samples == 0, sample rate, model bins not matching the geometry).
  BlockProcessor(std::shared_ptr<MaskModel> model, const BlockGeometry& geometry,
                 double sample_rate_hz, std::size_t max_block_samples, std::size_t n_channels,
                 std::shared_ptr<Parameters> parameters = nullptr);

  std::size_t latency_samples() const noexcept { return engine_.latency_samples(); }
  std::size_t max_block_samples() const noexcept { return max_block_; }
  std::size_t n_channels() const noexcept { return n_channels_; }
  std::size_t n_bins() const noexcept { return engine_.n_bins(); }
  std::size_t hop_samples() const noexcept { return engine_.hop_samples(); }
  double sample_rate_hz() const noexcept { return sample_rate_hz_; }
  std::size_t ramp_samples() const noexcept { return mix_a_.ramp_samples(); }
  Parameters& parameters() noexcept { return *params_; }
  const std::shared_ptr<Parameters>& shared_parameters() const noexcept { return params_; }
  MaskModel& model() noexcept { return *model_; }

  /// One block: in[c], out_a[c], out_b[c] for c < n_channels(), n_samples <=
  /// max_block_samples() (returns false and writes nothing otherwise). Outputs
  /// may alias the inputs.
  bool process(const float* const* in, float* const* out_a, float* const* out_b,
               std::size_t n_samples);

  /// Back to the start of a stream: engine, dry delay and model state cleared,
  /// parameter ramps jumped to their targets, counters zeroed.
  void reset();

  std::uint64_t n_frames_processed() const noexcept { return engine_.n_frames_processed(); }
  /// NaN/Inf input samples (of the host's channels) and mask values replaced by 0.
  std::uint64_t n_nonfinite_replaced() const noexcept {
    return n_nonfinite_input_ + engine_.n_nonfinite_replaced();
  }

 private:
  void apply_parameters() noexcept;
  void apply_key() noexcept;

  std::shared_ptr<MaskModel> model_;
  std::shared_ptr<Parameters> params_;
  double sample_rate_hz_;
  std::size_t max_block_;
  std::size_t n_channels_;
  HopEngine engine_;
  DelayLine dry_delay_;
  Mixer mix_a_, mix_b_, bypass_a_, bypass_b_;
  std::vector<float> stereo_, vocals_, instrumental_, out_a_, out_b_, dry_;  // (2, max_block)
  std::vector<float> mask_;                                                   // (2, n_bins)
  std::uint64_t n_nonfinite_input_ = 0;
};

}  // namespace rtsep
