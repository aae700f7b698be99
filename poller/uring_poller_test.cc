// Copyright 2026 The Picos for C++ Authors.
//
// What is UringPoller's own, without a scheduler: level-triggered one-shot polls, queued
// submissions, reports of removed or forgotten polls, files let go, completion-based reads.
// The Reactor contract it shares with EpollPoller is checked for both in
// reactor_contract_test.cc; the conformance matrix tests it again through //io on fifo and
// multififo (the *_uring columns). Every test is skipped where io_uring is unavailable.

#include "poller/uring_poller.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "poller/test_pipe.h"

namespace picos::internal {
namespace {

using testing::Pipe;

class UringPollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!UringPoller::available(&why)) GTEST_SKIP() << "io_uring unavailable: " << why;
  }
};

// A poller `p` with `r`, an interest in reading the pipe `a`, already added.
class UringPollerReaderTest : public UringPollerTest {
 protected:
  void SetUp() override {
    UringPollerTest::SetUp();
    if (!IsSkipped()) p.add(r);
  }
  void TearDown() override { p.remove(r); }

  UringPoller p;
  Pipe a;
  FdInterest r{a.fds[0], kFdRead};
};

// What io::close does: forget, then close. The number, reused at once, starts afresh, and
// the old polls' reports (their removal) are not taken for the new descriptor's.
TEST_F(UringPollerTest, DescriptorForgottenClosedAndReusedIsWatchedAgain) {
  UringPoller p;
  int number = -1;
  {
    Pipe a;
    number = a.fds[0];
    FdInterest r(a.fds[0], kFdRead);
    p.add(r);
    a.put();
    EXPECT_EQ(p.poll(1'000'000'000), 1);
    p.remove(r);
    p.forget(a.fds[0]);
  }
  Pipe b;
  ASSERT_EQ(b.fds[0], number) << "the test needs the number reused";
  FdInterest r(b.fds[0], kFdRead);
  p.add(r);
  EXPECT_EQ(p.poll(10'000'000), 0);  // the old poll's removal completes nothing
  EXPECT_FALSE(r.trigger.is_signaled());
  b.put();
  EXPECT_EQ(p.poll(1'000'000'000), 1);
  EXPECT_TRUE(r.trigger.is_signaled());
  p.remove(r);
}

TEST_F(UringPollerReaderTest, ManyWakeUpsEachEndAPoll) {
  for (int i = 0; i < 100; ++i) {
    p.wake();
    EXPECT_EQ(p.poll(-1), 0);  // returns: the eventfd's multishot poll stays armed
  }
  EXPECT_FALSE(r.trigger.is_signaled());
}

TEST_F(UringPollerReaderTest, ManyWaitsInARow) {
  p.remove(r);
  for (int i = 0; i < 50; ++i) {
    FdInterest w(a.fds[0], kFdRead);
    p.add(w);
    EXPECT_EQ(p.poll(0), 0);  // submits the poll: nothing to read yet
    a.put();
    EXPECT_EQ(p.poll(1'000'000'000), 1);
    EXPECT_TRUE(w.trigger.is_signaled());
    p.remove(w);
    a.take();
  }
}

// Level-triggered: a wait on a descriptor that is ready already completes, however long ago
// it became ready and whether or not the caller drained it (a select on readable, then a
// one-byte read, as //io's fd_event does).
TEST_F(UringPollerReaderTest, ReadyDescriptorCompletesEveryWaitUntilDrained) {
  p.remove(r);
  a.put();
  a.put();
  a.put();
  EXPECT_EQ(p.poll(10'000'000), 0);  // nobody waits
  for (int i = 0; i < 3; ++i) {
    FdInterest w(a.fds[0], kFdRead);
    p.add(w);
    EXPECT_EQ(p.poll(1'000'000'000), 1) << i;
    EXPECT_EQ(w.outcome, FdInterest::kReady);
    p.remove(w);
    a.take();
  }
  FdInterest later(a.fds[0], kFdRead);  // drained: this one waits
  p.add(later);
  EXPECT_EQ(p.poll(10'000'000), 0);
  EXPECT_FALSE(later.trigger.is_signaled());
  p.remove(later);
}

// A canceled wait (remove before the trigger fired) takes its poll out of the ring, so a
// plain ::close really closes: the peer sees end-of-file.
TEST_F(UringPollerTest, CanceledWaitLetsTheFileGo) {
  UringPoller p;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  FdInterest reader(sv[0], kFdRead);
  p.add(reader);
  EXPECT_EQ(p.poll(0), 0);  // armed in the kernel
  p.remove(reader);
  EXPECT_EQ(p.poll(0), 0);  // the removal submitted
  ::close(sv[0]);
  char c;
  EXPECT_EQ(::read(sv[1], &c, 1), 0) << "the ring still holds the peer open";
  ::close(sv[1]);
}

// A wait added on another thread while the owner is blocked in the kernel is submitted at
// once: the owner's poll sees it complete without a wake(). No assertion: a wait left
// unsubmitted leaves poll(-1) asleep forever, and the test's timeout fails it.
TEST_F(UringPollerReaderTest, WaitAddedWhileTheOwnerSleepsIsSubmittedAtOnce) {
  Pipe b;
  FdInterest w(b.fds[0], kFdRead);
  std::thread adder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p.add(w);
    b.put();
  });
  while (!w.trigger.is_signaled()) (void)p.poll(-1);
  adder.join();
  p.remove(w);
}

TEST_F(UringPollerTest, ReaderAndWriterOnOneDescriptor) {
  UringPoller p;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  FdInterest reader(sv[0], kFdRead), writer(sv[0], kFdWrite);
  p.add(reader);
  p.add(writer);
  EXPECT_EQ(p.poll(1'000'000'000), 1);  // writable at once, nothing to read
  EXPECT_TRUE(writer.trigger.is_signaled());
  EXPECT_FALSE(reader.trigger.is_signaled());
  ASSERT_EQ(::write(sv[1], "y", 1), 1);
  EXPECT_EQ(p.poll(1'000'000'000), 1);
  EXPECT_TRUE(reader.trigger.is_signaled());
  p.remove(reader);
  p.remove(writer);
  p.forget(sv[0]);
  for (int fd : sv) ::close(fd);
}

TEST_F(UringPollerTest, PeerHangUpCompletesAReader) {
  UringPoller p;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  FdInterest reader(sv[0], kFdRead);
  p.add(reader);
  ::close(sv[1]);
  EXPECT_EQ(p.poll(1'000'000'000), 1);
  EXPECT_TRUE(reader.trigger.is_signaled());
  p.remove(reader);
  p.forget(sv[0]);
  ::close(sv[0]);
}

// Adds, removes and forgets from several threads while one thread polls: nothing is lost,
// nothing is completed twice (TSan and ASan check the rest).
TEST_F(UringPollerTest, ConcurrentWaitsAndForgets) {
  UringPoller p;
  p.start();
  std::atomic<bool> done{false};
  std::thread owner([&] {
    while (!done.load()) (void)p.poll(1'000'000);
  });
  std::thread workers[4];
  for (auto& t : workers) {
    t = std::thread([&] {
      for (int i = 0; i < 200; ++i) {
        Pipe a;
        FdInterest w(a.fds[0], kFdRead);
        p.add(w);
        if (i % 2 == 0) {
          a.put();
        } else {
          p.forget(a.fds[0]);
        }
        while (!w.trigger.is_signaled()) std::this_thread::yield();
        p.remove(w);
        EXPECT_EQ(w.outcome, i % 2 == 0 ? FdInterest::kReady : FdInterest::kClosed);
        if (i % 2 == 0) p.forget(a.fds[0]);
      }
    });
  }
  for (auto& t : workers) t.join();
  done = true;
  p.wake();
  owner.join();
  EXPECT_FALSE(p.waiting());
}

// ---- completion-based operations (start_operation, cancel_operation) ----------------------

// Polls until `t` is signaled (bounded: a missing completion fails instead of hanging).
void poll_until(UringPoller& p, const Trigger& t) {
  for (int i = 0; i < 100 && !t.is_signaled(); ++i) (void)p.poll(100'000'000);
  ASSERT_TRUE(t.is_signaled());
}

TEST_F(UringPollerTest, OperationReadsDataAlreadyThere) {
  UringPoller p;
  Pipe a;
  ASSERT_EQ(::write(a.fds[1], "abc", 3), 3);
  char buf[8] = {};
  FdOperation op(a.fds[0], FdOperation::kRead, buf, sizeof buf);
  ASSERT_TRUE(p.start_operation(op));
  EXPECT_TRUE(p.waiting());  // in flight: the owner must poll
  poll_until(p, op.trigger);
  EXPECT_EQ(op.result, 3);
  EXPECT_EQ(op.outcome, FdInterest::kReady);
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_FALSE(p.waiting());
}

TEST_F(UringPollerTest, OperationWaitsForDataThatComesLater) {
  UringPoller p;
  Pipe a;  // O_NONBLOCK: the kernel arms its own poll instead of failing with EAGAIN
  char buf[8] = {};
  FdOperation op(a.fds[0], FdOperation::kRead, buf, sizeof buf);
  ASSERT_TRUE(p.start_operation(op));
  EXPECT_EQ(p.poll(0), 0);  // submitted, nothing to read
  EXPECT_FALSE(op.trigger.is_signaled());
  EXPECT_TRUE(p.waiting());
  ASSERT_EQ(::write(a.fds[1], "hi", 2), 2);
  poll_until(p, op.trigger);
  EXPECT_EQ(op.result, 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
}

TEST_F(UringPollerTest, RecvOnASocket) {
  UringPoller p;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  char buf[8] = {};
  FdOperation op(sv[0], FdOperation::kRecv, buf, sizeof buf, 0);
  ASSERT_TRUE(p.start_operation(op));
  EXPECT_EQ(p.poll(0), 0);
  ASSERT_EQ(::write(sv[1], "sock", 4), 4);
  poll_until(p, op.trigger);
  EXPECT_EQ(op.result, 4);
  EXPECT_EQ(std::string(buf, 4), "sock");
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST_F(UringPollerTest, OtherDescriptorsKeepTheReadinessPath) {
  UringPoller p;
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  std::uint64_t value = 0;
  FdOperation op(efd, FdOperation::kRead, &value, sizeof value);
  EXPECT_FALSE(p.start_operation(op));
  EXPECT_FALSE(p.waiting());
  ::close(efd);
  FdOperation bad(-1, FdOperation::kRead, &value, sizeof value);
  EXPECT_FALSE(p.start_operation(bad));
}

// Canceled before data arrives, submitted or still queued: the operation ends with
// ECANCELED, signals `done` (not its own trigger), leaves the buffer alone, and the pipe
// keeps its later bytes for the next read.
TEST_F(UringPollerTest, CanceledOperationLeavesThePipeUsable) {
  for (const bool submitted : {true, false}) {
    SCOPED_TRACE(submitted ? "submitted" : "still queued");
    UringPoller p;
    Pipe a;
    char buf[4] = {'-', '-', '-', '-'};
    FdOperation op(a.fds[0], FdOperation::kRead, buf, sizeof buf);
    ASSERT_TRUE(p.start_operation(op));
    if (submitted) {
      EXPECT_EQ(p.poll(0), 0);
    }
    Trigger done;
    p.cancel_operation(op, done);
    poll_until(p, done);
    EXPECT_EQ(op.result, -ECANCELED);
    EXPECT_FALSE(op.trigger.is_signaled());
    EXPECT_FALSE(p.waiting());
    ASSERT_EQ(::write(a.fds[1], "ok", 2), 2);
    EXPECT_EQ(p.poll(0), 0);  // nothing in flight reads them
    EXPECT_EQ(std::string(buf, 4), "----");
    FdOperation next(a.fds[0], FdOperation::kRead, buf, sizeof buf);
    ASSERT_TRUE(p.start_operation(next));
    poll_until(p, next.trigger);
    EXPECT_EQ(next.result, 2);
    EXPECT_EQ(std::string(buf, 2), "ok");
  }
}

// Data read before the cancelation took effect is kept: the result is the byte count.
TEST_F(UringPollerTest, CancelAfterTheDataCameKeepsTheData) {
  UringPoller p;
  Pipe a;
  ASSERT_EQ(::write(a.fds[1], "d", 1), 1);
  char buf[4] = {};
  FdOperation op(a.fds[0], FdOperation::kRead, buf, sizeof buf);
  ASSERT_TRUE(p.start_operation(op));
  Trigger done;
  p.cancel_operation(op, done);  // queued behind the read: the read finds the byte first
  poll_until(p, done);
  EXPECT_EQ(op.result, 1);
  EXPECT_EQ(buf[0], 'd');
  Trigger late;
  p.cancel_operation(op, late);  // ended already: signaled at once
  EXPECT_TRUE(late.is_signaled());
}

// io::close on another thread while the owner sleeps in poll(-1): forget aborts the read
// before it returns, the owner reaps the end, the operation is kClosed and the buffer free.
TEST_F(UringPollerTest, ForgetFromAnotherThreadEndsAnOperationClosed) {
  UringPoller p;
  Pipe a;
  char buf[4] = {};
  FdOperation op(a.fds[0], FdOperation::kRead, buf, sizeof buf);
  ASSERT_TRUE(p.start_operation(op));
  EXPECT_EQ(p.poll(0), 0);
  std::atomic<bool> forgotten{false};
  std::thread closer([&] {
    p.forget(a.fds[0]);
    forgotten.store(true);
    ::close(a.fds[0]);
  });
  while (!op.trigger.is_signaled()) (void)p.poll(-1);
  closer.join();
  a.fds[0] = -1;
  EXPECT_TRUE(forgotten.load());
  EXPECT_EQ(op.outcome, FdInterest::kClosed);
  EXPECT_EQ(op.result, -ECANCELED);
  EXPECT_FALSE(p.waiting());
}

// Operations from several threads on one poller, with one thread polling (multififo's
// SharedPoller): each completes once with its own bytes.
TEST_F(UringPollerTest, OperationsFromSeveralThreads) {
  UringPoller p;
  p.start();
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  std::atomic<int> finished{0};
  std::atomic<bool> stop{false};
  std::thread owner([&] {
    while (!stop.load()) (void)p.poll(1'000'000);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Pipe a;
      for (int i = 0; i < kRounds; ++i) {
        char c = static_cast<char>('a' + t);
        char got = 0;
        FdOperation op(a.fds[0], FdOperation::kRead, &got, 1);
        ASSERT_TRUE(p.start_operation(op));
        ASSERT_EQ(::write(a.fds[1], &c, 1), 1);
        while (!op.trigger.is_signaled()) std::this_thread::yield();
        ASSERT_EQ(op.result, 1);
        ASSERT_EQ(got, c);
      }
      finished.fetch_add(1);
    });
  }
  for (auto& th : threads) th.join();
  stop.store(true);
  p.wake();
  owner.join();
  EXPECT_EQ(finished.load(), kThreads);
  EXPECT_FALSE(p.waiting());
}

}  // namespace
}  // namespace picos::internal
