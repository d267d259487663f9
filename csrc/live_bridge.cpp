#include "live_bridge.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>

namespace rtsep {

namespace {

// PortAudio's PaStreamCallbackFlags bits.
constexpr unsigned long kInputUnderflow = 0x1;
constexpr unsigned long kInputOverflow = 0x2;
constexpr unsigned long kOutputUnderflow = 0x4;
constexpr unsigned long kOutputOverflow = 0x8;
constexpr unsigned long kXrunMask = kInputUnderflow | kInputOverflow | kOutputUnderflow | kOutputOverflow;

std::size_t routed_channels_of(LiveMode mode) { return mode == LiveMode::kBoth ? 4 : 2; }

const LiveConfig& checked(const LiveConfig& c, BlockProcessor* p) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("LiveBridge: " + what); };
  if (p == nullptr) fail("no processor");
  if (p->n_channels() != 2) fail("the processor must be stereo");
  if (c.n_device_input_channels == 0) fail("n_device_input_channels must be >= 1");
  if (c.n_device_output_channels == 0) fail("n_device_output_channels must be >= 1");
  const int mode = static_cast<int>(c.mode);
  if (mode < 0 || mode > 3) fail("unknown mode");
  if (c.input_channels.empty() || c.input_channels.size() > 2) {
    fail("input_channels needs 1 (mono) or 2 (stereo) entries");
  }
  for (int ch : c.input_channels) {
    if (ch < 0 || static_cast<std::size_t>(ch) >= c.n_device_input_channels) {
      fail("input channel " + std::to_string(ch + 1) + " does not exist (the input has " +
           std::to_string(c.n_device_input_channels) + ")");
    }
  }
  const std::size_t n_routed = routed_channels_of(c.mode);
  if (c.output_channels.size() != n_routed && c.output_channels.size() != n_routed / 2) {
    fail("output_channels needs " + std::to_string(n_routed) + " entries (or " +
         std::to_string(n_routed / 2) + " for a mono downmix), got " +
         std::to_string(c.output_channels.size()));
  }
  for (std::size_t i = 0; i < c.output_channels.size(); ++i) {
    const int ch = c.output_channels[i];
    if (ch < 0 || static_cast<std::size_t>(ch) >= c.n_device_output_channels) {
      fail("output channel " + std::to_string(ch + 1) + " does not exist (the output has " +
           std::to_string(c.n_device_output_channels) + ")");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (c.output_channels[j] == ch) fail("output channel " + std::to_string(ch + 1) + " used twice");
    }
  }
  if (c.fallback_ramp_samples == 0) fail("fallback_ramp_samples must be >= 1");
  if (!c.run_inline && c.margin_samples < c.fallback_ramp_samples) {
    fail("margin_samples must be >= fallback_ramp_samples");
  }
  if (c.run_inline) {
    if (c.margin_samples != 0) fail("inline processing has no margin (margin_samples must be 0)");
    if (p->max_block_samples() < c.max_chunk_frames) {
      fail("the inline processor's max_block_samples is below max_chunk_frames");
    }
    if (!p->model().realtime_safe()) {
      fail("this model cannot run in the audio callback (only the native model can); use a worker");
    }
  }
  if (c.max_chunk_frames == 0) fail("max_chunk_frames must be >= 1");
  if (c.input_ring_frames < c.max_chunk_frames) fail("input_ring_frames must be >= max_chunk_frames");
  return c;
}

inline void raise_peak(std::atomic<float>& peak, float value) noexcept {
  // Single writer (the audio thread); a reader's exchange(0) may be overwritten
  // by a stale maximum, which only shows one peak twice.
  if (value > peak.load(std::memory_order_relaxed)) peak.store(value, std::memory_order_relaxed);
}

}  // namespace

