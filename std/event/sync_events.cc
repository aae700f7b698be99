// Copyright 2026 The Picos for C++ Authors.

#include "std/event/sync_events.h"

namespace picos::event {

// The latch's computation finishes when the count reaches zero.
Event<void> wait_evt(const sync::Latch& latch) { return from_computation(latch.computation()); }

}  // namespace picos::event
