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

#include "mux/common/queue.h"
#include "mux/common/fiber_body.h"
#include "mux/context/abandon.h"
#include "picos/handler.h"
#include "picos/internal/epoll_poller.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/timer_heap.h"

namespace picos::mux::fifo {
namespace {

using internal::Clock;

class Scheduler;

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
  Record* next = nullptr;            // ready-queue link
  Record* prev_live = nullptr;  // the scheduler's list of live records
  Record* next_live = nullptr;
};

using Queue = common::Queue<Record>;

class Scheduler final : public Handler, public internal::RefCounted<Scheduler> {
 public:
  explicit Scheduler(const Options& o) : options_(o) {}
  ~Scheduler() {
    while (void* p = free_records_) {
      free_records_ = *static_cast<void**>(p);
      ::operator delete(p);
    }
  }

  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  // ---- Handler (called on a fiber's stack) --------------------------------------------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr reason) override;
  void yield() override;
  void spawn(FiberRef fiber, absl::AnyInvocable<void()> main) override;
  // io waits on this scheduler go to its own epoll set, polled by this loop.
  Reactor* reactor() noexcept override { return &poller_; }

  // Resume action of a suspended fiber: runs on whatever thread signals the trigger.
  static void resume(const Trigger& trigger, void* record, void* sched) noexcept;
  // Body of every fiber's context.
  static void entry(void* record) noexcept;

 private:
  Record* new_record(FiberRef fiber, absl::AnyInvocable<void()> main);
  // Records' memory is recycled through a free list (up to kMaxFreeRecords): a spawn-heavy
  // program then allocates one record per fiber alive at once, not one per spawn.
  static constexpr std::size_t kMaxFreeRecords = 4096;
  void* record_storage() {
    if (void* p = free_records_) {
      free_records_ = *static_cast<void**>(p);
      --free_count_;
      return p;
    }
    return ::operator new(sizeof(Record));
  }
  void recycle_storage(void* p) noexcept {
    if (free_count_ >= kMaxFreeRecords) {
      ::operator delete(p);
      return;
    }
    *static_cast<void**>(p) = free_records_;
    free_records_ = p;
    ++free_count_;
  }
  void destroy(Record* r) noexcept {
    r->~Record();
    recycle_storage(r);
  }
  // Makes `r` the running fiber (the scheduler's bookkeeping of a dispatch).
  void dispatch(Record* r) noexcept;
  // From the running fiber `self`: dispatches `next` and switches to it directly.
  void hand_over(Record* self, Record* next) noexcept {
    dispatch(next);
    self->ctx.switch_to(next->ctx);
  }
  // The next ready fiber, after letting remote wake-ups (always) and due timers (every 64th
  // dispatch) in; nullptr if none.
  Record* next_ready();
  // On the running fiber, which is already queued or parked on a trigger: hands the thread to
  // the next ready fiber directly (no-op if that is the caller itself), or, with none ready
  // or a fatal error pending, goes back to the loop. Returns when the caller runs again.
  void transfer() noexcept;
  void spend_quota();
  void run_one(Record* r);
  void finished(Record* r);
  bool fire_timers();
  bool take_remote();
  void idle();
  void push_remote(Record* r, bool front) noexcept;
  bool main_finished() const noexcept { return main_record_ == nullptr; }
  void unlink_live(Record* r) noexcept {
    if (r->prev_live) {
      r->prev_live->next_live = r->next_live;
    } else {
      live_ = r->next_live;
    }
    if (r->next_live) r->next_live->prev_live = r->prev_live;
  }
  void abandon_all();

  const Options options_;
  Queue ready_;
  internal::TimerHeap timers_;
  std::size_t alive_ = 0;
  int remaining_quota_ = 0;
  std::uint32_t dispatches_ = 0;
  Record* current_ = nullptr;
  Record* main_record_ = nullptr;
  Record* live_ = nullptr;  // every record not finished
  bool stall_warned_ = false;
  std::exception_ptr fatal_;
  std::vector<internal::TimerHeap::EntryRef> due_;
  // Descriptors waited on by our fibers (io). io::close from any thread reaches it through
  // the reactor registry; the waiter's resume action then takes the remote path (push_remote
  // wakes a loop asleep in poll()).
  internal::EpollPoller poller_;
  void* free_records_ = nullptr;  // recycled Record storage, linked through its first word
  std::size_t free_count_ = 0;

