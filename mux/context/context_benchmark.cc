// Copyright 2026 The Picos for C++ Authors.
//
// Benchmarks for mux/context. Run pinned for stable figures:
//   bazel build -c opt //mux/context:context_benchmark
//   taskset -c 1 bazel-bin/mux/context/context_benchmark --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <boost/context/detail/fcontext.hpp>
#include <cstdlib>

#include "mux/context/context.h"
#include "mux/context/stack.h"

namespace picos::mux::context {
namespace {

namespace bc = boost::context::detail;

// Baseline: a bare jump_fcontext round trip on a malloc'ed stack, no bookkeeping at all.
void BM_RawFcontextRoundTrip(benchmark::State& state) {
  constexpr std::size_t kSize = 64 * 1024;
  char* stack = static_cast<char*>(std::malloc(kSize));
  bc::fcontext_t f = bc::make_fcontext(stack + kSize, kSize, [](bc::transfer_t t) {
    for (;;) t = bc::jump_fcontext(t.fctx, nullptr);
  });
  for (auto _ : state) f = bc::jump_fcontext(f, nullptr).fctx;
  std::free(stack);  // the loop above is abandoned, like an abandoned Context
}
BENCHMARK(BM_RawFcontextRoundTrip);

// resume() + suspend(): one round trip from the thread into a context and back.
void BM_ResumeSuspendRoundTrip(benchmark::State& state) {
  struct Loop {
    Context* self = nullptr;
    static void run(void* arg) noexcept {
      auto* loop = static_cast<Loop*>(arg);
      for (;;) loop->self->suspend();
    }
  } loop;
  Context c(&Loop::run, &loop);
  loop.self = &c;
  for (auto _ : state) c.resume();
  // `c` is abandoned here: its stack goes back to the pool.
}
BENCHMARK(BM_ResumeSuspendRoundTrip);

// Construct a context, resume it once, its entry returns: the stack comes from (and goes
// back to) this thread's pool after the first iteration.
void BM_CreateResumeFinishPooled(benchmark::State& state) {
  int counter = 0;
  for (auto _ : state) {
    Context c([](void* arg) noexcept { ++*static_cast<int*>(arg); }, &counter,
              static_cast<std::size_t>(state.range(0)));
    c.resume();
  }
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(BM_CreateResumeFinishPooled)->Arg(64 << 10)->Arg(256 << 10);

// The same without the pool (trim after each): what a pool miss costs (mmap + mprotect +
// munmap, plus first-touch page faults).
void BM_CreateResumeFinishUnpooled(benchmark::State& state) {
  int counter = 0;
  for (auto _ : state) {
    Context c([](void* arg) noexcept { ++*static_cast<int*>(arg); }, &counter);
    c.resume();
    StackPool::trim();
  }
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(BM_CreateResumeFinishUnpooled);

}  // namespace
}  // namespace picos::mux::context
