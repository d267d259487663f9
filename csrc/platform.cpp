#include "platform.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <cerrno>
#include <ctime>
#include <unistd.h>
#elif defined(__APPLE__)
#include <pthread.h>
#elif defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#endif

namespace rtsep {
namespace platform {

// ---- where threads run -------------------------------------------------------------

#if defined(__linux__)

int current_cpu() noexcept { return sched_getcpu(); }

int current_thread_id() noexcept { return static_cast<int>(gettid()); }

SavedAffinity save_thread_affinity() noexcept {
  SavedAffinity saved;
  CPU_ZERO(&saved.set);
  saved.valid = pthread_getaffinity_np(pthread_self(), sizeof(saved.set), &saved.set) == 0;
  return saved;
}

bool pin_thread(int thread_id, int cpu) noexcept {
  if (cpu < 0 || cpu >= CPU_SETSIZE || thread_id < 0) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(thread_id, sizeof(set), &set) == 0;  // 0: the calling thread
}

void restore_thread_affinity(int thread_id, const SavedAffinity& saved) noexcept {
  if (saved.valid && thread_id >= 0) sched_setaffinity(thread_id, sizeof(saved.set), &saved.set);
}

#else  // macOS, Windows: the scheduler places threads

int current_cpu() noexcept {
#if defined(_WIN32)
  return static_cast<int>(GetCurrentProcessorNumber());
#else
  return -1;
#endif
}

int current_thread_id() noexcept { return -1; }
SavedAffinity save_thread_affinity() noexcept { return SavedAffinity{}; }
bool pin_thread(int, int) noexcept { return false; }
void restore_thread_affinity(int, const SavedAffinity&) noexcept {}

#endif

// ---- real-time scheduling ----------------------------------------------------------

std::string request_realtime_priority(int priority) {
  const std::string p = std::to_string(priority);
#if defined(__linux__) || defined(__APPLE__)
  sched_param param{};
  param.sched_priority = priority;
  const int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  return err == 0 ? "SCHED_FIFO " + p : "normal (SCHED_FIFO " + p + " refused: " + std::strerror(err) + ")";
#elif defined(_WIN32)
  // Windows has no priority numbers to match; the highest thread priority short of
  // the real-time class (which needs the process's class changed) stands for all.
  (void)p;
  if (SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_TIME_CRITICAL)) {
    return "THREAD_PRIORITY_TIME_CRITICAL";
  }
  return "normal (THREAD_PRIORITY_TIME_CRITICAL refused: error " + std::to_string(GetLastError()) + ")";
#else
  return "normal (SCHED_FIFO " + p + " not available on this system)";
#endif
}

// ---- wake-up signal ----------------------------------------------------------------

#if defined(__linux__)

WakeSignal::WakeSignal() {
  if (sem_init(&sem_, 0, 0) != 0) throw std::runtime_error("WakeSignal: sem_init failed");
}

WakeSignal::~WakeSignal() { sem_destroy(&sem_); }

void WakeSignal::post() noexcept {
  int value = 0;
  if (sem_getvalue(&sem_, &value) == 0 && value > 0) return;
  sem_post(&sem_);
}

bool WakeSignal::wait(double timeout_s) noexcept {
  if (!(timeout_s > 0.0)) timeout_s = 0.0;
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  const double whole = std::floor(timeout_s);
  deadline.tv_sec += static_cast<time_t>(whole);
  deadline.tv_nsec += static_cast<long>((timeout_s - whole) * 1e9);
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  while (true) {
    if (sem_timedwait(&sem_, &deadline) == 0) return true;
    if (errno != EINTR) return false;
  }
}

#else  // portable: an atomic flag, polled every 0.5 ms by the waiter

WakeSignal::WakeSignal() = default;
WakeSignal::~WakeSignal() = default;

void WakeSignal::post() noexcept {
  std::uint32_t expected = 0;
  pending_.compare_exchange_strong(expected, 1, std::memory_order_acq_rel);
}

bool WakeSignal::wait(double timeout_s) noexcept {
  if (!(timeout_s > 0.0)) timeout_s = 0.0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (true) {
    std::uint32_t n = pending_.load(std::memory_order_acquire);
    while (n > 0) {
      if (pending_.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel)) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

#endif

}  // namespace platform
}  // namespace rtsep
