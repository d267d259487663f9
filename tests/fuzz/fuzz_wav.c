/* libFuzzer target: the WAV reader of the C example (tests/c/separate_wav.c), whose
 * parse_wav() is compiled in here unchanged (its main renamed, its messages muted).
 * A file it accepts must describe 1 or 2 channels and hold exactly the frames it
 * says, every sample read from inside the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define main separate_wav_main
#define fprintf(...) 0
#include "../c/separate_wav.c"
#undef fprintf
#undef main

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Audio a = {0, 0, 0, NULL};
  if (parse_wav(data, (long)size, "<fuzz input>", &a) == 0) {
    if (a.n_channels != 1 && a.n_channels != 2) abort();
    if ((uint64_t)a.n_frames * a.n_channels * 2 > size) abort();
    volatile float sum = 0.0f;
    for (size_t i = 0; i < (size_t)a.n_frames * a.n_channels; ++i) sum += a.planar[i];
    free(a.planar);
  }
  return 0;
}
