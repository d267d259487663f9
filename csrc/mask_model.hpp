// MaskModel: what the block processor needs from a separation model, and the
// STFT geometry the model was trained for.
#pragma once

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rtsep {

/// A streaming mask model: one STFT frame in, one vocal mask out, state inside.
/// frame: complex64 (2, n_bins) as interleaved floats (re, im); mask: float32
/// (2, n_bins) in [0, 1]. The native model never throws; a model that runs
/// Python (the ONNX Runtime and TorchScript runners, through the binding) may,
/// and then the BlockProcessor resets its stream before passing the exception on.
class MaskModel {
 public:
  virtual ~MaskModel() = default;
  virtual std::size_t n_bins() const noexcept = 0;
  virtual void step(const float* frame, float* mask) = 0;
  virtual void reset() = 0;
  /// True if step() and reset() never allocate, lock, block or call into Python,
  /// so an audio callback may run them (the native model).
  virtual bool realtime_safe() const noexcept { return false; }
};

/// The same mask for every frame (all ones: the identity, vocals = the input): the
/// block processor without a learned model, for tests, benchmarks of the machinery
/// and the identity control. Real-time safe.
class ConstantMaskModel : public MaskModel {
 public:
  /// mask: (2, n_bins) row-major, or empty for all ones. Throws std::invalid_argument
  /// for n_bins == 0 or a mask of another size.
  explicit ConstantMaskModel(std::size_t n_bins, std::vector<float> mask = {})
      : n_bins_(n_bins), mask_(std::move(mask)) {
    if (n_bins == 0) throw std::invalid_argument("ConstantMaskModel: n_bins must be >= 1");
    if (mask_.empty()) mask_.assign(2 * n_bins, 1.0f);
    if (mask_.size() != 2 * n_bins) {
      throw std::invalid_argument("ConstantMaskModel: the mask must hold 2 * n_bins values");
    }
  }
  std::size_t n_bins() const noexcept override { return n_bins_; }
  void step(const float*, float* mask) override { std::copy(mask_.begin(), mask_.end(), mask); }
  void reset() override {}
  bool realtime_safe() const noexcept override { return true; }

 private:
  std::size_t n_bins_;
  std::vector<float> mask_;
};

/// Geometry of the STFT the model was trained for (one latency mode).
struct BlockGeometry {
  std::size_t n_fft = 1024;
  std::size_t hop_samples = 256;
  std::vector<float> analysis_window;   // n_fft
  std::vector<float> synthesis_window;  // n_fft
};

}  // namespace rtsep
