// LiveBridge: the native side of live monitoring. The audio device callback
// (rtsep_live_callback, PortAudio's signature) lives here; the worker thread that
// runs the model talks to it through two lock-free rings.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <thread>

#include "block_processor.hpp"
#include "delay_line.hpp"
#include "platform.hpp"
#include "ring_buffer.hpp"

namespace rtsep {

/// What the device output carries: the block processor's Mode (the C ABI's order).
/// kVocals, kInstrumental and kMix route the processor's output A (one stereo pair);
/// kBoth routes A (vocals) then B (instrumental).
using LiveMode = Mode;

/// Configuration fixed at construction. Channel numbers are 0-based. The sample
/// rate and the engine latency are the processor's.
struct LiveConfig {
  /// Width of the interleaved device buffers the callback receives.
  std::size_t n_device_input_channels = 2;
  std::size_t n_device_output_channels = 2;
  /// Device input channel feeding each model channel: 1 entry (mono, fed to both
  /// model channels) or 2 entries (left, right).
  std::vector<int> input_channels{0, 1};
  /// Device output channel of each routed channel: n_routed entries (2, or 4 for
  /// kBoth: vocals L, R, instrumental L, R) or one per pair (mono downmix,
  /// 0.5 * (L + R)). Distinct; other device channels get silence.
  std::vector<int> output_channels{0, 1};
  LiveMode mode = LiveMode::kInstrumental;
  /// true: the callback runs the processor itself (a real-time-safe model, margin 0);
  /// false: a LiveWorker thread runs it between the rings.
  bool run_inline = false;
  /// Scheduling margin: the output ring starts with this many samples of silence
  /// (device block + safety). Must be >= fallback_ramp_samples; 0 when the
  /// callback runs the processor inline.
  std::size_t margin_samples = 256;
  /// Length of the cross-fade between the worker's output and the fallback.
  std::size_t fallback_ramp_samples = 48;
  /// The callback works in chunks of at most this many frames (any device block
  /// size is accepted).
  std::size_t max_chunk_frames = 1024;
  /// Capacity of the input ring (worker backlog before input is dropped).
  std::size_t input_ring_frames = 48000 * 4;
  /// Capacity of the record ring (routed channels); 0 = no recording.
  std::size_t record_ring_frames = 0;
};

/// Counters, all cumulative since construction or reset().
struct LiveStats {
  std::uint64_t n_callbacks = 0;
  std::uint64_t n_frames = 0;              // device frames processed
  std::uint64_t n_missed_blocks = 0;       // callbacks with any sample not from the worker
  std::uint64_t n_miss_events = 0;         // switches from processed to fallback
  std::uint64_t n_fallback_frames = 0;     // frames the worker did not deliver in time
  std::uint64_t n_skipped_frames = 0;      // late worker frames discarded to keep the delay
  std::uint64_t n_xrun_callbacks = 0;      // callbacks with any PortAudio xrun flag
  std::uint64_t n_input_underflow = 0;     // paInputUnderflow
  std::uint64_t n_input_overflow = 0;      // paInputOverflow
  std::uint64_t n_output_underflow = 0;    // paOutputUnderflow
  std::uint64_t n_output_overflow = 0;     // paOutputOverflow
  std::uint64_t n_input_dropped_frames = 0;  // input ring full (worker stalled for long)
  std::uint64_t n_record_dropped_frames = 0; // record ring full (writer late)
  std::uint64_t n_nonfinite_input = 0;     // NaN/Inf input samples replaced by 0
};

/// Timing of the live path, for finding out why a miss happened. All times in
/// nanoseconds on the steady clock.
///
/// * callback gaps: time between the starts of consecutive callbacks. A gap far
///   above the block period, or a run of near-zero gaps (a burst), means the host
///   (driver or audio server) was late, not the worker.
/// * response: for every callback, the time from the callback pushing its input
///   to the worker pushing the last output frame derived from that input. A miss
///   happens when this exceeds what the margin allows.
/// * misses: the first kMaxMissRecords miss events (switches to the fallback),
///   with the callback gap just before and the worker output that was waiting.
struct LiveTiming {
  static constexpr std::size_t kHistogramBins = 128;
  static constexpr double kHistogramBinMs = 0.25;  // bin i: [i, i + 1) * 0.25 ms; last: above
  static constexpr std::size_t kMaxMissRecords = 256;

