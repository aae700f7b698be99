// Copyright 2026 The Picos for C++ Authors.

#include "randos/randos.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "mux/common/fiber_body.h"
#include "mux/common/kernel.h"
#include "mux/context/abandon.h"
#include "picos/handler.h"
#include "picos/internal/mutex.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/timer_heap.h"
#include "poller/epoll_poller.h"

namespace picos::randos {
namespace {

using internal::Clock;
using internal::CondVar;
using internal::Mutex;
using internal::MutexLock;
namespace context = mux::context;

// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state, one add and a finaliser per number.
// Plenty for picking among ready fibers, and any seed (0 included) is a good one.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) for n > 0 (multiply-shift; the bias is below n / 2^64).
  std::size_t below(std::size_t n) noexcept {
    return static_cast<std::size_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  std::uint64_t state_;
};

class Scheduler;

// What a fiber asked for when it switched to the scheduler's stack. Kept in its record (not
// in per-thread state): the fiber may be resumed on another thread.
enum class Pending { kYield, kAwait };

// Per-fiber record: the fiber, its main and its stackful context. Owned by the scheduler
// from spawn until the fiber finishes.
struct Record : mux::common::FiberRecord {
  using FiberRecord::FiberRecord;
  Pending pending = Pending::kYield;
  const Trigger* pending_trigger = nullptr;  // kAwait: on the fiber's (suspended) stack
};

class Scheduler final : public Handler, public internal::RefCounted<Scheduler> {
 public:
  Scheduler(const Options& o, std::uint64_t seed) : options_(o), seed_(seed), records_(options_) {
    MutexLock lock(mu_);
    records_.set_debug_name(kSchedulerName);
    poller_.count_waits_in(&records_.counters().io_waits);
  }

  void run(FiberRef fiber, absl::AnyInvocable<void()> main);

  // ---- Handler (called on a fiber's stack, on any of the scheduler's threads) -----------
  std::exception_ptr await(const Trigger& trigger) noexcept override;
  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr&& reason) override;
  void yield() override;
  void spawn(FiberRef fiber, FiberMain main) override;
  // io waits go to the scheduler's own epoll set, which the loop polls: under the virtual
  // clock before time may jump (see randos.h).
  Reactor* reactor() noexcept override { return &poller_; }

  // Resume action of a suspended fiber: runs on whatever thread signals the trigger.
  static void resume(const Trigger& trigger, void* record, void* sched) noexcept;

 private:
  enum class Outcome { kRequeue, kSuspended, kFinished };
  // While fibers are ready, a thread looks at the poller (zero timeout) once every this many
  // dispatches, so that fibers waiting for IO are not starved by busy ones.
  static constexpr unsigned kPollEvery = 16;

  // The record of the fiber running on this thread, or null where no fiber of ours runs (the
  // loop's own code: a timer's action, the fatal handler). Read before switching out, never
  // after: the fiber may come back on another thread.
  static Record* running() noexcept {
    return static_cast<Record*>(Fiber::current().scheduler_data());
  }
  // The same, throwing std::logic_error naming `operation` where no fiber of ours runs.
  static Record* self(const char* operation) {
    Record* r = running();
    if (r == nullptr) [[unlikely]] {
      mux::common::throw_off_fiber(operation);
    }
    return r;
  }
  static void switch_out(Record* r, Pending p) noexcept {
    r->pending = p;
    r->ctx.suspend();
  }

