// Copyright 2026 The Picos for C++ Authors.

#include "picos/internal/timer_heap.h"

#include <algorithm>
#include <cstddef>

namespace picos::internal {

namespace {

// Heap order: earliest deadline first, ties in arming order.
bool later(const TimerHeap::Entry& a, const TimerHeap::Entry& b) noexcept {
  if (a.deadline != b.deadline) return a.deadline > b.deadline;
  return a.seq > b.seq;
}

}  // namespace

bool TimerHeap::add(const PackedComputation& c, Clock::time_point deadline,
                    std::exception_ptr&& reason) {
  if (!c.is_running()) return false;
  push(deadline, c, std::move(reason));
  return true;
}

void TimerHeap::push(Clock::time_point deadline, const PackedComputation& c,
                     std::exception_ptr&& reason) {
  // Arming order is increasing, so an entry due no earlier than the run's last is not
  // `later` than any of the run: it keeps the run sorted.
  if (run_.empty() || deadline >= run_.back().deadline) {
    run_.push_back(Entry{deadline, seq_++, c, std::move(reason)});
  } else {
    heap_.push_back(Entry{deadline, seq_++, c, std::move(reason)});
    // Usually the new entry is not due before its parent: it stays in place.
    const std::size_t i = heap_.size() - 1;
    if (i != 0 && later(heap_[(i - 1) / 2], heap_[i])) sift_up(i);
  }
  if (armed() >= compact_at_) compact();
}

bool TimerHeap::defer(const PackedComputation& c, std::chrono::nanoseconds delay,
                      std::exception_ptr&& reason) {
  if (!c.is_running()) return false;
  deferred_.emplace_back(delay, c, std::move(reason));  // (no temporary to destroy)
  if (deferred_.size() >= compact_deferred_at_) compact_deferred();
  return true;
}

void TimerHeap::arm_deferred(Clock::time_point now) {
  // In arming order, so that equal deadlines keep it.
  for (Deferred& d : deferred_) {
    if (d.computation.is_running()) {
      push(deadline_after(now, d.delay), d.computation, std::move(d.reason));
    }
  }
  deferred_.clear();
}

void TimerHeap::compact_deferred() {
  deferred_.erase(std::remove_if(deferred_.begin(), deferred_.end(),
                                 [](const Deferred& d) { return !d.computation.is_running(); }),
                  deferred_.end());
  compact_deferred_at_ = std::max<std::size_t>(64, 2 * deferred_.size());
}

// std::push_heap's, written out: gcc compiled its moves of Entry into release checks of the
// moved-from handles at every level. `i` is not in place (add tested it).
[[gnu::noinline]] void TimerHeap::sift_up(std::size_t i) noexcept {
  Entry e = std::move(heap_[i]);
  do {
    std::size_t parent = (i - 1) / 2;
    if (!later(heap_[parent], e)) break;
    heap_[i] = std::move(heap_[parent]);
    i = parent;
  } while (i > 0);
  heap_[i] = std::move(e);
}

TimerHeap::Entry* TimerHeap::top(bool& in_run) noexcept {
  Entry* h = heap_.empty() ? nullptr : &heap_.front();
  Entry* r = run_.empty() ? nullptr : &run_.front();
  in_run = r != nullptr && (h == nullptr || later(*h, *r));
  return in_run ? r : h;
}

TimerHeap::Entry TimerHeap::pop_top(bool in_run) {
  if (in_run) {
    Entry e = std::move(run_.front());
    run_.pop_front();
    return e;
  }
  std::pop_heap(heap_.begin(), heap_.end(), later);
  Entry e = std::move(heap_.back());
  heap_.pop_back();
  return e;
}

std::optional<Clock::time_point> TimerHeap::next_deadline() {
  if (!deferred_.empty()) arm_deferred(Clock::now());
  bool in_run;
  while (Entry* e = top(in_run)) {
    if (!e->dead()) return e->deadline;
    (void)pop_top(in_run);
  }
  return std::nullopt;
}

void TimerHeap::pop_due(Clock::time_point now, std::vector<Entry>& out) {
  if (!deferred_.empty()) arm_deferred(now);
  bool in_run;
  for (Entry* e = top(in_run); e != nullptr && e->deadline <= now; e = top(in_run)) {
    Entry popped = pop_top(in_run);
    if (!popped.dead()) out.push_back(std::move(popped));
  }
}

void TimerHeap::compact() {
  const auto dead = [](const Entry& e) { return e.dead(); };
  heap_.erase(std::remove_if(heap_.begin(), heap_.end(), dead), heap_.end());
  std::make_heap(heap_.begin(), heap_.end(), later);
  // remove_if keeps the order of what stays: the run stays sorted.
  run_.erase(std::remove_if(run_.begin(), run_.end(), dead), run_.end());
  compact_at_ = std::max<std::size_t>(64, 2 * armed());
}

}  // namespace picos::internal
