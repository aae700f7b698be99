// Copyright 2026 The Picos for C++ Authors.
//
// Structure follows mux/fifo/fifo.cc: a record per fiber with its context, the fiber's
// handler calls record a pending operation and switch to the scheduler's stack, which then
// calls Fiber::try_suspend; resume actions push locally (on the loop thread, inside one of
// our callbacks) or onto the remote queue. The scheduler's "stack" is the libevent callback
// of `wake_`, an event that is never added, only activated (event_active) whenever there is
// something to run: a remote wake-up or spawn, a due timer (`timer_`), a ready fd, or a batch
// cut short by the budget (`yield_`, a zero timeout, so that the loop polls in between).
// Never event_del `wake_`: that would also cancel an activation another thread has just
// made, and the wake-up would be lost (the remote queue only activates on its first push).
// `keepalive_`, a timer of `stall_warning` kept pending while fibers are alive, is what keeps
// event_base_dispatch from returning then; its callback is the stall check.

#include "mux/libevent/libevent.h"

#include <event2/thread.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mux/common/fiber_body.h"
#include "mux/common/queue.h"
#include "mux/context/abandon.h"
#include "picos/handler.h"
#include "picos/internal/reactor_registry.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/timer_heap.h"
#include "picos/reactor.h"

namespace picos::mux::libevent {

using internal::Clock;

namespace {

// Per-fiber record: the fiber, its main and its stackful context. Owned by the scheduler
// from spawn until the fiber finishes.
struct Record {
  Record(Scheduler* s, FiberRef f, absl::AnyInvocable<void()> m, std::size_t stack_size);

  Scheduler* sched;
  FiberRef fiber;
  absl::AnyInvocable<void()> main;
  context::Context ctx;
  std::exception_ptr error;          // what escaped main
  std::exception_ptr suspend_error;  // why try_suspend failed, returned by await
  Record* next = nullptr;            // ready/remote queue link
  Record* prev_live = nullptr;       // the scheduler's list of live records
  Record* next_live = nullptr;
};

using Queue = common::Queue<Record>;

// One await_fd in progress; lives on the waiting fiber's stack.
struct FdWait {
  Scheduler* sched;
  Trigger trigger;
  event* ev = nullptr;
  short ready = 0;
  FdWait* prev = nullptr;  // the scheduler's list of fd waits
  FdWait* next = nullptr;
};

enum class Pending { kNone, kYield, kAwait };

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

void validate(const Options& o) {
  o.validate("picos::mux::libevent");
  if (o.budget <= 0) throw std::invalid_argument("picos::mux::libevent: budget must be positive");
}

}  // namespace

class Scheduler final : public Handler, public Reactor, public internal::RefCounted<Scheduler> {
 public:
  // Creates the internal events on `base`. Throws std::runtime_error if libevent fails.
  Scheduler(event_base* base, const Options& o);
  ~Scheduler() override;

  event_base* base() const noexcept { return base_; }
  std::size_t alive() const noexcept { return alive_; }
  const std::exception_ptr& fatal() const noexcept { return fatal_; }

  // Any thread: queues a new fiber (see Attachment::spawn).
  void spawn_from_outside(FiberRef fiber, absl::AnyInvocable<void()> main);
  // Loop thread, loop not running: registers run_fiber's main fiber.
  void start_main(FiberRef fiber, absl::AnyInvocable<void()> main);
  // Loop thread: stops (if not yet), then frees every event of ours. Idempotent.
  void detach() noexcept;

  short await_fd(int fd, short events);

  // ---- Handler (called on a fiber's stack) --------------------------------------------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr reason) override;
  void yield() override;
  void spawn(FiberRef fiber, absl::AnyInvocable<void()> main) override;
  Reactor* reactor() noexcept override { return this; }

