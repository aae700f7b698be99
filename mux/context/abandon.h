// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/abandon.h — keeping abandoned fibers on purpose.
//
// When a scheduler stops on a fatal error, fibers that have started but not finished cannot
// be unwound (their stacks hold frames of arbitrary code) and may still be referenced by
// triggers that another thread could signal later. The scheduler therefore keeps their
// records and stacks forever instead of freeing them. `keep_abandoned` records such an
// object in a process-wide list, so it stays reachable, and under AddressSanitizer registers
// the context's stack as a root region, so that what the abandoned frames point to is not
// reported as leaked either. Only fatal errors lead here; the cost does not matter.

#ifndef PICOS_MUX_CONTEXT_ABANDON_H_
#define PICOS_MUX_CONTEXT_ABANDON_H_

#include "mux/context/context.h"

namespace picos::mux::context {

// Keeps `owner` (the scheduler's record of the fiber) and `ctx`'s stack reachable for the
// rest of the process. Any thread.
void keep_abandoned(const void* owner, const Context& ctx) noexcept;

}  // namespace picos::mux::context

#endif  // PICOS_MUX_CONTEXT_ABANDON_H_
