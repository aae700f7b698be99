// Copyright 2026 The Picos for C++ Authors.

#include "picos/internal/timer_thread.h"

#include <optional>
#include <utility>
#include <vector>

namespace picos::internal {

void TimerThread::add(const PackedComputation& c, std::chrono::nanoseconds delay,
                      std::exception_ptr reason) {
  const Clock::time_point deadline = deadline_after(Clock::now(), delay);
  MutexLock lock(mu_);
  if (!thread_.joinable() && !stopping_) {
    // Started under the lock: the loop waits for it before looking at the heap. If this
    // throws, nothing was armed.
    thread_ = std::thread([this] { loop(); });
  }
  std::optional<Clock::time_point> before = heap_.next_deadline();
  if (heap_.add(c, deadline, std::move(reason)) && (!before || deadline < *before)) {
    cv_.notify_one();
  }
}

void TimerThread::stop() {
  std::thread t;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    cv_.notify_one();
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

void TimerThread::loop() {
  std::vector<TimerHeap::Entry> due;
  MutexLock lock(mu_);
  while (!stopping_) {
    heap_.pop_due(Clock::now(), due);
    if (!due.empty()) {
      lock.unlock();  // canceling runs trigger actions, which may arm new timers
      for (auto& e : due) e.fire();
      due.clear();
      lock.lock();
      continue;
    }
    std::optional<Clock::time_point> next = heap_.next_deadline();
    if (next && *next != Clock::time_point::max()) {
      cv_.wait_until(lock, *next);
    } else {
      cv_.wait(lock);
    }
  }
}

}  // namespace picos::internal
