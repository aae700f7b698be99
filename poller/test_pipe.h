// Copyright 2026 The Picos for C++ Authors.
//
// poller/test_pipe.h — a non-blocking pipe for the pollers' tests: a descriptor to make
// readable (put) and drain (take). Closed on destruction; a test that closes an end itself
// sets it to -1. And the waits the tests make on a poller.

#ifndef PICOS_POLLER_TEST_PIPE_H_
#define PICOS_POLLER_TEST_PIPE_H_

#include <fcntl.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "picos/reactor.h"

namespace picos::internal::testing {

struct Pipe {
  int fds[2];
  Pipe() { EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
  ~Pipe() {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  // Writes one byte: the read end becomes readable.
  void put() const { ASSERT_EQ(::write(fds[1], "x", 1), 1); }
  // Reads one byte back.
  void take() const {
    char c;
    ASSERT_EQ(::read(fds[0], &c, 1), 1);
  }
};

// Polls `p` (10 ms at a time, at most ~5 s) until `w` is signaled; whether it was.
template <typename P>
bool signaled_within(P& p, const FdInterest& w) {
  for (int i = 0; i < 500 && !w.trigger.is_signaled(); ++i) (void)p.poll(10'000'000);
  return w.trigger.is_signaled();
}

// A waiter on `a`'s read end is told of a byte and leaves it there (the edge is spent, the
// level stays).
template <typename P>
void report_and_leave_a_byte(P& p, const Pipe& a) {
  FdInterest first(a.fds[0], kFdRead);
  p.add(first);
  a.put();
  EXPECT_TRUE(signaled_within(p, first));
  p.remove(first);
}

}  // namespace picos::internal::testing

#endif  // PICOS_POLLER_TEST_PIPE_H_
