// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/rwlock.h — a slim, poisonable, freezable readers-writer lock for fibers.
//
// `picos::sync::Rwlock` admits either one exclusive holder (a writer) or any number of shared
// holders (readers). Its state is one Awaitable word, plus a Lock that queues writers (16
// bytes in all); it suspends fibers, not OS threads. Like picos::sync::Lock it is unfair and
// has no owner checks:
//
//  - Unfair: readers are admitted whenever no writer holds the lock, so a steady stream of
//    readers can starve writers. Writers queue on an internal Lock, so a release wakes at
//    most one writer (plus every waiting reader: they can all proceed together).
//  - No owner checks: any fiber may release a hold; releasing a hold that does not exist
//    (exclusive release when not write-locked, shared release with no shared hold) throws
//    std::logic_error.
//  - Poisonable: `poison()` by the exclusive holder (or a `holding` section that exits by an
//    exception) leaves the lock write-locked forever: every acquire, shared or exclusive,
//    current waiters included, throws Poisoned; releases are no-ops; `is_locked()` is true
//    and `is_locked_shared()` false.
//  - Freezable: `freeze()` (when no writer holds it) leaves the lock read-locked forever: shared
//    holds keep working (acquire_shared/release_shared succeed), every exclusive acquire
//    (waiting writers included) throws Frozen, `is_frozen()` and `is_locked_shared()` are
//    true. Freezing is how read-only state is published for good.
//  - Models Lockable and SharedLockable (`lock`/`unlock`/`try_lock`, `lock_shared`/
//    `unlock_shared`/`try_lock_shared`): std::lock_guard, std::unique_lock, std::scoped_lock
//    and std::shared_lock work.
//
// Cancelation: `acquire` and `acquire_shared` are cancelation points only when they have to
// wait: a canceled waiter leaves the queue and throws the fiber's reason without the lock (a
// fiber that is already canceled still takes an available lock). A wake-up that raced with
// the cancelation is passed on. `release`, `release_shared`, `freeze`, `poison`, `signal` and
// `broadcast` are never cancelation points and never throw in a canceled fiber.
//
// Errors (what() names the operation, e.g. "picos::sync::Rwlock::acquire: frozen"):
//  - Poisoned: any acquire / try_acquire (shared or not) / Condition wait on a poisoned lock;
//    `freeze` of a poisoned lock.
//  - Frozen: acquire / try_acquire / Condition::wait (exclusive) on a frozen lock.
//  - std::logic_error: `release` when not write-locked, `release_shared` with no shared hold,
//    `poison` when not write-locked, `freeze` while write-locked; nothing changes.
//
// Cost: uncontended acquire_shared/release_shared is one CAS each (acquire_shared loads the
// word first, so that readers already in do not make it fail one), acquire/release two (the
// writers' gate, then the word); a waiter suspends on an Awaitable (one trigger allocation).

#ifndef PICOS_STD_SYNC_RWLOCK_H_
#define PICOS_STD_SYNC_RWLOCK_H_

#include <cstdint>
#include <mutex>         // std::lock_guard, std::unique_lock, std::scoped_lock
#include <shared_mutex>  // std::shared_lock
#include <utility>

#include "std/awaitable/awaitable.h"
#include "std/sync/errors.h"
#include "std/sync/lock.h"

namespace picos::sync {

class RwlockCondition;

class Rwlock : public lock_internal::Exclusive<Rwlock> {
 public:
  using Condition = RwlockCondition;

  Rwlock() noexcept = default;
  Rwlock(const Rwlock&) = delete;
  Rwlock& operator=(const Rwlock&) = delete;
  // Destroying an Rwlock that fibers wait for is undefined.
  ~Rwlock() = default;

  // ---- exclusive (writer) holds --------------------------------------------------------

