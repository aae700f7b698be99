// Copyright 2026 The Picos for C++ Authors.
//
// poller/epoll_poller.h — an epoll-based Reactor (picos/reactor.h): `EpollPoller`, which
// one thread at a time polls (a single-threaded scheduler's own loop), and `LockedPoller`, the
// same for several threads that may try to poll at once (multififo's workers, //io's default
// reactor thread).
// Shared machinery for schedulers and //io, like timer_heap.h; not part of the core interface.
//
// The scheduler offers it through Handler::reactor(); //io then registers its waits here
// instead of with its default reactor (a background epoll thread whose every wake-up is a
// cross-thread hand-off). The scheduler calls `poll(0)` now and then while it has fibers to
// run, and `poll(timeout)` instead of sleeping when it has none; `wake()` (any thread) ends a
// poll early, for wake-ups from other threads.
//
// Registration: edge-triggered (EPOLLET), once per descriptor for as long as the poller
// knows it (until forget), like a hand-written epoll loop: the first wait on a descriptor
// adds it to the epoll set for what that wait wants (reading: EPOLLIN | EPOLLRDHUP; writing:
// EPOLLOUT), a first wait for the other direction widens it (one EPOLL_CTL_MOD), and
// nothing is re-armed after a report. An edge that nobody waits for is kept in the
// descriptor's state (`ready`) and ends the next wait for it at once.
// What a wait costs depends on what its caller knows (FdInterest::drained):
//  - drained (the caller's call just failed with EAGAIN, or read a stream dry): whatever
//    makes the descriptor ready comes as an edge after that point, so the wait makes no
//    system call: it links its interest and waits for the report. This is the common case
//    (//io retries a call that would block this way), and where the one-shot re-arm this
//    poller made before cost an epoll_ctl per wait (docs/benchmarks.md, echo).
//  - not drained (io::await_fd, readiness events, a read that waits before its call): the
//    level must be checked, with an EPOLL_CTL_MOD of the same events, which the kernel
//    answers with a report if the descriptor is ready now (one system call, as before).
// Safety net: a drained wait relies on the registration being the current descriptor's. A
// descriptor closed behind the poller's back (a plain ::close) leaves the epoll set, and a
// new one with the same number is not in it; a caller's wrong mark (data left behind) is
// another way to wait for an edge that never comes. So a drained wait still pending after
// kConfirmNs to 2 x kConfirmNs is level-checked as above (the MOD finds a missing
// registration, ENOENT, and adds it afresh): such a wait is late by at most ~20 ms, never
// lost. poll() caps its timeout while such waits exist (each one checked once); the check
// costs a clock read per poll while drained waits are pending and nothing otherwise.
// Descriptors waited on through this poller should still be closed with io::close, which
// calls forget() so waiters are woken with EBADF instead of waiting forever.
//
// Threads: add, remove and forget from any thread (io::close calls forget on the closer's
// thread, through picos/internal/reactor_registry.h, while the owner may be polling); they
// and the processing of events run under one internal mutex, the waiting in the kernel does
// not. poll/process by one thread at a time (LockedPoller arbitrates between several);
// wake from any thread. Triggers are always signaled after the mutex is released (a resume
// action must not run under it): by poll on the polling thread, by forget on the caller's.
// The poller enrolls in the reactor registry at its first add() and notes each descriptor
// there (a load per wait); call unregister() when the owner's loop ends (see there).
// Nothing is allocated and no descriptor is opened until the first add(), so a scheduler
// that never waits for IO pays nothing. Destruction closes the epoll and event descriptors;
// interests still registered then (fibers abandoned by a fatal error) are simply dropped.

#ifndef PICOS_POLLER_EPOLL_POLLER_H_
#define PICOS_POLLER_EPOLL_POLLER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/mutex.h"
#include "picos/internal/reactor_registry.h"
#include "picos/reactor.h"
#include "picos/trigger.h"

struct epoll_event;

