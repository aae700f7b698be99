// Copyright 2026 The Picos for C++ Authors.
//
// poller/waiter_list.h — the per-descriptor intrusive list a poller keeps of what waits on a
// descriptor (FdInterest, and UringPoller's FdOperation), threaded through the item's
// reactor_data: [0] next, [1] prev, [2] the item itself while it is listed (null otherwise).
// The poller's mutex guards every call. Internal to //poller.

#ifndef PICOS_POLLER_WAITER_LIST_H_
#define PICOS_POLLER_WAITER_LIST_H_

namespace picos::internal::waiter_list {

template <typename T>
T*& next_of(T& w) noexcept {
  return reinterpret_cast<T*&>(w.reactor_data[0]);
}
template <typename T>
T*& prev_of(T& w) noexcept {
  return reinterpret_cast<T*&>(w.reactor_data[1]);
}
template <typename T>
bool listed(const T& w) noexcept {
  return w.reactor_data[2] != nullptr;
}

// Puts `w` (not listed) first in the list at `head`.
template <typename T>
void push_front(T*& head, T& w) noexcept {
  next_of(w) = head;
  prev_of(w) = nullptr;
  if (head) prev_of(*head) = &w;
  head = &w;
  w.reactor_data[2] = &w;
}

// Takes `w` (listed) out of the list at `head`.
template <typename T>
void erase(T*& head, T& w) noexcept {
  if (prev_of(w)) {
    next_of(*prev_of(w)) = next_of(w);
  } else {
    head = next_of(w);
  }
  if (next_of(w)) prev_of(*next_of(w)) = prev_of(w);
  w.reactor_data[2] = nullptr;
}

}  // namespace picos::internal::waiter_list

#endif  // PICOS_POLLER_WAITER_LIST_H_
