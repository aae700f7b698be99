// Copyright 2026 The Picos for C++ Authors.
//
// Awaitable::broadcast when memory runs out (its list of wake-ups cannot grow): every
// signalable waiter is still woken, and an Awaiter's trigger is signaled after the bucket's
// lock is released, as the header promises. The binary replaces the global operator new with
// one that fails, on this thread, while `t_fail` is set. Outside the matrix: no scheduler is
// needed (the waiters are Awaiters with action triggers).

#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "gtest/gtest.h"
#include "picos/trigger.h"
#include "std/awaitable/awaitable.h"

namespace {
thread_local bool t_fail = false;
}  // namespace

void* operator new(std::size_t n) {
  if (t_fail) throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace picos::awaitable {
namespace {

// Each waiter's action signals the same Awaitable, which takes the bucket's lock: run under
// that lock (as broadcast did when out of memory) it spun forever.
TEST(BroadcastOutOfMemoryTest, WakesEveryWaiterWithTheBucketUnlocked) {
  Awaitable a(0);
  constexpr int kWaiters = 12;  // more than the eight wake-ups broadcast keeps inline
  struct Seen {
    Awaitable* a;
    int fired = 0;
  } seen{&a};
  std::vector<std::unique_ptr<Awaiter>> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    Trigger t = Trigger::from_action(&seen, nullptr, [](const Trigger&, void* x, void*) noexcept {
      auto* s = static_cast<Seen*>(x);
      ++s->fired;
      (void)s->a->signal();  // wakes another waiter, if one is left
    });
    waiters.push_back(std::make_unique<Awaiter>(a, t));
  }
  ASSERT_EQ(parked_for_testing(), static_cast<std::size_t>(kWaiters));
  a.store(1);
  t_fail = true;
  const std::size_t woken = a.broadcast();  // its ninth push_back fails (eight are inline)
  t_fail = false;
  EXPECT_GE(woken, 1u);
  EXPECT_EQ(seen.fired, kWaiters);
  EXPECT_EQ(parked_for_testing(), 0u);
}

// The same with plain waiters: each pass wakes the node that found no room, then scans again.
TEST(BroadcastOutOfMemoryTest, EveryPassWakesOne) {
  Awaitable a(0);
  constexpr int kWaiters = 11;
  int fired = 0;
  std::vector<std::unique_ptr<Awaiter>> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    Trigger t = Trigger::from_action(
        &fired, nullptr, [](const Trigger&, void* x, void*) noexcept { ++*static_cast<int*>(x); });
    waiters.push_back(std::make_unique<Awaiter>(a, t));
  }
  a.store(1);
  t_fail = true;
  const std::size_t woken = a.broadcast();
  t_fail = false;
  EXPECT_EQ(woken, static_cast<std::size_t>(kWaiters));
  EXPECT_EQ(fired, kWaiters);
  EXPECT_EQ(parked_for_testing(), 0u);
}

}  // namespace
}  // namespace picos::awaitable