namespace picos::internal {

class EpollPoller final : public Reactor {
 public:
  EpollPoller() noexcept = default;
  ~EpollPoller();
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  // ---- Reactor (any thread) ----
  // Throws std::system_error if the epoll set cannot be created or the descriptor cannot be
  // watched (EBADF, EPERM for a regular file), std::bad_alloc if memory runs out, with
  // nothing registered.
  void add(FdInterest& w) override;
  void remove(FdInterest& w) noexcept override;
  // Completes the interests on `fd` (kClosed) and drops the descriptor from the epoll set;
  // their triggers are signaled on the calling thread, after the mutex is released.
  void forget(int fd) noexcept override;

  // Whether interests are registered now (the owner polls only then). Any thread.
  bool waiting() const noexcept { return waiters_.load(std::memory_order_acquire) != 0; }

  // Waits up to `timeout_ns` nanoseconds (negative: without limit, 0: just looks) for
  // registered descriptors to become ready or for wake(), and completes the interests that
  // are (their triggers are signaled here, so resume actions run on this thread). Returns how
  // many were completed; 0 at once before the first add(). One thread at a time. Uses
  // epoll_pwait2 (nanosecond timeout) where the kernel has it, else epoll_wait with the
  // timeout rounded up to whole milliseconds. While drained waits are pending it returns
  // by the next level check of them (the safety net above), and makes that check.
  int poll(long long timeout_ns) noexcept;

  // How long a drained wait relies on edges alone before its level is checked: between this
  // and twice this (see the top).
  static constexpr long long kConfirmNs = 10'000'000;

  // Makes a poll() in progress, or the next one, return at once. Any thread. Costs a write
  // to an eventfd; a no-op before the first add().
  void wake() noexcept;

  // Opens the epoll set now instead of at the first add() (idempotent; any thread).
  // Throws std::system_error if it cannot.
  void start();

  // For an owner that waits elsewhere (the libevent scheduler waits in libevent's loop) and
  // only ever calls poll(0): the epoll set's descriptor (-1 before start() or the first
  // add()), readable while reports wait to be polled or after a wake(); watch it for reading
  // (level-triggered) and call poll(0) when it is. Such an owner must also call poll(0) at
  // least every kConfirmNs / 2 while `unconfirmed()` is true (drained waits wait for their
  // level check, which poll() makes when it is due); a drained wait with a wrong mark is then
  // late by at most about 4 x kConfirmNs. Any thread.
  int descriptor() const noexcept { return epfd_.load(std::memory_order_acquire); }
  bool unconfirmed() const noexcept { return any_unconfirmed_.load(std::memory_order_relaxed); }

  // Leaves the reactor registry, so that io::close on another thread no longer calls this
  // poller; waits for such a call in progress. Call it when the owner's loop has ended (no
  // fiber waits here any more), never from inside a trigger's resume action (see
  // picos/internal/reactor_registry.h). The destructor does it too, for owners that cannot
  // be destroyed inside a resume action. Idempotent; any thread.
  void unregister() noexcept { registration_.withdraw(); }
  // Counts each add() in `c` (debug::stats()'s io waits; bumped under the mutex). Call before
  // the first add(); `c` must outlive the poller's use.
  void count_waits_in(Counter* c) noexcept { wait_counter_ = c; }

 private:
  struct FdState {
    FdInterest* head = nullptr;  // interests waiting on this descriptor
    unsigned armed = 0;          // events registered (kFdRead | kFdWrite; 0: not added)
    unsigned ready = 0;          // edges reported while nobody waited for them (kFd*)
    bool added = false;          // known to the epoll set
    bool listed = false;         // in unconfirmed_ (kept across forget: see sweep)
    // The sweep generation when the oldest drained wait still linked here began (0: none).
    std::uint32_t drained_since = 0;
  };

  // An epoll_ctl to make: ADD or MOD of `fd` for `events`.
  struct Arming {
    int fd = -1;
    unsigned events = 0;
    bool add = false;
  };

  // poll() in two steps: `wait` only waits for events (no state of the poller is touched;
  // `events` has room for `max`) and returns how many arrived; `process` then completes the
  // interests they satisfy and signals their triggers. Private: poll() adds the sweep.
  static constexpr int kMaxEvents = 128;
  int wait(epoll_event* events, int max, long long timeout_ns) noexcept;
  int process(const epoll_event* events, int n) noexcept;