  // ---- Reactor (picos/reactor.h) ------------------------------------------------------
  // One one-shot libevent event per interest, like await_fd, on a list per descriptor
  // (io_fds_). reactor_data: [0] the event, [1] this scheduler, [2]/[3] the links of the
  // descriptor's list. add and remove are called by our fibers (loop thread); forget from
  // any thread (io::close reaches us through the reactor registry): it looks at `fd`'s list
  // only, under io_mu_, deletes the events without waiting for a callback in progress
  // (event_del_noblock) and signals outside the lock; a woken fiber then takes the remote
  // path (push_remote activates wake_, which wakes the loop).
  void add(FdInterest& w) override;
  void remove(FdInterest& w) noexcept override;
  void forget(int fd) noexcept override;

 private:
  // Resume action of a suspended fiber: runs on whatever thread signals the trigger.
  static void resume(const Trigger& trigger, void* record, void* sched) noexcept;
  // libevent callbacks.
  static void on_wake_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_keepalive_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_timer_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_yield_cb(evutil_socket_t, short, void* self) noexcept;
  static void on_fd_cb(evutil_socket_t, short what, void* wait) noexcept;
  static void on_interest_cb(evutil_socket_t, short what, void* interest) noexcept;

  void on_wake() noexcept;
  void on_keepalive() noexcept;
  void activate() noexcept { event_active(wake_, 0, 0); }
  void register_record(Record* r) noexcept;
  void switch_out(Pending p) noexcept;
  void spend_quota();
  void run_one(Record* r) noexcept;
  bool try_suspend(Record* r) noexcept;
  void finished(Record* r) noexcept;
  void fire_timers() noexcept;
  void take_remote() noexcept;
  void push_remote(Record* r, bool front) noexcept;
  void rearm_timer() noexcept;
  bool stalled() noexcept;
  void stop() noexcept;
  void abandon_all() noexcept;
  // Calls fn(event*) for every reactor interest's event still allocated. Takes io_mu_.
  template <typename Fn>
  void for_each_interest_event(Fn fn) noexcept;
  void unlink_live(Record* r) noexcept {
    if (r->prev_live) {
      r->prev_live->next_live = r->next_live;
    } else {
      live_ = r->next_live;
    }
    if (r->next_live) r->next_live->prev_live = r->prev_live;
  }

  event_base* const base_;
  const Options options_;
  const timeval stall_tv_;
  event* wake_ = nullptr;
  event* keepalive_ = nullptr;
  event* timer_ = nullptr;
  event* yield_ = nullptr;

  // Loop-thread state.
  Queue ready_;
  internal::TimerHeap timers_;
  Clock::time_point armed_ = Clock::time_point::max();  // deadline timer_ is armed for
  std::size_t alive_ = 0;
  int remaining_quota_ = 0;
  Record* current_ = nullptr;
  Pending pending_ = Pending::kNone;
  const Trigger* pending_trigger_ = nullptr;
  Record* main_record_ = nullptr;  // run_fiber's main, until it finishes
  bool has_main_ = false;          // started by run_fiber (for the stall message)
  Record* live_ = nullptr;         // every registered record not finished
  FdWait* fd_waits_ = nullptr;     // every await_fd in progress (or abandoned)
  std::size_t fd_wait_count_ = 0;  // await_fd calls and reactor interests in progress
  bool stall_warned_ = false;
  bool keepalive_armed_ = false;
  std::uint64_t batches_ = 0;           // on_wake calls
  std::uint64_t batches_at_check_ = 0;  // batches_ when keepalive_ was last armed
  bool stopped_ = false;
  bool detached_ = false;
  std::exception_ptr fatal_;
  std::vector<internal::TimerHeap::EntryRef> due_;

  // Wake-ups and spawns from outside our callbacks.
  std::mutex remote_mu_;
  Queue remote_;                 // guarded by remote_mu_
  Queue remote_first_;           // canceled fibers, resumed before the rest; same guard
  Queue remote_spawn_;           // new fibers, not registered yet; same guard
  bool remote_stopped_ = false;  // guarded by remote_mu_
  std::atomic<bool> remote_pending_{false};

