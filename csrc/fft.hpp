// Real FFT for power-of-two sizes: a split-format Stockham complex FFT of size
// n_fft/2 (radix-4 stages, one radix-2 stage when needed) plus the usual
// real<->half-length-complex post/pre-processing. All tables and scratch are
// allocated in the constructor; forward() and inverse() never allocate.
#pragma once

#include <complex>
#include <cstddef>
#include <vector>

namespace rtsep {

class RealFft {
 public:
  /// n_fft: power of two in [16, 65536]; throws std::invalid_argument otherwise.
  explicit RealFft(std::size_t n_fft);

  std::size_t n_fft() const noexcept { return n_fft_; }
  /// n_fft / 2 + 1.
  std::size_t n_bins() const noexcept { return n_fft_ / 2 + 1; }

  /// Unnormalised forward DFT (sign -), like numpy.fft.rfft.
  /// in: n_fft floats; out: n_bins complex values. in and out must not overlap.
  void forward(const float* in, std::complex<float>* out) noexcept;

  /// Inverse of forward(), scaled so that inverse(forward(x)) == x (numpy.fft.irfft).
  /// in: n_bins complex values (the imaginary parts of bin 0 and bin n_fft/2 are
  /// ignored, as for a real signal); out: n_fft floats. Must not overlap.
  void inverse(const std::complex<float>* in, float* out) noexcept;

 private:
  struct Stage {
    std::size_t n;               // sub-transform length entering the stage
    std::size_t radix;           // 4 or 2
    std::size_t twiddle_offset;  // into twiddles_ (radix-4 stages only)
  };

  // Forward complex FFT of size n_half_ on (xr, xi), ping-ponging with (yr, yi).
  // Returns, through res_*, which pair holds the result (natural order).
  void complex_forward(float* xr, float* xi, float* yr, float* yi, float** res_r,
                       float** res_i) const noexcept;

  std::size_t n_fft_;
  std::size_t n_half_;
  std::vector<Stage> stages_;
  std::vector<float> twiddles_;  // per radix-4 stage: w1r, w1i, w2r, w2i, w3r, w3i (n/4 each)
  std::vector<float> post_cos_;  // cos(2 pi k / n_fft), k < n_half_
  std::vector<float> post_sin_;  // sin(2 pi k / n_fft), k < n_half_
  std::vector<float> scratch_;   // 4 * n_half_: ar, ai, br, bi
};

}  // namespace rtsep
