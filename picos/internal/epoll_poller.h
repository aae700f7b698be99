// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/epoll_poller.h — an epoll-based Reactor (picos/reactor.h): `EpollPoller`, which
// one thread owns and polls (a single-threaded scheduler's own loop), and `LockedPoller`, the
// same behind a mutex for several threads (multififo's workers, //io's default reactor thread).
// Shared machinery for schedulers and //io, like timer_heap.h; not part of the core interface.
//
// The scheduler offers it through Handler::reactor(); //io then registers its waits here
// instead of with its default reactor (a background epoll thread whose every wake-up is a
// cross-thread hand-off). The scheduler calls `poll(0)` now and then while it has fibers to
// run, and `poll(timeout)` instead of sleeping when it has none; `wake()` (any thread) ends a
// poll early, for wake-ups from other threads.
//
// Registration: level-triggered with EPOLLONESHOT, like io's default reactor. The first wait
// on a descriptor adds it to the epoll set; later waits re-arm it (one epoll_ctl MOD each);
// a report disarms it. Robust to descriptors closed behind the reactor's back (a plain
// ::close): a re-arm that finds the descriptor gone from the set (ENOENT) adds it afresh.
// Descriptors waited on through this reactor should still be closed with io::close, which
// calls forget() so waiters are woken with EBADF instead of waiting forever.
//
// Threads: add, remove, forget and poll only on the owning scheduler's thread (the triggers
// are signaled there, inside poll or forget), or under a lock of the owner's with deferred
// signals (defer_signals_to; wait() may then run without that lock); wake from any thread. Nothing is allocated and no
// descriptor is opened until the first add(), so a scheduler that never waits for IO pays
// nothing. Destruction closes the epoll and event descriptors; interests still registered
// then (fibers abandoned by a fatal error) are simply dropped.

#ifndef PICOS_INTERNAL_EPOLL_POLLER_H_
#define PICOS_INTERNAL_EPOLL_POLLER_H_

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

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

  // ---- Reactor (owner's thread) ----
  // Throws std::system_error if the epoll set cannot be created or the descriptor cannot be
  // watched (EBADF, EPERM for a regular file), with nothing registered.
  void add(FdInterest& w) override;
  void remove(FdInterest& w) noexcept override;
  void forget(int fd) noexcept override;

  // Whether interests are registered now (the owner polls only then). Owner's thread.
  bool waiting() const noexcept { return waiters_ != 0; }

  // Waits up to `timeout_ns` nanoseconds (negative: without limit, 0: just looks) for
  // registered descriptors to become ready or for wake(), and completes the interests that
  // are (their triggers are signaled here, so resume actions run on this thread). Returns how
  // many were completed; 0 at once before the first add(). Owner's thread. Uses
  // epoll_pwait2 (nanosecond timeout) where the kernel has it, else epoll_wait with the
  // timeout rounded up to whole milliseconds.
  int poll(long long timeout_ns) noexcept;

  // poll() in two steps, for an owner that lets several threads poll under its own lock
  // (multififo): `wait` only waits for events (no state of the poller is touched, so it runs
  // without the owner's lock; `events` has room for `max`) and returns how many arrived;
  // `process` then completes the interests they satisfy (under the owner's lock).
  static constexpr int kMaxEvents = 128;
  int wait(epoll_event* events, int max, long long timeout_ns) noexcept;
  int process(const epoll_event* events, int n) noexcept;

  // From now on interests completed by process() or forget() are not signaled there: copies
  // of their triggers are appended to `*out` (nullptr: signal at once again), for the owner
  // to signal once it has released its lock (a resume action must not run under it). The
  // vector belongs to the owner, who empties it.
  void defer_signals_to(std::vector<Trigger>* out) noexcept { deferred_ = out; }

  // Makes a poll() in progress, or the next one, return at once. Any thread. Costs a write
  // to an eventfd; a no-op before the first add().
  void wake() noexcept;

  // Opens the epoll set now instead of at the first add() (idempotent; owner's thread).
  // Throws std::system_error if it cannot.
  void start();

 private:
  struct FdState {
    FdInterest* head = nullptr;  // interests waiting on this descriptor
    unsigned armed = 0;          // events armed in the kernel (0: disarmed or not added)
    bool added = false;          // known to the epoll set
  };

  void arm(int fd, FdState& st);  // arms the union of the waiters' events; may throw
  void complete(FdInterest& w, FdInterest::Outcome outcome) noexcept;

  std::atomic<int> epfd_{-1};
  std::atomic<int> wakefd_{-1};
  std::vector<Trigger>* deferred_ = nullptr;
  std::vector<FdState> fds_;
  std::size_t waiters_ = 0;
};

// EpollPoller for several threads: add/remove/forget and the processing of events run under
// a mutex, the waiting itself does not, and one thread at a time polls. Triggers are signaled
// after the mutex is released (a resume action must not run under it), so a woken fiber's
// resume action runs on the polling thread.
class LockedPoller final : public Reactor {
 public:
  LockedPoller() noexcept { poller_.defer_signals_to(&deferred_); }

  void add(FdInterest& w) override;
  void remove(FdInterest& w) noexcept override;
  void forget(int fd) noexcept override;

  // Opens the epoll set now (see EpollPoller::start). Any thread.
  void start();

  // Whether some interest is registered. Any thread.
  bool waiting() const noexcept { return waiting_.load(std::memory_order_acquire); }

  // Waits up to `timeout_ns` (negative: no limit) for readiness or wake(), then completes
  // what is ready; returns how many interests it completed, or -1 at once if another thread
  // is polling. Returns 0 at once before the epoll set is opened. Any thread.
  int poll(long long timeout_ns) noexcept;

  // Ends a poll in progress (or the next one) early. Any thread.
  void wake() noexcept { poller_.wake(); }

 private:
  std::mutex mu_;
  EpollPoller poller_;             // guarded by mu_, but for wait() and wake()
  std::vector<Trigger> deferred_;  // guarded by mu_
  std::atomic<bool> waiting_{false};
  std::atomic<bool> polling_{false};
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_EPOLL_POLLER_H_
