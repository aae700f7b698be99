// Copyright 2026 The Picos for C++ Authors.

#include "picos/computation.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

#include "picos/debug.h"
#include "picos/fiber.h"
#include "picos/handler.h"
#include "picos/internal/dispatch.h"

#if defined(PICOS_INTERNAL_TSAN)
// TSan's runtime (not declared in its public header): memory accesses and frees made by the
// calling thread between begin and end are not checked (synchronization still is).
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#endif

namespace picos {
namespace internal {

#if defined(PICOS_INTERNAL_TSAN)
// A canceled computation's reason is usually a user's exception, and its last reference is
// often this state's: a child fiber completes its computation with the exception it raised,
// the parent reads the exception after the join and drops its copies, and only then does the
// child's scheduler drop the finished fiber (which holds the computation) on the child's
// thread. Dropping the last reference frees the exception there. libstdc++ counts exception
// references with acq_rel atomics, so that free is ordered after every other holder's
// accesses; but libstdc++ is not instrumented, TSan does not see that order, and reports the
// free as racing with the parent's reads (std/structured/exception_join_test reproduces it).
// The order cannot be annotated where it is made (the parent's last access and its drop are the
// user's own code, after the join), so the drop is excluded from checking here, where it happens.
// Only TSan builds do this; other builds keep the defaulted destructor.
ComputationState::~ComputationState() {
  if (reason_) {
    __tsan_ignore_thread_begin();
    reason_ = nullptr;
    __tsan_ignore_thread_end();
  }
}
#endif

namespace {
// The prologue of every operation that applies only to a running computation: takes `c`'s
// lock and returns true if `c` is running, else leaves it unlocked and returns false.
bool lock_if_running(ComputationState& c) noexcept ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true, c.lock_);
bool lock_if_running(ComputationState& c) noexcept {
  c.lock_.lock();
  if (c.status() == ComputationState::kRunning) return true;
  c.lock_.unlock();
  return false;
}
}  // namespace

bool ComputationState::try_attach(const Trigger& t) {
  if (t.is_signaled()) return false;  // checked before taking the lock
  if (!lock_if_running(*this)) return false;
  try {
    triggers_.push_back(t);
  } catch (...) {
    lock_.unlock();
    throw;
  }
  lock_.unlock();
  return true;
}

bool ComputationState::try_link_slot(WaitSlot* w) noexcept {
  if (!lock_if_running(*this)) return false;
  w->acquire();  // the list's
  w->prev = last_slot_;
  w->next = nullptr;
  (last_slot_ ? last_slot_->next : first_slot_) = w;
  last_slot_ = w;
  lock_.unlock();
  return true;
}

void ComputationState::unlink_slot(WaitSlot* w) noexcept {
  // Not running: completion took the list with `w` in it; signal_all ends it and drops its
  // reference, and nobody reads or writes its links under the lock any more.
  if (!lock_if_running(*this)) return;
  (w->prev ? w->prev->next : first_slot_) = w->next;
  (w->next ? w->next->prev : last_slot_) = w->prev;
  lock_.unlock();
  w->release();  // the list's
}

bool ComputationState::unsuspend() noexcept {
  lock_.lock();
  std::uint8_t st = status_.load(std::memory_order_relaxed);
  if (st == kRunning) {
    if (!triggers_.empty() && triggers_.back().is_signaled()) {
      // The common case (a fiber awaiting one trigger at a time): the newest entry is a
      // signaled one, so drop it now, O(1). Any signaled entry is as good as the detached one.
      triggers_.pop_back();
    } else if (++detached_ * 2 > triggers_.size() + 2) {
      // Lazy removal: once at least half the bag is known to be detached (and so signaled),
      // drop every signaled trigger. Keeps the bag <= ~2x live triggers, amortised O(1).
      compact_locked();
    }
  }
  lock_.unlock();
  return st != kCanceled;
}

void ComputationState::compact_locked() noexcept {
  std::size_t out = 0;
  for (std::size_t i = 0; i < triggers_.size(); ++i) {
    if (!triggers_[i].is_signaled()) {
      if (out != i) triggers_[out] = std::move(triggers_[i]);
      ++out;
    }
  }
  // Dropping signaled triggers runs no user code: their actions and releases already ran.
  triggers_.erase(triggers_.begin() + static_cast<std::ptrdiff_t>(out), triggers_.end());
  detached_ = 0;
}

void ComputationState::store_status_locked(std::uint8_t status) noexcept {
  if (status == kCanceled) {
    // Sequentially consistent: the canceler's side of Fiber::try_suspend's handshake (the
    // canceler then loads the fiber's cancel slot, picos/fiber.cc).
    status_.store(status, std::memory_order_seq_cst);
  } else {
    // A return ends no wait (a fiber's canceler acts only on kCanceled), so no handshake:
    // a release store publishes the value, without the seq_cst store's locked exchange.
    status_.store(status, std::memory_order_release);
  }
}

ComputationState::Completed ComputationState::complete_locked(std::uint8_t status) noexcept {
  store_status_locked(status);
  detached_ = 0;
  Completed done{std::move(triggers_), std::exchange(first_slot_, nullptr),
                 std::exchange(last_slot_, nullptr)};
  triggers_.clear();  // a moved-from InlinedVector keeps its (moved-from) inline elements
  return done;
}

// A slot taken out by completion: its fiber's wait ends if the computation was canceled (a
// return ends no wait), then the list's reference goes.
inline void ComputationState::end_slot(WaitSlot* w, bool canceled) noexcept {
  if (canceled) Fiber::cancel_waiter(*w, *this);
  w->release();
}

void ComputationState::signal_all(Completed& done) noexcept {
  const bool canceled = status() == kCanceled;  // final: completion stored it
  if (mode_ == Mode::kFifo) {
    for (WaitSlot* w = done.first_slot; w != nullptr;) {
      WaitSlot* next = w->next;  // read first: end_slot may free w
      end_slot(w, canceled);
      w = next;
    }
    for (const Trigger& t : done.triggers) t.signal();
  } else {
    for (auto it = done.triggers.rbegin(); it != done.triggers.rend(); ++it) it->signal();
    for (WaitSlot* w = done.last_slot; w != nullptr;) {
      WaitSlot* prev = w->prev;
      end_slot(w, canceled);
      w = prev;
    }
  }
}

void ComputationState::finish_locked_and_signal(std::uint8_t status) noexcept {
  if (triggers_.empty() && first_slot_ == nullptr) {
    // e.g. a timeout's computation completed in time: nothing to move
    store_status_locked(status);
    detached_ = 0;
    lock_.unlock();
    return;
  }
  finish_locked_and_signal_all(status);
}

// Out of line: its frame (the moved-out bag, with the stack protector's canary check that an
// array on the stack brings) is not paid by the common completion that has nothing to signal.
ABSL_ATTRIBUTE_NOINLINE void ComputationState::finish_locked_and_signal_all(
    std::uint8_t status) noexcept {
  Completed done = complete_locked(status);
  lock_.unlock();
  signal_all(done);
}

bool ComputationState::try_cancel(std::exception_ptr reason) noexcept {
  if (!lock_if_running(*this)) return false;
  reason_ = std::move(reason);
  finish_locked_and_signal(kCanceled);
  return true;
}

std::size_t ComputationState::bag_size_for_testing() {
  lock_.lock();
  std::size_t n = triggers_.size();
  lock_.unlock();
  return n;
}

std::size_t ComputationState::linked_slots_for_testing() {
  lock_.lock();
  std::size_t n = 0;
  for (const WaitSlot* w = first_slot_; w != nullptr; w = w->next) ++n;
  lock_.unlock();
  return n;
}

void throw_negative_delay(const char* fn, long double ns) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0Lf", ns);
  throw std::invalid_argument(std::string(fn) + ": delay must be non-negative (got " + buf +
                              " ns)");
}