  struct Miss {
    std::uint64_t callback = 0;       // callback index (0-based)
    std::int64_t t_ns = 0;            // since the first callback
    std::int64_t gap_ns = 0;          // since the previous callback
    std::uint64_t available = 0;      // worker frames waiting when it happened
    std::uint64_t n_frames = 0;       // frames the callback asked for
  };

  std::uint64_t n_callbacks = 0;
  std::int64_t max_callback_gap_ns = 0;
  std::uint64_t n_responses = 0;
  std::int64_t max_response_ns = 0;
  std::uint64_t n_response_dropped = 0;  // timestamp queue full (worker stalled long)
  std::uint64_t callback_gap_histogram[kHistogramBins] = {};
  std::uint64_t response_histogram[kHistogramBins] = {};
  std::size_t n_misses_recorded = 0;
  Miss misses[kMaxMissRecords];
};

/// The device callback's state, the one BlockProcessor it serves and, in worker
/// mode, the worker's two rings. The processor's Parameters are the live controls
/// (gains, mutes, bypass, key); the processor applies them (mode, gains, bypass
/// ramps: BlockProcessor::kRampMs), so the bridge only moves audio and routes it.
/// The constructor sets the processor's mode to config.mode.
///
/// Data flow per callback chunk of n frames (interleaved float32 device buffers):
///  1. the selected input channels are copied (planar, 2 channels) into the
///     input ring for the worker and into the dry delay line (delay =
///     total_latency_samples());
///  2. n frames of the processor's outputs A, B (the worker's, from the output
///     ring) are taken and routed (A; A then B in kBoth);
///  3. worker mode: when the worker is late they are cross-faded with the
///     fallback (the dry input at unity gain: on the pair in kVocals,
///     kInstrumental and kMix; in kBoth on the instrumental pair, with silence on
///     the vocals pair, so the pairs still sum to the input); then written to the
///     selected device output channels (and into the record ring).
///
/// Fixed latency: the output ring starts with margin_samples() of silence and the
/// worker turns every input frame into exactly one output frame, so worker
/// output frame k always plays at device frame k + margin + engine latency. The
/// callback stays on the worker's output only while the ring holds at least
/// n + fallback_ramp frames; otherwise it fades to the fallback over the last
/// fallback_ramp frames it has, counts a miss, and from then on discards exactly
/// as many late worker frames as it played fallback frames before fading back in,
/// so the delay never changes. Worker output comes a device block at a time, so
/// the worker may finish a block 1 + (margin - n - fallback_ramp) / n blocks
/// (rounded down) after it came in without a miss. If the input ring is full
/// (the worker stalled for longer than input_ring_frames), the dropped input is
/// replaced by zeros as soon as there is room, which keeps the frame count and so
/// the delay.
///
/// Inline (config.run_inline, a real-time-safe model): the callback runs the
/// processor itself on each chunk instead of the rings and the worker: no margin,
/// so the device-to-device latency is the engine's; no fallback (a late callback
/// is an xrun the host reports, counted in LiveStats); the timing's "response" is
/// then each callback's own duration.
///
/// Threads: process() (the device callback) on the audio thread; pop_input(),
/// push_output() and wait_for_input() on one worker thread; pop_record() on one
/// recorder thread; the controls, stats() and take_*_peak() on any thread. The
/// audio side never allocates, locks, blocks or waits; to wake the worker it
/// posts a semaphore (at most one post pending).
class LiveBridge {
 public:
  /// Throws std::invalid_argument on an inconsistent configuration or processor
  /// (stereo; inline: max_block_samples >= max_chunk_frames, a real-time-safe
  /// model, margin 0).
  LiveBridge(const LiveConfig& config, std::shared_ptr<BlockProcessor> processor);
  ~LiveBridge();

