// AVX2 + FMA kernels of the native model (see native_avx2.hpp).
//
// The convolution keeps 4 output channels x 2 vectors of 8 bands in 8 accumulators:
// for every (input channel, time tap) the three band-shifted input vectors are
// loaded once and feed 4 channels, and the 8 independent accumulators hide the FMA
// latency. Stride 2 first splits every input row into its even and odd samples
// (once per step, shared by all output channels), which turns the strided taps
// into plain shifted loads: out[b] = w0 even[b] + w1 odd[b] + w2 even[b + 1].
// The accumulation order differs from the portable loop, so results agree with it
// to float rounding, not bit for bit (the export check allows 1e-4 on the mask).
#include "native_avx2.hpp"

#include <algorithm>
#include <cmath>

#include "fft_avx2.hpp"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define RTSEP_NATIVE_AVX2 1
#include <immintrin.h>
#define RTSEP_AVX2 __attribute__((target("avx2,fma")))
#define RTSEP_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline
#endif

namespace rtsep {
namespace detail {

#ifdef RTSEP_NATIVE_AVX2

bool native_avx2_cpu_ok() noexcept { return fft_avx2_cpu_ok(); }

namespace {

// NV vectors of 8 bands (from band b) for output channels o .. o + 3.
template <int NV>
RTSEP_AVX2_INLINE void conv_block4(const float* base, std::size_t len, const std::size_t* off,
                                   const float* weight, const float* bias, float* out,
                                   std::size_t o, std::size_t b, std::size_t c_in,
                                   std::size_t k_t, std::size_t b_out) {
  __m256 acc[4][NV];
  for (int c = 0; c < 4; ++c) {
    for (int v = 0; v < NV; ++v) acc[c][v] = _mm256_set1_ps(bias[o + c]);
  }
  const std::size_t w_step = c_in * k_t * 3;  // from one output channel's weights to the next
  for (std::size_t i = 0; i < c_in; ++i) {
    for (std::size_t t = 0; t < k_t; ++t) {
      const float* p = base + (t * c_in + i) * len + b;
      __m256 x[3][NV];
      for (int k = 0; k < 3; ++k) {
        for (int v = 0; v < NV; ++v) x[k][v] = _mm256_loadu_ps(p + off[k] + 8 * v);
      }
      const float* w = weight + ((o * c_in + i) * k_t + t) * 3;
      for (int c = 0; c < 4; ++c, w += w_step) {
        for (int k = 0; k < 3; ++k) {
          const __m256 wk = _mm256_broadcast_ss(w + k);
          for (int v = 0; v < NV; ++v) acc[c][v] = _mm256_fmadd_ps(wk, x[k][v], acc[c][v]);
        }
      }
    }
  }
  for (int c = 0; c < 4; ++c) {
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(out + (o + c) * b_out + b + 8 * v, acc[c][v]);
  }
}

// One vector of 8 bands for one output channel.
RTSEP_AVX2_INLINE void conv_block1(const float* base, std::size_t len, const std::size_t* off,
                                   const float* weight, const float* bias, float* out,
                                   std::size_t o, std::size_t b, std::size_t c_in,
                                   std::size_t k_t, std::size_t b_out) {
  __m256 acc = _mm256_set1_ps(bias[o]);
  for (std::size_t i = 0; i < c_in; ++i) {
    for (std::size_t t = 0; t < k_t; ++t) {
      const float* p = base + (t * c_in + i) * len + b;
      const float* w = weight + ((o * c_in + i) * k_t + t) * 3;
      for (int k = 0; k < 3; ++k) {
        acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w + k), _mm256_loadu_ps(p + off[k]), acc);
      }
    }
  }
  _mm256_storeu_ps(out + o * b_out + b, acc);
}

// exp(x) for x <= 0 (clamped at -87): 2^n exp(r) with |r| <= ln2 / 2 and exp(r) by
// its Taylor polynomial to r^6 (relative error about 1e-7).
RTSEP_AVX2_INLINE __m256 exp_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2, with ln2 in two parts so that n ln2 is exact to float precision.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

}  // namespace

