// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/timer_thread.h — cancel_after's timers on a thread of their own, for handlers
// that have no loop to fire them from: the no-scheduler default handler (picos/handler.cc) and
// mux/thread (one OS thread per fiber).
//
// add() arms a timer (a TimerHeap entry) from any thread, starting the thread at the first
// one; the thread sleeps until the earliest deadline and fires what is due, outside its lock
// (canceling runs trigger actions, which may arm new timers). stop() joins the thread; timers
// still pending are detached from their computations when the object is destroyed.

#ifndef PICOS_INTERNAL_TIMER_THREAD_H_
#define PICOS_INTERNAL_TIMER_THREAD_H_

#include <chrono>
#include <exception>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "picos/computation.h"
#include "picos/internal/mutex.h"
#include "picos/internal/timer_heap.h"

namespace picos::internal {

class TimerThread {
 public:
  TimerThread() = default;
  // Stops (joins) the thread if it runs.
  ~TimerThread() { stop(); }
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  // Cancels `c` with `reason` at now + `delay`, unless it completes first. Any thread. Throws
  // what starting the thread throws (then nothing is armed).
  void add(const PackedComputation& c, std::chrono::nanoseconds delay, std::exception_ptr reason);

  // Joins the thread (timers not yet due never fire). Idempotent; add() after stop() arms
  // timers that never fire.
  void stop();

 private:
  void loop();

  Mutex mu_;
  CondVar cv_;
  TimerHeap heap_ ABSL_GUARDED_BY(mu_);
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_TIMER_THREAD_H_
