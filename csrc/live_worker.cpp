#include "live_worker.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace rtsep {
namespace {

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LiveWorker::LiveWorker(LiveBridge& bridge)
    : bridge_(bridge),
      processor_(bridge.processor()),
      max_chunk_(processor_->max_block_samples()),
      in_(2 * max_chunk_, 0.0f),
      out_a_(2 * max_chunk_, 0.0f),
      out_b_(2 * max_chunk_, 0.0f) {
  if (bridge.is_inline()) throw std::invalid_argument("LiveWorker: the bridge runs its processor inline");
}

LiveWorker::~LiveWorker() { stop(); }

void LiveWorker::warm_up(std::size_t n_samples, std::size_t block_samples) {
  if (running()) throw std::logic_error("LiveWorker: warm_up while running");
  block_samples = std::clamp<std::size_t>(block_samples, 1, max_chunk_);
  std::fill(in_.begin(), in_.end(), 0.0f);
  for (std::size_t done = 0; done < std::max(n_samples, block_samples); done += block_samples) {
    process_chunk(block_samples);
  }
  processor_->reset();
}

void LiveWorker::process_chunk(std::size_t n) {
  const float* in[2] = {in_.data(), in_.data() + max_chunk_};
  float* out_a[2] = {out_a_.data(), out_a_.data() + max_chunk_};
  float* out_b[2] = {out_b_.data(), out_b_.data() + max_chunk_};
  const std::uint64_t before = processor_->n_frames_processed();
  processor_->process(in, out_a, out_b, n);
  n_frames_.store(n_frames_.load(std::memory_order_relaxed) + (processor_->n_frames_processed() - before),
                  std::memory_order_relaxed);
}

void LiveWorker::start(int realtime_priority, bool follow_callback_cpu, bool pin_callback_thread) {
  if (thread_.joinable()) throw std::logic_error("LiveWorker: already started");
  requested_priority_ = realtime_priority;
  follow_callback_cpu_ = follow_callback_cpu || pin_callback_thread;
  pin_callback_thread_ = pin_callback_thread;
  pinned_callback_tid_ = -1;
  n_cpu_moves_.store(0, std::memory_order_relaxed);
  n_callback_pins_.store(0, std::memory_order_relaxed);
  stop_.store(false, std::memory_order_relaxed);
  scheduled_.store(false, std::memory_order_relaxed);
  n_samples_.store(0, std::memory_order_relaxed);
  n_frames_.store(0, std::memory_order_relaxed);
  busy_ns_.store(0, std::memory_order_relaxed);
  max_ratio_.store(0.0, std::memory_order_relaxed);
  error_.clear();
  running_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { run(); });
  // Wait (briefly) until the thread has set its scheduling, so scheduling() is final.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!scheduled_.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void LiveWorker::stop() {
  stop_.store(true, std::memory_order_release);
  bridge_.wake_worker();
  if (thread_.joinable()) thread_.join();
  running_.store(false, std::memory_order_release);
  if (pinned_callback_tid_ > 0) {  // give the callback thread its freedom back (gone: fine)
    platform::restore_thread_affinity(pinned_callback_tid_, initial_affinity_);
    pinned_callback_tid_ = -1;
  }
}

void LiveWorker::stall(double seconds) noexcept {
  stall_until_ns_.store(now_ns() + static_cast<std::int64_t>(seconds * 1e9), std::memory_order_release);
  bridge_.wake_worker();
}

std::string LiveWorker::error() const {
  return running_.load(std::memory_order_acquire) ? std::string() : error_;
}

std::string LiveWorker::scheduling() const {
  return scheduled_.load(std::memory_order_acquire) ? scheduling_ : std::string("normal");
}