  // A new record, queued; every live record keeps the scheduler alive. May throw (bad_alloc)
  // before changing anything.
  Record* new_record_locked(FiberRef fiber, FiberMain main) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void worker_loop(int index);
  // Polls poller_ with `timeout_ns` (0: just looks, negative: no limit) without holding mu_;
  // the poll counts as running (time does not jump meanwhile). Returns how many waits it
  // completed (their fibers are in ready_ by then). Requires !polling_; mu_ is held again on
  // return.
  int poll_io(long long timeout_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lets an idle thread take work that just became ready: one on cv_, else the one
  // blocked in poller_.
  void wake_one_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (sleepers_ > 0) {
      cv_.notify_one();
    } else if (poll_sleeping_) {
      poller_.wake();
    }
  }
  // Wakes every idle thread (to see fatal_ or that no fiber is alive).
  void wake_all_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    cv_.notify_all();
    if (poll_sleeping_) poller_.wake();
  }
  Outcome run_one(Record* r);
  Clock::time_point now_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return options_.virtual_clock ? vnow_ : Clock::now();
  }
  void abandon_all();
  void print_seed(const char* when) const;

  const Options options_;
  const std::uint64_t seed_;
  // Descriptors waited on by the fibers (io, through reactor()). Thread-safe by itself; one
  // thread at a time polls it (polling_). Its triggers are signaled after its own lock is
  // released, so resume actions, which take mu_, run on the polling thread or the closer's.
  internal::EpollPoller poller_;

  Mutex mu_;
  CondVar cv_;  // idle threads wait here
  mux::common::Records<Record> records_ ABSL_GUARDED_BY(mu_);
  // Capacity >= records_.alive(), so pushing never allocates.
  std::vector<Record*> ready_ ABSL_GUARDED_BY(mu_);
  internal::TimerHeap timers_ ABSL_GUARDED_BY(mu_);
  Clock::time_point vnow_ ABSL_GUARDED_BY(mu_){};  // the virtual clock
  int running_ ABSL_GUARDED_BY(mu_) = 0;           // threads running a fiber or firing timers
  int sleepers_ ABSL_GUARDED_BY(mu_) = 0;          // threads waiting on cv_
  // A thread is in poller_.poll (and counted in running_) ...
  bool polling_ ABSL_GUARDED_BY(mu_) = false;
  // Fiber runs ended (run_one returned), for a poll to tell whether its result may be stale.
  std::uint64_t runs_ended_ ABSL_GUARDED_BY(mu_) = 0;
  // ... with a timeout: wake it with poller_.wake().
  bool poll_sleeping_ ABSL_GUARDED_BY(mu_) = false;
  bool stall_warned_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // set once every thread has left the loop
  std::exception_ptr fatal_ ABSL_GUARDED_BY(mu_);
};

Record* Scheduler::new_record_locked(FiberRef fiber, FiberMain main) {
  ready_.reserve(std::max(ready_.capacity(), records_.alive() + 1));
  Record* r = records_.create(std::move(fiber), std::move(main));
  acquire();
  ready_.push_back(r);
  return r;
}

// ---- Handler -------------------------------------------------------------------------

std::exception_ptr Scheduler::await(const Trigger& trigger) noexcept {
  Record* r = running();  // (await returns its error: it never throws)
  if (r == nullptr) [[unlikely]] {
    return mux::common::off_fiber_error("picos::Trigger::await");
  }
  r->pending_trigger = &trigger;
  switch_out(r, Pending::kAwait);
  return r->fiber->canceled();
}

void Scheduler::cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                             std::exception_ptr&& reason) {
  Record* r = self("picos::PackedComputation::cancel_after");
  r->fiber->check();
  {
    MutexLock lock(mu_);
    const Clock::time_point deadline = internal::deadline_after(now_locked(), delay);
    // With the real clock, a thread asleep with no timer pending, or until a later one, must
    // plan its sleep again: the fiber that armed this timer may compute for long without
    // suspending, and then only a sleeping thread can fire it. (With the virtual clock time
    // moves only when every thread is idle; with one thread nobody sleeps meanwhile.)
    // may_precede looks at the heap's top alone (a dead top answers yes: one wake-up more).
    const bool earlier = !options_.virtual_clock && timers_.may_precede(deadline);
    if (timers_.add(c, deadline, std::move(reason)) && earlier) wake_one_locked();
    records_.counters().timers.bump();
  }
  switch_out(r, Pending::kYield);  // armed: no throwing from here on
}

void Scheduler::yield() {
  Record* r = self("picos::Fiber::yield");
  r->fiber->check();
  switch_out(r, Pending::kYield);
  r->fiber->check();
}

void Scheduler::spawn(FiberRef fiber, FiberMain main) {
  Record* r = self("picos::Fiber::spawn");
  r->fiber->check();
  {
    MutexLock lock(mu_);
    (void)new_record_locked(std::move(fiber), std::move(main));
    wake_one_locked();
  }
  switch_out(r, Pending::kYield);  // spawned: no throwing from here on
}

void Scheduler::resume(const Trigger& trigger, void* record, void* sched) noexcept {
  auto* r = static_cast<Record*>(record);
  auto* s = static_cast<Scheduler*>(sched);
  (void)r->fiber->unsuspend(trigger);  // a canceled fiber gets no priority
  MutexLock lock(s->mu_);
  if (s->stopped_) return;  // abandoned after a fatal error: keep the record, do nothing
  s->ready_.push_back(r);   // within capacity: does not allocate
  s->wake_one_locked();
}

// ---- the loop ------------------------------------------------------------------------

