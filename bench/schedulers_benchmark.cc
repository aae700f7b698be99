// Copyright 2026 The Picos for C++ Authors.
//
// bench/schedulers_benchmark.cc — the scheduler microbenchmarks: each workload written once
// and registered per scheduler with BENCHMARK_CAPTURE (bench/runners.h), so the figures of
// one run compare: BM_Yield/fifo, BM_Yield/multififo_2, ...
//   fifo, fifo_cf (child_first), multififo_1, multififo_2, libevent: the fiber schedulers;
//   randos: the test scheduler; thread: one OS thread per fiber; none: no scheduler (Picos'
//   default handler: a detached thread per fiber), the baseline for thread.
// Every timed loop runs inside the scheduler's main fiber: start-up and shutdown are outside
// the figures. Wall-clock time (fibers may migrate between threads). Where an iteration is a
// batch, the `ns_per_*` counter is per operation. Every benchmark checks its outcome after
// the loop and a wrong one fails it (SkipWithError). Workloads follow the OCaml Picos
// benchmarks (picos-spec.md section 7); the macro workloads (skynet, fib, mutex, channels,
// echo, ...) and the comparison with Boost.Fiber are the suite's (tools/bench.sh).
//   bazel run -c opt //bench:schedulers_benchmark -- --benchmark_filter=/fifo
//   bazel run -c opt //bench:schedulers_benchmark -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true --benchmark_out=/tmp/s.json  (one line)
// Figures: docs/benchmarks.md.

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <thread>

#include "bench/runners.h"
#include "picos/picos.h"

