// Copyright 2026 The Picos for C++ Authors.

#include "std/sync/mutex.h"

#include <exception>
#include <mutex>
#include <stdexcept>

namespace picos::sync {

bool Mutex::try_lock() noexcept {
  const Fiber* me = checked_ ? &Fiber::current() : nullptr;
  std::lock_guard<internal::SpinLock> guard(lock_);
  if (locked_) return false;
  locked_ = true;
  owner_ = me;
  return true;
}

void Mutex::lock() {
  const Fiber* me = checked_ ? &Fiber::current() : nullptr;
  Waiter w;
  {
    std::lock_guard<internal::SpinLock> guard(lock_);
    if (!locked_) {
      locked_ = true;
      owner_ = me;
      return;
    }
    if (checked_ && owner_ == me) {
      throw std::logic_error("picos::sync::Mutex::lock: the current fiber already holds the mutex");
    }
    w.fiber = me;
    waiters_.push_back(&w);
  }
  std::exception_ptr reason = w.trigger.await();
  if (!reason) return;  // handed over: we hold the mutex (owner_ set by unlock)
  bool granted;
  {
    std::lock_guard<internal::SpinLock> guard(lock_);
    waiters_.remove(&w);
    granted = w.granted;
  }
  // Canceled. If the hand-off won the race, pass the mutex on rather than lose it.
  if (granted) unlock();
  std::rethrow_exception(reason);
}

void Mutex::unlock() {
  const Fiber* me = checked_ ? &Fiber::current() : nullptr;
  Trigger wake;
  {
    std::lock_guard<internal::SpinLock> guard(lock_);
    if (!locked_) throw std::logic_error("picos::sync::Mutex::unlock: the mutex is not locked");
    if (checked_ && owner_ != me) {
      throw std::logic_error("picos::sync::Mutex::unlock: the current fiber does not hold the mutex");
    }
    Waiter* next = waiters_.pop_front();
    if (next == nullptr) {
      locked_ = false;
      owner_ = nullptr;
      return;
    }
    next->granted = true;
    owner_ = next->fiber;  // stays locked: handed over directly
    // Copy the handle: once we unlock, a canceled waiter may see `granted`, pass the mutex
    // on and return, and its node (on its stack) is gone.
    wake = next->trigger;
  }
  wake.signal();
}

}  // namespace picos::sync
