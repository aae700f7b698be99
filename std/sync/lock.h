// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/lock.h — a slim, poisonable fiber lock and its condition variable.
//
// `picos::sync::Lock` is a mutual-exclusion lock kept in one Awaitable word (8 bytes). It
// suspends the waiting *fiber*, never the OS thread (on a thread without a scheduler the
// thread is one implicit fiber and blocks). Compared with picos::sync::Mutex it trades
// fairness and owner checks for size and speed, and adds poisoning:
//
//  - Unfair: a fiber that arrives while the lock is free takes it even if others are queued;
//    `release` wakes one waiter, which then competes again. Waiters are woken oldest first.
//  - No owner checks: any fiber may `release` a held Lock (also one it did not acquire), and
//    re-acquiring a Lock the fiber holds deadlocks. Releasing a Lock that is not held at all
//    is detected: std::logic_error.
//  - Poisonable: `poison()` (or a `holding` section that exits by an exception) declares the
//    guarded state broken. From then on the Lock stays locked forever: every `acquire` and
//    `try_acquire`, including those already waiting, throws picos::sync::Poisoned;
//    `release` is a no-op; `is_locked()` and `is_poisoned()` are true.
//  - Models Lockable (`lock`, `unlock`, `try_lock`): std::lock_guard, std::unique_lock and
//    std::scoped_lock work.
//
// Cancelation: `acquire` is a cancelation point only when it has to wait. A canceled waiter
// leaves the queue and throws its fiber's cancelation reason without the lock; a wake-up that
// raced with the cancelation is passed on to another waiter, so a second waiter always gets
// the lock. A fiber that is already canceled still takes a *free* Lock (no suspension, no
// check); it throws its reason, without waiting, only when the Lock is held. `release`,
// `poison`, `signal` and `broadcast` are never cancelation points and never throw in a
// canceled fiber.
//
// Errors (what() names the operation, e.g. "picos::sync::Lock::acquire: poisoned"):
//  - Poisoned: acquire/try_acquire/lock/try_lock/Condition::wait on a poisoned Lock.
//  - std::logic_error: release or poison of a Lock that is not locked (nothing changes);
//    Condition::wait with the Lock not locked (nothing is queued).
//
// Cost: uncontended acquire + release are one CAS each; a contended acquire suspends on the
// Lock's Awaitable (one trigger allocation, see std/awaitable/awaitable.h).

#ifndef PICOS_STD_SYNC_LOCK_H_
#define PICOS_STD_SYNC_LOCK_H_

#include <cstdint>
#include <exception>
#include <mutex>  // std::lock_guard, std::unique_lock, std::scoped_lock
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "std/awaitable/awaitable.h"
#include "std/sync/errors.h"

namespace picos::sync {

class LockCondition;

namespace lock_internal {

// Runs `on_return` when the scope is left normally and `on_throw` when it is left by an
// exception (detected with std::uncaught_exceptions). `on_return` may throw.
template <typename OnReturn, typename OnThrow>
class ScopeExit {
 public:
  ScopeExit(OnReturn r, OnThrow t) : on_return_(std::move(r)), on_throw_(std::move(t)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() noexcept(false) {
    if (std::uncaught_exceptions() > exceptions_) {
      on_throw_();
    } else {
      on_return_();
    }
  }

 private:
  OnReturn on_return_;
  OnThrow on_throw_;
  int exceptions_ = std::uncaught_exceptions();
};

// The condition-variable wait shared by Lock::Condition and Rwlock::Condition: queues an
// Awaiter on `cond`, calls `release(lock)` (which may throw: nothing stays queued), awaits,
// then calls `reacquire(lock)` with cancelation forbidden; if the fiber was canceled it
// forwards a consumed signal and throws the reason.
void condition_wait(awaitable::Awaitable& cond, void* lock, void (*release)(void*),
                    void (*reacquire)(void*));

// Calls `release()` on the way out of a section that threw, dropping the std::logic_error of
// a hold that `f` released itself: the section's own exception is the one that propagates.
template <typename Release>
void release_after_throw(Release release) noexcept {
  try {
    release();
  } catch (const std::logic_error&) {
  }
}

// The exclusive-hold helpers Lock and Rwlock share, written once on L's acquire / release /
// try_acquire and its private poison_on_exception (L befriends this class).
template <typename L>
class Exclusive {
 public:
  // Runs `f()` with the lock held (exclusively) and returns its result. If `f` throws
  // (including a cancelation reason thrown inside it), the lock is *poisoned*, not released,
  // and the exception propagates: the state it guards is considered broken.
  template <typename F>
  decltype(auto) holding(F&& f) {
    self().acquire();
    ScopeExit exit([this] { self().release(); }, [this] { self().poison_on_exception(); });
    return std::forward<F>(f)();
  }

  // Runs `f()` with the lock held (exclusively) and releases it however `f` exits.
  template <typename F>
  decltype(auto) protect(F&& f) {
    self().acquire();
    ScopeExit exit([this] { self().release(); },
                   [this] { release_after_throw([this] { self().release(); }); });
    return std::forward<F>(f)();
  }