  // Reactor interests: added and removed on the loop thread, forgotten from any thread.
  std::mutex io_mu_;                 // before libevent's base lock (event_add/del inside)
  std::vector<FdInterest*> io_fds_;  // guarded by io_mu_: per-fd list heads, by fd number
  internal::ReactorRegistration registration_;  // enrolled at the first add, left in detach
};

namespace {

// Body of every fiber's context.
void record_entry(void* arg) noexcept {
  auto* r = static_cast<Record*>(arg);
  common::run_main(r->main, r->error);
}

Record::Record(Scheduler* s, FiberRef f, absl::AnyInvocable<void()> m, std::size_t stack_size)
    : sched(s), fiber(std::move(f)), main(std::move(m)), ctx(&record_entry, this, stack_size) {}

}  // namespace

// ---- setup and teardown -------------------------------------------------------------------

void use_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (evthread_use_pthreads() != 0) {
      std::fprintf(stderr, "picos::mux::libevent: evthread_use_pthreads failed\n");
      std::abort();
    }
  });
}

Scheduler::Scheduler(event_base* base, const Options& o)
    : base_(base), options_(o), stall_tv_(to_timeval(o.stall_warning)) {
  wake_ = event_new(base_, -1, EV_PERSIST, &Scheduler::on_wake_cb, this);
  keepalive_ = evtimer_new(base_, &Scheduler::on_keepalive_cb, this);
  timer_ = evtimer_new(base_, &Scheduler::on_timer_cb, this);
  yield_ = evtimer_new(base_, &Scheduler::on_yield_cb, this);
  if (!wake_ || !keepalive_ || !timer_ || !yield_) {
    detach();
    throw std::runtime_error("picos::mux::libevent: cannot create libevent events");
  }
}

Scheduler::~Scheduler() { detach(); }

template <typename Fn>
void Scheduler::for_each_interest_event(Fn fn) noexcept {
  std::lock_guard<std::mutex> lock(io_mu_);
  for (FdInterest* head : io_fds_) {
    for (FdInterest* w = head; w; w = static_cast<FdInterest*>(w->reactor_data[3])) {
      if (w->reactor_data[0]) fn(w->reactor_data[0]);
    }
  }
}

void Scheduler::detach() noexcept {
  if (detached_) return;
  // First: io::close on other threads must not reach us once our events go. Waits for such
  // a call in progress (never one of ours: detach does not run inside a resume action).
  registration_.withdraw();
  stop();
  detached_ = true;
  // Abandoned fibers may still be in await_fd: their FdWaits stay on their kept stacks.
  for (FdWait* w = fd_waits_; w; w = w->next) {
    if (w->ev) event_free(std::exchange(w->ev, nullptr));
  }
  for_each_interest_event(
      [](void*& ev) { event_free(static_cast<event*>(std::exchange(ev, nullptr))); });
  for (event** e : {&wake_, &keepalive_, &timer_, &yield_}) {
    if (*e) event_free(std::exchange(*e, nullptr));
  }
}

void Scheduler::stop() noexcept {
  if (stopped_) return;
  stopped_ = true;
  Queue spawns;
  {
    std::lock_guard<std::mutex> lock(remote_mu_);
    remote_stopped_ = true;
    spawns.splice_back(remote_spawn_);
    Queue drop;  // resumed records: still on the live list, abandoned below
    drop.splice_back(remote_first_);
    drop.splice_back(remote_);
    remote_pending_.store(false, std::memory_order_relaxed);
  }
  while (Record* r = spawns.pop()) {  // never started, nobody refers to them
    delete r;
    release();  // never the last reference: the attachment or run_fiber holds one
  }
  while (ready_.pop() != nullptr) {
  }
  abandon_all();
  for (FdWait* w = fd_waits_; w; w = w->next) {
    if (w->ev) event_del(w->ev);
  }
  for_each_interest_event([](void*& ev) { event_del(static_cast<event*>(ev)); });
  for (event* e : {wake_, keepalive_, timer_, yield_}) {
    if (e) event_del(e);
  }
  keepalive_armed_ = false;
  armed_ = Clock::time_point::max();
}

