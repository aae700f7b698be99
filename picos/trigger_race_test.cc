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

// Plays rounds until the process aborts: each round, `setup()` on this thread, then `play(i)`
// on two threads at once (i = 0 and 1, after a barrier) while this thread runs `referee()`.
// Exits 0 with a message (failing the death test) if no round aborts within kGiveUpAfter.
template <typename Setup, typename Play, typename Referee>
[[noreturn]] void rounds_until_abort(Setup setup, Play play, Referee referee) {
  std::barrier sync(3);
  std::atomic<bool> stop{false};
  auto player = [&](int i) {
    for (;;) {
      sync.arrive_and_wait();  // the round is set up
      if (stop.load()) return;
      play(i);
      sync.arrive_and_wait();  // both played
    }
  };
  std::thread a(player, 0);
  std::thread b(player, 1);
  const auto deadline = std::chrono::steady_clock::now() + kGiveUpAfter;
  long rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    setup();
    sync.arrive_and_wait();
    referee();
    sync.arrive_and_wait();
    ++rounds;
  }
  stop.store(true);
  sync.arrive_and_wait();
  a.join();
  b.join();
  std::fprintf(stderr, "no concurrent attach in %ld rounds\n", rounds);
  std::fflush(stderr);
  std::_Exit(0);  // a normal exit: the death test fails
}

// on_signal's window is a load, three stores and the compare-and-swap: a few nanoseconds. Two
// threads attach to the same kTriggers triggers from opposite ends, each stopping at the first
// it finds taken (std::invalid_argument): where they cross, their phases are unrelated, so a
// good share of rounds meet inside the window.
[[noreturn]] void cross_on_signals() {
  constexpr int kTriggers = 4096;
  std::vector<Trigger> triggers(kTriggers);
  auto nop = [](const Trigger&, void*, void*) noexcept {};
  rounds_until_abort(
      [&] {
        for (Trigger& t : triggers) t = Trigger();
      },
      [&](int player) {
        const int step = player == 0 ? 1 : -1;
        try {
          for (int i = player == 0 ? 0 : kTriggers - 1; i >= 0 && i < kTriggers; i += step) {
            (void)triggers[static_cast<std::size_t>(i)].on_signal(nullptr, nullptr, nop);
          }
        } catch (const std::invalid_argument&) {
          // Crossed: the other thread attached to this one first.
        }
      },
      [] {});
}

// An await's window is wider (Fiber::try_suspend publishes the wait and loads the
// computation's status in it): both threads await one trigger per round.
[[noreturn]] void race_awaits() {
  Trigger current;
  std::atomic<int> done{0};
  rounds_until_abort(
      [&] {
        current = Trigger();
        done.store(0);
      },
      [&](int) {
        // The thread's implicit fiber (no scheduler) attaches its canceler at its first wait;
        // every later await takes Fiber::try_suspend's inline path, where the race is decided.
        static thread_local const bool warmed_up = [] {
          Trigger first;
          std::thread signaler([first] {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            first.signal();
          });
          (void)first.await();
          signaler.join();
          return true;
        }();
        (void)warmed_up;
        try {
          (void)current.await();
        } catch (const std::invalid_argument&) {
          // One after the other: the second is told "already awaiting".
        }
        done.fetch_add(1);
      },
      [&] {
        // The loser of an ordered pair returns at once; the winner waits for the signal.
        while (done.load() == 0) std::this_thread::yield();
        current.signal();
      });
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
