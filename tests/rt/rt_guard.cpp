// rt_guard: an LD_PRELOAD shim that catches what must never happen on the audio
// side: allocation (malloc, calloc, realloc, aligned allocations, free, operator
// new/delete) and calls that can block (mutex and rwlock locks, condition and
// semaphore waits, joins, sleeps). Each is passed through to the real function;
// when it happens on a thread between rt_guard_begin() and rt_guard_end(), it is
// counted and its name kept. tests/rt/test_rt_safety.cpp finds these two
// functions with dlsym, so it knows whether it runs under the shim.
//
//   LD_PRELOAD=librt_guard.so test_rt_safety MODEL.rtsepw
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <new>

namespace {

thread_local int t_guarded = 0;
std::atomic<unsigned long> g_violations{0};
std::atomic<const char*> g_first{nullptr};

inline void note(const char* what) noexcept {
  if (t_guarded == 0) return;
  if (g_violations.fetch_add(1) == 0) g_first.store(what);
}

template <class F>
F next(const char* name) noexcept {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

// The test's entry points.
__attribute__((visibility("default"))) void rt_guard_begin() { ++t_guarded; }
__attribute__((visibility("default"))) unsigned long rt_guard_end(const char** first) {
  --t_guarded;
  if (first != nullptr) *first = g_first.load();
  const unsigned long n = g_violations.exchange(0);
  g_first.store(nullptr);
  return n;
}

// glibc's own allocator entry points: no dlsym (which may allocate) needed.
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) { note("malloc"); return __libc_malloc(n); }
void* calloc(size_t n, size_t size) { note("calloc"); return __libc_calloc(n, size); }
void* realloc(void* p, size_t n) { note("realloc"); return __libc_realloc(p, n); }
void free(void* p) { if (p != nullptr) note("free"); __libc_free(p); }
void* aligned_alloc(size_t alignment, size_t n) { note("aligned_alloc"); return __libc_memalign(alignment, n); }
void* memalign(size_t alignment, size_t n) { note("memalign"); return __libc_memalign(alignment, n); }
int posix_memalign(void** out, size_t alignment, size_t n) {
  note("posix_memalign");
  void* p = __libc_memalign(alignment, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}

// The real function is looked up on first use (no function-static guard, whose
// initialisation could itself lock; a race only looks it up twice).
#define RT_GUARD_FORWARD(ret, name, params, args)                        \
  ret name params {                                                      \
    note(#name);                                                         \
    static std::atomic<ret(*) params> real{nullptr};                     \
    auto fn_ = real.load(std::memory_order_relaxed);                     \
    if (fn_ == nullptr) real.store(fn_ = next<ret(*) params>(#name));    \
    return fn_ args;                                                     \
  }

RT_GUARD_FORWARD(int, pthread_mutex_lock, (pthread_mutex_t * m), (m))
RT_GUARD_FORWARD(int, pthread_mutex_timedlock, (pthread_mutex_t * m, const struct timespec* t), (m, t))
RT_GUARD_FORWARD(int, pthread_rwlock_rdlock, (pthread_rwlock_t * l), (l))
RT_GUARD_FORWARD(int, pthread_rwlock_wrlock, (pthread_rwlock_t * l), (l))
RT_GUARD_FORWARD(int, pthread_cond_wait, (pthread_cond_t * c, pthread_mutex_t* m), (c, m))
RT_GUARD_FORWARD(int, pthread_cond_timedwait,
                 (pthread_cond_t * c, pthread_mutex_t* m, const struct timespec* t), (c, m, t))
RT_GUARD_FORWARD(int, pthread_join, (pthread_t t, void** r), (t, r))
RT_GUARD_FORWARD(int, sem_wait, (sem_t * s), (s))
RT_GUARD_FORWARD(int, sem_timedwait, (sem_t * s, const struct timespec* t), (s, t))
RT_GUARD_FORWARD(int, nanosleep, (const struct timespec* a, struct timespec* b), (a, b))
RT_GUARD_FORWARD(int, clock_nanosleep, (clockid_t c, int f, const struct timespec* a, struct timespec* b),
                 (c, f, a, b))
RT_GUARD_FORWARD(int, usleep, (useconds_t u), (u))

}  // extern "C"

// operator new/delete: libstdc++'s call malloc/free too, but a library may have
// its own; these make sure every form is seen.
void* operator new(std::size_t n) {
  note("operator new");
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  note("operator new[]");
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { note("operator new"); return __libc_malloc(n ? n : 1); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { note("operator new[]"); return __libc_malloc(n ? n : 1); }
void* operator new(std::size_t n, std::align_val_t a) {
  note("operator new(align)");
  if (void* p = __libc_memalign(static_cast<std::size_t>(a), n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  note("operator new[](align)");
  if (void* p = __libc_memalign(static_cast<std::size_t>(a), n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { if (p) note("operator delete"); __libc_free(p); }
void operator delete[](void* p) noexcept { if (p) note("operator delete[]"); __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { if (p) note("operator delete"); __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { if (p) note("operator delete[]"); __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { if (p) note("operator delete"); __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { if (p) note("operator delete[]"); __libc_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { if (p) note("operator delete"); __libc_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { if (p) note("operator delete[]"); __libc_free(p); }
