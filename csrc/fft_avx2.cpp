// The AVX2 + FMA kernel of RealFft (see fft.hpp for the method).
//
// Data layout: n_half = 8 m complex points, seen as m complex vectors of 8
// lanes. Vector t of the first pass holds points 8 t + l in its lanes; the
// m-point FFTs over vectors treat a vector exactly like a scalar, so every load
// and store is a whole vector whatever the stage. Between passes a complex
// vector is a block of 16 floats (8 real parts, then 8 imaginary parts), so one
// pointer addresses both halves; the real pre/post-processing, which pairs
// point k with n_half - k (not on the 8-lane grid), uses split arrays instead
// (real parts in one array, imaginary parts in another). The last pass
// (lane_pass) turns the eight lane-wise results into the natural order.
//
// The functions carry target attributes instead of the whole file being
// compiled with -mavx2, so the build needs no special flags and the portable
// kernel stays runnable on CPUs without AVX2; RealFft only calls in here after
// fft_avx2_cpu_ok().
#include "fft_avx2.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#if defined(__GNUC__) || defined(__clang__)
#define RTSEP_FFT_AVX2 1
#define RTSEP_AVX2 __attribute__((target("avx2,fma")))
#define RTSEP_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline
#elif defined(_MSC_VER)
#define RTSEP_FFT_AVX2 1
#define RTSEP_AVX2
#define RTSEP_AVX2_INLINE __forceinline
#endif
#endif

#if defined(RTSEP_FFT_AVX2)
#include <immintrin.h>
#if defined(_MSC_VER)
#include <intrin.h>
#endif
#endif

