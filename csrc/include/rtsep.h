/* rtsep.h: the C ABI of rtsep, real-time singing-voice separation.
 *
 * One engine behind every face of rtsep: the streaming STFT, the model's step
 * and the streaming inverse STFT run in C++ (no Python, no ONNX Runtime); the
 * model is a native model file (.rtsepw) written by
 * `rtsep export CHECKPOINT --format native -o model.rtsepw`.
 *
 * Audio is planar float32: one pointer per channel, n_frames samples each.
 * Outputs are the input delayed by exactly rtsep_latency_samples() samples,
 * whatever the block sizes (1 sample or max_block_size, varying freely).
 *
 * Outputs, by RTSEP_PARAM_MODE (gains are RTSEP_PARAM_*_GAIN_DB):
 *   RTSEP_MODE_BOTH          vocals_out = g_v * vocals, instrumental_out = g_i * instrumental
 *   RTSEP_MODE_MIX           both outputs = g_v * vocals + g_i * instrumental
 *   RTSEP_MODE_VOCALS        both outputs = g_v * vocals
 *   RTSEP_MODE_INSTRUMENTAL  both outputs = g_i * instrumental
 * vocals + instrumental equals the delayed input. Bypass cross-fades both
 * outputs to the dry input delayed by the same latency (the latency never
 * changes). Every parameter change is ramped (20 ms), so none clicks.
 *
 * Threads: rtsep_process, rtsep_reset and rtsep_prepare are called from one
 * thread at a time (the audio thread; prepare off it). rtsep_process does not
 * allocate, lock, block or log. rtsep_set_parameter / rtsep_get_parameter are
 * safe from any thread at any time (atomics; applied at the next block).
 * rtsep_create, rtsep_prepare and rtsep_destroy allocate and read files: call
 * them off the audio thread.
 */
#ifndef RTSEP_H
#define RTSEP_H

#include <stdint.h>
#include <stddef.h>

#if defined(_WIN32)
#define RTSEP_API __declspec(dllexport)
#elif defined(__GNUC__)
#define RTSEP_API __attribute__((visibility("default")))
#else
#define RTSEP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Incremented when a function's meaning or signature changes. */
#define RTSEP_ABI_VERSION 1

/** Opaque processor handle. */
typedef struct rtsep_processor rtsep_processor;
/** Opaque model handle (the bare model step, for hosts with their own STFT). */
typedef struct rtsep_model rtsep_model;

typedef enum rtsep_status {
  RTSEP_OK = 0,
  RTSEP_ERR_ARGUMENT = 1, /* a bad argument (NULL pointer, block too long, unknown parameter) */
  RTSEP_ERR_STATE = 2,    /* called in the wrong state (process before prepare) */
  RTSEP_ERR_MODEL = 3,    /* model file missing, corrupt or not supported */
  RTSEP_ERR_UNSUPPORTED = 4, /* sample rate or channel count the model cannot run */
  RTSEP_ERR_INTERNAL = 5  /* out of memory or another unexpected failure */
} rtsep_status;

typedef enum rtsep_param {
  RTSEP_PARAM_VOCALS_GAIN_DB = 0,       /* dB, default 0; <= -120 is silence; max +24 */
  RTSEP_PARAM_INSTRUMENTAL_GAIN_DB = 1, /* dB, default 0; <= -120 is silence; max +24 */
  RTSEP_PARAM_MODE = 2,                 /* an rtsep_mode value, default RTSEP_MODE_BOTH */
  RTSEP_PARAM_BYPASS = 3,               /* 0 or 1, default 0 */
  RTSEP_PARAM_LATENCY_MODE = 4,         /* 0 default, 1 low; takes effect at the next prepare */
  RTSEP_PARAM_KEY_SEMITONES = 5,        /* instrumental key change, semitones in [-12, 12]
                                           (fractional: cents), default 0 (off); no latency */
  RTSEP_PARAM_VOCALS_KEY_SEMITONES = 6, /* vocals key change (formants kept), as above */
  RTSEP_PARAM_STRENGTH = 7              /* separation strength in [0.25, 4], default 1: each
                                           mask value m becomes m^(1/strength); above 1 less
                                           voice stays in the instrumental (and more of it
                                           goes into the vocals); from the next hop */
} rtsep_param;

typedef enum rtsep_mode {
  RTSEP_MODE_BOTH = 0,
  RTSEP_MODE_MIX = 1,
  RTSEP_MODE_VOCALS = 2,
  RTSEP_MODE_INSTRUMENTAL = 3
} rtsep_mode;

