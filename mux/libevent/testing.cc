// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::libevent::run_fiber with default options.

#include "mux/testing/testing.h"

#include "mux/libevent/libevent.h"

namespace picos::testing {

const char* scheduler_name() { return "libevent"; }

int parallelism() { return 1; }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::libevent::run_fiber(std::move(fiber), std::move(main));
}

}  // namespace picos::testing