namespace rtsep {
namespace detail {

#if defined(RTSEP_FFT_AVX2)

namespace {

#if defined(_MSC_VER)
#if defined(__clang__)
__attribute__((target("xsave")))
#endif
bool query_cpu() noexcept {
  int r[4];
  __cpuid(r, 0);
  if (r[0] < 7) return false;
  __cpuid(r, 1);
  const bool fma = (r[2] >> 12) & 1;
  const bool osxsave = (r[2] >> 27) & 1;
  const bool avx = (r[2] >> 28) & 1;
  if (!fma || !osxsave || !avx) return false;
  if ((_xgetbv(0) & 6) != 6) return false;  // the OS saves the YMM registers
  __cpuidex(r, 7, 0);
  return (r[1] >> 5) & 1;  // AVX2
}
#else
bool query_cpu() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

// One complex value per lane, split into real and imaginary vectors.
struct Cv {
  __m256 r;
  __m256 i;
};

RTSEP_AVX2_INLINE Cv add(Cv a, Cv b) { return {_mm256_add_ps(a.r, b.r), _mm256_add_ps(a.i, b.i)}; }
RTSEP_AVX2_INLINE Cv sub(Cv a, Cv b) { return {_mm256_sub_ps(a.r, b.r), _mm256_sub_ps(a.i, b.i)}; }
RTSEP_AVX2_INLINE Cv mul(Cv a, __m256 wr, __m256 wi) {
  return {_mm256_fmsub_ps(a.r, wr, _mm256_mul_ps(a.i, wi)),
          _mm256_fmadd_ps(a.r, wi, _mm256_mul_ps(a.i, wr))};
}
RTSEP_AVX2_INLINE Cv load(const float* re, const float* im) {
  return {_mm256_loadu_ps(re), _mm256_loadu_ps(im)};
}
RTSEP_AVX2_INLINE void store(float* re, float* im, Cv a) {
  _mm256_storeu_ps(re, a.r);
  _mm256_storeu_ps(im, a.i);
}
// A complex vector as a block of 16 floats: 8 real parts, then 8 imaginary parts.
RTSEP_AVX2_INLINE Cv load_block(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
RTSEP_AVX2_INLINE void store_block(float* p, Cv a) {
  _mm256_storeu_ps(p, a.r);
  _mm256_storeu_ps(p + 8, a.i);
}

// 16 floats x[0..15] = 8 interleaved complex values -> real and imaginary
// vectors, lanes in the order 0 1 4 5 2 3 6 7 (one shuffle each; callers that
// need natural order permute afterwards).
RTSEP_AVX2_INLINE Cv deinterleave_lanes_0145(__m256 a, __m256 b) {
  return {_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
          _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))};
}

// p[0..15] = a0 b0 a1 b1 ... a7 b7.
RTSEP_AVX2_INLINE void store_interleaved(float* p, __m256 a, __m256 b) {
  const __m256 lo = _mm256_unpacklo_ps(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5
  const __m256 hi = _mm256_unpackhi_ps(a, b);  // a2 b2 a3 b3 | a6 b6 a7 b7
  _mm256_storeu_ps(p, _mm256_permute2f128_ps(lo, hi, 0x20));
  _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

RTSEP_AVX2_INLINE __m256 reverse(__m256 v) {
  return _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0));
}

// In-place 8 x 8 transpose: v[r] lane c <-> v[c] lane r.
RTSEP_AVX2_INLINE void transpose8(__m256 (&v)[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]);
  const __m256 t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]);
  const __m256 t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]);
  const __m256 t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]);
  const __m256 t7 = _mm256_unpackhi_ps(v[6], v[7]);
  // u_c = rows 0-3 of columns c (low half) and c + 4 (high half).
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  v[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  v[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  v[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  v[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  v[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  v[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  v[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  v[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Radix-4 decimation-in-frequency butterfly (sign -), twiddles applied to the
// outputs 1..3, as the portable kernel's radix4_stage.
RTSEP_AVX2_INLINE void radix4(Cv a0, Cv a1, Cv a2, Cv a3, const __m256 (&w)[6], Cv& y0, Cv& y1,
                              Cv& y2, Cv& y3) {
  const Cv b0 = add(a0, a2);
  const Cv b1 = sub(a0, a2);
  const Cv b2 = add(a1, a3);
  const Cv b3 = {_mm256_sub_ps(a1.i, a3.i), _mm256_sub_ps(a3.r, a1.r)};  // -i (a1 - a3)
  y0 = add(b0, b2);
  y1 = mul(add(b1, b3), w[0], w[1]);
  y2 = mul(sub(b0, b2), w[2], w[3]);
  y3 = mul(sub(b1, b3), w[4], w[5]);
}

// out[r] = sum_j u[j] W8^(j r), W8 = exp(-2 pi i / 8): decimation in
// frequency, pairs (j, j + 4), then two 4-point DFTs.
RTSEP_AVX2_INLINE void dft8(const Cv (&u)[8], Cv (&out)[8]) {
  const __m256 h = _mm256_set1_ps(0.70710678118654752f);
  const Cv b0 = add(u[0], u[4]);
  const Cv b1 = add(u[1], u[5]);
  const Cv b2 = add(u[2], u[6]);
  const Cv b3 = add(u[3], u[7]);
  const Cv d0 = sub(u[0], u[4]);
  const Cv d1 = sub(u[1], u[5]);
  const Cv d2 = sub(u[2], u[6]);
  const Cv d3 = sub(u[3], u[7]);
  // Even outputs: 4-point DFT of b.
  const Cv bp = add(b0, b2);
  const Cv bq = sub(b0, b2);
  const Cv br = add(b1, b3);
  const Cv bs = sub(b1, b3);
  out[0] = add(bp, br);
  out[4] = sub(bp, br);
  out[2] = {_mm256_add_ps(bq.r, bs.i), _mm256_sub_ps(bq.i, bs.r)};  // bq - i bs
  out[6] = {_mm256_sub_ps(bq.r, bs.i), _mm256_add_ps(bq.i, bs.r)};  // bq + i bs
  // Odd outputs: 4-point DFT of c_l = d_l W8^l, W8 = (1 - i) / sqrt 2;
  // c2 = -i d2 and c1, c3 are folded into the sums below.
  const Cv cp = {_mm256_add_ps(d0.r, d2.i), _mm256_sub_ps(d0.i, d2.r)};  // c0 + c2
  const Cv cq = {_mm256_sub_ps(d0.r, d2.i), _mm256_add_ps(d0.i, d2.r)};  // c0 - c2
  const __m256 s1 = _mm256_add_ps(d1.r, d1.i);  // c1 = h (s1 + i t1)
  const __m256 t1 = _mm256_sub_ps(d1.i, d1.r);
  const __m256 s3 = _mm256_add_ps(d3.r, d3.i);  // c3 = h (t3 - i s3)
  const __m256 t3 = _mm256_sub_ps(d3.i, d3.r);
  const Cv cr = {_mm256_mul_ps(h, _mm256_add_ps(s1, t3)),
                 _mm256_mul_ps(h, _mm256_sub_ps(t1, s3))};  // c1 + c3
  const Cv cs = {_mm256_mul_ps(h, _mm256_sub_ps(s1, t3)),
                 _mm256_mul_ps(h, _mm256_add_ps(t1, s3))};  // c1 - c3
  out[1] = add(cp, cr);
  out[5] = sub(cp, cr);
  out[3] = {_mm256_add_ps(cq.r, cs.i), _mm256_sub_ps(cq.i, cs.r)};  // cq - i cs
  out[7] = {_mm256_sub_ps(cq.r, cs.i), _mm256_add_ps(cq.i, cs.r)};  // cq + i cs
}

RTSEP_AVX2_INLINE void broadcast_twiddles(const float* tw, std::size_t m, std::size_t p,
                                          __m256 (&w)[6]) {
  for (int j = 0; j < 6; ++j) w[j] = _mm256_broadcast_ss(tw + j * m + p);
}

// Only used as the last stage (n = 4), where every twiddle is 1.
RTSEP_AVX2 void vector_radix4_last_stage(std::size_t s, const float* x, float* y) noexcept {
  for (std::size_t q = 0; q < s; ++q) {
    const Cv a0 = load_block(x + 16 * q);
    const Cv a1 = load_block(x + 16 * (q + s));
    const Cv a2 = load_block(x + 16 * (q + 2 * s));
    const Cv a3 = load_block(x + 16 * (q + 3 * s));
    const Cv b0 = add(a0, a2);
    const Cv b1 = sub(a0, a2);
    const Cv b2 = add(a1, a3);
    const Cv b3 = {_mm256_sub_ps(a1.i, a3.i), _mm256_sub_ps(a3.r, a1.r)};  // -i (a1 - a3)
    store_block(y + 16 * q, add(b0, b2));
    store_block(y + 16 * (q + s), add(b1, b3));
    store_block(y + 16 * (q + 2 * s), sub(b0, b2));
    store_block(y + 16 * (q + 3 * s), sub(b1, b3));
  }
}

// One radix-8 Stockham stage over vectors: s interleaved sub-transforms of
// length n, element p of sub-transform q at q + s p, go to 8 s sub-transforms
// of length n / 8, element p of the one for residue r of q at q + s (8 p + r).
// Output in blocks (element e at y + 16 e); input in blocks too, or with
// kSplitIn in split arrays (element e at xr + 8 e, xi + 8 e).
// tw: for r = 1..7, W_n^(r p) real parts then imaginary parts (m = n / 8 each).
// kTwiddles false: n = 8 (every twiddle is 1).
template <bool kSplitIn, bool kTwiddles>
RTSEP_AVX2 void vector_radix8_stage(std::size_t n, std::size_t s, const float* tw,
                                    const float* x, const float* xr, const float* xi,
                                    float* y) noexcept {
  const std::size_t m = n / 8;
  const std::size_t out_step = 16 * s;
  for (std::size_t p = 0; p < m; ++p) {
    float* y0 = y + 16 * 8 * s * p;
    for (std::size_t q = 0; q < s; ++q) {
      Cv a[8];
      for (std::size_t j = 0; j < 8; ++j) {
        const std::size_t e = q + s * (p + j * m);
        a[j] = kSplitIn ? load(xr + 8 * e, xi + 8 * e) : load_block(x + 16 * e);
      }
      Cv o[8];
      dft8(a, o);
      float* out = y0 + 16 * q;
      store_block(out, o[0]);
      for (std::size_t r = 1; r < 8; ++r) {
        Cv v = o[r];
        if (kTwiddles) {
          v = mul(v, _mm256_broadcast_ss(tw + (2 * r - 2) * m + p),
                  _mm256_broadcast_ss(tw + (2 * r - 1) * m + p));
        }
        store_block(out + r * out_step, v);
      }
    }
  }
}

// One radix-4 Stockham stage over vectors: s interleaved sub-transforms of
// length n, element p of sub-transform q at q + s p, go to 4 s sub-transforms
// of length n / 4, element p of the one for residue r of q at q + s (4 p + r).
// In and out in blocks (element e at x + 16 e).
RTSEP_AVX2 void vector_radix4_stage(std::size_t n, std::size_t s, const float* tw,
                                    const float* x, float* y) noexcept {
  const std::size_t m = n / 4;
  const std::size_t out_step = 16 * s;
  for (std::size_t p = 0; p < m; ++p) {
    __m256 w[6];
    broadcast_twiddles(tw, m, p, w);
    float* y0 = y + 16 * 4 * s * p;
    for (std::size_t q = 0; q < s; ++q) {
      Cv a[4];
      for (std::size_t j = 0; j < 4; ++j) {
        a[j] = load_block(x + 16 * (q + s * (p + j * m)));
      }
      Cv y0v, y1v, y2v, y3v;
      radix4(a[0], a[1], a[2], a[3], w, y0v, y1v, y2v, y3v);
      float* o = y0 + 16 * q;
      store_block(o, y0v);
      store_block(o + out_step, y1v);
      store_block(o + 2 * out_step, y2v);
      store_block(o + 3 * out_step, y3v);
    }
  }
}

// Final radix-2 stage over vectors (sub-transform length 2, no twiddles), blocks.
RTSEP_AVX2 void vector_radix2_stage(std::size_t s, const float* x, float* y) noexcept {
  for (std::size_t q = 0; q < s; ++q) {
    const Cv a = load_block(x + 16 * q);
    const Cv b = load_block(x + 16 * (q + s));
    store_block(y + 16 * q, add(a, b));
    store_block(y + 16 * (q + s), sub(a, b));
  }
}

// The first stage of the forward transform (radix 8, n = m, s = 1), reading
// the real input directly: points z[k] = x[2k] + i x[2k+1] (times the window),
// vector t = z[8t .. 8t+7] with lanes in the order 0 1 4 5 2 3 6 7 (lane_pass
// undoes it). Output in blocks.
template <bool kWindowed>
RTSEP_AVX2 void forward_first_stage(std::size_t n, const float* tw, const float* x,
                                    const float* window, float* y) noexcept {
  const std::size_t m = n / 8;
  for (std::size_t p = 0; p < m; ++p) {
    Cv a[8];
    for (std::size_t j = 0; j < 8; ++j) {
      const std::size_t f = 16 * (p + j * m);
      __m256 lo = _mm256_loadu_ps(x + f);
      __m256 hi = _mm256_loadu_ps(x + f + 8);
      if (kWindowed) {
        lo = _mm256_mul_ps(lo, _mm256_loadu_ps(window + f));
        hi = _mm256_mul_ps(hi, _mm256_loadu_ps(window + f + 8));
      }
      a[j] = deinterleave_lanes_0145(lo, hi);
    }
    Cv o[8];
    dft8(a, o);
    float* out = y + 128 * p;
    store_block(out, o[0]);
    for (std::size_t r = 1; r < 8; ++r) {
      // m == 1 (n_fft 128) has all twiddles 1 and multiplies by them exactly.
      store_block(out + 16 * r, mul(o[r], _mm256_broadcast_ss(tw + (2 * r - 2) * m + p),
                                    _mm256_broadcast_ss(tw + (2 * r - 1) * m + p)));
    }
  }
}

// Runs stages[first..] of the m-point vector FFT starting at stride s, in
// blocks; the data ping-pongs between x and y. Returns the buffer holding the
// result.
float* run_vector_stages(const Avx2FftPlan& plan, std::size_t first, std::size_t s, float* x,
                         float* y) noexcept {
  for (std::size_t k = first; k < plan.n_stages; ++k) {
    const FftStage& st = plan.stages[k];
    const float* tw = plan.twiddles + st.twiddle_offset;
    if (st.radix == 8 && st.n > 8) {
      vector_radix8_stage<false, true>(st.n, s, tw, x, nullptr, nullptr, y);
    } else if (st.radix == 8) {
      vector_radix8_stage<false, false>(st.n, s, tw, x, nullptr, nullptr, y);
    } else if (st.radix == 4 && st.n > 4) {
      vector_radix4_stage(st.n, s, tw, x, y);
    } else if (st.radix == 4) {
      vector_radix4_last_stage(s, x, y);
    } else {
      vector_radix2_stage(s, x, y);
    }
    float* t = x;
    x = y;
    y = t;
    s *= st.radix;
  }
  return x;
}

// X[k1 + m k2] = sum_l W8^(l k2) W^(l k1) Y_l[k1], where Y_l[k1] is lane l of
// vector k1 of the m-point FFTs. Per block of 8 vectors: transpose (the vectors
// then run over k1, one per l), twiddle, radix-8 across l, store 8 vectors of
// consecutive k. Input y in blocks. kLanes0145: the lanes of y hold l in the
// order 0 1 4 5 2 3 6 7 (the forward first stage's); else 0..7.
// kInterleavedSwapped: write the result as interleaved floats (imaginary part
// first: the inverse's swap trick) to out, else split to (out_r, out_i). For
// the interleaved output the rows are taken in the order 0 1 4 5 2 3 6 7, so
// the transposed vectors hold k1 in that order (lane_tw must match), which
// makes the interleaving two unpacks instead of four shuffles.
template <bool kLanes0145, bool kInterleavedSwapped>
RTSEP_AVX2 void lane_pass(std::size_t m, const float* lane_tw, const float* y, float* out_r,
                          float* out_i, float* out) noexcept {
  // Lane holding l; the 0 1 4 5 2 3 6 7 order is its own inverse.
  constexpr int kLane[8] = {0, 1, kLanes0145 ? 4 : 2, kLanes0145 ? 5 : 3,
                            kLanes0145 ? 2 : 4, kLanes0145 ? 3 : 5, 6, 7};
  constexpr int kRow[8] = {0, 1, kInterleavedSwapped ? 4 : 2, kInterleavedSwapped ? 5 : 3,
                           kInterleavedSwapped ? 2 : 4, kInterleavedSwapped ? 3 : 5, 6, 7};
  for (std::size_t g = 0; g < m / 8; ++g) {
    __m256 re[8];
    __m256 im[8];
    for (int j = 0; j < 8; ++j) {
      re[j] = _mm256_loadu_ps(y + 128 * g + 16 * kRow[j]);
      im[j] = _mm256_loadu_ps(y + 128 * g + 16 * kRow[j] + 8);
    }
    transpose8(re);
    transpose8(im);
    Cv u[8];
    u[0] = {re[kLane[0]], im[kLane[0]]};
    const float* tw = lane_tw + 112 * g;
    for (int l = 1; l < 8; ++l) {
      u[l] = mul({re[kLane[l]], im[kLane[l]]}, _mm256_loadu_ps(tw + 16 * (l - 1)),
                 _mm256_loadu_ps(tw + 16 * (l - 1) + 8));
    }
    Cv out_k[8];
    dft8(u, out_k);
    for (std::size_t k2 = 0; k2 < 8; ++k2) {
      const std::size_t k = m * k2 + 8 * g;
      if (kInterleavedSwapped) {
        // Lanes hold k + 0 1 4 5 2 3 6 7: unpacklo gives k..k+3, unpackhi k+4..k+7.
        _mm256_storeu_ps(out + 2 * k, _mm256_unpacklo_ps(out_k[k2].i, out_k[k2].r));
        _mm256_storeu_ps(out + 2 * k + 8, _mm256_unpackhi_ps(out_k[k2].i, out_k[k2].r));
      } else {
        store(out_r + k, out_i + k, out_k[k2]);
      }
    }
  }
}

// Forward post-processing, from the n_half-point FFT Z (natural order, split)
// to bins 0..n_half of the real input's spectrum (interleaved). For k and
// n_half - k together: E = (Z[k] + conj Z[n-k]) / 2, O = (Z[k] - conj Z[n-k]) / 2i,
// X[k] = E + W^k O, X[n-k] = conj(E - W^k O), W^k = cos - i sin (angle 2 pi k / n_fft).
RTSEP_AVX2 void forward_post(std::size_t nh, const float* zr, const float* zi,
                             const float* cos_k, const float* sin_k, float* o) noexcept {
  const __m256 half = _mm256_set1_ps(0.5f);
  for (std::size_t k0 = 1; k0 + 7 <= nh / 2; k0 += 8) {
    const std::size_t j0 = nh - k0 - 7;  // lanes k0 + i pair with nh - k0 - i = j0 + 7 - i
    const __m256 zkr = _mm256_loadu_ps(zr + k0);
    const __m256 zki = _mm256_loadu_ps(zi + k0);
    const __m256 zjr = reverse(_mm256_loadu_ps(zr + j0));
    const __m256 zji = reverse(_mm256_loadu_ps(zi + j0));
    const __m256 er = _mm256_mul_ps(half, _mm256_add_ps(zkr, zjr));
    const __m256 ei = _mm256_mul_ps(half, _mm256_sub_ps(zki, zji));
    const __m256 odd_r = _mm256_mul_ps(half, _mm256_add_ps(zki, zji));
    const __m256 odd_i = _mm256_mul_ps(half, _mm256_sub_ps(zjr, zkr));
    const __m256 c = _mm256_loadu_ps(cos_k + k0);
    const __m256 s = _mm256_loadu_ps(sin_k + k0);
    const __m256 wor = _mm256_fmadd_ps(odd_r, c, _mm256_mul_ps(odd_i, s));
    const __m256 woi = _mm256_fmsub_ps(odd_i, c, _mm256_mul_ps(odd_r, s));
    store_interleaved(o + 2 * k0, _mm256_add_ps(er, wor), _mm256_add_ps(ei, woi));
    store_interleaved(o + 2 * j0, reverse(_mm256_sub_ps(er, wor)),
                      reverse(_mm256_sub_ps(woi, ei)));
  }
  o[0] = zr[0] + zi[0];
  o[1] = 0.0f;
  o[2 * nh] = zr[0] - zi[0];
  o[2 * nh + 1] = 0.0f;
}

// Inverse pre-processing, bins (interleaved) -> Z / n_half with real and
// imaginary parts swapped (idft(z) = swap(dft(swap(z)))): ar = Im Z, ai = Re Z.
// E = (X[k] + conj X[n-k]) / 2, O = (X[k] - conj X[n-k]) / 2 * conj W^k,
// Z[k] = E + i O and Z[n-k] = conj E + i conj O.
RTSEP_AVX2 void inverse_pre(std::size_t nh, const float* x, const float* cos_k,
                            const float* sin_k, float* ar, float* ai) noexcept {
  const float scale = 0.5f / static_cast<float>(nh);
  const __m256 h = _mm256_set1_ps(scale);
  // deinterleave_lanes_0145 gives bins 0 1 4 5 2 3 6 7; these put them in order
  // 0..7, or 7..0.
  const __m256i in_order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
  const __m256i reversed = _mm256_setr_epi32(7, 6, 3, 2, 5, 4, 1, 0);
  for (std::size_t k0 = 1; k0 + 7 <= nh / 2; k0 += 8) {
    const std::size_t j0 = nh - k0 - 7;
    const Cv xk = deinterleave_lanes_0145(_mm256_loadu_ps(x + 2 * k0),
                                          _mm256_loadu_ps(x + 2 * k0 + 8));
    const Cv xj = deinterleave_lanes_0145(_mm256_loadu_ps(x + 2 * j0),
                                          _mm256_loadu_ps(x + 2 * j0 + 8));
    const __m256 xkr = _mm256_permutevar8x32_ps(xk.r, in_order);
    const __m256 xki = _mm256_permutevar8x32_ps(xk.i, in_order);
    const __m256 xjr = _mm256_permutevar8x32_ps(xj.r, reversed);
    const __m256 xji = _mm256_permutevar8x32_ps(xj.i, reversed);
    const __m256 er = _mm256_mul_ps(h, _mm256_add_ps(xkr, xjr));
    const __m256 ei = _mm256_mul_ps(h, _mm256_sub_ps(xki, xji));
    const __m256 dr = _mm256_mul_ps(h, _mm256_sub_ps(xkr, xjr));
    const __m256 di = _mm256_mul_ps(h, _mm256_add_ps(xki, xji));
    const __m256 c = _mm256_loadu_ps(cos_k + k0);
    const __m256 s = _mm256_loadu_ps(sin_k + k0);
    const __m256 odd_r = _mm256_fmsub_ps(dr, c, _mm256_mul_ps(di, s));
    const __m256 odd_i = _mm256_fmadd_ps(dr, s, _mm256_mul_ps(di, c));
    _mm256_storeu_ps(ai + k0, _mm256_sub_ps(er, odd_i));
    _mm256_storeu_ps(ar + k0, _mm256_add_ps(ei, odd_r));
    _mm256_storeu_ps(ai + j0, reverse(_mm256_add_ps(er, odd_i)));
    _mm256_storeu_ps(ar + j0, reverse(_mm256_sub_ps(odd_r, ei)));
  }
  // k = 0 pairs bin 0 with bin n; both are taken as real (a real signal's are).
  ai[0] = scale * (x[0] + x[2 * nh]);
  ar[0] = scale * (x[0] - x[2 * nh]);
}

}  // namespace

bool fft_avx2_cpu_ok() noexcept {
  static const bool ok = query_cpu();
  return ok;
}

void avx2_real_forward(const Avx2FftPlan& plan, const float* in, const float* window, float* out,
                       float* scratch) noexcept {
  const std::size_t nh = plan.n_half;
  const std::size_t m = nh / 8;
  float* a = scratch;
  float* b = scratch + 2 * nh;
  const float* tw0 = plan.twiddles + plan.stages[0].twiddle_offset;
  if (window != nullptr) {
    forward_first_stage<true>(m, tw0, in, window, a);
  } else {
    forward_first_stage<false>(m, tw0, in, nullptr, a);
  }
  const float* y = run_vector_stages(plan, 1, 8, a, b);
  float* z = y == a ? b : a;  // split: real parts z[0..nh), imaginary z[nh..2nh)
  lane_pass<true, false>(m, plan.lane_twiddles, y, z, z + nh, nullptr);
  forward_post(nh, z, z + nh, plan.post_cos, plan.post_sin, out);
}

void avx2_real_inverse(const Avx2FftPlan& plan, const float* in, float* out,
                       float* scratch) noexcept {
  const std::size_t nh = plan.n_half;
  float* a = scratch;
  float* b = scratch + 2 * nh;
  inverse_pre(nh, in, plan.post_cos, plan.post_sin, a, a + nh);  // split
  const FftStage& st0 = plan.stages[0];  // radix 8, n = nh / 8
  if (st0.n > 8) {
    vector_radix8_stage<true, true>(st0.n, 1, plan.twiddles + st0.twiddle_offset, nullptr, a,
                                    a + nh, b);
  } else {
    vector_radix8_stage<true, false>(st0.n, 1, nullptr, nullptr, a, a + nh, b);
  }
  const float* y = run_vector_stages(plan, 1, 8, b, a);
  lane_pass<false, true>(nh / 8, plan.lane_twiddles_0145, y, nullptr, nullptr, out);
}

#else  // no AVX2 kernel on this target

bool fft_avx2_cpu_ok() noexcept { return false; }
void avx2_real_forward(const Avx2FftPlan&, const float*, const float*, float*, float*) noexcept {}
void avx2_real_inverse(const Avx2FftPlan&, const float*, float*, float*) noexcept {}

#endif

}  // namespace detail
}  // namespace rtsep
