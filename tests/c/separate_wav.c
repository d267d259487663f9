/* separate_wav: separate a WAV file through the rtsep C ABI (a test client).
 *
 * Usage: separate_wav MODEL.rtsepw IN.wav VOCALS.wav INSTRUMENTAL.wav [BLOCK [MODE]]
 *
 * Reads 16-bit PCM or 32-bit float WAV (mono or stereo), feeds it to
 * rtsep_process in blocks of BLOCK samples (default 512) followed by
 * latency_samples of silence, and writes the two outputs, time-aligned with the
 * input (the latency dropped), as 32-bit float WAV. MODE is an rtsep_mode value
 * (default 0, both). Prints "latency_samples N" and "frames_processed N".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtsep.h"

typedef struct {
  uint32_t rate_hz;
  uint32_t n_channels;
  uint32_t n_frames;
  float* planar; /* (n_channels, n_frames) */
} Audio;

static uint32_t le32(const unsigned char* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const unsigned char* p) { return (uint16_t)(p[0] | p[1] << 8); }

static int die(const char* what, const char* detail) {
  fprintf(stderr, "separate_wav: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 1;
}

/* Parse a whole WAV file of `size` bytes in memory (fuzzed: tests/fuzz/fuzz_wav.c).
 * On success returns 0 and a->planar is malloc'ed; `path` names the file in errors. */
static int parse_wav(const unsigned char* buf, long size, const char* path, Audio* a) {
  if (size < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4)) {
    return die("not a RIFF/WAVE file", path);
  }
  uint16_t format = 0, bits = 0;
  const unsigned char* data = NULL;
  uint32_t data_bytes = 0;
  for (long pos = 12; pos + 8 <= size;) {
    uint32_t n = le32(buf + pos + 4);
    const unsigned char* body = buf + pos + 8;
    if (pos + 8 + (long)n > size) n = (uint32_t)(size - pos - 8);
    if (!memcmp(buf + pos, "fmt ", 4) && n >= 16) {
      format = le16(body);
      a->n_channels = le16(body + 2);
      a->rate_hz = le32(body + 4);
      bits = le16(body + 14);
      if (format == 0xFFFE && n >= 26) format = le16(body + 24); /* extensible: sub-format */
    } else if (!memcmp(buf + pos, "data", 4)) {
      data = body;
      data_bytes = n;
    }
    pos += 8 + (long)n + (n & 1);
  }
  int ok = data && (a->n_channels == 1 || a->n_channels == 2) &&
           ((format == 1 && bits == 16) || (format == 3 && bits == 32));
  if (!ok) return die("need a mono/stereo 16-bit PCM or 32-bit float WAV", path);
  a->n_frames = data_bytes / (bits / 8) / a->n_channels;
  a->planar = malloc(sizeof(float) * a->n_channels * (a->n_frames ? a->n_frames : 1));
  if (!a->planar) return die("out of memory reading", path);
  for (uint32_t i = 0; i < a->n_frames; ++i) {
    for (uint32_t c = 0; c < a->n_channels; ++c) {
      const unsigned char* s = data + ((size_t)i * a->n_channels + c) * (bits / 8);
      float v;
      if (format == 3) {
        uint32_t u = le32(s);
        memcpy(&v, &u, 4);
      } else {
        v = (float)(int16_t)le16(s) / 32768.0f;
      }
      a->planar[(size_t)c * a->n_frames + i] = v;
    }
  }
  return 0;
}

/* Returns 0 on success. */
static int read_wav(const char* path, Audio* a) {
  FILE* f = fopen(path, "rb");
  if (!f) return die("cannot open", path);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* buf = size >= 0 ? malloc(size ? (size_t)size : 1) : NULL;
  if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
    fclose(f);
    free(buf);
    return die("cannot read", path);
  }
  fclose(f);
  int status = parse_wav(buf, size, path, a);
  free(buf);
  return status;
}

static void put32(FILE* f, uint32_t v) {
  unsigned char b[4] = {v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24};
  fwrite(b, 1, 4, f);
}
static void put16(FILE* f, uint16_t v) {
  unsigned char b[2] = {v & 0xFF, v >> 8};
  fwrite(b, 1, 2, f);
}

