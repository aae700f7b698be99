// Copyright 2026 The Picos for C++ Authors.
//
// The policy (lifo.h), one ready deque on one thread:
//  - a spawned or woken fiber goes to the FRONT: the most recent runs next (Go's runnext).
//    What the loop wakes (due timers, ready descriptors, other threads' wake-ups) goes there
//    as one batch, in the order it woke (timers keep deadline order); canceled ones first;
//  - a fiber that yields (or is made to by quota) goes to the BACK. It must: at the front it
//    would be picked again at once, and `while (!done) Fiber::yield();` would spin forever
//    without the fiber that sets `done` ever running (Handler::yield promises that the other
//    ready fibers run first);
//  - every 64th batch bound for the front goes to the back instead: else two fibers that wake
//    each other would keep the front and starve the rest (Go bounds runnext by a time slice).
// Fibers always suspend to the loop (fifo switches from fiber to fiber directly). Lifecycle,
// options, fatal errors, stall warning: the kernel's (mux/common); timers, reactor: fifo's.

#include "mux/testing/lifo/lifo.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "mux/common/fiber_body.h"
#include "mux/common/inbox.h"
#include "mux/common/kernel.h"
#include "mux/common/queue.h"
#include "mux/common/timers.h"
#include "mux/context/stack.h"
#include "picos/handler.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/timer_heap.h"
#include "poller/epoll_poller.h"

namespace picos::mux::lifo {
namespace {

using internal::Clock;

// A fiber (mux/common/kernel.h) and its ready-queue link.
using Record = common::QueuedRecord;
using Queue = common::Queue<Record>;

class Scheduler final : public Handler, public internal::RefCounted<Scheduler> {
 public:
  explicit Scheduler(const Options& o) : options_(o), records_(options_) {
    records_.set_debug_name(kSchedulerName);
    poller_.count_waits_in(&records_.counters().io_waits);
  }
  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  // ---- Handler (on the running fiber's stack) ----
  // Each fails precisely where no fiber of ours runs (the loop: a timer's action, the fatal
  // handler), as every scheduler's (mux/common/fiber_body.h).
  std::exception_ptr await(const Trigger& trigger) noexcept override {
    Record* self = current_;
    if (self == nullptr) return common::off_fiber_error("picos::Trigger::await");
    // Attached on the fiber's own stack: safe, as only this thread resumes our fibers (other
    // threads' resume actions go through the inbox) and it is busy running this one.
    if (common::try_suspend(*self->fiber, trigger, self, this, &resume, self->suspend_error)) {
      self->ctx.suspend();
    } else {
      spend_quota();  // signaled already, or canceled: goes on, now or after the others
    }
    return self->await_result();
  }
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr&& reason) override {
    if (current_ == nullptr) common::throw_off_fiber("picos::PackedComputation::cancel_after");
    current_->fiber->check();
    (void)timers_.add(c, internal::deadline_after(Clock::now(), delay), std::move(reason));
    records_.counters().timers.bump();
    spend_quota();
  }
  void yield() override {
    if (current_ == nullptr) common::throw_off_fiber("picos::Fiber::yield");
    current_->fiber->check();
    requeue();
    current_->fiber->check();
  }
  void spawn(FiberRef fiber, FiberMain main) override {
    if (current_ == nullptr) common::throw_off_fiber("picos::Fiber::spawn");
    current_->fiber->check();
    push_new(records_.create(std::move(fiber), std::move(main)), false);
    spend_quota();
  }
  Reactor* reactor() noexcept override { return &poller_; }

 private:
  // A suspended fiber's resume action: runs on whatever thread signals the trigger.
  static void resume(const Trigger& trigger, void* record, void* sched) noexcept {
    auto* s = static_cast<Scheduler*>(sched);
    common::resume_here_or_inbox(
        trigger, static_cast<Record*>(record), s, s->inbox_,
        [s](Record* r, bool canceled) { s->push_new(r, canceled); }, [s] { s->poller_.wake(); });
  }
  // A fiber spawned or woken on this thread goes to woken_, which the loop puts ahead of the
  // ready fibers before it picks the next one: pushed to its front by a fiber (the most
  // recent first), to its back by the loop (in the order they woke); canceled ones first.
  void push_new(Record* r, bool canceled) noexcept {
    if (canceled || current_ != nullptr) {
      woken_.push_front(r);
    } else {
      woken_.push_back(r);
    }
  }
  // The running fiber goes to the back and the loop runs the next one (yield, quota).
  void requeue() noexcept {
    ready_.push_back(current_);
    current_->ctx.suspend();
  }
  void spend_quota() noexcept {
    if (--remaining_quota_ <= 0) requeue();
  }
  // Puts woken_, the inbox and, with `all`, due timers and ready descriptors (looking without
  // waiting) ahead of the ready fibers (every 64th time behind them). Whether there was any.
  bool let_in(bool all);
  void idle();