LiveWorkerStats LiveWorker::stats() const noexcept {
  LiveWorkerStats s;
  s.n_samples = n_samples_.load(std::memory_order_relaxed);
  s.n_frames = n_frames_.load(std::memory_order_relaxed);
  s.busy_s = static_cast<double>(busy_ns_.load(std::memory_order_relaxed)) * 1e-9;
  s.max_chunk_busy_ratio = max_ratio_.load(std::memory_order_relaxed);
  s.n_cpu_moves = n_cpu_moves_.load(std::memory_order_relaxed);
  s.n_callback_pins = n_callback_pins_.load(std::memory_order_relaxed);
  return s;
}

void LiveWorker::follow_callback_cpu(int& pinned_cpu) noexcept {
  // Where the platform cannot place threads (current_cpu() or current_thread_id()
  // is -1, pin_thread() false) this leaves both threads to the scheduler.
  const int cpu = bridge_.callback_cpu();
  if (cpu < 0) return;
  if (pin_callback_thread_) {
    const int tid = bridge_.callback_tid();
    if (tid > 0 && tid != pinned_callback_tid_) {  // a callback thread not pinned yet
      if (pinned_callback_tid_ > 0) platform::restore_thread_affinity(pinned_callback_tid_, initial_affinity_);
      pinned_callback_tid_ = tid;
      if (platform::pin_thread(tid, cpu)) {
        n_callback_pins_.store(n_callback_pins_.load(std::memory_order_relaxed) + 1,
                               std::memory_order_relaxed);
      }
    }
  }
  if (cpu == pinned_cpu) return;
  // Refused (e.g. the CPU is outside this process's cpuset): stay where we are
  // and do not try that CPU again until the callback moves.
  pinned_cpu = cpu;
  if (platform::pin_thread(0, cpu)) {
    n_cpu_moves_.store(n_cpu_moves_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
}

void LiveWorker::run() noexcept {
  if (requested_priority_ > 0) scheduling_ = platform::request_realtime_priority(requested_priority_);
  initial_affinity_ = platform::save_thread_affinity();
  scheduled_.store(true, std::memory_order_release);

  const double rate = bridge_.sample_rate_hz();
  const auto stride = static_cast<std::ptrdiff_t>(max_chunk_);
  int pinned_cpu = -1;
  while (!stop_.load(std::memory_order_acquire)) {
    const std::int64_t stall_left = stall_until_ns_.load(std::memory_order_acquire) - now_ns();
    if (stall_left > 0) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(stall_left, 50000000)));
      continue;
    }
    if (follow_callback_cpu_) follow_callback_cpu(pinned_cpu);
    bridge_.wait_for_input(0.05);
    while (!stop_.load(std::memory_order_acquire)) {
      const std::size_t n = bridge_.pop_input(in_.data(), stride, max_chunk_);
      if (n == 0) break;
      const std::int64_t t0 = now_ns();
      try {
        process_chunk(n);
      } catch (const std::exception& e) {
        error_ = std::string("the model failed: ") + e.what();
        running_.store(false, std::memory_order_release);
        return;
      } catch (...) {
        error_ = "the model failed";
        running_.store(false, std::memory_order_release);
        return;
      }
      const std::int64_t elapsed = now_ns() - t0;
      std::size_t done = bridge_.push_output(out_a_.data(), stride, out_b_.data(), stride, n);
      while (done < n && !stop_.load(std::memory_order_acquire)) {
        // The output ring is full only if the device stopped pulling; wait for it.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        done += bridge_.push_output(out_a_.data() + done, stride, out_b_.data() + done, stride,
                                    n - done);
      }
      busy_ns_.store(busy_ns_.load(std::memory_order_relaxed) + elapsed, std::memory_order_relaxed);
      n_samples_.store(n_samples_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
      const double ratio = static_cast<double>(elapsed) * 1e-9 * rate / static_cast<double>(n);
      if (ratio > max_ratio_.load(std::memory_order_relaxed)) {
        max_ratio_.store(ratio, std::memory_order_relaxed);
      }
    }
  }
}

}  // namespace rtsep
