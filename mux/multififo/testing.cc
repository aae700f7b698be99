// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::multififo with PICOS_TESTING_THREADS workers;
// PICOS_TESTING_CHILD_FIRST turns Options::child_first on.

#include <string>

#include "mux/multififo/multififo.h"
#include "mux/testing/testing.h"

namespace picos::testing {

const char* scheduler_name() {
#if defined(PICOS_TESTING_CHILD_FIRST)
  static const std::string name = "multififo_t" + std::to_string(PICOS_TESTING_THREADS) + "_cf";
#else
  static const std::string name = "multififo_t" + std::to_string(PICOS_TESTING_THREADS);
#endif
  return name.c_str();
}

int parallelism() { return PICOS_TESTING_THREADS; }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::multififo::Options options;
  options.threads = PICOS_TESTING_THREADS;
#if defined(PICOS_TESTING_CHILD_FIRST)
  options.child_first = true;
#endif
  mux::multififo::run_fiber(std::move(fiber), std::move(main), options);
}

}  // namespace picos::testing