void Scheduler::abandon_all() noexcept {
  // As in fifo: fibers that never started hold no stack and no trigger refers to them, so
  // they are freed; started ones are buried, keeping their reference to this scheduler so a
  // late resume finds `remote_stopped_`.
  while (Record* r = live_) {
    unlink_live(r);
    --alive_;
    if (!r->ctx.started()) {
      r->fiber->set_scheduler_data(nullptr);
      delete r;
      release();
    } else {
      context::keep_abandoned(r, r->ctx);
    }
  }
  main_record_ = nullptr;
}

// ---- records -------------------------------------------------------------------------------

void Scheduler::register_record(Record* r) noexcept {
  r->fiber->set_scheduler_data(r);
  ++alive_;
  r->prev_live = nullptr;
  r->next_live = live_;
  if (live_) live_->prev_live = r;
  live_ = r;
}

void Scheduler::spawn_from_outside(FiberRef fiber, absl::AnyInvocable<void()> main) {
  auto* r = new Record(this, std::move(fiber), std::move(main), options_.stack_size);
  acquire();  // every record keeps the scheduler's state alive
  {
    std::lock_guard<std::mutex> lock(remote_mu_);
    if (!remote_stopped_) {
      bool was_empty = remote_.empty() && remote_first_.empty() && remote_spawn_.empty();
      remote_spawn_.push_back(r);
      remote_pending_.store(true, std::memory_order_release);
      // Under the lock: the events are not freed meanwhile (detach stops first).
      if (was_empty) activate();
      return;
    }
  }
  delete r;
  release();
  throw std::logic_error("picos::mux::libevent: the scheduler has stopped after a fatal error");
}

void Scheduler::start_main(FiberRef fiber, absl::AnyInvocable<void()> main) {
  auto* r = new Record(this, std::move(fiber), std::move(main), options_.stack_size);
  acquire();
  register_record(r);
  main_record_ = r;
  has_main_ = true;
  ready_.push_back(r);
  activate();
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
  pending_trigger_ = &trigger;
  switch_out(Pending::kAwait);
  if (self->suspend_error) return std::exchange(self->suspend_error, nullptr);
  return self->fiber->canceled();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr reason) {
  current_->fiber->check();
  (void)timers_.add(c, internal::deadline_after(Clock::now(), delay), std::move(reason));
  spend_quota();  // timer_ is re-armed at the end of the batch
}

void Scheduler::yield() {
  current_->fiber->check();
  switch_out(Pending::kYield);
  current_->fiber->check();
}

void Scheduler::spawn(FiberRef fiber, absl::AnyInvocable<void()> main) {
  current_->fiber->check();
  auto* r = new Record(this, std::move(fiber), std::move(main), options_.stack_size);
  acquire();
  register_record(r);
  ready_.push_back(r);
  spend_quota();
}

void Scheduler::resume(const Trigger& trigger, void* record, void* sched) noexcept {
  auto* r = static_cast<Record*>(record);
  auto* s = static_cast<Scheduler*>(sched);
  bool front = !r->fiber->unsuspend(trigger);  // canceled: resume it first
  if (installed_handler() == s) {
    // On the loop thread inside one of our callbacks (a fiber, a timer or an fd event):
    // whoever installed the handler runs the batch or activates wake_.
    if (front) {
      s->ready_.push_front(r);
    } else {
      s->ready_.push_back(r);
    }
  } else {
    s->push_remote(r, front);
  }
}

