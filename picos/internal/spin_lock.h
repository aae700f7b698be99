// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/spin_lock.h — a tiny test-and-test-and-set lock for very short critical
// sections (a few loads and stores, never a call into user code or a syscall).
//
// Used inside triggers' computations to guard the trigger bag. After a short bounded spin it
// yields the OS thread, so a preempted holder cannot make waiters burn a whole time slice.
// Models the standard Lockable concept.
//
// Thread-safety annotations (absl/base/thread_annotations.h): SpinLock is a capability, so
// clang's -Wthread-safety (`--config=clang`) checks the data declared ABSL_GUARDED_BY(a
// SpinLock). Hold it through SpinLockGuard: std::lock_guard and std::unique_lock are not
// annotated, and the analysis would not see them take the lock.

#ifndef PICOS_INTERNAL_SPIN_LOCK_H_
#define PICOS_INTERNAL_SPIN_LOCK_H_

#include <sched.h>

#include <atomic>
#include <mutex>  // std::adopt_lock_t

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"

namespace picos::internal {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// The bodies below carry ABSL_NO_THREAD_SAFETY_ANALYSIS: the analysis cannot see that an
// atomic exchange takes the lock; the annotations on the declarations are what callers get.
class ABSL_LOCKABLE SpinLock {
 public:
  // Always inlined too: gcc emitted it out of line where lock() is not the caller (18
  // instructions per contended Mutex operation, callgrind).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool try_lock() noexcept
      ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // Always inlined, the waiting out of line: gcc otherwise emitted lock() out of line with the
  // loop in it (20 instructions per call in the sync primitives' hot paths, callgrind).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void lock() noexcept
      ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (try_lock()) [[likely]]
      return;
    lock_slow();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void unlock() noexcept
      ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    locked_.store(false, std::memory_order_release);
  }
  // For the analysis only (no run-time check): the caller knows the lock is held, in a place
  // the analysis cannot follow (a callback run under it, say).
  void assert_held() const noexcept ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  ABSL_ATTRIBUTE_NOINLINE void lock_slow() noexcept {
    for (int spins = 0;; ++spins) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (spins < 64) {
          cpu_relax();
          ++spins;
        } else {
          sched_yield();
        }
      }
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
    }
  }

  std::atomic<bool> locked_{false};
};

// Holds a SpinLock for its scope: std::lock_guard for the analysis. `unlock()` releases it
// early (for instance to signal a trigger outside the critical section) and `lock()` takes it
// again; the destructor releases it only if held.
class ABSL_SCOPED_LOCKABLE SpinLockGuard {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE explicit SpinLockGuard(SpinLock& lock) noexcept
      ABSL_EXCLUSIVE_LOCK_FUNCTION(lock)
      : lock_(lock) {
    lock_.lock();
  }
  // Takes over `lock`, which the caller holds: for a slow path out of line that releases a
  // lock its caller took (annotated ABSL_UNLOCK_FUNCTION), so that the analysis follows it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE SpinLockGuard(SpinLock& lock, std::adopt_lock_t) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock)
      : lock_(lock) {}
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;
  // Always inlined, as the constructor: gcc otherwise emits them out of line in the sync
  // primitives' hot paths (10 instructions per mutex operation each, measured with callgrind).
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~SpinLockGuard() ABSL_UNLOCK_FUNCTION() {
    if (held_) lock_.unlock();
  }

  void unlock() noexcept ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    held_ = false;
    lock_.unlock();
  }
  void lock() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    lock_.lock();
    held_ = true;
  }

 private:
  SpinLock& lock_;
  bool held_ = true;
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_SPIN_LOCK_H_
