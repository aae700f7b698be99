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

namespace picos::sync {

struct Waiter {
  Trigger trigger;
  const Fiber* fiber = nullptr;  // who waits (for owner hand-off)
  bool granted = false;          // the waker handed over what was waited for
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool linked = false;
};

class WaiterList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }

  void push_back(Waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_) {
      tail_->next = w;
    } else {
      head_ = w;
    }
    tail_ = w;
    w->linked = true;
  }

  // The oldest waiter, unlinked, or nullptr.
  Waiter* pop_front() noexcept {
    Waiter* w = head_;
    if (w) remove(w);
    return w;
  }

  // Unlinks `w` if it is still linked.
  void remove(Waiter* w) noexcept {
    if (!w->linked) return;
    if (w->prev) {
      w->prev->next = w->next;
    } else {
      head_ = w->next;
    }
    if (w->next) {
      w->next->prev = w->prev;
    } else {
      tail_ = w->prev;
    }
    w->prev = w->next = nullptr;
    w->linked = false;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_WAITERS_H_
