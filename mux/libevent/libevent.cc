// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/libevent.cc — the libevent scheduler (scheduler.h): fibers on the kernel's
// records, run in batches from the callback of the internal event `wake_`; timers as one heap
// behind one libevent timer; the keep-alive timer and its stall check; stop and detach;
// current_base. Descriptor waits are reactor.cc; running on a base of its own is run.cc, on an
// application's base attach.cc.

#include "mux/libevent/libevent.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <utility>

#include "mux/common/fiber_body.h"
#include "mux/common/timers.h"
#include "mux/context/stack.h"
#include "mux/libevent/scheduler.h"
#include "picos/handler.h"

namespace picos::mux::libevent {
namespace {

using internal::Clock;

constexpr timeval kZero = {0, 0};

timeval to_timeval(std::chrono::nanoseconds d) noexcept {
  if (d < std::chrono::nanoseconds::zero()) d = std::chrono::nanoseconds::zero();
  // A year is plenty for anything libevent has to wait for at once.
  constexpr std::chrono::nanoseconds kMax = std::chrono::hours(24 * 365);
  if (d > kMax) d = kMax;
  // Round up to whole microseconds: a timer must not fire before its deadline.
  auto us = std::chrono::ceil<std::chrono::microseconds>(d).count();
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

}  // namespace

// ---- setup and teardown -------------------------------------------------------------------

Scheduler::Scheduler(const Options& o, event_base* base) : Scheduler(o, true) { open(base); }

void Scheduler::open(event_base* base) {
  base_ = base;
  wake_ = event_new(base_, -1, EV_PERSIST, &Scheduler::on_wake_cb, this);
  keepalive_ = evtimer_new(base_, &Scheduler::on_keepalive_cb, this);
  timer_ = evtimer_new(base_, &Scheduler::on_timer_cb, this);
  yield_ = evtimer_new(base_, &Scheduler::on_yield_cb, this);
  if (!wake_ || !keepalive_ || !timer_ || !yield_) {
    detach();
    throw std::runtime_error("picos::mux::libevent: cannot create libevent events");
  }
  (void)spawns_.begin_sleep_elsewhere();  // nothing queued yet: true
}

void Scheduler::detach() noexcept {
  if (detached_) return;
  // First: io::close on other threads must not reach us once our events go. Waits for such
  // a call in progress (never one of ours: detach does not run inside a resume action).
  reactor_.withdraw();
  stop();
  detached_ = true;
  reactor_.free_events();
  for (event** e : {&wake_, &keepalive_, &timer_, &yield_}) {
    if (*e) event_free(std::exchange(*e, nullptr));
  }
}

void Scheduler::stop() noexcept {
  if (stopped_) return;
  stopped_ = true;
  inbox_.close();  // resumed records stay live: abandoned below
  Queue spawns;
  spawns_.close(&spawns);
  while (Record* r = spawns.pop()) {  // never adopted, never started
    r->~Record();
    common::Records<Record>::free_detached(r);
  }
  ready_.clear();
  // Started fibers are buried with a reference to this scheduler, so that a late resume
  // finds the inbox closed.
  records_.abandon_all([this](Record*) noexcept { acquire(); });
  reactor_.delete_events();
  for (event* e : {wake_, keepalive_, timer_, yield_}) {
    if (e) event_del(e);
  }
  keepalive_armed_ = false;
  armed_ = Clock::time_point::max();
}

// ---- Handler -------------------------------------------------------------------------------

void Scheduler::switch_out(Pending p) noexcept {
  pending_ = p;
  current_->ctx.suspend();
}

void Scheduler::spend_quota() {
  if (--remaining_quota_ <= 0) switch_out(Pending::kYield);
}

std::exception_ptr Scheduler::await(const Trigger& trigger) noexcept {
  Record* self = current_;
  if (self == nullptr) [[unlikely]] {
    return common::off_fiber_error("picos::Trigger::await");
  }
  pending_trigger_ = &trigger;
  switch_out(Pending::kAwait);
  return self->await_result();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr&& reason) {
  if (current_ == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::PackedComputation::cancel_after");
  }
  current_->fiber->check();
  // A long delay is armed at this loop's next look at its timers: the end of this batch
  // (rearm_timer) at the latest.
  common::arm_timer(timers_, c, delay, std::move(reason));
  records_.counters().timers.bump();
  spend_quota();  // timer_ is re-armed at the end of the batch
}

void Scheduler::yield() {
  if (current_ == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::Fiber::yield");
  }
  // One cancelation check, when the fiber runs again (see fifo's yield).
  switch_out(Pending::kYield);
  current_->fiber->check();
}

void Scheduler::spawn(FiberRef fiber, FiberMain main) {
  if (current_ == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::Fiber::spawn");
  }
  current_->fiber->check();
  ready_.push_back(records_.create(std::move(fiber), std::move(main)));
  spend_quota();
}

void Scheduler::resume(const Trigger& trigger, void* record, void* sched) noexcept {
  auto* s = static_cast<Scheduler*>(sched);
  // Elsewhere the push activates wake_ if between batches, under the inbox's lock: detach,
  // which closes the inbox first, cannot free wake_ meanwhile.
  common::resume_here_or_inbox(
      trigger, static_cast<Record*>(record), s, s->inbox_,
      [s](Record* r, bool canceled) {
        // On the loop thread inside one of our callbacks (a fiber, a timer or an fd event):
        // whoever installed the handler runs the batch or activates wake_.
        if (canceled) {
          s->ready_.push_front(r);
        } else {
          s->ready_.push_back(r);
        }
      },
      [s] { s->activate(); });
}

// ---- the batch -----------------------------------------------------------------------------

void Scheduler::on_wake_cb(evutil_socket_t, short, void* self) noexcept {
  static_cast<Scheduler*>(self)->on_wake();
}

void Scheduler::on_timer_cb(evutil_socket_t, short, void* self) noexcept {
  auto* s = static_cast<Scheduler*>(self);
  s->armed_ = Clock::time_point::max();  // a one-shot timer: no longer pending
  s->activate();                         // the batch fires what is due
}

void Scheduler::on_yield_cb(evutil_socket_t, short, void* self) noexcept {
  static_cast<Scheduler*>(self)->activate();
}

// One batch: up to `budget` fibers, each run until it suspends or finishes (an await that
// cannot suspend, its trigger signaled or its fiber canceled, goes on at once while the quota
// lasts). Written as one function so that the compiler keeps the loop tight.
void Scheduler::on_wake() noexcept {
  if (stopped_) return;
  ++batches_;
  if (asleep_) {
    inbox_.end_sleep_elsewhere();
    asleep_ = false;
  }
  {
    HandlerScope scope(*this, nullptr);
    take_in();
    fire_timers();
    for (int n = 0; n < options_.budget && !fatal_; ++n) {
      if (inbox_.pending() || spawns_.pending()) take_in();
      Record* r = ready_.pop();
      if (!r) break;
      remaining_quota_ = options_.quota;
      current_ = r;
      set_current_fiber(r->fiber.get());
      records_.counters().switches.bump();
      for (;;) {
        if (r->resume_marked()) {
          current_ = nullptr;  // no current fiber while the fatal-error handler runs
          finished(r);
        } else if (pending_ == Pending::kAwait) {
          if (common::try_suspend(*r->fiber, *pending_trigger_, r, this, &Scheduler::resume,
                                  r->suspend_error)) {
            break;  // parked on its trigger
          }
          if (--remaining_quota_ > 0) continue;
          ready_.push_back(r);
        } else {
          ready_.push_back(r);  // yielded
        }
        break;
      }
      current_ = nullptr;  // none between fibers: a timer's action or a callback finds none
    }
  }
  if (fatal_) {
    stop();
    event_base_loopbreak(base_);
    return;
  }
  after_batch();
}

void Scheduler::after_batch() noexcept {
  if (!ready_.empty()) {
    event_add(yield_, &kZero);  // still ready after the budget: the loop polls first
  } else if (inbox_.begin_sleep_elsewhere()) {
    asleep_ = true;
    // Nothing to run until the loop's next event: a burst of stacks beyond the depot's steady
    // capacity that nothing has used for a while goes back to the system, a batch per idle
    // moment (mux/context/stack.h).
    (void)context::StackPool::release_idle();
  } else {
    activate();  // woken from another thread since the last look: another batch
  }
  rearm_timer();
  reactor_.after_batch();
  if (alive() == 0) {
    if (keepalive_armed_) {
      event_del(keepalive_);
      keepalive_armed_ = false;
    }
  } else if (!keepalive_armed_) {
    arm_keepalive();
  }
}

void Scheduler::finished(Record* r) noexcept {
  set_current_fiber(nullptr);                      // the fiber may die with its record
  std::exception_ptr stop = records_.outcome(*r);  // the fatal handler, if it threw
  records_.discard(r);
  if (stop) fatal_ = std::move(stop);
}

void Scheduler::take_in() noexcept {
  (void)inbox_.take_into(ready_);  // canceled fibers ahead of everything already ready
  if (!spawns_.pending()) return;
  Queue spawns;
  (void)spawns_.take_into(spawns);
  while (Record* r = spawns.pop()) {
    records_.adopt(r);
    ready_.push_back(r);
  }
}

// ---- timers, keep-alive and stall check ---------------------------------------------------

void Scheduler::fire_timers() noexcept {
  if (timers_.size() == 0) return;
  due_.clear();
  timers_.pop_due(Clock::now(), due_);
  for (auto& e : due_) e.fire();  // resume actions push onto ready_
  due_.clear();
}

void Scheduler::rearm_timer() noexcept {
  // While fibers are alive, the loop also wakes when the stack depot's next batch is due
  // (after_batch releases it): a loop with no other event still returns a burst. Not once
  // none is: the timer would keep event_base_dispatch from returning.
  std::optional<Clock::time_point> next =
      alive() != 0 ? common::next_wake(timers_) : timers_.next_deadline();
  Clock::time_point want = next ? *next : Clock::time_point::max();
  if (want == armed_) return;
  armed_ = want;
  if (want == Clock::time_point::max()) {
    event_del(timer_);
  } else {
    timeval tv = to_timeval(want - Clock::now());
    event_add(timer_, &tv);
  }
}

void Scheduler::on_keepalive_cb(evutil_socket_t, short, void* self) noexcept {
  static_cast<Scheduler*>(self)->on_keepalive();
}

void Scheduler::arm_keepalive() noexcept {
  timeval tv = to_timeval(options_.stall_warning);
  event_add(keepalive_, &tv);
  keepalive_armed_ = true;
  batches_at_check_ = batches_;
}

void Scheduler::on_keepalive() noexcept {
  keepalive_armed_ = false;  // a one-shot timer: no longer pending
  if (stopped_ || alive() == 0) return;
  // No batch for a whole period: nothing changed since the last one, so if every fiber is
  // blocked with nothing pending now, it has been so for at least stall_warning.
  if (!stall_warned_ && batches_ == batches_at_check_ && stalled()) {
    common::warn_stall(kSchedulerName, alive(), options_.stall_warning,
                       attached_ ? std::nullopt  // no main fiber
                                 : std::optional<bool>(records_.main_finished()));
    stall_warned_ = true;
  }
  arm_keepalive();
}

bool Scheduler::stalled() noexcept {
  if (!ready_.empty() || reactor_.waiting()) return false;
  if (inbox_.pending() || spawns_.pending()) return false;
  std::optional<Clock::time_point> next = timers_.next_deadline();
  return !next || *next == Clock::time_point::max();
}

event_base* current_base() noexcept {
  auto* s = dynamic_cast<Scheduler*>(installed_handler());
  return s ? s->base() : nullptr;
}

}  // namespace picos::mux::libevent
