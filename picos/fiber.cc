// Copyright 2026 The Picos for C++ Authors.

#include "picos/fiber.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <new>
#include <string>

#include "picos/debug.h"
#include "picos/handler.h"
#include "picos/internal/asymmetric_fence.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/dispatch.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/timer_heap.h"

namespace picos {
namespace internal {

std::uint32_t new_fls_index() noexcept {
  static std::atomic<std::uint32_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// The reason a sleep's private computation is canceled with when its timer fires. Never
// escapes: sleep returns normally in that case.
struct SleepDone {};
const std::exception_ptr& sleep_done() {
  static const std::exception_ptr kDone = std::make_exception_ptr(SleepDone{});
  return kDone;
}
}  // namespace

namespace {

// Takes trigger `v` back out of `w` once its wait is over (resumed, or given up in
// try_suspend). A canceler that holds the slot (busy) is between taking a reference to the
// trigger and releasing the slot, a few instructions: wait for it, so that the waiter cannot
// drop the trigger under it.
void take_back(WaitSlot& w, void* v) noexcept {
  void* seen = v;
  if (w.trigger.compare_exchange_strong(seen, nullptr, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
    return;
  }
  while (seen == WaitSlot::busy()) {
    cpu_relax();
    seen = w.trigger.load(std::memory_order_acquire);
  }
}

// The fiber's store in the handshake with its canceler (Fiber::cancel_waiter): the trigger
// `v` into the slot, ordered before the status load that follows. With light fences the
// store needs no locked instruction (a plain store on x86); the canceler then makes up for it
// with a heavy fence where it finds the slot empty.
inline void publish_wait(WaitSlot& w, void* v) noexcept {
  if (w.light) [[likely]] {
    w.trigger.store(v, std::memory_order_release);
    light_fence();
  } else {
    w.trigger.store(v, std::memory_order_seq_cst);
  }
}

}  // namespace

}  // namespace internal

// Run for each slot linked into a computation that completes canceled (signal_all): if the
// fiber waits cancelably, signals the trigger of that wait. Handshake with try_suspend (a
// Dekker pattern): the fiber stores the trigger in the slot and then loads the status; the
// canceler stored the status (ComputationState::complete_locked, sequentially consistent)
// and then loads the slot here;
// so at least one of them sees the other and the wait ends. The fiber's store is sequentially
// consistent, or (the slot's `light`, where membarrier works) a plain store before a light
// fence: then a canceler that finds the slot empty executes the heavy fence and looks again,
// which is when the pair orders as two full fences. A slot found holding a trigger needs no
// fence: the fiber's store is seen. So only the cancelation of a fiber that is not waiting
// pays the heavy fence (1.3 µs on the 2-core VM with the other threads idle, ~20 µs with them
// running: docs/design.md), not the waits, and at most once per canceled computation.
// (No atomic_thread_fence: gcc rejects it under -fsanitize=thread.)
void Fiber::cancel_waiter(internal::WaitSlot& w, internal::ComputationState& c) noexcept {
  void* v = w.trigger.load(std::memory_order_seq_cst);
  if (v == nullptr && w.light) {
    // One fence after the cancelation serves every canceler of the computation: canceling a
    // group of running fibers that share it costs one membarrier, not one each.
    if (!c.fenced_since_canceled()) {
      internal::heavy_fence();
      c.set_fenced_since_canceled();
    }
    v = w.trigger.load(std::memory_order_seq_cst);
  }
  while (v != nullptr && v != internal::WaitSlot::busy()) {
    if (w.trigger.compare_exchange_weak(v, internal::WaitSlot::busy(), std::memory_order_acquire,
                                        std::memory_order_acquire)) {
      // The waiter cannot drop the trigger while the slot is busy (take_back waits): take a
      // reference, free the slot, and signal outside it (the signal may resume the fiber on
      // this thread, which then takes the slot back itself).
      auto* state = static_cast<internal::TriggerState*>(v);
      state->acquire();
      w.trigger.store(nullptr, std::memory_order_release);
      Trigger(internal::Ref<internal::TriggerState>::adopt(state)).signal();
      return;
    }
  }
}

internal::WaitSlot* Fiber::attach_canceler() {
  internal::ComputationState* c = computation_.s_.get();
  if (c->status() != internal::ComputationState::kRunning) return nullptr;
  auto w = internal::Ref<internal::WaitSlot>::adopt(new internal::WaitSlot);
  w->light = internal::asymmetric_fences();
  if (!c->try_link_slot(w.get())) return nullptr;  // completed meanwhile: w is dropped
  wait_ = std::move(w);
  return wait_.get();
}

void Fiber::drop_canceler() noexcept {
  if (!wait_) return;
  // Unlinked, the slot is out of the computation's reach; if the computation completed
  // first, its completion may still be looking at the slot (finding it empty: this fiber is
  // not waiting) and drops it after. Either way the slot is never used again, so a later wait
  // cannot be ended by this computation.
  computation_.s_->unlink_slot(wait_.get());
  wait_ = {};
}

namespace {

// Fiber ids: each thread takes blocks of 1,024 from one counter (no contended atomic per
// fiber).
std::uint64_t next_fiber_id() noexcept {
  static std::atomic<std::uint64_t> next_block{1};
  thread_local std::uint64_t next = 0;
  thread_local std::uint64_t end = 0;
  if (next == end) {
    next = next_block.fetch_add(1024, std::memory_order_relaxed);
    end = next + 1024;
  }
  return next++;
}

}  // namespace

// The spawned flag took padding, not room (see the comment on the debugging fields).
static_assert(sizeof(Fiber) <= 104, "picos::Fiber grew");

Fiber::Fiber(PackedComputation computation, bool forbid) noexcept
    : forbid_(forbid), computation_(std::move(computation)), id_(next_fiber_id()) {}

FiberRef Fiber::create(PackedComputation computation, bool forbid) {
  return FiberRef::adopt(new Fiber(std::move(computation), forbid));
}

void Fiber::set_name(std::string_view name) {
  std::string copy(name);  // after the swap: the old name, freed outside the lock
  std::unique_ptr<internal::FiberDebugExtra> fresh;
  for (;;) {
    {
      internal::SpinLockGuard lock(name_lock_);
      if (extra_ == nullptr && fresh != nullptr) extra_.swap(fresh);
      if (extra_ != nullptr) {
        extra_->name.swap(copy);
        return;
      }
      if (name.empty()) return;
    }
    fresh = std::make_unique<internal::FiberDebugExtra>();
  }
}

std::string Fiber::name() const {
  internal::SpinLockGuard lock(name_lock_);
  return extra_ ? extra_->name : std::string();
}

void Fiber::capture_trace(bool spawn, const void* from) noexcept {
  void* pcs[internal::FiberDebugExtra::kDepth];
  const int n = internal::capture_trace(pcs, from);
  std::unique_ptr<internal::FiberDebugExtra> fresh;
  for (;;) {
    {
      internal::SpinLockGuard lock(name_lock_);
      if (extra_ == nullptr && fresh != nullptr) extra_.swap(fresh);
      if (extra_ != nullptr) {
        internal::FiberDebugExtra& x = *extra_;
        if (spawn) {
          std::copy(pcs, pcs + n, x.spawn_stack);
          x.spawn_depth = n;
        } else {
          std::copy(pcs, pcs + n, x.stack);
          x.depth = n;
          x.awaiting = true;
        }
        return;
      }
    }
    // Allocated outside the lock, once per fiber; without memory the trace is skipped.
    fresh.reset(new (std::nothrow) internal::FiberDebugExtra);
    if (fresh == nullptr) return;
  }
}

void Fiber::end_trace() noexcept {
  internal::SpinLockGuard lock(name_lock_);
  if (extra_ != nullptr) extra_->awaiting = false;
}

namespace internal {
void capture_await_trace(Fiber& fiber, const void* from) noexcept {
  fiber.capture_trace(false, from);
}
void end_await_trace(Fiber& fiber) noexcept { fiber.end_trace(); }
}  // namespace internal

Fiber::~Fiber() {
  drop_canceler();
  for (FlsSlot& s : fls_) {
    if (s.destroy) s.destroy(s.value);
  }
}

Fiber::FlsSlot* Fiber::fls_slot_slow(std::uint32_t index, bool grow) {
  if (!grow) return nullptr;
  std::size_t n = fls_.size() < 3 ? 3 : fls_.size();
  while (n <= index) n = 2 * n + 1;
  fls_.resize(n);  // an empty vector allocates exactly 3 (the cached array), then 7, 15, ...
  return &fls_[index];
}

void Fiber::throw_empty_main() { throw std::invalid_argument("picos::Fiber::spawn: empty main"); }

namespace {
[[noreturn, gnu::cold]] void throw_already_spawned() {
  throw std::invalid_argument("picos::Fiber::spawn: the fiber has already been spawned");
}
}  // namespace

void Fiber::spawn(FiberRef fiber, absl::AnyInvocable<void()> main) {
  if (!main) throw_empty_main();
  spawn_main(std::move(fiber), FiberMain(main));
}

void Fiber::spawn_main(FiberRef fiber, FiberMain main) {
  if (!fiber) throw std::invalid_argument("picos::Fiber::spawn: null fiber");
  // One relaxed exchange (a misuse check that must hold for two racing spawners too).
  if (!fiber->mark_spawned()) [[unlikely]]
    throw_already_spawned();
  if (internal::fiber_traces_on.load(std::memory_order_relaxed)) [[unlikely]] {
    fiber->capture_trace(true, __builtin_return_address(0));  // from spawn_main's caller
  }
  internal::handler_for_this_call().spawn(std::move(fiber), std::move(main));
}

void Fiber::yield() { internal::handler_for_this_call().yield(); }

void Fiber::sleep(std::chrono::nanoseconds delay) {
  internal::check_delay(delay, internal::kSleep);
  Computation<void> c(Mode::kLifo);
  c.cancel_after(delay, internal::sleep_done());
  Trigger t;
  if (c.try_attach(t)) {
    static constexpr debug::WaitKind kSleep{nullptr, "sleep", debug::Detail::kDeadline};
    t.set_wait_label(
        kSleep, nullptr,
        internal::deadline_after(internal::Clock::now(), delay).time_since_epoch().count());
    if (std::exception_ptr reason = t.await()) {
      c.finish();  // removes the timer
      std::rethrow_exception(reason);
    }
  }
}

void Fiber::sleep(double seconds) { sleep(internal::checked_delay(seconds, internal::kSleep)); }

// The general case: forbidden, trigger not Initial, no canceler yet, computation completed.
bool Fiber::try_suspend_general(const Trigger& trigger, void* x, void* y, Trigger::Action action) {
  const internal::TriggerState& ts = *trigger.s_;
  if (ts.state_.load(std::memory_order_acquire) == internal::TriggerState::kAwaiting &&
      ts.release_ == nullptr) [[unlikely]] {
    // Trigger::await found it Initial before calling the scheduler, which calls this: another
    // fiber attached to it since (misuse). (A from_action trigger, which starts Awaiting, is
    // rejected below with its own message.)
    internal::concurrent_attach("picos::Trigger::await");
  }
  if (forbid_) return trigger.on_signal(x, y, action);
  if (trigger.is_signaled()) return false;
  internal::WaitSlot* w = cancel_slot();
  if (w == nullptr) {  // the computation has completed
    if (computation_.is_canceled()) {
      trigger.dispose();
      return false;
    }
    return trigger.on_signal(x, y, action);  // returned: nothing can cancel this wait
  }
  void* const v = trigger.s_.get();
  internal::publish_wait(*w, v);
  if (computation_.s_->status_seq_cst() == internal::ComputationState::kCanceled) {
    return canceled_before_wait(*w, trigger);
  }
  bool suspended;
  try {
    suspended = trigger.on_signal(x, y, action);
  } catch (...) {
    internal::take_back(*w, v);
    throw;
  }
  if (!suspended) internal::take_back(*w, v);  // signaled already (maybe by the canceler)
  return suspended;
}

bool Fiber::canceled_before_wait(internal::WaitSlot& w, const Trigger& trigger) {
  // If the canceler took the trigger it signals it (no action is attached yet, so that only
  // marks it signaled); else this fiber takes it back.
  internal::take_back(w, trigger.s_.get());
  trigger.dispose();  // throws only on misuse (an action attached)
  return false;
}

bool Fiber::signaled_before_wait(internal::WaitSlot& w, const Trigger& trigger,
                                 std::uint8_t seen) noexcept {
  if (seen == internal::TriggerState::kAwaiting) {
    internal::concurrent_attach("picos::Trigger::await");  // another fiber won (misuse)
  }
  internal::take_back(w, trigger.s_.get());  // signaled meanwhile (maybe by the canceler)
  return false;
}

bool Fiber::try_suspend(const Trigger& trigger, void* x, void* y, Trigger::Action action) {
  internal::TriggerState* const ts = trigger.s_.get();
  // For dumps: the wait's label, and suspended from now unless this fails. Set before the
  // trigger can be signaled (after that the fiber may run again at once, on another thread).
  const debug::WaitKind* kind = ts->label_kind_;
  if (kind != nullptr) {
    wait_object_.store(ts->label_object_, std::memory_order_relaxed);
    wait_value_.store(ts->label_value_, std::memory_order_relaxed);
  }
  wait_kind_.store(kind, std::memory_order_relaxed);
  suspended_at_.store(internal::debug_ticks(), std::memory_order_relaxed);  // never 0 (TSC)
  bool suspended;
  internal::WaitSlot* const w = wait_.get();  // set iff a canceler is attached
  if (!forbid_ && w != nullptr &&
      ts->state_.load(std::memory_order_relaxed) == internal::TriggerState::kInitial) [[likely]] {
    // The usual case, inline: a cancelable wait with the canceler in place (see
    // try_suspend_general for the same steps in every case).
    internal::publish_wait(*w, ts);
    if (computation_.s_->status_seq_cst() == internal::ComputationState::kCanceled) {
      suspended = canceled_before_wait(*w, trigger);
    } else {
      ts->action_ = action;
      ts->x_ = x;
      ts->y_ = y;
      std::uint8_t expected = internal::TriggerState::kInitial;
      suspended = ts->state_.compare_exchange_strong(expected, internal::TriggerState::kAwaiting,
                                                     std::memory_order_acq_rel,
                                                     std::memory_order_acquire) ||
                  signaled_before_wait(*w, trigger, expected);
    }
  } else {
    // (If this throws, which only misuse makes it do, a dump may show the fiber suspended
    // until its next wait.)
    suspended = try_suspend_general(trigger, x, y, action);
  }
  if (!suspended) suspended_at_.store(0, std::memory_order_relaxed);
  return suspended;
}

bool Fiber::unsuspend(const Trigger& trigger) const {
  if (!trigger.is_signaled()) throw std::invalid_argument("picos::Fiber::unsuspend: not signaled");
  suspended_at_.store(0, std::memory_order_relaxed);
  if (forbid_) return true;
  if (wait_) internal::take_back(*wait_, trigger.s_.get());
  return !computation_.is_canceled();
}

}  // namespace picos
