// Copyright 2026 The Picos for C++ Authors.
//
// std/awaitable/intrusive_list.h — the intrusive doubly-linked FIFO of waiter nodes that the
// parking lot (awaitable.cc) and std/sync's WaiterList (std/sync/waiters.h) are built on.
// Not API. The node lives with its waiter (on its stack): linking and unlinking allocate
// nothing, and a waiter that leaves early (canceled) unlinks itself in O(1). The owner guards
// the list with its own lock.

#ifndef PICOS_STD_AWAITABLE_INTRUSIVE_LIST_H_
#define PICOS_STD_AWAITABLE_INTRUSIVE_LIST_H_

namespace picos::awaitable_internal {

// `Node` has the members `Node* prev`, `Node* next` and `bool linked` (whether it is in a
// list), initially nullptr, nullptr, false.
template <typename Node>
class IntrusiveList {
 public:
  // constexpr: a list in a static is constant-initialised (usable from static constructors).
  constexpr IntrusiveList() noexcept = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }

  // The oldest node (follow `next` for the rest), or nullptr.
  Node* front() const noexcept { return head_; }

  void push_back(Node* n) noexcept {
    n->next = nullptr;
    n->prev = tail_;
    if (tail_) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
    n->linked = true;
  }

  // The oldest node, unlinked, or nullptr.
  Node* pop_front() noexcept {
    Node* n = head_;
    if (n) remove(n);
    return n;
  }

  // Unlinks `n` if it is still linked.
  void remove(Node* n) noexcept {
    if (!n->linked) return;
    if (n->prev) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->prev = n->next = nullptr;
    n->linked = false;
  }

 private:
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
};

}  // namespace picos::awaitable_internal

#endif  // PICOS_STD_AWAITABLE_INTRUSIVE_LIST_H_
