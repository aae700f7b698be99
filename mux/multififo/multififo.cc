// Copyright 2026 The Picos for C++ Authors.

#include "mux/multififo/multififo.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "mux/common/fiber_body.h"
#include "mux/common/kernel.h"
#include "mux/context/abandon.h"
#include "mux/context/stack.h"
#include "picos/handler.h"
#include "picos/internal/attributes.h"
#include "picos/internal/dcheck.h"
#include "picos/internal/mutex.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/timer_heap.h"
#include "poller/poller.h"

namespace picos::mux::multififo {
namespace {

using internal::Clock;
using internal::CondVar;
using internal::Mutex;
using internal::MutexLock;
using internal::SpinLock;
using internal::SpinLockGuard;

class Scheduler;

// A fiber (mux/common/kernel.h), where it was spawned and last ran, its ready-queue links.
struct Record : common::FiberRecord {
  Record(FiberRef f, FiberMain m, std::size_t stack_size, int origin);

  const int origin;        // worker whose records (and live list) hold it
  int last_worker;         // where it last ran: foreign wake-ups go back there
  Record* next = nullptr;  // ready-queue links
  Record* prev = nullptr;
};

// A worker's ready queue: its owner pops the head, thieves take the tail. With child-first
// spawns the head holds the most recent spawner (the owner continues it next) and the tail
// the oldest one, whose remaining work is the largest: what a thief should take. A record in
// no queue has both links null (debug builds check it on every push, as mux/common/queue.h).
class Deque {
 public:
  void push_back(Record* r) noexcept {
    check_unqueued(r);
    r->prev = tail_;
    (tail_ ? tail_->next : head_) = r;
    tail_ = r;
  }
  void push_front(Record* r) noexcept {
    check_unqueued(r);
    r->next = head_;
    (head_ ? head_->prev : tail_) = r;
    head_ = r;
  }
  Record* pop_front() noexcept {
    Record* r = head_;
    if (r) {
      PICOS_DCHECK(r->prev == nullptr);
      head_ = r->next;
      (head_ ? head_->prev : tail_) = nullptr;
      r->next = nullptr;
    }
    return r;
  }
  Record* pop_back() noexcept {
    Record* r = tail_;
    if (r) {
      PICOS_DCHECK(r->next == nullptr);
      tail_ = r->prev;
      (tail_ ? tail_->next : head_) = nullptr;
      r->prev = nullptr;
    }
    return r;
  }
  void clear() noexcept { head_ = tail_ = nullptr; }

 private:
  void check_unqueued(const Record* r) const noexcept {
    PICOS_DCHECK(r != nullptr);
    PICOS_DCHECK(r->next == nullptr && r->prev == nullptr);
    PICOS_DCHECK(r != head_ && r != tail_);
    PICOS_DCHECK((head_ == nullptr) == (tail_ == nullptr));
  }

  Record* head_ = nullptr;
  Record* tail_ = nullptr;
};

enum class Pending { kNone, kYield, kAwait, kSpawn };

struct alignas(64) Worker {
  Scheduler* sched = nullptr;
  int index = 0;

  // The ready queue: popped by its worker, stolen from by the others, pushed by anyone.
  SpinLock lock;
  Deque ready ABSL_GUARDED_BY(lock);
  std::atomic<std::size_t> size{0};  // written under lock; read racily to skip empty queues
  // Whether `size` is at least 2 (a fiber to spare for another worker), written under lock
  // only when `size` crosses between 1 and 2; on a cache line of its own. What idle workers
  // poll while they spin: polling `size`, which shares the line with the lock and the queue,
  // pulled that line away from a busy worker at every push and pop of a fiber that toggles
  // its queue between 0 and 1 (a spawner with child_first, a ping-ponging pair).
  alignas(64) std::atomic<bool> crowded{false};

  // Adds `delta` (+1 or -1, or -size to empty it) to the queue's size, under lock; returns
  // the new size.
  std::size_t add_size(std::ptrdiff_t delta) noexcept {
    const std::size_t old = size.load(std::memory_order_relaxed);
    const std::size_t n = old + static_cast<std::size_t>(delta);
    size.store(n, std::memory_order_relaxed);
    if ((old >= 2) != (n >= 2)) crowded.store(n >= 2, std::memory_order_relaxed);
    return n;
  }

  // Records spawned on this worker that have not finished (for abandonment on fatal stop).
  // Touched by this worker's thread only (and, before the workers start and after they have
  // all stopped, by run's), so without a lock: a fiber that finishes on another worker is
  // handed back through `remote_finished`, which this worker drains (drain_finished)
  // every 64 switches (periodic) and before it idles.
  alignas(64) common::Records<Record> records;  // (off crowded's line)
  // Records of this worker's that finished elsewhere: a lock-free stack through Record::next
  // (pushed by any worker, taken whole by this one).
  std::atomic<Record*> remote_finished{nullptr};

  // For the stall warning (Scheduler::watch_for_stall), written by the worker only: odd
  // while it runs fibers (from run_one until it next goes idle), even while it is idle, and
  // changed every time it starts running one. Read by idle workers.
  std::atomic<std::uint64_t> activity{0};