  LiveBridge(const LiveBridge&) = delete;
  LiveBridge& operator=(const LiveBridge&) = delete;

  const LiveConfig& config() const noexcept { return config_; }
  std::size_t n_model_channels() const noexcept { return 2; }
  /// Routed output channels: 2, or 4 for kBoth.
  std::size_t n_routed_channels() const noexcept { return n_routed_; }
  double sample_rate_hz() const noexcept { return processor_->sample_rate_hz(); }
  std::size_t engine_latency_samples() const noexcept { return processor_->latency_samples(); }
  std::size_t margin_samples() const noexcept { return config_.margin_samples; }
  /// True if the callback runs the processor itself (no worker).
  bool is_inline() const noexcept { return config_.run_inline; }
  /// Device input to device output, in samples (engine latency + margin).
  std::size_t total_latency_samples() const noexcept {
    return engine_latency_samples() + config_.margin_samples;
  }
  /// The one processor: run by the callback (inline) or by a LiveWorker.
  const std::shared_ptr<BlockProcessor>& processor() const noexcept { return processor_; }
  /// The live controls (the processor's parameters); any thread.
  Parameters& parameters() noexcept { return processor_->parameters(); }

  // ---- audio thread ----------------------------------------------------------

  /// One device callback: in is interleaved (n_frames, n_device_input_channels)
  /// or null (silence), out is interleaved (n_frames, n_device_output_channels).
  /// status_flags: PortAudio's PaStreamCallbackFlags. Never allocates or blocks.
  void process(const float* in, float* out, std::size_t n_frames,
               unsigned long status_flags) noexcept;

  // ---- worker thread ---------------------------------------------------------

  /// Pop up to max_frames input frames into planar (2, >= max_frames) audio with
  /// the given channel stride (floats). Returns the frames moved (0 if none).
  std::size_t pop_input(float* out, std::ptrdiff_t channel_stride, std::size_t max_frames) noexcept;
  /// Input frames waiting for the worker.
  std::size_t input_available() const noexcept { return input_ring_.available_read(); }
  /// Push worker output: the processor's outputs A and B, planar (2, n_frames) each.
  /// Returns the frames moved (the rest did not fit; push it later).
  std::size_t push_output(const float* out_a, std::ptrdiff_t a_stride, const float* out_b,
                          std::ptrdiff_t b_stride, std::size_t n_frames) noexcept;
  std::size_t output_space() const noexcept { return output_ring_.available_write(); }
  /// Block until the callback has pushed input or timeout_s passed (the worker's
  /// only wait). Returns true if woken by input.
  bool wait_for_input(double timeout_s) noexcept;
  /// Wake a waiting worker (used to stop it).
  void wake_worker() noexcept;
  /// The CPU the last callback ran on (Linux), or -1 (unknown / none yet).
  int callback_cpu() const noexcept { return callback_cpu_.load(std::memory_order_relaxed); }
  /// The kernel thread id of the thread running the callbacks (Linux), or -1.
  int callback_tid() const noexcept { return callback_tid_.load(std::memory_order_relaxed); }

  // ---- recorder thread -------------------------------------------------------

  /// Pop up to max_frames of the routed output, planar (n_routed, >= max_frames).
  std::size_t pop_record(float* out, std::ptrdiff_t channel_stride, std::size_t max_frames) noexcept;
  std::size_t record_available() const noexcept {
    return record_ring_ ? record_ring_->available_read() : 0;
  }

  // ---- monitoring (any thread) -------------------------------------------------

  LiveStats stats() const noexcept;
  /// Callback gaps, worker response times and the first misses (LiveTiming).
  /// Counters are read without stopping the stream, so they may be a callback
  /// apart from each other; read after the stream stopped for exact ones.
  void timing(LiveTiming* out) const noexcept;
  /// Peak |sample| of the selected input (output) since the last call; resets it.
  float take_input_peak() noexcept { return input_peak_.exchange(0.0f, std::memory_order_relaxed); }
  float take_output_peak() noexcept { return output_peak_.exchange(0.0f, std::memory_order_relaxed); }
  /// True while the output plays the worker's output (not the fallback).
  bool on_worker_output() const noexcept { return !fallback_state_.load(std::memory_order_relaxed); }

