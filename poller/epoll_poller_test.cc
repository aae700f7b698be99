// Copyright 2026 The Picos for C++ Authors.
//
// EpollPoller's Reactor contract (picos/reactor.h) without a scheduler: interests on pipes,
// triggers observed directly. The conformance matrix tests it again through //io on fifo.

#include "poller/epoll_poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <thread>

#include "gtest/gtest.h"

namespace picos::internal {
namespace {

struct Pipe {
  int fds[2];
  Pipe() { EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
  ~Pipe() {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  void put() const { ASSERT_EQ(::write(fds[1], "x", 1), 1); }
};

// A poller `p` with `r`, an interest in reading the pipe `a`, already added: the start of the
// tests that watch one read end.
class EpollPollerReaderTest : public ::testing::Test {
 protected:
  EpollPollerReaderTest() { p.add(r); }

  EpollPoller p;
  Pipe a;
  FdInterest r{a.fds[0], kFdRead};
};

TEST(EpollPollerTest, NothingToPollBeforeTheFirstAdd) {
  EpollPoller p;
  EXPECT_FALSE(p.waiting());
  EXPECT_EQ(p.poll(0), 0);
  p.wake();  // a no-op
}

TEST(EpollPollerTest, ReadinessCompletesTheMatchingInterestsOnly) {
  EpollPoller p;
  Pipe a;
  FdInterest reader(a.fds[0], kFdRead), writer(a.fds[1], kFdWrite);
  p.add(reader);
  p.add(writer);  // a pipe's write end is writable at once
  EXPECT_TRUE(p.waiting());
  EXPECT_EQ(p.poll(1'000'000'000), 1);
  EXPECT_TRUE(writer.trigger.is_signaled());
  EXPECT_EQ(writer.outcome, FdInterest::kReady);
  EXPECT_FALSE(reader.trigger.is_signaled());
  p.remove(writer);
  EXPECT_EQ(p.poll(0), 0);  // nothing to read yet
  a.put();
  EXPECT_EQ(p.poll(1'000'000'000), 1);
  EXPECT_TRUE(reader.trigger.is_signaled());
  EXPECT_EQ(reader.outcome, FdInterest::kReady);
  p.remove(reader);
  EXPECT_FALSE(p.waiting());
}

TEST_F(EpollPollerReaderTest, RemovedInterestIsNeverSignaled) {
  p.remove(r);
  a.put();
  EXPECT_EQ(p.poll(10'000'000), 0);
  EXPECT_FALSE(r.trigger.is_signaled());
  EXPECT_EQ(r.outcome, FdInterest::kPending);
}

TEST(EpollPollerTest, ForgetCompletesWaitersAsClosed) {
  EpollPoller p;
  Pipe a;
  FdInterest r1(a.fds[0], kFdRead), r2(a.fds[0], kFdRead);
  p.add(r1);
  p.add(r2);
  p.forget(a.fds[0]);
  EXPECT_TRUE(r1.trigger.is_signaled());
  EXPECT_TRUE(r2.trigger.is_signaled());
  EXPECT_EQ(r1.outcome, FdInterest::kClosed);
  EXPECT_EQ(r2.outcome, FdInterest::kClosed);
  p.remove(r1);  // still required, and harmless
  p.remove(r2);
  EXPECT_FALSE(p.waiting());
}

TEST(EpollPollerTest, BadDescriptorThrowsAndRegistersNothing) {
  EpollPoller p;
  FdInterest bad(-1, kFdRead);
  EXPECT_THROW(p.add(bad), std::system_error);
  Pipe started;
  FdInterest first(started.fds[0], kFdRead);
  p.add(first);  // opens the epoll set now, so it cannot take the number closed below
  p.remove(first);
  Pipe a;
  int closed = a.fds[0];
  ::close(a.fds[0]);
  a.fds[0] = -1;
  FdInterest gone(closed, kFdRead);
  try {
    p.add(gone);
    ADD_FAILURE() << "add on a closed descriptor did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EBADF);
  }
  EXPECT_FALSE(p.waiting());
}

TEST(EpollPollerTest, DescriptorClosedBehindItsBackAndReusedIsWatchedAgain) {
  EpollPoller p;
  int number = -1;
  {
    Pipe a;
    number = a.fds[0];
    FdInterest r(a.fds[0], kFdRead);
    p.add(r);
    a.put();
    EXPECT_EQ(p.poll(1'000'000'000), 1);
    p.remove(r);
  }  // plain ::close: the epoll set drops it, the poller does not know
  Pipe b;
  ASSERT_EQ(b.fds[0], number) << "the test needs the number reused";
  FdInterest r(b.fds[0], kFdRead);
  p.add(r);
  b.put();
  EXPECT_EQ(p.poll(1'000'000'000), 1);
  EXPECT_TRUE(r.trigger.is_signaled());
  p.remove(r);
}

TEST_F(EpollPollerReaderTest, WakeFromAnotherThreadEndsAPoll) {
  // Adding r started the poller.
  std::atomic<bool> polling{false};
  std::thread waker([&] {
    while (!polling.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p.wake();
  });
  polling = true;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(p.poll(-1), 0);  // without the wake-up this would wait forever
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  waker.join();
  EXPECT_FALSE(r.trigger.is_signaled());
  p.remove(r);
}

// io::close calls forget on the closer's thread while the owner may be polling: the interest
// completes kClosed, its trigger is signaled on the closer's thread, and the owner's poll in
// progress is not disturbed (it returns on wake()).
TEST_F(EpollPollerReaderTest, ForgetFromAnotherThreadWhileTheOwnerPolls) {
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    p.forget(a.fds[0]);
    EXPECT_TRUE(r.trigger.is_signaled());  // before forget returned
    p.wake();
  });
  while (!r.trigger.is_signaled()) (void)p.poll(-1);
  closer.join();
  p.remove(r);
  EXPECT_EQ(r.outcome, FdInterest::kClosed);
  EXPECT_FALSE(p.waiting());
}

TEST_F(EpollPollerReaderTest, TimeoutIsHonouredToTheMillisecond) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(p.poll(3'000'000), 0);  // 3 ms
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(3));
  EXPECT_LT(took, std::chrono::seconds(2));
  p.remove(r);
}

}  // namespace
}  // namespace picos::internal
