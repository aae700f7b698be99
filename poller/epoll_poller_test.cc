// Copyright 2026 The Picos for C++ Authors.
//
// What is EpollPoller's own (poller/epoll_poller.h): edge-triggered registrations that a
// drained wait relies on without a system call, and the safety net that level-checks a
// drained wait still pending after kConfirmNs to twice that. The Reactor contract it shares
// with UringPoller is in reactor_contract_test.cc.

#include "poller/epoll_poller.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "poller/test_pipe.h"

namespace picos::internal {
namespace {

using testing::Pipe;
using testing::report_and_leave_a_byte;
using testing::signaled_within;
using Clock = std::chrono::steady_clock;

// A first waiter is told of a byte and leaves it there: the edge is spent. A drained wait
// (a wrong mark: the caller says it found nothing) then gets no report at once, which shows
// that it made no system call, and is still woken, by the level check after kConfirmNs.
TEST(EpollPollerTest, AWronglyDrainedWaitIsWokenByTheLevelCheck) {
  EpollPoller p;
  Pipe a;
  report_and_leave_a_byte(p, a);
  FdInterest wrong(a.fds[0], kFdRead, /*drained=*/true);
  const auto start = Clock::now();
  p.add(wrong);
  EXPECT_EQ(p.poll(0), 0);  // no edge: nothing is reported yet
  EXPECT_FALSE(wrong.trigger.is_signaled());
  EXPECT_TRUE(signaled_within(p, wrong));
  EXPECT_GE(Clock::now() - start, std::chrono::nanoseconds(EpollPoller::kConfirmNs));
  EXPECT_EQ(wrong.outcome, FdInterest::kReady);
  p.remove(wrong);
}

// The same check finds a registration lost to a plain ::close: a drained wait on a new
// descriptor with the old number (which the poller thinks is registered) is watched again.
TEST(EpollPollerTest, ADrainedWaitOnANumberClosedBehindItsBackIsWatchedAgain) {
  EpollPoller p;
  int number = -1;
  {
    Pipe old;
    number = old.fds[0];
    FdInterest r(old.fds[0], kFdRead);
    p.add(r);
    old.put();
    ASSERT_TRUE(signaled_within(p, r));
    p.remove(r);
  }  // plain ::close: the kernel drops the registration, the poller does not know
  Pipe reused;
  ASSERT_EQ(reused.fds[0], number) << "the test needs the number reused";
  char c;
  ASSERT_EQ(::read(reused.fds[0], &c, 1), -1);
  FdInterest r(reused.fds[0], kFdRead, /*drained=*/true);
  p.add(r);
  reused.put();  // no registration: no edge; only the level check sees it
  EXPECT_TRUE(signaled_within(p, r));
  p.remove(r);
  // Registered afresh by the check: the next drained wait gets its edge.
  reused.take();
  FdInterest next(reused.fds[0], kFdRead, /*drained=*/true);
  p.add(next);
  reused.put();
  EXPECT_GT(p.poll(1'000'000'000), 0);
  EXPECT_TRUE(next.trigger.is_signaled());
  p.remove(next);
}

// When the check's system call fails (the descriptor was closed behind the poller's back and
// its number is not reused: EBADF), the waiters are woken to retry their call, which then
// reports the error: never a wait forever.
TEST(EpollPollerTest, ADrainedWaitOnADescriptorClosedBehindItsBackIsToldToRetry) {
  EpollPoller p;
  Pipe a;
  FdInterest warm(a.fds[0], kFdRead);
  p.add(warm);  // registered
  p.remove(warm);
  FdInterest w(a.fds[0], kFdRead, /*drained=*/true);
  p.add(w);
  ASSERT_EQ(::close(a.fds[0]), 0);  // the kernel drops the registration; no edge will come
  const int number = a.fds[0];
  a.fds[0] = -1;
  EXPECT_TRUE(signaled_within(p, w));
  EXPECT_EQ(w.outcome, FdInterest::kReady);
  p.remove(w);
  char c;
  EXPECT_EQ(::read(number, &c, 1), -1);  // what the caller's retry sees
  EXPECT_EQ(errno, EBADF);
}

// A poll without limit on another thread (io's default reactor) when the first drained wait
// is added: it is woken to plan the check, so a wrong mark is not a wait forever.
TEST(EpollPollerTest, APollWithoutLimitPlansTheCheckOfALaterDrainedWait) {
  LockedPoller p;
  Pipe a;
  FdInterest first(a.fds[0], kFdRead);
  p.add(first);
  a.put();
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    while (!stop.load()) (void)p.poll(-1);
  });
  while (!first.trigger.is_signaled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  p.remove(first);
  FdInterest wrong(a.fds[0], kFdRead, /*drained=*/true);  // the byte is still there
  p.add(wrong);
  for (int i = 0; i < 5000 && !wrong.trigger.is_signaled(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(wrong.trigger.is_signaled());
  p.remove(wrong);
  stop = true;
  p.wake();
  poller.join();
}

// A report that finds nobody waiting is kept: the next drained wait ends at once, with no
// poll; a level wait does not take it (the data may be gone) and checks instead.
TEST(EpollPollerTest, AnEdgeNobodyTookEndsTheNextDrainedWaitAtOnce) {
  EpollPoller p;
  Pipe a;
  FdInterest warm(a.fds[0], kFdRead);
  p.add(warm);
  p.remove(warm);
  a.put();
  EXPECT_EQ(p.poll(1'000'000'000), 0);  // taken with nobody waiting
  FdInterest drained(a.fds[0], kFdRead, /*drained=*/true);
  p.add(drained);
  EXPECT_TRUE(drained.trigger.is_signaled());
  EXPECT_EQ(drained.outcome, FdInterest::kReady);
  EXPECT_FALSE(p.waiting());
  p.remove(drained);
  a.put();
  EXPECT_EQ(p.poll(1'000'000'000), 0);  // kept again
  a.take();
  a.take();  // the data is gone: a level wait must not be told it is there
  FdInterest level(a.fds[0], kFdRead);
  p.add(level);
  EXPECT_FALSE(level.trigger.is_signaled());
  EXPECT_EQ(p.poll(20'000'000), 0);
  EXPECT_FALSE(level.trigger.is_signaled());
  p.remove(level);
}

}  // namespace
}  // namespace picos::internal
