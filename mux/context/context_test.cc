// Copyright 2026 The Picos for C++ Authors.

#include "mux/context/context.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mux/context/internal/sanitizers.h"
#include "mux/context/stack.h"
#include "mux/context/testing.h"
#include "picos/internal/attributes.h"

namespace picos::mux::context {
namespace {

using testing::burst_on_a_thread;
using testing::hold_and_finish;
using testing::small_depot;

#if defined(PICOS_CONTEXT_TSAN)
// __tsan_create_fiber costs ~0.4 ms: keep the many-contexts test affordable under TSan.
constexpr int kManyContexts = 1000;
#else
constexpr int kManyContexts = 10000;
#endif

// Runs a lambda as a context's entry function.
template <typename F>
class LambdaContext {
 public:
  explicit LambdaContext(F f, std::size_t stack_size = kDefaultStackSize)
      : f_(std::move(f)), context_(&run, this, stack_size) {}
  Context& context() { return context_; }
  bool resume() { return context_.resume(); }

 private:
  static void run(void* self) noexcept { static_cast<LambdaContext*>(self)->f_(); }
  F f_;
  Context context_;
};

// The calling thread's id, computed afresh. std::this_thread::get_id() is pthread_self(),
// which glibc declares __attribute__((const)): gcc may reuse one call's result across a
// suspend() in a context that migrated (this test caught it under ASan). See docs/context.md.
PICOS_NOIPA std::thread::id this_thread_id() { return std::this_thread::get_id(); }

// Forces unguarded (canary) stacks for the duration of a test, on any kernel: the mprotect
// fallback with a budget of 0. Restores the process's choices when the test ends.
struct ForceUnguardedStacks {
  ForceUnguardedStacks() {
    set_guard_mode_for_testing(GuardMode::kMprotect);
    set_guard_budget_for_testing(0);
  }
  ~ForceUnguardedStacks() {
    set_guard_budget_for_testing(-1);
    restore_guard_mode_for_testing();
  }
};

// Whether `a` and `b` lie in the same memory map of this process (one line of
// /proc/self/maps): a guard page that splits its stack's mapping does not.
bool same_memory_map(std::uintptr_t a, std::uintptr_t b) {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return false;
  bool same = false;
  unsigned long begin = 0, end = 0;
  char line[512];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "%lx-%lx", &begin, &end) != 2) continue;
    if (a >= begin && a < end) {
      same = b >= begin && b < end;
      break;
    }
  }
  std::fclose(f);
  return same;
}

TEST(ContextTest, EntryRunsOnlyOnFirstResumeAndStackIsTakenLazily) {
  StackPool::trim();
  const StackStats before = stack_stats();
  const StackPoolStats pool_before = StackPool::this_thread_stats();
  bool ran = false;
  LambdaContext c([&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_FALSE(c.context().started());
  EXPECT_EQ(c.context().stack(), nullptr);
  EXPECT_EQ(stack_stats().maps_total, before.maps_total);  // constructor allocated nothing
  EXPECT_EQ(StackPool::this_thread_stats().mapped, pool_before.mapped);

  EXPECT_TRUE(c.resume());
  EXPECT_TRUE(ran);
  EXPECT_TRUE(c.context().started());
  EXPECT_TRUE(c.context().finished());
  EXPECT_EQ(stack_stats().maps_total, before.maps_total + 1);
  EXPECT_EQ(StackPool::this_thread_stats().mapped, pool_before.mapped + 1);
  // The stack went back to this thread's pool.
  EXPECT_EQ(c.context().stack(), nullptr);
  EXPECT_EQ(StackPool::this_thread_stats().cached_stacks, 1u);
}

TEST(ContextTest, StackSizeIsRoundedToPagesAndMinimum) {
  EXPECT_EQ(Context(nullptr, nullptr, 1).stack_size(), kMinStackSize);
  EXPECT_EQ(Context(nullptr, nullptr, kDefaultStackSize).stack_size(), kDefaultStackSize);
  const std::size_t odd = 100 * 1000;
  const std::size_t rounded = Context(nullptr, nullptr, odd).stack_size();
  EXPECT_GE(rounded, odd);
  EXPECT_EQ(rounded % page_size(), 0u);
  EXPECT_LT(rounded - odd, page_size());
  // Above the maximum: lowered to it (it wrapped to 0 near SIZE_MAX).
  EXPECT_EQ(Context(nullptr, nullptr, std::numeric_limits<std::size_t>::max()).stack_size(),
            kMaxStackSize);
  EXPECT_EQ(Context(nullptr, nullptr, kMaxStackSize + 1).stack_size(), kMaxStackSize);
}

TEST(ContextTest, ResumeAndSuspendPingPongValues) {
  int to_context = 0;
  int from_context = 0;
  Context* self = nullptr;
  LambdaContext c([&] {
    for (;;) {
      if (to_context < 0) return;
      from_context = to_context * 2;
      self->suspend();
    }
  });
  self = &c.context();
  for (int i = 1; i <= 1000; ++i) {
    to_context = i;
    ASSERT_FALSE(c.resume());
    ASSERT_EQ(from_context, 2 * i);
    ASSERT_FALSE(c.context().finished());
  }
  to_context = -1;
  EXPECT_TRUE(c.resume());
  EXPECT_TRUE(c.context().finished());
}

TEST(ContextTest, FinishedAfterEntryReturnsEvenAfterSuspends) {
  int steps = 0;
  Context* self = nullptr;
  LambdaContext c([&] {
    ++steps;
    self->suspend();
    ++steps;
    self->suspend();
    ++steps;
  });
  self = &c.context();
  EXPECT_FALSE(c.resume());
  EXPECT_FALSE(c.context().finished());
  EXPECT_FALSE(c.resume());
  EXPECT_EQ(steps, 2);
  EXPECT_TRUE(c.resume());
  EXPECT_EQ(steps, 3);
  EXPECT_TRUE(c.context().finished());
}

TEST(ContextTest, ResumingAFinishedContextAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Context c([](void*) noexcept {}, nullptr);
        c.resume();
        c.resume();
      },
      "resume\\(\\) called on a finished context");
}

