// Copyright 2026 The Picos for C++ Authors.
//
// picos/reactor.h — waiting for file-descriptor readiness, as a scheduler may provide it.
//
// A `Reactor` tells when a descriptor is ready to read or write by signaling a `Trigger`.
// The IO library (//io) uses the reactor of the running scheduler when the scheduler offers
// one (`Handler::reactor()`, see picos/handler.h), and otherwise a process-wide background
// epoll thread (picos::io::default_reactor()). A scheduler that waits for descriptors in its
// own loop (mux/fifo, mux/multififo, randos and mux/libevent with their epoll set,
// poller/epoll_poller.h, libevent's watched by its event loop; fifo and multififo with
// io_uring instead, poller/uring_poller.h) offers its reactor so that io's waits take that
// fast path with no change to user code.
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
//    cannot be watched, leaving nothing registered. Readiness is the level: a descriptor
//    that is ready when add is called counts, whatever happened before. The one exception
//    is a wait marked `w.drained` (see FdInterest): a reactor may then count only what
//    happens after the caller's failed call (an edge), and must check the level itself
//    once such a wait has lasted a while (EpollPoller: 10 to 20 ms), so that a wrong mark
//    costs latency, never a lost wake-up. A drained wait may be signaled before add returns
//    (an edge came while nobody waited): its trigger's action, if any, then runs inside
//    add, on the caller's thread, outside the reactor's locks.
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
//
// Optional: completion-based operations (`FdOperation`), for a reactor whose kernel interface
// performs the call itself (io_uring). When a read would block (EAGAIN), //io tries
// `start_operation` and takes the readiness protocol above when it returns false, which
// every reactor does by default:
//
//     FdOperation op(fd, FdOperation::kRead, buf, len);  // caller-owned, stays put
//     if (reactor.start_operation(op)) {  // may throw std::system_error: nothing started
//       auto reason = op.trigger.await();
//       if (reason) {  // canceled: ask for an abort, then wait, uncancelably, for the end
//         Trigger done;
//         reactor.cancel_operation(op, done);
//         fiber.forbid([&] { return done.await(); });  // the kernel may still use `buf`
//       }
//       // op.result: bytes (>= 0) or -errno; op.outcome: kReady or kClosed.
//     }
//
// Contract for implementations that support it:
//  - start_operation: returns false (doing nothing) when the operation is not made this way
//    on this descriptor; else submits it and later signals `op.trigger` exactly once, after
//    the kernel is done with `op.buf`, with `op.result` and `op.outcome` written first. The
//    reactor refers to `op` until then, and never after.
//  - cancel_operation: called at most once, after the await of `op.trigger` returned a
//    cancelation reason. If `op` has ended, signals `done` at once; else asks the kernel to
//    abort it and signals `done` (instead of `op.trigger`) when it ends, as above. An
//    operation that transferred data before the abort took effect ends with its byte count:
//    the caller returns the data rather than lose it. Never throws.
//  - forget(fd) also aborts the operations in flight on `fd`, before it returns (nothing may
//    go on reading a number that is about to be closed), and marks them kClosed; each still
//    signals only once the kernel is done with its buffer (the reactor's loop reaps that
//    promptly: the abort is submitted).
//  - Threads: start_operation and cancel_operation from the fiber that owns `op`; forget
//    from any thread.

#ifndef PICOS_REACTOR_H_
#define PICOS_REACTOR_H_

#include <cstddef>

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

  FdInterest(int fd_, unsigned events_, bool drained_ = false) noexcept
      : fd(fd_), events(events_), drained(drained_) {}
  FdInterest(const FdInterest&) = delete;
  FdInterest& operator=(const FdInterest&) = delete;

  const int fd;
  const unsigned events;  // kFdRead, kFdWrite or both
  // The caller has just found `fd` not ready for `events`: the call it retries failed with
  // EAGAIN, or a read of a stream socket or pipe came back short (it took everything there).
  // Whatever makes the descriptor ready then happens after this point, so a reactor that
  // watches edges (EpollPoller) can wait for the next one without asking the kernel for the
  // level, which costs a system call per wait. Reactors that check the level anyway ignore
  // it. A wrong mark (data left behind, or a number closed behind the reactor's back and
  // reused) delays the wake-up until the reactor's own level check (see add above).
  const bool drained;
  Trigger trigger;  // signaled by the reactor
  Outcome outcome = kPending;
  void* reactor_data[4] = {};  // scratch space for the reactor (event handles, list links)
};

// One completion-based operation (see above). Owned by the caller; must stay at the same
// address until its trigger (or `cancel`'s `done`) is signaled.
struct FdOperation {
  enum Kind : unsigned char {
    kRead = 0,  // read(fd, buf, len)
    kRecv = 1,  // recv(fd, buf, len, flags)
  };

  FdOperation(int fd_, Kind kind_, void* buf_, std::size_t len_, int flags_ = 0) noexcept
      : fd(fd_), kind(kind_), flags(flags_), buf(buf_), len(len_) {}
  FdOperation(const FdOperation&) = delete;
  FdOperation& operator=(const FdOperation&) = delete;

  const int fd;
  const Kind kind;
  const int flags;
  void* const buf;
  const std::size_t len;
  Trigger trigger;  // signaled by the reactor when the operation has ended
  long result = 0;  // bytes transferred (>= 0) or -errno, written before the signal
  FdInterest::Outcome outcome = FdInterest::kPending;  // kReady, or kClosed (forget)
  void* reactor_data[4] = {};                          // scratch space for the reactor
};

class Reactor {
 public:
  virtual void add(FdInterest& interest) = 0;
  virtual void remove(FdInterest& interest) noexcept = 0;
  virtual void forget(int fd) noexcept = 0;

  // Completion-based operations (optional): by default not supported.
  virtual bool start_operation(FdOperation& op) {
    (void)op;
    return false;
  }
  virtual void cancel_operation(FdOperation& op, const Trigger& done) noexcept {
    (void)op;
    done.signal();
  }

 protected:
  // Reactors are owned by whoever provides them (a scheduler, a process-wide singleton);
  // nobody deletes one through this interface.
  ~Reactor() = default;
};

}  // namespace picos

#endif  // PICOS_REACTOR_H_
