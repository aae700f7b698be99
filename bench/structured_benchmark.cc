// Copyright 2026 The Picos for C++ Authors.
//
// picos::structured costs on fifo and multififo (2 threads): a Flock scope that forks one
// empty child and joins it, a fork into an open Flock (batches of 100 children, one join),
// and fork_as_promise + await of an empty child. Wall-clock time.
//   bazel run -c opt //bench:structured_benchmark

#include <functional>

#include "bench/runners.h"
#include "benchmark/benchmark.h"
#include "mux/fifo/fifo.h"
#include "mux/multififo/multififo.h"
#include "picos/picos.h"
#include "std/structured/structured.h"

namespace picos::bench {
namespace {

using picos::structured::Bundle;
using picos::structured::Flock;

// One iteration = open a Flock, fork one empty child, join it.
void BM_FlockForkJoin(benchmark::State& state, Runner run) {
  run([&] {
    for (auto _ : state) {
      Flock::join_after([] { Flock::fork([] {}); });
    }
  });
}

// One iteration = one fork of an empty child into an open Flock (joined every 100).
void BM_FlockFork(benchmark::State& state, Runner run) {
  run([&] {
    while (state.KeepRunningBatch(100)) {
      Flock::join_after([] {
        for (int i = 0; i < 100; ++i) Flock::fork([] {});
      });
    }
  });
}

// One iteration = fork_as_promise of a child returning an int, then await it (in one open
// Bundle, so the scope's own cost is amortised away).
void BM_PromiseAwait(benchmark::State& state, Runner run) {
  run([&] {
    Bundle::join_after([&](Bundle& b) {
      long sum = 0;
      for (auto _ : state) sum += b.fork_as_promise([] { return 1; }).await();
      benchmark::DoNotOptimize(sum);
    });
  });
}

// Baseline: an empty scope (no child).
void BM_EmptyScope(benchmark::State& state, Runner run) {
  run([&] {
    for (auto _ : state) Flock::join_after([] {});
  });
}

#define ON_BOTH(bm)                                    \
  BENCHMARK_CAPTURE(bm, fifo, on_fifo)->UseRealTime(); \
  BENCHMARK_CAPTURE(bm, multififo_2, on_multififo_2)->UseRealTime()

ON_BOTH(BM_EmptyScope);
ON_BOTH(BM_FlockForkJoin);
ON_BOTH(BM_FlockFork);
ON_BOTH(BM_PromiseAwait);

}  // namespace
}  // namespace picos::bench
