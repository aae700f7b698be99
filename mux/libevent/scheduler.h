// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/scheduler.h — the libevent scheduler (internal; the API is libevent.h).
//
// The policy over the kernel (mux/common/kernel.h, which keeps the records, the live list and
// the fatal-error policy): one thread, FIFO, driven by a libevent loop. Its files:
//
//   libevent.cc   the scheduler: Handler, the batch, timers, keep-alive and stall check, stop
//                 and detach
//   reactor.cc    EventReactor (reactor.h): await_fd and the picos::Reactor for //io
//   run.cc        run_fiber: the scheduler on a base of its own
//   attach.cc     Attachment: the scheduler on an application's base, spawns from any thread
//
// A fiber's handler calls record a pending operation and switch to the scheduler's stack,
// which then calls Fiber::try_suspend; resume actions push onto the ready queue (on the loop
// thread, inside one of our callbacks) or into the inbox (mux/common/inbox.h). The
// scheduler's "stack" is the libevent callback of `wake_`, an event that is never added, only
// activated (event_active) whenever there is something to run: a wake-up or spawn from
// outside, a due timer (`timer_`), a ready fd, or a batch cut short by the budget (`yield_`,
// a zero timeout, so that the loop polls in between). Between batches the scheduler "sleeps
// elsewhere" (in the loop) as far as the inbox is concerned, so a push from another thread
// activates `wake_`; during a batch it does not need to. Never event_del `wake_`: that would
// also cancel an activation another thread has just made, and the wake-up would be lost.
// `keepalive_`, a timer of `stall_warning` kept pending while fibers are alive, is what keeps
// event_base_dispatch from returning then; its callback is the stall check.

#ifndef PICOS_MUX_LIBEVENT_SCHEDULER_H_
#define PICOS_MUX_LIBEVENT_SCHEDULER_H_

#include <event2/event.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "mux/common/inbox.h"
#include "mux/common/kernel.h"
#include "mux/common/queue.h"
#include "mux/libevent/libevent.h"
#include "mux/libevent/reactor.h"
#include "picos/fiber.h"
#include "picos/handler.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/timer_heap.h"

namespace picos::mux::libevent {

// Throws std::invalid_argument for options out of range (the common ones, then budget).
void validate(const Options& o);

// A fiber (mux/common/kernel.h) and its ready-queue link.
using Record = common::QueuedRecord;

using Queue = common::Queue<Record>;

// Loop thread unless said otherwise. No reference per record: run_fiber or the Attachment
// holds one until the scheduler detaches; only fibers abandoned then take their own.
class Scheduler final : public Handler, public internal::RefCounted<Scheduler> {
 public:
  // run_fiber's scheduler: run() creates its base.
  explicit Scheduler(const Options& o) : Scheduler(o, false) {}
  // An Attachment's: creates the internal events on `base`. Throws std::runtime_error if
  // libevent cannot create them.
  Scheduler(const Options& o, event_base* base);
  ~Scheduler() override { detach(); }

  // run_fiber's body (common::start): runs `main` and the loop on a new base until every
  // fiber has finished; then detaches and frees the base. Rethrows the fatal error.
  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  event_base* base() const noexcept { return base_; }
  std::size_t alive() const noexcept { return records_.alive(); }
  // Whether one of its fibers runs now (on the loop thread): false in the loop's own code, a
  // timer's action or the fatal-error handler included.
  bool in_fiber() const noexcept { return current_ != nullptr; }
  const std::exception_ptr& fatal() const noexcept { return fatal_; }
  EventReactor& fd_reactor() noexcept { return reactor_; }

  // Any thread: queues a new fiber (Attachment::spawn from outside our fibers). attach.cc.
  void spawn_from_outside(FiberRef fiber, absl::AnyInvocable<void()> main);
  // Stops (if not yet), then frees every event of ours. Idempotent.
  void detach() noexcept;
  // Any thread while attached: runs a batch from the loop soon.
  void activate() noexcept { event_active(wake_, 0, 0); }

  // ---- Handler (called on a fiber's stack) --------------------------------------------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr&& reason) override;
  void yield() override;
  void spawn(FiberRef fiber, FiberMain main) override;
  Reactor* reactor() noexcept override { return &reactor_; }

 private:
  enum class Pending { kYield, kAwait };  // what a fiber asked for when it switched out

  Scheduler(const Options& o, bool attached)
      : options_(o), attached_(attached), records_(options_), reactor_(*this) {
    records_.set_debug_name(kSchedulerName);
    reactor_.count_waits_in(&records_.counters().io_waits);
  }

  // Resume action of a suspended fiber: runs on whatever thread signals the trigger.
  static void resume(const Trigger& trigger, void* record, void* sched) noexcept;
  // libevent callbacks.
  static void on_wake_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_keepalive_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_timer_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_yield_cb(evutil_socket_t, short, void* self) noexcept;

  // Creates the internal events on `base` (std::runtime_error, nothing left, if it cannot).
  void open(event_base* base);
  void on_wake() noexcept;
  void after_batch() noexcept;
  void on_keepalive() noexcept;
  void arm_keepalive() noexcept;
  void switch_out(Pending p) noexcept;
  void spend_quota();
  void finished(Record* r) noexcept;
  void take_in() noexcept;
  void fire_timers() noexcept;
  void rearm_timer() noexcept;
  bool stalled() noexcept;
  void stop() noexcept;

  const Options options_;
  const bool attached_;  // an Attachment's (no main fiber)
  event_base* base_ = nullptr;
  event* wake_ = nullptr;
  event* keepalive_ = nullptr;
  event* timer_ = nullptr;
  event* yield_ = nullptr;

  common::Records<Record> records_;
  Queue ready_;
  internal::TimerHeap timers_;
  internal::Clock::time_point armed_ = internal::Clock::time_point::max();  // timer_'s deadline
  int remaining_quota_ = 0;
  Record* current_ = nullptr;
  Pending pending_ = Pending::kYield;
  const Trigger* pending_trigger_ = nullptr;
  bool asleep_ = false;  // between batches, for inbox_ (pushes then activate wake_)
  bool stall_warned_ = false;
  bool keepalive_armed_ = false;
  std::uint64_t batches_ = 0;           // on_wake calls
  std::uint64_t batches_at_check_ = 0;  // batches_ when keepalive_ was last armed
  bool stopped_ = false;
  bool detached_ = false;
  std::exception_ptr fatal_;
  std::vector<internal::TimerHeap::Entry> due_;

  // From other threads (thread-safe themselves): wake-ups, and new fibers not adopted by
  // records_ yet. spawns_ "sleeps elsewhere" for good: every spawn activates wake_.
  common::Inbox<Record> inbox_;
  common::Inbox<Record> spawns_;

  EventReactor reactor_;
};

}  // namespace picos::mux::libevent

#endif  // PICOS_MUX_LIBEVENT_SCHEDULER_H_
