// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/timer_heap.h — the timers behind cancel_after, for schedulers.
//
// A binary min-heap of entries, each of which cancels one computation at its deadline. An
// entry attaches a small trigger to its computation; if the computation completes first, the
// trigger marks the entry done (from whatever thread completed it) and the heap drops it
// lazily. The heap compacts itself when done entries could make up half of it, so memory
// stays proportional to the live timers. Not thread-safe: its owner serialises access.
//
// Deadlines use std::chrono::steady_clock; a delay too large to represent saturates to a
// deadline that never comes.

#ifndef PICOS_INTERNAL_TIMER_HEAP_H_
#define PICOS_INTERNAL_TIMER_HEAP_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <vector>

#include "picos/computation.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/thread_cache.h"
#include "picos/trigger.h"

namespace picos::internal {

using Clock = std::chrono::steady_clock;

// `now + delay`, saturating at Clock::time_point::max().
Clock::time_point deadline_after(Clock::time_point now, std::chrono::nanoseconds delay) noexcept;

class TimerHeap {
 public:
  // One entry per cancel_after: recycled per thread (ThreadCached).
  struct Entry : RefCounted<Entry>, ThreadCached<Entry> {
    Clock::time_point deadline;
    std::uint64_t seq;
    PackedComputation computation;
    std::exception_ptr reason;
    std::atomic<bool> done{false};
    Trigger cleanup;  // attached to `computation`; marks the entry done
    Entry(Clock::time_point d, std::uint64_t s, PackedComputation c, std::exception_ptr r);
    // Cancels the computation unless done; marks done. Any thread without the owner's lock.
    void fire() noexcept;
  };
  using EntryRef = Ref<Entry>;

  TimerHeap() = default;
  TimerHeap(const TimerHeap&) = delete;
  TimerHeap& operator=(const TimerHeap&) = delete;
  // Detaches every remaining entry from its computation (they never fire).
  ~TimerHeap();

  // Arms a timer. Returns false (arming nothing) if the computation has already completed.
  bool add(const PackedComputation& c, Clock::time_point deadline, std::exception_ptr reason);

  // The earliest deadline of a live entry, or nullopt if there is none.
  std::optional<Clock::time_point> next_deadline();

  // Moves the entries due at `now` into `out` (in deadline order). The caller then calls
  // `fire()` on each, typically after releasing its own lock.
  void pop_due(Clock::time_point now, std::vector<EntryRef>& out);

  // Live plus not yet reclaimed done entries.
  std::size_t size() const noexcept { return heap_.size(); }
  bool empty() { return !next_deadline().has_value(); }

 private:
  void push_heap_entry(EntryRef e);
  EntryRef pop_top();
  void compact();

  std::vector<EntryRef> heap_;
  std::uint64_t seq_ = 0;
  std::size_t compact_at_ = 64;
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_TIMER_HEAP_H_
