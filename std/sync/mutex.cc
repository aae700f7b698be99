// Copyright 2026 The Picos for C++ Authors.
//
// The state word: kLocked (someone holds the mutex) | kQueued (the waiter list may be
// non-empty). Uncontended lock and unlock are one CAS each (0 <-> kLocked), each after a
// plain load that skips it when it would fail. While kQueued is set neither fast path
// applies, so a newcomer cannot barge past waiters, and every unlock takes lock_ to hand the
// mutex directly to the oldest waiter (the state stays kLocked). kQueued is set and waiters
// are linked in one lock_ section, and cleared under lock_ when the list becomes empty.

#include "std/sync/mutex.h"

#include <exception>
#include <mutex>
#include <stdexcept>

#include "picos/debug.h"

namespace picos::sync {

bool Mutex::try_lock() noexcept {
  const Fiber* me = checked_ ? &Fiber::current() : nullptr;
  std::uint32_t s = 0;
  if (!state_.compare_exchange_strong(s, kLocked, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    return false;
  }
  owner_.store(me, std::memory_order_relaxed);
  return true;
}

void Mutex::lock() {
  const Fiber* me = checked_ ? &Fiber::current() : nullptr;
  // Load first: a CAS that fails still costs a locked instruction, and a contended lock
  // would pay one for nothing (mutex workload: 59 -> 48.5 ns per operation with unlock's
  // check below; the uncontended pair pays the load, within the noise: docs/benchmarks.md).
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  if (s == 0 && state_.compare_exchange_strong(s, kLocked, std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
    owner_.store(me, std::memory_order_relaxed);
    return;
  }
  Waiter w;
  {
    internal::SpinLockGuard guard(lock_);
    s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (!(s & kLocked)) {  // freed meanwhile (only possible with no waiters queued)
        if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          owner_.store(me, std::memory_order_relaxed);
          return;
        }
        continue;
      }
      if (checked_ && owner_.load(std::memory_order_relaxed) == me) {
        throw std::logic_error(
            "picos::sync::Mutex::lock: the current fiber already holds the mutex");
      }
      if ((s & kQueued) || state_.compare_exchange_weak(s, s | kQueued, std::memory_order_relaxed,
                                                        std::memory_order_relaxed)) {
        break;
      }
    }
    w.fiber = me;
    waiters_.push_back(&w);
  }
  // For dumps: the holder when the wait began (known in checked mode).
  static constexpr debug::WaitKind kLock{"picos::sync::Mutex", "lock"};
  static constexpr debug::WaitKind kLockHeld{"picos::sync::Mutex", "lock", debug::Detail::kHolder};
  const Fiber* holder = owner_.load(std::memory_order_relaxed);
  w.trigger.set_wait_label(holder ? kLockHeld : kLock, this,
                           static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(holder)));
  std::exception_ptr reason = w.trigger.await();
  if (!reason) return;  // handed over: we hold the mutex (owner_ set by unlock)
  bool granted;
  {
    internal::SpinLockGuard guard(lock_);
    waiters_.remove(&w);
    if (waiters_.empty()) state_.fetch_and(~kQueued, std::memory_order_relaxed);
    granted = w.granted;
  }
  // Canceled. If the hand-off won the race, pass the mutex on rather than lose it.
  if (granted) unlock();
  std::rethrow_exception(reason);
}

void Mutex::unlock() {
  const Fiber* me = checked_ ? &Fiber::current() : nullptr;
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  if (!(s & kLocked)) throw std::logic_error("picos::sync::Mutex::unlock: the mutex is not locked");
  if (checked_ && owner_.load(std::memory_order_relaxed) != me) {
    throw std::logic_error("picos::sync::Mutex::unlock: the current fiber does not hold the mutex");
  }
  owner_.store(nullptr, std::memory_order_relaxed);
  // With waiters queued (kQueued, cleared only under lock_) the CAS would fail: skip it.
  if (s == kLocked &&
      state_.compare_exchange_strong(s, 0, std::memory_order_release, std::memory_order_relaxed)) {
    return;
  }
  // The Wake is made in place by the lambda's return (not assigned over an empty one: 15
  // instructions of a contended operation), and lock_ is released before it runs.
  Trigger::Wake wake = [this] {
    internal::SpinLockGuard guard(lock_);
    Waiter* next = waiters_.pop_front();
    if (next == nullptr) {  // the last waiter was canceled meanwhile
      state_.store(0, std::memory_order_release);
      return Trigger::Wake();
    }
    if (waiters_.empty()) state_.store(kLocked, std::memory_order_relaxed);
    next->granted = true;
    owner_.store(next->fiber, std::memory_order_relaxed);  // stays locked: handed over directly
    // Signaled here, resumed after the unlock (Trigger::signal_deferred): a suspended waiter
    // stays so, its node valid, until the resume runs. One whose cancelation signaled it
    // first may see `granted`, pass the mutex on and return, its node gone: nothing is left
    // to run for it. One not yet suspended is signaled after the unlock, through a reference.
    return next->trigger.signal_deferred();
  }();
  wake.run();
}

}  // namespace picos::sync
