// Copyright 2026 The Picos for C++ Authors.
//
// io::run_blocking and io::resolve on every scheduler of the matrix. The tests assert the
// mechanism (calls run on pool threads, concurrently, while the scheduler keeps running
// fibers; cancelation stops the wait, not the call), never how long anything takes: a wait
// that the mechanism should end gives up after a generous real-time bound and fails.

#include "io/blocking.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "io/testing.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/sync_testing.h"

namespace picos::io {
namespace {

namespace st = picos::sync::testing;

using namespace std::chrono_literals;

using testing::kPatience;
constexpr int kThreads = 4;  // of the pools that test concurrency

// A one-shot gate for pool threads (OS threads: std synchronisation is right there).
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> l(m_);
    open_ = true;
    cv_.notify_all();
  }
  // False if it stayed closed for kPatience.
  bool wait() {
    std::unique_lock<std::mutex> l(m_);
    return cv_.wait_for(l, kPatience, [this] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

using testing::eventually;

TEST(BlockingTest, ReturnsResultsAndRethrows) {
  picos::testing::run([] {
    EXPECT_EQ(run_blocking([] { return 6 * 7; }), 42);
    std::unique_ptr<int> p = run_blocking([] { return std::make_unique<int>(5); });
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 5);
    bool ran = false;
    run_blocking([&ran] { ran = true; });  // by reference: fine, the fiber is not canceled
    EXPECT_TRUE(ran);
    EXPECT_THROW(run_blocking([]() -> int { throw std::out_of_range("x"); }), std::out_of_range);
    const std::string s = "kept";
    EXPECT_EQ(run_blocking([s]() -> const std::string& { return s; }), "kept");  // a copy
  });
}

// The call runs on a pool thread, not on the scheduler's: it waits for a fiber of the same run
// to set a flag, which a call blocking the scheduler's only thread (fifo) would never see.
TEST(BlockingTest, TheSchedulerKeepsRunningFibersDuringACall) {
  picos::testing::run([] {
    auto flag = std::make_shared<std::atomic<bool>>(false);
    Computation<void> setter = st::fork([flag] {
      Fiber::yield();
      flag->store(true);
    });
    const std::thread::id caller = std::this_thread::get_id();
    bool seen = run_blocking([flag, caller] {
      EXPECT_NE(std::this_thread::get_id(), caller);
      const auto deadline = std::chrono::steady_clock::now() + kPatience;
      while (!flag->load()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(100us);
      }
      return true;
    });
    EXPECT_TRUE(seen) << "the fiber setting the flag never ran while the call blocked";
    setter.await();
  });
}

// A pool of P threads runs P calls at once: 2P fibers each make a call that waits until P
// calls are inside (a rendezvous of P), which only P concurrent pool threads can reach.
TEST(BlockingTest, APoolRunsItsThreadsCallsConcurrentlyAndNoMore) {
  BlockingPool pool({kThreads, 64});
  struct Rendezvous {
    std::mutex m;
    std::condition_variable cv;
    int inside = 0;
  };
  auto r = std::make_shared<Rendezvous>();
  std::atomic<int> met{0};
  picos::testing::run([&] {
    std::vector<Computation<void>> fibers;
    for (int i = 0; i < 2 * kThreads; ++i) {
      fibers.push_back(st::fork([&pool, r, &met] {
        bool ok = pool.run([r] {
          std::unique_lock<std::mutex> l(r->m);
          const int generation = r->inside / kThreads;
          ++r->inside;
          r->cv.notify_all();
          return r->cv.wait_for(l, kPatience,
                                [&] { return r->inside >= (generation + 1) * kThreads; });
        });
        if (ok) met++;
      }));
    }
    for (const auto& f : fibers) f.await();
  });
  EXPECT_EQ(met.load(), 2 * kThreads) << "calls did not run " << kThreads << " at a time";
  EXPECT_EQ(pool.threads_started(), kThreads);
}

TEST(BlockingTest, AFullPoolThrowsAndSubmitsNothing) {
  BlockingPool pool({1, 1});
  Gate gate;
  std::atomic<int> ran{0};
  picos::testing::run([&] {
    Computation<void> first = st::fork([&] {
      pool.run([&] {
        ran++;
        EXPECT_TRUE(gate.wait());
      });
    });
    ASSERT_TRUE(eventually([&] { return pool.pending() == 1 && ran.load() == 1; }));
    Computation<void> second = st::fork([&] { pool.run([&] { ran++; }); });  // queued
    ASSERT_TRUE(eventually([&] { return pool.pending() == 2; }));
    EXPECT_THROW(pool.run([&] { ran += 100; }), BlockingPoolFull);
    EXPECT_EQ(pool.pending(), 2u);
    gate.open();
    first.await();
    second.await();
  });
  EXPECT_EQ(ran.load(), 2);
  EXPECT_THROW(BlockingPool({0, 1}), std::invalid_argument);
}

// Canceled while waiting: the fiber throws its reason while the call is still blocked; the
// call then runs to the end and its result is destroyed on the pool thread.
TEST(BlockingTest, CancelationStopsTheWaitNotTheCall) {
  auto results = std::make_shared<std::atomic<int>>(0);  // live results of the call
  struct Result {  // counts its live copies in `results` (which outlives every copy)
    explicit Result(std::atomic<int>* c) : count(c) { ++*count; }
    Result(Result&& o) noexcept : count(o.count) { ++*count; }
    ~Result() { --*count; }
    std::atomic<int>* count;
  };
  auto gate = std::make_shared<Gate>();
  auto returned = std::make_shared<std::atomic<bool>>(false);
  auto gone = std::make_shared<std::atomic<bool>>(false);
  {
    BlockingPool pool({1, 4});
    picos::testing::run([&] {
      Computation<void> waiter = st::fork([&pool, gate, returned, results, gone] {
        struct Gone {  // the fiber has let go of everything (last: declared first)
          ~Gone() { flag->store(true); }
          std::shared_ptr<std::atomic<bool>> flag;
        } g{gone};
        Result r = pool.run([gate, returned, results] {
          EXPECT_TRUE(gate->wait());
          returned->store(true);
          return Result(results.get());
        });
        ADD_FAILURE() << "a canceled wait returned";
      });
      ASSERT_TRUE(eventually([&] { return pool.pending() == 1; }));
      waiter.cancel(st::stop());
      EXPECT_THROW(waiter.await(), st::Stop);
      // The fiber itself finishes while the call is still blocked (had it not reached its wait
      // yet, it still could not get a result: the call cannot return before the gate opens).
      EXPECT_TRUE(eventually([&] { return gone->load(); }))
          << "the canceled fiber waited for the call";
      EXPECT_FALSE(returned->load());
      gate->open();
    });
    // ~BlockingPool waits for the call.
  }
  EXPECT_TRUE(returned->load());
  EXPECT_EQ(results->load(), 0) << "the dropped result was not destroyed";
}

TEST(BlockingTest, CanceledBeforeTheCallSubmitsNothing) {
  BlockingPool pool({1, 4});
  std::atomic<bool> ran{false};
  picos::testing::run([&] {
    Computation<void> canceled;
    canceled.cancel(st::stop());
    Fiber::spawn(Fiber::create(canceled), [canceled, &pool, &ran] {  // by value: main may go
      canceled.capture([&] { pool.run([&] { ran = true; }); });
    });
    EXPECT_THROW(canceled.await(), st::Stop);
  });
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(pool.threads_started(), 0);
}

TEST(BlockingTest, ResolveNumericAndErrors) {
  picos::testing::run([] {
    std::vector<Address> a = resolve("127.0.0.1", "8080");
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(a[0].family, AF_INET);
    EXPECT_EQ(a[0].to_string(), "127.0.0.1:8080");
    std::vector<Address> b = resolve("::1", "80");
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(b[0].to_string(), "[::1]:80");
    try {
      (void)resolve("127.0.0.1", "no-such-service-picos");
      ADD_FAILURE() << "an unknown service resolved";
    } catch (const ResolveError& e) {
      EXPECT_NE(e.code(), 0);
      EXPECT_NE(std::string(e.what()).find("no-such-service-picos"), std::string::npos) << e.what();
    }
  });
}

}  // namespace
}  // namespace picos::io
