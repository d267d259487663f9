// AVX2 + FMA kernels of the native model's causal convolution layer (see
// native_model.hpp). Compiled with target attributes, like fft_avx2.cpp, so the
// build needs no flags; NativeModel calls them only when native_avx2_cpu_ok().
#pragma once

#include <cstddef>

namespace rtsep {
namespace detail {

/// True if this CPU (and OS) runs AVX2 and FMA code.
bool native_avx2_cpu_ok() noexcept;

/// One causal conv step over (time, band), kernel (k_t, 3), padding 1 along bands:
/// out[o, b] = bias[o] + sum_{i,t,k} weight[o, i, t, k] * history[t, i, stride b + k]
/// for b < b_out, where a history row is b_in + 2 floats (zero pad, b_in values,
/// zero pad). scratch: at least 2 * (b_in + 2) floats (stride 2 splits each row
/// into its even and odd samples once, for every output channel).
void conv_avx2(const float* history, const float* weight, const float* bias, float* out,
               std::size_t c_in, std::size_t c_out, std::size_t k_t, std::size_t stride,
               std::size_t b_in, std::size_t b_out, float* scratch) noexcept;

/// In place over n values: y = a[o] * (y - mean) * inv_std + c[o] per channel o of
/// b values each, then ELU (y > 0 ? y : exp(y) - 1).
void norm_elu_avx2(float* y, const float* a, const float* c, std::size_t n_channels,
                   std::size_t b, float mean, float inv_std) noexcept;

}  // namespace detail
}  // namespace rtsep
