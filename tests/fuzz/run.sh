#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan), make their seed corpora, and run
# each for a bounded time. Exits non-zero on any crash, sanitizer report, leak,
# timeout, or allocation above the cap (the crashing input is left in the artifact
# folder, named in the output). tests/fuzz/README.md has the details.
#
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 60; env: RTSEP_FUZZ_BUILD,
#        RTSEP_FUZZ_WORK for the build and work folders)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-60}"
build="${RTSEP_FUZZ_BUILD:-${root}/build/fuzz}"
work="${RTSEP_FUZZ_WORK:-${build}/work}"
if ! command -v clang++ >/dev/null 2>&1; then
  echo "run.sh: clang++ not found (apt-get install clang libclang-rt-dev)" >&2
  exit 2
fi
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S "${root}/tests/fuzz" -B "${build}" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build "${build}" --parallel "${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

rm -rf "${work}"
mkdir -p "${work}"
python3 "${root}/tests/fuzz/make_seeds.py" "${work}/seeds"

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Caps: a single allocation over 64 MB or a resident size over 1 GB is a finding
# (a hostile file must be refused before anything sized by it is allocated).
status=0
for target in model wav; do
  corpus="${work}/corpus-${target}"
  artifacts="${work}/artifacts-${target}"
  mkdir -p "${corpus}" "${artifacts}"
  max_len=65536
  [ "${target}" = wav ] && max_len=4096
  echo "== fuzz_${target}: ${seconds} s" >&2
  if ! "${build}/fuzz_${target}" "${corpus}" "${work}/seeds/${target}" \
      -max_total_time="${seconds}" -max_len="${max_len}" -timeout=10 \
      -rss_limit_mb=1024 -malloc_limit_mb=64 -detect_leaks=1 -print_final_stats=1 \
      -artifact_prefix="${artifacts}/" 2>"${work}/fuzz_${target}.log"; then
    echo "run.sh: fuzz_${target} found a problem:" >&2
    tail -n 60 "${work}/fuzz_${target}.log" >&2
    ls -l "${artifacts}" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov:" "${work}/fuzz_${target}.log" \
      | tail -n 3 >&2
  fi
done
exit "${status}"
