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

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_WAITERS_H_
