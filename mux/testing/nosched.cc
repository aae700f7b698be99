// Copyright 2026 The Picos for C++ Authors.
// picos::testing with no scheduler: the test thread is an implicit fiber. It has no settings.

#include "mux/testing/config.h"
#include "mux/testing/testing.h"
#include "picos/handler.h"

namespace picos::testing {

// main runs on the test thread; each spawned fiber is an OS thread.
config::Configuration config::configure() { return fixed("nosched", kFibersAreThreads); }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  if (installed_handler() != nullptr) {
    throw std::logic_error("picos::testing(nosched): a scheduler is installed on this thread");
  }
  Fiber* previous = &Fiber::current();
  const FiberRef current = std::move(fiber);  // held until main returns
  set_current_fiber(current.get());
  struct Restore {
    Fiber* f;
    ~Restore() { set_current_fiber(f); }
  } restore{previous};
  main();
}

}  // namespace picos::testing
