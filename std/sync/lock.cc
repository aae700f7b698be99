// Copyright 2026 The Picos for C++ Authors.
//
// The Lock word (a classic three-state futex lock plus a poison bit):
//   0             free
//   kLocked       held, nobody waits
//   kContended    held, and fibers may be waiting: the releaser must signal
//   | kPoisoned   poisoned (kept with the held state forever)
// A fiber sleeps only while the word is exactly kContended, and whoever turns it into
// kContended, or takes the lock after having slept, leaves it kContended, so the next release
// signals. A waiter that was signaled and canceled at the same instant forwards the signal
// (Awaitable::await does that), so a hand-off is never lost.

#include "std/sync/lock.h"

#include <stdexcept>

#include "picos/debug.h"
#include "picos/fiber.h"

namespace picos::sync {
namespace {

constexpr std::int64_t kLocked = 1;
constexpr std::int64_t kContended = 2;
constexpr std::int64_t kPoisoned = 4;

}  // namespace

void Lock::acquire() {
  // A CAS from an assumed 0, not a load first (as Mutex::lock and Rwlock::acquire_shared do):
  // a barging lock is mostly found free (a release leaves it so, its woken waiter retries
  // later), and the load cost the uncontended pair 0.6 ns of 10 with no gain in the
  // contended benchmark (docs/benchmarks.md, std/sync).
  std::int64_t s = 0;
  if (state_.compare_exchange(s, kLocked)) return;
  for (;;) {
    if (s & kPoisoned) throw Poisoned("picos::sync::Lock::acquire: poisoned");
    if (s == 0) {
      // Take it as contended: we may have slept, and others may still sleep.
      if (state_.compare_exchange(s, kContended)) return;
      continue;
    }
    if (s == kLocked && !state_.compare_exchange(s, kContended)) continue;
    state_.await(kContended);  // cancelation point
    s = state_.load();
  }
}

bool Lock::try_acquire() {
  std::int64_t s = 0;
  for (;;) {
    if (state_.compare_exchange(s, kLocked)) return true;
    if (s & kPoisoned) throw Poisoned("picos::sync::Lock::try_acquire: poisoned");
    if (s != 0) return false;
  }
}

void Lock::release() {
  std::int64_t s = state_.load();
  for (;;) {
    if (s & kPoisoned) return;
    if (s == 0) throw std::logic_error("picos::sync::Lock::release: not locked");
    if (state_.compare_exchange(s, 0)) break;
  }
  if (s == kContended) (void)state_.signal();
}

void Lock::poison() {
  std::int64_t s = state_.load();
  for (;;) {
    if (s & kPoisoned) return;
    if (s == 0) throw std::logic_error("picos::sync::Lock::poison: not locked");
    if (state_.compare_exchange(s, s | kPoisoned)) break;
  }
  (void)state_.broadcast();
}

void Lock::poison_on_exception() noexcept {
  // Also when `f` released the lock: the guarded state is broken either way.
  state_.fetch_or(kPoisoned | kLocked);
  (void)state_.broadcast();
}

bool Lock::is_locked() const noexcept { return state_.load() != 0; }

bool Lock::is_poisoned() const noexcept { return (state_.load() & kPoisoned) != 0; }

namespace lock_internal {

void condition_wait(awaitable::Awaitable& cond, void* lock, void (*release)(void*),
                    void (*reacquire)(void*)) {
  Trigger trigger;
  awaitable::Awaiter node(cond, trigger);
  release(lock);  // throws on misuse: the Awaiter's destructor unqueues us
  static constexpr debug::WaitKind kWait{"condition", "wait"};
  trigger.set_wait_label(kWait, &cond);
  std::exception_ptr reason = trigger.await();
  const bool consumed = !node.remove();
  if (reason && consumed) (void)cond.signal();  // the signal was meant for someone
  Fiber::current().forbid([&] { reacquire(lock); });
  if (reason) std::rethrow_exception(reason);
}

}  // namespace lock_internal

void LockCondition::wait(Lock& lock) {
  const std::int64_t s = lock.state_.load();
  if (s & kPoisoned) throw Poisoned("picos::sync::Lock::Condition::wait: poisoned");
  if (s == 0) throw std::logic_error("picos::sync::Lock::Condition::wait: not locked");
  wait_on(lock);
}

}  // namespace picos::sync
