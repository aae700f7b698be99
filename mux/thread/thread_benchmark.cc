// Copyright 2026 The Picos for C++ Authors.
//
// Benchmarks for mux/thread, with the no-scheduler default (detached threads) as a baseline.
//   bazel build -c opt //mux/thread:thread_benchmark
//   bazel-bin/mux/thread/thread_benchmark --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

#include "mux/thread/thread.h"
#include "picos/picos.h"

namespace picos::mux::thread {
namespace {

// Fiber::yield from the run's main fiber: a cancelation check plus sched_yield.
void BM_Yield(benchmark::State& state) {
  run([&] {
    for (auto _ : state) Fiber::yield();
  });
}
BENCHMARK(BM_Yield);

// The same with no scheduler installed (the default handler).
void BM_YieldNoScheduler(benchmark::State& state) {
  for (auto _ : state) Fiber::yield();
}
BENCHMARK(BM_YieldNoScheduler);

// Spawn a batch of fibers that each do nothing but count down, then wait for the batch:
// per fiber, a thread creation, the fiber's run, and the join. Reported per fiber.
void spawn_batch(int batch) {
  std::atomic<int> remaining{batch};
  Computation<void> done;
  for (int i = 0; i < batch; ++i) {
    Fiber::spawn(Fiber::create(PackedComputation()), [&remaining, done] {
      if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) done.finish();
    });
  }
  done.await();
}

void BM_SpawnFinish(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  run([&] {
    for (auto _ : state) spawn_batch(batch);
  });
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_SpawnFinish)->Arg(1)->Arg(100)->UseRealTime();

// A whole run per batch: the above plus the run's setup and final joins.
void BM_RunSpawnFinish(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  for (auto _ : state) run([&] { spawn_batch(batch); });
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_RunSpawnFinish)->Arg(1)->Arg(100)->UseRealTime();

// The no-scheduler default: detached threads, nobody joins them.
void BM_SpawnFinishNoScheduler(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  for (auto _ : state) spawn_batch(batch);
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_SpawnFinishNoScheduler)->Arg(1)->Arg(100)->UseRealTime();

// Baseline: what the OS charges for a thread that does nothing, created then joined.
void BM_StdThreadCreateJoin(benchmark::State& state) {
  for (auto _ : state) std::thread([] {}).join();
}
BENCHMARK(BM_StdThreadCreateJoin)->UseRealTime();

// A trigger round trip between two fibers, each blocked on its own thread: two blocking
// awaits and two futex wake-ups per iteration.
void BM_AwaitPingPong(benchmark::State& state) {
  run([&] {
    // Each side copies the trigger it signals before signaling, and publishes its next
    // trigger before that, so no handle is touched by both sides at once.
    struct Box {
      Trigger to_child, to_main;
      bool stop = false;
    } box;
    Computation<void> done;
    Fiber::spawn(Fiber::create(PackedComputation()), [&box, done] {
      Trigger mine = box.to_child;
      for (;;) {
        (void)mine.await();
        if (box.stop) break;
        Trigger t = box.to_main;
        mine = Trigger();
        box.to_child = mine;
        t.signal();
      }
      done.finish();
    });
    for (auto _ : state) {
      Trigger mine;
      Trigger t = box.to_child;
      box.to_main = mine;
      t.signal();
      (void)mine.await();
    }
    box.stop = true;
    box.to_child.signal();
    done.await();
  });
}
BENCHMARK(BM_AwaitPingPong)->UseRealTime();

}  // namespace
}  // namespace picos::mux::thread