// ---- switch_to ------------------------------------------------------------------------

// A ring of contexts handing the thread on with switch_to(): each appends its index, and the
// last one of each lap suspends back to run(), which reports it.
TEST(ContextTest, SwitchToHandsTheThreadOnAndRunReportsWhoCameBack) {
  constexpr int kRing = 3;
  std::vector<int> trace;
  Context* ring[kRing] = {};
  struct Member {
    int index;
    std::vector<int>* trace;
    Context** ring;
  };
  Member members[kRing];
  std::unique_ptr<Context> contexts[kRing];
  for (int i = 0; i < kRing; ++i) {
    members[i] = {i, &trace, ring};
    contexts[i] = std::make_unique<Context>(
        [](void* arg) noexcept {
          auto* m = static_cast<Member*>(arg);
          for (int lap = 0; lap < 2; ++lap) {
            m->trace->push_back(m->index);
            EXPECT_EQ(Context::current(), m->ring[m->index]);
            if (m->index + 1 < kRing) {
              m->ring[m->index]->switch_to(*m->ring[m->index + 1]);  // starts it on lap 0
            } else {
              m->ring[m->index]->suspend();
            }
          }
        },
        &members[i]);
    ring[i] = contexts[i].get();
  }
  Context::Outcome o = ring[0]->run();
  EXPECT_EQ(o.context, ring[kRing - 1]);
  EXPECT_FALSE(o.finished);
  EXPECT_EQ(trace, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(Context::current(), nullptr);
  // Second lap: 0 and 1 continue after their switch_to; the last one finishes when resumed.
  o = ring[0]->run();
  EXPECT_EQ(o.context, ring[kRing - 1]);
  EXPECT_FALSE(o.finished);
  EXPECT_EQ(trace, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  // Now 0 and 1 are parked in switch_to; 2 in suspend. Finish them all, in any order.
  o = ring[2]->run();
  EXPECT_EQ(o.context, ring[2]);
  EXPECT_TRUE(o.finished);
  EXPECT_TRUE(ring[1]->resume());
  EXPECT_TRUE(ring[0]->resume());
}

TEST(ContextTest, ContextReachedBySwitchToMayFinishUnderRun) {
  Context* b_ptr = nullptr;
  int b_ran = 0;
  struct A {
    Context** b;
    Context* self;
  } a_state{&b_ptr, nullptr};
  Context b([](void* arg) noexcept { ++*static_cast<int*>(arg); }, &b_ran);
  b_ptr = &b;
  Context a(
      [](void* arg) noexcept {
        auto* st = static_cast<A*>(arg);
        st->self->switch_to(**st->b);
      },
      &a_state);
  a_state.self = &a;
  Context::Outcome o = a.run();
  EXPECT_EQ(o.context, &b);
  EXPECT_TRUE(o.finished);
  EXPECT_EQ(b_ran, 1);
  EXPECT_EQ(b.stack(), nullptr);  // back in the pool
  EXPECT_TRUE(a.resume());        // a was parked in switch_to: it resumes and finishes
}

struct SwitchMisuse {
  Context* self = nullptr;
  Context* target = nullptr;
};

// Runs a context that switches to `target`, or to itself when target is null.
void run_switch_misuse(Context* target) {
  SwitchMisuse st;
  st.target = target;
  Context c(
      [](void* arg) noexcept {
        auto* s = static_cast<SwitchMisuse*>(arg);
        s->self->switch_to(s->target ? *s->target : *s->self);
      },
      &st);
  st.self = &c;
  (void)c.resume();
}

void switch_to_finished() {
  Context done([](void*) noexcept {}, nullptr);
  (void)done.resume();
  run_switch_misuse(&done);
}

void resume_when_another_comes_back() {
  Context other([](void*) noexcept {}, nullptr);
  run_switch_misuse(&other);  // `other` finishes under c's resume(): resume() says so
}

TEST(ContextTest, MisusedSwitchToAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(run_switch_misuse(nullptr), "switch_to\\(\\) called with the running context");
  EXPECT_DEATH(switch_to_finished(), "switch_to\\(\\) called with a finished context");
  EXPECT_DEATH(resume_when_another_comes_back(), "another context came back");
}

struct Counter {
  int value = 0;
  Context* context = nullptr;
};

void count_twice(void* arg) noexcept {
  auto* c = static_cast<Counter*>(arg);
  ++c->value;
  c->context->suspend();
  ++c->value;
}

TEST(ContextTest, ManyContextsAliveAtOnce) {
  std::vector<Counter> counters(kManyContexts);
  std::vector<std::unique_ptr<Context>> contexts;
  contexts.reserve(kManyContexts);
  for (Counter& counter : counters) {
    contexts.push_back(std::make_unique<Context>(&count_twice, &counter));
    counter.context = contexts.back().get();
  }
  for (auto& c : contexts) ASSERT_FALSE(c->resume());
  const StackStats live = stack_stats();
  EXPECT_GE(live.guarded_live + live.unguarded_live, static_cast<std::size_t>(kManyContexts));
  EXPECT_LE(live.mprotect_live, live.guard_budget);
  // Lightweight guards have no budget: every stack is guarded.
  if (live.mode == GuardMode::kLightweight) {
    EXPECT_EQ(live.unguarded_live, 0u);
  }
  for (const Counter& counter : counters) ASSERT_EQ(counter.value, 1);
  for (auto& c : contexts) ASSERT_TRUE(c->resume());
  for (const Counter& counter : counters) ASSERT_EQ(counter.value, 2);
  // Only kMaxCachedStacks stay cached here and at most kMaxDepotBurstStacks in the shared
  // depot; the others were unmapped.
  EXPECT_LE(StackPool::this_thread_stats().cached_stacks, StackPool::kMaxCachedStacks);
  EXPECT_LE(stack_stats().depot_stacks, StackPool::kMaxDepotBurstStacks);
  EXPECT_LE(stack_stats().guarded_live + stack_stats().unguarded_live,
            live.guarded_live + live.unguarded_live - kManyContexts + StackPool::kMaxCachedStacks +
                StackPool::kMaxDepotBurstStacks);
  StackPool::trim();
}

// 100,000 contexts run to completion one after another on one pooled stack. Under TSan this
// also checks that a finished fiber leaves nothing on its pooled TSan fiber's shadow call
// stack (otherwise it would overflow long before the end).
TEST(ContextTest, ManyShortLivedContextsShareOnePooledStack) {
  StackPool::trim();
  const StackStats before = stack_stats();
  int sum = 0;
  Context* self = nullptr;
  for (int i = 0; i < 100000; ++i) {
    LambdaContext c([&] {
      ++sum;
      self->suspend();
      ++sum;
    });
    self = &c.context();
    ASSERT_FALSE(c.resume());
    ASSERT_TRUE(c.resume());
  }
  EXPECT_EQ(sum, 200000);
  EXPECT_EQ(stack_stats().maps_total, before.maps_total + 1);
}

TEST(ContextTest, SecondContextReusesThePooledStack) {
  StackPool::trim();
  LambdaContext first([] {});
  ASSERT_TRUE(first.resume());
  ASSERT_EQ(StackPool::this_thread_stats().cached_stacks, 1u);

  const StackStats before = stack_stats();
  const StackPoolStats pool_before = StackPool::this_thread_stats();
  const Stack* seen = nullptr;
  Context* self = nullptr;
  LambdaContext second([&] {
    seen = self->stack();
    self->suspend();
  });
  self = &second.context();
  ASSERT_FALSE(second.resume());
  EXPECT_EQ(stack_stats().maps_total, before.maps_total);  // no new mmap
  EXPECT_EQ(StackPool::this_thread_stats().reused, pool_before.reused + 1);
  EXPECT_EQ(StackPool::this_thread_stats().cached_stacks, 0u);
  EXPECT_EQ(seen, second.context().stack());
  ASSERT_TRUE(second.resume());

  // A different size does not take that stack.
  LambdaContext bigger([] {}, 2 * kDefaultStackSize);
  ASSERT_TRUE(bigger.resume());
  EXPECT_EQ(stack_stats().maps_total, before.maps_total + 1);
}

TEST(ContextTest, MigratesBetweenThreads) {
  constexpr int kRounds = 2000;
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;         // which thread resumes next: 0 or 1
  int rounds_done = 0;  // guarded by mu
  int handed = 0;       // written inside the context, read by the resuming thread
  std::thread::id ids[2];
  int thread_switches = 0;

  Context* self = nullptr;
  LambdaContext c([&] {
    std::thread::id last = this_thread_id();
    for (int i = 0; i < kRounds; ++i) {
      if (Context::current() != self) std::abort();
      handed = i;
      self->suspend();
      if (this_thread_id() != last) ++thread_switches;
      last = this_thread_id();
    }
  });
  self = &c.context();

  auto worker = [&](int me) {
    ids[me] = this_thread_id();
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return turn == me || rounds_done > kRounds; });
      if (rounds_done > kRounds) return;
      const bool finished = c.resume();
      EXPECT_EQ(Context::current(), nullptr);
      if (!finished) {
        EXPECT_EQ(handed, rounds_done);
      }
      ++rounds_done;
      turn = 1 - me;
      if (finished) rounds_done = kRounds + 1;
      cv.notify_all();
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  a.join();
  b.join();
  EXPECT_TRUE(c.context().finished());
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_EQ(thread_switches, kRounds);  // every resume came from the other thread
}

TEST(ContextTest, StackFreedOnAnotherThreadGoesToThatThreadsPool) {
  Context* self = nullptr;
  LambdaContext c([&] { self->suspend(); });
  self = &c.context();
  ASSERT_FALSE(c.resume());  // stack taken on this thread
  std::size_t cached_there = 0;
  std::thread t([&] {
    StackPool::trim();
    EXPECT_TRUE(c.resume());  // finishes there
    cached_there = StackPool::this_thread_stats().cached_stacks;
  });
  t.join();
  EXPECT_EQ(cached_there, 1u);
}

// Runs two contexts that need a stack at the same time, to the end.
void run_two_at_once() {
  Context* self = nullptr;
  LambdaContext first([&] { self->suspend(); });
  self = &first.context();
  ASSERT_FALSE(first.resume());
  LambdaContext second([] {});
  EXPECT_TRUE(second.resume());
  EXPECT_TRUE(first.resume());
}

// A thread's cached stacks outlive it in the shared depot, and a thread's exit leaves the
// stacks already there alone: multififo's workers exit at the end of every run, and the next
// run takes their stacks instead of mapping (and faulting in) new ones.
TEST(ContextTest, ThreadExitHandsItsPoolToTheDepot) {
  StackPool::trim();  // empties the shared depot too
  const StackStats before = stack_stats();
  std::thread a([] {  // two stacks at once, both cached here, then given to the depot
    run_two_at_once();
    EXPECT_EQ(StackPool::this_thread_stats().cached_stacks, 2u);
    EXPECT_EQ(StackPool::this_thread_stats().mapped, 2u);
  });
  a.join();
  std::thread b([] {  // takes one of them from the depot; at its exit the other stays there
    LambdaContext c([] {});
    EXPECT_TRUE(c.resume());
    EXPECT_EQ(StackPool::this_thread_stats().mapped, 0u);
  });
  b.join();
  run_two_at_once();  // both are in the depot now: this thread reuses them
  const StackStats after = stack_stats();
  EXPECT_EQ(after.maps_total - before.maps_total, 2u);
  EXPECT_EQ(after.unmaps_total, before.unmaps_total);
  StackPool::trim();
  EXPECT_EQ(stack_stats().unmaps_total - before.unmaps_total, 2u);
}

// A thread past its cache limit hands its overflow to the depot in batches (so the next gives
// find room in its pool), and a thread that misses takes a batch back: kDepotBatch stacks per
// lock, none unmapped, none mapped anew.
TEST(ContextTest, TheDepotMovesStacksInBatches) {
  StackPool::trim();
  const StackStats before = stack_stats();
  // What a thread caches at most: a count, or fewer stacks of this size by bytes (the
  // sanitizers' stacks are 256 KiB).
  const std::size_t size = Context([](void*) noexcept {}, nullptr).stack_size();
  const std::size_t cap = std::min(StackPool::kMaxCachedStacks, StackPool::kMaxCachedBytes / size);
  const std::size_t stacks = cap + StackPool::kDepotBatch + 8;
  std::thread a([&] {
    hold_and_finish(stacks);
    // Each overflow (two of them) took kDepotBatch - 1 cached stacks with it to the depot.
    EXPECT_EQ(StackPool::this_thread_stats().cached_stacks, stacks - 2 * StackPool::kDepotBatch);
  });
  a.join();  // its pool goes to the depot too: all the stacks are there now
  EXPECT_EQ(stack_stats().unmaps_total, before.unmaps_total);
  std::thread b([&] {
    hold_and_finish(2);  // one by one from the depot (this pool is armed by the first give)
    EXPECT_EQ(StackPool::this_thread_stats().cached_stacks, 2u);
    hold_and_finish(3);  // the third take misses here and brings a batch
    const StackPoolStats stats = StackPool::this_thread_stats();
    EXPECT_EQ(stats.mapped, 0u);
    EXPECT_EQ(stats.cached_stacks, StackPool::kDepotBatch + 2);
  });
  b.join();
  EXPECT_EQ(stack_stats().maps_total - before.maps_total, stacks);
  EXPECT_EQ(stack_stats().unmaps_total, before.unmaps_total);
  StackPool::trim();
}

// The depot's capacities in the tests below: testing::small_depot, a steady capacity of 16
// stacks and a burst capacity of 400, instead of 131,072 and 2^20.
// A burst of fibers larger than the depot's steady capacity gets its stacks back when it
// repeats, instead of mapping and unmapping the excess every time; the depot keeps no more
// than its burst capacity.
TEST(ContextTest, TheDepotKeepsARepeatingBurstBeyondItsSteadyCapacity) {
  StackPool::trim();
  set_depot_limits_for_testing(small_depot(std::chrono::hours(1)));
  const StackStats before = stack_stats();
  burst_on_a_thread(300);  // 300 mapped, all given to the depot at the thread's exit
  EXPECT_EQ(stack_stats().depot_stacks, 300u);
  EXPECT_EQ(StackPool::release_idle(), 0u);  // in use within the hold: kept
  burst_on_a_thread(300);                    // the same stacks again
  EXPECT_EQ(stack_stats().maps_total - before.maps_total, 300u);
  EXPECT_EQ(stack_stats().unmaps_total, before.unmaps_total);
  EXPECT_EQ(stack_stats().depot_stacks, 300u);
  burst_on_a_thread(500);  // 200 more mapped; the depot keeps 400 and the rest are unmapped
  EXPECT_EQ(stack_stats().maps_total - before.maps_total, 500u);
  EXPECT_EQ(stack_stats().depot_stacks, 400u);
  EXPECT_EQ(stack_stats().unmaps_total - before.unmaps_total, 100u);
  restore_depot_limits_for_testing();
  StackPool::trim();
  EXPECT_EQ(stack_stats().depot_stacks, 0u);
}

// Once the burst tier has not been used for the hold, release_idle unmaps it, a batch per
// call, down to the steady capacity; and a give beyond the steady capacity is unmapped then
// instead of starting the tier again.
TEST(ContextTest, TheDepotReleasesAnUnusedBurst) {
  StackPool::trim();
  EXPECT_EQ(StackPool::release_idle(), 0u);  // nothing beyond the steady capacity
  set_depot_limits_for_testing(small_depot(std::chrono::hours(1)));
  const StackStats before = stack_stats();
  burst_on_a_thread(300);
  ASSERT_EQ(stack_stats().depot_stacks, 300u);
  set_depot_limits_for_testing(small_depot(std::chrono::nanoseconds(0)));  // now stale
  std::vector<std::size_t> batches;
  while (std::size_t n = StackPool::release_idle()) batches.push_back(n);
  EXPECT_EQ(batches, (std::vector<std::size_t>{64, 64, 64, 64, 28}));
  EXPECT_EQ(stack_stats().depot_stacks, 16u);
  EXPECT_EQ(stack_stats().unmaps_total - before.unmaps_total, 284u);
  // The next burst's gives beyond the steady capacity: the first starts the tier again, and
  // with a hold of 0 the ones after it find it stale and are unmapped (at most one more, if
  // the clock did not advance between two gives).
  burst_on_a_thread(300);
  EXPECT_GE(stack_stats().depot_stacks, 17u);
  EXPECT_LE(stack_stats().depot_stacks, 18u);
  restore_depot_limits_for_testing();
  StackPool::trim();
}

int throw_and_catch(int depth) {
  if (depth == 0) throw std::runtime_error("deep");
  return throw_and_catch(depth - 1) + 1;
}

TEST(ContextTest, ExceptionsAreThrownAndCaughtInsideAContext) {
  int caught = 0;
  Context* self = nullptr;
  LambdaContext c([&] {
    for (int i = 0; i < 100; ++i) {
      try {
        self->suspend();  // suspended inside a try block
        throw_and_catch(i % 10);
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "deep") ++caught;
      }
    }
  });
  self = &c.context();
  while (!c.resume()) {
    // An exception on this stack between switches must not disturb the context's.
    try {
      throw std::logic_error("outside");
    } catch (const std::logic_error&) {
    }
  }
  EXPECT_EQ(caught, 100);
}

