// Copyright 2026 The Picos for C++ Authors.
//
// The retrying wrappers: try the call, on EAGAIN wait through the reactor, retry. read,
// recv and read_full, on EAGAIN, first offer the reactor the call itself
// (Reactor::start_operation, io_uring's on sockets and pipes): then the kernel makes it when
// data is there.

#include "io/io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <exception>
#include <optional>
#include <string>
#include <system_error>

#include "io/read_hint.h"
#include "picos/debug.h"
#include "picos/fiber.h"
#include "picos/handler.h"
#include "picos/internal/reactor_registry.h"

namespace picos::io {

namespace {

[[noreturn]] void fail(int err, const char* op) {
  throw std::system_error(err, std::generic_category(), std::string("picos::io::") + op);
}

// Sets SIGPIPE to SIG_IGN once, if it still has the default disposition.
void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
      struct sigaction sa {};
      sa.sa_handler = SIG_IGN;
      sigemptyset(&sa.sa_mask);
      (void)sigaction(SIGPIPE, &sa, nullptr);
    }
    return true;
  }();
  (void)done;
}

bool wait_fd(Reactor& reactor, int fd, unsigned events, const char* op, bool tolerant,
             bool drained);

// Runs `call` until it succeeds or fails with something other than EINTR/EAGAIN; on EAGAIN
// waits for `events` on `fd` (a drained wait: the call just found it not ready).
template <typename Call>
auto retry(int fd, unsigned events, const char* op, Call call) {
  ignore_sigpipe_once();
  for (;;) {
    auto rc = call();
    if (rc >= 0) return rc;
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      (void)wait_fd(current_reactor(), fd, events, op, /*tolerant=*/false, /*drained=*/true);
      continue;
    }
    fail(err, op);
  }
}

constexpr debug::WaitKind kIoWait{"picos::io", nullptr, debug::Detail::kFd, true};

// After the await of `op` returned a cancelation reason: aborts it and waits, with
// cancelation forbidden, until the kernel is done with its buffer. noexcept: the operation
// must not outlive its caller's frame (were the trigger's allocation to fail, terminate).
void finish_canceled(Reactor& reactor, FdOperation& op, const char* name) noexcept {
  Trigger done;
  done.set_wait_label(kIoWait, name, op.fd);
  reactor.cancel_operation(op, done);
  (void)Fiber::current().forbid([&] { return done.await(); });
}

