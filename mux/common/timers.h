// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/timers.h — arming a timer on a scheduler whose loop owns a TimerHeap and looks at
// it regularly (fifo: every 64 switches and before it idles; libevent: at the start and end of
// every batch), and when such a loop must wake next.

#ifndef PICOS_MUX_COMMON_TIMERS_H_
#define PICOS_MUX_COMMON_TIMERS_H_

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include "mux/context/stack.h"
#include "picos/computation.h"
#include "picos/internal/timer_heap.h"

namespace picos::mux::common {

// Arms `c`'s timer: a delay of TimerHeap::kDeferFrom or more is deferred to the loop's next
// look at `timers` (no clock read here; picos/internal/timer_heap.h), a shorter one gets its
// deadline from now. multififo chooses itself: its precise path needs the deadline to decide
// whether a sleeping worker must wake.
inline void arm_timer(internal::TimerHeap& timers, const PackedComputation& c,
                      std::chrono::nanoseconds delay, std::exception_ptr&& reason) {
  if (delay >= internal::TimerHeap::kDeferFrom) {
    (void)timers.defer(c, delay, std::move(reason));
  } else {
    (void)timers.add(c, internal::deadline_after(internal::Clock::now(), delay), std::move(reason));
  }
}

// When a loop about to sleep must wake: at its next timer, or when the stack depot's next
// batch is due (StackPool::release_due), whichever is sooner; nullopt if neither. Waking for
// the depot is what returns a burst of stacks from a loop that nothing else would wake.
inline std::optional<internal::Clock::time_point> next_wake(internal::TimerHeap& timers) {
  std::optional<internal::Clock::time_point> next = timers.next_deadline();
  if (const internal::Clock::time_point due = context::StackPool::release_due();
      due != internal::Clock::time_point::max()) {
    next = next ? std::min(*next, due) : due;
  }
  return next;
}

}  // namespace picos::mux::common

#endif  // PICOS_MUX_COMMON_TIMERS_H_
