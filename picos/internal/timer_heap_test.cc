// Copyright 2026 The Picos for C++ Authors.
//
// picos::internal::TimerHeap on its own: deadline order, ties in arming order, entries of
// completed computations never fire and are reclaimed (the heap stays proportional to the
// live timers), nothing is armed for a completed computation, may_precede's view of the top;
// deferred timers take their deadline from the next look and are reclaimed the same way.

#include "picos/internal/timer_heap.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "picos/computation.h"

namespace picos::internal {
namespace {

using std::chrono::seconds;

std::exception_ptr reason() { return std::make_exception_ptr(std::runtime_error("timer")); }

TEST(TimerHeapTest, FiresInDeadlineOrderTiesInArmingOrder) {
  TimerHeap h;
  const Clock::time_point t0{};
  std::vector<Computation<void>> cs(4);
  ASSERT_TRUE(h.add(cs[0], t0 + seconds(3), reason()));
  ASSERT_TRUE(h.add(cs[1], t0 + seconds(1), reason()));
  ASSERT_TRUE(h.add(cs[2], t0 + seconds(2), reason()));
  ASSERT_TRUE(h.add(cs[3], t0 + seconds(1), reason()));
  EXPECT_EQ(h.next_deadline(), t0 + seconds(1));
  std::vector<TimerHeap::Entry> due;
  h.pop_due(t0 + seconds(2), due);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0].computation, cs[1]);
  EXPECT_EQ(due[1].computation, cs[3]);
  EXPECT_EQ(due[2].computation, cs[2]);
  for (auto& e : due) e.fire();
  EXPECT_TRUE(cs[1].is_canceled());
  EXPECT_TRUE(cs[2].is_canceled());
  EXPECT_TRUE(cs[0].is_running());
  EXPECT_EQ(h.next_deadline(), t0 + seconds(3));
}

// may_precede looks at the top only: a live top due no later answers false, a dead one
// (whatever its deadline) leaves the question open, without dropping anything.
TEST(TimerHeapTest, MayPrecedeJudgesFromTheTopAlone) {
  TimerHeap h;
  const Clock::time_point t0{};
  EXPECT_TRUE(h.may_precede(t0));  // empty
  Computation<void> early;
  Computation<void> late;
  ASSERT_TRUE(h.add(early, t0 + seconds(1), reason()));
  ASSERT_TRUE(h.add(late, t0 + seconds(5), reason()));
  EXPECT_TRUE(h.may_precede(t0));
  EXPECT_FALSE(h.may_precede(t0 + seconds(1)));  // ties go to the first armed
  EXPECT_FALSE(h.may_precede(t0 + seconds(3)));
  early.finish();  // the top is dead now, still in the heap
  EXPECT_TRUE(h.may_precede(t0 + seconds(3)));
  EXPECT_TRUE(h.may_precede(t0 + seconds(9)));  // open: the precise answer needs the live ones
  EXPECT_EQ(h.size(), 2u);                      // nothing was dropped
  EXPECT_EQ(h.next_deadline(), t0 + seconds(5));
  EXPECT_FALSE(h.may_precede(t0 + seconds(9)));  // the live top now
}

TEST(TimerHeapTest, CompletedComputationsNeverFire) {
  TimerHeap h;
  const Clock::time_point t0{};
  Computation<void> done;
  ASSERT_TRUE(h.add(done, t0 + seconds(1), reason()));
  done.finish();
  EXPECT_EQ(h.next_deadline(), std::nullopt);  // the dead top is dropped
  EXPECT_EQ(h.size(), 0u);

  Computation<void> later;
  ASSERT_TRUE(h.add(later, t0 + seconds(1), reason()));
  later.finish();
  std::vector<TimerHeap::Entry> due;
  h.pop_due(t0 + seconds(5), due);
  EXPECT_TRUE(due.empty());
  EXPECT_TRUE(later.is_returned());
}

TEST(TimerHeapTest, ArmsNothingForACompletedComputation) {
  TimerHeap h;
  Computation<void> c;
  c.finish();
  EXPECT_FALSE(h.add(c, Clock::time_point{}, reason()));
  EXPECT_EQ(h.size(), 0u);
}

TEST(TimerHeapTest, DeadEntriesAreReclaimedWhileLiveOnesStay) {
  TimerHeap h;
  const Clock::time_point far = Clock::time_point{} + std::chrono::hours(1);
  std::vector<Computation<void>> live(100);
  for (auto& c : live) ASSERT_TRUE(h.add(c, far, reason()));
  // 100,000 timeouts whose computations complete first (a request served in time), each
  // behind the live ones at the top: only compaction can reclaim them.
  for (int i = 0; i < 100000; ++i) {
    Computation<void> c;
    ASSERT_TRUE(h.add(c, far + seconds(1), reason()));
    c.finish();
    ASSERT_LE(h.size(), 2 * live.size() + 64) << "after " << i << " completed timers";
  }
  EXPECT_EQ(h.next_deadline(), far);
  std::vector<TimerHeap::Entry> due;
  h.pop_due(far + seconds(2), due);
  EXPECT_EQ(due.size(), live.size());  // the completed ones do not come out
}

