// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/reactor.h — the descriptors a libevent scheduler's fibers wait for (internal).
//
// `EventReactor` is both ways a fiber of the scheduler waits for a descriptor on its loop:
//  - `await_fd` (libevent::await_fd, await_readable, await_writable): one one-shot libevent
//    event per call, on the waiting fiber's stack, added on entry and freed on return. It
//    answers in libevent's terms (EV_READ, EV_WRITE), for code written against libevent.
//  - the picos::Reactor (picos/reactor.h) that Handler::reactor() offers to //io: an
//    EpollPoller (poller/epoll_poller.h) of its own, the one fifo and multififo poll, whose
//    epoll descriptor is one persistent event on the scheduler's base. Each descriptor is
//    registered once, edge-triggered, and a wait after EAGAIN makes no system call; one
//    libevent event per wait cost an event_new, an epoll_ctl ADD and a DEL per wait
//    (docs/benchmarks.md, "The libevent scheduler's IO waits"). When libevent's loop reports
//    the epoll descriptor readable, the callback polls it without blocking (poll(0)), with
//    the scheduler installed, so woken fibers go onto the ready queue directly, and activates
//    the batch. While drained waits await their level check, a timer polls every
//    kConfirmNs / 2 (the poller's safety net needs a poll at least that often). io::close on
//    another thread reaches the poller through the reactor registry (it enrolls itself); its
//    woken fibers take the scheduler's remote path, which wakes the loop.
// Loop thread unless said otherwise.

#ifndef PICOS_MUX_LIBEVENT_REACTOR_H_
#define PICOS_MUX_LIBEVENT_REACTOR_H_

#include <event2/event.h>

#include "picos/internal/debug_registry.h"
#include "picos/reactor.h"
#include "poller/epoll_poller.h"

namespace picos::mux::libevent {

class Scheduler;

class EventReactor final : public Reactor {
 public:
  explicit EventReactor(Scheduler& scheduler) noexcept : s_(scheduler) {}
  EventReactor(const EventReactor&) = delete;
  EventReactor& operator=(const EventReactor&) = delete;

  // ---- Reactor ------------------------------------------------------------------------------
  // The first add opens the poller and watches its descriptor on the scheduler's base;
  // throws std::system_error or std::bad_alloc if it cannot, with nothing registered.
  void add(FdInterest& w) override;
  void remove(FdInterest& w) noexcept override { poller_.remove(w); }
  // Any thread (io::close reaches the poller itself, through the registry).
  void forget(int fd) noexcept override { poller_.forget(fd); }

  // libevent::await_fd for a fiber of the scheduler; `events` holds EV_READ and/or EV_WRITE.
  short await_fd(int fd, short events);

  // Whether await_fd calls or interests are in progress (the stall check).
  bool waiting() const noexcept { return fd_waits_ != nullptr || poller_.waiting(); }
  // Counts each wait (add, await_fd) in `c` (debug::stats()'s io waits).
  void count_waits_in(internal::Counter* c) noexcept {
    wait_counter_ = c;
    poller_.count_waits_in(c);
  }
  // After each batch: stops watching the poller while nothing waits there (a pending event
  // would keep event_base_dispatch from returning once every fiber has finished), and plans
  // the poll that the drained waits' level check needs, if any.
  void after_batch() noexcept;

  // Once the scheduler has stopped (its fibers are abandoned, their waits stay): deletes
  // every event of ours, so that no callback comes any more.
  void delete_events() noexcept;
  // When the scheduler detaches from its base: leaves the reactor registry (first: no forget
  // is in progress once it returns), then frees the events delete_events deleted. Never
  // from inside a resume action that forget runs.
  void withdraw() noexcept { poller_.unregister(); }
  void free_events() noexcept;

 private:
  struct FdWait;  // one await_fd in progress, on the waiting fiber's stack

  static void on_fd_cb(evutil_socket_t, short what, void* wait) noexcept;
  static void on_poller_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_check_cb(evutil_socket_t, short, void* self) noexcept;
  // Opens the poller and creates poller_event_ and check_event_ (the first add).
  void watch_poller();
  // Polls without blocking, with the scheduler installed; activates the batch if a fiber woke.
  void poll_now() noexcept;
  // Arms check_event_ if drained waits await their level check and it is not armed.
  void plan_check() noexcept;

  Scheduler& s_;
  FdWait* fd_waits_ = nullptr;  // every await_fd in progress (or abandoned)
  internal::Counter* wait_counter_ = nullptr;

  internal::EpollPoller poller_;   // //io's waits
  event* poller_event_ = nullptr;  // EV_READ | EV_PERSIST on poller_.descriptor()
  event* check_event_ = nullptr;   // a timer: poll_now for the level checks
  bool watching_ = false;          // poller_event_ added
  bool check_armed_ = false;
};

}  // namespace picos::mux::libevent

#endif  // PICOS_MUX_LIBEVENT_REACTOR_H_
