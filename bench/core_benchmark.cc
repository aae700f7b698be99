// Copyright 2026 The Picos for C++ Authors.
//
// bench/core_benchmark.cc — costs of the core interface (picos/*.h) on one thread.
//
// Most benchmarks need no scheduler; the ones about the current fiber and fiber-local
// storage also run inside a `picos::mux::fifo` fiber, where `Fiber::current()` is what a
// scheduler installs. Every iteration does the real operation and its result is consumed
// with benchmark::DoNotOptimize (see consume()); outcomes are checked and a wrong one fails
// the benchmark (SkipWithError) instead of being reported as a time. Figures:
// docs/benchmarks.md.
//
// Run pinned (the reference machine has two cores and the other one may be busy):
//   bazel build -c opt //bench:core_benchmark
//   taskset -c 1 bazel-bin/bench/core_benchmark --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>

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

// The loop of the benchmarks that complete computations with values: `op(i)` once per
// iteration, with i cycling through 0..1023, returns what it read back; unless those add up to
// the sum of `expected(i)`, the benchmark fails with `error`.
template <typename Op, typename Expected>
void run_checking_values(benchmark::State& state, Op op, Expected expected, const char* error) {
  int i = 0;
  std::int64_t sum = 0;
  std::int64_t want = 0;
  for (auto _ : state) {
    sum += op(i);
    want += expected(i);
    i = (i + 1) & 1023;
  }
  if (sum != want) state.SkipWithError(error);
  state.SetItemsProcessed(state.iterations());
}

// ---- Trigger -----------------------------------------------------------------------------

// Allocate a trigger, signal it (no awaiter attached: a CAS), drop it (free).
void BM_TriggerCreateSignal(benchmark::State& state) {
  std::int64_t signaled = 0;
  for (auto _ : state) {
    Trigger t;
    t.signal();
    bool s = t.is_signaled();
    consume(s);
    signaled += s;
  }
  if (signaled != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("a signaled trigger reported is_signaled() == false");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TriggerCreateSignal);

// ---- Computation -------------------------------------------------------------------------

// bench_computation's "trivial" case: one thread, one computation, each iteration creates a
// trigger, attaches it and detaches it ("attach detach pair"). Detached triggers are
// reclaimed lazily; the `bag_slots` counter shows the bag stays bounded.
void BM_AttachDetachPair(benchmark::State& state) {
  PackedComputation c;
  std::int64_t attached = 0;
  for (auto _ : state) {
    Trigger t;
    bool ok = c.try_attach(t);
    consume(ok);
    attached += ok;
    c.detach(t);
  }
  if (attached != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("try_attach failed on a running computation");
  }
  state.counters["bag_slots"] = static_cast<double>(c.bag_size_for_testing());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AttachDetachPair);

// Create a Computation<int>, complete it, read the value back.
void BM_ComputationCreateReturnPeek(benchmark::State& state) {
  run_checking_values(
      state,
      [](int i) -> std::int64_t {
        Computation<int> c;
        bool ok = c.try_return(i);
        consume(ok);
        std::optional<int> v = c.peek();
        consume(v);
        return ok ? *v : -1;
      },
      [](int i) { return i; }, "peek() did not return the returned value");
}
BENCHMARK(BM_ComputationCreateReturnPeek);

// ---- Tx ----------------------------------------------------------------------------------

// Create two running computations and return both atomically in one transaction. Includes
// the two computations' allocation (a transaction needs fresh, running computations) and
// the Tx's per-completion std::function.
void BM_TxCommitTwo(benchmark::State& state) {
  run_checking_values(
      state,
      [](int i) -> std::int64_t {
        Computation<int> a;
        Computation<int> b;
        Tx tx;
        bool ok = tx.try_return(a, i) && tx.try_return(b, i + 1) && tx.try_commit();
        consume(ok);
        return ok ? *a.peek() + *b.peek() : 0;
      },
      [](int i) { return 2 * i + 1; }, "Tx did not complete both computations");
}
BENCHMARK(BM_TxCommitTwo);

// ---- Fiber::current ----------------------------------------------------------------------

// On a plain thread (no scheduler): the thread's implicit fiber (created on first use).
void BM_FiberCurrentPlainThread(benchmark::State& state) {
  for (auto _ : state) {
    Fiber* f = &Fiber::current();
    consume(f);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FiberCurrentPlainThread);

// Inside a fifo fiber: the fiber the scheduler made current.
void BM_FiberCurrentInFifo(benchmark::State& state) {
  mux::fifo::run([&] {
    for (auto _ : state) {
      Fiber* f = &Fiber::current();
      consume(f);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FiberCurrentInFifo);

// ---- fiber-local storage (inside a fifo fiber) -------------------------------------------

const FlsKey<std::int64_t> kCounterKey;

// Each benchmark in two variants: the fiber fetched once, outside the loop, and passed to
// every call (bench_fls_excluding_current), or the default argument, with which each call also
// reads Fiber::current(). fls_fiber is the fiber a call passes.
template <bool kWithCurrent>
Fiber& fls_fiber(Fiber& fetched_once) {
  if constexpr (kWithCurrent) {
    return Fiber::current();
  } else {
    return fetched_once;
  }
}

template <bool kWithCurrent>
void BM_FlsGet(benchmark::State& state) {
  std::int64_t sum = mux::fifo::run([&] {
    Fiber& fiber = Fiber::current();
    kCounterKey.set(1, fls_fiber<kWithCurrent>(fiber));
    std::int64_t s = 0;
    for (auto _ : state) {
      std::int64_t* p = kCounterKey.get(fls_fiber<kWithCurrent>(fiber));
      consume(p);
      s += *p;
    }
    return s;
  });
  if (sum != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("FlsKey::get returned a wrong value");
  }
  state.SetItemsProcessed(state.iterations());
}

template <bool kWithCurrent>
void BM_FlsSet(benchmark::State& state) {
  std::int64_t last = mux::fifo::run([&] {
    Fiber& fiber = Fiber::current();
    std::int64_t i = 0;
    for (auto _ : state) {
      std::int64_t& v = kCounterKey.set(++i, fls_fiber<kWithCurrent>(fiber));
      consume(v);
    }
    return *kCounterKey.get(fls_fiber<kWithCurrent>(fiber));
  });
  if (last != static_cast<std::int64_t>(state.iterations())) {
    state.SkipWithError("FlsKey::set did not store the last value");
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_TEMPLATE(BM_FlsGet, false)->Name("BM_FlsGetExcludingCurrent");
BENCHMARK_TEMPLATE(BM_FlsSet, false)->Name("BM_FlsSetExcludingCurrent");
BENCHMARK_TEMPLATE(BM_FlsGet, true)->Name("BM_FlsGetWithCurrent");
BENCHMARK_TEMPLATE(BM_FlsSet, true)->Name("BM_FlsSetWithCurrent");

}  // namespace
}  // namespace picos