void Scheduler::push_remote(Record* r, bool front) noexcept {
  std::lock_guard<std::mutex> lock(remote_mu_);
  if (remote_stopped_) return;  // abandoned: keep the record, do nothing
  bool was_empty = remote_.empty() && remote_first_.empty() && remote_spawn_.empty();
  if (front) {
    remote_first_.push_back(r);
  } else {
    remote_.push_back(r);
  }
  remote_pending_.store(true, std::memory_order_release);
  // An activation is outstanding whenever the queues are not empty (the callback drains
  // them all), so only the first push after a drain needs one. Under the lock, so that
  // detach cannot free wake_ meanwhile.
  if (was_empty) activate();
}

// ---- the loop ------------------------------------------------------------------------------

void Scheduler::on_wake_cb(evutil_socket_t, short, void* self) noexcept {
  static_cast<Scheduler*>(self)->on_wake();
}

void Scheduler::on_keepalive_cb(evutil_socket_t, short, void* self) noexcept {
  static_cast<Scheduler*>(self)->on_keepalive();
}

void Scheduler::on_timer_cb(evutil_socket_t, short, void* self) noexcept {
  auto* s = static_cast<Scheduler*>(self);
  s->armed_ = Clock::time_point::max();  // a one-shot timer: no longer pending
  s->activate();                         // the batch fires what is due
}

void Scheduler::on_yield_cb(evutil_socket_t, short, void* self) noexcept {
  static_cast<Scheduler*>(self)->activate();
}

void Scheduler::on_fd_cb(evutil_socket_t, short what, void* wait) noexcept {
  auto* w = static_cast<FdWait*>(wait);
  Scheduler* s = w->sched;
  w->ready = what;
  {
    // The fiber goes onto ready_ directly; it runs in the batch activated below, so `w`
    // (on its stack) is not touched after the signal.
    HandlerScope scope(*s, nullptr);
    w->trigger.signal();
  }
  s->activate();
}

void Scheduler::on_wake() noexcept {
  if (stopped_) return;
  ++batches_;
  {
    HandlerScope scope(*this, nullptr);
    take_remote();
    fire_timers();
    int n = 0;
    while (!fatal_) {
      if (remote_pending_.load(std::memory_order_acquire)) take_remote();
      Record* r = ready_.pop();
      if (!r) break;
      run_one(r);
      if (++n >= options_.budget) break;
    }
  }
  if (fatal_) {
    stop();
    event_base_loopbreak(base_);
    return;
  }
  // Still ready after the budget: a zero timeout lets the loop poll before the next batch.
  if (!ready_.empty()) event_add(yield_, &kZero);
  rearm_timer();
  if (alive_ == 0) {
    if (keepalive_armed_) {
      event_del(keepalive_);
      keepalive_armed_ = false;
    }
  } else if (!keepalive_armed_) {
    event_add(keepalive_, &stall_tv_);
    keepalive_armed_ = true;
    batches_at_check_ = batches_;
  }
}

void Scheduler::on_keepalive() noexcept {
  keepalive_armed_ = false;  // a one-shot timer: no longer pending
  if (stopped_ || alive_ == 0) return;
  // No batch for a whole period: nothing changed since the last one, so if every fiber is
  // blocked with nothing pending now, it has been so for at least stall_warning.
  if (!stall_warned_ && batches_ == batches_at_check_ && stalled()) {
    std::fprintf(stderr,
                 "picos::mux::libevent: %zu fiber(s) have been blocked for %.3f s with no timer "
                 "or fd event pending%s; waiting for another thread to wake them\n",
                 alive_, std::chrono::duration<double>(options_.stall_warning).count(),
                 !has_main_     ? ""
                 : main_record_ ? " (main is among them)"
                                : " (main has finished)");
    stall_warned_ = true;
  }
  event_add(keepalive_, &stall_tv_);
  keepalive_armed_ = true;
  batches_at_check_ = batches_;
}

bool Scheduler::stalled() noexcept {
  if (!ready_.empty() || fd_wait_count_ != 0) return false;
  if (remote_pending_.load(std::memory_order_acquire)) return false;
  std::optional<Clock::time_point> next = timers_.next_deadline();
  return !next || *next == Clock::time_point::max();
}

