// Copyright 2026 The Picos for C++ Authors.
// picos::mux::run for the scheduler chosen by --//mux:scheduler (see mux/BUILD).

#include "mux/default.h"

#if defined(PICOS_DEFAULT_FIFO)
#include "mux/fifo/fifo.h"
#elif defined(PICOS_DEFAULT_MULTIFIFO)
#include "mux/multififo/multififo.h"
#else
#error "build //mux:default through Bazel: it defines which scheduler to use"
#endif

namespace picos::mux {

#if defined(PICOS_DEFAULT_FIFO)
const char* default_scheduler_name() { return "fifo"; }
void run_fiber(FiberRef fiber, internal::UniqueFunction main) {
  fifo::run_fiber(std::move(fiber), std::move(main));
}
#elif defined(PICOS_DEFAULT_MULTIFIFO)
const char* default_scheduler_name() { return "multififo"; }
void run_fiber(FiberRef fiber, internal::UniqueFunction main) {
  multififo::run_fiber(std::move(fiber), std::move(main));
}
#endif

}  // namespace picos::mux
