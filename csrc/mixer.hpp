// Mixer: vocals * g_v + instrumental * g_i with per-sample smoothed gains.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace rtsep {

/// Gains and mute flags are set from any thread (atomics, no locks); the audio
/// thread reads them once per process() call and moves each effective gain
/// (0 while muted) to its new target along a linear ramp of ramp_samples()
/// samples, so no change ever clicks. Both gains start at 1 (the original mix).
/// process() does not allocate, lock or block. One audio thread per object.
class Mixer {
 public:
  /// sample_rate_hz > 0, ramp_ms >= 0 (0 = jump). Throws std::invalid_argument.
  Mixer(std::size_t n_channels, double sample_rate_hz, double ramp_ms = 20.0)
      : n_channels_(n_channels) {
    if (n_channels == 0) throw std::invalid_argument("Mixer: n_channels must be >= 1");
    if (!(sample_rate_hz > 0.0) || !std::isfinite(sample_rate_hz)) {
      throw std::invalid_argument("Mixer: sample_rate_hz must be > 0");
    }
    if (!(ramp_ms >= 0.0) || !std::isfinite(ramp_ms)) {
      throw std::invalid_argument("Mixer: ramp_ms must be >= 0");
    }
    ramp_samples_ = static_cast<std::size_t>(std::lround(ramp_ms * 1e-3 * sample_rate_hz));
    if (ramp_samples_ == 0) ramp_samples_ = 1;
    reset();
  }

  std::size_t n_channels() const noexcept { return n_channels_; }
  std::size_t ramp_samples() const noexcept { return ramp_samples_; }

  /// Linear gain; returns false (and ignores it) if not finite. Any thread.
  bool set_vocals_gain(float gain) noexcept { return set_gain(vocals_gain_, gain); }
  bool set_instrumental_gain(float gain) noexcept { return set_gain(instrumental_gain_, gain); }
  void set_vocals_muted(bool muted) noexcept { vocals_muted_.store(muted, std::memory_order_relaxed); }
  void set_instrumental_muted(bool muted) noexcept {
    instrumental_muted_.store(muted, std::memory_order_relaxed);
  }
  float vocals_gain() const noexcept { return vocals_gain_.load(std::memory_order_relaxed); }
  float instrumental_gain() const noexcept {
    return instrumental_gain_.load(std::memory_order_relaxed);
  }
  bool vocals_muted() const noexcept { return vocals_muted_.load(std::memory_order_relaxed); }
  bool instrumental_muted() const noexcept {
    return instrumental_muted_.load(std::memory_order_relaxed);
  }
  /// Gains applied to the last processed sample (audio-thread view).
  float current_vocals_gain() const noexcept { return vocals_ramp_.current; }
  float current_instrumental_gain() const noexcept { return instrumental_ramp_.current; }

  /// out = g_v * vocals + g_i * instrumental, planar (n_channels, n_samples),
  /// channel strides in floats. out may alias vocals or instrumental exactly.
  void process(const float* vocals, std::ptrdiff_t vocals_stride, const float* instrumental,
               std::ptrdiff_t instrumental_stride, float* out, std::ptrdiff_t out_stride,
               std::size_t n_samples) noexcept {
    retarget(vocals_ramp_, vocals_muted() ? 0.0f : vocals_gain());
    retarget(instrumental_ramp_, instrumental_muted() ? 0.0f : instrumental_gain());
    std::size_t done = 0;
    while (done < n_samples) {
      const std::size_t n = std::min(kChunk, n_samples - done);
      fill_gains(vocals_ramp_, gains_v_.data(), n);
      fill_gains(instrumental_ramp_, gains_i_.data(), n);
      for (std::size_t c = 0; c < n_channels_; ++c) {
        const auto ci = static_cast<std::ptrdiff_t>(c);
        const float* v = vocals + ci * vocals_stride + done;
        const float* a = instrumental + ci * instrumental_stride + done;
        float* o = out + ci * out_stride + done;
        for (std::size_t i = 0; i < n; ++i) o[i] = gains_v_[i] * v[i] + gains_i_[i] * a[i];
      }
      done += n;
    }
  }

  /// Jump to the current targets (no ramp). Call only while process() is not running.
  void reset() noexcept {
    jump(vocals_ramp_, vocals_muted() ? 0.0f : vocals_gain());
    jump(instrumental_ramp_, instrumental_muted() ? 0.0f : instrumental_gain());
  }

 private:
  static constexpr std::size_t kChunk = 256;

  struct Ramp {
    float current = 1.0f;
    float target = 1.0f;
    float step = 0.0f;
    std::size_t n_left = 0;
  };

  static bool set_gain(std::atomic<float>& slot, float gain) noexcept {
    if (!std::isfinite(gain)) return false;
    slot.store(gain, std::memory_order_relaxed);
    return true;
  }

  static void jump(Ramp& r, float target) noexcept {
    r.current = target;
    r.target = target;
    r.step = 0.0f;
    r.n_left = 0;
  }

  void retarget(Ramp& r, float target) noexcept {
    if (target == r.target) return;
    r.target = target;
    r.n_left = ramp_samples_;
    r.step = (target - r.current) / static_cast<float>(ramp_samples_);
  }

  static void fill_gains(Ramp& r, float* gains, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i < n && r.n_left > 0; ++i) {
      --r.n_left;
      r.current = r.n_left == 0 ? r.target : r.current + r.step;
      gains[i] = r.current;
    }
    for (; i < n; ++i) gains[i] = r.current;
  }

  std::size_t n_channels_;
  std::size_t ramp_samples_ = 1;
  std::atomic<float> vocals_gain_{1.0f};
  std::atomic<float> instrumental_gain_{1.0f};
  std::atomic<bool> vocals_muted_{false};
  std::atomic<bool> instrumental_muted_{false};
  Ramp vocals_ramp_;
  Ramp instrumental_ramp_;
  std::array<float, kChunk> gains_v_{};
  std::array<float, kChunk> gains_i_{};
};

}  // namespace rtsep