LiveBridge::LiveBridge(const LiveConfig& config, std::shared_ptr<BlockProcessor> processor)
    : config_(checked(config, processor.get())),
      processor_(std::move(processor)),
      n_routed_(routed_channels_of(config.mode)),
      max_chunk_(config.max_chunk_frames),
      input_ring_(2, config.input_ring_frames),
      output_ring_(4, config.input_ring_frames + config.margin_samples + 2 * config.max_chunk_frames),
      record_ring_(config.record_ring_frames > 0
                       ? std::make_unique<RingBuffer>(routed_channels_of(config.mode),
                                                      config.record_ring_frames)
                       : nullptr),
      dry_delay_(2, processor_->latency_samples() + config.margin_samples),
      in_(2 * config.max_chunk_frames, 0.0f),
      dry_(2 * config.max_chunk_frames, 0.0f),
      outputs_(4 * config.max_chunk_frames, 0.0f),
      wet_gain_(config.max_chunk_frames, 0.0f),
      stamps_(kStampSlots),
      gap_histogram_(LiveTiming::kHistogramBins),
      response_histogram_(LiveTiming::kHistogramBins),
      miss_records_(LiveTiming::kMaxMissRecords) {
  for (std::size_t r = 0; r < 4; ++r) rows_[r] = outputs_.data() + r * max_chunk_;
  processor_->parameters().set_mode(static_cast<int>(config_.mode));
  reset();
}

LiveBridge::~LiveBridge() = default;

void LiveBridge::reset() noexcept {
  input_ring_.reset();
  output_ring_.reset();
  output_ring_.push_silence(config_.margin_samples);
  if (record_ring_) record_ring_->reset();
  dry_delay_.reset();
  processor_->reset();  // the controls jump to their targets: the stream starts in them
  skip_frames_ = 0;
  input_debt_frames_ = 0;
  avail_gain_ = 1.0f;
  fallback_state_.store(false, std::memory_order_relaxed);
  input_peak_.store(0.0f, std::memory_order_relaxed);
  output_peak_.store(0.0f, std::memory_order_relaxed);
  for (Counter* c : {&n_callbacks_, &n_frames_, &n_missed_blocks_, &n_miss_events_,
                     &n_fallback_frames_, &n_skipped_frames_, &n_xrun_callbacks_,
                     &n_input_underflow_, &n_input_overflow_, &n_output_underflow_,
                     &n_output_overflow_, &n_input_dropped_frames_, &n_record_dropped_frames_,
                     &n_nonfinite_input_}) {
    c->clear();
  }
  stamp_head_.store(0, std::memory_order_relaxed);
  stamp_tail_.store(0, std::memory_order_relaxed);
  input_frames_total_ = 0;
  output_frames_total_ = 0;
  first_callback_ns_ = -1;
  callback_cpu_.store(-1, std::memory_order_relaxed);
  callback_tid_.store(-1, std::memory_order_relaxed);
  callback_thread_ = std::thread::id();
  last_callback_ns_ = 0;
  current_gap_ns_ = 0;
  max_callback_gap_ns_.store(0, std::memory_order_relaxed);
  max_response_ns_.store(0, std::memory_order_relaxed);
  n_responses_.clear();
  n_response_dropped_.clear();
  for (Counter& c : gap_histogram_) c.clear();
  for (Counter& c : response_histogram_) c.clear();
  n_miss_records_.store(0, std::memory_order_relaxed);
}

std::int64_t LiveBridge::now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {
std::size_t histogram_bin(std::int64_t ns) noexcept {
  const double bin = static_cast<double>(ns) * 1e-6 / LiveTiming::kHistogramBinMs;
  if (!(bin > 0.0)) return 0;
  return static_cast<std::size_t>(std::min(bin, static_cast<double>(LiveTiming::kHistogramBins - 1)));
}
}  // namespace

// ---- audio thread --------------------------------------------------------------

