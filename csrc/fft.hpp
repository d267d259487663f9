// Real FFT for power-of-two sizes, computed as a complex FFT of size n_fft/2
// plus the usual real<->half-length-complex post/pre-processing.
//
// Two kernels compute it:
// * portable: a split-format Stockham complex FFT (radix-4 stages, one radix-2
//   stage when needed), plain C++ that compilers auto-vectorise;
// * avx2 (x86-64 CPUs with AVX2 and FMA, n_fft >= 128, picked at run time): the
//   n_fft/2 = 8 M complex points are taken as M vectors of 8 (lane l of vector t
//   holds point 8 t + l), M-point FFTs (radix-8 stages, a radix-4 or -2 one
//   where needed) run on whole vectors (eight at once, no shuffles), then one
//   pass transposes 8 x 8 blocks, applies the twiddles and finishes with
//   radix-8 butterflies across the former lanes (the "four-step" split
//   N = M * 8). Windowing, de-interleaving and scaling are folded into the
//   first and last passes.
// Both give numpy.fft.rfft / irfft to float32 accuracy; they do not round alike.
// All tables and scratch are allocated in the constructor; forward() and
// inverse() never allocate.
#pragma once

#include <complex>
#include <cstddef>
#include <vector>

namespace rtsep {

/// Which code computes a RealFft.
enum class FftKernel {
  automatic,  ///< avx2 where the CPU and the size allow it, else portable
  portable,   ///< plain C++ (any CPU, any supported size)
  avx2,       ///< x86-64 AVX2 + FMA intrinsics; n_fft >= 128
};

namespace detail {
struct Avx2FftPlan;
struct FftStage {
  std::size_t n;               // sub-transform length entering the stage
  std::size_t radix;           // 4 or 2
  std::size_t twiddle_offset;  // into the twiddle table (radix-4 stages only)
};
}  // namespace detail

class RealFft {
 public:
  /// n_fft: power of two in [16, 65536]; throws std::invalid_argument otherwise,
  /// or if kernel is FftKernel::avx2 and avx2_supported(n_fft) is false.
  explicit RealFft(std::size_t n_fft, FftKernel kernel = FftKernel::automatic);

  /// True when this build and this CPU can run the avx2 kernel for n_fft.
  static bool avx2_supported(std::size_t n_fft) noexcept;

  std::size_t n_fft() const noexcept { return n_fft_; }
  /// n_fft / 2 + 1.
  std::size_t n_bins() const noexcept { return n_fft_ / 2 + 1; }
  /// The kernel in use (never FftKernel::automatic).
  FftKernel kernel() const noexcept { return kernel_; }

  /// Unnormalised forward DFT (sign -), like numpy.fft.rfft.
  /// in: n_fft floats; out: n_bins complex values. in and out must not overlap.
  void forward(const float* in, std::complex<float>* out) noexcept;

  /// forward() of window * in (element-wise), without a separate windowing pass.
  /// window: n_fft floats.
  void forward_windowed(const float* in, const float* window, std::complex<float>* out) noexcept;

  /// Inverse of forward(), scaled so that inverse(forward(x)) == x (numpy.fft.irfft).
  /// in: n_bins complex values (the imaginary parts of bin 0 and bin n_fft/2 are
  /// ignored, as for a real signal); out: n_fft floats. Must not overlap.
  void inverse(const std::complex<float>* in, float* out) noexcept;

 private:
  // Portable kernel: forward complex FFT of size n_half_ on (xr, xi),
  // ping-ponging with (yr, yi). Returns, through res_*, which pair holds the
  // result (natural order).
  void complex_forward(float* xr, float* xi, float* yr, float* yi, float** res_r,
                       float** res_i) const noexcept;
  void portable_forward(const float* in, const float* window, std::complex<float>* out) noexcept;
  void portable_inverse(const std::complex<float>* in, float* out) noexcept;
  float* scratch() noexcept;  // 4 * n_half_ floats, 32-byte aligned
  detail::Avx2FftPlan avx2_plan() const noexcept;

  std::size_t n_fft_;
  std::size_t n_half_;
  FftKernel kernel_;
  // portable: radix-4/2 stages of the n_half_-point FFT; avx2: radix-8/4/2
  // stages of the n_half_/8-point FFT over vectors. twiddles_ per radix-R
  // stage, r = 1..R-1: W_n^(r p) real parts, then imaginary parts (n/R each).
  std::vector<detail::FftStage> stages_;
  std::vector<float> twiddles_;
  // avx2 only: per block g of 8 vectors and l = 1..7, W^(l (8 g + j)), j < 8
  // (8 real parts, then 8 imaginary parts), W = exp(-2 pi i / n_half_); then
  // the same table with j in the order 0 1 4 5 2 3 6 7 (see fft_avx2.hpp).
  std::vector<float> lane_twiddles_;
  std::vector<float> post_cos_;  // cos(2 pi k / n_fft), k < n_half_
  std::vector<float> post_sin_;  // sin(2 pi k / n_fft), k < n_half_
  std::vector<float> scratch_storage_;  // 4 * n_half_ + alignment slack
};

}  // namespace rtsep