RTSEP_AVX2 void conv_avx2(const float* history, const float* weight, const float* bias, float* out,
                          std::size_t c_in, std::size_t c_out, std::size_t k_t, std::size_t stride,
                          std::size_t b_in, std::size_t b_out, float* scratch) noexcept {
  const std::size_t row_len = b_in + 2;
  const float* base = history;
  std::size_t len = row_len;
  std::size_t off[3] = {0, 1, 2};
  if (stride != 1) {  // stride 2: even samples (b_out + 1), then odd ones (b_out, one pad)
    len = 2 * (b_out + 1);
    for (std::size_t r = 0; r < k_t * c_in; ++r) {
      const float* row = history + r * row_len;
      float* even = scratch + r * len;
      float* odd = even + (b_out + 1);
      for (std::size_t j = 0; j <= b_out; ++j) even[j] = row[2 * j];
      for (std::size_t j = 0; j < b_out; ++j) odd[j] = row[2 * j + 1];
      odd[b_out] = 0.0f;
    }
    base = scratch;
    off[1] = b_out + 1;
    off[2] = 1;
  }
  const std::size_t n16 = b_out / 16 * 16, n8 = b_out / 8 * 8;
  std::size_t o = 0;
  for (; o + 4 <= c_out; o += 4) {
    for (std::size_t b = 0; b < n16; b += 16) {
      conv_block4<2>(base, len, off, weight, bias, out, o, b, c_in, k_t, b_out);
    }
    if (n8 > n16) conv_block4<1>(base, len, off, weight, bias, out, o, n16, c_in, k_t, b_out);
  }
  for (; o < c_out; ++o) {
    for (std::size_t b = 0; b < n8; b += 8) {
      conv_block1(base, len, off, weight, bias, out, o, b, c_in, k_t, b_out);
    }
  }
  // The last b_out % 8 bands of every channel.
  for (std::size_t oc = 0; oc < c_out && n8 < b_out; ++oc) {
    for (std::size_t b = n8; b < b_out; ++b) {
      float acc = bias[oc];
      for (std::size_t i = 0; i < c_in; ++i) {
        for (std::size_t t = 0; t < k_t; ++t) {
          const float* p = base + (t * c_in + i) * len + b;
          const float* w = weight + ((oc * c_in + i) * k_t + t) * 3;
          acc += w[0] * p[off[0]] + w[1] * p[off[1]] + w[2] * p[off[2]];
        }
      }
      out[oc * b_out + b] = acc;
    }
  }
}

RTSEP_AVX2 void norm_elu_avx2(float* y, const float* a, const float* c, std::size_t n_channels,
                              std::size_t b, float mean, float inv_std) noexcept {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 vmean = _mm256_set1_ps(mean);
  for (std::size_t o = 0; o < n_channels; ++o) {
    float* row = y + o * b;
    const float scale = a[o] * inv_std, shift = c[o];
    const __m256 vs = _mm256_set1_ps(scale), vc = _mm256_set1_ps(shift);
    std::size_t k = 0;
    for (; k + 8 <= b; k += 8) {
      const __m256 z = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(row + k), vmean), vs, vc);
      const __m256 neg = _mm256_sub_ps(exp_nonpositive(_mm256_min_ps(z, zero)), one);
      // z where z > 0 or z is NaN (so that a NaN reaches the mask check), else exp(z) - 1.
      _mm256_storeu_ps(row + k, _mm256_blendv_ps(neg, z, _mm256_cmp_ps(z, zero, _CMP_NLE_UQ)));
    }
    for (; k < b; ++k) {
      const float z = (row[k] - mean) * scale + shift;
      row[k] = z > 0.0f ? z : std::expm1(z);
    }
  }
}

#else

bool native_avx2_cpu_ok() noexcept { return false; }
void conv_avx2(const float*, const float*, const float*, float*, std::size_t, std::size_t,
               std::size_t, std::size_t, std::size_t, std::size_t, float*) noexcept {}
void norm_elu_avx2(float*, const float*, const float*, std::size_t, std::size_t, float,
                   float) noexcept {}

#endif

}  // namespace detail
}  // namespace rtsep