void LiveBridge::process(const float* in, float* out, std::size_t n_frames,
                         unsigned long status_flags) noexcept {
  const std::int64_t t = now_ns();
  if (first_callback_ns_ < 0) {
    first_callback_ns_ = t;
    current_gap_ns_ = 0;
  } else {
    current_gap_ns_ = t - last_callback_ns_;
    if (current_gap_ns_ > max_callback_gap_ns_.load(std::memory_order_relaxed)) {
      max_callback_gap_ns_.store(current_gap_ns_, std::memory_order_relaxed);
    }
    gap_histogram_[histogram_bin(current_gap_ns_)].add(1);
  }
  last_callback_ns_ = t;
  callback_cpu_.store(platform::current_cpu(), std::memory_order_relaxed);
  const std::thread::id self = std::this_thread::get_id();
  if (self != callback_thread_) {
    // Once per callback thread (normally once per stream).
    callback_thread_ = self;
    callback_tid_.store(platform::current_thread_id(), std::memory_order_relaxed);
  }
  n_callbacks_.add(1);
  if (status_flags & kXrunMask) n_xrun_callbacks_.add(1);
  if (status_flags & kInputUnderflow) n_input_underflow_.add(1);
  if (status_flags & kInputOverflow) n_input_overflow_.add(1);
  if (status_flags & kOutputUnderflow) n_output_underflow_.add(1);
  if (status_flags & kOutputOverflow) n_output_overflow_.add(1);
  missed_in_callback_ = false;
  const std::size_t n_in = config_.n_device_input_channels;
  const std::size_t n_out = config_.n_device_output_channels;
  for (std::size_t done = 0; done < n_frames;) {
    const std::size_t n = std::min(max_chunk_, n_frames - done);
    process_chunk(in ? in + done * n_in : nullptr, out + done * n_out, n);
    done += n;
  }
  n_frames_.add(n_frames);
  if (missed_in_callback_) n_missed_blocks_.add(1);
  if (config_.run_inline) {  // the response is this callback's own duration
    const std::int64_t r = now_ns() - t;
    if (r > max_response_ns_.load(std::memory_order_relaxed)) {
      max_response_ns_.store(r, std::memory_order_relaxed);
    }
    response_histogram_[histogram_bin(r)].add(1);
    n_responses_.add(1);
    return;
  }
  // Timestamp this callback's input for the worker's response time.
  input_frames_total_ += n_frames;
  const std::uint64_t head = stamp_head_.load(std::memory_order_relaxed);
  if (head - stamp_tail_.load(std::memory_order_acquire) < kStampSlots) {
    stamps_[head & (kStampSlots - 1)] = Stamp{input_frames_total_, t};
    stamp_head_.store(head + 1, std::memory_order_release);
  } else {
    n_response_dropped_.add(1);
  }
  wake_worker();
}

void LiveBridge::discard_output(std::size_t n) noexcept {
  while (n > 0) {
    const std::size_t m = std::min(n, max_chunk_);
    output_ring_.pop_planar(rows_, m);
    n -= m;
  }
}

void LiveBridge::process_chunk(const float* in, float* out, std::size_t n) noexcept {
  const std::size_t S = max_chunk_;
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(S);

  // 1. Selected input -> input ring (for the worker) and dry delay line.
  float* in_l = in_.data();
  float* in_r = in_.data() + S;
  float peak_in = 0.0f;
  if (in != nullptr) {
    const std::size_t n_in = config_.n_device_input_channels;
    const std::size_t ch_l = static_cast<std::size_t>(config_.input_channels[0]);
    const std::size_t ch_r = static_cast<std::size_t>(config_.input_channels.back());
    std::uint64_t n_bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
      float l = in[i * n_in + ch_l];
      float r = in[i * n_in + ch_r];
      if (!std::isfinite(l)) { l = 0.0f; ++n_bad; }
      if (!std::isfinite(r)) { r = 0.0f; ++n_bad; }
      in_l[i] = l;
      in_r[i] = r;
      peak_in = std::max(peak_in, std::max(std::fabs(l), std::fabs(r)));
    }
    if (n_bad) n_nonfinite_input_.add(n_bad);
  } else {
    std::fill_n(in_l, n, 0.0f);
    std::fill_n(in_r, n, 0.0f);
  }
  raise_peak(input_peak_, peak_in);

  if (config_.run_inline) {
    const float* rows_in[2] = {in_l, in_r};
    processor_->process(rows_in, rows_, rows_ + 2, n);  // a real-time-safe model never throws
  } else {
    dry_delay_.process(in_.data(), stride, dry_.data(), stride, n);
    std::size_t n_proc = n;      // frames [0, n_proc) are the worker's, the rest fallback
    std::size_t fade_start = n;  // fade-out to the fallback over [fade_start, n_proc)
    take_worker_output(n, n_proc, fade_start);
    fade_to_fallback(n, n_proc, fade_start);
  }
  route(out, n);
}

