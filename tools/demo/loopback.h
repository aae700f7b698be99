// Copyright 2026 The Picos for C++ Authors.
//
// tools/demo/loopback.h — the TCP plumbing of the demo's echo server on 127.0.0.1, shared
// with tools/bench's echo workload (picos_bench) and the HTTP server (//tools/http): a
// loopback listener, TCP_NODELAY, a descriptor guard, and which errno values end one
// connection (or skip one accept) rather than the server, and one accept of a server's loop
// with those rules applied (accept_one). Everything goes through picos::io (descriptors are
// non-blocking).

#ifndef PICOS_TOOLS_DEMO_LOOPBACK_H_
#define PICOS_TOOLS_DEMO_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>

#include "io/io.h"

namespace picos::tools {

inline void no_delay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A listening socket on 127.0.0.1:port (0: the kernel picks); `addr` receives the address.
// Throws std::system_error if it cannot listen.
inline int listen_loopback(int port, sockaddr_in* addr) {
  int fd = io::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_port = htons(static_cast<std::uint16_t>(port));
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(addr), len) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len) != 0) {
    int e = errno;
    io::close(fd);
    throw std::system_error(e, std::generic_category(),
                            "listening on 127.0.0.1:" + std::to_string(port));
  }
  return fd;
}

// Closes a descriptor when the fiber owning it ends, however it ends (Terminate included);
// -1: nothing to close.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) io::close(fd);
  }
};

// Errors of one connection: its peer reset or vanished, or the network failed it. A server
// ends that connection and nothing else. Anything else (EBADF, EFAULT, EINVAL...) is a bug in
// the server and should escape.
inline bool is_reset(int err) { return err == ECONNRESET || err == EPIPE; }
inline bool is_connection_error(int err) {
  switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ETIMEDOUT:
    case ECONNABORTED:
    case ENOTCONN:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case ENETRESET:
    case EHOSTDOWN:
    case EPROTO:
    case EIO:
    case ENOBUFS:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

// accept failures that concern one pending connection or a momentary shortage; the listener
// is fine (accept(2): Linux reports a pending connection's network errors from accept, and
// they are to be treated like EAGAIN). Out of descriptors or memory: pause, then retry.
inline bool is_out_of_resources(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}
inline bool is_transient_accept_error(int err) {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
    case ECONNRESET:
      return true;
    default:
      return is_out_of_resources(err);
  }
}

// What a server's accept loop counts (the demo's and the HTTP server's statistics derive
// from it).
struct AcceptCounters {
  std::atomic<long> accepted{0};
  std::atomic<long> open{0};       // accepted, not closed yet (the server counts the closes)
  std::atomic<long> aborted{0};    // accept skipped a connection that failed before it
  std::atomic<long> fd_pauses{0};  // accept found no descriptor left and paused
};

// One accept of a server's loop on the listener `lfd`. Returns the new connection's
// descriptor, counted in `accepted` and `open`; or -1 after a failure that concerned one
// pending connection (counted in `aborted`), or after running out of descriptors or memory
// and pausing (`pause`, the caller's across calls: 10 ms, doubling up to 200 ms while the
// shortage lasts, back to 0 at the next success; the first pause of a shortage prints one
// line on stderr, prefixed with `who`; counted in `fd_pauses`): new clients wait in the listen
// backlog meanwhile. Any other failure means the listener is broken: std::runtime_error.
// A cancelation point (io::accept, io::sleep); never suspends inside a catch block.
inline int accept_one(int lfd, AcceptCounters& c, std::chrono::milliseconds& pause,
                      const char* who) {
  int fd = -1;
  int err = 0;
  std::string what;
  try {
    fd = io::accept(lfd);
  } catch (const std::system_error& e) {
    err = e.code().value();
    what = e.what();
  }
  if (err == 0) {
    pause = std::chrono::milliseconds(0);
    c.accepted.fetch_add(1, std::memory_order_relaxed);
    c.open.fetch_add(1, std::memory_order_relaxed);
    return fd;
  }
  if (!is_transient_accept_error(err)) {
    throw std::runtime_error("the listener failed, the server stops: " + what);
  }
  if (!is_out_of_resources(err)) {
    c.aborted.fetch_add(1, std::memory_order_relaxed);
    return -1;
  }
  if (pause.count() == 0) {
    std::fprintf(stderr,
                 "%s: accept: %s; %ld connections open; new ones wait in the backlog (accept "
                 "retries with a growing pause; raise ulimit -n)\n",
                 who, what.c_str(), c.open.load());
  }
  pause =
      std::min(std::max(pause * 2, std::chrono::milliseconds(10)), std::chrono::milliseconds(200));
  c.fd_pauses.fetch_add(1, std::memory_order_relaxed);
  io::sleep(pause);
  return -1;
}

}  // namespace picos::tools

#endif  // PICOS_TOOLS_DEMO_LOOPBACK_H_
