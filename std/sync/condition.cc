// Copyright 2026 The Picos for C++ Authors.

#include "std/sync/condition.h"

#include <exception>
#include <mutex>
#include <optional>
#include <vector>

#include "picos/debug.h"
#include "picos/fiber.h"

namespace picos::sync {

void Condition::wait(Mutex& mutex) {
  Waiter w;
  {
    internal::SpinLockGuard guard(lock_);
    waiters_.push_back(&w);
  }
  try {
    mutex.unlock();
  } catch (...) {  // not holding the mutex: undo and report
    internal::SpinLockGuard guard(lock_);
    waiters_.remove(&w);
    throw;
  }
  static constexpr debug::WaitKind kWait{"picos::sync::Condition", "wait"};
  w.trigger.set_wait_label(kWait, this);
  std::exception_ptr reason = w.trigger.await();
  bool signaled;
  {
    internal::SpinLockGuard guard(lock_);
    waiters_.remove(&w);
    signaled = w.granted;
  }
  // Return with the mutex held, whatever happened.
  Fiber::current().forbid([&] { mutex.lock(); });
  if (reason) {
    if (signaled) signal();  // the signal was meant for someone: do not lose it
    std::rethrow_exception(reason);
  }
}

void Condition::signal() noexcept {
  std::optional<Trigger> wake;  // (not a Trigger: constructing one allocates a new trigger)
  {
    internal::SpinLockGuard guard(lock_);
    Waiter* w = waiters_.pop_front();
    if (!w) return;
    w->granted = true;
    wake.emplace(w->trigger);  // copy: the node may be gone once we unlock
  }
  wake->signal();
}

void Condition::broadcast() noexcept {
  std::vector<Trigger> wake;
  {
    internal::SpinLockGuard guard(lock_);
    while (Waiter* w = waiters_.pop_front()) {
      w->granted = true;
      try {
        wake.push_back(w->trigger);
      } catch (...) {  // out of memory: wake this one now, under the lock (signal never blocks)
        w->trigger.signal();
      }
    }
  }
  for (const Trigger& t : wake) t.signal();
}

}  // namespace picos::sync
