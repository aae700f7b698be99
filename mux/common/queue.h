// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/queue.h — the intrusive FIFO of fiber records that schedulers share.
//
// `Queue<T>` links records through their `T* next` member: pushing and popping never
// allocate, so a resume action (which must not fail) can always enqueue a fiber. Push at
// either end (the head is for fibers resumed because they were canceled), pop from the head
// (nullptr when empty), splice a whole queue onto the back. Not thread-safe: the owner guards
// it (a scheduler's thread, a spin lock, a mutex). A record is in at most one queue at a time.
//
// A record that is in no queue has `next == nullptr` (records start that way; pop clears it).
// Debug builds check the invariants on every operation (PICOS_DCHECK, as Boost.Fiber asserts
// on its ready queues): a record pushed while it is queued (in the middle of a queue, or at
// either end of this one), a queue spliced onto itself, head and tail out of step.

#ifndef PICOS_MUX_COMMON_QUEUE_H_
#define PICOS_MUX_COMMON_QUEUE_H_

#include "picos/internal/dcheck.h"

namespace picos::mux::common {

template <typename T>
class Queue {
 public:
  bool empty() const noexcept {
    PICOS_DCHECK((head_ == nullptr) == (tail_ == nullptr));
    return head_ == nullptr;
  }

  void push_back(T* r) noexcept {
    check_unqueued(r);
    r->next = nullptr;
    if (tail_) {
      tail_->next = r;
    } else {
      head_ = r;
    }
    tail_ = r;
  }

  void push_front(T* r) noexcept {
    check_unqueued(r);
    r->next = head_;
    head_ = r;
    if (!tail_) tail_ = r;
  }

  // The oldest record, or nullptr if the queue is empty.
  T* pop() noexcept {
    T* r = head_;
    if (r) {
      head_ = r->next;
      if (!head_) {
        PICOS_DCHECK(r == tail_);
        tail_ = nullptr;
      }
      r->next = nullptr;  // in no queue now
    } else {
      PICOS_DCHECK(tail_ == nullptr);
    }
    return r;
  }

  // Moves all of `o` to the back of this queue; `o` is left empty.
  void splice_back(Queue& o) noexcept {
    PICOS_DCHECK(&o != this);
    if (o.empty()) return;
    PICOS_DCHECK(o.tail_->next == nullptr);
    if (tail_) {
      PICOS_DCHECK(tail_->next == nullptr);
      tail_->next = o.head_;
    } else {
      head_ = o.head_;
    }
    tail_ = o.tail_;
    o.head_ = o.tail_ = nullptr;
  }

  // Forgets every record (they are not touched: their links are stale, and they must not be
  // pushed again).
  void clear() noexcept { head_ = tail_ = nullptr; }

 private:
  // A record being pushed must be in no queue: not linked to a successor (so not in the
  // middle of any queue), and not this queue's head or tail.
  void check_unqueued(const T* r) const noexcept {
    PICOS_DCHECK(r != nullptr);
    PICOS_DCHECK(r->next == nullptr);
    PICOS_DCHECK(r != head_ && r != tail_);
    PICOS_DCHECK((head_ == nullptr) == (tail_ == nullptr));
  }

  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace picos::mux::common

#endif  // PICOS_MUX_COMMON_QUEUE_H_
