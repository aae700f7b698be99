// Copyright 2026 The Picos for C++ Authors.
//
// poller/test_pipe.h — a non-blocking pipe for the pollers' tests: a descriptor to make
// readable (put) and drain (take). Closed on destruction; a test that closes an end itself
// sets it to -1.

#ifndef PICOS_POLLER_TEST_PIPE_H_
#define PICOS_POLLER_TEST_PIPE_H_

#include <fcntl.h>
#include <unistd.h>

#include "gtest/gtest.h"

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

}  // namespace picos::internal::testing

#endif  // PICOS_POLLER_TEST_PIPE_H_
