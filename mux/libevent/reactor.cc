// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/reactor.cc — EventReactor (reactor.h): await_fd's one-shot events and the
// picos::Reactor for //io (an EpollPoller watched by the scheduler's event_base);
// libevent::await_fd.

#include "mux/libevent/reactor.h"

#include <cerrno>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "mux/libevent/libevent.h"
#include "mux/libevent/scheduler.h"
#include "picos/handler.h"

namespace picos::mux::libevent {

struct EventReactor::FdWait {
  EventReactor* reactor;
  Trigger trigger;
  event* ev = nullptr;
  short ready = 0;
  FdWait* prev = nullptr;  // fd_waits_
  FdWait* next = nullptr;
};

// ---- await_fd ------------------------------------------------------------------------------

short EventReactor::await_fd(int fd, short events) {
  Fiber::current().check();
  FdWait w{this, Trigger()};
  w.ev = event_new(s_.base(), fd, events, &EventReactor::on_fd_cb, &w);
  if (!w.ev) throw std::bad_alloc();
  errno = 0;
  if (event_add(w.ev, nullptr) != 0) {
    int err = errno != 0 ? errno : EINVAL;
    event_free(w.ev);
    throw std::system_error(
        err, std::generic_category(),
        "picos::mux::libevent::await_fd: event_add(fd " + std::to_string(fd) + ")");
  }
  w.next = fd_waits_;
  if (fd_waits_) fd_waits_->prev = &w;
  fd_waits_ = &w;
  if (wait_counter_ != nullptr) wait_counter_->bump();

  std::exception_ptr reason = w.trigger.await();

  // Back on the loop thread. Freeing deletes the event if still pending or active.
  if (w.prev) {
    w.prev->next = w.next;
  } else {
    fd_waits_ = w.next;
  }
  if (w.next) w.next->prev = w.prev;
  event_free(w.ev);
  if (reason) std::rethrow_exception(reason);
  return w.ready;
}

void EventReactor::on_fd_cb(evutil_socket_t, short what, void* wait) noexcept {
  auto* w = static_cast<FdWait*>(wait);
  Scheduler& s = w->reactor->s_;
  w->ready = what;
  {
    // The fiber goes onto the ready queue directly; it runs in the batch activated below, so
    // `w` (on its stack) is not touched after the signal.
    HandlerScope scope(s, nullptr);
    w->trigger.signal();
  }
  s.activate();
}

short await_fd(int fd, short events) {
  auto* s = dynamic_cast<Scheduler*>(installed_handler());
  if (!s) {
    throw std::logic_error(
        "picos::mux::libevent::await_fd: the caller is not a fiber running on a libevent "
        "scheduler");
  }
  events &= EV_READ | EV_WRITE;
  if (events == 0) {
    throw std::invalid_argument(
        "picos::mux::libevent::await_fd: events must hold EV_READ or EV_WRITE");
  }
  return s->fd_reactor().await_fd(fd, events);
}

// ---- Reactor --------------------------------------------------------------------------------

void EventReactor::add(FdInterest& w) {
  if (poller_event_ == nullptr) watch_poller();
  if (!watching_) {
    errno = 0;
    if (event_add(poller_event_, nullptr) != 0) {
      throw std::system_error(errno != 0 ? errno : EINVAL, std::generic_category(),
                              "picos::mux::libevent: event_add(the poller's epoll descriptor)");
    }
    watching_ = true;
  }
  poller_.add(w);
}

void EventReactor::watch_poller() {
  poller_.start();
  event* ev = event_new(s_.base(), poller_.descriptor(), EV_READ | EV_PERSIST,
                        &EventReactor::on_poller_cb, this);
  if (!ev) throw std::bad_alloc();
  event* check = evtimer_new(s_.base(), &EventReactor::on_check_cb, this);
  if (!check) {
    event_free(ev);
    throw std::bad_alloc();
  }
  poller_event_ = ev;
  check_event_ = check;
}

void EventReactor::poll_now() noexcept {
  int woken;
  {
    // Woken fibers go onto the ready queue directly, and run in the batch activated below.
    HandlerScope scope(s_, nullptr);
    woken = poller_.poll(0);
  }
  if (woken > 0) s_.activate();
}

void EventReactor::on_poller_cb(evutil_socket_t, short, void* self) noexcept {
  auto* r = static_cast<EventReactor*>(self);
  r->poll_now();
  r->plan_check();
}

void EventReactor::on_check_cb(evutil_socket_t, short, void* self) noexcept {
  auto* r = static_cast<EventReactor*>(self);
  r->check_armed_ = false;  // a one-shot timer: no longer pending
  r->poll_now();            // makes the level check when it is due
  r->plan_check();
}

void EventReactor::after_batch() noexcept {
  if (!watching_ || poller_.waiting()) {
    plan_check();
    return;
  }
  // Not from the callbacks: a fiber woken there usually waits again in the batch that
  // follows, and would add the event back (each costs libevent an epoll_ctl).
  event_del(poller_event_);
  watching_ = false;
}

void EventReactor::plan_check() noexcept {
  if (check_armed_ || !poller_.waiting() || !poller_.unconfirmed()) return;
  constexpr long kPeriodUs = internal::EpollPoller::kConfirmNs / 2 / 1000;
  static_assert(kPeriodUs < 1'000'000);
  const timeval period = {0, kPeriodUs};
  if (event_add(check_event_, &period) == 0) check_armed_ = true;
}

// ---- teardown -------------------------------------------------------------------------------

void EventReactor::delete_events() noexcept {
  for (FdWait* w = fd_waits_; w; w = w->next) {
    if (w->ev) event_del(w->ev);
  }
  for (event* e : {poller_event_, check_event_}) {
    if (e) event_del(e);
  }
  watching_ = false;
  check_armed_ = false;
}

void EventReactor::free_events() noexcept {
  // Abandoned fibers may still be in await_fd: their FdWaits stay on their kept stacks.
  for (FdWait* w = fd_waits_; w; w = w->next) {
    if (w->ev) event_free(std::exchange(w->ev, nullptr));
  }
  for (event** e : {&poller_event_, &check_event_}) {
    if (*e) event_free(std::exchange(*e, nullptr));
  }
  watching_ = false;
  check_armed_ = false;
}

}  // namespace picos::mux::libevent
