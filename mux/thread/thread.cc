// Copyright 2026 The Picos for C++ Authors.

#include "mux/thread/thread.h"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "picos/handler.h"
#include "picos/internal/timer_heap.h"

namespace picos::mux::thread {
namespace {

using internal::Clock;

class Scheduler;

// A spawned fiber, from spawn until its thread has handed itself over for joining.
struct Record {
  Scheduler* sched;
  FiberRef fiber;
  absl::AnyInvocable<void()> main;
  // Both guarded by Scheduler::mu_. The spawner stores `thread` once constructed; if the
  // thread finished before that (`exited`), the spawner hands it over for joining instead.
  std::thread thread;
  bool exited = false;
};

// What an await blocks on; lives on the awaiting thread's stack.
struct Waiter {
  Fiber* fiber;
  std::mutex mu;
  std::condition_variable cv;
  bool resumed = false;
};

// The state of one run: its handler (installed on the run's thread and every fiber thread),
// the live count, the join chain and the timers. Destroyed by run_fiber after every thread it
// started has been joined.
class Scheduler final : public Handler {
 public:
  explicit Scheduler(const Options& o) : options_(o) {}

  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  // ---- Handler (called on a fiber's thread) -------------------------------------------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr reason) override;
  void yield() override;
  void spawn(FiberRef fiber, absl::AnyInvocable<void()> main) override;

 private:
  static void resume(const Trigger& trigger, void* waiter, void*) noexcept;
  static void body(Record* r) noexcept;
  // Runs `main` as `fiber` on the calling thread; a fatal error goes to `fatal`.
  void run_main(Fiber* fiber, absl::AnyInvocable<void()>& main) noexcept;
  void fatal(std::exception_ptr error) noexcept;
  // The last thing a fiber thread does with the scheduler.
  void exited(Record* r) noexcept;
  void wait_for_fibers();
  void timer_loop();
  void stop_timers();

  const Options options_;

  // Fibers and their threads.
  std::mutex mu_;
  std::condition_variable cv_;           // notified when live_ drops to 0
  std::size_t live_ = 0;                 // spawned fibers whose thread has not called exited()
  std::thread last_exited_;              // the last thread handed over; joined by the next, or run
  std::atomic<std::size_t> blocked_{0};  // fibers blocked in await (for the stall warning)

  // Fatal errors.
  std::mutex fatal_mu_;       // serialises calls of the fatal handler
  std::exception_ptr fatal_;  // guarded by fatal_mu_; the first recorded

  // Timers: one heap, one lazily started thread.
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  internal::TimerHeap timers_;  // guarded by timer_mu_
  std::thread timer_thread_;    // guarded by timer_mu_
  bool timer_stop_ = false;     // guarded by timer_mu_
};

// ---- Handler -------------------------------------------------------------------------

void Scheduler::resume(const Trigger& trigger, void* waiter, void*) noexcept {
  auto* w = static_cast<Waiter*>(waiter);
  (void)w->fiber->unsuspend(trigger);  // cannot throw: the trigger is signaled
  // Notify under the lock: the waiter cannot return (and destroy `w`) before we unlock, and
  // we touch nothing after unlocking.
  std::lock_guard<std::mutex> lock(w->mu);
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
      std::unique_lock<std::mutex> lock(w.mu);
      w.cv.wait(lock, [&] { return w.resumed; });
    }
    blocked_.fetch_sub(1, std::memory_order_relaxed);
  }
  return fiber.canceled();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr reason) {
  Fiber::current().check();
  Clock::time_point deadline = internal::deadline_after(Clock::now(), delay);
  std::lock_guard<std::mutex> lock(timer_mu_);
  if (!timer_thread_.joinable()) {
    // Started under the lock: the loop waits for it before looking at the heap. If this
    // throws, nothing was armed.
    timer_thread_ = std::thread([this] { timer_loop(); });
  }
  std::optional<Clock::time_point> before = timers_.next_deadline();
  if (timers_.add(c, deadline, std::move(reason)) && (!before || deadline < *before)) {
    timer_cv_.notify_one();
  }
}

void Scheduler::yield() {
  Fiber::current().check();
  std::this_thread::yield();
}