  // Acquires the lock exclusively, waiting while it has any holder. Throws Poisoned or
  // Frozen (also if that happens while waiting), or the fiber's cancelation reason.
  void acquire();
  // Acquires exclusively if there is no holder; never suspends. Throws Poisoned / Frozen.
  bool try_acquire();
  // Releases the exclusive hold and wakes the waiters. No-op if poisoned; std::logic_error
  // if not write-locked.
  void release();
  // Poisons the lock; the caller must hold it exclusively (std::logic_error otherwise; a
  // no-op if already poisoned). Wakes every waiter; they throw Poisoned.
  void poison();

  // ---- shared (reader) holds ---------------------------------------------------------

  // Acquires a shared hold, waiting while a writer holds the lock. Throws Poisoned or the
  // fiber's cancelation reason. Works on a frozen lock.
  void acquire_shared();
  // Acquires a shared hold if no writer holds the lock; never suspends. Throws Poisoned.
  bool try_acquire_shared();
  // Releases one shared hold; the last one wakes waiting writers. No-op if poisoned;
  // std::logic_error if there is no shared hold.
  void release_shared();
  // Freezes the lock (see above): from now on it counts as read-locked forever, on top of
  // the shared holds that exist (each still released by its holder). Wakes waiting writers
  // (they throw Frozen). Idempotent. Throws Poisoned if poisoned and std::logic_error if a
  // writer holds the lock (freezing would have to wait: acquire_shared first). Never
  // suspends, never a cancelation point.
  void freeze();

  // ---- state (racy snapshots) -------------------------------------------------------
  bool is_locked() const noexcept;         // write-locked, or poisoned
  bool is_locked_shared() const noexcept;  // has shared holds, or frozen
  bool is_frozen() const noexcept;
  bool is_poisoned() const noexcept;

  // ---- scoped helpers ---------------------------------------------------------------

  // holding(f) (holds the lock exclusively; if `f` throws, the lock is poisoned, not
  // released, and the exception propagates), protect(f) (holds it exclusively and releases
  // it however `f` exits) and lock / unlock / try_lock: see lock_internal::Exclusive.

  // Runs `f()` with a shared hold and releases it however `f` exits.
  template <typename F>
  decltype(auto) sharing(F&& f) {
    acquire_shared();
    lock_internal::ScopeExit exit(
        [this] { release_shared(); },
        [this] { lock_internal::release_after_throw([this] { release_shared(); }); });
    return std::forward<F>(f)();
  }

  // SharedLockable names.
  void lock_shared() { acquire_shared(); }
  void unlock_shared() { release_shared(); }
  bool try_lock_shared() { return try_acquire_shared(); }

 private:
  friend class RwlockCondition;
  friend class lock_internal::Exclusive<Rwlock>;
  void poison_on_exception() noexcept;

  bool enter_writers(bool wait);
  void wait_for_change(std::int64_t& s);

  Lock writers_;                   // writers queue here, one at a time past it
  awaitable::Awaitable state_{0};  // see rwlock.cc for the encoding
};

// A condition variable for Rwlock, with the contract of Lock::Condition (see lock.h):
// `wait` releases the exclusive hold and re-acquires it exclusively; `wait_shared` releases
// a shared hold and re-acquires a shared hold. Both always return or throw with the hold
// re-acquired (re-acquisition runs with cancelation forbidden), except when re-acquiring
// throws Poisoned or (for `wait`) Frozen. Both are cancelation points; a consumed signal of a
// canceled waiter is forwarded. Errors: Poisoned / Frozen as for acquire; std::logic_error
// if the corresponding hold does not exist (nothing queued). `signal` / `broadcast` are never
// cancelation points and never throw.
class RwlockCondition : public lock_internal::ConditionQueue {
 public:
  RwlockCondition() noexcept = default;

  void wait(Rwlock& lock);
  void wait_shared(Rwlock& lock);

  template <typename Pred>
  void wait(Rwlock& lock, Pred pred) {
    while (!pred()) wait(lock);
  }
  template <typename Pred>
  void wait_shared(Rwlock& lock, Pred pred) {
    while (!pred()) wait_shared(lock);
  }

  // signal() and broadcast(): see lock_internal::ConditionQueue.
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_RWLOCK_H_
