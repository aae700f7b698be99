// Copyright 2026 The Picos for C++ Authors.
//
// The dump registry's shards (picos/internal/debug_registry.h) under concurrency: owner
// threads list and unlist without the lock while outsiders (a dumping thread, a thread
// unlisting what others listed) hold it, in both modes (the owner's edits without the lock,
// and with it, as where membarrier is unavailable). Run under ASan and TSan by CI: a lost
// exclusion shows as a race, a broken list or a listing read after it was freed.

#include "picos/internal/debug_registry.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "picos/debug.h"
#include "picos/fiber.h"
#include "picos/internal/asymmetric_fence.h"

namespace picos::internal {
namespace {

// A fiber and its listing, as a scheduler's record keeps them.
struct Listed {
  FiberRef fiber = Fiber::create(PackedComputation());
  FiberListing listing;
  Listed() { listing.fiber = fiber.get(); }
};

// How many listings of `ours` every shard holds together, through collect() (a dump's path).
std::size_t count_listed(const std::set<const Fiber*>& ours) {
  std::vector<debug::FiberInfo> infos;
  for (FiberShard* s = FiberShard::first(); s != nullptr; s = s->next_all) s->collect(infos);
  return static_cast<std::size_t>(std::count_if(
      infos.begin(), infos.end(),
      [&](const debug::FiberInfo& i) { return ours.count(static_cast<const Fiber*>(i.address)); }));
}

class ShardTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { set_asymmetric_fences_for_testing(GetParam()); }
  void TearDown() override { set_asymmetric_fences_for_testing(true); }
};

// Threads that list after set_asymmetric_fences_for_testing take their shards in the mode asked for
// (where the kernel has the barrier), and only then.
TEST_P(ShardTest, ATakenShardHasTheModeAskedFor) {
  bool mode = !GetParam();
  std::thread([&] {
    Listed x;
    FiberShard::add(&x.listing);
    ASSERT_NE(x.listing.shard, nullptr);
    mode = x.listing.shard->asymmetric;
    FiberShard::remove(&x.listing);
    EXPECT_EQ(x.listing.shard, nullptr);
  }).join();
  EXPECT_EQ(mode, GetParam() && asymmetric_fences());
}

// Owners list and unlist on their own shards; each also hands half of what it lists to an
// outsider thread that unlists it; a dumping thread collects every shard meanwhile. Every
// listing collected is a live one of ours (ASan: none freed; TSan: no race with the owners),
// and at the end none is left.
TEST_P(ShardTest, OwnersEditWhileOutsidersDumpAndUnlist) {
  constexpr int kOwners = 3;
  constexpr int kRounds = 300;
  constexpr int kPerRound = 8;
  std::mutex mu;
  std::deque<std::unique_ptr<Listed>> handed;  // listed by an owner, for the outsider
  std::set<const Fiber*> ours;                 // every fiber ever made here (under mu)
  std::atomic<int> owners_left{kOwners};
  std::atomic<bool> stop_dumping{false};
  std::atomic<int> added{0};    // counted before each add
  std::atomic<int> removed{0};  // counted after each remove

  std::vector<std::thread> threads;
  for (int o = 0; o < kOwners; ++o) {
    threads.emplace_back([&] {
      for (int round = 0; round < kRounds; ++round) {
        std::vector<std::unique_ptr<Listed>> mine;
        for (int i = 0; i < kPerRound; ++i) {
          auto x = std::make_unique<Listed>();
          {
            std::lock_guard<std::mutex> lock(mu);
            ours.insert(x->fiber.get());
          }
          added.fetch_add(1);
          FiberShard::add(&x->listing);
          mine.push_back(std::move(x));
        }
        for (int i = 0; i < kPerRound; ++i) {
          if (i % 2 == 0) {
            FiberShard::remove(&mine[i]->listing);  // the owner's own unlisting
            removed.fetch_add(1);
            EXPECT_EQ(mine[i]->listing.shard, nullptr);
          } else {
            std::lock_guard<std::mutex> lock(mu);
            handed.push_back(std::move(mine[i]));  // another thread unlists it
          }
        }
      }
      owners_left.fetch_sub(1);
    });
  }
  std::thread outsider([&] {
    for (;;) {
      std::unique_ptr<Listed> x;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!handed.empty()) {
          x = std::move(handed.front());
          handed.pop_front();
        } else if (owners_left.load() == 0) {
          return;
        }
      }
      if (x == nullptr) {
        std::this_thread::yield();
        continue;
      }
      FiberShard::remove(&x->listing);
      removed.fetch_add(1);
      EXPECT_EQ(x->listing.shard, nullptr);
    }
  });
  std::thread dumper([&] {
    while (!stop_dumping.load()) {
      // A dump sees no listing unlisted before it began, nor one listed after it ended.
      const int removed_before = removed.load();
      std::vector<debug::FiberInfo> infos;
      for (FiberShard* s = FiberShard::first(); s != nullptr; s = s->next_all) s->collect(infos);
      const int added_after = added.load();
      std::lock_guard<std::mutex> lock(mu);
      int n = 0;
      for (const debug::FiberInfo& i : infos) {
        n += static_cast<int>(ours.count(static_cast<const Fiber*>(i.address)));
      }
      EXPECT_LE(n, added_after - removed_before);
    }
  });
  for (std::thread& t : threads) t.join();
  outsider.join();
  stop_dumping.store(true);
  dumper.join();
  EXPECT_EQ(count_listed(ours), 0u);
}

// A listing outlives the thread that listed it: its shard goes back to the pool, another
// thread may take it (in either mode), and the listing is still unlisted safely, by an
// outsider.
TEST_P(ShardTest, AListingOutlivesTheThreadThatListedIt) {
  Listed x;
  std::thread([&] { FiberShard::add(&x.listing); }).join();
  ASSERT_NE(x.listing.shard, nullptr);
  Listed y;  // a new thread lists on a shard from the pool, maybe x's
  std::thread([&] {
    FiberShard::add(&y.listing);
    FiberShard::remove(&x.listing);  // an outsider unless it took x's shard
    FiberShard::remove(&y.listing);
  }).join();
  EXPECT_EQ(x.listing.shard, nullptr);
  EXPECT_EQ(y.listing.shard, nullptr);
  EXPECT_EQ(count_listed({x.fiber.get(), y.fiber.get()}), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, ShardTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "OwnerWithoutLock" : "OwnerWithLock";
                         });

}  // namespace
}  // namespace picos::internal

namespace picos {
namespace {

// A fault signal's handler returns to the faulting instruction, which faults again: a dump
// handler there printed dumps forever (and hid a fiber's stack overflow report). Refused, as
// are the signals that cannot be caught; nothing is installed.
TEST(DumpOnSignalTest, FaultAndUncatchableSignalsAreRefused) {
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGKILL, SIGSTOP}) {
    try {
      debug::install_dump_on_signal(sig);
      ADD_FAILURE() << "signal " << sig << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("install_dump_on_signal: signal"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace picos
