// Copyright 2026 The Picos for C++ Authors.
//
// Two fibers awaiting one trigger at the same moment, on two threads (misuse: picos/trigger.h).
// One after the other, the second gets std::invalid_argument ("already awaiting", core_test).
// At the same moment, both write their action and race to attach it; the loser may have
// overwritten the winner's action, so the loser must abort with a message instead of going on
// as if the trigger had been signaled (Fiber::try_suspend, until this test) or throwing while
// the winner's wake-up is lost (Trigger::on_signal).
//
// The race is real, so these are death tests that repeat the misuse until the two threads meet
// inside the window (a few instructions wide): on two cores that takes well under a second,
// and the child exits with "no concurrent attach in N rounds" (failing the test) if they have
// not met within 20 s. Skipped under ThreadSanitizer, which reports the misuse's data race on
// the action first, and on one CPU, where the two threads never run at the same moment. Before
// the fix the await test hung: the loser went on, the winner's wake-up was lost.

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "picos/trigger.h"

namespace picos {
namespace {

constexpr auto kGiveUpAfter = std::chrono::seconds(20);

bool can_race() {
#if defined(__SANITIZE_THREAD__)
  return false;
#else
  return std::thread::hardware_concurrency() >= 2;
#endif
}

[[noreturn]] void give_up(long rounds) {
  std::fprintf(stderr, "no concurrent attach in %ld rounds\n", rounds);
  std::exit(0);
}

// on_signal's window is a load, three stores and the compare-and-swap: a few nanoseconds. Two
// threads attach to the same kTriggers triggers from opposite ends, each stopping at the first
// it finds taken (std::invalid_argument): where they cross, their phases are unrelated, so a
// good share of rounds meet inside the window.
[[noreturn]] void cross_on_signals() {
  constexpr int kTriggers = 4096;
  std::vector<Trigger> triggers(kTriggers);
  std::barrier sync(3);
  std::atomic<bool> stop{false};
  auto nop = [](const Trigger&, void*, void*) noexcept {};
  auto sweep = [&](int from, int step) {
    for (;;) {
      sync.arrive_and_wait();
      if (stop.load()) return;
      try {
        for (int i = from; i >= 0 && i < kTriggers; i += step) {
          (void)triggers[static_cast<std::size_t>(i)].on_signal(nullptr, nullptr, nop);
        }
      } catch (const std::invalid_argument&) {
        // Crossed: the other thread attached to this one first.
      }
      sync.arrive_and_wait();
    }
  };
  std::thread a(sweep, 0, 1);
  std::thread b(sweep, kTriggers - 1, -1);
  const auto deadline = std::chrono::steady_clock::now() + kGiveUpAfter;
  long rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    for (Trigger& t : triggers) t = Trigger();
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    ++rounds;
  }
  stop.store(true);
  sync.arrive_and_wait();
  a.join();
  b.join();
  give_up(rounds);
}

// An await's window is wider (Fiber::try_suspend publishes the wait and loads the
// computation's status in it): both threads await one trigger per round, after a barrier.
[[noreturn]] void race_awaits() {
  std::atomic<Trigger*> current{nullptr};
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::barrier sync(3);
  auto contender = [&] {
    // The thread's implicit fiber (no scheduler) attaches its canceler at its first wait;
    // every later await takes Fiber::try_suspend's inline path, where the race is decided.
    Trigger first;
    std::thread signaler([first] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      first.signal();
    });
    (void)first.await();
    signaler.join();
    for (;;) {
      sync.arrive_and_wait();  // the round's trigger is set
      if (stop.load()) return;
      try {
        (void)current.load()->await();
      } catch (const std::invalid_argument&) {
        // One after the other: the second is told "already awaiting".
      }
      done.fetch_add(1);
      sync.arrive_and_wait();
    }
  };
  std::thread a(contender);
  std::thread b(contender);
  const auto deadline = std::chrono::steady_clock::now() + kGiveUpAfter;
  long rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    Trigger t;
    current.store(&t);
    done.store(0);
    sync.arrive_and_wait();
    // The loser of an ordered pair returns at once; the winner waits for the signal.
    while (done.load() == 0) std::this_thread::yield();
    t.signal();
    sync.arrive_and_wait();
    ++rounds;
  }
  stop.store(true);
  sync.arrive_and_wait();
  a.join();
  b.join();
  give_up(rounds);
}

TEST(TriggerRaceDeathTest, TwoOnSignalsAtOnceAbort) {
  if (!can_race()) GTEST_SKIP() << "needs two CPUs and no ThreadSanitizer";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(cross_on_signals(),
               "picos::Trigger::on_signal: two fibers awaited one trigger at the same time");
}

TEST(TriggerRaceDeathTest, TwoAwaitsAtOnceAbort) {
  if (!can_race()) GTEST_SKIP() << "needs two CPUs and no ThreadSanitizer";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(race_awaits(),
               "picos::Trigger::await: two fibers awaited one trigger at the same time");
}

}  // namespace
}  // namespace picos
