// MaskModel: what the block processor needs from a separation model, and the
// STFT geometry the model was trained for.
#pragma once

#include <cstddef>
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

/// Geometry of the STFT the model was trained for (one latency mode).
struct BlockGeometry {
  std::size_t n_fft = 1024;
  std::size_t hop_samples = 256;
  std::vector<float> analysis_window;   // n_fft
  std::vector<float> synthesis_window;  // n_fft
};

}  // namespace rtsep
