// Copyright 2026 The Picos for C++ Authors.
//
// tools/demo/loopback.h — the TCP plumbing of the demo's echo server on 127.0.0.1, shared
// with tools/bench's echo workload (picos_bench) and the HTTP server (//tools/http): a
// loopback listener, TCP_NODELAY, a descriptor guard, and which errno values end one
// connection (or skip one accept) rather than the server. Everything goes through picos::io
// (descriptors are non-blocking).

#ifndef PICOS_TOOLS_DEMO_LOOPBACK_H_
#define PICOS_TOOLS_DEMO_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
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

}  // namespace picos::tools

#endif  // PICOS_TOOLS_DEMO_LOOPBACK_H_
