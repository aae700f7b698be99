// Copyright 2026 The Picos for C++ Authors.
//
// The choice of reactor (poller/poller.h): the option, PICOS_REACTOR, and the fallback to
// epoll where io_uring cannot be used (simulated by a seccomp filter that refuses
// io_uring_setup with EPERM, as Docker's default profile does).

#include "poller/poller.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace picos::internal {
namespace {

// Waits once for a pipe to become readable through `p`.
template <typename P>
void round_trip(P& p) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  FdInterest r(fds[0], kFdRead);
  p.add(r);
  EXPECT_TRUE(p.waiting());
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  int completed = 0;
  for (int i = 0; i < 100 && completed == 0; ++i) completed = p.poll(10'000'000);
  EXPECT_EQ(completed, 1);
  EXPECT_TRUE(r.trigger.is_signaled());
  p.remove(r);
  p.forget(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(PollerTest, EpollWhenAskedFor) {
  Poller p(ReactorKind::kEpoll);
  EXPECT_EQ(p.kind(), ReactorKind::kEpoll);
  round_trip(p);
}

TEST(PollerTest, IoUringWhenAskedForAndAvailable) {
  if (!UringPoller::available()) GTEST_SKIP() << "io_uring unavailable";
  Poller p(ReactorKind::kIoUring);
  EXPECT_EQ(p.kind(), ReactorKind::kIoUring);
  round_trip(p);
  SharedPoller shared(ReactorKind::kIoUring);
  EXPECT_EQ(shared.kind(), ReactorKind::kIoUring);
  round_trip(shared);
}

// Sets PICOS_REACTOR (unsets it for nullptr). The test is single-threaded.
void set_reactor_env(const char* value) {
  if (value != nullptr) {
    ::setenv("PICOS_REACTOR", value, 1);  // NOLINT(concurrency-mt-unsafe)
  } else {
    ::unsetenv("PICOS_REACTOR");  // NOLINT(concurrency-mt-unsafe)
  }
}

TEST(PollerTest, DefaultFollowsTheEnvironment) {
  const char* saved = std::getenv("PICOS_REACTOR");
  const std::string before = saved ? saved : "";
  set_reactor_env(nullptr);
  EXPECT_EQ(resolve_reactor(ReactorKind::kDefault), ReactorKind::kEpoll);
  set_reactor_env("epoll");
  EXPECT_EQ(resolve_reactor(ReactorKind::kDefault), ReactorKind::kEpoll);
  set_reactor_env("io_uring");
  EXPECT_EQ(resolve_reactor(ReactorKind::kDefault),
            UringPoller::available() ? ReactorKind::kIoUring : ReactorKind::kEpoll);
  EXPECT_EQ(resolve_reactor(ReactorKind::kEpoll), ReactorKind::kEpoll);  // the option wins
  set_reactor_env("kqueue");
  testing::internal::CaptureStderr();
  EXPECT_EQ(resolve_reactor(ReactorKind::kDefault), ReactorKind::kEpoll);
  EXPECT_EQ(resolve_reactor(ReactorKind::kDefault), ReactorKind::kEpoll);
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "picos: PICOS_REACTOR=kqueue is neither epoll nor io_uring; using epoll\n");
  set_reactor_env(saved ? before.c_str() : nullptr);
}

// Makes io_uring_setup fail with EPERM on this thread (seccomp filters are per thread).
void refuse_io_uring() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{sizeof filter / sizeof filter[0], filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::_Exit(3);
  }
}

TEST(PollerDeathTest, FallsBackToEpollWithOneLineWhereIoUringIsRefused) {
  // A fresh process: UringPoller::available() caches its answer.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        refuse_io_uring();
        Poller first(ReactorKind::kIoUring);
        Poller second(ReactorKind::kIoUring);
        if (first.kind() != ReactorKind::kEpoll || second.kind() != ReactorKind::kEpoll) {
          std::_Exit(1);
        }
        round_trip(first);
        std::_Exit(::testing::Test::HasFailure() ? 2 : 0);
      },
      ::testing::ExitedWithCode(0),
      "^picos: io_uring unavailable \\(io_uring_queue_init_params: Operation not permitted\\); "
      "using epoll\n$");
}

}  // namespace
}  // namespace picos::internal