  /// Back to the constructed state (rings re-primed, counters cleared, the processor
  /// reset: its controls jump to their targets). Only while no callback, worker or
  /// recorder call is running.
  void reset() noexcept;

 private:
  void process_chunk(const float* in, float* out, std::size_t n) noexcept;
  // Worker mode: move input to the worker, decide which frames of this chunk come
  // from it (n_proc, fade_start) and pop them into sources_.
  void take_worker_output(std::size_t n, std::size_t& n_proc, std::size_t& fade_start) noexcept;
  // Worker mode: the cross-fade with the fallback over the routed rows.
  void fade_to_fallback(std::size_t n, std::size_t n_proc, std::size_t fade_start) noexcept;
  // Routed rows -> device output (interleaved) and the record ring.
  void route(float* out, std::size_t n) noexcept;
  void discard_output(std::size_t n) noexcept;
  bool missed_in_callback_ = false;

  struct Counter {  // written by one thread, read by any
    std::atomic<std::uint64_t> value{0};
    void add(std::uint64_t n) noexcept {
      value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
    void clear() noexcept { value.store(0, std::memory_order_relaxed); }
  };

  LiveConfig config_;
  std::shared_ptr<BlockProcessor> processor_;
  std::size_t n_routed_;
  std::size_t max_chunk_;
  RingBuffer input_ring_;    // 2 channels, callback -> worker
  RingBuffer output_ring_;   // 4 channels (A L, R, B L, R), worker -> callback
  std::unique_ptr<RingBuffer> record_ring_;  // n_routed channels, callback -> recorder; null = off
  DelayLine dry_delay_;      // 2 channels, total latency (the worker's fallback)

  // Scratch, (rows, max_chunk) planar, allocated in the constructor.
  std::vector<float> in_;       // 2 rows: selected input
  std::vector<float> dry_;      // 2 rows: delayed input
  std::vector<float> outputs_;  // 4 rows: A L, R, B L, R (the routed rows come first)
  std::vector<float> wet_gain_; // 1 row: per-sample weight of the worker's output
  float* rows_[4];              // into outputs_

  // Audio-thread state.
  std::uint64_t skip_frames_ = 0;      // late worker frames still to discard
  std::uint64_t input_debt_frames_ = 0;  // dropped input still to replace by zeros
  float avail_gain_ = 1.0f;            // 1 = worker output, 0 = fallback
  std::atomic<bool> fallback_state_{false};
  std::atomic<float> input_peak_{0.0f};
  std::atomic<float> output_peak_{0.0f};

  Counter n_callbacks_, n_frames_, n_missed_blocks_, n_miss_events_, n_fallback_frames_,
      n_skipped_frames_, n_xrun_callbacks_, n_input_underflow_, n_input_overflow_,
      n_output_underflow_, n_output_overflow_, n_input_dropped_frames_,
      n_record_dropped_frames_, n_nonfinite_input_;

