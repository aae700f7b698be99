// Copyright 2026 The Picos for C++ Authors.

#include "mux/fifo/fifo.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "mux/common/fiber_body.h"
#include "mux/common/inbox.h"
#include "mux/common/kernel.h"
#include "mux/common/queue.h"
#include "mux/common/timers.h"
#include "mux/context/abandon.h"
#include "mux/context/stack.h"
#include "picos/handler.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/timer_heap.h"
#include "poller/poller.h"

namespace picos::mux::fifo {
namespace {

using internal::Clock;

class Scheduler;

// A fiber (mux/common/kernel.h) and its ready-queue link.
using Record = common::QueuedRecord;

using Queue = common::Queue<Record>;

class Scheduler final : public Handler, public internal::RefCounted<Scheduler> {
 public:
  explicit Scheduler(const Options& o) : options_(o), records_(options_), poller_(o.reactor) {
    records_.set_debug_name(kSchedulerName);
    poller_.count_waits_in(&records_.counters().io_waits);
  }

  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  // ---- Handler (called on a fiber's stack) --------------------------------------------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr&& reason) override;
  void yield() override;
  void spawn(FiberRef fiber, FiberMain main) override;
  // io waits on this scheduler go to its own epoll set or io_uring, polled by this loop.
  Reactor* reactor() noexcept override { return &poller_; }

  // Resume action of a suspended fiber: runs on whatever thread signals the trigger.
  static void resume(const Trigger& trigger, void* record, void* sched) noexcept;

 private:
  // Makes `r` the running fiber (the scheduler's bookkeeping of a dispatch).
  void dispatch(Record* r) noexcept;
  // From the running fiber `self`: dispatches `next` and switches to it directly.
  void hand_over(Record* self, Record* next) noexcept {
    self->listing.running.store(false, std::memory_order_relaxed);
    dispatch(next);
    self->ctx.switch_to(next->ctx);
  }
  // The next ready fiber, after letting remote wake-ups (always) and due timers (every 64th
  // dispatch) in; nullptr if none.
  ABSL_ATTRIBUTE_ALWAYS_INLINE Record* next_ready();
  // On the running fiber, which is already queued or parked on a trigger: hands the thread to
  // the next ready fiber directly (no-op if that is the caller itself), or, with none ready
  // or a fatal error pending, goes back to the loop. Returns when the caller runs again.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void transfer() noexcept;
  void spend_quota();
  void run_one(Record* r);
  void finished(Record* r);
  bool fire_timers();
  void idle();

