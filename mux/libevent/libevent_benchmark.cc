// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/libevent_benchmark.cc — the libevent scheduler, with mux/fifo as the baseline
// for the workloads both can run (same workloads as bench/fifo_benchmark.cc).
//
// Every benchmark runs its timed loop inside `run` (the scheduler is started once per
// benchmark run, not per iteration). `ns_per_*` counters are per operation (Google Benchmark
// prints an inverted rate: `ns_per_yield=41.2n` means 41.2 ns). Counts are checked after the
// loop and a wrong one fails the benchmark.
//
//   bazel build -c opt //mux/libevent:libevent_benchmark
//   taskset -c 1 bazel-bin/mux/libevent/libevent_benchmark --benchmark_min_time=0.2

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "picos/picos.h"

namespace picos {
namespace {

benchmark::Counter per_item(double items) {
  return benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <typename F>
void spawn(const PackedComputation& c, F&& main) {
  Fiber::spawn(Fiber::create(c), std::forward<F>(main));
}

void await_or_throw(const Trigger& t) {
  if (std::exception_ptr e = t.await()) std::rethrow_exception(e);
}

// The scheduler under test: a tag type per scheduler, so each benchmark is a template.
// `Budget`: Options::budget, fibers resumed per libevent callback before the loop polls.
template <int Budget>
struct LibeventB {
  template <typename F>
  static auto run(F&& f) {
    mux::libevent::Options options;
    options.budget = Budget;
    return mux::libevent::run(std::forward<F>(f), options);
  }
};
using Libevent = LibeventB<64>;  // the default
using Libevent1k = LibeventB<1024>;
struct Fifo {
  template <typename F>
  static auto run(F&& f) {
    return mux::fifo::run(std::forward<F>(f));
  }
};

// ---- yield -----------------------------------------------------------------------------------

// Two fibers yielding to each other: one iteration = two yields. On libevent, one libevent
// poll every `budget` (64) dispatches.
template <typename S>
void BM_YieldTwoFibers(benchmark::State& state) {
  std::int64_t yields = 0;
  bool done = false;
  S::run([&] {
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
  if (yields < 2 * static_cast<std::int64_t>(state.iterations()) - 1) {
    state.SkipWithError("yield: the other fiber did not run");
  }
  state.counters["ns_per_yield"] = per_item(2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK_TEMPLATE(BM_YieldTwoFibers, Libevent);
BENCHMARK_TEMPLATE(BM_YieldTwoFibers, Libevent1k);
BENCHMARK_TEMPLATE(BM_YieldTwoFibers, Fifo);

// ---- trigger round trip ------------------------------------------------------------------------

void wake(std::optional<Trigger>& slot) {
  if (slot) {
    Trigger t = std::move(*slot);
    slot.reset();
    t.signal();
  }
}

// A and B each publish a trigger, signal the other's and await their own: one iteration = 2
// trigger creations, 2 signals, 2 awaits, 2 fiber switches.
template <typename S>
void BM_TriggerRoundTrip(benchmark::State& state) {
  std::int64_t a_wakeups = 0;
  std::int64_t b_wakeups = 0;
  std::optional<Trigger> waiting_a;
  std::optional<Trigger> waiting_b;
  bool done = false;
  S::run([&] {
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
  if (a_wakeups != static_cast<std::int64_t>(state.iterations()) || b_wakeups != a_wakeups - 1) {
    state.SkipWithError("trigger round trip: wrong wake-up count");
  }
}
BENCHMARK_TEMPLATE(BM_TriggerRoundTrip, Libevent);
BENCHMARK_TEMPLATE(BM_TriggerRoundTrip, Fifo);

// ---- spawn + finish
// ------------------------------------------------------------------------------

// A batch of range(0) empty fibers sharing one computation; the last signals the main fiber.
template <typename S>
void BM_SpawnFinish(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  std::int64_t ran = 0;
  S::run([&] {
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
}
BENCHMARK_TEMPLATE(BM_SpawnFinish, Libevent)->Arg(1)->Arg(1000);
BENCHMARK_TEMPLATE(BM_SpawnFinish, Libevent1k)->Arg(1000);
BENCHMARK_TEMPLATE(BM_SpawnFinish, Fifo)->Arg(1)->Arg(1000);

// ---- pipe ping-pong through await_fd
// --------------------------------------------------------------

struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close(r);
    close(w);
  }
};

void put(int fd) {
  char c = 'x';
  if (write(fd, &c, 1) != 1) throw std::runtime_error("write");
}

// Reads one byte, awaiting readiness on the loop when there is none yet.
bool get(int fd) {
  char c;
  for (;;) {
    if (read(fd, &c, 1) == 1) return true;
    mux::libevent::await_readable(fd);
  }
}

// A writes a byte into one pipe, B reads it and answers on the other: one iteration = one
// round trip = 2 writes, 2 reads, 2 await_fd (event_new + event_add + epoll + callback +
// event_free each) and the failed reads before them.
void BM_PipePingPong(benchmark::State& state) {
  std::int64_t pongs = 0;
  mux::libevent::run([&] {
    Pipe ab, ba;
    Computation<void> b_done;
    spawn(Computation<void>(), [&] {
      for (;;) {
        get(ab.r);
        if (pongs < 0) break;
        put(ba.w);
      }
      b_done.finish();
    });
    for (auto _ : state) {
      put(ab.w);
      get(ba.r);
      ++pongs;
    }
    std::int64_t n = pongs;
    pongs = -1;
    put(ab.w);
    b_done.await();
    pongs = n;
  });
  if (pongs != static_cast<std::int64_t>(state.iterations()))
    state.SkipWithError("ping-pong count");
}
BENCHMARK(BM_PipePingPong);

// Baseline: the same bytes through the same pipes on one thread with no waiting at all.
void BM_PipeWriteReadNoWait(benchmark::State& state) {
  Pipe ab, ba;
  for (auto _ : state) {
    put(ab.w);
    char c;
    benchmark::DoNotOptimize(read(ab.r, &c, 1));
    put(ba.w);
    benchmark::DoNotOptimize(read(ba.r, &c, 1));
  }
}
BENCHMARK(BM_PipeWriteReadNoWait);

}  // namespace
}  // namespace picos