// The run and the heap together fire in deadline order, ties in arming order, whatever the
// arming pattern: increasing deadlines (all in the run), random ones (both), a long timer
// first (all in the heap after it), and interleaved delays; with a third of the computations
// completed first, and pops interleaved with arming.
TEST(TimerHeapTest, RunAndHeapFireInDeadlineOrder) {
  const Clock::time_point t0{};
  for (int pattern = 0; pattern < 4; ++pattern) {
    SCOPED_TRACE(pattern);
    std::mt19937 rng(pattern);
    TimerHeap h;
    struct Armed {
      Clock::time_point deadline;
      int order;
      Computation<void> c;
    };
    std::vector<Armed> armed;
    std::vector<PackedComputation> fired;
    Clock::time_point now = t0;
    for (int i = 0; i < 3000; ++i) {
      Clock::duration d;
      switch (pattern) {
        case 0:
          d = std::chrono::milliseconds(10);
          break;
        case 1:
          d = std::chrono::microseconds(rng() % 100000);
          break;
        case 2:
          d = i == 0 ? std::chrono::hours(1) : std::chrono::milliseconds(rng() % 50);
          break;
        default:
          d = std::chrono::milliseconds(i % 2 == 0 ? 5 : 50);
          break;
      }
      Computation<void> c;
      const Clock::time_point deadline = now + d;
      ASSERT_TRUE(h.add(c, deadline, reason()));
      if (rng() % 3 == 0) {
        c.finish();
      } else {
        armed.push_back({deadline, i, c});
      }
      now += std::chrono::microseconds(100);
      if (i % 500 == 499) {  // the owner looks at the clock now and then
        std::vector<TimerHeap::Entry> due;
        h.pop_due(now, due);
        for (auto& e : due) fired.push_back(e.computation);
      }
    }
    std::vector<TimerHeap::Entry> due;
    h.pop_due(Clock::time_point::max(), due);
    for (auto& e : due) fired.push_back(e.computation);
    EXPECT_EQ(h.size(), 0u);
    std::stable_sort(armed.begin(), armed.end(),
                     [](const Armed& a, const Armed& b) { return a.deadline < b.deadline; });
    // Popping at `now` interleaved: an entry fires in a later batch than any due before it,
    // so the whole sequence is the sorted one.
    ASSERT_EQ(fired.size(), armed.size());
    for (std::size_t i = 0; i < fired.size(); ++i) {
      ASSERT_EQ(fired[i], armed[i].c) << "at " << i;
    }
  }
}

// A deferred timer's deadline counts from the owner's next look (pop_due's `now`), in arming
// order among equal deadlines, after the timers added before that look.
TEST(TimerHeapTest, DeferredTimersCountTheirDelayFromTheNextLook) {
  TimerHeap h;
  const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1);
  std::vector<Computation<void>> cs(4);
  ASSERT_TRUE(h.defer(cs[0], seconds(2), reason()));
  ASSERT_TRUE(h.defer(cs[1], seconds(1), reason()));
  ASSERT_TRUE(h.add(cs[2], t0 + seconds(1), reason()));
  ASSERT_TRUE(h.defer(cs[3], seconds(1), reason()));
  EXPECT_EQ(h.size(), 4u);  // deferred ones count
  std::vector<TimerHeap::Entry> due;
  h.pop_due(t0, due);  // the look: cs[0] due at t0 + 2 s, cs[1] and cs[3] at t0 + 1 s
  EXPECT_TRUE(due.empty());
  h.pop_due(t0 + seconds(1), due);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0].computation, cs[2]);  // added before the look
  EXPECT_EQ(due[1].computation, cs[1]);
  EXPECT_EQ(due[2].computation, cs[3]);
  EXPECT_EQ(h.next_deadline(), t0 + seconds(2));
}

TEST(TimerHeapTest, DeferredTimersOfCompletedComputationsNeverFireAndAreReclaimed) {
  TimerHeap h;
  Computation<void> done;
  done.finish();
  EXPECT_FALSE(h.defer(done, seconds(1), reason()));  // nothing armed
  EXPECT_EQ(h.size(), 0u);
  std::vector<Computation<void>> live(100);
  for (auto& c : live) ASSERT_TRUE(h.defer(c, std::chrono::hours(1), reason()));
  // 100,000 timeouts completed before any look: the list stays proportional to the live ones.
  for (int i = 0; i < 100000; ++i) {
    Computation<void> c;
    ASSERT_TRUE(h.defer(c, seconds(5), reason()));
    c.finish();
    ASSERT_LE(h.size(), 2 * live.size() + 64) << "after " << i << " completed timers";
  }
  const Clock::time_point t0{};
  std::vector<TimerHeap::Entry> due;
  h.pop_due(t0, due);
  EXPECT_EQ(h.size(), live.size());  // the look dropped the completed ones
  h.pop_due(t0 + std::chrono::hours(1), due);
  EXPECT_EQ(due.size(), live.size());
}

// next_deadline arms deferred timers from Clock::now(): never earlier than now + delay.
TEST(TimerHeapTest, NextDeadlineArmsDeferredTimersFromNow) {
  TimerHeap h;
  Computation<void> c;
  ASSERT_TRUE(h.defer(c, seconds(7), reason()));
  const Clock::time_point before = Clock::now();
  const std::optional<Clock::time_point> next = h.next_deadline();
  const Clock::time_point after = Clock::now();
  ASSERT_TRUE(next.has_value());
  EXPECT_GE(*next, before + seconds(7));
  EXPECT_LE(*next, after + seconds(7));
  c.finish();
}

}  // namespace
}  // namespace picos::internal
