// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/waiters.h — the wait queue the sync primitives share.
//
// A `Waiter` lives on the waiting fiber's stack for the duration of one wait: a trigger to
// await, and the links of an intrusive doubly-linked FIFO, so that a canceled waiter unlinks
// itself in O(1) and nothing is allocated per waiter beyond its trigger. The owner of a
// `WaiterList` guards it with its own lock. Whoever wakes a waiter must read everything it
// needs from the node *before* signaling its trigger: once signaled, the waiter may return
// and its node (on its stack) is gone.
//
// Wakers signal under the owner's lock, through the node (grant_locked; Channel's
// finish_locked likewise), never through a copy of the handle signaled after unlocking (an
// atomic increment and decrement per hand-off). That is safe because a waiter woken by the
// signal may return at once, but Trigger::signal touches nothing once the resume action has
// run, and a canceled waiter takes the lock (to unlink itself) before its node goes, so it
// waits for the signal to finish (docs/sync.md, the hazard section).

#ifndef PICOS_STD_SYNC_WAITERS_H_
#define PICOS_STD_SYNC_WAITERS_H_

#include "picos/fiber.h"
#include "picos/trigger.h"
#include "std/awaitable/intrusive_list.h"

namespace picos::sync {

struct Waiter {
  Trigger trigger;
  const Fiber* fiber = nullptr;  // who waits (for owner hand-off)
  bool granted = false;          // the waker handed over what was waited for
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool linked = false;
};

// Waiters, oldest first: push_back, pop_front (the oldest, unlinked, or nullptr), remove
// (unlinks a waiter if it is still linked), empty, front.
using WaiterList = awaitable_internal::IntrusiveList<Waiter>;

// Wakes `w`, which the caller took off its list under the owner's lock and still holds it:
// marks it granted (what it waited for was handed over) and signals its trigger (see the top).
inline void grant_locked(Waiter& w) noexcept {
  w.granted = true;
  w.trigger.signal();
}

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_WAITERS_H_
