// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/reactor.h — the descriptors a libevent scheduler's fibers wait for (internal).
//
// `EventReactor` is both ways a fiber of the scheduler waits for a descriptor on its loop:
//  - `await_fd` (libevent::await_fd, await_readable, await_writable): one one-shot libevent
//    event per call, on the waiting fiber's stack, added on entry and freed on return.
//  - the picos::Reactor (picos/reactor.h) that Handler::reactor() offers to //io: one one-shot
//    event per interest, kept on a list per descriptor. reactor_data: [0] the event, [1] this
//    reactor, [2]/[3] the links of the descriptor's list. add and remove are called by the
//    scheduler's fibers (loop thread); forget from any thread (io::close reaches it through
//    the reactor registry): it looks at `fd`'s list only, under mu_, deletes the events
//    without waiting for a callback in progress (event_del_noblock) and signals outside the
//    lock; a woken fiber then takes the scheduler's remote path, which wakes the loop.
// Either way the callback signals the trigger with the scheduler installed (the fiber goes
// onto its ready queue directly) and activates the scheduler's batch.

#ifndef PICOS_MUX_LIBEVENT_REACTOR_H_
#define PICOS_MUX_LIBEVENT_REACTOR_H_

#include <event2/event.h>

#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/mutex.h"
#include "picos/internal/reactor_registry.h"
#include "picos/reactor.h"

namespace picos::mux::libevent {

class Scheduler;

class EventReactor final : public Reactor {
 public:
  explicit EventReactor(Scheduler& scheduler) noexcept : s_(scheduler) {}
  EventReactor(const EventReactor&) = delete;
  EventReactor& operator=(const EventReactor&) = delete;

  // ---- Reactor ------------------------------------------------------------------------------
  void add(FdInterest& w) override ABSL_LOCKS_EXCLUDED(mu_);
  void remove(FdInterest& w) noexcept override ABSL_LOCKS_EXCLUDED(mu_);
  void forget(int fd) noexcept override ABSL_LOCKS_EXCLUDED(mu_);

  // libevent::await_fd for a fiber of the scheduler; `events` holds EV_READ and/or EV_WRITE.
  short await_fd(int fd, short events);

  // await_fd calls and interests in progress (the stall check). Loop thread.
  std::size_t waiting() const noexcept { return waiting_; }
  // Counts each wait (add, await_fd) in `c` (debug::stats()'s io waits). Loop thread.
  void count_waits_in(internal::Counter* c) noexcept { wait_counter_ = c; }

  // Loop thread, once the scheduler has stopped (its fibers are abandoned, their waits
  // stay): deletes every event of a wait still in progress.
  void delete_events() noexcept ABSL_LOCKS_EXCLUDED(mu_);
  // Loop thread, when the scheduler detaches from its base: leaves the reactor registry
  // (first: no forget is in progress once it returns), then frees the events delete_events
  // deleted. Never from inside a resume action that forget runs.
  void withdraw() noexcept;
  void free_events() noexcept ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct FdWait;  // one await_fd in progress, on the waiting fiber's stack

  static void on_fd_cb(evutil_socket_t, short what, void* wait) noexcept;
  static void on_interest_cb(evutil_socket_t, short what, void* interest) noexcept;
  // Calls fn(void*& event) for every interest's event still allocated.
  template <typename Fn>
  void for_each_interest_event(Fn fn) noexcept ABSL_LOCKS_EXCLUDED(mu_);

  Scheduler& s_;
  // Loop thread.
  FdWait* fd_waits_ = nullptr;  // every await_fd in progress (or abandoned)
  std::size_t waiting_ = 0;     // await_fd calls and interests in progress
  internal::Counter* wait_counter_ = nullptr;

  // Interests: added and removed on the loop thread, forgotten from any thread. mu_ comes
  // before libevent's base lock (event_add/event_del inside).
  internal::Mutex mu_;
  std::vector<FdInterest*> fds_ ABSL_GUARDED_BY(mu_);  // per-fd list heads, by fd number
  internal::ReactorRegistration registration_;         // enrolled at the first add
};

}  // namespace picos::mux::libevent

#endif  // PICOS_MUX_LIBEVENT_REACTOR_H_