TEST(ContextTest, CurrentIsCorrectInsideOutsideAndNested) {
  EXPECT_EQ(Context::current(), nullptr);
  Context* outer_self = nullptr;
  Context* inner_self = nullptr;
  std::vector<std::string> log;
  auto check = [&](Context* expected, const char* where) {
    log.push_back(std::string(where) + (Context::current() == expected ? ":ok" : ":WRONG"));
  };
  LambdaContext inner([&] {
    check(inner_self, "inner1");
    inner_self->suspend();  // back to the outer context, its resumer
    check(inner_self, "inner2");
  });
  inner_self = &inner.context();
  LambdaContext outer([&] {
    check(outer_self, "outer1");
    if (inner.resume()) log.push_back("inner finished early");
    check(outer_self, "outer2");
    outer_self->suspend();
    check(outer_self, "outer3");
    if (!inner.resume()) log.push_back("inner did not finish");
    check(outer_self, "outer4");
  });
  outer_self = &outer.context();
  EXPECT_FALSE(outer.resume());
  EXPECT_EQ(Context::current(), nullptr);
  EXPECT_TRUE(outer.resume());
  EXPECT_EQ(Context::current(), nullptr);
  EXPECT_EQ(log, (std::vector<std::string>{"outer1:ok", "inner1:ok", "outer2:ok", "outer3:ok",
                                           "inner2:ok", "outer4:ok"}));
}

