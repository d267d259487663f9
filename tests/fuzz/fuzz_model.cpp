// libFuzzer target: a native model file (.rtsepw) as a new user's host would meet it.
//
// The input is a whole file. rtsep_create_from_memory parses and validates it; a
// file it accepts is prepared at 48 kHz (and 44.1 kHz), and a few blocks of noise
// (with a NaN and an inf in them) run through rtsep_process in every output mode,
// two of them with key changes on;
// the outputs must be finite. Built with -fsanitize=fuzzer,address,undefined by
// tests/fuzz/CMakeLists.txt; run by tests/fuzz/run.sh.
//
// CRC-fixing mode: LLVMFuzzerCustomMutator mutates as libFuzzer would, then (for 15
// of every 16 mutants) rewrites the trailing CRC-32 so that the parser's deeper
// checks (tensor table, shapes, architecture, windows) are reached rather than
// every mutant stopping at "checksum mismatch".
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "native_model.hpp"
#include "rtsep.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (size >= 8 && (seed & 15u) != 0) {
    const std::uint32_t crc = rtsep::crc32(data, size - 4);
    std::memcpy(data + size - 4, &crc, 4);  // little-endian host (the parser needs one)
  }
  return size;
}

namespace {

void run_blocks(rtsep_processor* p, double rate_hz, uint32_t n_channels, uint32_t block) {
  if (rtsep_prepare(p, rate_hz, block, n_channels) != RTSEP_OK) return;
  std::vector<float> in(2 * block), voc(2 * block), ins(2 * block);
  const float* in_ptr[2] = {in.data(), in.data() + block};
  float* voc_ptr[2] = {voc.data(), voc.data() + block};
  float* ins_ptr[2] = {ins.data(), ins.data() + block};
  std::uint32_t state = 12345;
  const int32_t latency = rtsep_latency_samples(p);
  if (latency < 0) std::abort();
  for (int mode = 0; mode < 4; ++mode) {
    rtsep_set_parameter(p, RTSEP_PARAM_MODE, static_cast<float>(mode));
    // Key changes in the middle modes: the pitch shifters run on the model's masks too.
    rtsep_set_parameter(p, RTSEP_PARAM_KEY_SEMITONES, mode == 1 || mode == 2 ? 3.0f : 0.0f);
    rtsep_set_parameter(p, RTSEP_PARAM_VOCALS_KEY_SEMITONES, mode == 2 ? -4.5f : 0.0f);
    // The strength reshapes whatever masks a hostile model gives (NaN, negatives, > 1).
    rtsep_set_parameter(p, RTSEP_PARAM_STRENGTH, mode == 3 ? 2.5f : (mode == 0 ? 0.5f : 1.0f));
    for (int b = 0; b < 2; ++b) {
      for (float& v : in) {
        state = state * 1664525u + 1013904223u;
        v = static_cast<float>(static_cast<std::int32_t>(state)) * (1.0f / 2147483648.0f);
      }
      if (b == 1) {
        in[3] = NAN;
        in[block + 5] = INFINITY;
      }
      if (rtsep_process(p, in_ptr, voc_ptr, ins_ptr, block) != RTSEP_OK) std::abort();
      for (uint32_t c = 0; c < n_channels; ++c) {
        for (uint32_t i = 0; i < block; ++i) {
          if (!std::isfinite(voc_ptr[c][i]) || !std::isfinite(ins_ptr[c][i])) std::abort();
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtsep_status status = RTSEP_OK;
  rtsep_processor* p = rtsep_create_from_memory(data, size, &status);
  if (p == nullptr) {
    // A bad file is a model error with a reason, never "internal" (out of memory).
    if (status != RTSEP_ERR_MODEL || rtsep_last_error(nullptr)[0] == '\0') std::abort();
    return 0;
  }
  run_blocks(p, 48000.0, 2, 256);
  run_blocks(p, 44100.0, 1, 97);
  rtsep_destroy(p);
  return 0;
}
