// Copyright 2026 The Picos for C++ Authors.
// picos::testing on picos::mux::fifo. PICOS_TESTING_QUOTA selects the quota (default: none);
// PICOS_TESTING_CHILD_FIRST turns Options::child_first on.

#include "mux/fifo/fifo.h"
#include "mux/testing/testing.h"

namespace picos::testing {

#if defined(PICOS_TESTING_CHILD_FIRST)
const char* scheduler_name() { return "fifo_cf"; }
#define PICOS_TESTING_QUOTA INT_MAX
#elif !defined(PICOS_TESTING_QUOTA)
const char* scheduler_name() { return "fifo"; }
#define PICOS_TESTING_QUOTA INT_MAX
#else
const char* scheduler_name() { return "fifo_q" PICOS_TESTING_QUOTA_NAME; }
#endif

int parallelism() { return 1; }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main) {
  mux::fifo::Options options;
  options.quota = PICOS_TESTING_QUOTA;
#if defined(PICOS_TESTING_CHILD_FIRST)
  options.child_first = true;
#endif
  mux::fifo::run_fiber(std::move(fiber), std::move(main), options);
}

}  // namespace picos::testing
