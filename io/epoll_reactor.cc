// Copyright 2026 The Picos for C++ Authors.
//
// The default reactor: one background thread blocked in an epoll set, for fibers of schedulers
// that offer no reactor of their own and for plain threads. The epoll set and its protocol
// (edge-triggered registrations made once per descriptor, no system call for a wait after
// EAGAIN, a level check for the others and for drained waits pending 10-20 ms, which re-adds
// a descriptor closed behind its back, triggers signaled outside the lock) are picos::internal's
// LockedPoller (poller/epoll_poller.h), the EpollPoller that fifo and multififo use too
// when they wait in epoll (poller/poller.h chooses, per scheduler). A woken
// fiber reaches its scheduler through the scheduler's remote resume path. Like every
// reactor it is found by io::close through the reactor registry
// (picos/internal/reactor_registry.h); it enrolls at its first wait and never leaves.

#include <system_error>
#include <thread>

#include "io/io.h"
#include "picos/reactor.h"
#include "poller/epoll_poller.h"

namespace picos::io {
namespace {

class DefaultReactor final : public Reactor {
 public:
  DefaultReactor() {
    try {
      poller_.start();
    } catch (const std::system_error& e) {
      throw std::system_error(e.code(), "picos::io: the default reactor's epoll set");
    }
    // This thread is the only one that polls, so poll() never returns -1; it waits without
    // limit (a registration takes effect on an epoll_wait in progress).
    std::thread([this] {
      for (;;) (void)poller_.poll(-1);
    }).detach();
  }

  void add(FdInterest& w) override { poller_.add(w); }
  void remove(FdInterest& w) noexcept override { poller_.remove(w); }
  void forget(int fd) noexcept override { poller_.forget(fd); }

 private:
  picos::internal::LockedPoller poller_;
};

}  // namespace

Reactor& default_reactor() {
  // Leaked on purpose: its thread never stops and may still be in epoll_wait at exit.
  static DefaultReactor* const instance = new DefaultReactor();
  return *instance;
}

}  // namespace picos::io
