#include "fft.hpp"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "fft_avx2.hpp"

namespace rtsep {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// The butterfly loops read x and write y, two distinct buffers, so no iteration
// depends on another; the compiler cannot prove it for eight output streams
// carved out of one buffer and would otherwise not vectorise them at all.
#if defined(__clang__)
#define RTSEP_NO_LOOP_DEPENDENCE _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define RTSEP_NO_LOOP_DEPENDENCE _Pragma("GCC ivdep")
#else
#define RTSEP_NO_LOOP_DEPENDENCE
#endif

// On x86-64 Linux the kernels are also compiled for AVX2 and picked at load
// time (ifunc). Element-wise float code without FMA rounds the same at any
// vector width, so every clone gives bit-identical results.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define RTSEP_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef RTSEP_SIMD_CLONES
#define RTSEP_SIMD_CLONES
#endif

// One forward radix-4 decimation-in-frequency Stockham stage. The data holds s
// interleaved sub-transforms of length n: element p of sub-transform q lives at
// q + s * p. Output: 4 s sub-transforms of length n / 4, element p of the one
// for residue r of sub-transform q at q + s * (4 p + r).
RTSEP_SIMD_CLONES
void radix4_stage(std::size_t n, std::size_t s, const float* tw, const float* __restrict xr,
                  const float* __restrict xi, float* __restrict yr,
                  float* __restrict yi) noexcept {
  const std::size_t m = n / 4;
  const float* w1r = tw;
  const float* w1i = tw + m;
  const float* w2r = tw + 2 * m;
  const float* w2i = tw + 3 * m;
  const float* w3r = tw + 4 * m;
  const float* w3i = tw + 5 * m;
  if (s == 1) {
    // First stage: twiddles vary along the (only) loop.
    for (std::size_t p = 0; p < m; ++p) {
      const float a0r = xr[p], a0i = xi[p];
      const float a1r = xr[p + m], a1i = xi[p + m];
      const float a2r = xr[p + 2 * m], a2i = xi[p + 2 * m];
      const float a3r = xr[p + 3 * m], a3i = xi[p + 3 * m];
      const float b0r = a0r + a2r, b0i = a0i + a2i;
      const float b1r = a0r - a2r, b1i = a0i - a2i;
      const float b2r = a1r + a3r, b2i = a1i + a3i;
      const float b3r = a1i - a3i, b3i = a3r - a1r;  // -i (a1 - a3)
      const float c1r = b1r + b3r, c1i = b1i + b3i;
      const float c2r = b0r - b2r, c2i = b0i - b2i;
      const float c3r = b1r - b3r, c3i = b1i - b3i;
      yr[4 * p] = b0r + b2r;
      yi[4 * p] = b0i + b2i;
      yr[4 * p + 1] = c1r * w1r[p] - c1i * w1i[p];
      yi[4 * p + 1] = c1r * w1i[p] + c1i * w1r[p];
      yr[4 * p + 2] = c2r * w2r[p] - c2i * w2i[p];
      yi[4 * p + 2] = c2r * w2i[p] + c2i * w2r[p];
      yr[4 * p + 3] = c3r * w3r[p] - c3i * w3i[p];
      yi[4 * p + 3] = c3r * w3i[p] + c3i * w3r[p];
    }
    return;
  }
  for (std::size_t p = 0; p < m; ++p) {
    const float v1r = w1r[p], v1i = w1i[p];
    const float v2r = w2r[p], v2i = w2i[p];
    const float v3r = w3r[p], v3i = w3i[p];
    const float* __restrict x0r = xr + s * p;
    const float* __restrict x0i = xi + s * p;
    const float* __restrict x1r = xr + s * (p + m);
    const float* __restrict x1i = xi + s * (p + m);
    const float* __restrict x2r = xr + s * (p + 2 * m);
    const float* __restrict x2i = xi + s * (p + 2 * m);
    const float* __restrict x3r = xr + s * (p + 3 * m);
    const float* __restrict x3i = xi + s * (p + 3 * m);
    float* __restrict y0r = yr + s * (4 * p);
    float* __restrict y0i = yi + s * (4 * p);
    float* __restrict y1r = y0r + s;
    float* __restrict y1i = y0i + s;
    float* __restrict y2r = y0r + 2 * s;
    float* __restrict y2i = y0i + 2 * s;
    float* __restrict y3r = y0r + 3 * s;
    float* __restrict y3i = y0i + 3 * s;
    RTSEP_NO_LOOP_DEPENDENCE
    for (std::size_t q = 0; q < s; ++q) {
      const float b0r = x0r[q] + x2r[q], b0i = x0i[q] + x2i[q];
      const float b1r = x0r[q] - x2r[q], b1i = x0i[q] - x2i[q];
      const float b2r = x1r[q] + x3r[q], b2i = x1i[q] + x3i[q];
      const float b3r = x1i[q] - x3i[q], b3i = x3r[q] - x1r[q];
      const float c1r = b1r + b3r, c1i = b1i + b3i;
      const float c2r = b0r - b2r, c2i = b0i - b2i;
      const float c3r = b1r - b3r, c3i = b1i - b3i;
      y0r[q] = b0r + b2r;
      y0i[q] = b0i + b2i;
      y1r[q] = c1r * v1r - c1i * v1i;
      y1i[q] = c1r * v1i + c1i * v1r;
      y2r[q] = c2r * v2r - c2i * v2i;
      y2i[q] = c2r * v2i + c2i * v2r;
      y3r[q] = c3r * v3r - c3i * v3i;
      y3i[q] = c3r * v3i + c3i * v3r;
    }
  }
}

// Final radix-2 stage (sub-transform length 2, no twiddles): s = n_half / 2.
RTSEP_SIMD_CLONES
void radix2_last_stage(std::size_t s, const float* __restrict xr, const float* __restrict xi,
                       float* __restrict yr, float* __restrict yi) noexcept {
  for (std::size_t q = 0; q < s; ++q) {
    const float ar = xr[q], ai = xi[q];
    const float br = xr[q + s], bi = xi[q + s];
    yr[q] = ar + br;
    yi[q] = ai + bi;
    yr[q + s] = ar - br;
    yi[q + s] = ai - bi;
  }
}

// z[k] = x[2k] + i x[2k+1], k < m.
RTSEP_SIMD_CLONES
void split_even_odd(const float* __restrict x, float* __restrict zr, float* __restrict zi,
                    std::size_t m) noexcept {
  for (std::size_t k = 0; k < m; ++k) {
    zr[k] = x[2 * k];
    zi[k] = x[2 * k + 1];
  }
}

// z[k] = w[2k] x[2k] + i w[2k+1] x[2k+1], k < m.
RTSEP_SIMD_CLONES
void split_even_odd_windowed(const float* __restrict x, const float* __restrict w,
                             float* __restrict zr, float* __restrict zi, std::size_t m) noexcept {
  for (std::size_t k = 0; k < m; ++k) {
    zr[k] = x[2 * k] * w[2 * k];
    zi[k] = x[2 * k + 1] * w[2 * k + 1];
  }
}

// Forward post-processing, bins 1 .. m-1 of the interleaved output o:
// X[k] = E[k] + W^k O[k], E = (Z[k] + conj Z[m-k]) / 2, O = (Z[k] - conj Z[m-k]) / 2i,
// W^k = cos - i sin.
RTSEP_SIMD_CLONES
void real_forward_post(const float* __restrict zr, const float* __restrict zi,
                       const float* __restrict cos_k, const float* __restrict sin_k,
                       float* __restrict o, std::size_t m) noexcept {
  for (std::size_t k = 1; k < m; ++k) {
    const std::size_t j = m - k;
    const float er = 0.5f * (zr[k] + zr[j]);
    const float ei = 0.5f * (zi[k] - zi[j]);
    const float or_ = 0.5f * (zi[k] + zi[j]);
    const float oi = -0.5f * (zr[k] - zr[j]);
    o[2 * k] = er + (or_ * cos_k[k] + oi * sin_k[k]);
    o[2 * k + 1] = ei + (oi * cos_k[k] - or_ * sin_k[k]);
  }
}

// Inverse pre-processing, k = 1 .. m-1, from the bins split into xr, xi
// (k < m): E = (X[k] + conj X[m-k]) / 2, O = (X[k] - conj X[m-k]) / 2 * conj(W^k),
// Z = E + i O.
RTSEP_SIMD_CLONES
void real_inverse_pre(const float* __restrict xr, const float* __restrict xi,
                      const float* __restrict cos_k, const float* __restrict sin_k,
                      float* __restrict zr, float* __restrict zi, std::size_t m) noexcept {
  for (std::size_t k = 1; k < m; ++k) {
    const std::size_t j = m - k;
    const float er = 0.5f * (xr[k] + xr[j]);
    const float ei = 0.5f * (xi[k] - xi[j]);
    const float dr = 0.5f * (xr[k] - xr[j]);
    const float di = 0.5f * (xi[k] + xi[j]);
    const float or_ = dr * cos_k[k] - di * sin_k[k];
    const float oi = dr * sin_k[k] + di * cos_k[k];
    zr[k] = er - oi;
    zi[k] = ei + or_;
  }
}

// out[2k] = zr[k] * scale, out[2k+1] = zi[k] * scale, k < m.
RTSEP_SIMD_CLONES
void interleave_scaled(const float* __restrict zr, const float* __restrict zi, float scale,
                       float* __restrict out, std::size_t m) noexcept {
  for (std::size_t k = 0; k < m; ++k) {
    out[2 * k] = zr[k] * scale;
    out[2 * k + 1] = zi[k] * scale;
  }
}

// Radix-4 stages (and a last radix-2 one when log2 n is odd) of an n-point
// Stockham FFT, n >= 2, with their twiddles appended to twiddles.
void plan_complex_fft(std::size_t n_points, std::vector<detail::FftStage>& stages,
                      std::vector<float>& twiddles) {
  std::size_t n = n_points;
  while (n >= 4) {
    const std::size_t m = n / 4;
    stages.push_back(detail::FftStage{n, 4, twiddles.size()});
    for (int j = 1; j <= 3; ++j) {
      for (std::size_t p = 0; p < m; ++p) {
        twiddles.push_back(static_cast<float>(std::cos(kTwoPi * double(j * p) / double(n))));
      }
      for (std::size_t p = 0; p < m; ++p) {
        twiddles.push_back(static_cast<float>(-std::sin(kTwoPi * double(j * p) / double(n))));
      }
    }
    n = m;
  }
  if (n == 2) stages.push_back(detail::FftStage{2, 2, 0});
}

// Stages of an n-point Stockham FFT over vectors (the avx2 kernel), n >= 8: a
// radix-8 first stage (the forward kernel fuses it with reading the input),
// then radix 8 while possible, ending with 4, 4 (rather than 8, 2: a radix-2
// pass costs a full pass for little work) or 4 or 2 as log2 n requires.
// Twiddles per stage: for r = 1..radix-1, W_n^(r p) real parts, then imaginary
// parts, p < n / radix.
void plan_vector_fft(std::size_t n_points, std::vector<detail::FftStage>& stages,
                     std::vector<float>& twiddles) {
  std::size_t log2_rest = 0;
  while ((std::size_t(8) << log2_rest) < n_points) ++log2_rest;
  std::vector<std::size_t> radices{8};
  while (log2_rest >= 3 && log2_rest != 4) {
    radices.push_back(8);
    log2_rest -= 3;
  }
  if (log2_rest == 4) radices.insert(radices.end(), {4, 4});
  if (log2_rest == 2) radices.push_back(4);
  if (log2_rest == 1) radices.push_back(2);
  std::size_t n = n_points;
  for (const std::size_t radix : radices) {
    const std::size_t m = n / radix;
    stages.push_back(detail::FftStage{n, radix, twiddles.size()});
    for (std::size_t r = 1; r < radix; ++r) {
      for (std::size_t p = 0; p < m; ++p) {
        twiddles.push_back(static_cast<float>(std::cos(kTwoPi * double(r * p) / double(n))));
      }
      for (std::size_t p = 0; p < m; ++p) {
        twiddles.push_back(static_cast<float>(-std::sin(kTwoPi * double(r * p) / double(n))));
      }
    }
    n = m;
  }
}

constexpr std::size_t kMinAvx2Fft = 128;  // n_half = 8 m with m >= 8
constexpr std::size_t kScratchAlignFloats = 8;  // 32 bytes

}  // namespace