struct DestructorFlag {
  bool* flag;
  ~DestructorFlag() { *flag = true; }
};

TEST(ContextTest, AbandoningASuspendedContextReleasesItsStack) {
  StackPool::trim();
  bool destroyed = false;
  {
    Context* self = nullptr;
    LambdaContext c([&] {
      DestructorFlag f{&destroyed};
      self->suspend();
    });
    self = &c.context();
    ASSERT_FALSE(c.resume());
    EXPECT_EQ(StackPool::this_thread_stats().cached_stacks, 0u);
  }
  EXPECT_EQ(StackPool::this_thread_stats().cached_stacks, 1u);  // back in the pool
  EXPECT_FALSE(destroyed);  // documented: an abandoned stack is not unwound

  // The recycled stack works for a new context.
  const StackStats before = stack_stats();
  int value = 0;
  LambdaContext again([&] { value = 42; });
  EXPECT_TRUE(again.resume());
  EXPECT_EQ(value, 42);
  EXPECT_EQ(stack_stats().maps_total, before.maps_total);
}

// Uses about `depth` KiB of stack.
__attribute__((noinline)) int use_stack(int depth) {
  volatile char buffer[1024];
  buffer[0] = static_cast<char>(depth);
  if (depth <= 1) return buffer[0];
  int r = use_stack(depth - 1);
  buffer[1023] = static_cast<char>(r);
  return buffer[0] + buffer[1023];
}