void LiveBridge::take_worker_output(std::size_t n, std::size_t& n_proc, std::size_t& fade_start) noexcept {
  const std::size_t S = max_chunk_;
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(S);
  // Dropped input is made up with zeros before anything newer, so the number of
  // frames through the worker (and so the delay) stays exact.
  if (input_debt_frames_ > 0) {
    input_debt_frames_ -= input_ring_.push_silence(static_cast<std::size_t>(input_debt_frames_));
  }
  std::size_t n_pushed = 0;
  if (input_debt_frames_ == 0) n_pushed = input_ring_.push_planar(in_.data(), stride, n);
  if (n_pushed < n) {
    input_debt_frames_ += n - n_pushed;
    n_input_dropped_frames_.add(n - n_pushed);
  }

  // 2. Worker output: decide how many of this chunk's frames come from the worker.
  const std::size_t ramp = config_.fallback_ramp_samples;
  std::size_t available = output_ring_.available_read();
  if (skip_frames_ > 0 && available > 0) {
    const std::size_t d = static_cast<std::size_t>(std::min<std::uint64_t>(skip_frames_, available));
    discard_output(d);
    skip_frames_ -= d;
    available -= d;
    n_skipped_frames_.add(d);
  }
  n_proc = 0;  // frames [0, n_proc) come from the worker
  fade_start = n;
  bool fallback = fallback_state_.load(std::memory_order_relaxed);
  if (skip_frames_ > 0) {
    skip_frames_ += n;  // still behind: this whole chunk is fallback
    n_fallback_frames_.add(n);
    missed_in_callback_ = true;
  } else if (!fallback) {
    if (available >= n + ramp) {
      n_proc = n;
    } else {
      // Running out: fade to the fallback while worker output is still there.
      n_proc = std::min(available, n);
      fade_start = n_proc > ramp ? n_proc - ramp : 0;
      skip_frames_ += n - n_proc;
      n_fallback_frames_.add(n - n_proc);
      n_miss_events_.add(1);
      missed_in_callback_ = true;
      fallback = true;
      const std::size_t k = n_miss_records_.load(std::memory_order_relaxed);
      if (k < miss_records_.size()) {
        miss_records_[k] = LiveTiming::Miss{n_callbacks_.get() - 1,
                                            last_callback_ns_ - first_callback_ns_, current_gap_ns_,
                                            available, n};
        n_miss_records_.store(k + 1, std::memory_order_release);
      }
    }
  } else if (available >= n + ramp) {
    n_proc = n;  // caught up with a full margin: fade back in (avail_gain_ is 0)
    fallback = false;
  } else {
    // Not caught up yet: drop the (aligned) frames that are there, play fallback.
    const std::size_t d = std::min(available, n);
    discard_output(d);
    n_skipped_frames_.add(d);
    skip_frames_ += n - d;
    n_fallback_frames_.add(n);
    missed_in_callback_ = true;
  }
  fallback_state_.store(fallback, std::memory_order_relaxed);

  if (n_proc > 0) output_ring_.pop_planar(rows_, n_proc);
  for (float* row : rows_) std::fill(row + n_proc, row + n, 0.0f);
}

void LiveBridge::fade_to_fallback(std::size_t n, std::size_t n_proc, std::size_t fade_start) noexcept {
  const std::size_t S = max_chunk_;
  const std::size_t ramp = config_.fallback_ramp_samples;
  float ga = avail_gain_;
  if (ga == 1.0f && n_proc == n && fade_start >= n) return;  // all the worker's
  const float ga_step = 1.0f / static_cast<float>(ramp);
  const float fade_from = ga;
  const std::size_t n_fade = n_proc - std::min(fade_start, n_proc);
  float* w = wet_gain_.data();
  for (std::size_t i = 0; i < n; ++i) {
    if (i >= n_proc) {
      ga = 0.0f;
    } else if (i >= fade_start) {
      ga = fade_from * static_cast<float>(n_proc - i) / static_cast<float>(n_fade + 1);
    } else if (ga < 1.0f) {
      ga = std::min(1.0f, ga + ga_step);
    }
    w[i] = ga;
  }
  avail_gain_ = ga;
  const bool both = config_.mode == LiveMode::kBoth;
  for (std::size_t r = 0; r < n_routed_; ++r) {
    float* o = rows_[r];
    if (both && r < 2) {  // kBoth: the vocals pair falls back to silence
      for (std::size_t i = 0; i < n; ++i) o[i] *= w[i];
    } else {  // w * worker + (1 - w) * dry: exactly the worker's when w = 1
      const float* dry = dry_.data() + (r % 2) * S;
      for (std::size_t i = 0; i < n; ++i) o[i] = w[i] * o[i] + (1.0f - w[i]) * dry[i];
    }
  }
}

