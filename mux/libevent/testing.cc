// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::libevent::run_fiber with default options. It has no settings.

#include "mux/testing/testing.h"

#include "mux/libevent/libevent.h"
#include "mux/testing/config.h"

namespace picos::testing {

config::Configuration config::configure() { return fixed("libevent", kSequentialWithReactor); }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::libevent::run_fiber(std::move(fiber), std::move(main));
}

}  // namespace picos::testing
