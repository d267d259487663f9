// The analysis / synthesis window formulas of rtsep/config.py, re-implemented
// independently for the plain C++ tests and benchmarks (no Python needed).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace rtsep_test {

constexpr double kPi = 3.14159265358979323846;

/// sqrt-Hann rise over n_fft - hop samples, sqrt-Hann fall over the last hop.
inline std::vector<double> analysis_window(std::size_t n_fft, std::size_t hop) {
  std::vector<double> w(n_fft);
  const std::size_t n_rise = n_fft - hop;
  for (std::size_t i = 0; i < n_rise; ++i) {
    w[i] = std::sqrt(0.5 - 0.5 * std::cos(kPi * double(i) / double(n_rise)));
  }
  for (std::size_t i = 0; i < hop; ++i) {
    w[n_rise + i] = std::sqrt(0.5 + 0.5 * std::cos(kPi * double(i) / double(hop)));
  }
  return w;
}

inline std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

/// mode "default": Hann of 2 hop at the end; "low": flat top of hop + 32 with
/// 32-sample sin^2 / cos^2 tapers. synthesis = product / analysis where product > 0.
inline std::vector<float> synthesis_window(std::size_t n_fft, std::size_t hop,
                                           const std::string& mode) {
  const std::vector<double> wa = analysis_window(n_fft, hop);
  std::vector<double> target(n_fft, 0.0);
  if (mode == "default") {
    const std::size_t support = 2 * hop;
    for (std::size_t m = 0; m < support; ++m) {
      target[n_fft - support + m] = 0.5 - 0.5 * std::cos(2.0 * kPi * double(m) / double(support));
    }
  } else {
    const std::size_t taper = 32;
    const std::size_t support = hop + taper;
    std::vector<double> seg(support, 1.0);
    for (std::size_t j = 0; j < taper; ++j) {
      const double s = std::sin(0.5 * kPi * (double(j) + 0.5) / double(taper));
      const double c = std::cos(0.5 * kPi * (double(j) + 0.5) / double(taper));
      seg[j] = s * s;
      seg[support - taper + j] = c * c;
    }
    for (std::size_t m = 0; m < support; ++m) target[n_fft - support + m] = seg[m];
  }
  std::vector<float> ws(n_fft, 0.0f);
  for (std::size_t i = 0; i < n_fft; ++i) {
    if (target[i] > 0.0) ws[i] = static_cast<float>(target[i] / wa[i]);
  }
  return ws;
}

}  // namespace rtsep_test