void LiveBridge::route(float* out, std::size_t n) noexcept {
  const std::size_t S = max_chunk_;
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(S);
  // Device output (interleaved) and the record ring.
  const std::size_t n_out = config_.n_device_output_channels;
  std::fill_n(out, n * n_out, 0.0f);
  float peak_out = 0.0f;
  const bool downmix = config_.output_channels.size() != n_routed_;
  if (downmix) {
    for (std::size_t p = 0; p < n_routed_ / 2; ++p) {
      const float* a = rows_[2 * p];
      const float* b = a + S;
      const std::size_t ch = static_cast<std::size_t>(config_.output_channels[p]);
      for (std::size_t i = 0; i < n; ++i) {
        const float y = 0.5f * (a[i] + b[i]);
        out[i * n_out + ch] = y;
        peak_out = std::max(peak_out, std::fabs(y));
      }
    }
  } else {
    for (std::size_t r = 0; r < n_routed_; ++r) {
      const float* o = rows_[r];
      const std::size_t ch = static_cast<std::size_t>(config_.output_channels[r]);
      for (std::size_t i = 0; i < n; ++i) {
        out[i * n_out + ch] = o[i];
        peak_out = std::max(peak_out, std::fabs(o[i]));
      }
    }
  }
  raise_peak(output_peak_, peak_out);
  if (record_ring_) {
    const std::size_t moved = record_ring_->push_planar(outputs_.data(), stride, n);
    if (moved < n) n_record_dropped_frames_.add(n - moved);
  }
}

// ---- worker thread -------------------------------------------------------------

std::size_t LiveBridge::pop_input(float* out, std::ptrdiff_t channel_stride,
                                  std::size_t max_frames) noexcept {
  const std::size_t n = std::min(max_frames, input_ring_.available_read());
  if (n == 0) return 0;
  return input_ring_.pop_planar(out, channel_stride, n);
}

std::size_t LiveBridge::push_output(const float* out_a, std::ptrdiff_t a_stride, const float* out_b,
                                    std::ptrdiff_t b_stride, std::size_t n_frames) noexcept {
  const std::size_t n = std::min(n_frames, output_ring_.available_write());
  if (n == 0) return 0;
  const float* rows[4] = {out_a, out_a + a_stride, out_b, out_b + b_stride};
  const std::size_t moved = output_ring_.push_planar(rows, n);
  note_response(moved);
  return moved;
}

void LiveBridge::note_response(std::size_t n_out) noexcept {
  output_frames_total_ += n_out;
  std::uint64_t tail = stamp_tail_.load(std::memory_order_relaxed);
  const std::uint64_t head = stamp_head_.load(std::memory_order_acquire);
  if (tail == head) return;
  const std::int64_t t = now_ns();
  while (tail != head) {
    const Stamp& s = stamps_[tail & (kStampSlots - 1)];
    if (s.input_end > output_frames_total_) break;
    const std::int64_t r = t - s.t_ns;
    if (r > max_response_ns_.load(std::memory_order_relaxed)) {
      max_response_ns_.store(r, std::memory_order_relaxed);
    }
    response_histogram_[histogram_bin(r)].add(1);
    n_responses_.add(1);
    ++tail;
  }
  stamp_tail_.store(tail, std::memory_order_release);
}

bool LiveBridge::wait_for_input(double timeout_s) noexcept { return wake_.wait(timeout_s); }

void LiveBridge::wake_worker() noexcept { wake_.post(); }

// ---- recorder thread -----------------------------------------------------------

std::size_t LiveBridge::pop_record(float* out, std::ptrdiff_t channel_stride,
                                   std::size_t max_frames) noexcept {
  if (!record_ring_) return 0;
  const std::size_t n = std::min(max_frames, record_ring_->available_read());
  if (n == 0) return 0;
  return record_ring_->pop_planar(out, channel_stride, n);
}

// ---- monitoring ----------------------------------------------------------------

void LiveBridge::timing(LiveTiming* out) const noexcept {
  out->n_callbacks = n_callbacks_.get();
  out->max_callback_gap_ns = max_callback_gap_ns_.load(std::memory_order_relaxed);
  out->n_responses = n_responses_.get();
  out->max_response_ns = max_response_ns_.load(std::memory_order_relaxed);
  out->n_response_dropped = n_response_dropped_.get();
  for (std::size_t i = 0; i < LiveTiming::kHistogramBins; ++i) {
    out->callback_gap_histogram[i] = gap_histogram_[i].get();
    out->response_histogram[i] = response_histogram_[i].get();
  }
  const std::size_t k = n_miss_records_.load(std::memory_order_acquire);
  out->n_misses_recorded = k;
  for (std::size_t i = 0; i < k; ++i) out->misses[i] = miss_records_[i];
}