  // Wake-ups from other threads.
  std::mutex remote_mu_;
  std::condition_variable remote_cv_;
  Queue remote_;                      // guarded by remote_mu_
  Queue remote_first_;                // canceled fibers, resumed before the rest
  bool sleeping_ = false;             // guarded by remote_mu_
  bool polling_ = false;              // guarded by remote_mu_: asleep in poller_, not remote_cv_
  bool stopped_ = false;              // guarded by remote_mu_
  std::atomic<bool> remote_pending_{false};
};

Record::Record(Scheduler* s, FiberRef f, absl::AnyInvocable<void()> m, std::size_t stack_size)
    : sched(s), fiber(std::move(f)), main(std::move(m)), ctx(&Scheduler::entry, this, stack_size) {}

Record* Scheduler::new_record(FiberRef fiber, absl::AnyInvocable<void()> main) {
  void* storage = record_storage();
  Record* r;
  try {
    r = new (storage) Record(this, std::move(fiber), std::move(main), options_.stack_size);
  } catch (...) {
    recycle_storage(storage);
    throw;
  }
  r->fiber->set_scheduler_data(r);
  // No reference per record: run_fiber holds one until every record is gone; only records
  // abandoned after a fatal error take their own (abandon_all).
  ++alive_;
  r->next_live = live_;
  if (live_) live_->prev_live = r;
  live_ = r;
  return r;
}

void Scheduler::entry(void* arg) noexcept {
  auto* r = static_cast<Record*>(arg);
  common::run_main(r->main, r->error);
}

void Scheduler::dispatch(Record* r) noexcept {
  remaining_quota_ = options_.quota;
  current_ = r;
  set_current_fiber(r->fiber.get());
}

Record* Scheduler::next_ready() {
  if (remote_pending_.load(std::memory_order_acquire)) (void)take_remote();
  if ((++dispatches_ & 63) == 0) {
    (void)fire_timers();
    if (poller_.waiting()) (void)poller_.poll(0);  // IO is not starved by busy fibers
  }
  return ready_.pop();
}

void Scheduler::transfer() noexcept {
  Record* self = current_;
  Record* next = fatal_ ? nullptr : next_ready();
  if (next == self) {
    remaining_quota_ = options_.quota;
    return;
  }
  if (next == nullptr) {
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
  if (self->suspend_error) return std::exchange(self->suspend_error, nullptr);
  return self->fiber->canceled();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr reason) {
  current_->fiber->check();
  (void)timers_.add(c, internal::deadline_after(Clock::now(), delay), std::move(reason));
  spend_quota();
}

void Scheduler::yield() {
  current_->fiber->check();
  ready_.push_back(current_);
  transfer();
  current_->fiber->check();
}

void Scheduler::spawn(FiberRef fiber, absl::AnyInvocable<void()> main) {
  current_->fiber->check();
  Record* child = new_record(std::move(fiber), std::move(main));
  if (options_.child_first && !fatal_ && common::may_switch_now()) {
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
  auto* r = static_cast<Record*>(record);
  auto* s = static_cast<Scheduler*>(sched);
  bool front = !r->fiber->unsuspend(trigger);  // canceled: resume it first
  if (installed_handler() == s) {
    // On the scheduler's own thread (a fiber or the scheduler loop signaled it).
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
  if (stopped_) return;  // abandoned after a fatal error: keep the record, do nothing
  if (front) {
    remote_first_.push_back(r);
  } else {
    remote_.push_back(r);
  }
  remote_pending_.store(true, std::memory_order_release);
  if (sleeping_) {
    if (polling_) {
      poller_.wake();
    } else {
      remote_cv_.notify_one();
    }
  }
}

// ---- the loop ------------------------------------------------------------------------

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  HandlerScope scope(*this, fiber.get());
  main_record_ = new_record(std::move(fiber), std::move(main));
  ready_.push_back(main_record_);
  while (!fatal_) {
    // Let wake-ups from other threads and due timers in regularly, not only when idle.
    if (Record* r = next_ready()) {
      run_one(r);
      continue;
    }
    if (fire_timers() || take_remote()) continue;
    if (alive_ == 0) break;
    idle();
  }
  {
    std::lock_guard<std::mutex> lock(remote_mu_);
    stopped_ = true;
  }
  // No fiber waits on the poller any more (or, after a fatal error, none will run again):
  // closes on other threads need not reach it. Here, not in the destructor, which must not
  // run inside a close's forget call (picos/internal/reactor_registry.h).
  poller_.unregister();
  if (fatal_) {
    abandon_all();
    std::rethrow_exception(fatal_);
  }
}

void Scheduler::abandon_all() {
  // Fibers that never started hold no stack and no trigger refers to them: free them.
  // Started ones may be referenced by triggers and hold objects on their stacks: bury them,
  // keeping their reference to this scheduler so a late resume finds `stopped_`.
  while (Record* r = live_) {
    unlink_live(r);
    --alive_;
    if (!r->ctx.started()) {
      r->fiber->set_scheduler_data(nullptr);
      destroy(r);
    } else {
      acquire();  // a late resume of the buried record must still find this scheduler
      context::keep_abandoned(r, r->ctx);
    }
  }
}

void Scheduler::run_one(Record* r) {
  dispatch(r);
  // Fibers may hand the thread to each other (transfer); whichever suspends to the loop or
  // finishes comes back here.
  context::Context::Outcome o = r->ctx.run();
  current_ = nullptr;
  if (o.finished) {
    finished(static_cast<Record*>(o.context->arg()));
  } else {
    set_current_fiber(nullptr);
  }
}

void Scheduler::finished(Record* r) {
  if (r->error) fatal_ = common::fatal_outcome(options_.fatal_exn_handler, r->error);
  --alive_;
  if (r == main_record_) main_record_ = nullptr;
  unlink_live(r);
  set_current_fiber(nullptr);  // the fiber may die with its record
  r->fiber->set_scheduler_data(nullptr);
  destroy(r);
}

bool Scheduler::fire_timers() {
  if (timers_.size() == 0) return false;
  due_.clear();
  timers_.pop_due(Clock::now(), due_);
  for (auto& e : due_) e->fire();  // resume actions push onto ready_
  bool any = !due_.empty();
  due_.clear();
  return any;
}

bool Scheduler::take_remote() {
  if (!remote_pending_.load(std::memory_order_acquire)) return false;
  Queue first, rest;
  {
    std::lock_guard<std::mutex> lock(remote_mu_);
    first.splice_back(remote_first_);
    rest.splice_back(remote_);
    remote_pending_.store(false, std::memory_order_relaxed);
  }
  bool any = !first.empty() || !rest.empty();
  ready_.splice_back(rest);
  first.splice_back(ready_);  // canceled fibers go ahead of everything already ready
  ready_.splice_back(first);
  return any;
}

void Scheduler::idle() {
  std::optional<Clock::time_point> next = timers_.next_deadline();
  if (poller_.waiting()) {
    // Fibers wait for descriptors: sleep in epoll until one is ready, the next timer is due,
    // or another thread wakes a fiber (poller_.wake()). No stall warning: waiting for the
    // network is normal.
    long long timeout_ns = -1;
    if (next && *next != Clock::time_point::max()) {
      timeout_ns = std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Clock::now()).count());
    }
    {
      std::lock_guard<std::mutex> lock(remote_mu_);
      if (!remote_.empty() || !remote_first_.empty()) return;
      sleeping_ = polling_ = true;
    }
    (void)poller_.poll(timeout_ns);
    std::lock_guard<std::mutex> lock(remote_mu_);
    sleeping_ = polling_ = false;
    return;
  }
  if (options_.idle_spin.count() > 0) {
    // Poll briefly before sleeping: a wake-up from another thread is often microseconds away.
    Clock::time_point until = Clock::now() + options_.idle_spin;
    if (next && *next < until) until = *next;
    for (int i = 1;; ++i) {
      if (remote_pending_.load(std::memory_order_acquire)) return;
      if (i % 64 == 0 && Clock::now() >= until) break;
      internal::cpu_relax();
    }
  }
  std::unique_lock<std::mutex> lock(remote_mu_);
  if (!remote_.empty() || !remote_first_.empty()) return;
  sleeping_ = true;
  if (next && *next != Clock::time_point::max()) {
    remote_cv_.wait_until(lock, *next);
  } else if (!stall_warned_) {
    if (!remote_cv_.wait_for(lock, options_.stall_warning, [this] { return !remote_.empty() || !remote_first_.empty(); })) {
      std::fprintf(stderr,
                   "picos::mux::fifo: %zu fiber(s) have been blocked for %.3f s with no timer "
                   "pending (main %s); waiting for another thread to wake them\n",
                   alive_, std::chrono::duration<double>(options_.stall_warning).count(),
                   main_finished() ? "has finished" : "is among them");
      stall_warned_ = true;
    }
  } else {
    remote_cv_.wait(lock, [this] { return !remote_.empty() || !remote_first_.empty(); });
  }
  sleeping_ = false;
}

}  // namespace

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  options.validate("picos::mux::fifo");
  if (options.idle_spin.count() < 0) {
    throw std::invalid_argument("picos::mux::fifo: idle_spin must not be negative");
  }
  check_run_fiber("picos::mux::fifo", fiber, main);
  internal::Ref<Scheduler> s = internal::Ref<Scheduler>::adopt(new Scheduler(options));
  s->run(std::move(fiber), std::move(main));
}

}  // namespace picos::mux::fifo
