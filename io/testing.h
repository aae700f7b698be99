// Copyright 2026 The Picos for C++ Authors.
//
// io/testing.h — helpers for tests of code that uses //io (target //io:testing, testonly).

#ifndef PICOS_IO_TESTING_H_
#define PICOS_IO_TESTING_H_

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "io/io.h"
#include "picos/fiber.h"

namespace picos::io::testing {

// How long a test waits for what must happen (a bound, never a timing assertion).
inline constexpr std::chrono::seconds kPatience{20};

// Until `done()`, letting other fibers (and threads: a blocking pool, a child process) run;
// false after kPatience of real time.
template <typename P>
bool eventually(P done) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    Fiber::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

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

// The open descriptors, one per line ("5 -> pipe:[4711]"), for failure messages.
inline std::string describe_open_fds() {
  std::string out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return "(/proc/self/fd unavailable)";
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    out += std::string(e->d_name) + " -> " + (n > 0 ? std::string(target, n) : "?") + "\n";
  }
  closedir(d);
  return out;
}

// A test fixture that fails a test which leaves descriptors open: it counts them before (once
// io's default reactor exists: its epoll descriptor lives for the whole process) and after.
// Other threads may hold a descriptor for a moment at either count (a detached thread reaping
// a killed child, threads of the thread and nosched configurations finishing, a sanitizer's
// runtime), so a leak is a count above the one before that does not go away within a few
// seconds; a count below it is not a leak.
class NoFdLeakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    (void)default_reactor();
    fds_before_ = count_open_fds();
  }
  void TearDown() override {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int now = count_open_fds();
    while (now > fds_before_ && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      now = count_open_fds();
    }
    EXPECT_LE(now, fds_before_) << "descriptors leaked; open now:\n" << describe_open_fds();
  }
  int fds_before_ = 0;
};

}  // namespace picos::io::testing

#endif  // PICOS_IO_TESTING_H_
