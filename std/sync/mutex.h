// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/mutex.h — a fiber mutex with fair FIFO hand-off.
//
// `picos::sync::Mutex` suspends the *fiber* that waits for it, never the OS thread (on a
// thread without a scheduler the thread is one implicit fiber and blocks, so the same mutex
// also works between plain threads). It is written only against //picos and runs unchanged
// on every scheduler.
//
// Behaviour:
//  - Fair: waiters are served in arrival order, and `unlock` hands the mutex directly to the
//    oldest waiter (it never becomes free in between, so no barging).
//  - `lock` is a cancelation point: if the waiting fiber is canceled, `lock` removes it from
//    the queue and throws the fiber's cancelation reason without holding the mutex. If the
//    hand-off raced with the cancelation, the mutex is passed on to the next waiter before
//    throwing: a canceled waiter never swallows a wake-up.
//  - `unlock` is not a cancelation point and never throws in a canceled fiber.
//  - Owner checking (the default): `unlock` by a fiber that does not hold the mutex throws
//    std::logic_error and changes nothing; `lock` by the fiber that holds it throws
//    std::logic_error (it would deadlock). `Mutex(Mutex::kUnchecked)` skips the check and the
//    `Fiber::current()` it needs.
//  - Models Lockable: std::scoped_lock, std::unique_lock and std::lock_guard work.
//
// Cost: uncontended lock and unlock are one CAS each (plus a thread-local read of the current
// fiber in checked mode); a contended lock creates one trigger and suspends. Waiter nodes
// live on the waiting fiber's stack: nothing is allocated per waiter beyond the trigger.

#ifndef PICOS_STD_SYNC_MUTEX_H_
#define PICOS_STD_SYNC_MUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "picos/fiber.h"
#include "picos/internal/spin_lock.h"
#include "std/sync/waiters.h"

namespace picos::sync {

class Mutex {
 public:
  enum Checking { kChecked, kUnchecked };

  explicit Mutex(Checking checking = kChecked) noexcept : checked_(checking == kChecked) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  // Destroying a mutex that is held or waited for is undefined (as for std::mutex).
  ~Mutex() = default;

  // Acquires the mutex, suspending the current fiber until it is handed over. Throws the
  // fiber's cancelation reason (without the mutex) if canceled while waiting, and
  // std::logic_error if the current fiber already holds it (checked mode).
  void lock();

  // Acquires the mutex if it is free; never suspends, never throws.
  bool try_lock() noexcept;

  // Releases the mutex, handing it to the oldest waiter if any. Throws std::logic_error if
  // the current fiber does not hold it (checked mode). Never a cancelation point.
  void unlock();

 private:
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kQueued = 2;

  bool checked_;
  std::atomic<std::uint32_t> state_{0};       // kLocked | kQueued (see mutex.cc)
  std::atomic<const Fiber*> owner_{nullptr};  // checked mode only; racy reads detect misuse
  internal::SpinLock lock_;
  WaiterList waiters_ ABSL_GUARDED_BY(lock_);
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_MUTEX_H_
