// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/spin_lock.h — a tiny test-and-test-and-set lock for very short critical
// sections (a few loads and stores, never a call into user code or a syscall).
//
// Used inside triggers' computations to guard the trigger bag. After a short bounded spin it
// yields the OS thread, so a preempted holder cannot make waiters burn a whole time slice.
// Models the standard Lockable concept.

#ifndef PICOS_INTERNAL_SPIN_LOCK_H_
#define PICOS_INTERNAL_SPIN_LOCK_H_

#include <atomic>
#include <sched.h>

namespace picos::internal {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

class SpinLock {
 public:
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void lock() noexcept {
    if (try_lock()) return;
    lock_slow();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  void lock_slow() noexcept {
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

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_SPIN_LOCK_H_
