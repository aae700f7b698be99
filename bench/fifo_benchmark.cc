// Copyright 2026 The Picos for C++ Authors.
//
// bench/fifo_benchmark.cc — the single-threaded FIFO scheduler (mux/fifo) under load.
//
// Every benchmark runs its timed loop inside `picos::mux::fifo::run`, i.e. in the scheduler's
// main fiber; the scheduler is started and stopped once per benchmark run (not per
// iteration), so its start-up is not in the figures. Where one iteration is a batch of
// operations, the `ns_per_*` counter gives the per-operation time (Google Benchmark prints
// an inverted rate with an SI prefix, e.g. `ns_per_yield=41.2ns`). Every iteration does the real
// work; counts and sums are checked after the loop and a wrong one fails the benchmark
// (SkipWithError). Workloads follow the OCaml Picos benchmarks (picos-spec.md section 7).
// Figures: docs/benchmarks.md.
//
// Run pinned (the reference machine has two cores and the other one may be busy):
//   bazel build -c opt //bench:fifo_benchmark
//   taskset -c 1 bazel-bin/bench/fifo_benchmark --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"

namespace picos {
namespace {

// Consumes `value` so the compiler must compute it. Google Benchmark 1.7.1's
// DoNotOptimize(T&) (non-const) uses the asm constraint "+m,r", with which GCC 12.2 at -O2
// can drop the store that produced the value (see docs/benchmarks.md, "Harness pitfall");
// the const overload is an input-only operand and is safe, so only it is used here.
template <typename T>
void consume(const T& value) {
  benchmark::DoNotOptimize(value);
}

// Seconds per item, printed by Google Benchmark with an SI prefix (e.g. "41.2ns").
benchmark::Counter per_item(double items) {
  return benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Spawns `main` as a new fiber with its own computation handle `c` (shared or not).
template <typename F>
void spawn(const PackedComputation& c, F&& main) {
  Fiber::spawn(Fiber::create(c), std::forward<F>(main));
}

// Awaits `t`; no benchmark fiber is ever canceled, so a cancelation reason is a bug.
void await_or_throw(const Trigger& t) {
  if (std::exception_ptr e = t.await()) std::rethrow_exception(e);
}

// ---- trigger round trip ------------------------------------------------------------------

// Signals and clears the trigger published in `slot`, if any.
void wake(std::optional<Trigger>& slot) {
  if (slot) {
    Trigger t = std::move(*slot);
    slot.reset();
    t.signal();
  }
}

// Fiber A (the benchmark loop) creates a trigger, publishes it, signals B's published
// trigger and awaits its own; fiber B does the same in the other direction. One iteration
// = one round trip: 2 trigger creations, 2 signals, 2 awaits, 2 fiber switches (each one
// fiber -> scheduler -> fiber, i.e. two context jumps).
void BM_TriggerRoundTrip(benchmark::State& state) {
  // Shared state lives outside the fibers: B finishes after the main fiber has returned.
  std::int64_t a_wakeups = 0;
  std::int64_t b_wakeups = 0;
  std::optional<Trigger> waiting_a;
  std::optional<Trigger> waiting_b;
  bool done = false;
  mux::fifo::run([&] {
    spawn(Computation<void>(), [&] {
      for (;;) {
        Trigger t;
        waiting_b = t;
        wake(waiting_a);
        await_or_throw(t);
        if (done) return;
        ++b_wakeups;
      }
    });
    for (auto _ : state) {
      Trigger t;
      waiting_a = t;
      wake(waiting_b);
      await_or_throw(t);
      ++a_wakeups;
    }
    done = true;
    wake(waiting_b);
  });
  // B is woken by every iteration but the first (its first await is before A's first signal
  // only if A ran first: A publishes, awaits; B signals A and awaits; A signals B ...).
  if (a_wakeups != static_cast<std::int64_t>(state.iterations()) ||
      b_wakeups != a_wakeups - 1) {
    state.SkipWithError("trigger round trip: wrong wake-up count");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TriggerRoundTrip);

// ---- yield -------------------------------------------------------------------------------

// Two fibers yielding to each other: one iteration = two yields (A's and B's).
void BM_YieldTwoFibers(benchmark::State& state) {
  // Shared state lives outside the fibers: B finishes after the main fiber has returned.
  std::int64_t yields = 0;
  bool done = false;
  mux::fifo::run([&] {
    spawn(Computation<void>(), [&] {
      while (!done) {
        Fiber::yield();
        ++yields;
      }
    });
    for (auto _ : state) {
      Fiber::yield();
      ++yields;
    }
    done = true;
  });
  // B's last yield (after A's loop ended) is outside the timed region.
  if (yields < 2 * static_cast<std::int64_t>(state.iterations()) - 1) {
    state.SkipWithError("yield: the other fiber did not run");
  }
  state.counters["ns_per_yield"] = per_item(2.0 * static_cast<double>(state.iterations()));
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_YieldTwoFibers);

// bench_yield: kTotalYields yields split over N fibers (N = range(0)); one iteration spawns
// the N fibers, they yield kTotalYields / N times each, and the main fiber waits for all.
// Includes spawning the N fibers and mapping their stacks (the stack pool keeps at most 64,
// so with N > 64 most stacks are mmap'ed and munmap'ed in every iteration).
constexpr std::int64_t kTotalYields = 1'000'000;

void BM_YieldNFibers(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const std::int64_t per_fiber = kTotalYields / n;
  std::int64_t yields = 0;
  mux::fifo::run([&] {
    Computation<void> shared;
    for (auto _ : state) {
      Trigger all_done;
      std::int64_t remaining = n;
      for (std::int64_t i = 0; i < n; ++i) {
        spawn(shared, [&] {
          for (std::int64_t k = 0; k < per_fiber; ++k) {
            Fiber::yield();
            ++yields;
          }
          if (--remaining == 0) all_done.signal();
        });
      }
      await_or_throw(all_done);
    }
  });
  const double total = static_cast<double>(n * per_fiber) * static_cast<double>(state.iterations());
  if (static_cast<double>(yields) != total) state.SkipWithError("yield: wrong yield count");
  state.counters["ns_per_yield"] = per_item(total);
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
}
BENCHMARK(BM_YieldNFibers)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)
    ->Unit(benchmark::kMillisecond);

// ---- spawn -------------------------------------------------------------------------------

// bench_spawn: a batch of range(0) empty fibers, all with one shared computation, each
// decrements a counter and the last one signals the main fiber, which awaits that. Per
// spawn: create the Fiber, spawn it, run it to completion (its stack comes from the pool),
// plus 1/batch of the main fiber's await.
void BM_SpawnBatch(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  std::int64_t ran = 0;
  mux::fifo::run([&] {
    Computation<void> shared;
    for (auto _ : state) {
      Trigger all_done;
      std::int64_t remaining = batch;
      for (std::int64_t i = 0; i < batch; ++i) {
        spawn(shared, [&] {
          ++ran;
          if (--remaining == 0) all_done.signal();
        });
      }
      await_or_throw(all_done);
    }
  });
  const std::int64_t spawns = batch * static_cast<std::int64_t>(state.iterations());
  if (ran != spawns) state.SkipWithError("spawn: wrong number of fibers ran");
  state.counters["ns_per_spawn"] = per_item(static_cast<double>(spawns));
  state.SetItemsProcessed(spawns);
}
BENCHMARK(BM_SpawnBatch)->Arg(1)->Arg(1000);

// ---- timers ------------------------------------------------------------------------------

// bench_cancel_after, round trip: create a computation, cancel_after(1 ns), wait for it.
// Wall-clock time: the scheduler may sleep on its condition variable until the deadline.
void BM_CancelAfterRoundTrip(benchmark::State& state) {
  const std::exception_ptr reason = std::make_exception_ptr(std::runtime_error("timeout"));
  std::int64_t canceled = 0;
  mux::fifo::run([&] {
    for (auto _ : state) {
      Computation<void> c;
      c.cancel_after(std::chrono::nanoseconds(1), reason);
      c.wait();
      bool k = c.is_canceled();
      consume(k);
      canceled += k;
    }
  });
  if (canceled != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("cancel_after: a computation was not canceled");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CancelAfterRoundTrip)->UseRealTime();

// Fiber::sleep(0): a private computation, a timer that is due at once, an await.
void BM_SleepZero(benchmark::State& state) {
  std::int64_t slept = 0;
  mux::fifo::run([&] {
    for (auto _ : state) {
      Fiber::sleep(std::chrono::nanoseconds(0));
      ++slept;
      benchmark::ClobberMemory();
    }
  });
  if (slept != static_cast<std::int64_t>(state.iterations())) state.SkipWithError("sleep count");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SleepZero)->UseRealTime();

// ---- skynet ------------------------------------------------------------------------------

// Skynet-lite: every fiber with size > 1 spawns 10 children (each with its own
// Computation<long>), awaits them in order and returns the sum; a fiber of size 1 returns
// its number. With 10^6 leaves that is 1,111,111 fibers (the root included) and the sum
// 0 + 1 + ... + 999,999. In FIFO order the tree runs breadth first, so all 111,111 inner
// fibers are suspended at once (stacks mapped) while the 10^6 leaves run one after another
// on one pooled stack. range(0) = stack size in KiB; the
// scheduler is started once per iteration (included).
constexpr long kSkynetLeaves = 1'000'000;
constexpr long kSkynetFibers = 1'111'111;
constexpr long kSkynetSum = kSkynetLeaves * (kSkynetLeaves - 1) / 2;

long skynet(long num, long size) {
  if (size == 1) return num;
  const long child = size / 10;
  std::vector<Computation<long>> children;
  children.reserve(10);
  for (long i = 0; i < 10; ++i) {
    Computation<long>& c = children.emplace_back();
    spawn(c, [c, sub = num + i * child, child] { c.capture([&] { return skynet(sub, child); }); });
  }
  long sum = 0;
  for (const Computation<long>& c : children) sum += c.await();
  return sum;
}

void BM_Skynet(benchmark::State& state) {
  mux::fifo::Options options;
  options.stack_size = static_cast<std::size_t>(state.range(0)) * 1024;
  bool correct = true;
  for (auto _ : state) {
    long sum = mux::fifo::run([] { return skynet(0, kSkynetLeaves); }, options);
    consume(sum);
    correct = correct && sum == kSkynetSum;
  }
  if (!correct) state.SkipWithError("skynet: wrong sum");
  state.counters["fibers"] = static_cast<double>(kSkynetFibers);
  state.counters["ns_per_fiber"] =
      per_item(static_cast<double>(kSkynetFibers) * static_cast<double>(state.iterations()));
  state.SetItemsProcessed(kSkynetFibers * static_cast<std::int64_t>(state.iterations()));
}
// 64 KiB (the default) only: with Arg(16) one iteration took ~17 s instead of ~2.7 s on
// the reference machine (see docs/benchmarks.md).
BENCHMARK(BM_Skynet)->Arg(64)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace picos
