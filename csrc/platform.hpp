// The operating-system calls of the live path, behind one small interface.
//
// Everything in csrc/ that is not portable C++17 lives here and in platform.cpp:
// where a thread runs (CPU placement), real-time scheduling, and the worker's
// wake-up semaphore. Linux gets the tuned path (sched_getcpu through the vDSO,
// sched_setaffinity, SCHED_FIFO, a POSIX semaphore); macOS and Windows get working
// fallbacks: SCHED_FIFO through pthreads on macOS, THREAD_PRIORITY_TIME_CRITICAL on
// Windows, no CPU placement (the scheduler places threads), and a wake-up that polls
// an atomic every 0.5 ms. `.ci/cross-compile` fails when such a call appears
// anywhere else in csrc/.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#if defined(__linux__)
#include <sched.h>
#include <semaphore.h>
#endif

namespace rtsep {
namespace platform {

/// CPU the calling thread runs on; -1 where the system cannot say cheaply (macOS).
/// Safe on the audio thread (Linux: vDSO, no system call; Windows: one instruction).
int current_cpu() noexcept;

/// The calling thread's id for pin_thread() from another thread (Linux: the kernel
/// tid); -1 where threads cannot be placed from outside (then nothing is pinned).
/// One plain system call that neither blocks nor allocates.
int current_thread_id() noexcept;

/// A thread's CPU set, saved to give a pinned thread its freedom back.
struct SavedAffinity {
#if defined(__linux__)
  cpu_set_t set{};
#endif
  bool valid = false;
};

/// The calling thread's CPU set (invalid where placement is not supported).
SavedAffinity save_thread_affinity() noexcept;

/// Bind thread `thread_id` (0: the calling thread; else a current_thread_id()) to
/// `cpu`. False when refused or not supported here (the thread stays where it is).
bool pin_thread(int thread_id, int cpu) noexcept;

/// Give thread `thread_id` (as for pin_thread) the saved CPU set back; a thread that
/// has gone, or an invalid `saved`, is ignored.
void restore_thread_affinity(int thread_id, const SavedAffinity& saved) noexcept;

/// Ask for real-time scheduling of the calling thread at `priority` (> 0) and say
/// what was granted: "SCHED_FIFO <p>" or "normal (SCHED_FIFO <p> refused: <why>)"
/// (POSIX), "THREAD_PRIORITY_TIME_CRITICAL" or "normal (... refused: ...)" (Windows).
std::string request_realtime_priority(int priority);

/// One-waiter wake-up signal with at most one pending wake-up: post() from the audio
/// thread (no lock, no allocation, no blocking), wait() from the worker.
class WakeSignal {
 public:
  WakeSignal();  // throws std::runtime_error if the system refuses a semaphore
  ~WakeSignal();
  WakeSignal(const WakeSignal&) = delete;
  WakeSignal& operator=(const WakeSignal&) = delete;

  /// Wake the waiter; a wake-up already pending is not doubled (the waiter drains
  /// everything per wake-up, and a stalled one must not return to a pile of them).
  void post() noexcept;
  /// Wait until posted (true) or `timeout_s` passed (false).
  bool wait(double timeout_s) noexcept;

 private:
#if defined(__linux__)
  sem_t sem_;
#else
  std::atomic<std::uint32_t> pending_{0};
#endif
};

}  // namespace platform
}  // namespace rtsep
