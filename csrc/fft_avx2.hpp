// Internal to RealFft (csrc/fft.cpp): the AVX2 + FMA kernel. See fft.hpp for the
// method. Everything here is callable on any build; the kernels themselves only
// exist on x86-64 (elsewhere fft_avx2_cpu_ok() is false and they are never called).
#pragma once

#include <cstddef>

#include "fft.hpp"

namespace rtsep {
namespace detail {

/// True when the kernel is compiled in and this CPU (and OS) run AVX2 and FMA.
bool fft_avx2_cpu_ok() noexcept;

/// The tables of one size, owned by the RealFft.
struct Avx2FftPlan {
  std::size_t n_half;          // complex points, n_fft / 2 = 8 * m, m >= 8
  const FftStage* stages;      // the m-point FFT over vectors: radix 8 stages (at least one),
  std::size_t n_stages;        // then one radix 4 or 2 stage where log2 m is not a multiple of 3
  const float* twiddles;       // per radix-R stage, r = 1..R-1: W_n^(r p) real parts, then
                               // imaginary parts (n/R each)
  const float* lane_twiddles;  // per block g < m/8, l = 1..7: W^(l (8 g + j)), j = 0..7:
                               // 8 real, then 8 imaginary parts (W = exp(-2 pi i / n_half))
  const float* lane_twiddles_0145;  // the same with j in the order 0 1 4 5 2 3 6 7
  const float* post_cos;       // cos(2 pi k / n_fft), k < n_half
  const float* post_sin;       // sin(2 pi k / n_fft), k < n_half
};

/// rfft of window * in (window may be null: all ones). in: 2 n_half floats;
/// out: n_half + 1 interleaved complex values; scratch: 4 n_half floats.
void avx2_real_forward(const Avx2FftPlan& plan, const float* in, const float* window, float* out,
                       float* scratch) noexcept;

/// irfft: in: n_half + 1 interleaved complex values; out: 2 n_half floats;
/// scratch: 4 n_half floats.
void avx2_real_inverse(const Avx2FftPlan& plan, const float* in, float* out,
                       float* scratch) noexcept;

}  // namespace detail
}  // namespace rtsep
