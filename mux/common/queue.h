// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/queue.h — the intrusive FIFO of fiber records that schedulers share.
//
// `Queue<T>` links records through their `T* next` member: pushing and popping never
// allocate, so a resume action (which must not fail) can always enqueue a fiber. Push at
// either end (the head is for fibers resumed because they were canceled), pop from the head,
// splice a whole queue onto the back. Not thread-safe: the owner guards it (a scheduler's
// thread, a spin lock, a mutex). A record is in at most one queue at a time.

#ifndef PICOS_MUX_COMMON_QUEUE_H_
#define PICOS_MUX_COMMON_QUEUE_H_

namespace picos::mux::common {

template <typename T>
class Queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }

  void push_back(T* r) noexcept {
    r->next = nullptr;
    if (tail_) {
      tail_->next = r;
    } else {
      head_ = r;
    }
    tail_ = r;
  }

  void push_front(T* r) noexcept {
    r->next = head_;
    head_ = r;
    if (!tail_) tail_ = r;
  }

  // The oldest record, or nullptr.
  T* pop() noexcept {
    T* r = head_;
    if (r) {
      head_ = r->next;
      if (!head_) tail_ = nullptr;
    }
    return r;
  }

  // Moves all of `o` to the back of this queue; `o` is left empty.
  void splice_back(Queue& o) noexcept {
    if (o.empty()) return;
    if (tail_) {
      tail_->next = o.head_;
    } else {
      head_ = o.head_;
    }
    tail_ = o.tail_;
    o.head_ = o.tail_ = nullptr;
  }

  // Forgets every record (they are not touched).
  void clear() noexcept { head_ = tail_ = nullptr; }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace picos::mux::common

#endif  // PICOS_MUX_COMMON_QUEUE_H_
