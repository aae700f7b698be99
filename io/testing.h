// Copyright 2026 The Picos for C++ Authors.
//
// io/testing.h — helpers for tests of code that uses //io (target //io:testing, testonly).

#ifndef PICOS_IO_TESTING_H_
#define PICOS_IO_TESTING_H_

#include <dirent.h>

#include "gtest/gtest.h"
#include "io/io.h"

namespace picos::io::testing {

// The number of descriptors this process has open (entries of /proc/self/fd, not counting the
// one used to list them); -1 if /proc is unavailable. Tests compare it before and after to
// prove that nothing leaked.
inline int count_open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

// A test fixture that fails a test which leaves descriptors open: it counts them before (once
// io's default reactor exists: its epoll descriptor lives for the whole process) and after.
class NoFdLeakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    (void)default_reactor();
    fds_before_ = count_open_fds();
  }
  void TearDown() override { EXPECT_EQ(count_open_fds(), fds_before_) << "descriptors leaked"; }
  int fds_before_ = 0;
};

}  // namespace picos::io::testing

#endif  // PICOS_IO_TESTING_H_