void Scheduler::print_seed(const char* when) const {
  if (!options_.print_seed) return;
  auto seed = static_cast<unsigned long long>(seed_);
  std::fprintf(stderr, "picos::randos: %sseed=%llu (replay with %s=%llu)\n", when, seed,
               kSeedEnvVar, seed);
}

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  // No current fiber here: run_one sets it around each fiber. (The main fiber may run on
  // another thread first; a timer's action here must not find it current.)
  HandlerScope scope(*this, nullptr);
  print_seed("");
  {
    MutexLock lock(mu_);
    records_.set_main(new_record_locked(std::move(fiber), FiberMain(main)));
  }
  std::vector<std::thread> workers;
  try {
    for (int i = 1; i < options_.threads; ++i) {
      workers.emplace_back([this, i] {
        HandlerScope worker_scope(*this, nullptr);
        worker_loop(i);
      });
    }
  } catch (...) {  // could not start a thread: stop as after a fatal error
    MutexLock lock(mu_);
    if (!fatal_) fatal_ = std::current_exception();
  }
  worker_loop(0);
  for (std::thread& t : workers) t.join();
  // No fiber waits on the poller any more (or, after a fatal error, none will run again):
  // closes on other threads need not reach it. Here, not in the destructor, which must not
  // run inside a close's forget call (picos/internal/reactor_registry.h).
  poller_.unregister();
  std::exception_ptr fatal;
  {
    MutexLock lock(mu_);
    stopped_ = true;
    fatal = fatal_;
  }
  if (fatal) {
    abandon_all();
    print_seed("stopped by a fatal error; ");
    std::rethrow_exception(fatal);
  }
}

void Scheduler::worker_loop(int index) {
  // Thread 0 draws from the seed itself; the others from seeds derived from it.
  Rng rng(seed_ + static_cast<std::uint64_t>(index) * 0xD1B54A32D192ED03ull);
  std::vector<internal::TimerHeap::Entry> due;
  unsigned since_poll = 0;  // dispatches since this thread last looked at the poller
  MutexLock lock(mu_);
  while (!fatal_ && records_.alive() > 0) {
    if (timers_.size() != 0) {
      timers_.pop_due(now_locked(), due);
      if (!due.empty()) {
        ++running_;
        lock.unlock();
        for (auto& e : due) e.fire();  // resume actions take mu_
        due.clear();
        lock.lock();
        --running_;
        continue;
      }
    }
    if (!ready_.empty()) {
      if (++since_poll >= kPollEvery && !polling_ && poller_.waiting()) {
        since_poll = 0;
        (void)poll_io(0);  // busy fibers do not starve the ones waiting for IO
        continue;
      }
      std::size_t i = rng.below(ready_.size());
      Record* r = ready_[i];
      ready_[i] = ready_.back();
      ready_.pop_back();
      if (options_.virtual_clock) vnow_ = internal::deadline_after(vnow_, options_.virtual_tick);
      records_.counters().switches.bump();
      ++running_;
      lock.unlock();
      Outcome outcome = run_one(r);
      lock.lock();
      --running_;
      ++runs_ended_;
      if (outcome == Outcome::kRequeue) ready_.push_back(r);
      continue;
    }
    // Nothing ready here.
    std::optional<Clock::time_point> next = timers_.next_deadline();
    bool timer = next && *next != Clock::time_point::max();
    if (poller_.waiting()) {
      if (!polling_) {
        // Fibers wait for descriptors: look before anything else. Under the virtual clock,
        // a zero timeout if a timer is pending (time may jump to it only if nothing is
        // ready), else without limit; under the real clock until the next timer is due.
        long long timeout_ns = -1;
        if (timer && options_.virtual_clock) {
          timeout_ns = 0;
        } else if (timer) {
          auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Clock::now());
          timeout_ns = std::max<long long>(0, left.count());
        }
        since_poll = 0;
        const std::uint64_t runs_before = runs_ended_;
        int completed = poll_io(timeout_ns);
        // A fiber that another thread ran during the poll may have made a descriptor ready
        // after the poll looked (a write to a pipe a fiber here waits on): then the poll's
        // "nothing" is stale, and time must not jump on it. Look again.
        if (completed != 0 || !ready_.empty() || !options_.virtual_clock || timeout_ns != 0 ||
            runs_ended_ != runs_before) {
          continue;  // look at the state afresh
        }
        // Virtual clock, and the descriptors had nothing: time may move on (below).
        next = timers_.next_deadline();
        timer = next && *next != Clock::time_point::max();
      } else if (options_.virtual_clock && timer && poll_sleeping_) {
        // Another thread sleeps in the poller without limit, but a timer is now pending: make
        // it look again with a zero timeout, and jump time if the descriptors have nothing.
        poller_.wake();
      }
    }
    if (options_.virtual_clock && timer && running_ == 0) {
      vnow_ = std::max(vnow_, *next);  // every fiber is blocked: jump to the next timer
      continue;
    }
    ++sleepers_;
    if (timer && !options_.virtual_clock) {
      cv_.wait_until(lock, *next);
    } else if (!timer && records_.main_finished() && running_ == 0 && !stall_warned_) {
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return fatal_ || records_.alive() == 0 || !ready_.empty();
      };
      const Clock::time_point warn_at =
          internal::deadline_after(Clock::now(), options_.stall_warning);
      while (!woken() && cv_.wait_until(lock, warn_at) != std::cv_status::timeout) {
      }
      if (!woken() && !stall_warned_) {
        mux::common::warn_stall(kSchedulerName, records_.alive(), options_.stall_warning, true);
        stall_warned_ = true;
      }
    } else {
      cv_.wait(lock);
    }
    --sleepers_;
  }
  wake_all_locked();  // let the other threads see why this one left
}

