// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/condition.h — a condition variable for picos::sync::Mutex.
//
// Behaviour:
//  - `wait(mutex)` atomically releases the mutex and suspends the fiber until `signal` or
//    `broadcast` wakes it, then re-acquires the mutex. It always returns (or throws) with the
//    mutex held, also when canceled: the re-acquisition runs with cancelation forbidden.
//  - `wait` is a cancelation point: a canceled waiter leaves the queue and `wait` throws the
//    fiber's reason. If a `signal` chose it at the same moment, the signal is forwarded to
//    the next waiter, so no wake-up is lost.
//  - Spurious wake-ups may happen (after a forwarded broadcast): wait in a loop on the
//    predicate, or use `wait(mutex, predicate)`.
//  - Waiting without holding the mutex throws std::logic_error (from Mutex::unlock, checked
//    mode) before anything else happens.
//  - `signal` and `broadcast` need not hold the mutex, are not cancelation points and never
//    throw in a canceled fiber.

#ifndef PICOS_STD_SYNC_CONDITION_H_
#define PICOS_STD_SYNC_CONDITION_H_

#include "absl/base/thread_annotations.h"
#include "picos/internal/spin_lock.h"
#include "std/sync/mutex.h"
#include "std/sync/waiters.h"

namespace picos::sync {

class Condition {
 public:
  Condition() = default;
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // See above. `mutex` must be held by the current fiber.
  void wait(Mutex& mutex);

  // Waits until `pred()` holds (checked with the mutex held before each wait).
  template <typename Pred>
  void wait(Mutex& mutex, Pred pred) {
    while (!pred()) wait(mutex);
  }

  // Wakes the oldest waiter, if any.
  void signal() noexcept;

  // Wakes every current waiter.
  void broadcast() noexcept;

 private:
  internal::SpinLock lock_;
  WaiterList waiters_ ABSL_GUARDED_BY(lock_);
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_CONDITION_H_
