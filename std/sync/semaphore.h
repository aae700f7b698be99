// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/semaphore.h — a counting semaphore with FIFO hand-off.
//
// Behaviour:
//  - `acquire` takes one unit, suspending the fiber while none is available. Waiters are
//    served in arrival order: `release` hands a unit directly to the oldest waiter.
//  - `acquire` is a cancelation point: a canceled waiter leaves the queue and throws its
//    reason; a unit handed to it in the same instant is passed on (no lost release).
//  - `release` is not a cancelation point and never throws in a canceled fiber; it throws
//    std::overflow_error if the count would exceed `kMax` (nothing changes then).
//  - A negative initial count or release count throws std::invalid_argument.
//  - A binary semaphore is a Semaphore(1) used as such; `BinarySemaphore` names it.

#ifndef PICOS_STD_SYNC_SEMAPHORE_H_
#define PICOS_STD_SYNC_SEMAPHORE_H_

#include <cstdint>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "picos/internal/spin_lock.h"
#include "std/sync/waiters.h"

namespace picos::sync {

class Semaphore {
 public:
  static constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

  explicit Semaphore(std::int64_t initial = 0);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Takes one unit, suspending while the count is zero. Throws the fiber's cancelation reason
  // (without the unit) if canceled while waiting.
  void acquire();

  // Takes one unit if available; never suspends.
  bool try_acquire() noexcept;

  // Gives back `n` units (handing them to waiters first).
  void release(std::int64_t n = 1);

  // The units available now (racy: for diagnostics and tests).
  std::int64_t value() const noexcept;

 private:
  mutable internal::SpinLock lock_;
  std::int64_t count_ ABSL_GUARDED_BY(lock_);
  WaiterList waiters_ ABSL_GUARDED_BY(lock_);  // non-empty only while count_ == 0
};

using BinarySemaphore = Semaphore;

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_SEMAPHORE_H_