namespace picos::bench {
namespace {

// Every scheduler that runs fibers on its own threads (so not thread, randos or none).
#define PICOS_ON_FIBER_SCHEDULERS(bm, ...)                        \
  BENCHMARK_CAPTURE(bm, fifo, on_fifo) __VA_ARGS__;               \
  BENCHMARK_CAPTURE(bm, fifo_cf, on_fifo_cf) __VA_ARGS__;         \
  BENCHMARK_CAPTURE(bm, multififo_1, on_multififo_1) __VA_ARGS__; \
  BENCHMARK_CAPTURE(bm, multififo_2, on_multififo_2) __VA_ARGS__; \
  BENCHMARK_CAPTURE(bm, libevent, on_libevent) __VA_ARGS__

// Spawns `body` as a fiber with a computation of its own, finished when body returns.
Computation<void> go(std::function<void()> body) {
  Computation<void> c;
  Fiber::spawn(Fiber::create(c), [c, body = std::move(body)] { c.capture(body); });
  return c;
}

// ---- yield ---------------------------------------------------------------------------------

// Main and one other fiber both yield; one iteration = one yield of main (on a
// single-threaded scheduler the other fiber's yield runs in between, so a yield costs about
// half the figure; on thread and none the two run in parallel).
void BM_Yield(benchmark::State& state, Runner run) {
  std::int64_t others = 0;
  run([&] {
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> other_yields{0};
    Computation<void> other = go([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        Fiber::yield();
        other_yields.fetch_add(1, std::memory_order_relaxed);
      }
    });
    for (auto _ : state) Fiber::yield();
    // The other fiber has run at least once before it is told to stop.
    while (other_yields.load() == 0) Fiber::yield();
    stop = true;
    other.await();
    others = other_yields.load();
  });
  if (others < 1) state.SkipWithError("yield: the other fiber did not run");
  state.SetItemsProcessed(state.iterations());
}
PICOS_ON_FIBER_SCHEDULERS(BM_Yield, ->UseRealTime());
BENCHMARK_CAPTURE(BM_Yield, randos, on_randos)->UseRealTime();
BENCHMARK_CAPTURE(BM_Yield, thread, on_thread)->UseRealTime();
BENCHMARK_CAPTURE(BM_Yield, none, on_none)->UseRealTime();

// Spawns `n` fibers sharing the computation `shared`, each running `body`; the last to finish
// finishes a computation that the caller awaits, so this returns once all of them have run.
template <typename F>
void spawn_batch(const PackedComputation& shared, std::int64_t n, const F& body) {
  std::atomic<std::int64_t> left{n};
  Computation<void> done;
  for (std::int64_t i = 0; i < n; ++i) {
    Fiber::spawn(Fiber::create(shared), [&body, &left, done] {
      body();
      if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.finish();
    });
  }
  done.await();
}

// bench_yield: 10^6 yields per iteration split over range(0) fibers, including spawning
// them (the stack pool keeps a bounded number of stacks: with 10,000 fibers most are mapped
// and unmapped in every iteration).
constexpr std::int64_t kTotalYields = 1'000'000;

void BM_YieldNFibers(benchmark::State& state, Runner run) {
  const std::int64_t n = state.range(0);
  const std::int64_t per_fiber = kTotalYields / n;
  std::atomic<std::int64_t> yields{0};
  run([&] {
    PackedComputation shared;
    for (auto _ : state) {
      spawn_batch(shared, n, [&] {
        for (std::int64_t k = 0; k < per_fiber; ++k) Fiber::yield();
        yields.fetch_add(per_fiber, std::memory_order_relaxed);
      });
    }
  });
  const double total = static_cast<double>(n * per_fiber) * static_cast<double>(state.iterations());
  if (static_cast<double>(yields.load()) != total) state.SkipWithError("yield: wrong count");
  state.counters["ns_per_yield"] = per_item(total);
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
}
PICOS_ON_FIBER_SCHEDULERS(
    BM_YieldNFibers, ->Arg(1)->Arg(100)->Arg(10000)->UseRealTime()->Unit(benchmark::kMillisecond));

// ---- trigger round trip --------------------------------------------------------------------

// Ping-pong through triggers: one iteration = main publishes a fresh trigger, signals the
// other fiber's and awaits its own, which the other fiber signals back (two hand-offs, two
// trigger creations, two awaits).
void BM_TriggerRoundTrip(benchmark::State& state, Runner run) {
  std::int64_t rounds = 0, answered = 0;
  run([&] {
    std::atomic<Trigger*> to_other{nullptr}, to_main{nullptr};
    std::atomic<bool> stop{false};
    Computation<void> other = go([&] {
      for (;;) {
        Trigger t;
        to_other.store(&t);
        (void)t.await();
        if (stop.load()) return;
        Trigger* back;
        while ((back = to_main.exchange(nullptr)) == nullptr) Fiber::yield();
        ++answered;
        back->signal();
      }
    });
    for (auto _ : state) {
      Trigger mine;
      to_main.store(&mine);
      Trigger* t;
      while ((t = to_other.exchange(nullptr)) == nullptr) Fiber::yield();
      t->signal();
      if (mine.await() == nullptr) ++rounds;
    }
    stop = true;
    Trigger* t;
    while ((t = to_other.exchange(nullptr)) == nullptr) Fiber::yield();
    t->signal();
    other.await();
  });
  const auto n = static_cast<std::int64_t>(state.iterations());
  if (rounds != n || answered != n) state.SkipWithError("trigger round trip: wrong count");
  state.SetItemsProcessed(n);
}
PICOS_ON_FIBER_SCHEDULERS(BM_TriggerRoundTrip, ->UseRealTime());
BENCHMARK_CAPTURE(BM_TriggerRoundTrip, randos, on_randos)->UseRealTime();
BENCHMARK_CAPTURE(BM_TriggerRoundTrip, thread, on_thread)->UseRealTime();

// ---- spawn ---------------------------------------------------------------------------------

// bench_spawn: a batch of range(0) empty fibers sharing one computation; the last to finish
// finishes a computation the main fiber awaits. Per spawn: create, spawn, run, finish, plus
// 1/batch of the main fiber's await.
void BM_SpawnFinish(benchmark::State& state, Runner run) {
  const std::int64_t batch = state.range(0);
  std::atomic<std::int64_t> ran{0};
  run([&] {
    PackedComputation shared;
    for (auto _ : state) {
      spawn_batch(shared, batch, [&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    }
  });
  const std::int64_t spawns = batch * static_cast<std::int64_t>(state.iterations());
  if (ran.load() != spawns) state.SkipWithError("spawn: wrong number of fibers ran");
  state.counters["ns_per_spawn"] = per_item(static_cast<double>(spawns));
  state.SetItemsProcessed(spawns);
}
PICOS_ON_FIBER_SCHEDULERS(BM_SpawnFinish, ->Arg(1)->Arg(1000)->UseRealTime());
BENCHMARK_CAPTURE(BM_SpawnFinish, randos, on_randos)->Arg(1)->Arg(1000)->UseRealTime();
// An OS thread per fiber: smaller batches.
BENCHMARK_CAPTURE(BM_SpawnFinish, thread, on_thread)->Arg(1)->Arg(100)->UseRealTime();
BENCHMARK_CAPTURE(BM_SpawnFinish, none, on_none)->Arg(1)->Arg(100)->UseRealTime();

// Baseline for thread and none: what the OS charges for a thread that does nothing.
void BM_StdThreadCreateJoin(benchmark::State& state) {
  for (auto _ : state) std::thread([] {}).join();
}
BENCHMARK(BM_StdThreadCreateJoin)->UseRealTime();

// ---- timers --------------------------------------------------------------------------------

// bench_cancel_after, round trip: create a computation, cancel_after(1 ns), wait for it.
void BM_CancelAfterRoundTrip(benchmark::State& state, Runner run) {
  const std::exception_ptr reason = std::make_exception_ptr(std::runtime_error("timeout"));
  std::int64_t canceled = 0;
  run([&] {
    for (auto _ : state) {
      Computation<void> c;
      c.cancel_after(std::chrono::nanoseconds(1), reason);
      c.wait();
      const bool k = c.is_canceled();
      consume(k);
      canceled += k;
    }
  });
  if (canceled != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("cancel_after: a computation was not canceled");
  }
  state.SetItemsProcessed(state.iterations());
}
PICOS_ON_FIBER_SCHEDULERS(BM_CancelAfterRoundTrip, ->UseRealTime());
BENCHMARK_CAPTURE(BM_CancelAfterRoundTrip, thread, on_thread)->UseRealTime();

// Fiber::sleep(0): a private computation, a timer that is due at once, an await.
void BM_SleepZero(benchmark::State& state, Runner run) {
  std::int64_t slept = 0;
  run([&] {
    for (auto _ : state) {
      Fiber::sleep(std::chrono::nanoseconds(0));
      ++slept;
      benchmark::ClobberMemory();
    }
  });
  if (slept != static_cast<std::int64_t>(state.iterations())) state.SkipWithError("sleep count");
  state.SetItemsProcessed(state.iterations());
}
PICOS_ON_FIBER_SCHEDULERS(BM_SleepZero, ->UseRealTime());
BENCHMARK_CAPTURE(BM_SleepZero, thread, on_thread)->UseRealTime();

}  // namespace
}  // namespace picos::bench
