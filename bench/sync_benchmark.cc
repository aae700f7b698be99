// Copyright 2026 The Picos for C++ Authors.
//
// The costs of //std/sync's locks, on fifo and on multififo with 1 and 2 workers:
//  - Uncontended: one fiber, lock + unlock (or acquire + release) per iteration.
//  - Contended: 100 fibers, each {lock; counter++; yield; unlock} 100 times per iteration;
//    reported per operation (ns_per_op). Every unlock finds waiters, so each operation is a
//    hand-off (fair Mutex, Semaphore) or a wake-up and retry (Lock, Sem).
//  - UncontendedShared (Rwlock): one fiber, acquire_shared + release_shared.
//  - ContendedShared (Rwlock): the same 100 fibers taking the Rwlock shared, so that every
//    acquire_shared but the first finds other readers holding it.
// Channel costs are in channel_benchmark.cc.
//   bazel run -c opt //bench:sync_benchmark

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include "bench/runners.h"
#include "benchmark/benchmark.h"
#include "mux/fifo/fifo.h"
#include "mux/multififo/multififo.h"
#include "picos/picos.h"
#include "std/sync/lock.h"
#include "std/sync/mutex.h"
#include "std/sync/rwlock.h"
#include "std/sync/sem.h"
#include "std/sync/semaphore.h"

namespace picos::bench {
namespace {

// Adapters: every primitive as lock()/unlock().
struct SemaphoreLock {
  picos::sync::Semaphore s{1};
  void lock() { s.acquire(); }
  void unlock() { s.release(); }
};
struct SemLock {
  picos::sync::Sem s{1};
  void lock() { s.acquire(); }
  void unlock() { s.release(); }
};
struct SharedRwlock {
  picos::sync::Rwlock l;
  void lock() { l.acquire_shared(); }
  void unlock() { l.release_shared(); }
};
struct CheckedMutex : picos::sync::Mutex {};
struct UncheckedMutex : picos::sync::Mutex {
  UncheckedMutex() : picos::sync::Mutex(picos::sync::Mutex::kUnchecked) {}
};

template <typename L>
void BM_Uncontended(benchmark::State& state, Runner run) {
  run([&] {
    L l;
    for (auto _ : state) {
      l.lock();
      l.unlock();
    }
  });
}

template <typename L, typename Counter = long>
void BM_Contended(benchmark::State& state, Runner run) {
  constexpr int kFibers = 100, kOps = 100;
  run([&] {
    for (auto _ : state) {
      L l;
      Counter counter{0};
      std::vector<Computation<void>> done(kFibers);
      for (auto& d : done) {
        Fiber::spawn(Fiber::create(d), [&, d] {
          for (int i = 0; i < kOps; ++i) {
            std::lock_guard<L> hold(l);
            ++counter;
            Fiber::yield();
          }
          d.finish();
        });
      }
      for (auto& d : done) d.await();
      if (counter != kFibers * kOps) state.SkipWithError("lost increments");
    }
  });
  state.counters["ns_per_op"] = per_item(static_cast<double>(state.iterations() * kFibers * kOps));
}

// The shared rows: the Rwlock taken shared, whose holders increment together (so the
// counter is atomic there).
void BM_UncontendedShared_Rwlock(benchmark::State& state, Runner run) {
  BM_Uncontended<SharedRwlock>(state, run);
}
void BM_ContendedShared_Rwlock(benchmark::State& state, Runner run) {
  BM_Contended<SharedRwlock, std::atomic<long>>(state, run);
}
BENCHMARK_CAPTURE(BM_UncontendedShared_Rwlock, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_UncontendedShared_Rwlock, multififo_1, on_multififo_1)->UseRealTime();
BENCHMARK_CAPTURE(BM_UncontendedShared_Rwlock, multififo_2, on_multififo_2)->UseRealTime();
BENCHMARK_CAPTURE(BM_ContendedShared_Rwlock, fifo, on_fifo)->UseRealTime();
BENCHMARK_CAPTURE(BM_ContendedShared_Rwlock, multififo_1, on_multififo_1)->UseRealTime();
BENCHMARK_CAPTURE(BM_ContendedShared_Rwlock, multififo_2, on_multififo_2)->UseRealTime();

// One named benchmark per (workload, lock), on fifo, multififo_1 and multififo_2.
#define PICOS_SYNC(bm, L, label)                                                 \
  /* NOLINTNEXTLINE(bugprone-macro-parentheses): bm names a function template */ \
  void bm##_##label(benchmark::State& state, Runner run) { bm<L>(state, run); }  \
  BENCHMARK_CAPTURE(bm##_##label, fifo, on_fifo)->UseRealTime();                 \
  BENCHMARK_CAPTURE(bm##_##label, multififo_1, on_multififo_1)->UseRealTime();   \
  BENCHMARK_CAPTURE(bm##_##label, multififo_2, on_multififo_2)->UseRealTime()

// Every workload on every lock, in this order.
#define PICOS_SYNC_ALL_LOCKS(bm)                  \
  PICOS_SYNC(bm, CheckedMutex, Mutex);            \
  PICOS_SYNC(bm, UncheckedMutex, UncheckedMutex); \
  PICOS_SYNC(bm, picos::sync::Lock, Lock);        \
  PICOS_SYNC(bm, picos::sync::Rwlock, Rwlock);    \
  PICOS_SYNC(bm, SemaphoreLock, Semaphore);       \
  PICOS_SYNC(bm, SemLock, Sem)

PICOS_SYNC_ALL_LOCKS(BM_Uncontended);
PICOS_SYNC_ALL_LOCKS(BM_Contended);

}  // namespace
}  // namespace picos::bench
