// Copyright 2026 The Picos for C++ Authors.
//
// bench/runners.h — "run this benchmark body on scheduler X", shared by the //bench binaries
// so that every benchmark starts its schedulers the same way (Google Benchmark's
// BENCHMARK_CAPTURE passes one of these as the `run` argument).

#ifndef PICOS_BENCH_RUNNERS_H_
#define PICOS_BENCH_RUNNERS_H_

#include <functional>
#include <utility>

#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"

namespace picos::bench {

using Runner = void (*)(std::function<void()>);

inline void on_fifo(std::function<void()> f) { picos::mux::fifo::run(f); }

inline void on_multififo(std::function<void()> f, int threads) {
  picos::mux::multififo::Options o;
  o.threads = threads;
  picos::mux::multififo::run(f, o);
}
inline void on_multififo_1(std::function<void()> f) { on_multififo(std::move(f), 1); }
inline void on_multififo_2(std::function<void()> f) { on_multififo(std::move(f), 2); }

inline void on_libevent(std::function<void()> f) { picos::mux::libevent::run(f); }

}  // namespace picos::bench

#endif  // PICOS_BENCH_RUNNERS_H_
