// Copyright 2026 The Picos for C++ Authors.

#include "mux/thread/thread.h"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "mux/common/fiber_body.h"
#include "mux/common/kernel.h"
#include "picos/handler.h"
#include "picos/internal/mutex.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/timer_heap.h"
#include "picos/internal/timer_thread.h"

namespace picos::mux::thread {
namespace {

using internal::Clock;
using internal::CondVar;
using internal::Mutex;
using internal::MutexLock;

struct Record;

// What an await blocks on; lives on the awaiting thread's stack.
struct Waiter {
  Fiber* fiber = nullptr;
  Mutex mu;
  CondVar cv;
  bool resumed ABSL_GUARDED_BY(mu) = false;
};

// The state of one run: its handler (installed on the run's thread and every fiber thread),
// the records of the spawned fibers (mux/common/kernel.h), the join chain and the timers.
// Freed by run_fiber (common::start) after every thread it started has been joined.
class Scheduler final : public Handler, public internal::RefCounted<Scheduler> {
 public:
  explicit Scheduler(const Options& o);

  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  // ---- Handler (called on a fiber's thread) -------------------------------------------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr&& reason) override;
  void yield() override;
  void spawn(FiberRef fiber, FiberMain main) override;

 private:
  friend struct Record;

  static void resume(const Trigger& trigger, void* waiter, void*) noexcept;
  // A spawned fiber's thread.
  static void body(Record* r) noexcept;
  // Runs `main` as `fiber` on the calling thread; what escapes goes through `error` to the
  // fatal-error policy.
  void run_main(Fiber* fiber, absl::AnyInvocable<void()>& main, std::exception_ptr& error) noexcept;
  void fatal(const std::exception_ptr& error) noexcept;
  // The join chain's meeting point, reached twice per record: by the spawner with the
  // fiber's std::thread, and by that thread (`t` empty) as the last thing it does with the
  // scheduler. The first leaves its part in the record; the second hands the thread over to
  // last_exited_ and frees the record (handed_over). Returns the thread to join next (the one
  // handed over before), or an empty one. Static, going through r->sched: the analysis then
  // sees the lock that guards the record.
  static std::thread meet(Record* r, std::thread t) noexcept;
  std::thread handed_over(Record* r, std::thread t) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void wait_for_fibers();

  const Options options_;

  // Spawned fibers and their threads. run's main fiber has no record: it runs on run's own
  // thread.
  Mutex mu_;
  CondVar cv_;  // notified when records_.alive() drops to 0
  common::Records<Record> records_ ABSL_GUARDED_BY(mu_);
  // The last thread handed over; joined by the next, or by run.
  std::thread last_exited_ ABSL_GUARDED_BY(mu_);
  std::atomic<std::size_t> blocked_{0};  // fibers blocked in await (for the warning)

  // Fatal errors: the first one recorded; handler_mu_ serialises calls of the fatal handler.
  Mutex handler_mu_;
  common::FatalError fatal_;

  // Timers: one heap, one lazily started thread.
  internal::TimerThread timers_;
};

// A spawned fiber (the kernel's RecordBase: the fiber, its main, what escaped main), from
// spawn until its thread has been handed over for joining.
struct Record : common::RecordBase {
  Record(FiberRef f, FiberMain m, Scheduler* s)
      : RecordBase(std::move(f), std::move(m)), sched(s) {}
  static constexpr bool kListedByItsThread = true;  // by body(), which unlists it too