void Scheduler::run_one(Record* r) noexcept {
  remaining_quota_ = options_.quota;
  current_ = r;
  set_current_fiber(r->fiber.get());
  for (;;) {
    if (r->ctx.resume()) {
      finished(r);
      return;
    }
    if (pending_ == Pending::kAwait && !try_suspend(r)) {
      // Already signaled, or the fiber is canceled: it goes on, now or after the others.
      if (--remaining_quota_ > 0) continue;
      ready_.push_back(r);
    } else if (pending_ == Pending::kYield) {
      ready_.push_back(r);
    }
    return;
  }
}

bool Scheduler::try_suspend(Record* r) noexcept {
  return common::try_suspend(*r->fiber, *pending_trigger_, r, this, &Scheduler::resume,
                             r->suspend_error);
}

void Scheduler::finished(Record* r) noexcept {
  if (r->error) fatal_ = common::fatal_outcome(options_.fatal_exn_handler, r->error);
  --alive_;
  if (r == main_record_) main_record_ = nullptr;
  unlink_live(r);
  set_current_fiber(nullptr);  // the fiber may die with its record
  r->fiber->set_scheduler_data(nullptr);
  delete r;
  release();  // never the last reference: the attachment or run_fiber holds one
}

void Scheduler::fire_timers() noexcept {
  if (timers_.size() == 0) return;
  due_.clear();
  timers_.pop_due(Clock::now(), due_);
  for (auto& e : due_) e->fire();  // resume actions push onto ready_
  due_.clear();
}

