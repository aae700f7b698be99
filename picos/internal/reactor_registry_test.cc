// Copyright 2026 The Picos for C++ Authors.
//
// The reactor registry without any real reactor: which reactors forget_everywhere calls.

#include "picos/internal/reactor_registry.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace picos::internal {
namespace {

// Counts forget calls per descriptor; add notes, nothing else.
class FakeReactor final : public Reactor {
 public:
  // `watched_fd` is set before enrollment: once enrolled, another thread's forget_everywhere
  // may call forget (spuriously, through a bit a former holder of the slot left behind).
  explicit FakeReactor(int watched_fd = -1) : watched(watched_fd) { reg.enroll(*this); }
  ~FakeReactor() { reg.withdraw(); }
  void add(FdInterest& w) override { reg.note(w.fd); }
  void remove(FdInterest&) noexcept override {}
  void forget(int fd) noexcept override {
    if (fd == watched) forgets.fetch_add(1, std::memory_order_relaxed);
  }
  void wait_on(int fd) {
    FdInterest w(fd, kFdRead);
    add(w);
  }

  ReactorRegistration reg;
  int watched = -1;
  std::atomic<int> forgets{0};
};

// Descriptor numbers no real reactor of this process uses.
constexpr int kFd = 1'000'123;

TEST(ReactorRegistryTest, ForgetReachesOnlyTheReactorsThatNotedTheDescriptorOnce) {
  FakeReactor a, b;
  a.watched = b.watched = kFd;
  a.wait_on(kFd);
  a.wait_on(kFd);  // noted twice: still one call
  forget_everywhere(kFd);
  EXPECT_EQ(a.forgets.load(), 1);
  EXPECT_EQ(b.forgets.load(), 0);
  forget_everywhere(kFd);  // the record was cleared
  EXPECT_EQ(a.forgets.load(), 1);
}

TEST(ReactorRegistryTest, MoreReactorsThanSlotsShareTheOverflowSlot) {
  std::vector<std::unique_ptr<FakeReactor>> rs;
  for (int i = 0; i < 100; ++i) {
    rs.push_back(std::make_unique<FakeReactor>());
    rs.back()->watched = kFd + 1;
  }
  rs.back()->wait_on(kFd + 1);  // enrolled past the 63 slots
  rs.front()->wait_on(kFd + 1);
  forget_everywhere(kFd + 1);
  EXPECT_EQ(rs.back()->forgets.load(), 1);
  EXPECT_EQ(rs.front()->forgets.load(), 1);
  rs.clear();  // every slot withdrawn
  FakeReactor late;
  late.watched = kFd + 1;
  late.wait_on(kFd + 1);
  forget_everywhere(kFd + 1);
  EXPECT_EQ(late.forgets.load(), 1);
}

TEST(ReactorRegistryTest, DescriptorsBeyondTheTableReachEveryReactor) {
  FakeReactor a;
  a.watched = 1 << 25;
  forget_everywhere(1 << 25);  // never noted: a conservative call
  EXPECT_EQ(a.forgets.load(), 1);
}

// Withdrawals racing another thread's forget_everywhere: what fails here is a call into a
// reactor after its withdraw returned (use after free under ASan, a race under TSan). The test
// goes on until the closer's forgets have reached 20 reactors while they were enrolled, so
// that the withdrawals did race live calls.
TEST(ReactorRegistryTest, WithdrawWhileOtherThreadsForget) {
  std::atomic<bool> stop{false};
  std::thread closer([&] {
    while (!stop.load()) forget_everywhere(kFd + 2);
  });
  int reached = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; i < 200 || (reached < 20 && std::chrono::steady_clock::now() < deadline); ++i) {
    FakeReactor r(kFd + 2);
    r.wait_on(kFd + 2);
    if (r.forgets.load() > 0) ++reached;
  }  // each withdraws while the closer may be calling it
  stop = true;
  closer.join();
  EXPECT_GE(reached, 20);
}

}  // namespace
}  // namespace picos::internal
