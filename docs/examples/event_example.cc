// Copyright 2026 The Picos for C++ Authors.
//
// docs/event.md's example: a worker that serves requests from two channels, gives up after a
// timeout, and a client that either sends or learns that the worker has stopped.

#include <cassert>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"
#include "std/event/event.h"
#include "std/event/sync_events.h"
#include "std/sync/channel.h"
#include "std/sync/ivar.h"

namespace ev = picos::event;
using picos::sync::Channel;

int main() {
  picos::mux::fifo::run([] {
    Channel<int> urgent(0), normal(4);
    picos::sync::Ivar<int> stopped;
    picos::Computation<void> worker;
    picos::Fiber::spawn(picos::Fiber::create(worker), [&, worker] {
      worker.capture([&] {
        int served = 0;
        for (;;) {
          // Exactly one of the three commits: a value from `urgent`, one from `normal`, or
          // the timeout (then nothing is taken from either channel).
          std::string what = ev::select<std::string>({
              ev::map(ev::receive_evt(urgent),
                      [](std::optional<int> v) { return "urgent " + std::to_string(*v); }),
              ev::map(ev::receive_evt(normal),
                      [](std::optional<int> v) { return "normal " + std::to_string(*v); }),
              ev::map(ev::after(std::chrono::milliseconds(20)),
                      [] { return std::string("timeout"); }),
          });
          std::printf("worker: %s\n", what.c_str());
          if (what == "timeout") break;
          ++served;
        }
        stopped.fill(served);
      });
    });
    normal.send(1);
    normal.send(2);
    urgent.send(3);  // rendezvous: returns once the worker has taken it
    // Send 4 unless the worker has stopped first: whichever happens first, never both.
    bool sent = ev::select<bool>({ev::map(ev::send_evt(urgent, 4), [] { return true; }),
                                  ev::map(ev::read_evt(stopped), [](int) { return false; })});
    assert(sent);
    worker.await();
    assert(stopped.read() == 4);
    // Now the worker is gone: the send alternative never commits, the Ivar one does.
    sent = ev::select<bool>({ev::map(ev::send_evt(urgent, 5), [] { return true; }),
                             ev::map(ev::read_evt(stopped), [](int) { return false; })});
    assert(!sent && urgent.waiting_senders() == 0);
    std::printf("served %d\n", stopped.read());
  });
  return 0;
}
