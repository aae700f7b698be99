// Copyright 2026 The Picos for C++ Authors.
//
// multififo: yield, spawn+finish, and the parallel workloads whose speedup with more workers
// the issue asks for (fib and skynet), each run with 1, 2 and 4 workers (->Arg).
//   bazel run -c opt //mux/multififo:multififo_benchmark

#include <atomic>

#include "benchmark/benchmark.h"
#include "mux/multififo/multififo.h"
#include "picos/picos.h"

namespace {

using picos::Computation;
using picos::Fiber;
using picos::PackedComputation;

picos::mux::multififo::Options workers(const benchmark::State& state) {
  picos::mux::multififo::Options o;
  o.threads = static_cast<int>(state.range(0));
  return o;
}

// fib(n) spawning a fiber for fib(n-1) and awaiting it, like OCaml Picos' bench_fib.
long fib(int n) {
  if (n < 2) return n;
  Computation<long> left;
  Fiber::spawn(Fiber::create(left), [left, n] { left.capture([n] { return fib(n - 1); }); });
  long right = fib(n - 2);
  return left.await() + right;
}

void BM_Fib(benchmark::State& state) {
  const int n = 24;
  long spawns = 0;
  for (auto _ : state) {
    long v = picos::mux::multififo::run([n] { return fib(n); }, workers(state));
    if (v != 46368) state.SkipWithError("wrong fib result");
    spawns += 46367;  // fib(24) - 1 spawns (one per internal node)
  }
  state.SetItemsProcessed(spawns);
  state.counters["ns_per_spawn"] = benchmark::Counter(
      static_cast<double>(spawns), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Fib)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

// skynet: a 10-ary tree of 1,000,000 leaf fibers, each returning its number; sums go up.
long skynet(long num, long size) {
  if (size == 1) return num;
  Computation<long> children[10];
  long sub = size / 10;
  for (long i = 0; i < 10; ++i) {
    Computation<long> c = children[i];
    Fiber::spawn(Fiber::create(c), [c, num, sub, i] {
      c.capture([=] { return skynet(num + i * sub, sub); });
    });
  }
  long sum = 0;
  for (auto& c : children) sum += c.await();
  return sum;
}

void BM_Skynet(benchmark::State& state) {
  const long leaves = 1000000;
  for (auto _ : state) {
    long v = picos::mux::multififo::run([=] { return skynet(0, leaves); }, workers(state));
    if (v != leaves * (leaves - 1) / 2) state.SkipWithError("wrong skynet sum");
  }
  state.SetItemsProcessed(state.iterations() * 1111111);  // fibers per tree
}
BENCHMARK(BM_Skynet)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// Yield: 100 fibers each yielding; per yield.
void BM_Yield(benchmark::State& state) {
  const int fibers = 100, yields = 2000;
  for (auto _ : state) {
    picos::mux::multififo::run(
        [&] {
          std::atomic<int> left{fibers};
          Computation<void> done;
          for (int i = 0; i < fibers; ++i) {
            Fiber::spawn(Fiber::create(PackedComputation()), [&, done] {
              for (int k = 0; k < yields; ++k) Fiber::yield();
              if (--left == 0) done.finish();
            });
          }
          done.await();
        },
        workers(state));
  }
  state.SetItemsProcessed(state.iterations() * fibers * yields);
}
BENCHMARK(BM_Yield)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

// Spawn+finish of empty fibers sharing one computation, then wait for all.
void BM_SpawnFinish(benchmark::State& state) {
  const int n = 100000;
  for (auto _ : state) {
    picos::mux::multififo::run(
        [&] {
          std::atomic<int> left{n};
          Computation<void> done;
          PackedComputation shared;
          for (int i = 0; i < n; ++i) {
            Fiber::spawn(Fiber::create(shared), [&, done] {
              if (--left == 0) done.finish();
            });
          }
          done.await();
        },
        workers(state));
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_SpawnFinish)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