/** The library version, e.g. "0.1.0". */
RTSEP_API const char* rtsep_version(void);

/** A static description of a status code. */
RTSEP_API const char* rtsep_status_string(rtsep_status status);

/** The message of the last failure: of the last failed call on `handle`, or,
 *  with handle NULL, of the calling thread's last failed rtsep_create /
 *  rtsep_model_open. "" if none. Valid until the next call that can fail. */
RTSEP_API const char* rtsep_last_error(const rtsep_processor* handle);

/** Load a native model file (.rtsepw). Returns NULL on failure, with *status (if status is not NULL) set
 *  and the message in rtsep_last_error(NULL). */
RTSEP_API rtsep_processor* rtsep_create(const char* model_path, rtsep_status* status);

/** rtsep_create from the n_bytes of a whole .rtsepw file in memory (a model
 *  embedded in a plugin binary or read by the host); the bytes are copied. A
 *  corrupt or hostile file fails with RTSEP_ERR_MODEL, and nothing sized by the
 *  file's numbers is allocated before they are checked against its tensors. */
RTSEP_API rtsep_processor* rtsep_create_from_memory(const void* data, size_t n_bytes,
                                                    rtsep_status* status);

/** Configure for a stream: sample rate (one the model lists, e.g. 44100 or
 *  48000), the largest block rtsep_process will get, and 1 or 2 channels (mono
 *  is separated as centred stereo and averaged back). Resets the stream.
 *  Allocates: not on the audio thread. */
RTSEP_API rtsep_status rtsep_prepare(rtsep_processor* handle, double sample_rate_hz,
                                     uint32_t max_block_size, uint32_t n_channels);

/** Process one block of n_frames <= max_block_size samples. in, vocals_out and
 *  instrumental_out hold n_channels pointers each; outputs may alias the inputs.
 *  On failure the outputs are filled with silence (when the pointers are usable). */
RTSEP_API rtsep_status rtsep_process(rtsep_processor* handle, const float* const* in,
                                     float* const* vocals_out, float* const* instrumental_out,
                                     uint32_t n_frames);

/** Back to the start of a stream (silence in the delay lines, model state
 *  zeroed, parameter ramps jumped to their targets). Does not allocate. */
RTSEP_API rtsep_status rtsep_reset(rtsep_processor* handle);

/** Input-to-output delay in samples, for any block size: of the prepared
 *  stream, or, before the first rtsep_prepare, of the latency mode it would use. */
RTSEP_API int32_t rtsep_latency_samples(const rtsep_processor* handle);

/** Set a parameter (any thread). RTSEP_ERR_ARGUMENT for an unknown parameter
 *  or a value out of range (the value is then ignored). */
RTSEP_API rtsep_status rtsep_set_parameter(rtsep_processor* handle, rtsep_param param, float value);

/** A parameter's current value (any thread); NaN for an unknown parameter. */
RTSEP_API float rtsep_get_parameter(const rtsep_processor* handle, rtsep_param param);

/** The model's JSON metadata (sample rates, geometry, latencies, training
 *  notes, checksum), as stored in the file. Owned by the handle. */
RTSEP_API const char* rtsep_model_metadata_json(const rtsep_processor* handle);

/** STFT frames run through the model so far, and non-finite input samples
 *  replaced by 0 so far (both since the last prepare/reset). */
RTSEP_API uint64_t rtsep_frames_processed(const rtsep_processor* handle);
RTSEP_API uint64_t rtsep_nonfinite_replaced(const rtsep_processor* handle);

/** Free everything. NULL is a no-op. */
RTSEP_API void rtsep_destroy(rtsep_processor* handle);

/* ---- the bare model step ------------------------------------------------- */

/** Load a native model file; NULL on failure (see rtsep_create). */
RTSEP_API rtsep_model* rtsep_model_open(const char* model_path, rtsep_status* status);
/** Bins per channel of a frame (n_fft / 2 + 1). */
RTSEP_API uint32_t rtsep_model_n_bins(const rtsep_model* model);
/** One stereo STFT frame, float32 (2, n_bins, 2) (re/im pairs: the float view of
 *  complex64 (2, n_bins)), to the vocal mask float32 (2, n_bins) in [0, 1].
 *  Does not allocate. */
RTSEP_API rtsep_status rtsep_model_step(rtsep_model* model, const float* frame, float* mask);
/** Zero the model state. */
RTSEP_API void rtsep_model_reset(rtsep_model* model);
RTSEP_API void rtsep_model_close(rtsep_model* model);

#ifdef __cplusplus
}
#endif

#endif /* RTSEP_H */
