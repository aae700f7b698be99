// Copyright 2026 The Picos for C++ Authors.

#include "std/sync/condition.h"

#include <exception>
#include <mutex>

#include "absl/container/inlined_vector.h"
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
  // Made in place by the lambda's return (as in Mutex::unlock), run after the unlock.
  Trigger::Wake wake = [this] {
    internal::SpinLockGuard guard(lock_);
    Waiter* w = waiters_.pop_front();
    if (!w) return Trigger::Wake();
    w->granted = true;
    // Resumed after the unlock; its node stays valid until then (Trigger::signal_deferred).
    return w->trigger.signal_deferred();
  }();
  wake.run();
}

void Condition::broadcast() noexcept {
  // The first eight resumes never allocate. That matters when memory runs out: a waiter
  // resumed under the lock may free the condition before we unlock it, unless another waiter
  // is still blocked on it (freeing a condition waited on is the user's error), and the
  // waiters of the inline resumes stay blocked until after the unlock.
  absl::InlinedVector<Trigger::Wake, 8> wake;  // up to eight waiters without a malloc
  {
    internal::SpinLockGuard guard(lock_);
    while (Waiter* w = waiters_.pop_front()) {
      w->granted = true;
      Trigger::Wake one = w->trigger.signal_deferred();  // resumed after the unlock
      try {
        wake.push_back(std::move(one));
      } catch (...) {
        one.run();  // out of memory: resume this one now, under the lock (see above)
      }
    }
  }
  for (Trigger::Wake& w : wake) w.run();
}

}  // namespace picos::sync
