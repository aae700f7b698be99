// Copyright 2026 The Picos for C++ Authors.
//
// picos::event::select costs, on fifo and multififo with 2 threads: a select over 2 and over
// 8 channel-receive alternatives where exactly one channel has a value buffered (the ready
// one is listed last, so every other alternative is requested, queued and withdrawn), the
// same as a plain try_receive for reference, and a rendezvous ping-pong in which both sides
// go through select (each round trip: two selects that suspend, committed by the peer).
//   bazel run -c opt //bench:event_benchmark

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "bench/runners.h"
#include "benchmark/benchmark.h"
#include "mux/fifo/fifo.h"
#include "mux/multififo/multififo.h"
#include "picos/picos.h"
#include "std/event/event.h"
#include "std/event/sync_events.h"
#include "std/sync/channel.h"

namespace picos::bench {
namespace {

using picos::event::Event;
using picos::event::receive_evt;
using picos::event::select;
using picos::event::send_evt;
using picos::sync::Channel;

// One select over `n` receive alternatives, the last one ready (a value buffered).
void BM_SelectOneReady(benchmark::State& state, Runner run) {
  const int n = static_cast<int>(state.range(0));
  run([&] {
    std::vector<std::unique_ptr<Channel<int>>> ch;
    for (int i = 0; i < n; ++i) ch.push_back(std::make_unique<Channel<int>>(1));
    std::vector<Event<std::optional<int>>> alts;
    for (auto& c : ch) alts.push_back(receive_evt(*c));
    long sum = 0;
    for (auto _ : state) {
      ch.back()->try_send(1);
      sum += *select(alts);
    }
    if (sum != static_cast<long>(state.iterations())) state.SkipWithError("wrong count");
  });
}

// Reference: the same hand-off without select.
void BM_TryReceiveReference(benchmark::State& state, Runner run) {
  run([&] {
    Channel<int> c(1);
    long sum = 0;
    for (auto _ : state) {
      c.try_send(1);
      sum += *c.try_receive();
    }
    if (sum != static_cast<long>(state.iterations())) state.SkipWithError("wrong count");
  });
}

// Ping-pong over rendezvous channels; both fibers use select (the echo side selects between
// its ping channel and a never-used stop channel).
void BM_SelectPingPong(benchmark::State& state, Runner run) {
  run([&] {
    Channel<int> ping(0), pong(0), unused(0);
    Computation<void> other;
    Fiber::spawn(Fiber::create(other), [&, other] {
      other.capture([&] {
        for (;;) {
          std::optional<int> v = select({receive_evt(ping), receive_evt(unused)});
          if (!v) return;
          select({send_evt(pong, *v + 1)});
        }
      });
    });
    int x = 0;
    for (auto _ : state) {
      select({send_evt(ping, x)});
      x = *select({receive_evt(pong), receive_evt(unused)});
    }
    ping.close();
    other.await();
    if (x != static_cast<int>(state.iterations())) state.SkipWithError("wrong count");
  });
}

BENCHMARK_CAPTURE(BM_TryReceiveReference, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_SelectOneReady, fifo, on_fifo)->Arg(2)->Arg(8)->UseRealTime();
BENCHMARK_CAPTURE(BM_SelectOneReady, multififo_2, on_multififo_2)->Arg(2)->Arg(8)->UseRealTime();
BENCHMARK_CAPTURE(BM_SelectPingPong, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_SelectPingPong, multififo_2, on_multififo_2)->UseRealTime();

}  // namespace
}  // namespace picos::bench
