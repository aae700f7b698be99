// Copyright 2026 The Picos for C++ Authors.
//
// bench/channel_benchmark.cc — picos::sync::Channel<int> on fifo and on multififo with two
// workers (wall-clock time: fibers may migrate between threads).
//  - PingPong: main sends on a rendezvous channel, the other fiber receives and sends back
//    on a second rendezvous channel; one iteration = one round trip (two hand-offs, two
//    suspensions).
//  - Throughput: main sends into a capacity-64 channel, one consumer fiber receives; one
//    iteration = one message (ns_per_message counter).
//  - Throughput64CrossThread: the same with producer and consumer each on its own thread
//    and fifo scheduler.
//  - StreamPushRead: picos::sync::Stream<int>; one iteration = a push and a cursor's read of
//    it (the value already there: no suspension), so the cost of a cell made and dropped.
// Figures: the docs section on channels.
//   bazel run -c opt //bench:channel_benchmark

#include <benchmark/benchmark.h>

#include <functional>
#include <optional>
#include <thread>

#include "bench/runners.h"
#include "mux/fifo/fifo.h"
#include "mux/multififo/multififo.h"
#include "picos/picos.h"
#include "std/sync/channel.h"
#include "std/sync/stream.h"

namespace picos::bench {
namespace {

using picos::sync::Channel;

void BM_PingPong(benchmark::State& state, Runner run) {
  run([&] {
    Channel<int> ping(0), pong(0);
    Computation<void> other;
    Fiber::spawn(Fiber::create(other), [&, other] {
      other.capture([&] {
        while (std::optional<int> v = ping.receive()) pong.send(*v + 1);
      });
    });
    int x = 0;
    for (auto _ : state) {
      ping.send(x);
      x = *pong.receive();
    }
    ping.close();
    other.await();
    if (x != static_cast<int>(state.iterations())) state.SkipWithError("wrong count");
  });
}

// The producer of the throughput benchmarks: sends 0, 1, 2, ... once per iteration, then
// closes `ch`; returns the sum of what it sent.
long produce(benchmark::State& state, Channel<int>& ch) {
  long expected = 0;
  int i = 0;
  for (auto _ : state) {
    ch.send(i);
    expected += i;
    ++i;
  }
  ch.close();
  return expected;
}

// The throughput benchmarks' figures: messages, and ns_per_message.
void count_messages(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.counters["ns_per_message"] = per_item(static_cast<double>(state.iterations()));
}

void BM_Throughput64(benchmark::State& state, Runner run) {
  run([&] {
    Channel<int> ch(64);
    long sum = 0;
    Computation<void> consumer;
    Fiber::spawn(Fiber::create(consumer), [&, consumer] {
      consumer.capture([&] {
        while (std::optional<int> v = ch.receive()) sum += *v;
      });
    });
    long expected = produce(state, ch);
    consumer.await();
    if (sum != expected) state.SkipWithError("lost or duplicated messages");
  });
  count_messages(state);
}

// Producer and consumer certainly on different OS threads: each runs its own fifo scheduler
// on its own std::thread, so every hand-off crosses threads (a remote wake-up when the
// consumer sleeps on an empty channel or the producer on a full one).
void BM_Throughput64CrossThread(benchmark::State& state) {
  Channel<int> ch(64);
  long sum = 0;
  std::thread consumer([&] {
    picos::mux::fifo::run([&] {
      while (std::optional<int> v = ch.receive()) sum += *v;
    });
  });
  long expected = 0;
  picos::mux::fifo::run([&] { expected = produce(state, ch); });
  consumer.join();
  if (sum != expected) state.SkipWithError("lost or duplicated messages");
  count_messages(state);
}

void BM_StreamPushRead(benchmark::State& state, Runner run) {
  run([&] {
    picos::sync::Stream<int> s;
    picos::sync::Stream<int>::Cursor c = s.tap();
    int i = 0;
    long sum = 0;
    for (auto _ : state) {
      s.push(i++);
      auto [v, next] = c.read();
      sum += v;
      c = std::move(next);
    }
    if (sum != static_cast<long>(i) * (i - 1) / 2) state.SkipWithError("wrong sum");
  });
}

BENCHMARK(BM_Throughput64CrossThread)->UseRealTime();
BENCHMARK_CAPTURE(BM_StreamPushRead, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_PingPong, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_PingPong, multififo_2, on_multififo_2)->UseRealTime();
BENCHMARK_CAPTURE(BM_Throughput64, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_Throughput64, multififo_2, on_multififo_2)->UseRealTime();

}  // namespace
}  // namespace picos::bench