void Scheduler::spawn(FiberRef fiber, absl::AnyInvocable<void()> main) {
  Fiber::current().check();
  auto r = std::make_unique<Record>(Record{this, std::move(fiber), std::move(main), {}, false});
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++live_;
  }
  std::thread t;
  try {
    t = std::thread(&Scheduler::body, r.get());
  } catch (...) {
    // Nothing was spawned: undo the count (main and fiber are dropped with `r`).
    std::lock_guard<std::mutex> lock(mu_);
    if (--live_ == 0) cv_.notify_all();
    throw;
  }
  Record* rec = r.release();  // the thread owns it now, jointly with us until we store `t`
  std::thread previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rec->exited) {
      // Already finished: hand it over for joining ourselves.
      previous = std::exchange(last_exited_, std::move(t));
      delete rec;
    } else {
      rec->thread = std::move(t);
    }
  }
  if (previous.joinable()) previous.join();  // it has finished its fiber: only exiting left
}

// ---- fiber threads -------------------------------------------------------------------

void Scheduler::run_main(Fiber* fiber, absl::AnyInvocable<void()>& main) noexcept {
  HandlerScope scope(*this, fiber);
  std::exception_ptr error;
  try {
    main();
  } catch (...) {
    error = std::current_exception();
  }
  main = nullptr;  // destroy the closure while the fiber is still current
  if (error) fatal(std::move(error));
}

void Scheduler::fatal(std::exception_ptr error) noexcept {
  std::lock_guard<std::mutex> lock(fatal_mu_);
  if (options_.fatal_exn_handler) {
    try {
      options_.fatal_exn_handler(error);
      return;
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (!fatal_) fatal_ = std::move(error);
}

void Scheduler::body(Record* r) noexcept {
  Scheduler* s = r->sched;
  s->run_main(r->fiber.get(), r->main);
  r->fiber = FiberRef();  // fiber-local values are destroyed here, before the run can return
  s->exited(r);
}

void Scheduler::exited(Record* r) noexcept {
  std::thread previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (r->thread.joinable()) {
      // Hand ourselves over: whoever takes us from last_exited_ joins us.
      previous = std::exchange(last_exited_, std::move(r->thread));
      delete r;
    } else {
      r->exited = true;  // the spawner has not stored our std::thread yet; it will hand over
    }
    // Notify under the lock: once we unlock, `run` may destroy the scheduler.
    if (--live_ == 0) cv_.notify_all();
  }
  // From here on only locals: join the thread that finished before us. Each thread joins its
  // predecessor before exiting, so joining the last one joins them all.
  if (previous.joinable()) previous.join();
}

// ---- the run -------------------------------------------------------------------------

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  run_main(fiber.get(), main);
  fiber = FiberRef();
  wait_for_fibers();
  stop_timers();
  std::lock_guard<std::mutex> lock(fatal_mu_);
  if (fatal_) std::rethrow_exception(fatal_);
}

void Scheduler::wait_for_fibers() {
  std::thread last;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto none_alive = [this] { return live_ == 0; };
    Clock::time_point warn_at = internal::deadline_after(Clock::now(), options_.stall_warning);
    if (warn_at != Clock::time_point::max() && !cv_.wait_until(lock, warn_at, none_alive)) {
      std::fprintf(stderr,
                   "picos::mux::thread: main has finished but %zu fiber(s) are still alive after "
                   "%.3f s (%zu blocked in await); waiting for them\n",
                   live_, std::chrono::duration<double>(options_.stall_warning).count(),
                   blocked_.load(std::memory_order_relaxed));
    }
    cv_.wait(lock, none_alive);
    last = std::move(last_exited_);
  }
  if (last.joinable()) last.join();
}

void Scheduler::timer_loop() {
  std::vector<internal::TimerHeap::EntryRef> due;
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!timer_stop_) {
    timers_.pop_due(Clock::now(), due);
    if (!due.empty()) {
      lock.unlock();  // canceling runs trigger actions, which may arm new timers
      for (auto& e : due) e->fire();
      due.clear();
      lock.lock();
      continue;
    }
    std::optional<Clock::time_point> next = timers_.next_deadline();
    if (next && *next != Clock::time_point::max()) {
      timer_cv_.wait_until(lock, *next);
    } else {
      timer_cv_.wait(lock);
    }
  }
}

void Scheduler::stop_timers() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    timer_stop_ = true;
    timer_cv_.notify_one();
    t = std::move(timer_thread_);
  }
  if (t.joinable()) t.join();
  // Timers still pending are detached from their computations by the heap's destructor.
}

}  // namespace

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  options.validate("picos::mux::thread");
  check_run_fiber("picos::mux::thread", fiber, main);
  auto s = std::make_unique<Scheduler>(options);
  s->run(std::move(fiber), std::move(main));
}

}  // namespace picos::mux::thread
