// Copyright 2026 The Picos for C++ Authors.

#include "std/sync/semaphore.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

#include "absl/container/inlined_vector.h"
#include "picos/debug.h"

namespace picos::sync {

Semaphore::Semaphore(std::int64_t initial) : count_(initial) {
  if (initial < 0) {
    throw std::invalid_argument("picos::sync::Semaphore: negative initial count " +
                                std::to_string(initial));
  }
}

bool Semaphore::try_acquire() noexcept {
  internal::SpinLockGuard guard(lock_);
  if (count_ == 0) return false;
  --count_;
  return true;
}

void Semaphore::acquire() {
  Waiter w;
  {
    internal::SpinLockGuard guard(lock_);
    if (count_ > 0) {
      --count_;
      return;
    }
    waiters_.push_back(&w);
  }
  static constexpr debug::WaitKind kAcquire{"picos::sync::Semaphore", "acquire"};
  w.trigger.set_wait_label(kAcquire, this);
  std::exception_ptr reason = w.trigger.await();
  if (!reason) return;  // a unit was handed over
  bool granted;
  {
    internal::SpinLockGuard guard(lock_);
    waiters_.remove(&w);
    granted = w.granted;
  }
  if (granted) release(1);  // pass the unit on rather than lose it
  std::rethrow_exception(reason);
}

void Semaphore::release(std::int64_t n) {
  if (n < 0) {
    throw std::invalid_argument("picos::sync::Semaphore::release: negative count " +
                                std::to_string(n));
  }
  // The usual release wakes one: no allocation. When memory runs out, a waiter is resumed
  // under the lock; safe because the eight inline resumes' waiters stay blocked until after the
  // unlock, so nobody may free the semaphore yet (Condition::broadcast says more).
  absl::InlinedVector<Trigger::Wake, 8> wake;  // up to eight waiters without a malloc
  {
    internal::SpinLockGuard guard(lock_);
    // Waiters exist only while the count is zero, so only a release with no waiter can
    // overflow: check before changing anything.
    if (waiters_.empty() && n > kMax - count_) {
      throw std::overflow_error("picos::sync::Semaphore::release: count would overflow");
    }
    std::int64_t left = n;
    while (left > 0 && !waiters_.empty()) {
      Waiter* w = waiters_.pop_front();
      w->granted = true;
      Trigger::Wake one = w->trigger.signal_deferred();  // resumed after the unlock
      try {
        wake.push_back(std::move(one));
      } catch (...) {
        one.run();  // out of memory: resume it now, under the lock (see above)
      }
      --left;
    }
    count_ += left;
  }
  for (Trigger::Wake& w : wake) w.run();
}

std::int64_t Semaphore::value() const noexcept {
  internal::SpinLockGuard guard(lock_);
  return count_;
}

}  // namespace picos::sync