  // Fibers created on this worker, and fibers that finished on it: each written by this
  // worker's thread only (a plain store, no contended read-modify-write per spawn or finish),
  // read by workers that are about to idle, to see whether the run is over (Scheduler::alive).
  std::atomic<std::int64_t> spawn_count{0};
  std::atomic<std::int64_t> finish_count{0};

  // For cancel_after, whether a new timer must wake this worker: while it sleeps, when it
  // will wake by itself (steady_clock ticks); kSleepUnknown from before it looks at the timers
  // until it has chosen that time (a new timer then wakes it, to be safe); kAwake otherwise
  // (an awake worker looks at the timers before it next sleeps).
  static constexpr std::int64_t kAwake = std::numeric_limits<std::int64_t>::min();
  static constexpr std::int64_t kSleepUnknown = std::numeric_limits<std::int64_t>::max();
  std::atomic<std::int64_t> sleep_until{kAwake};

  // Touched only by the worker's own thread.
  Record* current = nullptr;
  Pending pending = Pending::kNone;
  const Trigger* pending_trigger = nullptr;
  Record* spawned = nullptr;  // Pending::kSpawn: the child to run at once
  // A fiber that switched straight to another (switch_out) and still has to be queued or
  // parked according to `pending`: the fiber that runs next on this worker does it (settle),
  // once the first is off its stack and may be resumed by any worker.
  Record* unsettled = nullptr;
  int remaining_quota = 0;
  std::int64_t countdown_to_balance = 1;
  std::uint64_t rng = 0;
  Clock::duration idle_backoff{};
  // fire_timers' list of due timers, kept for its capacity: a local vector made a malloc and
  // a free per look that fired a timer (one per timer when they come one at a time).
  std::vector<internal::TimerHeap::Entry> due;
  // watch_for_stall's view: the sum of every worker's `activity` when it last looked, and
  // its first look that saw the scheduler stalled since (max(): the last look did not).
  std::uint64_t seen_activity = 0;
  Clock::time_point quiet_since = Clock::time_point::max();
};

thread_local Worker* tls_worker = nullptr;

// Never inlined or analysed: a fiber may suspend on one worker and resume on another, so the
// thread-local must be re-read after every switch, never cached across it.
PICOS_NOIPA Worker* this_worker() noexcept { return tls_worker; }
PICOS_NOIPA void set_this_worker(Worker* w) noexcept { tls_worker = w; }

std::uint64_t next_random(std::uint64_t& s) noexcept {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

constexpr Clock::duration kMinBackoff = std::chrono::milliseconds(1);
constexpr Clock::duration kMaxBackoff = std::chrono::milliseconds(64);

class Scheduler final : public Handler, public internal::RefCounted<Scheduler> {
 public:
  Scheduler(const Options& o, int n)
      : options_(o), n_(n), workers_(new Worker[static_cast<std::size_t>(n)]), poller_(o.reactor) {
    for (int i = 0; i < n; ++i) {
      Worker& w = workers_[static_cast<std::size_t>(i)];
      w.sched = this;
      w.index = i;
      w.rng = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1);
      w.records.bind(options_);
      w.records.set_debug_name(kSchedulerName, i);
    }
    // io waits: the reactor is shared; they are reported on worker 0's line.
    poller_.count_waits_in(&workers_[0].records.counters().io_waits);
  }

  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  // ---- Handler (called on a fiber's stack) --------------------------------------------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr&& reason) override;
  void yield() override;
  void spawn(FiberRef fiber, FiberMain main) override;

  static void resume(const Trigger& trigger, void* record, void* sched) noexcept;
  static void entry(void* record) noexcept;
  Reactor* reactor() noexcept override { return &poller_; }

 private:
  Record* new_record(Worker& w, FiberRef fiber, FiberMain main);
  // Frees w's records that finished on other workers. On w's thread, in its loop, not on a
  // fiber's stack: freeing a record may run a finished fiber's FLS destructors (or on run's
  // thread, once every worker has stopped).
  static void drain_finished(Worker& w) noexcept;
  void worker_loop(Worker& w);
  void run_one(Worker& w, Record* r);
  // On the running fiber, with w.pending (and pending_trigger / spawned) set: hands the
  // worker to the next fiber directly (the spawned child, a balanced take or the head of w's
  // own queue), which then settles the caller; or, with none at hand or the scheduler
  // stopping, suspends to the loop, which does the same work. Returns when the caller runs
  // again, possibly on another worker.
  void switch_out(Worker* w) noexcept;
  // Queues or parks w.unsettled according to w.pending (see Worker::unsettled).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void settle(Worker& w) noexcept;
  // Makes `r` the fiber running on `w`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void dispatch(Worker& w, Record* r) noexcept;
  bool try_suspend(Worker& w, Record* r) noexcept;
  void finished(Worker& w, Record* r);
  // On the running fiber of `w` (the caller's worker: no switch since it was looked up).
  void spend_quota(Worker* w);
  // The head of `w`'s queue; for a thief (another worker) with child_first, the tail.
  ABSL_ATTRIBUTE_ALWAYS_INLINE Record* pop_own(Worker& w, bool thief = false) noexcept;
  Record* steal(Worker& w) noexcept;
  ABSL_ATTRIBUTE_ALWAYS_INLINE Record* take_balanced(Worker& w) noexcept;
  // Pushes onto `w`'s queue (at the head for a canceled fiber) and wakes a sleeper if `w`
  // now has more than one fiber queued.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void push(Worker& w, Record* r, bool front) noexcept;
  void push_foreign(Record* r, bool front) noexcept;
  // Whether some worker has a fiber queued.
  bool any_ready() const noexcept;
  // Whether any worker's queue holds at least 2 fibers (Worker::crowded).
  bool any_crowded() const noexcept;
  bool fire_timers(Worker& w, bool blocking);
  // After arming a timer, under timers_mu_ (as every store to has_timers_): sets it, with a
  // sequentially consistent store (plan_sleep's handshake) only when it was false. A true
  // already there stays true while the new entry is in the heap (only a look that empties the
  // heap clears it, under the lock), and the add that stored it after the last clear was
  // sequentially consistent and happens before this call, so a sleeper that misses this
  // worker's later sleep_until load still reads true. Saves a locked exchange per timer.
  void mark_has_timers_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(timers_mu_) {
    if (!has_timers_.load(std::memory_order_relaxed)) {
      has_timers_.store(true, std::memory_order_seq_cst);  // see idle()
    }
  }
  // Every 64 switches, from the loop or a fiber's switch_out (a yielding fiber alternates
  // the two, so both must do all of it): records that finished elsewhere, due timers, and
  // ready descriptors (so none of them waits on busy fibers).
  // Scheduler code, even on a fiber's stack: the actions the timers run find no current fiber
  // (their operations fail, fiber_body.h), as in the loop.
  void periodic(Worker& w) noexcept {
    Record* const running = std::exchange(w.current, nullptr);
    drain_finished(w);
    (void)fire_timers(w, false);
    if (poller_.waiting()) (void)poller_.poll(0);
    w.current = running;
  }
  void idle(Worker& w);
  // After an idle sleep that nothing ended: warns once if fibers have been blocked for
  // stall_warning with nothing running, queued, or waiting for a timer or a descriptor on any
  // worker (see Worker::activity).
  void watch_for_stall(Worker& w, Clock::time_point now) noexcept;
  void wake_one() noexcept;
  // How many fibers are alive, from the workers' spawned and finished counts: exact when it is
  // zero (then no fiber will ever run again), else a snapshot that may be stale.
  std::int64_t alive() const noexcept;
  // When an idle worker about to sleep must wake: after its back-off, at the next timer or
  // when the stack depot's next batch is due (StackPool::release_due), whichever is soonest.
  // Publishes it in w.sleep_until (reset to kAwake by the caller when it wakes).
  Clock::time_point plan_sleep(Worker& w);
  // Whether some worker sleeps (or is about to) past `deadline` (see Worker::sleep_until).
  bool sleeper_wakes_after(Clock::time_point deadline) const noexcept;
  void stop() noexcept;
  void set_fatal(std::exception_ptr e) noexcept;
  void abandon_all() noexcept;

  const Options options_;
  const int n_;
  std::unique_ptr<Worker[]> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<Record*> main_record_{nullptr};
  std::atomic<bool> main_finished_{false};
  std::atomic<bool> stall_warned_{false};

  // Sleeping workers.
  Mutex idle_mu_;
  CondVar idle_cv_;
  std::uint64_t epoch_ ABSL_GUARDED_BY(idle_mu_) = 0;  // bumped by every wake-up
  std::atomic<int> sleepers_{0};

  // Timers shared by all workers. A spin lock, not a Mutex: every cancel_after takes it, and
  // std::mutex's lock and unlock were 55 instructions of a timer's ~330 (callgrind) where the
  // spin lock's are a handful. Its longest holders are a worker's look at the timers (pop_due,
  // next_deadline), which arm the deferred timers and move out the due ones: a waiter spins
  // briefly, then yields the OS thread (picos/internal/spin_lock.h).
  SpinLock timers_mu_;
  internal::TimerHeap timers_ ABSL_GUARDED_BY(timers_mu_);
  std::atomic<bool> has_timers_{false};

  common::FatalError fatal_;

  // io waits of the fibers (Handler::reactor()): one epoll set (or io_uring) shared by the
  // workers. An idle worker blocks in it instead of on idle_cv_ (one at a time), busy ones
  // look every 64 dispatches, and a woken fiber lands on the polling worker's queue.
  // io::close from any other thread reaches it through the reactor registry; the waiter then
  // goes through push_foreign, whose wake_one pokes a worker asleep in the poller.
  internal::SharedPoller poller_;           // epoll or io_uring (Options::reactor)
  std::atomic<bool> poll_sleeping_{false};  // an idle worker blocks in poller_.poll
};

Record::Record(FiberRef f, FiberMain m, std::size_t stack_size, int o)
    : FiberRecord(std::move(f), std::move(m), stack_size, &Scheduler::entry),
      origin(o),
      last_worker(o) {}

Record* Scheduler::new_record(Worker& w, FiberRef fiber, FiberMain main) {
  Record* r = w.records.create(std::move(fiber), std::move(main), w.index);
  // No reference per record (a contended atomic per spawn and per finish): run_fiber holds
  // one until no fiber is alive; only records abandoned after a fatal error take their own.
  // Counted before anyone else can see the record (it is queued after this).
  w.spawn_count.store(w.spawn_count.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  return r;
}

void Scheduler::entry(void* arg) noexcept {
  auto* r = static_cast<Record*>(static_cast<common::FiberRecord*>(arg));
  Worker* w = this_worker();
  w->sched->settle(*w);  // whoever switched here directly
  common::run_main(r->main, r->error);
  r->listing.finishing.store(true, std::memory_order_relaxed);  // for dumps
}

inline void Scheduler::dispatch(Worker& w, Record* r) noexcept {
  w.remaining_quota = options_.quota;
  w.current = r;
  r->last_worker = w.index;
  set_current_fiber(r->fiber.get());
  r->listing.running.store(true, std::memory_order_relaxed);  // for dumps
}

void Scheduler::switch_out(Worker* w) noexcept {
  Record* self = w->current;
  Record* next = nullptr;
  if (!stop_.load(std::memory_order_relaxed)) {
    if (w->pending == Pending::kSpawn) {
      next = std::exchange(w->spawned, nullptr);
    } else {
      if ((w->records.counters().switches.bump() & 63) == 0) periodic(*w);
      next = take_balanced(*w);
      if (!next) next = pop_own(*w);
      if (next == nullptr && w->pending == Pending::kYield) {
        // Nothing else to run on this worker: the yielding fiber goes on at once, as the loop
        // would run it after queuing it (its queue is empty, so it would pop it straight
        // back), without the two switches through the loop.
        w->pending = Pending::kNone;
        w->remaining_quota = options_.quota;
        return;
      }
    }
  }
  // Not running from here on (for dumps): before anything can publish it to other workers.
  self->listing.running.store(false, std::memory_order_relaxed);
  if (next == nullptr) {
    self->ctx.suspend();  // the loop settles us
  } else {
    w->unsettled = self;
    dispatch(*w, next);
    self->ctx.switch_to(next->ctx);
  }
  // Resumed by a loop or by a fiber that switched here directly (which we settle), possibly
  // on another worker.
  settle(*this_worker());
}

inline void Scheduler::settle(Worker& w) noexcept {
  Record* prev = std::exchange(w.unsettled, nullptr);
  if (prev == nullptr) return;
  switch (std::exchange(w.pending, Pending::kNone)) {
    case Pending::kYield:
      push(w, prev, false);
      break;
    case Pending::kAwait:
      // Signaled or canceled already: it goes first.
      if (!try_suspend(w, prev)) push(w, prev, true);
      break;
    case Pending::kSpawn:
      push(w, prev, true);  // child first: the spawner waits at the head of the queue
      break;
    case Pending::kNone:
      break;
  }
}

// ---- Handler -------------------------------------------------------------------------

std::exception_ptr Scheduler::await(const Trigger& trigger) noexcept {
  Worker* w = this_worker();
  Record* self = w->current;
  if (self == nullptr) [[unlikely]] {
    return common::off_fiber_error("picos::Trigger::await");
  }
  w->pending_trigger = &trigger;
  w->pending = Pending::kAwait;
  switch_out(w);
  return self->await_result();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr&& reason) {
  // The worker stays the caller's until spend_quota: nothing below switches fibers.
  Worker* const w = this_worker();
  if (w->current == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::PackedComputation::cancel_after");
  }
  w->current->fiber->check();
  if (delay >= internal::TimerHeap::kDeferFrom) {
    // Armed at some worker's next look at the timers, without a clock read here
    // (picos/internal/timer_heap.h). No sleeper need wake for it: one that sleeps now wakes
    // within kMaxBackoff (64 ms) and looks, and this worker looks within 64 switches or
    // before it sleeps (plan_sleep), long before the timer is due.
    SpinLockGuard lock(timers_mu_);
    (void)timers_.defer(c, delay, std::move(reason));
    mark_has_timers_locked();
  } else {
    const auto deadline = internal::deadline_after(Clock::now(), delay);
    bool earliest;
    {
      SpinLockGuard lock(timers_mu_);
      // Not next_deadline(): most timers are canceled before they are due (their computation
      // completes), so the top is often dead, and dropping it cost a heap pop per timer. A
      // dead top leaves the question to sleeper_wakes_after, which a later timer never passes.
      const bool earlier = timers_.may_precede(deadline);
      earliest = timers_.add(c, deadline, std::move(reason)) && earlier;
      mark_has_timers_locked();
    }
    // A sleeping worker may be waiting for a later deadline: let it recompute. One that will
    // wake before the new deadline anyway (its back-off, or an earlier timer) is left asleep:
    // a futex wake-up per cancel_after cost most of a timer on 2 workers.
    if (earliest && sleeper_wakes_after(deadline)) wake_one();
  }
  w->records.counters().timers.bump();
  spend_quota(w);
}

void Scheduler::yield() {
  Worker* w = this_worker();
  Record* self = w->current;
  if (self == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::Fiber::yield");
  }
  // One cancelation check, when the fiber runs again (see fifo's yield).
  w->pending = Pending::kYield;
  switch_out(w);
  self->fiber->check();
}

void Scheduler::drain_finished(Worker& w) noexcept {
  Record* r = w.remote_finished.exchange(nullptr, std::memory_order_acquire);
  while (r != nullptr) {
    Record* next = std::exchange(r->next, nullptr);
    w.records.discard(r);
    r = next;
  }
}

void Scheduler::spawn(FiberRef fiber, FiberMain main) {
  Worker* w = this_worker();
  if (w->current == nullptr) [[unlikely]] {
    common::throw_off_fiber("picos::Fiber::spawn");
  }
  w->current->fiber->check();
  Record* child = new_record(*w, std::move(fiber), std::move(main));
  if (options_.child_first) {
    // The loop queues the spawner (once it is off its stack) and runs the child. Nothing may
    // throw from here on: the child exists, so spawn has succeeded.
    w->spawned = child;
    w->pending = Pending::kSpawn;
    switch_out(w);
    return;
  }
  push(*w, child, false);
  spend_quota(w);
}

void Scheduler::spend_quota(Worker* w) {
  if (--w->remaining_quota <= 0) {
    w->pending = Pending::kYield;
    switch_out(w);
  }
}

void Scheduler::resume(const Trigger& trigger, void* record, void* sched) noexcept {
  auto* r = static_cast<Record*>(record);
  auto* s = static_cast<Scheduler*>(sched);
  bool front = !r->fiber->unsuspend(trigger);
  Worker* w = this_worker();
  if (w != nullptr && w->sched == s) {
    s->push(*w, r, front);
  } else {
    s->push_foreign(r, front);
  }
}

// ---- queues and wake-ups -----------------------------------------------------------

inline void Scheduler::push(Worker& w, Record* r, bool front) noexcept {
  w.lock.lock();
  if (front) {
    w.ready.push_front(r);
  } else {
    w.ready.push_back(r);
  }
  const std::size_t size = w.add_size(1);
  w.lock.unlock();
  // Keep one fiber of slack local: waking a sleeper for a single ready fiber makes two
  // workers trade a ping-ponging pair back and forth through futex wake-ups. A lone queued
  // fiber behind a busy one is picked up by an idle worker's periodic look (see idle()).
  if (size >= 2 && n_ > 1) wake_one();
}

void Scheduler::push_foreign(Record* r, bool front) noexcept {
  // Once `r` is queued a worker may run it to completion, the main fiber may finish and
  // run_fiber may drop its reference, all before wake_one() below returns: hold one of our
  // own so the scheduler outlives this call (the last release may then free it here).
  internal::Ref<Scheduler> keep = internal::Ref<Scheduler>::share(this);
  Worker& w = workers_[static_cast<std::size_t>(r->last_worker)];
  w.lock.lock();
  if (stop_.load(std::memory_order_acquire)) {  // stopped by a fatal error: r is abandoned
    w.lock.unlock();
    return;
  }
  if (front) {
    w.ready.push_front(r);
  } else {
    w.ready.push_back(r);
  }
  (void)w.add_size(1);
  w.lock.unlock();
  wake_one();
}

Clock::time_point Scheduler::plan_sleep(Worker& w) {
  // Never past the depot's next batch (release_idle, called by idle()).
  Clock::time_point until =
      std::min(Clock::now() + w.idle_backoff, context::StackPool::release_due());
  // Store-then-load against cancel_after's has_timers_ store and sleeper_wakes_after's load
  // (all sequentially consistent): either this worker sees the new timer, or its adder sees
  // kSleepUnknown and wakes it.
  w.sleep_until.store(Worker::kSleepUnknown, std::memory_order_seq_cst);
  if (has_timers_.load(std::memory_order_seq_cst)) {
    SpinLockGuard lock(timers_mu_);
    if (auto next = timers_.next_deadline(); next && *next < until) until = *next;
  }
  w.sleep_until.store(until.time_since_epoch().count(), std::memory_order_release);
  return until;
}

bool Scheduler::sleeper_wakes_after(Clock::time_point deadline) const noexcept {
  const std::int64_t d = deadline.time_since_epoch().count();
  for (int i = 0; i < n_; ++i) {
    if (d < workers_[static_cast<std::size_t>(i)].sleep_until.load(std::memory_order_seq_cst)) {
      return true;
    }
  }
  return false;
}

void Scheduler::wake_one() noexcept {
  // Pairs with the fetch_add in idle(): either the sleeper sees our push when it re-checks
  // the queues, or we see it counted and bump the epoch it will check under idle_mu_.
#if defined(__SANITIZE_THREAD__)
  // TSan does not model fences; a seq_cst read-modify-write on the counter gives the same
  // guarantee (the sleeper's increment and ours are totally ordered).
  if (sleepers_.fetch_add(0, std::memory_order_seq_cst) == 0) return;
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_relaxed) == 0) return;
#endif
  if (poll_sleeping_.load(std::memory_order_seq_cst)) poller_.wake();
  MutexLock lock(idle_mu_);
  ++epoch_;
  idle_cv_.notify_one();
}

void Scheduler::stop() noexcept {
  stop_.store(true, std::memory_order_release);
  poller_.wake();
  MutexLock lock(idle_mu_);
  ++epoch_;
  idle_cv_.notify_all();
}

inline Record* Scheduler::pop_own(Worker& w, bool thief) noexcept {
  if (w.size.load(std::memory_order_relaxed) == 0) return nullptr;
  w.lock.lock();
  Record* r = thief && options_.child_first ? w.ready.pop_back() : w.ready.pop_front();
  if (r) (void)w.add_size(-1);
  w.lock.unlock();
  return r;
}

Record* Scheduler::steal(Worker& w) noexcept {
  if (n_ == 1) return nullptr;
  auto start = static_cast<int>(next_random(w.rng) % static_cast<std::uint64_t>(n_));
  for (int i = 0; i < n_; ++i) {
    Worker& v = workers_[static_cast<std::size_t>((start + i) % n_)];
    if (&v == &w || v.size.load(std::memory_order_relaxed) == 0) continue;
    if (Record* r = pop_own(v, true)) {
      w.records.counters().steals.bump();
      return r;
    }
  }
  return nullptr;
}

// Load balancing (as OCaml's multififo does): every so often -- after as many dispatches as
// the worker has fibers queued, plus one -- look at a random other worker and take its
// oldest fiber if its queue is longer. Without this, a worker that stole a single fiber that
// keeps yielding would run it alone while the other fibers share the remaining workers.
inline Record* Scheduler::take_balanced(Worker& w) noexcept {
  if (n_ == 1 || --w.countdown_to_balance > 0) return nullptr;
  auto own = static_cast<std::int64_t>(w.size.load(std::memory_order_relaxed));
  w.countdown_to_balance = own + 1;
  auto i = static_cast<std::size_t>(next_random(w.rng) % static_cast<std::uint64_t>(n_));
  Worker& v = workers_[i];
  if (&v == &w || static_cast<std::int64_t>(v.size.load(std::memory_order_relaxed)) <= own + 1) {
    return nullptr;
  }
  Record* r = pop_own(v, true);
  if (r != nullptr) w.records.counters().steals.bump();
  return r;
}

bool Scheduler::any_crowded() const noexcept {
  for (int i = 0; i < n_; ++i) {
    if (workers_[static_cast<std::size_t>(i)].crowded.load(std::memory_order_relaxed)) return true;
  }
  return false;
}

bool Scheduler::any_ready() const noexcept {
  for (int i = 0; i < n_; ++i) {
    if (workers_[static_cast<std::size_t>(i)].size.load(std::memory_order_relaxed) != 0) {
      return true;
    }
  }
  return false;
}

bool Scheduler::fire_timers(Worker& w, bool blocking) {
  if (!has_timers_.load(std::memory_order_acquire)) return false;
  if (blocking) {
    timers_mu_.lock();
  } else if (!timers_mu_.try_lock()) {
    return false;  // another worker is at the timers
  }
  // The worker's list, taken out while the actions run (one that got here again would find
  // an empty one) and put back, emptied, with its capacity.
  std::vector<internal::TimerHeap::Entry> due = std::move(w.due);
  timers_.pop_due(Clock::now(), due);  // out of memory: std::terminate, wherever called from
  has_timers_.store(timers_.size() != 0, std::memory_order_release);
  timers_mu_.unlock();
  for (auto& e : due) e.fire();
  const bool fired = !due.empty();
  due.clear();
  w.due = std::move(due);
  return fired;
}

// ---- workers -----------------------------------------------------------------------

void Scheduler::worker_loop(Worker& w) {
  // A run nested inside a fiber of another multififo runs its worker 0 on that fiber's
  // thread: restore the outer worker when this loop ends.
  Worker* const outer = this_worker();
  set_this_worker(&w);
  HandlerScope scope(*this, nullptr);
  w.idle_backoff = kMinBackoff;
  while (!stop_.load(std::memory_order_acquire)) {
    if ((w.records.counters().switches.bump() & 63) == 0) periodic(w);
    Record* r = take_balanced(w);
    if (!r) r = pop_own(w);
    if (!r) r = steal(w);
    if (r) {
      run_one(w, r);
      continue;
    }
    if (fire_timers(w, true)) continue;
    if (alive() == 0) {
      stop();  // the last fiber has finished (here or on another worker): wake every worker
      break;
    }
    idle(w);
  }
  set_this_worker(outer);
}

void Scheduler::run_one(Worker& w, Record* r) {
  w.idle_backoff = kMinBackoff;
  // Running (odd), and changed: the one store the stall watch costs a dispatch-loop pass.
  w.activity.store((w.activity.load(std::memory_order_relaxed) + 1) | 1, std::memory_order_relaxed);
  dispatch(w, r);
  for (;;) {
    // Fibers may hand this worker to each other (switch_out); whichever suspends to the loop
    // or finishes comes back here.
    context::Context::Outcome o = r->ctx.run();
    r = common::record_of<Record>(o.context);
    if (o.finished) {
      finished(w, r);
      break;
    }
    if (w.pending == Pending::kSpawn) {
      // Child first, but the scheduler is stopping (switch_out found stop_): queue both and
      // let the loop end; a fatal error abandons them.
      w.pending = Pending::kNone;
      push(w, std::exchange(w.spawned, nullptr), true);
      push(w, r, true);
      break;
    }
    const Pending p = std::exchange(w.pending, Pending::kNone);
    if (p == Pending::kAwait && !try_suspend(w, r)) {
      if (--w.remaining_quota > 0) continue;
      push(w, r, false);
    } else if (p == Pending::kYield) {
      push(w, r, false);
    }
    break;
  }
  w.current = nullptr;
  set_current_fiber(nullptr);
}

bool Scheduler::try_suspend(Worker& w, Record* r) noexcept {
  return common::try_suspend(*r->fiber, *w.pending_trigger, r, this, &Scheduler::resume,
                             r->suspend_error);
}

void Scheduler::finished(Worker& w, Record* r) {
  Worker& origin = workers_[static_cast<std::size_t>(r->origin)];
  // No current fiber while the fatal-error handler runs (its operations fail, fiber_body.h).
  w.current = nullptr;
  set_current_fiber(nullptr);
  // The handler runs outside the lock.
  if (std::exception_ptr stop = common::outcome(options_, *r)) set_fatal(std::move(stop));
  if (r == main_record_.load(std::memory_order_relaxed)) {
    main_finished_.store(true, std::memory_order_release);
  }
  if (&origin == &w) {
    w.records.discard(r);
  } else {  // its origin frees it (Worker::records has no lock)
    Record* head = origin.remote_finished.load(std::memory_order_relaxed);
    do {
      r->next = head;
    } while (!origin.remote_finished.compare_exchange_weak(head, r, std::memory_order_release,
                                                           std::memory_order_relaxed));
  }
  // Last: a worker that sees this count sees everything the fiber did. This worker looks
  // whether the run is over when it next finds nothing to run (worker_loop).
  w.finish_count.store(w.finish_count.load(std::memory_order_relaxed) + 1,
                       std::memory_order_release);
}

// Every worker's finished count first, then every worker's spawned count. A fiber's finish is
// counted after its spawn, and after every spawn it made, in happens-before order; reading a
// finish (acquire) therefore makes those spawns visible to the spawned counts read after it.
// So the finishes read are of fibers whose spawns are read too, and if the two sums are equal,
// every fiber counted as spawned has finished: by induction from the main fiber (counted
// before any worker started), no fiber is left that could spawn another, and none will run
// again. While fibers run, the difference is only a snapshot.
std::int64_t Scheduler::alive() const noexcept {
  std::int64_t finished = 0;
  for (int i = 0; i < n_; ++i) {
    finished += workers_[static_cast<std::size_t>(i)].finish_count.load(std::memory_order_acquire);
  }
  std::int64_t spawned = 0;
  for (int i = 0; i < n_; ++i) {
    spawned += workers_[static_cast<std::size_t>(i)].spawn_count.load(std::memory_order_acquire);
  }
  return spawned - finished;
}

void Scheduler::set_fatal(std::exception_ptr e) noexcept {
  (void)fatal_.set(std::move(e));
  stop();
}

void Scheduler::idle(Worker& w) {
  drain_finished(w);  // before it sleeps: what finished elsewhere is not kept alive meanwhile
  // A burst of stacks beyond the depot's steady capacity that nothing has used for a while
  // goes back to the system, a batch per idle moment (mux/context/stack.h).
  (void)context::StackPool::release_idle();
  if (const std::uint64_t a = w.activity.load(std::memory_order_relaxed); (a & 1) != 0) {
    w.activity.store(a + 1, std::memory_order_relaxed);  // idle (even)
  }
  if (n_ > 1 && options_.idle_spin.count() > 0) {
    // Look at the queues for a little while before sleeping: with fork-join work a spawner
    // is often queued microseconds later, and a futex wake-up costs tens of microseconds.
    // Like push(), leave a lone queued fiber to another worker: taking the partner of two
    // fibers that hand messages back and forth would make every hand-off cross cores; one
    // queued here (a wake-up from another thread) runs at once. While fibers wait for
    // descriptors, look at the reactor too: a spinning worker is the first to see their
    // readiness (a single IO ping-pong on 2 workers took 67-83 µs per round trip when only a
    // worker asleep in the reactor could, 6-13 µs now; docs/benchmarks.md).
    const Clock::time_point until = internal::deadline_after(Clock::now(), options_.idle_spin);
    for (int i = 1;; ++i) {
      if (w.size.load(std::memory_order_relaxed) != 0 || any_crowded() ||
          stop_.load(std::memory_order_acquire)) {
        return;
      }
      if (i % 16 == 0 && poller_.waiting()) (void)poller_.poll(0);  // -1: another polls
      if (i % 64 == 0) {
        if (has_timers_.load(std::memory_order_acquire) || Clock::now() >= until) break;
      }
      internal::cpu_relax();
    }
  }
  if (poller_.waiting() && !poll_sleeping_.exchange(true, std::memory_order_seq_cst)) {
    // Fibers wait for descriptors: sleep in the epoll set (one worker at a time) until one is
    // ready, a wake-up (wake_one pokes it), the next timer or the back-off expires.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    int polled = -1;
    if (!any_ready() && !stop_.load(std::memory_order_acquire)) {
      const Clock::time_point until = plan_sleep(w);
      const long long timeout_ns = std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(until - Clock::now()).count());
      polled = poller_.poll(timeout_ns);
      w.sleep_until.store(Worker::kAwake, std::memory_order_relaxed);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    poll_sleeping_.store(false, std::memory_order_release);
    if (polled >= 0) {
      // Nothing became ready: the next sleep may be longer (wake-ups end it anyway).
      w.idle_backoff = polled > 0 ? kMinBackoff : std::min(w.idle_backoff * 2, kMaxBackoff);
      return;
    }
  }
  std::uint64_t epoch;
  {
    MutexLock lock(idle_mu_);
    epoch = epoch_;
  }
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  if (any_ready() || stop_.load(std::memory_order_acquire)) {
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  // Sleep until woken, the next timer, or the back-off expires: a worker that sees nothing
  // to steal still looks again now and then (at most every 64 ms), so a single queued fiber
  // behind a fiber that never suspends is eventually taken by an idle worker.
  const Clock::time_point until = plan_sleep(w);
  bool woken;
  {
    MutexLock lock(idle_mu_);
    auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(idle_mu_) {
      return epoch_ != epoch || stop_.load(std::memory_order_acquire);
    };
    while (!wake() && idle_cv_.wait_until(lock, until) != std::cv_status::timeout) {
    }
    woken = wake();
  }
  w.sleep_until.store(Worker::kAwake, std::memory_order_relaxed);
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  if (woken) {
    w.idle_backoff = kMinBackoff;
    return;
  }
  w.idle_backoff = std::min(w.idle_backoff * 2, kMaxBackoff);
  watch_for_stall(w, Clock::now());
}

// A stall is a state of the whole scheduler, never of one worker: fibers are alive, none runs
// or is queued on any worker, none waits for a timer or a descriptor, and that has lasted
// stall_warning. Each idle worker watches for it on its own, whenever its sleep times out
// (every 1-64 ms while idle), through the workers' `activity` counters: one that is odd is
// running fibers, and a sum that changed since the last look means some worker started
// running one since (the counters only grow). Running workers pay one relaxed store per
// dispatch-loop pass (run_one) and never look. The warning needs two looks at least
// stall_warning apart that both saw the scheduler stalled, with the sum unchanged between
// them (so it stayed stalled): it may come up to one sleep late, never early.
void Scheduler::watch_for_stall(Worker& w, Clock::time_point now) noexcept {
  if (stall_warned_.load(std::memory_order_relaxed)) return;
  std::uint64_t sum = 0;
  bool running = false;
  for (int i = 0; i < n_; ++i) {
    const std::uint64_t a =
        workers_[static_cast<std::size_t>(i)].activity.load(std::memory_order_relaxed);
    running = running || (a & 1) != 0;
    sum += a;
  }
  const std::int64_t alive = this->alive();
  if (running || sum != w.seen_activity || alive <= 0 || any_ready() || poller_.waiting() ||
      has_timers_.load(std::memory_order_acquire)) {
    w.seen_activity = sum;
    w.quiet_since = Clock::time_point::max();
    return;
  }
  if (w.quiet_since == Clock::time_point::max()) {
    w.quiet_since = now;  // stalled since at most now
  } else if (now - w.quiet_since >= options_.stall_warning && !stall_warned_.exchange(true)) {
    common::warn_stall(kSchedulerName, static_cast<std::size_t>(alive), options_.stall_warning,
                       main_finished_.load(std::memory_order_acquire));
  }
}

void Scheduler::abandon_all() noexcept {
  for (int i = 0; i < n_; ++i) {
    Worker& w = workers_[static_cast<std::size_t>(i)];
    w.lock.lock();
    w.ready.clear();
    const auto queued = static_cast<std::ptrdiff_t>(w.size.load(std::memory_order_relaxed));
    (void)w.add_size(-queued);
    w.lock.unlock();
  }
  for (int i = 0; i < n_; ++i) {
    Worker& w = workers_[static_cast<std::size_t>(i)];
    // A late resume of a buried record must still find this scheduler (and stop_).
    w.records.abandon_all([this](Record*) noexcept { acquire(); });
  }
}

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  Worker& w0 = workers_[0];
  Record* main_record = new_record(w0, std::move(fiber), FiberMain(main));
  main_record_.store(main_record, std::memory_order_relaxed);
  push(w0, main_record, false);

  std::vector<std::thread> threads;
  std::exception_ptr start_error;
  try {
    threads.reserve(static_cast<std::size_t>(n_ - 1));
    for (int i = 1; i < n_; ++i) {
      threads.emplace_back([this, i] { worker_loop(workers_[static_cast<std::size_t>(i)]); });
    }
  } catch (...) {
    start_error = std::current_exception();
    set_fatal(start_error);
  }
  if (!start_error) worker_loop(w0);
  for (auto& t : threads) t.join();
  // Every worker has stopped: closes on other threads need not reach the poller any more.
  // Here, not in the destructor, which push_foreign's last reference may run inside a
  // close's forget call (picos/internal/reactor_registry.h).
  poller_.unregister();
  for (int i = 0; i < n_; ++i) drain_finished(workers_[static_cast<std::size_t>(i)]);
  if (std::exception_ptr fatal = fatal_.get()) {
    abandon_all();
    std::rethrow_exception(fatal);
  }
}

}  // namespace

int resolved_threads(const Options& options) {
  if (options.threads < 0) {
    throw std::invalid_argument("picos::mux::multififo: threads must not be negative");
  }
  if (options.threads > kMaxThreads) {
    throw std::invalid_argument("picos::mux::multififo: threads must be at most " +
                                std::to_string(kMaxThreads) + " (got " +
                                std::to_string(options.threads) + ")");
  }
  if (options.threads > 0) return options.threads;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min(n, static_cast<unsigned>(kMaxThreads)));
}

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  if (options.idle_spin.count() < 0) {
    throw std::invalid_argument("picos::mux::multififo: idle_spin must not be negative");
  }
  common::start<Scheduler>(kSchedulerName, std::move(fiber), std::move(main), options,
                           resolved_threads(options));
}

}  // namespace picos::mux::multififo