TEST(ContextTest, UnguardedStacksCarryAnIntactCanary) {
  ForceUnguardedStacks no_guards;
  StackPool::trim();
  const StackStats before = stack_stats();
  EXPECT_EQ(before.guard_budget, 0u);
  Context* self = nullptr;
  bool guarded = true;
  bool canary_ok = false;
  LambdaContext c([&] {
    guarded = self->stack()->guarded();
    for (int i = 0; i < 10; ++i) {
      use_stack(40);  // 40 KiB of a 64 KiB stack
      self->suspend();
    }
    canary_ok = self->stack()->canary_intact();
  });
  self = &c.context();
  while (!c.resume()) ASSERT_TRUE(c.context().stack()->canary_intact());
  EXPECT_FALSE(guarded);
  EXPECT_TRUE(canary_ok);
  EXPECT_EQ(stack_stats().unguarded_live, before.unguarded_live + 1);
  StackPool::trim();
}

// The mode is the kernel's: lightweight guards wherever the probe accepted them. (On 6.13+
// kernels this runs the lightweight path, on older ones the mprotect path; the fallback is
// forced below on any kernel.)
TEST(ContextTest, GuardModeFollowsTheKernel) {
  const char* env = std::getenv("PICOS_STACK_GUARDS");
  const bool forced = env != nullptr && std::string(env) == "mprotect";
  EXPECT_EQ(guard_mode(), lightweight_guards_supported() && !forced ? GuardMode::kLightweight
                                                                    : GuardMode::kMprotect);
  EXPECT_EQ(stack_stats().mode, guard_mode());
  EXPECT_EQ(set_guard_mode_for_testing(GuardMode::kLightweight), lightweight_guards_supported());
  restore_guard_mode_for_testing();
}

