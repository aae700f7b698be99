// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::lifo::run_fiber with default options. It has no settings.

#include "mux/testing/testing.h"

#include "mux/testing/config.h"
#include "mux/testing/lifo/lifo.h"

namespace picos::testing {

// One thread, a fixed order (the program's), its own epoll set as the reactor of //io.
config::Configuration config::configure() { return fixed("lifo", kSequentialWithReactor); }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::lifo::run_fiber(std::move(fiber), std::move(main));
}

}  // namespace picos::testing
