// Copyright 2026 The Picos for C++ Authors.
//
// bench/io_benchmark.cc — picos::io round trips on fifo, multififo with two workers (both
// through the default epoll reactor thread) and libevent (its own reactor: the fast path).
//  - PipePingPong: two fibers, two non-blocking pipes; one iteration = one byte there and
//    back (each side waits for readiness every time).
//  - TcpEcho64: a client fiber and an echo fiber over a loopback TCP connection
//    (TCP_NODELAY); one iteration = 64 bytes sent and read back.
//   bazel run -c opt //bench:io_benchmark

#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <functional>
#include <stdexcept>

#include "bench/runners.h"
#include "io/io.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "picos/picos.h"

namespace picos::bench {
namespace {

namespace io = picos::io;

template <typename F>
Computation<void> fork(F fn) {
  Computation<void> c;
  Fiber::spawn(Fiber::create(c), [c, fn = std::move(fn)]() mutable { c.capture(fn); });
  return c;
}

void BM_PipePingPong(benchmark::State& state, Runner run) {
  run([&] {
    int a[2], b[2];
    io::pipe(a);
    io::pipe(b);
    auto echo = fork([&] {
      char c;
      while (io::read(a[0], &c, 1) == 1) io::write_all(b[1], &c, 1);
    });
    char c = 'x';
    for (auto _ : state) {
      io::write_all(a[1], &c, 1);
      if (io::read(b[0], &c, 1) != 1) throw std::runtime_error("eof");
    }
    io::close(a[1]);
    echo.await();
    io::close(a[0]);
    io::close(b[0]);
    io::close(b[1]);
  });
}

void BM_TcpEcho64(benchmark::State& state, Runner run) {
  run([&] {
    int lfd = io::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(lfd, 8) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("listen");
    }
    auto server = fork([&] {
      int fd = io::accept(lfd);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      char buf[64];
      while (std::size_t n = io::read_full(fd, buf, sizeof buf)) io::write_all(fd, buf, n);
      io::close(fd);
    });
    int fd = io::socket(AF_INET, SOCK_STREAM, 0);
    io::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char msg[64] = {}, back[64];
    for (auto _ : state) {
      io::write_all(fd, msg, sizeof msg);
      if (io::read_full(fd, back, sizeof back) != sizeof back) throw std::runtime_error("eof");
    }
    io::shutdown(fd, SHUT_WR);
    server.await();
    io::close(fd);
    io::close(lfd);
  });
}

BENCHMARK_CAPTURE(BM_PipePingPong, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_PipePingPong, multififo_2, on_multififo_2)->UseRealTime();
BENCHMARK_CAPTURE(BM_PipePingPong, libevent, on_libevent)->UseRealTime();
BENCHMARK_CAPTURE(BM_TcpEcho64, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_TcpEcho64, multififo_2, on_multififo_2)->UseRealTime();
BENCHMARK_CAPTURE(BM_TcpEcho64, libevent, on_libevent)->UseRealTime();

}  // namespace
}  // namespace picos::bench