// A read-like call of `kind` on `fd` that would block, made by the reactor itself when it can
// (Reactor::start_operation): the result, or nullopt if the reactor does not make it (or the
// kernel would not wait: MSG_DONTWAIT) and the caller must wait for readiness. Data that
// arrived is returned even if the fiber was canceled meanwhile (its cancelation shows at the
// next cancelation point). With `refused` non-null, a reactor that throws on start_operation
// (it cannot watch `fd`) sets *refused and yields nullopt instead of the error.
std::optional<ssize_t> complete(Reactor& reactor, int fd, FdOperation::Kind kind, void* buf,
                                std::size_t len, int flags, const char* name,
                                bool* refused = nullptr) {
  for (;;) {
    FdOperation op(fd, kind, buf, len, flags);
    bool started = false;
    try {
      started = reactor.start_operation(op);
    } catch (const std::system_error& e) {
      if (refused != nullptr) {
        *refused = true;
        return std::nullopt;
      }
      fail(e.code().value(), name);
    }
    if (!started) return std::nullopt;
    op.trigger.set_wait_label(kIoWait, name, fd);
    const std::exception_ptr reason = op.trigger.await();
    if (reason) finish_canceled(reactor, op, name);
    if (op.result >= 0) return static_cast<ssize_t>(op.result);
    if (reason) std::rethrow_exception(reason);
    if (op.outcome == FdInterest::kClosed) fail(EBADF, name);
    const int err = static_cast<int>(-op.result);
    // Aborted though nobody asked (the kernel cancels what a thread submitted when that
    // thread exits), or interrupted: make it again.
    if (err == ECANCELED || err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return std::nullopt;
    fail(err, name);
  }
}

// await_fd on `reactor`. With `tolerant`, a reactor that cannot watch `fd` (add throws) makes
// it return false, having waited for nothing, instead of throwing. `drained`: see
// FdInterest::drained.
bool wait_fd(Reactor& reactor, int fd, unsigned events, const char* op, bool tolerant,
             bool drained) {
  FdInterest w(fd, events, drained);
  try {
    reactor.add(w);
  } catch (const std::system_error& e) {
    if (tolerant) return false;
    fail(e.code().value(), op);
  }
  w.trigger.set_wait_label(kIoWait, op, fd);
  std::exception_ptr reason;
  try {
    reason = w.trigger.await();
  } catch (...) {
    reactor.remove(w);
    throw;
  }
  reactor.remove(w);
  if (reason) std::rethrow_exception(reason);
  if (w.outcome == FdInterest::kClosed) fail(EBADF, op);
  return true;
}

// Waits until a read-like call on `fd` may not block: the reactor makes the call when it can
// (`made` then holds its result), else the fiber waits for readiness. Returns whether it
// waited; false only with `tolerant`, when the reactor cannot watch `fd` (see wait_fd).
bool wait_readable(int fd, FdOperation::Kind kind, void* buf, std::size_t len, int flags,
                   const char* name, bool tolerant, bool drained, std::optional<ssize_t>& made) {
  Reactor& reactor = current_reactor();
  bool refused = false;
  made = complete(reactor, fd, kind, buf, len, flags, name, tolerant ? &refused : nullptr);
  if (made) return true;
  return !refused && wait_fd(reactor, fd, kFdRead, name, tolerant, drained);
}

// retry() for read-like calls: the call is tried first (data that is there is taken without
// a suspension); when it would block, the reactor makes it when data comes if it can, which
// saves the wait's registration and the retry, else the fiber waits for readiness and tries
// again, as retry() does. Where the descriptor's read hint (io/read_hint.h) says the call
// would block, the fiber waits first instead, unless it is canceled already (a call that
// finds data does not check cancelation, and the hint may be wrong) or reads 0 bytes (which
// returns at once on a stream or a pipe: nothing to wait for).
template <typename Call>
ssize_t transfer(int fd, FdOperation::Kind kind, void* buf, std::size_t len, int flags,
                 const char* name, Call call) {
  internal::ReadHintCell* const cell = internal::read_hint_cell(fd);  // null: nothing learned
  const internal::ReadHint loaded = cell == nullptr
                                        ? internal::ReadHint()
                                        : internal::ReadHint(cell->load(std::memory_order_relaxed));
  internal::ReadHint hint = loaded;
  std::optional<ssize_t> made;
  bool waited_first = false;
  bool first_call_blocked = false;
  auto done = [&](ssize_t n, bool waited) {
    const bool short_read = static_cast<std::size_t>(n) < len && (flags & MSG_PEEK) == 0;
    const internal::ReadHint next = hint.after(waited_first, first_call_blocked, waited,
                                               static_cast<std::size_t>(n), short_read);
    if (next.bits() != loaded.bits()) {
      if (cell != nullptr) {
        cell->store(next.bits(), std::memory_order_relaxed);
      } else {
        internal::set_read_hint(fd, next);
      }
    }
    return n;
  };
  if (len > 0 && hint.wait_first() && !Fiber::current().is_canceled()) {
    // The last read came back short: on a stream that means it took everything, and the
    // reactor need not check the level (FdInterest::drained). The kind is asked once.
    if (hint.emptied() && !hint.kind_known()) hint = hint.with_kind(internal::is_stream(fd));
    waited_first = wait_readable(fd, kind, buf, len, flags, name, /*tolerant=*/true,
                                 /*drained=*/hint.known_empty(), made);
    if (made) return done(*made, true);
  }
  bool waited = waited_first;
  for (;;) {
    const ssize_t n = call();
    if (n >= 0) return done(n, waited);
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) fail(err, name);
    if (!waited) first_call_blocked = true;  // the first call, made before any wait
    waited = wait_readable(fd, kind, buf, len, flags, name, /*tolerant=*/false,
                           /*drained=*/true, made);
    if (made) return done(*made, true);
  }
}

}  // namespace

// ---- reactors ------------------------------------------------------------------------------

Reactor& current_reactor() {
  if (Handler* h = installed_handler()) {
    if (Reactor* r = h->reactor()) return *r;
  }
  return default_reactor();
}

void await_fd(int fd, unsigned events, const char* op) {
  (void)wait_fd(current_reactor(), fd, events, op, /*tolerant=*/false, /*drained=*/false);
}

// ---- descriptors ---------------------------------------------------------------------------

void pipe(int fds[2]) {
  ignore_sigpipe_once();
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) fail(errno, "pipe");
}

void socketpair(int domain, int type, int protocol, int sv[2]) {
  ignore_sigpipe_once();
  if (::socketpair(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol, sv) != 0) {
    fail(errno, "socketpair");
  }
}

int socket(int domain, int type, int protocol) {
  ignore_sigpipe_once();
  int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) fail(errno, "socket");
  return fd;
}

void forget(int fd) noexcept {
  // Every reactor that has waited on `fd` since it was last forgotten, whichever thread or
  // scheduler it belongs to: they note it in the registry when they add an interest.
  picos::internal::forget_everywhere(fd);
  internal::clear_read_hint(fd);  // the number may be reused by another descriptor
}

void close(int fd) {
  forget(fd);
  if (::close(fd) != 0 && errno != EINTR) fail(errno, "close");
}

