// Copyright 2026 The Picos for C++ Authors.
//
// The readiness alternative: poll() on request, else an FdInterest whose trigger commits the
// select's claim; removed from the reactor when withdrawn.

#include "io/fd_event.h"

#include <poll.h>

#include <cerrno>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "io/io.h"
#include "picos/computation.h"
#include "picos/internal/thread_cache.h"
#include "picos/trigger.h"
#include "picos/tx.h"

namespace picos::io {

namespace {

[[noreturn]] void fail(int err, const char* op) {
  throw std::system_error(err, std::generic_category(), std::string("picos::io::") + op);
}

// What the interest's trigger commits: the select's claim and the alternative's own mark,
// together, so that withdraw can tell whether this alternative won.
// From the thread's cache: one per readiness alternative that has to wait.
struct Commit : picos::internal::ThreadCached<Commit> {
  Computation<void> claim;
  Computation<void> mine;
};

void commit(const Trigger&, void* x, void*) noexcept {
  auto* c = static_cast<Commit*>(x);
  if (!c->claim.is_running()) return;  // another alternative won, or the sync was canceled
  try {
    Tx tx;
    if (tx.try_finish(c->claim) && tx.try_finish(c->mine)) (void)tx.try_commit();
  } catch (...) {
    // Out of memory building the Tx: this alternative cannot commit; the sync waits for
    // another one (or its cancelation).
  }
}

void release_commit(void* x, void*) noexcept { delete static_cast<Commit*>(x); }

// Whether poll() says `fd` is ready for `events` now; throws EBADF for a closed descriptor.
bool ready_now(int fd, unsigned events, const char* op) {
  pollfd p{};
  p.fd = fd;
  p.events =
      static_cast<short>(((events & kFdRead) ? POLLIN : 0) | ((events & kFdWrite) ? POLLOUT : 0));
  int n;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail(errno, op);
  if (p.revents & POLLNVAL) fail(EBADF, op);
  return n > 0;  // POLLERR and POLLHUP count as ready, as for the reactor
}

class FdAlt final : public event::internal::TypedAlt<void>,
                    public picos::internal::ThreadCached<FdAlt> {
 public:
  FdAlt(int fd, unsigned events, Reactor* reactor, const char* op)
      : interest_(fd, events), reactor_(reactor), op_(op) {}

  bool request(event::internal::Selection& s) override {
    if (ready_now(interest_.fd, interest_.events, op_)) return s.claim.try_finish();
    Reactor& r = reactor_ ? *reactor_ : current_reactor();
    interest_.trigger =
        Trigger::from_action(new Commit{{}, s.claim, mine_}, nullptr, &commit, &release_commit);
    try {
      r.add(interest_);
    } catch (const std::system_error& e) {
      fail(e.code().value(), op_);
    }
    registered_ = &r;
    return false;
  }

  bool withdraw(event::internal::Selection&) noexcept override {
    if (registered_ == nullptr) return false;
    registered_->remove(interest_);  // after it returns the reactor no longer refers to it
    registered_ = nullptr;
    closed_ = interest_.outcome == FdInterest::kClosed;
    // `commit` may be running on another thread (the reactor's, a closer's): canceling
    // `mine_` takes its lock, so either that Tx completed it (this alternative won) or no Tx
    // can any more.
    static const std::exception_ptr lost = std::make_exception_ptr(std::runtime_error("lost"));
    return !mine_.try_cancel(lost);
  }

  void take() override {
    if (closed_) fail(EBADF, op_);
  }

 private:
  FdInterest interest_;
  Reactor* const reactor_;
  const char* const op_;
  Reactor* registered_ = nullptr;  // the reactor holding interest_, between add and remove
  Computation<void> mine_;
  bool closed_ = false;
};

event::Event<void> make(int fd, unsigned events, Reactor* reactor, const char* op) {
  if ((events & (kFdRead | kFdWrite)) == 0 || (events & ~unsigned{kFdRead | kFdWrite}) != 0) {
    throw std::invalid_argument(std::string("picos::io::") + op + ": events must be kFdRead, " +
                                "kFdWrite or both");
  }
  return event::internal::from_proto_fn<void>([fd, events, reactor, op] {
    return std::unique_ptr<event::internal::TypedAlt<void>>(new FdAlt(fd, events, reactor, op));
  });
}

}  // namespace

event::Event<void> ready_evt(int fd, unsigned events, Reactor* reactor) {
  return make(fd, events, reactor, "ready_evt");
}

event::Event<void> readable_evt(int fd, Reactor* reactor) {
  return make(fd, kFdRead, reactor, "readable_evt");
}

event::Event<void> writable_evt(int fd, Reactor* reactor) {
  return make(fd, kFdWrite, reactor, "writable_evt");
}

}  // namespace picos::io
