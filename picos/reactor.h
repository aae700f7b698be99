// Copyright 2026 The Picos for C++ Authors.
//
// picos/reactor.h — waiting for file-descriptor readiness, as a scheduler may provide it.
//
// A `Reactor` tells when a descriptor is ready to read or write by signaling a `Trigger`.
// The IO library (//io) uses the reactor of the running scheduler when the scheduler offers
// one (`Handler::reactor()`, see picos/handler.h), and otherwise a process-wide background
// epoll thread (picos::io::default_reactor()). A scheduler that waits for descriptors in its
// own loop (mux/libevent; mux/fifo, mux/multififo and randos with their epoll set,
// poller/epoll_poller.h; fifo and multififo with io_uring instead, poller/uring_poller.h)
// offers its reactor so that io's waits take that fast path with no change to user code.
//
// The protocol, as //io drives it for one wait:
//
//     FdInterest w(fd, kFdRead);    // caller-owned, stays put until remove()
//     reactor.add(w);               // may throw std::system_error (e.g. EBADF)
//     auto reason = w.trigger.await();
//     reactor.remove(w);            // always, signaled or not
//     // reason != nullptr: canceled. w.outcome: kReady, kClosed, or kPending (canceled).
//
// Contract for implementations:
//  - add: registers interest in `w.events` on `w.fd`. Afterwards the reactor signals
//    `w.trigger` exactly once when the fd may be ready for at least one of the events
//    (setting `w.outcome = kReady` first), or when `forget(w.fd)` is called (`kClosed`
//    first), unless `remove(w)` comes first. Spurious readiness is allowed: callers retry
//    the operation and wait again on EAGAIN. Throws std::system_error if the descriptor
//    cannot be watched, leaving nothing registered.
//  - remove: after it returns the reactor no longer refers to `w` (it may still hold copies
//    of the trigger, which are harmless). Must be called once for every successful add,
//    whether or not the trigger was signaled. Never throws. It is what makes cancelation
//    safe: the fd stays open and usable, and may be closed at once.
//  - forget: called by io::close before it closes `fd`, on the closer's thread: every
//    interest registered on `fd` is completed with `kClosed` and its trigger signaled, and
//    the reactor drops whatever it keeps for `fd` (so a later descriptor with the same number
//    starts afresh). It must be done when forget returns (the number may be reused at once),
//    without waiting for the reactor's loop: the loop may be asleep, busy, or on a thread
//    that waits for the closer.
//  - Registry: io::close finds the reactors to call through picos/internal/reactor_registry.h,
//    so every reactor that can hold interests owns a ReactorRegistration: `enroll` before its
//    first interest (outside its own locks), `note(fd)` in add under the lock its forget
//    takes (a load per wait, constant), `withdraw` once no fiber can wait on it any more and
//    before it is destroyed — never from inside a resume action its forget runs. A reactor
//    that does not enroll is never told of closes: its waiters hang until canceled.
//  - Signal triggers outside the reactor's own locks if possible (the resume action of a
//    scheduler runs inside `signal`). A trigger may be signaled on any thread: a scheduler's
//    resume action takes its remote path (a queue and a wake-up of its loop) when called on
//    a thread that is not running the scheduler.
//  - `outcome` is written by the reactor before it signals and read by the caller only
//    after `remove` returned (remove orders the two, e.g. through the reactor's lock).
//  - Threads: add and remove are called from the fibers that wait (a scheduler's reactor:
//    only its own fibers, on its threads); forget from any thread, concurrently with them
//    and with the reactor's loop. The default reactor accepts every call from any thread.

#ifndef PICOS_REACTOR_H_
#define PICOS_REACTOR_H_

#include "picos/trigger.h"

namespace picos {

// Readiness events, combined with |.
enum FdEvents : unsigned {
  kFdRead = 1,   // readable, peer closed, or an error pending
  kFdWrite = 2,  // writable, or an error pending
};

// One registered interest. Owned by the waiting caller; must stay at the same address from
// `add` until `remove` returns.
struct FdInterest {
  enum Outcome : unsigned char {
    kPending = 0,  // not completed by the reactor (e.g. the waiter was canceled)
    kReady = 1,    // the fd may be ready
    kClosed = 2,   // forget(fd) was called: the fd is being closed
  };

  FdInterest(int fd_, unsigned events_) noexcept : fd(fd_), events(events_) {}
  FdInterest(const FdInterest&) = delete;
  FdInterest& operator=(const FdInterest&) = delete;

  const int fd;
  const unsigned events;  // kFdRead, kFdWrite or both
  Trigger trigger;        // signaled by the reactor
  Outcome outcome = kPending;
  void* reactor_data[4] = {};  // scratch space for the reactor (event handles, list links)
};

class Reactor {
 public:
  virtual void add(FdInterest& interest) = 0;
  virtual void remove(FdInterest& interest) noexcept = 0;
  virtual void forget(int fd) noexcept = 0;

 protected:
  // Reactors are owned by whoever provides them (a scheduler, a process-wide singleton);
  // nobody deletes one through this interface.
  ~Reactor() = default;
};

}  // namespace picos

#endif  // PICOS_REACTOR_H_