// Lightweight guards: every stack is guarded, whatever the mprotect budget, and the guard page
// is no memory map of its own (no VMA split: guard and stack share one line of
// /proc/self/maps), so guarded stacks cost no vm.max_map_count budget.
TEST(ContextTest, LightweightGuardsGuardEveryStackWithoutSplittingMaps) {
  if (!set_guard_mode_for_testing(GuardMode::kLightweight)) {
    GTEST_SKIP() << "this kernel has no lightweight guard regions (MADV_GUARD_INSTALL, 6.13+)";
  }
  set_guard_budget_for_testing(0);
  StackPool::trim();
  constexpr int kStacks = 200;
  std::vector<Stack*> stacks;
  const StackStats before = stack_stats();
  for (int i = 0; i < kStacks; ++i) {
    Stack* s = Stack::map(kDefaultStackSize);
    EXPECT_EQ(s->guard_kind(), GuardKind::kLightweight);
    EXPECT_EQ(s->guard_end() - s->guard_begin(), page_size());
    EXPECT_EQ(s->guard_end(), reinterpret_cast<std::uintptr_t>(s->limit()));
    stacks.push_back(s);
  }
  for (Stack* s : stacks) EXPECT_TRUE(same_memory_map(s->guard_begin(), s->guard_end()));
  const StackStats live = stack_stats();
  for (Stack* s : stacks) Stack::unmap(s);
  set_guard_budget_for_testing(-1);
  restore_guard_mode_for_testing();
  EXPECT_EQ(live.guarded_live, before.guarded_live + kStacks);
  EXPECT_EQ(live.mprotect_live, before.mprotect_live);
  EXPECT_EQ(live.unguarded_live, before.unguarded_live);
}