  const Options options_;
  common::Records<Record> records_;
  Queue ready_;
  internal::TimerHeap timers_;
  int remaining_quota_ = 0;
  Record* current_ = nullptr;
  bool stall_warned_ = false;
  std::exception_ptr fatal_;
  std::vector<internal::TimerHeap::Entry> due_;
  // Descriptors waited on by our fibers (io). io::close from any thread reaches it through
  // the reactor registry; the waiter's resume action then takes the remote path (push_remote
  // wakes a loop asleep in poll()).
  internal::Poller poller_;  // epoll or io_uring (Options::reactor)
  // Wake-ups from other threads (a loop asleep in poller_ is poked through it).
  common::Inbox<Record> inbox_;
};

void Scheduler::dispatch(Record* r) noexcept {
  remaining_quota_ = options_.quota;
  current_ = r;
  set_current_fiber(r->fiber.get());
  r->listing.running.store(true, std::memory_order_relaxed);  // for dumps
}

inline Record* Scheduler::next_ready() {
  (void)inbox_.take_into(ready_);
  if ((records_.counters().switches.bump() & 63) == 0) {
    // Scheduler code, even on a fiber's stack (a transfer): the actions the timers run find
    // no current fiber (their operations fail, fiber_body.h), as in the loop.
    Record* const running = std::exchange(current_, nullptr);
    (void)fire_timers();
    if (poller_.waiting()) (void)poller_.poll(0);  // IO is not starved by busy fibers
    current_ = running;
  }
  return ready_.pop();
}

inline void Scheduler::transfer() noexcept {
  Record* self = current_;
  Record* next = fatal_ ? nullptr : next_ready();
  if (next == self) {
    remaining_quota_ = options_.quota;
    return;
  }
  if (next == nullptr) {
    self->listing.running.store(false, std::memory_order_relaxed);
    self->ctx.suspend();  // to the loop: it idles until a wake-up
    return;
  }
  hand_over(self, next);
}

void Scheduler::spend_quota() {
  if (--remaining_quota_ > 0) return;
  ready_.push_back(current_);
  transfer();
}

// ---- Handler -------------------------------------------------------------------------

std::exception_ptr Scheduler::await(const Trigger& trigger) noexcept {
  Record* self = current_;
  if (self == nullptr) [[unlikely]] {
    return common::off_fiber_error("picos::Trigger::await");
  }
  // Attaching on the fiber's own stack is safe here: only this thread ever resumes a fiber of
  // this scheduler (other threads' resume actions go through remote_), so nothing can run the
  // fiber before it has switched away.
  if (common::try_suspend(*self->fiber, trigger, self, this, &Scheduler::resume,
                          self->suspend_error)) {
    transfer();
  } else if (--remaining_quota_ <= 0) {
    // Already signaled, or the fiber is canceled: it goes on, now or after the others.
    ready_.push_back(self);
    transfer();
  }
  return self->await_result();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr&& reason) {
  if (current_ == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::PackedComputation::cancel_after");
  }
  current_->fiber->check();
  records_.counters().timers.bump();
  // The quota first: a fiber that must give way does so before arming, and arms (inside
  // this call, counted from then: never early) when it runs again. So the arming is a tail
  // call.
  spend_quota();
  common::arm_timer(timers_, c, delay, std::move(reason));
}

void Scheduler::yield() {
  // One cancelation check, when the fiber runs again (as OCaml Picos' schedulers continue a
  // yielder): a fiber canceled before the call lets the others run first, then throws.
  Record* self = current_;
  if (self == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::Fiber::yield");
  }
  ready_.push_back(self);
  transfer();
  self->fiber->check();
}

void Scheduler::spawn(FiberRef fiber, FiberMain main) {
  if (current_ == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::Fiber::spawn");
  }
  current_->fiber->check();
  // No reference per record: run_fiber holds one until every record is gone; only records
  // abandoned after a fatal error take their own (run).
  Record* child = records_.create(std::move(fiber), std::move(main));
  if (options_.child_first && !fatal_) {
    // The spawner continues next, before any other ready fiber. Nothing may throw from here
    // on: the child exists, so spawn has succeeded.
    ready_.push_front(current_);
    hand_over(current_, child);
    return;
  }
  ready_.push_back(child);
  spend_quota();
}

void Scheduler::resume(const Trigger& trigger, void* record, void* sched) noexcept {
  auto* s = static_cast<Scheduler*>(sched);
  common::resume_here_or_inbox(
      trigger, static_cast<Record*>(record), s, s->inbox_,
      [s](Record* r, bool canceled) {  // a fiber or the scheduler loop signaled it
        if (canceled) {
          s->ready_.push_front(r);
        } else {
          s->ready_.push_back(r);
        }
      },
      [s] { s->poller_.wake(); });
}

// ---- the loop ------------------------------------------------------------------------

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  HandlerScope scope(*this, fiber.get());
  Record* main_record = records_.create(std::move(fiber), FiberMain(main));
  records_.set_main(main_record);
  ready_.push_back(main_record);
  while (!fatal_) {
    // Let wake-ups from other threads and due timers in regularly, not only when idle.
    if (Record* r = next_ready()) {
      run_one(r);
      continue;
    }
    if (fire_timers() || inbox_.take_into(ready_)) continue;
    if (records_.alive() == 0) break;
    idle();
  }
  inbox_.close();
  // No fiber waits on the poller any more (or, after a fatal error, none will run again):
  // closes on other threads need not reach it. Here, not in the destructor, which must not
  // run inside a close's forget call (picos/internal/reactor_registry.h).
  poller_.unregister();
  if (fatal_) {
    // A late resume of a buried record must still find this scheduler (and the closed inbox).
    records_.abandon_all([this](Record*) noexcept { acquire(); });
    std::rethrow_exception(fatal_);
  }
}

void Scheduler::run_one(Record* r) {
  dispatch(r);
  // Fibers may hand the thread to each other (transfer); whichever suspends to the loop or
  // finishes comes back here.
  context::Context::Outcome o = r->ctx.run();
  current_ = nullptr;
  if (o.finished) {
    finished(common::record_of<Record>(o.context));
  } else {
    set_current_fiber(nullptr);
  }
}

void Scheduler::finished(Record* r) {
  set_current_fiber(nullptr);  // the fiber may die with its record
  if (std::exception_ptr stop = records_.finish(r)) fatal_ = std::move(stop);
}

bool Scheduler::fire_timers() {
  if (timers_.size() == 0) return false;
  due_.clear();
  timers_.pop_due(Clock::now(), due_);
  for (auto& e : due_) e.fire();  // resume actions push onto ready_
  bool any = !due_.empty();
  due_.clear();
  return any;
}

void Scheduler::idle() {
  // A burst of stacks beyond the depot's steady capacity that nothing has used for a while
  // goes back to the system, a batch per idle moment (mux/context/stack.h).
  (void)context::StackPool::release_idle();
  // Woken, as for a timer, when the depot's next batch is due: a loop with nothing else to
  // wake it still returns the burst, and the stall warning waits until it has.
  std::optional<Clock::time_point> next = common::next_wake(timers_);
  if (poller_.waiting()) {
    // Fibers wait for descriptors: sleep in epoll until one is ready, the next timer is due,
    // or another thread wakes a fiber (the inbox pokes the poller). No stall warning: waiting
    // for the network is normal.
    long long timeout_ns = -1;
    if (next && *next != Clock::time_point::max()) {
      timeout_ns = std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Clock::now()).count());
    }
    if (!inbox_.begin_sleep_elsewhere()) return;
    (void)poller_.poll(timeout_ns);
    inbox_.end_sleep_elsewhere();
    return;
  }
  if (options_.idle_spin.count() > 0) {
    // Poll briefly before sleeping: a wake-up from another thread is often microseconds away.
    Clock::time_point until = internal::deadline_after(Clock::now(), options_.idle_spin);
    if (next && *next < until) until = *next;
    for (int i = 1;; ++i) {
      if (inbox_.pending()) return;
      if (i % 64 == 0 && Clock::now() >= until) break;
      internal::cpu_relax();
    }
  }
  if (next && *next != Clock::time_point::max()) {
    (void)inbox_.sleep_until(*next);
  } else if (!stall_warned_) {
    if (!inbox_.sleep_until(internal::deadline_after(Clock::now(), options_.stall_warning))) {
      common::warn_stall(kSchedulerName, records_.alive(), options_.stall_warning,
                         records_.main_finished());
      stall_warned_ = true;
    }
  } else {
    (void)inbox_.sleep_until(Clock::time_point::max());
  }
}

}  // namespace

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  if (options.idle_spin.count() < 0) {
    throw std::invalid_argument("picos::mux::fifo: idle_spin must not be negative");
  }
  common::start<Scheduler>(kSchedulerName, std::move(fiber), std::move(main), options);
}

}  // namespace picos::mux::fifo