  // Lockable names (std::lock_guard etc.): the same as acquire / release / try_acquire.
  void lock() { self().acquire(); }
  void unlock() { self().release(); }
  bool try_lock() { return self().try_acquire(); }

 private:
  L& self() { return static_cast<L&>(*this); }
};

// What Lock::Condition and Rwlock::Condition share: the queue of waiters (an Awaitable whose
// value never changes), signal and broadcast, and the wait on the queue.
class ConditionQueue {
 public:
  ConditionQueue(const ConditionQueue&) = delete;
  ConditionQueue& operator=(const ConditionQueue&) = delete;

  // Wakes the oldest waiter, if any.
  void signal() noexcept { (void)queue_.signal(); }
  // Wakes every current waiter.
  void broadcast() noexcept { (void)queue_.broadcast(); }

 protected:
  ConditionQueue() noexcept = default;
  // Destroying a condition that fibers wait on is undefined.
  ~ConditionQueue() = default;

  // condition_wait on this queue, releasing and re-acquiring `lock` with L's release and
  // acquire (kShared: release_shared and acquire_shared).
  template <bool kShared = false, typename L>
  void wait_on(L& lock) {
    if constexpr (kShared) {
      condition_wait(
          queue_, &lock, [](void* l) { static_cast<L*>(l)->release_shared(); },
          [](void* l) { static_cast<L*>(l)->acquire_shared(); });
    } else {
      condition_wait(
          queue_, &lock, [](void* l) { static_cast<L*>(l)->release(); },
          [](void* l) { static_cast<L*>(l)->acquire(); });
    }
  }

 private:
  awaitable::Awaitable queue_{0};
};

}  // namespace lock_internal

class Lock : public lock_internal::Exclusive<Lock> {
 public:
  using Condition = LockCondition;

  Lock() noexcept = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  // Destroying a Lock that fibers wait for is undefined.
  ~Lock() = default;

  // Acquires the lock, suspending the current fiber while it is held. Throws Poisoned if the
  // lock is (or becomes, while waiting) poisoned, and the fiber's cancelation reason (without
  // the lock) if canceled while it has to wait. Any fiber.
  void acquire();

  // Acquires the lock if it is free; never suspends, never checks cancelation. Returns false
  // if it is held; throws Poisoned if poisoned.
  bool try_acquire();

  // Releases the lock and wakes one waiter, if any. Any fiber (no owner check). A no-op on a
  // poisoned lock; std::logic_error if the lock is not locked. Never a cancelation point.
  void release();

  // Poisons the held lock (see above) and wakes every waiter, which throw Poisoned. The lock
  // stays locked. std::logic_error if it is not locked; a no-op if already poisoned. Never a
  // cancelation point.
  void poison();

  // Racy snapshots, for assertions and diagnostics. A poisoned lock is locked.
  bool is_locked() const noexcept;
  bool is_poisoned() const noexcept;

  // holding(f) (poisons the lock if `f` throws), protect(f) (releases it however `f`
  // exits) and the Lockable names lock / unlock / try_lock: see lock_internal::Exclusive.

 private:
  friend class LockCondition;
  friend class lock_internal::Exclusive<Lock>;
  void poison_on_exception() noexcept;

  awaitable::Awaitable state_{0};  // see lock.cc for the encoding
};

// A condition variable for Lock. Waiters are woken oldest first.
//  - `wait(lock)` releases the lock, suspends until `signal` or `broadcast` wakes the fiber,
//    then re-acquires the lock. It always returns or throws with the lock held again: the
//    re-acquisition runs with cancelation forbidden (Fiber::forbid). The only exception is
//    Poisoned: a lock poisoned meanwhile is never released again, so "held" is moot.
//  - `wait` is a cancelation point: canceled (while waiting, or already canceled when it is
//    called) it leaves the queue, re-acquires the lock and throws the reason. If a `signal`
//    chose it at the same moment, the signal is forwarded to the next waiter, so a consumed
//    signal is not lost.
//  - Spurious wake-ups may happen (after a forwarded signal): wait in a loop on a predicate
//    or use `wait(lock, pred)`.
//  - Errors: Poisoned if the lock is poisoned (before waiting, or when re-acquiring);
//    std::logic_error if the lock is not locked (nothing queued). Waiting on a lock held by
//    another fiber cannot be detected (no owner) and is a bug.
//  - `signal` and `broadcast` need not hold the lock, are never cancelation points and never
//    throw. Any fiber or thread.
class LockCondition : public lock_internal::ConditionQueue {
 public:
  LockCondition() noexcept = default;

  void wait(Lock& lock);

  // Waits until `pred()` holds (evaluated with the lock held before each wait).
  template <typename Pred>
  void wait(Lock& lock, Pred pred) {
    while (!pred()) wait(lock);
  }

  // signal() and broadcast(): see lock_internal::ConditionQueue.
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_LOCK_H_
