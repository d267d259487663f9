// LiveWorker: the model side of live monitoring as one native thread.
//
// input ring (LiveBridge) -> BlockProcessor (STFT, model step, iSTFT) -> output
// ring (LiveBridge). With the native model there is no Python and so no GIL on the
// way: nothing else in the process can hold this thread up by holding a lock it
// needs. A Python runner (ONNX Runtime, TorchScript) takes the GIL for its step.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "block_processor.hpp"
#include "live_bridge.hpp"
#include "platform.hpp"

namespace rtsep {

/// Counters of a LiveWorker (cumulative since start()).
struct LiveWorkerStats {
  std::uint64_t n_samples = 0;        // input samples turned into output
  std::uint64_t n_frames = 0;         // STFT frames through the model
  double busy_s = 0.0;                // time spent computing
  double max_chunk_busy_ratio = 0.0;  // worst compute time / audio duration of one chunk
  std::uint64_t n_cpu_moves = 0;      // follow_callback_cpu: times the thread moved CPU
  std::uint64_t n_callback_pins = 0;  // pin_callback_thread: callback threads pinned
};

/// Runs the bridge's processor (its parameters are the live controls: the
/// outputs A and B the bridge routes) over everything `bridge`'s callback pushes,
/// one output sample per input sample, so the bridge's fixed delay holds. It takes
/// chunks of up to the processor's max_block_samples(). All buffers are allocated
/// in the constructor; the thread does not allocate.
///
/// While the worker runs, no other thread may process or reset the processor. If
/// the model throws (a Python runner), the thread stops: running() turns false and
/// error() says why.
class LiveWorker {
 public:
  /// Throws std::invalid_argument for a bridge that runs its processor inline.
  explicit LiveWorker(LiveBridge& bridge);
  ~LiveWorker();
  LiveWorker(const LiveWorker&) = delete;
  LiveWorker& operator=(const LiveWorker&) = delete;

  std::size_t latency_samples() const noexcept { return processor_->latency_samples(); }

  /// Run the engine on n_samples of silence in blocks of block_samples (first-use
  /// costs), then reset engine and model. Only before start().
  void warm_up(std::size_t n_samples, std::size_t block_samples);
  /// Start the thread. realtime_priority > 0 asks for SCHED_FIFO at that
  /// priority (POSIX); scheduling() then says what the system granted.
  /// follow_callback_cpu (Linux): before each wait, bind the thread to the CPU
  /// the device callback last ran on, so that the callback's wake-up lands on a
  /// CPU that is awake (it just ran the callback) instead of an idle one, whose
  /// wake-up can take milliseconds (deep idle states, idle virtual CPUs).
  /// pin_callback_thread (Linux, with follow_callback_cpu): also bind the
  /// callback's thread to the CPU it first runs on, so that neither moves (an
  /// idle system moves it between CPUs often, and the first wake-up after each
  /// move still goes to the CPU it left); stop() gives it back the affinity the
  /// worker started with.
  void start(int realtime_priority, bool follow_callback_cpu = false,
             bool pin_callback_thread = false);
  /// Stop and join the thread (idempotent).
  void stop();
  /// Test hook: the thread does nothing for `seconds` (as a very late model step).
  void stall(double seconds) noexcept;

  bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  /// "normal", "SCHED_FIFO <p>" or "normal (SCHED_FIFO <p> refused: <reason>)".
  /// Valid after start() returned.
  std::string scheduling() const;
  /// Why the thread stopped on its own ("" if it did not). Valid once running() is false.
  std::string error() const;
  LiveWorkerStats stats() const noexcept;

 private:
  void run() noexcept;
  void process_chunk(std::size_t n);
  void follow_callback_cpu(int& pinned_cpu) noexcept;

  LiveBridge& bridge_;
  std::shared_ptr<BlockProcessor> processor_;
  std::size_t max_chunk_;
  std::vector<float> in_, out_a_, out_b_;  // planar (2, max_chunk)
  std::string error_;                              // written by the thread before it stops
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<std::int64_t> stall_until_ns_{0};
  std::atomic<bool> scheduled_{false};
  std::string scheduling_ = "normal";
  int requested_priority_ = 0;
  bool follow_callback_cpu_ = false;
  bool pin_callback_thread_ = false;
  int pinned_callback_tid_ = -1;  // the worker thread's, then stop()'s

  // Written by the thread, read by any.
  std::atomic<std::uint64_t> n_samples_{0}, n_frames_{0};
  std::atomic<std::int64_t> busy_ns_{0};
  std::atomic<double> max_ratio_{0.0};
  std::atomic<std::uint64_t> n_cpu_moves_{0};
  std::atomic<std::uint64_t> n_callback_pins_{0};
  platform::SavedAffinity initial_affinity_{};  // the worker thread's at start, for unpinning the callback
};

}  // namespace rtsep