bool RealFft::avx2_supported(std::size_t n_fft) noexcept {
  return n_fft >= kMinAvx2Fft && n_fft <= 65536 && (n_fft & (n_fft - 1)) == 0 &&
         detail::fft_avx2_cpu_ok();
}

RealFft::RealFft(std::size_t n_fft, FftKernel kernel)
    : n_fft_(n_fft), n_half_(n_fft / 2), kernel_(FftKernel::portable) {
  if (n_fft < 16 || n_fft > 65536 || (n_fft & (n_fft - 1)) != 0) {
    throw std::invalid_argument("RealFft: n_fft must be a power of two in [16, 65536], got " +
                                std::to_string(n_fft));
  }
  if (kernel == FftKernel::avx2 && !avx2_supported(n_fft)) {
    throw std::invalid_argument("RealFft: the avx2 kernel needs an x86-64 CPU with AVX2 and FMA "
                                "and n_fft >= 128, got n_fft " + std::to_string(n_fft));
  }
  if (kernel == FftKernel::avx2 || (kernel == FftKernel::automatic && avx2_supported(n_fft))) {
    kernel_ = FftKernel::avx2;
  }
  if (kernel_ == FftKernel::avx2) {
    const std::size_t m = n_half_ / 8;
    plan_vector_fft(m, stages_, twiddles_);
    lane_twiddles_.reserve(28 * m);
    const std::size_t natural[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const std::size_t order_0145[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    for (const std::size_t* order : {natural, order_0145}) {
      for (std::size_t g = 0; g < m / 8; ++g) {
        for (std::size_t l = 1; l < 8; ++l) {
          for (std::size_t j = 0; j < 8; ++j) {
            const double a = kTwoPi * double(l * (8 * g + order[j])) / double(n_half_);
            lane_twiddles_.push_back(static_cast<float>(std::cos(a)));
          }
          for (std::size_t j = 0; j < 8; ++j) {
            const double a = kTwoPi * double(l * (8 * g + order[j])) / double(n_half_);
            lane_twiddles_.push_back(static_cast<float>(-std::sin(a)));
          }
        }
      }
    }
  } else {
    plan_complex_fft(n_half_, stages_, twiddles_);
  }
  post_cos_.resize(n_half_);
  post_sin_.resize(n_half_);
  for (std::size_t k = 0; k < n_half_; ++k) {
    post_cos_[k] = static_cast<float>(std::cos(kTwoPi * double(k) / double(n_fft_)));
    post_sin_[k] = static_cast<float>(std::sin(kTwoPi * double(k) / double(n_fft_)));
  }
  scratch_storage_.assign(4 * n_half_ + kScratchAlignFloats, 0.0f);
}

float* RealFft::scratch() noexcept {
  // Aligned from the current storage address, so copies of a RealFft stay valid.
  const auto address = reinterpret_cast<std::uintptr_t>(scratch_storage_.data());
  const std::size_t misalign = (address / sizeof(float)) % kScratchAlignFloats;
  return scratch_storage_.data() + (misalign == 0 ? 0 : kScratchAlignFloats - misalign);
}

detail::Avx2FftPlan RealFft::avx2_plan() const noexcept {
  const std::size_t n_lane = lane_twiddles_.size() / 2;
  return detail::Avx2FftPlan{n_half_,
                             stages_.data(),
                             stages_.size(),
                             twiddles_.data(),
                             lane_twiddles_.data(),
                             lane_twiddles_.data() + n_lane,
                             post_cos_.data(),
                             post_sin_.data()};
}

void RealFft::complex_forward(float* xr, float* xi, float* yr, float* yi, float** res_r,
                              float** res_i) const noexcept {
  std::size_t s = 1;
  for (const detail::FftStage& st : stages_) {
    if (st.radix == 4) {
      radix4_stage(st.n, s, twiddles_.data() + st.twiddle_offset, xr, xi, yr, yi);
    } else {
      radix2_last_stage(s, xr, xi, yr, yi);
    }
    std::swap(xr, yr);
    std::swap(xi, yi);
    s *= st.radix;
  }
  *res_r = xr;
  *res_i = xi;
}

void RealFft::forward(const float* in, std::complex<float>* out) noexcept {
  forward_windowed(in, nullptr, out);
}

void RealFft::forward_windowed(const float* in, const float* window,
                               std::complex<float>* out) noexcept {
  if (kernel_ == FftKernel::avx2) {
    detail::avx2_real_forward(avx2_plan(), in, window, reinterpret_cast<float*>(out), scratch());
  } else {
    portable_forward(in, window, out);
  }
}

void RealFft::inverse(const std::complex<float>* in, float* out) noexcept {
  if (kernel_ == FftKernel::avx2) {
    detail::avx2_real_inverse(avx2_plan(), reinterpret_cast<const float*>(in), out, scratch());
  } else {
    portable_inverse(in, out);
  }
}

void RealFft::portable_forward(const float* in, const float* window,
                               std::complex<float>* out) noexcept {
  const std::size_t m = n_half_;
  float* ar = scratch();
  float* ai = ar + m;
  float* br = ai + m;
  float* bi = br + m;
  if (window != nullptr) {
    split_even_odd_windowed(in, window, ar, ai, m);
  } else {
    split_even_odd(in, ar, ai, m);
  }
  float* zr = nullptr;
  float* zi = nullptr;
  complex_forward(ar, ai, br, bi, &zr, &zi);
  float* o = reinterpret_cast<float*>(out);
  o[0] = zr[0] + zi[0];
  o[1] = 0.0f;
  o[2 * m] = zr[0] - zi[0];
  o[2 * m + 1] = 0.0f;
  real_forward_post(zr, zi, post_cos_.data(), post_sin_.data(), o, m);
}

void RealFft::portable_inverse(const std::complex<float>* in, float* out) noexcept {
  const std::size_t m = n_half_;
  float* ar = scratch();
  float* ai = ar + m;
  float* br = ai + m;
  float* bi = br + m;
  const float* x = reinterpret_cast<const float*>(in);
  // k = 0 pairs bin 0 with bin m; both are taken as real (a real signal's are).
  ar[0] = 0.5f * (x[0] + x[2 * m]);  // E[0]
  ai[0] = 0.5f * (x[0] - x[2 * m]);  // O[0], which i O[0] puts in the imaginary part
  // Split bins 0 .. m-1 into (br, bi), free until the transform, so that the
  // k / m-k pairing below reads two plain arrays (which vectorises).
  split_even_odd(x, br, bi, m);
  real_inverse_pre(br, bi, post_cos_.data(), post_sin_.data(), ar, ai, m);
  // Inverse DFT via the swap trick: idft(z) = swap(dft(swap(z))), unnormalised.
  float* rr = nullptr;
  float* ri = nullptr;
  complex_forward(ai, ar, bi, br, &ri, &rr);
  interleave_scaled(rr, ri, 1.0f / static_cast<float>(m), out, m);
}

}  // namespace rtsep
