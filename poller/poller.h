// Copyright 2026 The Picos for C++ Authors.
//
// poller/poller.h — the reactor a scheduler owns, epoll or io_uring, chosen when it is
// constructed: `Poller` (one thread at a time polls: fifo; randos holds an EpollPoller directly)
// and `SharedPoller` (several threads may try, one polls: multififo's workers). Both have
// EpollPoller's calls (add/remove/forget as the Reactor, waiting, poll, wake, start, unregister,
// count_waits_in) and forward each to the poller chosen, so a scheduler changes only its
// member's type and construction:
//
//   internal::Poller poller_{options.reactor};   // instead of internal::EpollPoller
//   Reactor* reactor() noexcept override { return &poller_; }
//
// The choice (resolve_reactor): ReactorKind::kDefault reads PICOS_REACTOR (`epoll`,
// `io_uring`; anything else prints one line and means epoll), kIoUring becomes kEpoll where
// UringPoller::available() is false, with one line to stderr per process naming why.
// The thread contract, costs and guarantees are those of the poller chosen
// (poller/epoll_poller.h, poller/uring_poller.h); forwarding adds a predictable branch.
// Nothing is allocated before the first add(), whichever is chosen.

#ifndef PICOS_POLLER_POLLER_H_
#define PICOS_POLLER_POLLER_H_

#include <atomic>

#include "picos/reactor.h"
#include "poller/epoll_poller.h"
#include "poller/reactor_kind.h"
#include "poller/uring_poller.h"

namespace picos::internal {

// kEpoll or kIoUring: what a scheduler asking for `requested` gets in this process (see
// above). Prints at most one line to stderr per process for each reason. Any thread.
ReactorKind resolve_reactor(ReactorKind requested) noexcept;

class Poller final : public Reactor {
 public:
  explicit Poller(ReactorKind requested = ReactorKind::kDefault) noexcept
      : uring_(resolve_reactor(requested) == ReactorKind::kIoUring) {}

  // kEpoll or kIoUring.
  ReactorKind kind() const noexcept { return uring_ ? ReactorKind::kIoUring : ReactorKind::kEpoll; }

  void add(FdInterest& w) override { uring_ ? uring_poller_.add(w) : epoll_poller_.add(w); }
  void remove(FdInterest& w) noexcept override {
    uring_ ? uring_poller_.remove(w) : epoll_poller_.remove(w);
  }
  void forget(int fd) noexcept override {
    uring_ ? uring_poller_.forget(fd) : epoll_poller_.forget(fd);
  }
  // Completion-based operations: io_uring's; epoll keeps the readiness path (the default).
  bool start_operation(FdOperation& op) override {
    return uring_ && uring_poller_.start_operation(op);
  }
  void cancel_operation(FdOperation& op, const Trigger& done) noexcept override {
    uring_ ? uring_poller_.cancel_operation(op, done) : done.signal();
  }

  bool waiting() const noexcept {
    return uring_ ? uring_poller_.waiting() : epoll_poller_.waiting();
  }
  int poll(long long timeout_ns) noexcept {
    return uring_ ? uring_poller_.poll(timeout_ns) : epoll_poller_.poll(timeout_ns);
  }
  void wake() noexcept { uring_ ? uring_poller_.wake() : epoll_poller_.wake(); }
  void start() { uring_ ? uring_poller_.start() : epoll_poller_.start(); }
  void unregister() noexcept { uring_ ? uring_poller_.unregister() : epoll_poller_.unregister(); }
  // See EpollPoller::count_waits_in.
  void count_waits_in(Counter* c) noexcept {
    epoll_poller_.count_waits_in(c);
    uring_poller_.count_waits_in(c);
  }

 private:
  const bool uring_;
  EpollPoller epoll_poller_;  // the one not chosen stays empty: no allocation, no descriptor
  UringPoller uring_poller_;
};

// Poller for several threads that may all try to poll: one at a time polls, the others
// return -1 at once (as LockedPoller, poller/epoll_poller.h).
class SharedPoller final : public Reactor {
 public:
  explicit SharedPoller(ReactorKind requested = ReactorKind::kDefault) noexcept
      : poller_(requested) {}

  ReactorKind kind() const noexcept { return poller_.kind(); }

  void add(FdInterest& w) override { poller_.add(w); }
  void remove(FdInterest& w) noexcept override { poller_.remove(w); }
  void forget(int fd) noexcept override { poller_.forget(fd); }
  bool start_operation(FdOperation& op) override { return poller_.start_operation(op); }
  void cancel_operation(FdOperation& op, const Trigger& done) noexcept override {
    poller_.cancel_operation(op, done);
  }

  bool waiting() const noexcept { return poller_.waiting(); }
  // Returns how many interests it completed, or -1 at once if another thread is polling.
  int poll(long long timeout_ns) noexcept {
    if (polling_.exchange(true, std::memory_order_acquire)) return -1;
    const int completed = poller_.poll(timeout_ns);
    polling_.store(false, std::memory_order_release);
    return completed;
  }
  void wake() noexcept { poller_.wake(); }
  void start() { poller_.start(); }
  void unregister() noexcept { poller_.unregister(); }
  void count_waits_in(Counter* c) noexcept { poller_.count_waits_in(c); }

 private:
  Poller poller_;
  std::atomic<bool> polling_{false};
};

}  // namespace picos::internal

#endif  // PICOS_POLLER_POLLER_H_