/* 32-bit float WAV from planar (n_channels, n_frames) rows starting at `first`. */
static int write_wav(const char* path, const Audio* a, const float* planar, uint32_t stride,
                     uint32_t first) {
  FILE* f = fopen(path, "wb");
  if (!f) return die("cannot write", path);
  const uint32_t data_bytes = a->n_frames * a->n_channels * 4;
  fwrite("RIFF", 1, 4, f);
  put32(f, 4 + 26 + 12 + 8 + data_bytes);
  fwrite("WAVEfmt ", 1, 8, f);
  put32(f, 18);
  put16(f, 3); /* IEEE float */
  put16(f, (uint16_t)a->n_channels);
  put32(f, a->rate_hz);
  put32(f, a->rate_hz * a->n_channels * 4);
  put16(f, (uint16_t)(a->n_channels * 4));
  put16(f, 32);
  put16(f, 0);
  fwrite("fact", 1, 4, f);
  put32(f, 4);
  put32(f, a->n_frames);
  fwrite("data", 1, 4, f);
  put32(f, data_bytes);
  for (uint32_t i = 0; i < a->n_frames; ++i) {
    for (uint32_t c = 0; c < a->n_channels; ++c) {
      uint32_t u;
      memcpy(&u, planar + (size_t)c * stride + first + i, 4);
      put32(f, u);
    }
  }
  return fclose(f) == 0 ? 0 : die("cannot write", path);
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s MODEL IN.wav VOCALS.wav INSTRUMENTAL.wav [BLOCK [MODE]]\n", argv[0]);
    return 2;
  }
  uint32_t block = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 512;
  if (block == 0) block = 1;
  const float mode = argc > 6 ? (float)atof(argv[6]) : 0.0f;
  Audio in = {0};
  if (read_wav(argv[2], &in)) return 1;

  rtsep_status status;
  rtsep_processor* p = rtsep_create(argv[1], &status);
  if (!p) return die(rtsep_status_string(status), rtsep_last_error(NULL));
  if (rtsep_set_parameter(p, RTSEP_PARAM_MODE, mode) != RTSEP_OK) return die("bad MODE", argv[6]);
  status = rtsep_prepare(p, in.rate_hz, block, in.n_channels);
  if (status != RTSEP_OK) return die(rtsep_status_string(status), rtsep_last_error(p));

  const uint32_t latency = (uint32_t)rtsep_latency_samples(p);
  const uint32_t total = in.n_frames + latency;
  float* padded = calloc((size_t)in.n_channels * total, sizeof(float));
  float* vocals = calloc((size_t)in.n_channels * total, sizeof(float));
  float* instrumental = calloc((size_t)in.n_channels * total, sizeof(float));
  for (uint32_t c = 0; c < in.n_channels; ++c) {
    memcpy(padded + (size_t)c * total, in.planar + (size_t)c * in.n_frames, in.n_frames * sizeof(float));
  }
  for (uint32_t start = 0; start < total; start += block) {
    const uint32_t n = total - start < block ? total - start : block;
    const float* ins[2];
    float* vs[2];
    float* is[2];
    for (uint32_t c = 0; c < in.n_channels; ++c) {
      ins[c] = padded + (size_t)c * total + start;
      vs[c] = vocals + (size_t)c * total + start;
      is[c] = instrumental + (size_t)c * total + start;
    }
    status = rtsep_process(p, ins, vs, is, n);
    if (status != RTSEP_OK) return die(rtsep_status_string(status), rtsep_last_error(p));
  }
  printf("latency_samples %u\nframes_processed %llu\n", latency,
         (unsigned long long)rtsep_frames_processed(p));
  int rc = write_wav(argv[3], &in, vocals, total, latency) ||
           write_wav(argv[4], &in, instrumental, total, latency);
  rtsep_destroy(p);
  free(padded);
  free(vocals);
  free(instrumental);
  free(in.planar);
  return rc;
}