int Scheduler::poll_io(long long timeout_ns) {
  polling_ = true;
  poll_sleeping_ = timeout_ns != 0;
  ++running_;
  // The caller's MutexLock stays as it is: mu_ is held again before we return (poll is
  // noexcept).
  mu_.unlock();
  const int completed = poller_.poll(timeout_ns);  // resume actions take mu_
  mu_.lock();
  --running_;
  polling_ = poll_sleeping_ = false;
  return completed;
}

Scheduler::Outcome Scheduler::run_one(Record* r) {
  set_current_fiber(r->fiber.get());
  const bool finished = r->resume_marked();
  // None in the loop: a timer's action, or the fatal-error handler below, finds no fiber of
  // ours (its operations fail; and Fiber::current() is not a fiber that may be gone).
  set_current_fiber(nullptr);
  if (!finished) {
    if (r->pending == Pending::kAwait &&
        r->fiber->try_suspend(*r->pending_trigger, r, this, &Scheduler::resume)) {
      return Outcome::kSuspended;  // from here on another thread may be running it
    }
    return Outcome::kRequeue;  // yield, or an await that does not suspend
  }
  std::exception_ptr fatal = mux::common::outcome(options_, *r);  // the handler: outside mu_
  {
    MutexLock lock(mu_);
    if (fatal && !fatal_) fatal_ = fatal;
    records_.discard(r);
    if (records_.alive() == 0 || fatal_) wake_all_locked();
  }
  release();  // never the last reference: run_fiber holds one
  return Outcome::kFinished;
}

void Scheduler::abandon_all() {
  // Called once every thread has left the loop. Fibers that never started hold no stack and
  // no trigger refers to them: free them. Started ones may be referenced by triggers and hold
  // objects on their stacks: bury them, keeping their reference to this scheduler so a late
  // resume finds `stopped_`.
  MutexLock lock(mu_);
  ready_.clear();
  records_.abandon_all([](Record*) noexcept {},  // keeps the reference it holds
                       [this](Record*) noexcept { release(); });
}

std::uint64_t fresh_seed() {
  std::random_device rd;
  std::uint64_t s = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  Rng mix(s);
  std::uint64_t seed;
  do {
    seed = mix.next();
  } while (seed == 0);
  return seed;
}

}  // namespace

std::uint64_t resolve_seed(const Options& options) {
  if (options.seed != 0) return options.seed;
  const char* env = std::getenv(kSeedEnvVar);
  if (env == nullptr || *env == '\0') return fresh_seed();
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(env, &end, 10);
  if (errno != 0 || *end != '\0' || *env < '0' || *env > '9') {
    throw std::invalid_argument(std::string("picos::randos: ") + kSeedEnvVar +
                                " is not a decimal 64-bit number: \"" + env + "\"");
  }
  return v;
}

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  if (options.threads < 1) throw std::invalid_argument("picos::randos: threads must be >= 1");
  if (options.threads > kMaxThreads) {
    throw std::invalid_argument("picos::randos: threads must be at most " +
                                std::to_string(kMaxThreads) + " (got " +
                                std::to_string(options.threads) + ")");
  }
  if (options.virtual_tick.count() < 0) {
    throw std::invalid_argument("picos::randos: virtual_tick must not be negative");
  }
  std::uint64_t seed = resolve_seed(options);
  if (options.seed_out) *options.seed_out = seed;
  mux::common::start<Scheduler>(kSchedulerName, std::move(fiber), std::move(main), options, seed);
}

}  // namespace picos::randos
