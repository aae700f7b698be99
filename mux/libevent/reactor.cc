// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/reactor.cc — EventReactor (reactor.h): await_fd's one-shot events and the
// picos::Reactor for //io, on the scheduler's event_base; libevent::await_fd.

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
  ++waiting_;
  if (wait_counter_ != nullptr) wait_counter_->bump();

  std::exception_ptr reason = w.trigger.await();

  // Back on the loop thread. Freeing deletes the event if still pending or active.
  --waiting_;
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
  short what = 0;
  if (w.events & kFdRead) what |= EV_READ;
  if (w.events & kFdWrite) what |= EV_WRITE;
  if (what == 0) throw std::invalid_argument("picos::mux::libevent: interest in no event");
  if (w.fd < 0) {
    throw std::system_error(EBADF, std::generic_category(), "picos::mux::libevent: event_add");
  }
  registration_.enroll(*this);  // outside mu_: the registry's locks come before it
  event* ev = event_new(s_.base(), w.fd, what, &EventReactor::on_interest_cb, &w);
  if (!ev) throw std::bad_alloc();
  {
    internal::MutexLock lock(mu_);
    try {
      const auto index = static_cast<std::size_t>(w.fd);
      if (index >= fds_.size()) fds_.resize(index + 1, nullptr);
      // Before the interest is linked: a forget_everywhere that sees the note finds it.
      registration_.note(w.fd);
    } catch (...) {
      event_free(ev);
      throw;
    }
    errno = 0;
    if (event_add(ev, nullptr) != 0) {
      int err = errno != 0 ? errno : EINVAL;
      event_free(ev);
      throw std::system_error(err, std::generic_category(),
                              "picos::mux::libevent: event_add(fd " + std::to_string(w.fd) + ")");
    }
    FdInterest*& head = fds_[static_cast<std::size_t>(w.fd)];
    w.reactor_data[0] = ev;
    w.reactor_data[1] = this;
    w.reactor_data[2] = nullptr;
    w.reactor_data[3] = head;
    if (head) head->reactor_data[2] = &w;
    head = &w;
  }
  ++waiting_;
  if (wait_counter_ != nullptr) wait_counter_->bump();
}

void EventReactor::remove(FdInterest& w) noexcept {
  if (w.reactor_data[1] != this) return;  // written only by add and remove, on this thread
  event* ev;
  {
    internal::MutexLock lock(mu_);
    ev = static_cast<event*>(w.reactor_data[0]);
    auto* prev = static_cast<FdInterest*>(w.reactor_data[2]);
    auto* next = static_cast<FdInterest*>(w.reactor_data[3]);
    if (prev) {
      prev->reactor_data[3] = next;
    } else {
      fds_[static_cast<std::size_t>(w.fd)] = next;
    }
    if (next) next->reactor_data[2] = prev;
    for (void*& p : w.reactor_data) p = nullptr;
  }
  // Unlinked, so no forget touches the event any more. Freeing deletes it if still pending
  // or active: no callback comes later.
  if (ev) event_free(ev);
  --waiting_;
}

void EventReactor::forget(int fd) noexcept {
  std::vector<Trigger> wake;
  {
    internal::MutexLock lock(mu_);
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    for (FdInterest* w = fds_[static_cast<std::size_t>(fd)]; w;
         w = static_cast<FdInterest*>(w->reactor_data[3])) {
      if (w->outcome != FdInterest::kPending) continue;
      // No-block: on another thread, a plain event_del would wait for a callback of this
      // event in progress on the loop thread, which waits for mu_.
      if (w->reactor_data[0]) event_del_noblock(static_cast<event*>(w->reactor_data[0]));
      w->outcome = FdInterest::kClosed;
      try {
        wake.push_back(w->trigger);
      } catch (...) {
        w->trigger.signal();  // out of memory: under mu_ (a resume action only queues)
      }
    }
  }
  // On one of our fibers the resume actions push onto the ready queue; elsewhere they take
  // the remote path, whose activation of the scheduler's event wakes the loop.
  for (auto& t : wake) t.signal();
}

void EventReactor::on_interest_cb(evutil_socket_t, short, void* interest) noexcept {
  auto* w = static_cast<FdInterest*>(interest);
  auto* r = static_cast<EventReactor*>(w->reactor_data[1]);
  {
    // A forget on another thread may have completed it (kClosed) meanwhile; it is still
    // linked (only its fiber removes it, on this thread), so `w` is alive here.
    internal::MutexLock lock(r->mu_);
    if (w->outcome == FdInterest::kPending) w->outcome = FdInterest::kReady;
  }
  {
    // The fiber goes onto the ready queue and runs in the batch activated below, so `w` (on
    // its stack) is not touched after the signal.
    HandlerScope scope(r->s_, nullptr);
    w->trigger.signal();
  }
  r->s_.activate();
}

// ---- teardown -------------------------------------------------------------------------------

template <typename Fn>
void EventReactor::for_each_interest_event(Fn fn) noexcept {
  internal::MutexLock lock(mu_);
  for (FdInterest* head : fds_) {
    for (FdInterest* w = head; w; w = static_cast<FdInterest*>(w->reactor_data[3])) {
      if (w->reactor_data[0]) fn(w->reactor_data[0]);
    }
  }
}

void EventReactor::delete_events() noexcept {
  for (FdWait* w = fd_waits_; w; w = w->next) {
    if (w->ev) event_del(w->ev);
  }
  for_each_interest_event([](void*& ev) { event_del(static_cast<event*>(ev)); });
}

void EventReactor::withdraw() noexcept { registration_.withdraw(); }

void EventReactor::free_events() noexcept {
  // Abandoned fibers may still be in await_fd: their FdWaits stay on their kept stacks.
  for (FdWait* w = fd_waits_; w; w = w->next) {
    if (w->ev) event_free(std::exchange(w->ev, nullptr));
  }
  for_each_interest_event(
      [](void*& ev) { event_free(static_cast<event*>(std::exchange(ev, nullptr))); });
}

}  // namespace picos::mux::libevent
