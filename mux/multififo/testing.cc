// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::multififo with PICOS_TESTING_THREADS workers.

#include <string>

#include "mux/multififo/multififo.h"
#include "mux/testing/testing.h"

namespace picos::testing {

const char* scheduler_name() {
  static const std::string name = "multififo_t" + std::to_string(PICOS_TESTING_THREADS);
  return name.c_str();
}

int parallelism() { return PICOS_TESTING_THREADS; }

void run_fiber(FiberRef fiber, internal::UniqueFunction main) {
  mux::multififo::Options options;
  options.threads = PICOS_TESTING_THREADS;
  mux::multififo::run_fiber(std::move(fiber), std::move(main), options);
}

}  // namespace picos::testing