  void start_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The registration of `fd` for `wanted` and what it has already (an ADD or a MOD of the
  // same: both make the kernel report the level), recorded in `st` as made.
  Arming prepare_arm(int fd, FdState& st, unsigned wanted) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lists a drained wait on `fd` for the sweep; false if it cannot (out of memory).
  bool list_unconfirmed(int fd, FdState& st) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes it (a MOD that finds the descriptor gone adds it; an ADD that finds it there
  // modifies it). Returns 0 or the errno. With or without mu_.
  int apply_arm(const Arming& a) const noexcept;
  // The descriptor's registration failed: it counts as not added, and its waiters are
  // completed as ready (copies of their triggers appended to `out`), so they retry their
  // call, which reports the error, or waits (and registers) again. Returns how many.
  int unwatch(FdState& st, std::vector<Trigger>& out) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // add()'s system call failed with `err`: unlinks `w`, lets the others waiting on its
  // descriptor retry (unwatch), throws std::system_error.
  [[noreturn]] void arm_failed(FdInterest& w, int err) ABSL_LOCKS_EXCLUDED(mu_);
  void unlink(FdInterest& w) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unlinks `w`, sets its outcome and appends a copy of its trigger to `out` (the caller
  // signals once mu_ is released: `w` may be gone by then).
  void complete(FdInterest& w, FdInterest::Outcome outcome, std::vector<Trigger>& out) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The safety net (see the top): level-checks drained waits pending since before the last
  // sweep; called by poll() every kConfirmNs while unconfirmed_ is not empty. Returns how
  // many waiters it completed (a check whose system call fails lets them retry).
  int sweep() noexcept;
  // poll()'s timeout, capped at the next sweep while drained waits are pending (and the
  // sweep made when it is due, its completions added to `completed`).
  long long confirm_timeout(long long timeout_ns, int& completed) noexcept;

  ReactorRegistration registration_;  // first: withdrawn before anything else goes
  Mutex mu_;
  std::atomic<int> epfd_{-1};
  std::atomic<int> wakefd_{-1};
  std::vector<FdState> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<Trigger> ready_;           // the polling thread's, for process()
  std::atomic<std::size_t> waiters_{0};  // written under mu_
  Counter* wait_counter_ = nullptr;
  // Descriptors with drained waits not yet level-checked (each at most once: `listed`).
  std::vector<int> unconfirmed_ ABSL_GUARDED_BY(mu_);
  std::uint32_t sweep_gen_ ABSL_GUARDED_BY(mu_) = 1;
  std::atomic<bool> any_unconfirmed_{false};  // !unconfirmed_.empty(), for poll (no lock)
  long long next_sweep_ns_ = 0;               // the polling thread's (0: not planned)
};

// EpollPoller for several threads that may all try to poll: one at a time polls, the others
// return at once. Triggers completed by a poll are signaled on the polling thread after the
// mutex is released, so a woken fiber's resume action runs there.
class LockedPoller final : public Reactor {
 public:
  LockedPoller() noexcept = default;

  void add(FdInterest& w) override { poller_.add(w); }
  void remove(FdInterest& w) noexcept override { poller_.remove(w); }
  void forget(int fd) noexcept override { poller_.forget(fd); }

  // Opens the epoll set now (see EpollPoller::start). Any thread.
  void start() { poller_.start(); }

  // See EpollPoller::unregister.
  void unregister() noexcept { poller_.unregister(); }

  // Whether some interest is registered. Any thread.
  bool waiting() const noexcept { return poller_.waiting(); }

  // Waits up to `timeout_ns` (negative: no limit) for readiness or wake(), then completes
  // what is ready; returns how many interests it completed, or -1 at once if another thread
  // is polling. Returns 0 at once before the epoll set is opened. Any thread.
  int poll(long long timeout_ns) noexcept;

  // Ends a poll in progress (or the next one) early. Any thread.
  void wake() noexcept { poller_.wake(); }
  // See EpollPoller::count_waits_in.
  void count_waits_in(Counter* c) noexcept { poller_.count_waits_in(c); }

 private:
  EpollPoller poller_;
  std::atomic<bool> polling_{false};
};

}  // namespace picos::internal

#endif  // PICOS_POLLER_EPOLL_POLLER_H_
