// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::thread: one OS thread per fiber. It has no settings.

#include "mux/testing/testing.h"

#include "mux/testing/config.h"
#include "mux/thread/thread.h"

namespace picos::testing {

// Every fiber has its own thread.
config::Configuration config::configure() { return fixed("thread", kFibersAreThreads); }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::thread::run_fiber(std::move(fiber), std::move(main));
}

}  // namespace picos::testing
