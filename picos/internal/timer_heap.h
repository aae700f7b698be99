// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/timer_heap.h — the timers behind cancel_after, for schedulers.
//
// Entries, each of which cancels one computation at its deadline, in two stores: a sorted
// run (a FIFO) and a binary min-heap. An entry is a value (deadline, arming order, the
// computation, the reason): arming a timer allocates nothing beyond the stores' own memory
// and attaches nothing to the computation.
//
// The run takes every entry due no earlier than its last one, in O(1), and gives them back
// from its front in O(1): timers armed with one delay (a sleep in a loop, one timeout per
// request) arrive in deadline order and never enter the heap. An entry due earlier than the
// run's last goes to the heap (O(log n)). The earliest entry is the earlier of the two
// fronts. Armed with mixed delays, the run keeps the longer ones and the heap the rest; at
// worst (one long timer armed first) everything goes to the heap, as before the run existed.
//
// A computation that completes before its deadline leaves its entry behind, recognised as
// dead by the computation's status (one load) and dropped lazily: at the fronts, and by a
// compaction each time the stores have doubled since the last one, so memory stays
// proportional to the peak of live timers and each entry is scanned O(1) times amortized.
// Not thread-safe: its owner serialises access; entries popped as due are fired outside it.
//
// Deadlines use std::chrono::steady_clock; a delay too large to represent saturates to a
// deadline that never comes.
//
// Long timers can be armed without reading the clock (`defer`): reading steady_clock costs
// 26 ns on a KVM guest, a third of a whole cancel_after, and most long timers (request
// timeouts) are canceled long before they are due. A deferred timer keeps its delay in a list
// until the owner's next look at the clock (pop_due, next_deadline, arm_deferred), which turns
// it into a deadline from the time it reads, or drops it if its computation has completed
// meanwhile. So it never fires early, and late by at most the time from its arming to that
// look (docs/design.md, "Timers").

#ifndef PICOS_INTERNAL_TIMER_HEAP_H_
#define PICOS_INTERNAL_TIMER_HEAP_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "picos/computation.h"

namespace picos::internal {

using Clock = std::chrono::steady_clock;

// `now + delay`, saturating at Clock::time_point::max().
inline Clock::time_point deadline_after(Clock::time_point now,
                                        std::chrono::nanoseconds delay) noexcept {
  if (delay >=
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::time_point::max() - now)) {
    return Clock::time_point::max();
  }
  return now + std::chrono::duration_cast<Clock::duration>(delay);
}

class TimerHeap {
 public:
  // One armed timer. Moved, never copied, between the heap and the owner's list of due ones.
  struct Entry {
    Clock::time_point deadline;
    std::uint64_t seq;  // arming order: ties in deadline fire first armed, first fired
    PackedComputation computation;
    std::exception_ptr reason;
    // Cancels the computation with the reason, unless it has completed. Any thread, without
    // the owner's lock.
    void fire() noexcept { (void)computation.try_cancel(reason); }
    // The computation has completed: the timer can no longer do anything.
    bool dead() const noexcept { return !computation.is_running(); }
  };

  TimerHeap() = default;
  TimerHeap(const TimerHeap&) = delete;
  TimerHeap& operator=(const TimerHeap&) = delete;
  ~TimerHeap() = default;  // the remaining entries never fire

  // Arms a timer. Returns false (arming nothing) if the computation has already completed.
  bool add(const PackedComputation& c, Clock::time_point deadline, std::exception_ptr&& reason);

  // Delays from which an owner may defer instead of add (its next look at the clock comes
  // long before a second has passed: fifo and multififo look every 64 switches and before
  // they sleep, multififo's sleepers at least every 64 ms, libevent's scheduler at the start
  // and end of every batch).
  static constexpr std::chrono::nanoseconds kDeferFrom = std::chrono::seconds(1);

  // Arms a timer due `delay` after the owner's next look at the clock, without reading it
  // (see the top of this file). Returns false (arming nothing) if the computation has already
  // completed. Amortized O(1): deferred entries of completed computations are dropped when
  // the list has doubled since the last time, so it stays proportional to the live ones.
  bool defer(const PackedComputation& c, std::chrono::nanoseconds delay,
             std::exception_ptr&& reason);

  // Gives each deferred entry the deadline `now + delay` (dropping those of completed
  // computations). pop_due and next_deadline do it first.
  void arm_deferred(Clock::time_point now);

  // The earliest deadline of a live entry, or nullopt if there is none. Arms the deferred
  // entries first (reading Clock::now() if there are any), and drops the dead entries at the
  // top on the way (O(log n) each).
  std::optional<Clock::time_point> next_deadline();

  // Whether a timer due at `deadline` may come before every live one, judged from the top
  // alone, in O(1) (next_deadline would drop dead entries first): false only when the top
  // entry is live and due no later than `deadline`; a dead top says nothing (true). For an
  // owner that then asks something precise (multififo: does a sleeping worker plan to wake
  // after `deadline`?), where a timer armed with a later one would be told so anyway.
  // Deferred entries are not judged: armed at a later look, with a delay of kDeferFrom or
  // more, they come after any timer added now with a shorter delay. "The top" is each of the
  // two fronts (run and heap): false when either is live and due no later.
  bool may_precede(Clock::time_point deadline) const noexcept {
    return front_may_follow(heap_.empty() ? nullptr : &heap_.front(), deadline) &&
           front_may_follow(run_.empty() ? nullptr : &run_.front(), deadline);
  }

  // Arms the deferred entries at `now`, then moves the live entries due at `now` into `out`
  // (in deadline order). The caller then calls `fire()` on each, typically after releasing
  // its own lock.
  void pop_due(Clock::time_point now, std::vector<Entry>& out);

  // Live plus not yet reclaimed dead entries, deferred ones included.
  std::size_t size() const noexcept { return armed() + deferred_.size(); }
  bool empty() { return !next_deadline().has_value(); }

 private:
  // A deferred timer: its delay until the owner's next look.
  struct Deferred {
    // (For emplace_back: clang before 16 has no parenthesized aggregate initialization.)
    Deferred(std::chrono::nanoseconds d, const PackedComputation& c, std::exception_ptr&& r)
        : delay(d), computation(c), reason(std::move(r)) {}
    std::chrono::nanoseconds delay;
    PackedComputation computation;
    std::exception_ptr reason;
  };

  static bool front_may_follow(const Entry* front, Clock::time_point deadline) noexcept {
    return front == nullptr || deadline < front->deadline || front->dead();
  }
  std::size_t armed() const noexcept { return heap_.size() + run_.size(); }

  void push(Clock::time_point deadline, const PackedComputation& c, std::exception_ptr&& reason);
  // The earliest entry (the earlier front), or nullptr if there is none; `in_run` tells which.
  Entry* top(bool& in_run) noexcept;
  Entry pop_top(bool in_run);
  void sift_up(std::size_t i) noexcept;  // entry i, due before its parent, moves up
  void compact();
  void compact_deferred();

  std::vector<Entry> heap_;
  // The run, in deadline order (a deque: O(1) at both ends, no entry ever moves).
  std::deque<Entry> run_;
  std::vector<Deferred> deferred_;
  std::uint64_t seq_ = 0;
  std::size_t compact_at_ = 64;
  std::size_t compact_deferred_at_ = 64;
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_TIMER_HEAP_H_
