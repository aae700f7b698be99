// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::thread: one OS thread per fiber. It has no settings.

#include "mux/testing/testing.h"

#include "mux/testing/config.h"
#include "mux/thread/thread.h"

namespace picos::testing {

config::Configuration config::configure() {
  // Every fiber has its own thread: suites pick their thread-friendly sizes.
  return {start("thread", {}, "thread"), {.parallelism = 1 << 20, .fibers_are_threads = true}};
}

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::thread::run_fiber(std::move(fiber), std::move(main));
}

}  // namespace picos::testing
