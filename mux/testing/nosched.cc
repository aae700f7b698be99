// Copyright 2026 The Picos for C++ Authors.
// picos::testing with no scheduler: the test thread is an implicit fiber.

#include "mux/testing/testing.h"
#include "picos/handler.h"

namespace picos::testing {

const char* scheduler_name() { return "nosched"; }

int parallelism() { return 1 << 20; }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  if (installed_handler() != nullptr) {
    throw std::logic_error("picos::testing(nosched): a scheduler is installed on this thread");
  }
  Fiber* previous = &Fiber::current();
  set_current_fiber(fiber.get());
  struct Restore {
    Fiber* f;
    ~Restore() { set_current_fiber(f); }
  } restore{previous};
  main();
}

}  // namespace picos::testing