// The fallback, forced on any kernel: mprotect'ed guard pages while the budget lasts, then
// unguarded canary stacks.
TEST(ContextTest, MprotectFallbackGuardsWithinTheBudgetThenUsesTheCanary) {
  ASSERT_TRUE(set_guard_mode_for_testing(GuardMode::kMprotect));
  const StackStats before = stack_stats();
  set_guard_budget_for_testing(static_cast<long>(before.mprotect_live) + 2);
  Stack* a = Stack::map(kDefaultStackSize);
  Stack* b = Stack::map(kDefaultStackSize);
  Stack* c = Stack::map(kDefaultStackSize);
  EXPECT_EQ(a->guard_kind(), GuardKind::kMprotect);
  EXPECT_EQ(b->guard_kind(), GuardKind::kMprotect);
  EXPECT_EQ(c->guard_kind(), GuardKind::kNone);
  EXPECT_TRUE(c->canary_intact());
  // An mprotect'ed guard page is a memory map of its own.
  EXPECT_FALSE(same_memory_map(a->guard_begin(), a->guard_end()));
  EXPECT_EQ(stack_stats().mprotect_live, before.mprotect_live + 2);
  EXPECT_EQ(stack_stats().unguarded_live, before.unguarded_live + 1);
  for (Stack* s : {a, b, c}) Stack::unmap(s);
  set_guard_budget_for_testing(-1);
  restore_guard_mode_for_testing();
}

