// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/inbox.h — wake-ups from other threads, for a scheduler whose fibers run on one
// thread (fifo, libevent, the test-only lifo).
//
// A resume action may run on any thread. On the scheduler's own thread it pushes onto the
// ready queue directly; on any other it pushes into the Inbox, which wakes the scheduler if it
// sleeps — on the Inbox's condition variable, or elsewhere (in a poller, in libevent's loop)
// through the `poke` the pusher passes. The scheduler takes everything in at once with
// take_into, fibers resumed because they were canceled ahead of every ready fiber.
//
// After close() (the run stopped on a fatal error) pushes do nothing and return false: the
// record stays where it is, abandoned.

#ifndef PICOS_MUX_COMMON_INBOX_H_
#define PICOS_MUX_COMMON_INBOX_H_

#include <atomic>
#include <chrono>
#include <condition_variable>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "mux/common/queue.h"
#include "picos/handler.h"
#include "picos/internal/mutex.h"
#include "picos/trigger.h"

namespace picos::mux::common {

template <typename R>
class Inbox {
 public:
  using Clock = std::chrono::steady_clock;

  // Any thread: queues `r` (at the front if `canceled`) and wakes the owner if it sleeps,
  // calling `poke()` (under the Inbox's lock) if it sleeps elsewhere. False once closed.
  template <typename Poke>
  bool push(R* r, bool canceled, Poke&& poke) noexcept {
    internal::MutexLock lock(mu_);
    if (closed_) return false;
    (canceled ? first_ : rest_).push_back(r);
    pending_.store(true, std::memory_order_release);
    if (sleep_ == Sleep::kCondVar) {
      cv_.notify_one();
    } else if (sleep_ == Sleep::kElsewhere) {
      poke();
    }
    return true;
  }

  // Whether something may be queued (a cheap check before take_into).
  bool pending() const noexcept { return pending_.load(std::memory_order_acquire); }

  // Owner: moves everything queued into `ready`, canceled fibers ahead of all of `ready`.
  // Returns whether anything was queued.
  bool take_into(Queue<R>& ready) noexcept {
    if (!pending()) return false;  // the hot path: one load, inlined into the dispatch
    return take_pending_into(ready);
  }

 private:
  // Out of line, so that the dispatch loops that call take_into do not pay for its frame.
  ABSL_ATTRIBUTE_NOINLINE bool take_pending_into(Queue<R>& ready) noexcept {
    Queue<R> first, rest;
    {
      internal::MutexLock lock(mu_);
      first.splice_back(first_);
      rest.splice_back(rest_);
      pending_.store(false, std::memory_order_relaxed);
    }
    bool any = !first.empty() || !rest.empty();
    ready.splice_back(rest);
    first.splice_back(ready);
    ready.splice_back(first);
    return any;
  }

 public:
  // Owner: sleeps on the condition variable until a push or `deadline`. Returns false if it
  // timed out with nothing queued.
  bool sleep_until(Clock::time_point deadline) {
    internal::MutexLock lock(mu_);
    if (queued()) return true;
    sleep_ = Sleep::kCondVar;
    if (deadline == Clock::time_point::max()) {
      while (!queued()) cv_.wait(lock);
    } else {
      while (!queued() && cv_.wait_until(lock, deadline) != std::cv_status::timeout) {
      }
    }
    sleep_ = Sleep::kAwake;
    return queued();
  }

  // Owner: brackets a sleep elsewhere (pushes then call their `poke`). begin returns false,
  // and the owner must not sleep, if something is queued already.
  bool begin_sleep_elsewhere() noexcept {
    internal::MutexLock lock(mu_);
    if (queued()) return false;
    sleep_ = Sleep::kElsewhere;
    return true;
  }
  void end_sleep_elsewhere() noexcept {
    internal::MutexLock lock(mu_);
    sleep_ = Sleep::kAwake;
  }

  // Owner: refuses every later push; what is queued moves to `drop` (if given).
  void close(Queue<R>* drop = nullptr) noexcept {
    internal::MutexLock lock(mu_);
    closed_ = true;
    if (drop) {
      drop->splice_back(first_);
      drop->splice_back(rest_);
    }
    first_.clear();
    rest_.clear();
    pending_.store(false, std::memory_order_relaxed);
  }

 private:
  enum class Sleep { kAwake, kCondVar, kElsewhere };
  bool queued() const noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !first_.empty() || !rest_.empty();
  }

  internal::Mutex mu_;
  internal::CondVar cv_;
  Queue<R> first_ ABSL_GUARDED_BY(mu_);  // resumed because canceled
  Queue<R> rest_ ABSL_GUARDED_BY(mu_);
  Sleep sleep_ ABSL_GUARDED_BY(mu_) = Sleep::kAwake;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> pending_{false};
};

// The body of the resume action of a scheduler whose fibers run on one thread: `r`'s fiber
// leaves `trigger` (a canceled one is to be resumed ahead of the others); on the scheduler's
// own thread (where `s` is the installed handler) `local(r, canceled)` queues it, on any other
// the inbox does, calling `poke` if the scheduler sleeps elsewhere. Refused after close: the
// record stays where it is, abandoned.
template <typename R, typename Local, typename Poke>
void resume_here_or_inbox(const Trigger& trigger, R* r, const Handler* s, Inbox<R>& inbox,
                          Local&& local, Poke&& poke) noexcept {
  const bool canceled = !r->fiber->unsuspend(trigger);
  if (installed_handler() == s) {
    local(r, canceled);
  } else {
    (void)inbox.push(r, canceled, poke);
  }
}

}  // namespace picos::mux::common

#endif  // PICOS_MUX_COMMON_INBOX_H_