  Scheduler* const sched;
  bool met ABSL_GUARDED_BY(sched->mu_) = false;    // Scheduler::meet: one side has been there
  std::thread thread ABSL_GUARDED_BY(sched->mu_);  // left there by the spawner
};

Scheduler::Scheduler(const Options& o) : options_(o), records_(options_) {
  MutexLock lock(mu_);
  records_.set_debug_name(kSchedulerName);
}

// ---- Handler -------------------------------------------------------------------------

void Scheduler::resume(const Trigger& trigger, void* waiter, void*) noexcept {
  auto* w = static_cast<Waiter*>(waiter);
  (void)w->fiber->unsuspend(trigger);  // cannot throw: the trigger is signaled
  // Notify under the lock: the waiter cannot return (and destroy `w`) before we unlock, and
  // we touch nothing after unlocking.
  MutexLock lock(w->mu);
  w->resumed = true;
  w->cv.notify_one();
}

std::exception_ptr Scheduler::await(const Trigger& trigger) noexcept {
  Fiber& fiber = Fiber::current();
  Waiter w;
  w.fiber = &fiber;
  // The fiber's stack is its thread's: blocking the thread is the switch away, so suspending
  // before blocking is safe (the resume action only wakes the condition variable).
  if (fiber.try_suspend(trigger, &w, nullptr, &Scheduler::resume)) {
    blocked_.fetch_add(1, std::memory_order_relaxed);
    {
      MutexLock lock(w.mu);
      while (!w.resumed) w.cv.wait(lock);
    }
    blocked_.fetch_sub(1, std::memory_order_relaxed);
  }
  return fiber.canceled();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr&& reason) {
  Fiber::current().check();
  timers_.add(c, delay, std::move(reason));
  MutexLock lock(mu_);
  records_.counters().timers.bump();
}

void Scheduler::yield() {
  Fiber::current().check();
  std::this_thread::yield();
}

void Scheduler::spawn(FiberRef fiber, FiberMain main) {
  Fiber::current().check();
  Record* r;
  {
    MutexLock lock(mu_);
    r = records_.create(std::move(fiber), std::move(main), this);
  }
  std::thread t;
  try {
    t = std::thread(&Scheduler::body, r);
  } catch (...) {
    // Nothing was spawned: forget the record. Its main and fiber are destroyed when this
    // block ends, outside the lock.
    absl::AnyInvocable<void()> dropped_main = std::move(r->main);
    internal::FiberShard::remove(&r->listing);
    FiberRef dropped_fiber = std::move(r->fiber);
    dropped_fiber->set_scheduler_data(nullptr);
    {
      MutexLock lock(mu_);
      records_.discard(r);
      if (records_.alive() == 0) cv_.notify_all();
    }
    throw;
  }
  // The thread shares the record with us until we have met it there.
  std::thread previous = meet(r, std::move(t));
  if (previous.joinable()) previous.join();  // it has finished its fiber: only exiting left
}

// ---- fiber threads -------------------------------------------------------------------

void Scheduler::run_main(Fiber* fiber, absl::AnyInvocable<void()>& main,
                         std::exception_ptr& error) noexcept {
  HandlerScope scope(*this, fiber);
  common::run_main(main, error);  // the closure is destroyed while the fiber is still current
  if (error) fatal(std::exchange(error, nullptr));  // and so is what escaped
}

void Scheduler::fatal(const std::exception_ptr& error) noexcept {
  MutexLock lock(handler_mu_);
  if (std::exception_ptr stop = common::fatal_outcome(options_.fatal_exn_handler, error)) {
    (void)fatal_.set(std::move(stop));  // the first one wins
  }
}

void Scheduler::body(Record* r) noexcept {
  // For dumps: a fiber with a thread of its own runs whenever it is not suspended.
  r->listing.running.store(true, std::memory_order_relaxed);
  {
    MutexLock lock(r->sched->mu_);
    r->sched->records_.list(r);  // on this thread, which unlists it below
  }
  r->sched->run_main(r->fiber.get(), r->main, r->error);
  r->listing.finishing.store(true, std::memory_order_relaxed);
  // Fiber-local values are destroyed here, before the run can return, and outside the
  // scheduler's lock.
  internal::FiberShard::remove(&r->listing);  // unlisted before its fiber goes
  r->fiber->set_scheduler_data(nullptr);
  r->fiber = FiberRef();
  std::thread previous = meet(r, std::thread());
  // From here on only locals: join the thread that finished before us. Each thread joins its
  // predecessor before exiting, so joining the last one joins them all.
  if (previous.joinable()) previous.join();
}

std::thread Scheduler::meet(Record* r, std::thread t) noexcept {
  MutexLock lock(r->sched->mu_);
  if (!r->met) {
    r->met = true;
    r->thread = std::move(t);  // (the spawner's; the fiber's thread leaves none)
    return std::thread();
  }
  if (!t.joinable()) t = std::move(r->thread);
  return r->sched->handed_over(r, std::move(t));
}

std::thread Scheduler::handed_over(Record* r, std::thread t) noexcept {
  std::thread previous = std::exchange(last_exited_, std::move(t));
  records_.discard(r);
  // Notify under the lock: once it is released, `run` may free the scheduler.
  if (records_.alive() == 0) cv_.notify_all();
  return previous;
}

// ---- the run -------------------------------------------------------------------------

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  std::exception_ptr error;
  run_main(fiber.get(), main, error);
  fiber = FiberRef();
  wait_for_fibers();
  timers_.stop();
  if (std::exception_ptr e = fatal_.get()) std::rethrow_exception(e);
}

void Scheduler::wait_for_fibers() {
  std::thread last;
  {
    MutexLock lock(mu_);
    Clock::time_point warn_at = internal::deadline_after(Clock::now(), options_.stall_warning);
    if (warn_at != Clock::time_point::max()) {
      while (records_.alive() != 0 && cv_.wait_until(lock, warn_at) != std::cv_status::timeout) {
      }
      if (records_.alive() != 0) {
        common::warn_alive(kSchedulerName, records_.alive(),
                           blocked_.load(std::memory_order_relaxed), options_.stall_warning);
      }
    }
    while (records_.alive() != 0) cv_.wait(lock);
    last = std::move(last_exited_);
  }
  if (last.joinable()) last.join();
}

}  // namespace

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  common::start<Scheduler>(kSchedulerName, std::move(fiber), std::move(main), options);
}

}  // namespace picos::mux::thread
