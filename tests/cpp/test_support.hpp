// Shared by the plain C++ tests and benchmarks: pass/fail counting with a
// message per failed check, and seeded Gaussian noise.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace rtsep_test {

inline int g_n_checks = 0;
inline int g_n_failures = 0;

inline void check(bool ok, const std::string& what) {
  ++g_n_checks;
  if (!ok) {
    ++g_n_failures;
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
}

inline void check_close(double got, double want, double tol, const std::string& what) {
  check(std::fabs(got - want) <= tol,
        what + " (got " + std::to_string(got) + ", want " + std::to_string(want) + " +- " +
            std::to_string(tol) + ")");
}

/// n samples of Gaussian noise (standard deviation `sd`) from seed.
inline std::vector<float> noise(std::size_t n, unsigned seed, float sd = 0.3f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

/// Print the tally under `name`; the process exit status (0: all passed).
inline int report(const char* name) {
  std::printf("%s%d checks, %d failures\n", name, g_n_checks, g_n_failures);
  return g_n_failures == 0 ? 0 : 1;
}

}  // namespace rtsep_test
