// Copyright 2026 The Picos for C++ Authors.
//
// tools/demo/serve.h — the life of a server that stops on a signal with a grace period,
// shared by the demo's echo server (tools/demo) and the HTTP server (//tools/http):
//
//   picos::io::SignalSet stop({SIGINT, SIGTERM});   // before any thread exists
//   ...
//   picos::tools::serve_until_signal("http_server", listener_fd, stop, grace,
//       [&](Bundle& connections) { accept_loop(listener_fd, connections, ...); },
//       [&] { return stats.open.load(); });
//
// The accept loop runs in a scope of its own next to a wait for the signal. When a signal
// arrives, the accept loop is terminated (Bundle, OnReturn::kTerminate), the listener is
// closed with io::close (new clients are refused from then on), one line says so, and the
// connections' scope gets `grace` seconds: at the deadline every handler still running sees
// Terminate (Bundle::terminate_after). Returns once every handler has ended.

#ifndef PICOS_TOOLS_DEMO_SERVE_H_
#define PICOS_TOOLS_DEMO_SERVE_H_

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "io/io.h"
#include "io/signal.h"
#include "std/structured/structured.h"

namespace picos::tools {

// `accept_loop(connections)` forks one handler per connection into `connections` until it is
// terminated; `open()` says how many connections are open (for the stop line). `listener_fd`
// is closed (and set to -1) when the signal arrives. The stop line, on stdout:
//   "<name>: SIGTERM: stopped accepting; 3 connections open, 5.0 s of grace"
template <typename AcceptLoop, typename OpenCount>
void serve_until_signal(const char* name, int& listener_fd, io::SignalSet& stop, double grace,
                        AcceptLoop accept_loop, OpenCount open) {
  using structured::Bundle;
  Bundle::join_after([&](Bundle& connections) {  // every connection's handler
    int sig = 0;
    Bundle::join_after(
        [&](Bundle& front) {  // the acceptor; the signal is awaited here
          front.fork([&] { accept_loop(connections); });
          // Keeps a timer pending: fibers waiting in the background epoll reactor look idle
          // to some schedulers, which would otherwise warn once that they are blocked.
          front.fork([] {
            for (;;) io::sleep(3600.0);
          });
          sig = stop.wait();
        },
        structured::OnReturn::kTerminate);  // stops the acceptor
    io::close(listener_fd);                 // new clients are refused from now on
    listener_fd = -1;
    const char* abbrev = sigabbrev_np(sig);
    std::printf("%s: %s: stopped accepting; %ld connections open, %.1f s of grace\n", name,
                abbrev ? (std::string("SIG") + abbrev).c_str() : "signal",
                static_cast<long>(open()), grace);
    std::fflush(stdout);
    // The scope form of Control::terminate_after: at the deadline every handler still
    // running sees Terminate; join_after returns as soon as they have all ended.
    connections.terminate_after(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(grace)));
  });
}

}  // namespace picos::tools

#endif  // PICOS_TOOLS_DEMO_SERVE_H_