LiveStats LiveBridge::stats() const noexcept {
  LiveStats s;
  s.n_callbacks = n_callbacks_.get();
  s.n_frames = n_frames_.get();
  s.n_missed_blocks = n_missed_blocks_.get();
  s.n_miss_events = n_miss_events_.get();
  s.n_fallback_frames = n_fallback_frames_.get();
  s.n_skipped_frames = n_skipped_frames_.get();
  s.n_xrun_callbacks = n_xrun_callbacks_.get();
  s.n_input_underflow = n_input_underflow_.get();
  s.n_input_overflow = n_input_overflow_.get();
  s.n_output_underflow = n_output_underflow_.get();
  s.n_output_overflow = n_output_overflow_.get();
  s.n_input_dropped_frames = n_input_dropped_frames_.get();
  s.n_record_dropped_frames = n_record_dropped_frames_.get();
  s.n_nonfinite_input = n_nonfinite_input_.get();
  return s;
}

// ---- PlayRecord --------------------------------------------------------------------

PlayRecord::PlayRecord(std::size_t n_device_input_channels, std::size_t n_device_output_channels,
                       const float* play, std::size_t n_play_channels, std::size_t n_play_frames,
                       std::size_t n_record_channels, std::size_t n_record_frames)
    : n_in_(n_device_input_channels),
      n_out_(n_device_output_channels),
      n_play_channels_(n_play_channels),
      n_play_frames_(n_play_frames),
      n_record_channels_(n_record_channels),
      n_record_frames_(n_record_frames) {
  if (n_in_ == 0 || n_out_ == 0) throw std::invalid_argument("PlayRecord: devices need >= 1 channel");
  if (n_play_channels > n_out_) throw std::invalid_argument("PlayRecord: more play channels than outputs");
  if (n_record_channels > n_in_) throw std::invalid_argument("PlayRecord: more record channels than inputs");
  play_.assign(play, play + n_play_channels * n_play_frames);
  record_.assign(n_record_channels * n_record_frames, 0.0f);
  xruns_.assign(kMaxXruns, 0);
}

void PlayRecord::process(const float* in, float* out, std::size_t n, unsigned long status_flags) noexcept {
  n_callbacks_.store(n_callbacks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::fill_n(out, n * n_out_, 0.0f);
  if (!running_) {
    if (!armed_.load(std::memory_order_acquire)) return;
    running_ = true;
    position_ = 0;
  }
  if (status_flags & kXrunMask) {
    const std::size_t k = n_xruns_.load(std::memory_order_relaxed);
    if (k < kMaxXruns) {
      xruns_[k] = position_;
      n_xruns_.store(k + 1, std::memory_order_release);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t p = position_ + i;
    if (p < n_play_frames_) {
      for (std::size_t c = 0; c < n_play_channels_; ++c) out[i * n_out_ + c] = play_[c * n_play_frames_ + p];
    }
    if (p < n_record_frames_) {
      for (std::size_t c = 0; c < n_record_channels_; ++c) {
        record_[c * n_record_frames_ + p] = in ? in[i * n_in_ + c] : 0.0f;
      }
    }
  }
  position_ += n;
  n_recorded_.store(std::min(position_, n_record_frames_), std::memory_order_release);
}

std::vector<std::size_t> PlayRecord::xrun_positions() const {
  const std::size_t k = n_xruns_.load(std::memory_order_acquire);
  return std::vector<std::size_t>(xruns_.begin(), xruns_.begin() + static_cast<std::ptrdiff_t>(k));
}

}  // namespace rtsep

extern "C" int rtsep_play_record_callback(const void* input, void* output, unsigned long frame_count,
                                          const void* /*time_info*/, unsigned long status_flags,
                                          void* user_data) {
  static_cast<rtsep::PlayRecord*>(user_data)->process(static_cast<const float*>(input),
                                                      static_cast<float*>(output),
                                                      static_cast<std::size_t>(frame_count), status_flags);
  return 0;
}

extern "C" int rtsep_live_callback(const void* input, void* output, unsigned long frame_count,
                                   const void* /*time_info*/, unsigned long status_flags,
                                   void* user_data) {
  auto* bridge = static_cast<rtsep::LiveBridge*>(user_data);
  bridge->process(static_cast<const float*>(input), static_cast<float*>(output),
                  static_cast<std::size_t>(frame_count), status_flags);
  return 0;  // paContinue
}