void set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) fail(errno, "set_nonblocking");
  int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && ::fcntl(fd, F_SETFL, want) != 0) fail(errno, "set_nonblocking");
}

// ---- data ----------------------------------------------------------------------------------

ssize_t read(int fd, void* buf, std::size_t count) {
  return transfer(fd, FdOperation::kRead, buf, count, 0, "read",
                  [&] { return ::read(fd, buf, count); });
}

ssize_t write(int fd, const void* buf, std::size_t count) {
  return retry(fd, kFdWrite, "write", [&] { return ::write(fd, buf, count); });
}

ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
  return retry(fd, kFdRead, "readv", [&] { return ::readv(fd, iov, iovcnt); });
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  return retry(fd, kFdWrite, "writev", [&] { return ::writev(fd, iov, iovcnt); });
}

ssize_t pread(int fd, void* buf, std::size_t count, off_t offset) {
  return retry(fd, kFdRead, "pread", [&] { return ::pread(fd, buf, count, offset); });
}

ssize_t pwrite(int fd, const void* buf, std::size_t count, off_t offset) {
  return retry(fd, kFdWrite, "pwrite", [&] { return ::pwrite(fd, buf, count, offset); });
}

ssize_t send(int fd, const void* buf, std::size_t len, int flags) {
  return retry(fd, kFdWrite, "send", [&] { return ::send(fd, buf, len, flags | MSG_NOSIGNAL); });
}

ssize_t recv(int fd, void* buf, std::size_t len, int flags) {
  return transfer(fd, FdOperation::kRecv, buf, len, flags, "recv",
                  [&] { return ::recv(fd, buf, len, flags); });
}

ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* dest,
               socklen_t dest_len) {
  return retry(fd, kFdWrite, "sendto",
               [&] { return ::sendto(fd, buf, len, flags | MSG_NOSIGNAL, dest, dest_len); });
}

ssize_t recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* src, socklen_t* src_len) {
  return retry(fd, kFdRead, "recvfrom",
               [&] { return ::recvfrom(fd, buf, len, flags, src, src_len); });
}

void write_all(int fd, const void* buf, std::size_t count) {
  const char* p = static_cast<const char*>(buf);
  while (count > 0) {
    ssize_t n = retry(fd, kFdWrite, "write_all", [&] { return ::write(fd, p, count); });
    p += n;
    count -= static_cast<std::size_t>(n);
  }
}

std::size_t read_full(int fd, void* buf, std::size_t count) {
  char* p = static_cast<char*>(buf);
  std::size_t done = 0;
  while (done < count) {
    ssize_t n = transfer(fd, FdOperation::kRead, p + done, count - done, 0, "read_full",
                         [&] { return ::read(fd, p + done, count - done); });
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

// ---- sockets -------------------------------------------------------------------------------

int accept(int fd, sockaddr* addr, socklen_t* addrlen) {
  return retry(fd, kFdRead, "accept",
               [&] { return ::accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC); });
}

void connect(int fd, const sockaddr* addr, socklen_t addrlen) {
  ignore_sigpipe_once();
  if (::connect(fd, addr, addrlen) == 0) return;
  int err = errno;
  // EINTR: the connection continues asynchronously, as with EINPROGRESS.
  if (err != EINPROGRESS && err != EINTR && err != EAGAIN) fail(err, "connect");
  for (;;) {
    await_fd(fd, kFdWrite, "connect");
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) fail(errno, "connect");
    if (so_error == EINPROGRESS || so_error == EALREADY) continue;
    if (so_error != 0) fail(so_error, "connect");
    // Spurious wake-ups are allowed: make sure the connection is established.
    sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) return;
    if (errno != ENOTCONN) fail(errno, "connect");
  }
}

void shutdown(int fd, int how) {
  if (::shutdown(fd, how) != 0) fail(errno, "shutdown");
}

// ---- waiting -------------------------------------------------------------------------------

void sleep(std::chrono::nanoseconds delay) { Fiber::sleep(delay); }
void sleep(double seconds) { Fiber::sleep(seconds); }

int wait_child(pid_t pid) {
  int status = 0;
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    if (err != ENOSYS) fail(err, "wait_child");
    // Fallback without pidfd_open: poll.
    auto delay = std::chrono::milliseconds(1);
    for (;;) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) return status;
      if (r < 0 && errno != EINTR) fail(errno, "wait_child");
      if (r == 0) {
        Fiber::sleep(delay);
        if (delay < std::chrono::milliseconds(50)) delay *= 2;
      }
    }
  }
  struct Closer {
    int fd;
    ~Closer() {
      forget(fd);
      ::close(fd);
    }
  } closer{pidfd};
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(errno, "wait_child");
    }
    await_fd(pidfd, kFdRead, "wait_child");
  }
}

}  // namespace picos::io