std::chrono::nanoseconds checked_delay(double seconds, const char* fn) {
  if (!(seconds >= 0.0)) [[unlikely]] {  // negative or NaN
    if (std::isnan(seconds)) throw std::invalid_argument(std::string(fn) + ": delay is NaN");
    // %g: a tiny delay shows as -1e-10, not as -0.000000.
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", seconds);
    throw std::invalid_argument(std::string(fn) + ": delay must be non-negative (got " + buf +
                                " s)");
  }
  constexpr double kMaxSeconds = 9.0e9;  // ~285 years: saturate, the timer never fires
  if (seconds >= kMaxSeconds) return std::chrono::nanoseconds::max();
  return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
}

}  // namespace internal

using internal::ComputationState;

PackedComputation::PackedComputation(Mode mode)
    : s_(internal::Ref<ComputationState>::adopt(new ComputationState(mode))) {}

void PackedComputation::rethrow_reason() const { std::rethrow_exception(s_->reason_); }

bool PackedComputation::try_cancel(std::exception_ptr reason) const {
  if (!reason) throw std::invalid_argument("picos: cancelation reason must not be null");
  return s_->try_cancel(std::move(reason));
}

bool PackedComputation::try_attach(const Trigger& trigger) const { return s_->try_attach(trigger); }

void PackedComputation::detach(const Trigger& trigger) const noexcept {
  trigger.signal();
  (void)s_->unsuspend();
}

void PackedComputation::wait() const {
  static constexpr debug::WaitKind kAwait{"picos::Computation", "await"};
  wait(kAwait, s_.get());
}

void PackedComputation::wait(const debug::WaitKind& kind, const void* object,
                             std::int64_t value) const {
  if (!is_running()) return;
  Trigger t;
  if (try_attach(t)) {
    t.set_wait_label(kind, object, value);
    if (std::exception_ptr reason = t.await()) {
      detach(t);
      std::rethrow_exception(reason);
    }
  }
}

void PackedComputation::cancel_after(std::chrono::nanoseconds delay,
                                     std::exception_ptr reason) const {
  internal::check_delay(delay, internal::kCancelAfter);
  if (!reason) throw std::invalid_argument("picos: cancelation reason must not be null");
  internal::handler_for_this_call().cancel_after(*this, delay, std::move(reason));
}

void PackedComputation::cancel_after(double seconds, std::exception_ptr reason) const {
  cancel_after(internal::checked_delay(seconds, internal::kCancelAfter), std::move(reason));
}

namespace {

void propagate(const Trigger&, void* from, void* into) noexcept {
  auto* f = static_cast<ComputationState*>(from);
  if (f->status() == ComputationState::kCanceled) {
    (void)static_cast<ComputationState*>(into)->try_cancel(f->reason_);
  }
}

void release_both(void* from, void* into) noexcept {
  static_cast<ComputationState*>(from)->release();
  static_cast<ComputationState*>(into)->release();
}

}  // namespace

Trigger PackedComputation::canceler(const PackedComputation& from, const PackedComputation& into) {
  Trigger t = Trigger::from_action(from.s_.get(), into.s_.get(), &propagate, &release_both);
  from.s_->acquire();  // owned by the trigger from here on: released by release_both
  into.s_->acquire();
  return t;
}

Trigger PackedComputation::attach_canceler(const PackedComputation& from,
                                           const PackedComputation& into) {
  Trigger t = canceler(from, into);
  if (!from.try_attach(t)) {
    from.check();
    throw std::invalid_argument("picos: attach_canceler: already returned");
  }
  return t;
}

}  // namespace picos
