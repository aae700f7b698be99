// Copyright 2026 The Picos for C++ Authors.
//
// Wake-ups across scheduler kinds: for every ordered pair of kinds (fifo, multififo,
// libevent, randos, thread, and a plain thread with no scheduler), one side runs on one OS
// thread and the other on another, and they hand a baton back and forth through triggers
// 10,000 times each way. Every resume is performed by a foreign scheduler's thread.

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "mux/testing/scheduler_testing.h"
#include "mux/thread/thread.h"
#include "picos/picos.h"
#include "randos/randos.h"

namespace picos {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int kHandoffs = 1000;  // TSan makes each hand-off ~50x slower
#else
constexpr int kHandoffs = 10000;
#endif

using Runner = std::function<void(std::function<void()>)>;

struct Kind {
  std::string name;
  Runner run;
};

std::vector<Kind> kinds() {
  return {
      {"fifo", [](std::function<void()> f) { mux::fifo::run(f); }},
      {"multififo",
       [](std::function<void()> f) {
         mux::multififo::Options o;
         o.threads = 2;
         mux::multififo::run(f, o);
       }},
      {"libevent", [](std::function<void()> f) { mux::libevent::run(f); }},
      {"randos",
       [](std::function<void()> f) {
         randos::Options o;
         o.seed = 42;
         o.print_seed = false;
         randos::run(f, o);
       }},
      {"thread", [](std::function<void()> f) { mux::thread::run(f); }},
      {"nosched", [](const std::function<void()>& f) { f(); }},
  };
}

// One side: hands the baton back and forth kHandoffs times (picos::testing::hand_off_side),
// counting the hand-offs it completes in `rounds`.
void side(std::atomic<Trigger*>& mine, std::atomic<Trigger*>& peer, std::atomic<int>& rounds) {
  testing::hand_off_side(mine, peer, kHandoffs, &rounds);
}

class CrossSchedulerTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(CrossSchedulerTest, HandOffsBothWays) {
  auto all = kinds();
  const Kind& a = all[static_cast<std::size_t>(GetParam().first)];
  const Kind& b = all[static_cast<std::size_t>(GetParam().second)];
  std::atomic<Trigger*> to_a{nullptr}, to_b{nullptr};
  std::atomic<int> rounds{0};
  std::thread other([&] { b.run([&] { side(to_b, to_a, rounds); }); });
  a.run([&] { side(to_a, to_b, rounds); });
  other.join();
  // Holds whenever both sides return (each counts every round it makes): what this test
  // checks is that they return (a lost wake-up hangs it until the test's timeout) and that
  // every await returned no error (in hand_off_side).
  EXPECT_EQ(rounds.load(), 2 * kHandoffs) << a.name << " <-> " << b.name;
  delete to_a.exchange(nullptr);
  delete to_b.exchange(nullptr);
}

std::vector<std::pair<int, int>> pairs() {
  std::vector<std::pair<int, int>> out;
  int n = static_cast<int>(kinds().size());
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i != j) out.emplace_back(i, j);
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllPairs, CrossSchedulerTest, ::testing::ValuesIn(pairs()),
                         [](const ::testing::TestParamInfo<std::pair<int, int>>& p) {
                           auto all = kinds();
                           return all[static_cast<std::size_t>(p.param.first)].name + "_to_" +
                                  all[static_cast<std::size_t>(p.param.second)].name;
                         });

}  // namespace
}  // namespace picos
