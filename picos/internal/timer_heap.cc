// Copyright 2026 The Picos for C++ Authors.

#include "picos/internal/timer_heap.h"

#include <algorithm>

namespace picos::internal {

Clock::time_point deadline_after(Clock::time_point now, std::chrono::nanoseconds delay) noexcept {
  auto room = Clock::time_point::max() - now;
  if (delay >= std::chrono::duration_cast<std::chrono::nanoseconds>(room)) {
    return Clock::time_point::max();
  }
  return now + std::chrono::duration_cast<Clock::duration>(delay);
}

namespace {

void mark_done(const Trigger&, void* entry, void*) noexcept {
  static_cast<TimerHeap::Entry*>(entry)->done.store(true, std::memory_order_release);
}
void release_entry(void* entry, void*) noexcept {
  static_cast<TimerHeap::Entry*>(entry)->release();
}

// Heap order: earliest deadline first, ties in arming order.
bool later(const TimerHeap::EntryRef& a, const TimerHeap::EntryRef& b) noexcept {
  if (a->deadline != b->deadline) return a->deadline > b->deadline;
  return a->seq > b->seq;
}

}  // namespace

TimerHeap::Entry::Entry(Clock::time_point d, std::uint64_t s, PackedComputation c,
                        std::exception_ptr r)
    : deadline(d),
      seq(s),
      computation(std::move(c)),
      reason(std::move(r)),
      cleanup(Trigger::from_action((acquire(), this), nullptr, &mark_done, &release_entry)) {}

void TimerHeap::Entry::fire() noexcept {
  if (done.exchange(true, std::memory_order_acq_rel)) return;
  // Completing the computation also signals `cleanup`, which releases its reference.
  (void)computation.try_cancel(reason);
}

TimerHeap::~TimerHeap() {
  for (EntryRef& e : heap_) e->computation.detach(e->cleanup);
}

bool TimerHeap::add(const PackedComputation& c, Clock::time_point deadline,
                    std::exception_ptr reason) {
  EntryRef e = EntryRef::adopt(new Entry(deadline, seq_++, c, std::move(reason)));
  if (!c.try_attach(e->cleanup)) {
    e->cleanup.signal();  // breaks the entry <-> trigger reference cycle
    return false;
  }
  push_heap_entry(std::move(e));
  if (heap_.size() >= compact_at_) compact();
  return true;
}

void TimerHeap::push_heap_entry(EntryRef e) {
  heap_.push_back(std::move(e));
  std::push_heap(heap_.begin(), heap_.end(), later);
}

TimerHeap::EntryRef TimerHeap::pop_top() {
  std::pop_heap(heap_.begin(), heap_.end(), later);
  EntryRef e = std::move(heap_.back());
  heap_.pop_back();
  return e;
}

std::optional<Clock::time_point> TimerHeap::next_deadline() {
  while (!heap_.empty()) {
    if (!heap_.front()->done.load(std::memory_order_acquire)) return heap_.front()->deadline;
    (void)pop_top();
  }
  return std::nullopt;
}

void TimerHeap::pop_due(Clock::time_point now, std::vector<EntryRef>& out) {
  while (!heap_.empty() && heap_.front()->deadline <= now) {
    EntryRef e = pop_top();
    if (!e->done.load(std::memory_order_acquire)) out.push_back(std::move(e));
  }
}

void TimerHeap::compact() {
  heap_.erase(
      std::remove_if(heap_.begin(), heap_.end(),
                     [](const EntryRef& e) { return e->done.load(std::memory_order_acquire); }),
      heap_.end());
  std::make_heap(heap_.begin(), heap_.end(), later);
  compact_at_ = std::max<std::size_t>(64, 2 * heap_.size());
}

}  // namespace picos::internal