void recurse_marker() {}

TEST(ContextTest, OverwrittenCanaryAbortsAtSuspend) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        set_guard_mode_for_testing(GuardMode::kMprotect);
        set_guard_budget_for_testing(0);
        Context* self = nullptr;
        LambdaContext c([&] {
          // What an overflow past the bottom of an unguarded stack would do (a return address).
          static_cast<volatile std::uintptr_t*>(self->stack()->limit())[3] =
              reinterpret_cast<std::uintptr_t>(&recurse_marker);
          self->suspend();
        });
        self = &c.context();
        c.resume();
      },
      "fiber stack canary overwritten");
}

__attribute__((noinline)) int recurse_forever(int depth, volatile int* limit) {
  volatile char buffer[512];
  buffer[0] = static_cast<char>(depth);
  if (depth >= *limit) return buffer[0];
  int r = recurse_forever(depth + 1, limit);
  buffer[511] = static_cast<char>(r);  // keeps the call from being a tail call
  return buffer[0] + buffer[511];
}

// A guard page hit is reported as a stack overflow, with either kind of guard.
[[maybe_unused]] void expect_overflow_report(GuardMode mode, GuardKind kind) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        if (!set_guard_mode_for_testing(mode)) std::abort();
        StackPool::trim();
        Context* self = nullptr;
        static volatile int limit = 1 << 30;
        LambdaContext c([&] {
          if (self->stack()->guard_kind() != kind) std::abort();
          recurse_forever(0, &limit);
        });
        self = &c.context();
        c.resume();
      },
      "stack overflow in a fiber \\(stack size 65536 bytes, guard page hit at 0x");
}

TEST(ContextDeathTest, GuardPageHitReportsStackOverflow) {
#if defined(PICOS_CONTEXT_ASAN) || defined(PICOS_CONTEXT_TSAN)
  GTEST_SKIP() << "the overflow handler is not installed under ASan/TSan";
#else
  expect_overflow_report(GuardMode::kMprotect, GuardKind::kMprotect);
#endif
}

TEST(ContextDeathTest, LightweightGuardHitReportsStackOverflow) {
#if defined(PICOS_CONTEXT_ASAN) || defined(PICOS_CONTEXT_TSAN)
  GTEST_SKIP() << "the overflow handler is not installed under ASan/TSan";
#else
  if (!lightweight_guards_supported()) {
    GTEST_SKIP() << "this kernel has no lightweight guard regions (MADV_GUARD_INSTALL, 6.13+)";
  }
  expect_overflow_report(GuardMode::kLightweight, GuardKind::kLightweight);
#endif
}

TEST(ContextDeathTest, OrdinarySegfaultIsNotReportedAsOverflow) {
#if defined(PICOS_CONTEXT_ASAN) || defined(PICOS_CONTEXT_TSAN)
  GTEST_SKIP() << "the overflow handler is not installed under ASan/TSan";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The handler chains to the default action: the process dies of SIGSEGV, silently.
  EXPECT_EXIT(
      {
        // A protected page that is not a guard page of ours.
        void* page = mmap(nullptr, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) std::abort();
        LambdaContext c([&] { *static_cast<volatile int*>(page) = 1; });
        c.resume();
      },
      ::testing::KilledBySignal(SIGSEGV), "^$");
#endif
}

}  // namespace
}  // namespace picos::mux::context