void Scheduler::rearm_timer() noexcept {
  std::optional<Clock::time_point> next = timers_.next_deadline();
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

void Scheduler::take_remote() noexcept {
  if (!remote_pending_.load(std::memory_order_acquire)) return;
  Queue first, rest, spawns;
  {
    std::lock_guard<std::mutex> lock(remote_mu_);
    first.splice_back(remote_first_);
    rest.splice_back(remote_);
    spawns.splice_back(remote_spawn_);
    remote_pending_.store(false, std::memory_order_relaxed);
  }
  ready_.splice_back(rest);
  for (Record* r = spawns.pop(); r; r = spawns.pop()) {
    register_record(r);
    ready_.push_back(r);
  }
  first.splice_back(ready_);  // canceled fibers go ahead of everything already ready
  ready_.splice_back(first);
}

// ---- fd readiness --------------------------------------------------------------------------

short Scheduler::await_fd(int fd, short events) {
  Fiber::current().check();
  FdWait w{this, Trigger()};
  w.ev = event_new(base_, fd, events, &Scheduler::on_fd_cb, &w);
  if (!w.ev) throw std::bad_alloc();
  errno = 0;
  if (event_add(w.ev, nullptr) != 0) {
    int err = errno != 0 ? errno : EINVAL;
    event_free(w.ev);
    throw std::system_error(
        err, std::generic_category(),
        "picos::mux::libevent::await_fd: event_add(fd " + std::to_string(fd) + ")");
  }
  w.next = fd_waits_;
  if (fd_waits_) fd_waits_->prev = &w;
  fd_waits_ = &w;
  ++fd_wait_count_;

  std::exception_ptr reason = w.trigger.await();

  // Back on the loop thread. Freeing deletes the event if still pending or active.
  --fd_wait_count_;
  if (w.prev) {
    w.prev->next = w.next;
  } else {
    fd_waits_ = w.next;
  }
  if (w.next) w.next->prev = w.prev;
  event_free(w.ev);
  if (reason) std::rethrow_exception(reason);
  return w.ready;
}

// ---- Reactor --------------------------------------------------------------------------------

void Scheduler::add(FdInterest& w) {
  short what = 0;
  if (w.events & kFdRead) what |= EV_READ;
  if (w.events & kFdWrite) what |= EV_WRITE;
  if (what == 0) throw std::invalid_argument("picos::mux::libevent: interest in no event");
  if (w.fd < 0) {
    throw std::system_error(EBADF, std::generic_category(), "picos::mux::libevent: event_add");
  }
  registration_.enroll(*this);  // outside io_mu_: the registry's locks come before it
  event* ev = event_new(base_, w.fd, what, &Scheduler::on_interest_cb, &w);
  if (!ev) throw std::bad_alloc();
  {
    std::lock_guard<std::mutex> lock(io_mu_);
    try {
      const auto index = static_cast<std::size_t>(w.fd);
      if (index >= io_fds_.size()) io_fds_.resize(index + 1, nullptr);
      // Before the interest is linked: a forget_everywhere that sees the note finds it.
      registration_.note(w.fd);
    } catch (...) {
      event_free(ev);
      throw;
    }
    errno = 0;
    if (event_add(ev, nullptr) != 0) {
      int err = errno != 0 ? errno : EINVAL;
      event_free(ev);
      throw std::system_error(err, std::generic_category(),
                              "picos::mux::libevent: event_add(fd " + std::to_string(w.fd) + ")");
    }
    FdInterest*& head = io_fds_[static_cast<std::size_t>(w.fd)];
    w.reactor_data[0] = ev;
    w.reactor_data[1] = this;
    w.reactor_data[2] = nullptr;
    w.reactor_data[3] = head;
    if (head) head->reactor_data[2] = &w;
    head = &w;
  }
  ++fd_wait_count_;
}

void Scheduler::remove(FdInterest& w) noexcept {
  if (w.reactor_data[1] != this) return;  // written only by add and remove, on this thread
  event* ev;
  {
    std::lock_guard<std::mutex> lock(io_mu_);
    ev = static_cast<event*>(w.reactor_data[0]);
    auto* prev = static_cast<FdInterest*>(w.reactor_data[2]);
    auto* next = static_cast<FdInterest*>(w.reactor_data[3]);
    if (prev) {
      prev->reactor_data[3] = next;
    } else {
      io_fds_[static_cast<std::size_t>(w.fd)] = next;
    }
    if (next) next->reactor_data[2] = prev;
    for (void*& p : w.reactor_data) p = nullptr;
  }
  // Unlinked, so no forget touches the event any more. Freeing deletes it if still pending
  // or active: no callback comes later.
  if (ev) event_free(ev);
  --fd_wait_count_;
}

void Scheduler::forget(int fd) noexcept {
  std::vector<Trigger> wake;
  {
    std::lock_guard<std::mutex> lock(io_mu_);
    if (fd < 0 || static_cast<std::size_t>(fd) >= io_fds_.size()) return;
    for (FdInterest* w = io_fds_[static_cast<std::size_t>(fd)]; w;
         w = static_cast<FdInterest*>(w->reactor_data[3])) {
      if (w->outcome != FdInterest::kPending) continue;
      // No-block: on another thread, a plain event_del would wait for a callback of this
      // event in progress on the loop thread, which waits for io_mu_.
      if (w->reactor_data[0]) event_del_noblock(static_cast<event*>(w->reactor_data[0]));
      w->outcome = FdInterest::kClosed;
      try {
        wake.push_back(w->trigger);
      } catch (...) {
        w->trigger.signal();  // out of memory: under io_mu_ (a resume action only queues)
      }
    }
  }
  // On one of our fibers the resume actions push onto ready_; elsewhere they take the remote
  // path, whose activation of wake_ wakes the loop.
  for (auto& t : wake) t.signal();
}

void Scheduler::on_interest_cb(evutil_socket_t, short, void* interest) noexcept {
  auto* w = static_cast<FdInterest*>(interest);
  auto* s = static_cast<Scheduler*>(w->reactor_data[1]);
  {
    // A forget on another thread may have completed it (kClosed) meanwhile; it is still
    // linked (only its fiber removes it, on this thread), so `w` is alive here.
    std::lock_guard<std::mutex> lock(s->io_mu_);
    if (w->outcome == FdInterest::kPending) w->outcome = FdInterest::kReady;
  }
  {
    // The fiber goes onto ready_ and runs in the batch activated below, so `w` (on its
    // stack) is not touched after the signal.
    HandlerScope scope(*s, nullptr);
    w->trigger.signal();
  }
  s->activate();
}

// ---- public API ----------------------------------------------------------------------------

short await_fd(int fd, short events) {
  auto* s = dynamic_cast<Scheduler*>(installed_handler());
  if (!s) {
    throw std::logic_error(
        "picos::mux::libevent::await_fd: the caller is not a fiber running on a libevent "
        "scheduler");
  }
  events &= EV_READ | EV_WRITE;
  if (events == 0) {
    throw std::invalid_argument(
        "picos::mux::libevent::await_fd: events must hold EV_READ or EV_WRITE");
  }
  return s->await_fd(fd, events);
}

event_base* current_base() noexcept {
  auto* s = dynamic_cast<Scheduler*>(installed_handler());
  return s ? s->base() : nullptr;
}

Attachment::Attachment(event_base* base, const Options& options) : base_(base), s_(nullptr) {
  if (!base) throw std::invalid_argument("picos::mux::libevent::Attachment: null event_base");
  validate(options);
  use_threads();
  s_ = new Scheduler(base, options);
}

Attachment::~Attachment() {
  if (installed_handler() == s_) {
    std::fprintf(stderr,
                 "picos::mux::libevent: an Attachment was destroyed from one of its own fibers "
                 "(or callbacks)\n");
    std::abort();
  }
  s_->detach();
  s_->release();
}

void Attachment::spawn(FiberRef fiber, absl::AnyInvocable<void()> main) {
  if (!fiber) throw std::invalid_argument("picos::mux::libevent::Attachment::spawn: null fiber");
  if (!main) throw std::invalid_argument("picos::mux::libevent::Attachment::spawn: empty main");
  if (installed_handler() == s_) {
    Fiber::spawn(std::move(fiber), std::move(main));  // one of our fibers: the Handler path
  } else {
    s_->spawn_from_outside(std::move(fiber), std::move(main));
  }
}

void Attachment::spawn(absl::AnyInvocable<void()> main) {
  spawn(Fiber::create(PackedComputation()), std::move(main));
}

std::size_t Attachment::live_fibers() const noexcept { return s_->alive(); }

std::exception_ptr Attachment::failure() const noexcept { return s_->fatal(); }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  validate(options);
  check_run_fiber("picos::mux::libevent", fiber, main);
  use_threads();
  event_config* cfg = event_config_new();
  if (!cfg) throw std::bad_alloc();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (!base) throw std::runtime_error("picos::mux::libevent::run_fiber: event_base_new failed");
  struct BaseGuard {
    event_base* base;
    ~BaseGuard() { event_base_free(base); }
  } base_guard{base};
  // Declared after base_guard: detached (events freed) before the base is.
  struct SchedGuard {
    Scheduler* s;
    ~SchedGuard() {
      s->detach();
      s->release();
    }
  } sched{new Scheduler(base, options)};
  sched.s->start_main(std::move(fiber), std::move(main));
  while (sched.s->alive() > 0 && !sched.s->fatal()) {
    int rc = event_base_loop(base, EVLOOP_ONCE);
    if (rc < 0) throw std::runtime_error("picos::mux::libevent::run_fiber: event_base_loop failed");
    if (rc == 1 && sched.s->alive() > 0) {
      // Cannot happen: the keep-alive event is pending while fibers are alive.
      throw std::logic_error("picos::mux::libevent::run_fiber: no event pending for live fibers");
    }
  }
  if (sched.s->fatal()) std::rethrow_exception(sched.s->fatal());
}

}  // namespace picos::mux::libevent
