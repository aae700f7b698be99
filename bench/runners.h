// Copyright 2026 The Picos for C++ Authors.
//
// bench/runners.h — "run this benchmark body on scheduler X", shared by the //bench binaries
// so that every benchmark starts its schedulers the same way: a workload is written once,
// taking a `Runner`, and registered once per scheduler with Google Benchmark's
// BENCHMARK_CAPTURE (BM_Yield/fifo, BM_Yield/multififo_2, ...). Plus the helpers the
// workloads share (per-item counters, consume).

#ifndef PICOS_BENCH_RUNNERS_H_
#define PICOS_BENCH_RUNNERS_H_

#include <benchmark/benchmark.h>

#include <functional>
#include <utility>

#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "mux/thread/thread.h"
#include "randos/randos.h"

namespace picos::bench {

using Runner = void (*)(std::function<void()>);

inline void on_fifo(std::function<void()> f) { picos::mux::fifo::run(f); }

// fifo with Options::child_first: spawn runs the child at once (docs/schedulers.md).
inline void on_fifo_cf(std::function<void()> f) {
  picos::mux::fifo::Options o;
  o.child_first = true;
  picos::mux::fifo::run(f, o);
}

inline void on_multififo(std::function<void()> f, int threads) {
  picos::mux::multififo::Options o;
  o.threads = threads;
  picos::mux::multififo::run(f, o);
}
inline void on_multififo_1(std::function<void()> f) { on_multififo(std::move(f), 1); }
inline void on_multififo_2(std::function<void()> f) { on_multififo(std::move(f), 2); }

inline void on_libevent(std::function<void()> f) { picos::mux::libevent::run(f); }

// One OS thread per fiber.
inline void on_thread(std::function<void()> f) { picos::mux::thread::run(f); }

// The test scheduler (one thread, random order, a mutex at every scheduling point).
inline void on_randos(std::function<void()> f) {
  picos::randos::Options o;
  o.seed = 1;
  o.print_seed = false;
  picos::randos::run(f, o);
}

// No scheduler at all: the calling thread, where Picos' default handler runs every spawned
// fiber as a detached thread and yield is sched_yield (the baseline for mux/thread).
inline void on_none(std::function<void()> f) { f(); }

// Seconds per item, printed by Google Benchmark as an inverted rate with an SI prefix
// (`ns_per_yield=41.2n` means 41.2 ns).
inline benchmark::Counter per_item(double items) {
  return benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Consumes `value` so that the compiler must compute it. Only the const overload of
// DoNotOptimize is safe with GCC 12.2 and libbenchmark 1.7.1 (docs/benchmarks.md, "Harness
// pitfall").
template <typename T>
void consume(const T& value) {
  benchmark::DoNotOptimize(value);
}

}  // namespace picos::bench

#endif  // PICOS_BENCH_RUNNERS_H_