  const Options options_;
  common::Records<Record> records_;
  Queue ready_;
  Queue woken_;  // spawned or woken since the loop last looked
  internal::TimerHeap timers_;
  internal::EpollPoller poller_;  // //io's waits on this scheduler
  common::Inbox<Record> inbox_;   // wake-ups from other threads (they poke poller_ too)
  Record* current_ = nullptr;     // the running fiber; nullptr while the loop runs
  int remaining_quota_ = 0;
  std::uint32_t batches_ = 0;
  bool stall_warned_ = false;
  std::exception_ptr fatal_;
};

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  HandlerScope scope(*this, fiber.get());
  Record* first = records_.create(std::move(fiber), FiberMain(main));
  records_.set_main(first);
  ready_.push_back(first);
  while (!fatal_) {
    (void)let_in((records_.counters().switches.bump() & 63) ==
                 0);  // timers and IO are not starved by busy fibers
    if (Record* r = ready_.pop()) {
      remaining_quota_ = options_.quota;
      current_ = r;
      set_current_fiber(r->fiber.get());
      bool finished = r->resume_marked();
      current_ = nullptr;
      set_current_fiber(nullptr);  // the fiber may die with its record
      if (!finished) continue;
      if (std::exception_ptr stop = records_.finish(r)) fatal_ = std::move(stop);
    } else if (!let_in(true)) {
      if (records_.alive() == 0) break;
      idle();
    }
  }
  inbox_.close();
  poller_.unregister();  // no fiber waits on it any more (as in fifo.cc)
  if (fatal_) {
    // A late resume of a buried record must still find this scheduler (and the closed inbox).
    records_.abandon_all([this](Record*) noexcept { acquire(); });
    std::rethrow_exception(fatal_);
  }
}

bool Scheduler::let_in(bool all) {
  if (all && timers_.size() != 0) {
    std::vector<internal::TimerHeap::Entry> due;
    timers_.pop_due(Clock::now(), due);
    for (auto& e : due) e.fire();  // their fibers go to the back of woken_, in deadline order
  }
  if (all && poller_.waiting()) (void)poller_.poll(0);
  (void)inbox_.take_into(woken_);
  if (woken_.empty()) return false;
  if ((++batches_ & 63) == 0) {
    ready_.splice_back(woken_);  // the starvation guard
  } else {
    woken_.splice_back(ready_);
    ready_.splice_back(woken_);
  }
  return true;
}

void Scheduler::idle() {
  (void)context::StackPool::release_idle();  // as fifo's idle (mux/context/stack.h)
  std::optional<Clock::time_point> next = common::next_wake(timers_);  // as fifo's idle
  const bool timer = next && *next != Clock::time_point::max();
  if (poller_.waiting()) {
    // Fibers wait for descriptors: sleep in epoll (another thread's wake-up pokes it). No
    // stall warning: waiting for the network is normal.
    if (!inbox_.begin_sleep_elsewhere()) return;
    using std::chrono::nanoseconds;
    (void)poller_.poll(timer ? std::max<long long>(0, nanoseconds(*next - Clock::now()).count())
                             : -1);
    inbox_.end_sleep_elsewhere();
    return;
  }
  const bool warn = !timer && !stall_warned_;  // a stall: sleep until the warning is due
  Clock::time_point until = Clock::time_point::max();
  if (timer) until = *next;
  if (warn) until = internal::deadline_after(Clock::now(), options_.stall_warning);
  if (!inbox_.sleep_until(until) && warn) {
    common::warn_stall(kSchedulerName, records_.alive(), options_.stall_warning,
                       records_.main_finished());
    stall_warned_ = true;
  }
}

}  // namespace

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  common::start<Scheduler>(kSchedulerName, std::move(fiber), std::move(main), options);
}

}  // namespace picos::mux::lifo