  // Timing (see LiveTiming). Audio thread writes the callback side and the
  // timestamp queue's head; the worker writes the response side and its tail.
  static constexpr std::size_t kStampSlots = 4096;  // power of two
  struct Stamp {
    std::uint64_t input_end = 0;  // input frames pushed up to and including this callback
    std::int64_t t_ns = 0;
  };
  static std::int64_t now_ns() noexcept;
  void note_response(std::size_t n_out) noexcept;
  std::vector<Stamp> stamps_;
  std::atomic<std::uint64_t> stamp_head_{0};  // written by the audio thread
  std::atomic<std::uint64_t> stamp_tail_{0};  // written by the worker
  std::uint64_t input_frames_total_ = 0;      // audio thread
  std::uint64_t output_frames_total_ = 0;     // worker
  std::int64_t first_callback_ns_ = -1;       // audio thread
  std::int64_t last_callback_ns_ = 0;         // audio thread
  std::int64_t current_gap_ns_ = 0;           // audio thread
  std::atomic<std::int64_t> max_callback_gap_ns_{0};
  std::atomic<int> callback_cpu_{-1};        // written by the audio thread
  std::atomic<int> callback_tid_{-1};        // written by the audio thread
  std::thread::id callback_thread_{};        // audio thread; none yet: a default id
  std::atomic<std::int64_t> max_response_ns_{0};
  Counter n_responses_, n_response_dropped_;
  std::vector<Counter> gap_histogram_;       // LiveTiming::kHistogramBins
  std::vector<Counter> response_histogram_;  // LiveTiming::kHistogramBins
  std::vector<LiveTiming::Miss> miss_records_;
  std::atomic<std::size_t> n_miss_records_{0};

  platform::WakeSignal wake_;
};

/// Test instrument: a native play-and-record device callback (the JACK tests'
/// harness, so their timing does not depend on a Python thread getting the GIL
/// in time). After arm(), the next callback starts playing `play` (planar
/// (n_play_channels, n_play_frames), silence after it) and recording its input
/// into (n_record_channels, n_record_frames); frame i of the recording was
/// captured in the same callback frame as play frame i went out. Callbacks that
/// carry PortAudio xrun flags are remembered by recording position (first
/// kMaxXruns), so a test can leave those spots out. Allocates only in the
/// constructor.
class PlayRecord {
 public:
  static constexpr std::size_t kMaxXruns = 4096;

  PlayRecord(std::size_t n_device_input_channels, std::size_t n_device_output_channels,
             const float* play, std::size_t n_play_channels, std::size_t n_play_frames,
             std::size_t n_record_channels, std::size_t n_record_frames);

  void process(const float* in, float* out, std::size_t n_frames, unsigned long status_flags) noexcept;

  /// Start playing and recording at the next callback (any thread).
  void arm() noexcept { armed_.store(true, std::memory_order_release); }
  /// Frames recorded so far (any thread).
  std::size_t n_recorded() const noexcept { return n_recorded_.load(std::memory_order_acquire); }
  bool done() const noexcept { return n_recorded() >= n_record_frames_; }
  std::uint64_t n_callbacks() const noexcept { return n_callbacks_.load(std::memory_order_relaxed); }
  /// Recording positions of the callbacks with xrun flags (read after done()).
  std::vector<std::size_t> xrun_positions() const;
  const float* recording() const noexcept { return record_.data(); }
  std::size_t n_record_channels() const noexcept { return n_record_channels_; }
  std::size_t n_record_frames() const noexcept { return n_record_frames_; }

 private:
  std::size_t n_in_, n_out_;
  std::size_t n_play_channels_, n_play_frames_;
  std::size_t n_record_channels_, n_record_frames_;
  std::vector<float> play_;    // (n_play_channels, n_play_frames)
  std::vector<float> record_;  // (n_record_channels, n_record_frames)
  std::vector<std::size_t> xruns_;  // kMaxXruns slots
  std::atomic<std::size_t> n_xruns_{0};
  std::atomic<bool> armed_{false};
  bool running_ = false;
  std::size_t position_ = 0;
  std::atomic<std::size_t> n_recorded_{0};
  std::atomic<std::uint64_t> n_callbacks_{0};
};

}  // namespace rtsep

extern "C" {
/// PortAudio stream callback (PaStreamCallback): user_data is a LiveBridge*.
/// Float32 interleaved buffers. Always returns 0 (paContinue).
int rtsep_live_callback(const void* input, void* output, unsigned long frame_count,
                        const void* time_info, unsigned long status_flags, void* user_data);
/// PortAudio stream callback for PlayRecord (user_data is a PlayRecord*).
int rtsep_play_record_callback(const void* input, void* output, unsigned long frame_count,
                               const void* time_info, unsigned long status_flags, void* user_data);
}
