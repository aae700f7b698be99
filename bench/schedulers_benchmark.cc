// Copyright 2026 The Picos for C++ Authors.
//
// Every scheduler side by side, in one binary and one run, so the figures compare: yield
// between two fibers, a trigger hand-off between two fibers, and spawn+finish of empty
// fibers in batches of 1,000. Wall-clock time (fibers may migrate between threads).
//   bazel build -c opt //bench:schedulers_benchmark
//   taskset -c 1 bazel-out/k8-opt/bin/bench/schedulers_benchmark   # or unpinned for multififo_2

#include <atomic>
#include <functional>

#include "benchmark/benchmark.h"
#include "bench/runners.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "mux/thread/thread.h"
#include "picos/picos.h"
#include "randos/randos.h"

namespace {

using picos::bench::Runner;
using picos::bench::on_fifo;
using picos::bench::on_multififo_1;
using picos::bench::on_multififo_2;
using picos::bench::on_libevent;

using picos::Computation;
using picos::Fiber;
using picos::PackedComputation;
using picos::Trigger;

void on_randos(std::function<void()> f) {
  picos::randos::Options o;
  o.seed = 1;
  o.print_seed = false;
  picos::randos::run(f, o);
}
void on_thread(std::function<void()> f) { picos::mux::thread::run(f); }

// Main and one other fiber both yield; one iteration = one yield by main (and, on a
// single-threaded scheduler, one by the other fiber in between).
void BM_Yield(benchmark::State& state, Runner run) {
  run([&] {
    std::atomic<bool> stop{false};
    Computation<void> other;
    Fiber::spawn(Fiber::create(other), [&, other] {
      other.capture([&] {
        while (!stop.load(std::memory_order_relaxed)) Fiber::yield();
      });
    });
    for (auto _ : state) Fiber::yield();
    stop = true;
    other.await();
  });
}

// Ping-pong through triggers: one iteration = main signals the other fiber and awaits a
// fresh trigger the other fiber signals back (two hand-offs, two trigger creations).
void BM_TriggerRoundTrip(benchmark::State& state, Runner run) {
  run([&] {
    std::atomic<Trigger*> to_other{nullptr}, to_main{nullptr};
    std::atomic<bool> stop{false};
    Computation<void> other;
    Fiber::spawn(Fiber::create(other), [&, other] {
      other.capture([&] {
        for (;;) {
          Trigger t;
          to_other.store(&t);
          (void)t.await();
          if (stop.load()) return;
          Trigger* back;
          while ((back = to_main.exchange(nullptr)) == nullptr) Fiber::yield();
          back->signal();
        }
      });
    });
    for (auto _ : state) {
      Trigger mine;
      to_main.store(&mine);
      Trigger* t;
      while ((t = to_other.exchange(nullptr)) == nullptr) Fiber::yield();
      t->signal();
      (void)mine.await();
    }
    stop = true;
    Trigger* t;
    while ((t = to_other.exchange(nullptr)) == nullptr) Fiber::yield();
    t->signal();
    other.await();
  });
}

// Spawn 1,000 empty fibers sharing one computation and wait until all have run.
void BM_SpawnFinish(benchmark::State& state, Runner run) {
  constexpr int kBatch = 1000;
  run([&] {
    PackedComputation shared;
    for (auto _ : state) {
      std::atomic<int> left{kBatch};
      Computation<void> done;
      for (int i = 0; i < kBatch; ++i) {
        Fiber::spawn(Fiber::create(shared), [&left, done] {
          if (left.fetch_sub(1) == 1) done.finish();
        });
      }
      done.await();
    }
  });
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["ns_per_spawn"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatch),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

#define PICOS_ALL(bm)                                                        \
  BENCHMARK_CAPTURE(bm, fifo, on_fifo)->UseRealTime();                       \
  BENCHMARK_CAPTURE(bm, multififo_1, on_multififo_1)->UseRealTime();         \
  BENCHMARK_CAPTURE(bm, multififo_2, on_multififo_2)->UseRealTime();         \
  BENCHMARK_CAPTURE(bm, libevent, on_libevent)->UseRealTime();               \
  BENCHMARK_CAPTURE(bm, randos, on_randos)->UseRealTime();                   \
  BENCHMARK_CAPTURE(bm, thread, on_thread)->UseRealTime()

PICOS_ALL(BM_Yield);
PICOS_ALL(BM_TriggerRoundTrip);
PICOS_ALL(BM_SpawnFinish);

}  // namespace
