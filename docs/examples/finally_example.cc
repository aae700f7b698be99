// Copyright 2026 The Picos for C++ Authors.
//
// docs/finally.md's example: a connection-like resource released exactly once, with
// cancelation masked, and handed to a fiber without a window in which it could leak.

#include <cassert>
#include <cstdio>
#include <stdexcept>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"
#include "std/finally/finally.h"

namespace fin = picos::finally;

static int open_connections = 0;

struct Conn {
  int id;
};

static fin::Owned<Conn> connect(int id) {
  return fin::instantiate(
      [id] {
        ++open_connections;
        return Conn{id};
      },
      [](Conn& c) {
        // Runs with cancelation forbidden: this yield (a "polite goodbye") cannot be cut
        // short even when the owning fiber has been canceled.
        picos::Fiber::yield();
        --open_connections;
        std::printf("closed %d\n", c.id);
      });
}

int main() {
  picos::mux::fifo::run([] {
    {
      auto c = connect(1);
      std::printf("using %d\n", c->id);
    }  // released here, once
    assert(open_connections == 0);

    // Hand connection 2 to a handler fiber: it owns it from the moment the spawn succeeds.
    auto c2 = connect(2);
    picos::Computation<void> handler;
    fin::spawn_with(picos::Fiber::create(handler), c2, [handler](Conn& c) {
      handler.capture([&] { std::printf("handler uses %d\n", c.id); });
    });
    assert(!c2.owns());
    handler.await();

    // A canceled fiber cannot spawn: connection 3 stays with us and is released by `c3`.
    picos::Computation<void> canceled;
    picos::Fiber::spawn(picos::Fiber::create(canceled), [canceled] {
      auto c3 = connect(3);
      canceled.cancel(std::make_exception_ptr(std::runtime_error("stop")));
      try {
        fin::spawn_with(picos::Fiber::create(picos::Computation<void>()), c3, [](Conn&) {});
      } catch (const std::runtime_error&) {
        assert(c3.owns());
      }
    });
    canceled.wait();
    for (int i = 0; i < 10 && open_connections > 0; ++i) picos::Fiber::yield();

    // lastly: an action that runs, masked, however the scope exits.
    int r = fin::lastly([] { return 42; }, [] { std::printf("lastly ran\n"); });
    assert(r == 42);
  });
  assert(open_connections == 0);
  std::printf("all closed\n");
  return 0;
}
