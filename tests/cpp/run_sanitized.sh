#!/usr/bin/env bash
# Build the C++ core, tests/cpp/test_core and tests/cpp/test_live with
# AddressSanitizer and UndefinedBehaviorSanitizer in build/sanitize, run them
# (test_live with the shipped native model, when there is one), and exit non-zero
# on any failed check or sanitizer report.
# Usage: tests/cpp/run_sanitized.sh [n_stress_frames]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${root}/build/sanitize"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

cmake -S "${root}" -B "${build_dir}" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRTSEP_BUILD_PYTHON=OFF \
  -DRTSEP_BUILD_CPP_TESTS=ON \
  -DRTSEP_SANITIZE=ON
cmake --build "${build_dir}" --target test_core test_live --parallel "${RTSEP_BUILD_JOBS:-2}"

log="${build_dir}/test_core.log"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
status=0
"${build_dir}/test_core" "$@" 2>&1 | tee "${log}" || status=$?
model="${root}/models/rtsep-default.rtsepw"
if [ -f "${model}" ]; then
  live_status=0
  "${build_dir}/test_live" "${model}" 2>&1 | tee -a "${log}" || live_status=$?
  [ "${live_status}" -eq 0 ] || status="${live_status}"
else
  echo "run_sanitized.sh: ${model} missing; test_live skipped" | tee -a "${log}"
fi
if grep -qE "runtime error:|ERROR: (Address|Leak)Sanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "${log}"; then
  echo "run_sanitized.sh: sanitizer report found" >&2
  [ "${status}" -ne 0 ] || status=1
fi
exit "${status}"
