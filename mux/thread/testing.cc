// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::thread: one OS thread per fiber.

#include "mux/testing/testing.h"
#include "mux/thread/thread.h"

namespace picos::testing {

const char* scheduler_name() { return "thread"; }

// Every fiber has its own thread: suites pick their thread-friendly sizes.
int parallelism() { return 1 << 20; }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::thread::run_fiber(std::move(fiber), std::move(main));
}

}  // namespace picos::testing
